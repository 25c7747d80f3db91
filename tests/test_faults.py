"""Interrupted runs: a run killed part-way (SIGKILL, no chance to clean up) resumes from its checkpoints, counts no
chunk twice, and ends with the outputs of a clean run. (A worker killed under Dask: tests/test_scaleout.py.)"""

import json
import os
import signal
import subprocess
import sys
import time

import awkward as ak
import numpy as np
import pytest

from xaugcol.explain.options import ExplainOptions
from xaugcol.cli import main
from xaugcol.coffea_runs import run_relevance
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.checkpoints import CHECKPOINTS, CheckpointError, load_accumulator
from xaugcol.errors import UsageError
from xaugcol.processing.coffea_runner import Execution, load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.processing.table_io import read_tables
from xaugcol.sources.toy import run_toy
from xaugcol.training.train import TrainConfig, train_ensemble


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    run_toy(out, 1500, seed=31)
    return out


def _kill_after_checkpoints(args, out, n, timeout=300):
    """Run ``xaugcol ARGS`` in a subprocess and SIGKILL it once ``n`` chunk checkpoints exist; return how many
    there were at the kill."""
    proc = subprocess.Popen([sys.executable, "-m", "xaugcol.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            done = list((out / CHECKPOINTS).rglob("*.npz"))
            if len(done) >= n:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return len(done)
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it could be interrupted: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.02)
        pytest.fail("no checkpoints appeared")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _same_histograms(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name, h in a.items():
        assert np.array_equal(h.view(flow=True), b[name].view(flow=True)), name


def test_interrupted_processing_resumes_without_double_counting(toy, tmp_path, capsys):
    fileset_json = str(toy / "fileset.json")
    clean = run_processing(load_fileset(fileset_json), tmp_path / "clean", chunksize=100)
    n_chunks = sum(c["chunks"] for c in clean.counts.values())
    out = tmp_path / "out"
    args = ["process", fileset_json, "--out", str(out), "--chunksize", "100"]
    done = _kill_after_checkpoints(args, out, 4)
    assert not (out / "report.json").exists() and done < n_chunks  # it really stopped part-way
    # what the interrupted run finished, exactly: the chunks whose checkpoint is complete (written atomically)
    finished = {p.stem: load_accumulator(p) for p in (out / CHECKPOINTS).rglob("*.npz")}
    assert len(finished) >= 4
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "jets").rglob("*.parquet")}

    assert main(args) == 2  # a plain rerun is refused: it would mix two runs
    assert "--resume" in capsys.readouterr().err
    assert main([*args[:-1], "200", "--resume"]) == 2  # other settings cannot resume it
    assert "chunksize" in capsys.readouterr().err

    assert main([*args, "--resume"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["chunks_from_checkpoints"] == len(finished)
    assert report["counts"] == clean.counts  # every chunk counted once
    assert sum(c["chunks"] for c in report["counts"].values()) == n_chunks
    for p in (out / "jets").rglob("*.parquet"):  # finished chunks were loaded, not computed again
        if p.stem in finished:
            assert p.stat().st_mtime_ns == stamps[p.name], p.name
    resumed, reference = read_tables(out / "jets"), read_tables(tmp_path / "clean" / "jets")
    assert len(resumed) == len(reference) == 3000
    for field in ("event", "msd", "tau21", "image"):
        assert np.array_equal(ak.to_numpy(resumed[field]), ak.to_numpy(reference[field])), field
    import uproot
    with uproot.open(out / "histograms.root") as a, uproot.open(tmp_path / "clean" / "histograms.root") as b:
        assert sorted(a.keys()) == sorted(b.keys())
        for key in a.keys():
            if key.count("/"):
                assert np.array_equal(a[key].values(flow=True), b[key].values(flow=True)), key
    assert not (out / CHECKPOINTS).exists() and not list(out.rglob(".*.tmp-*"))


def test_interrupted_relevance_run_resumes(toy, tmp_path):
    fileset = load_fileset(toy / "fileset.json")
    run_processing(fileset, tmp_path / "proc", chunksize=500)
    train_ensemble(str(tmp_path / "proc" / "jets"), ModelConfig("dnn", xaug=True, architecture={"hidden": [8]}),
                   TrainConfig(epochs=1, batch_size=128), [0], str(tmp_path / "dnn"))
    # the command line and the library share their defaults (ExplainOptions): the resume matches the killed run;
    # the execution passed whole (Execution) is the one the keywords make
    clean = run_relevance(tmp_path / "proc", [tmp_path / "dnn"], tmp_path / "clean", ExplainOptions(rules=("epsilon",)), execution=Execution(chunksize=100))
    with pytest.raises(UsageError, match="either whole"):
        run_relevance(tmp_path / "proc", [tmp_path / "dnn"], tmp_path / "twice", execution=Execution(chunksize=100), workers=2)
    assert not (tmp_path / "twice").exists()
    out = tmp_path / "out"
    args = ["explain", str(tmp_path / "proc"), "--taggers", str(tmp_path / "dnn"), "--out", str(out),
            "--rules", "epsilon", "--chunksize", "100"]
    done = _kill_after_checkpoints(args, out, 3)
    assert not (out / "relevance.json").exists()
    with pytest.raises(CheckpointError, match="--resume"):
        run_relevance(tmp_path / "proc", [tmp_path / "dnn"], out, ExplainOptions(rules=("epsilon",)), chunksize=100)
    resumed = run_relevance(tmp_path / "proc", [tmp_path / "dnn"], out, ExplainOptions(rules=("epsilon",)), chunksize=100, resume=True)
    summary = json.loads((out / "relevance.json").read_text())
    assert summary["chunks_from_checkpoints"] >= done >= 3
    assert resumed.counts == clean.counts
    _same_histograms(resumed.histograms, clean.histograms)


def test_a_full_disk_stops_the_run_and_keeps_its_checkpoints(toy, tmp_path, monkeypatch):
    """No space left while writing a jet table, under --skip-bad-files: it is not a bad chunk (before: every
    chunk was counted as one and the run ended 'successfully' with no data). The run stops with the error, keeps
    the chunks it finished, and a resume once there is space ends like a clean run."""
    import errno

    import pyarrow.parquet

    from xaugcol.atomic import OutputError

    fileset = load_fileset(toy / "fileset.json")
    clean = run_processing(fileset, tmp_path / "clean", chunksize=300)
    original, calls = pyarrow.parquet.ParquetWriter.write_table, []

    def full_disk(writer, *args, **kwargs):  # the fourth table's rows find the disk full
        calls.append(1)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(writer, *args, **kwargs)
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        m.setattr(pyarrow.parquet.ParquetWriter, "write_table", full_disk)
        with pytest.raises(OutputError, match=r"cannot write .*\.parquet: No space left on device"):
            run_processing(fileset, out, chunksize=300, skip_bad_files=True)
    assert not (out / "report.json").exists()
    assert len(list((out / CHECKPOINTS).rglob("*.npz"))) == 3
    resumed = run_processing(fileset, out, chunksize=300, skip_bad_files=True, resume=True)
    assert resumed.counts == clean.counts and resumed.skipped_chunks == []
    assert resumed.report["chunks_from_checkpoints"] == 3


def test_an_output_that_cannot_grow_is_not_bad_input(toy, tmp_path):
    """The real thing in a subprocess: the files it writes may not grow past 16 kB (RLIMIT_FSIZE, as with a full
    quota), so table writes fail with EFBIG. Under --skip-bad-files and the futures executor the run still stops:
    one line naming the file, exit 1, no chunk listed as bad; a resume without the limit ends like a clean run."""
    import resource

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_000, 16_000))

    out = tmp_path / "out"
    args = ["process", str(toy / "fileset.json"), "--out", str(out), "--chunksize", "300", "--skip-bad-files",
            "--executor", "futures", "--workers", "2"]
    done = subprocess.run([sys.executable, "-m", "xaugcol.cli", *args], preexec_fn=limited, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("xaugcol: error: cannot write ") and "File too large" in last, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "skipped chunk" not in done.stdout
    assert not (out / "report.json").exists()
    assert main([*args, "--resume"]) == 0
    clean = run_processing(load_fileset(toy / "fileset.json"), tmp_path / "clean", chunksize=300)
    assert json.loads((out / "report.json").read_text())["counts"] == clean.counts
