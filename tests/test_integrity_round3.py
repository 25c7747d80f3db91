"""Integrity, third round: inputs that were taken silently, or hung or exhausted the machine.

* Duplicate keys: a JSON file read through ``paths.read_json`` (a fileset naming a dataset twice) and a YAML file
  (a study with ``epochs`` twice in one mapping) are refused in one line naming the file, the key and the lines,
  instead of keeping the last value; ``<<:`` merges, where a key overrides a merged one, keep working.
* Size and depth of JSON: a file above ``MAX_INPUT_BYTES`` (a sparse file: its size costs no disk and no time) is
  refused before it is read; JSON nested 100 000 deep is a one-line error, not a RecursionError traceback.
* ``condor pack`` replaces an existing --out only with --overwrite, and never one that appeared while it packed.
* ``condor merge`` refuses a job's output tarball holding a symbolic or hard link (a linked jet table was moved
  into the merged jets/ as a link resolving outside --out), naming the tarball and the member, before anything
  is unpacked.
* A Dask scheduler address that accepts connections but never answers (a thread here listens and accepts, never
  writes) ends ``process`` after --connect-timeout with the one-line ClusterError, before --out is made; the
  library's ``dask_client`` (studies, explain) is bounded the same way.
* Sizes with no upper limit (``xaugcol.limits``): faithfulness steps, example jets, toy particles per subjet and
  toy jets, refused in one line naming the setting, its value and the limit, from the command line and from a
  study, before anything is written (the output given is a regular file: a command that went past the check
  would stop there, never start the work); the toy's chunks are generated, never listed.
"""

import contextlib
import json
import os
import socket
import tarfile
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from helpers import one_line_error, outcome, run_in_thread
from xaugcol.cli import main
from xaugcol.config_models import read_yaml
from xaugcol.limits import MAX_INPUT_BYTES
from xaugcol.paths import UnreadableInputError, read_json

REPO = Path(__file__).resolve().parents[1]
DEEP = "[" * 100_000 + "]" * 100_000


def _fileset(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _ensemble_with_metrics(folder: Path, metrics: str) -> Path:
    """An ensemble folder with one member folder and ``metrics`` as its metrics.json (read before the member)."""
    (folder / "seed_0").mkdir(parents=True)
    (folder / "seed_0" / "config.yaml").write_text("model: dnn\n")
    (folder / "metrics.json").write_text(metrics)
    return folder


# ---------------------------------------------------------------- duplicate keys

def test_a_fileset_listing_a_dataset_twice_is_refused(tmp_path, capsys):
    fileset = _fileset(tmp_path / "fileset.json", '{\n  "bkg": ["a.root"],\n  "sig": ["b.root"],\n'
                                                  '  "bkg": ["c.root"]\n}\n')
    out = tmp_path / "out"
    assert main(["process", str(fileset), "--out", str(out)]) == 2
    err = one_line_error(capsys)
    assert str(fileset) in err and "the key 'bkg' appears twice in one mapping (lines 2 and 4)" in err, err
    assert not out.exists()


def test_read_json_names_the_repeated_key_at_any_depth(tmp_path):
    path = _fileset(tmp_path / "report.json", '{"counts": {"a": {"events": 1,\n"events": 2}}, "b": 1}')
    with pytest.raises(UnreadableInputError, match=r"report.json: a report: the key 'events' appears twice in one "
                                                   r"mapping \(lines 1 and 2\)"):
        read_json(path, "a report")
    assert read_json(_fileset(tmp_path / "ok.json", '{"a": {"x": 1}, "b": {"x": 2}}')) == {"a": {"x": 1},
                                                                                         "b": {"x": 2}}


def test_a_study_listing_a_key_twice_is_refused(tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text(f"data: {tmp_path}\nout: {tmp_path / 'taggers'}\ntraining: {{epochs: 1, epochs: 3}}\n"
                     "taggers: [{model: dnn}]\n")
    assert main(["train", "--config", str(study)]) == 2
    err = one_line_error(capsys)
    assert str(study) in err and "the key 'epochs' appears twice in one mapping, at line 3, column 12 and at " \
                                 "line 3, column 23" in err, err
    assert not (tmp_path / "taggers").exists()


def test_yaml_merge_keys_may_override_what_they_merge(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("defaults: &defaults {epochs: 1, patience: 2}\n"
                    "short:\n  <<: *defaults\n  epochs: 3\n"
                    "nested:\n  inner: &inner\n    <<: *defaults\n    patience: 5\n"
                    "  again:\n    <<: *inner\n    epochs: 7\n")
    assert read_yaml(path, "test file") == {"defaults": {"epochs": 1, "patience": 2},
                                            "short": {"epochs": 3, "patience": 2},
                                            "nested": {"inner": {"epochs": 1, "patience": 5},
                                                       "again": {"epochs": 7, "patience": 5}}}


@pytest.mark.parametrize("path", sorted([*REPO.glob("configs/*.yaml"), *REPO.glob("condor/*.yaml")]),
                         ids=lambda p: p.name)
def test_the_shipped_configurations_have_no_duplicate_keys(path):
    assert isinstance(read_yaml(path, "shipped configuration"), dict)


# ---------------------------------------------------------------- size and depth of JSON inputs

def _sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk (a hole) and no time to make."""
    path.touch()
    os.truncate(path, size)
    return path


def _fileset_case(tmp_path: Path, make) -> list[str]:
    return ["process", str(make(tmp_path / "fileset.json")), "--out", str(tmp_path / "out")]


def _explain_case(tmp_path: Path, make) -> list[str]:
    tagger = _ensemble_with_metrics(tmp_path / "dnn", "{}")
    make(tagger / "metrics.json")
    return ["explain", str(tmp_path / "proc"), "--taggers", str(tagger), "--out", str(tmp_path / "out")]


TOO_LARGE = (lambda path: _sparse(path, MAX_INPUT_BYTES + 1), "more than the 268 435 456 an input file may have")
TOO_DEEP = (lambda path: _fileset(path, DEEP), "is nested too deeply to be read as JSON")


@pytest.mark.parametrize("command, code", [(_fileset_case, 2), (_explain_case, 1)], ids=["fileset", "metrics"])
@pytest.mark.parametrize("content", [TOO_LARGE, TOO_DEEP], ids=["too-large", "too-deep"])
def test_json_too_large_or_too_deep_is_one_line(tmp_path, capsys, command, code, content):
    make, message = content
    argv = command(tmp_path, make)
    started = time.perf_counter()
    assert main(argv) == code
    assert time.perf_counter() - started < 5  # the size from stat: nothing is read
    err = one_line_error(capsys)
    assert message in err, err
    assert not (tmp_path / "out").exists()


def test_an_earlier_record_nested_too_deeply_is_ignored(tmp_path):
    """What a processing run may remove is proven by its folder's records: one it cannot read proves nothing."""
    from xaugcol.processing.outputs import earlier_records

    (tmp_path / "report.json").write_text(DEEP)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "manifest.json").write_text(json.dumps({"files": {}}))
    assert earlier_records(tmp_path) == [{"files": {}}]


# ---------------------------------------------------------------- condor pack

def _venv(folder: Path) -> Path:
    (folder / "lib").mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (folder / "lib" / "module.py").write_text("x = 1\n")
    return folder


def test_condor_pack_replaces_an_existing_file_only_with_overwrite(tmp_path, capsys):
    venv, out = _venv(tmp_path / "venv"), tmp_path / "environment.tar.gz"
    out.write_text("the user's own file")
    assert main(["condor", "pack", "--out", str(out), "--venv", str(venv)]) == 2
    assert f"{out} exists: give another --out, or --overwrite to replace it" in one_line_error(capsys)
    assert out.read_text() == "the user's own file"
    assert main(["condor", "pack", "--out", str(out), "--venv", str(venv), "--overwrite"]) == 0
    with tarfile.open(out) as tar:
        assert "env/lib/module.py" in tar.getnames()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environment.tar.gz", "venv"]  # no temporary left


def test_condor_pack_never_replaces_a_file_that_appeared_while_it_packed(tmp_path, monkeypatch):
    from xaugcol.condor.environment import pack_environment

    venv, out = _venv(tmp_path / "venv"), tmp_path / "environment.tar.gz"
    add = tarfile.TarFile.add

    def add_while_another_writes(self, *args, **kwargs):
        out.write_text("written meanwhile")
        return add(self, *args, **kwargs)
    monkeypatch.setattr(tarfile.TarFile, "add", add_while_another_writes)
    with pytest.raises(FileExistsError, match="appeared while the environment was packed"):
        pack_environment(out, venv)
    assert out.read_text() == "written meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environment.tar.gz", "venv"]


# ---------------------------------------------------------------- condor merge: regular files and folders only

def _job_output(folder: Path, table: str, rows: int) -> Path:
    """A job's output folder whose report lists ``table`` (``rows`` jets), with no table of its own."""
    (folder / "jets" / table).parent.mkdir(parents=True)
    (folder / "provenance.json").write_text(json.dumps({"commit": "c0ffee"}))
    (folder / "report.json").write_text(json.dumps({
        "files": {"a.root": {}}, "skipped_files": [], "tables": {table: rows}, "config": {}, "chunksize": 10,
        "counts": {"ds": {"events": rows, "jets_seen": rows, "jets_kept": rows}}, "outputs": [], "versions": {},
        "unavailable_columns": {"ds": []}}))
    import uproot

    uproot.recreate(folder / "histograms.root").close()
    return folder


def _submission_with_linked_table(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """(submission, its job's tarball): one job whose jet table is a ``kind`` link to a parquet file packed
    beside the job's folder; with a symbolic link the table is relative (``../../../elsewhere.parquet``), which
    tarfile's "data" filter lets through: it stays inside the folder unpacked into."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sub, stage = tmp_path / "submission", tmp_path / "stage"
    (sub / "outputs").mkdir(parents=True)
    (sub / "jobs.json").write_text(json.dumps({"commit": "c0ffee", "config": {},
                                               "groups": {"group_0000": {"dataset": "ds", "files": ["a.root"]}}}))
    job = _job_output(stage / "out_group_0000", "ds/t.parquet", 3)
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0]}), stage / "elsewhere.parquet")
    if kind == "symbolic":
        os.symlink("../../../elsewhere.parquet", job / "jets" / "ds" / "t.parquet")
    else:
        os.link(stage / "elsewhere.parquet", job / "jets" / "ds" / "t.parquet")
    tarball = sub / "outputs" / "out_group_0000.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(stage / "elsewhere.parquet", arcname="elsewhere.parquet")  # first: the hard link's target
        tar.add(job, arcname=job.name)
    return sub, tarball


@pytest.mark.parametrize("kind", ["symbolic", "hard"])
def test_condor_merge_refuses_a_link_in_a_jobs_output(tmp_path, capsys, kind):
    sub, tarball = _submission_with_linked_table(tmp_path, kind)
    out = tmp_path / "merged"
    assert main(["condor", "merge", str(sub), "--out", str(out)]) == 1
    err = one_line_error(capsys)
    what = "a symbolic link to '../../../elsewhere.parquet'" if kind == "symbolic" else \
        "a hard link to 'elsewhere.parquet'"
    assert f"{tarball}: member 'out_group_0000/jets/ds/t.parquet' is {what}" in err, err
    assert [p.name for p in out.iterdir()] == [".xaugcol.lock"]  # nothing unpacked or moved into --out


# ---------------------------------------------------------------- a Dask scheduler that never answers

@contextlib.contextmanager
def _silent_server():
    """tcp://127.0.0.1:PORT of a listener that accepts every connection and never writes; on leaving, the
    connections are closed (which would also end a client still waiting on them)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept():
        with contextlib.suppress(OSError):  # the listener closed
            while True:
                accepted.append(listener.accept()[0])
    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


def test_process_with_a_scheduler_that_never_answers_ends_at_the_connect_timeout(tmp_path, capsys):
    from xaugcol.sources.toy import run_toy

    run_toy(tmp_path / "toy", 5, seed=1)
    out = tmp_path / "out"
    with _silent_server() as address:
        started = time.monotonic()
        finished, result = run_in_thread(30, main, ["process", str(tmp_path / "toy" / "fileset.json"), "--out",
                                                    str(out), "--executor", "dask", "--scheduler", address,
                                                    "--connect-timeout", "3"])
    assert finished, "process still waited on the scheduler 30 s later (--connect-timeout 3)"
    assert outcome(result) == 1 and time.monotonic() - started < 10
    err = one_line_error(capsys)
    assert f"no Dask scheduler answers at {address} (nothing answered within 3 s)" in err, err
    assert not out.exists()


def test_dask_client_with_a_scheduler_that_never_answers_is_a_cluster_error(tmp_path):
    from xaugcol.processing.executors import ClusterError, Timeouts, dask_client

    def connect(address):
        with dask_client(address, timeouts=Timeouts(connect=2)):
            pass
    with _silent_server() as address:
        started = time.monotonic()
        finished, result = run_in_thread(30, connect, address)
    assert finished, "dask_client still waited on the scheduler 30 s later (connect timeout 2 s)"
    with pytest.raises(ClusterError, match="nothing answered within 2 s"):
        outcome(result)
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- sizes with an upper limit

def _study_config(tmp_path: Path, **sections) -> str:
    """A study whose source would fail right after the configuration is read (no such fileset)."""
    path = tmp_path / "study.yaml"
    path.write_text(json.dumps({"source": {"kind": "fileset", "fileset": "missing.json"},
                                "taggers": [{"model": "dnn", "xaug": True}], **sections}))
    return str(path)


def _toy_config(tmp_path: Path, particles_per_subjet: int) -> str:
    path = tmp_path / "toy.yaml"
    path.write_text(f"particles_per_subjet: {particles_per_subjet}\n")
    return str(path)


LIMIT_CASES = {  # argv after the command's --out, the message
    "explain --faithfulness-steps": (lambda t: ["explain", "proc", "--taggers", "dnn", "--faithfulness-steps",
                                                "20000"],
                                     "argument --faithfulness-steps: must be 0..200 (xaugcol's limit), got 20000"),
    "report --examples": (lambda t: ["report", "relevance", "--examples", "1000000000"],
                          "argument --examples: must be 0..20 (xaugcol's limit), got 1000000000"),
    "generate toy --jets": (lambda t: ["generate", "toy", "--jets", "100000000000000"],
                            "argument --jets: must be 0..100 000 000 (xaugcol's limit), got 100000000000000"),
    "demo --jets": (lambda t: ["demo", "--jets", "100000001"],
                    "argument --jets: must be 1..100 000 000 (xaugcol's limit), got 100000001"),
    "toy config": (lambda t: ["generate", "toy", "--jets", "10", "--config", _toy_config(t, 2501)],
                   "particles_per_subjet must be an integer 1..2 500, got 2501"),
    "study explain": (lambda t: ["study", "--config", _study_config(t, explain={"examples": 10**9,
                                                                                "faithfulness_steps": 20000})],
                      "explain: faithfulness_steps must be at most 200 (xaugcol.limits), got 20000; explain: "
                      "examples must be at most 20 (xaugcol.limits), got 1000000000"),
    "study toy events": (lambda t: ["study", "--config", _study_config(t, source={"kind": "toy",
                                                                                 "events": 10**14})],
                         "source: events must be at most 100 000 000 toy jets per class (xaugcol.limits), got "
                         "100000000000000"),
    "study toy particles": (lambda t: ["study", "--config", _study_config(t, source={
                                "kind": "toy", "events": 10, "toy": {"particles_per_subjet": 10**8}})],
                            "particles_per_subjet must be an integer 1..2 500, got 100000000"),
}


@pytest.mark.parametrize("case", LIMIT_CASES)
def test_a_size_above_its_limit_is_refused_in_one_line(tmp_path, capsys, case):
    argv, message = LIMIT_CASES[case]
    out = tmp_path / "out"
    out.write_text("not a folder: a command past its checks stops here, before any work")
    assert main([*argv(tmp_path), "--out", str(out)]) == 2
    assert message in one_line_error(capsys)


def test_the_library_refuses_sizes_above_their_limits(tmp_path):
    from xaugcol.report.figures import ReportInputs
    from xaugcol.sources.toy import ToyConfig, run_toy

    with pytest.raises(ValueError, match="examples .* must be an integer 0..20, got 21"):
        ReportInputs(examples=21)
    with pytest.raises(ValueError, match="particles_per_subjet must be an integer 1..2 500, got 2501"):
        ToyConfig(particles_per_subjet=2501)
    out = tmp_path / "out"
    out.write_text("not a folder")
    with pytest.raises(ValueError, match="toy jets per class must be an integer 0..100 000 000, got 100000001"):
        run_toy(out, 100_000_001, seed=1)


def test_toy_chunks_are_generated_not_listed(tmp_path, monkeypatch):
    """10**12 jets: their chunk sizes were listed before the first jet (10 million of them, 85 MiB)."""
    from xaugcol.sources import toy

    monkeypatch.setattr(toy, "write_events", lambda path, chunks: 0)  # the chunks are never asked for
    tracemalloc.start()
    try:
        toy.write_toy_file(tmp_path / "never.root", toy.ToyConfig(), 1, 10**12, seed=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20, f"{peak / 2**20:.0f} MiB before the first chunk"
    assert list(toy.chunk_sizes(250_001, 100_000)) == [100_000, 100_000, 50_001]
    assert list(toy.chunk_sizes(0, 100_000)) == [0]  # one empty chunk: the file still gets its branches


def test_toy_chunks_hold_a_bounded_number_of_particles():
    """Memory stays flat for large jets: 2 x 2 500 particles a jet make chunks of 400 jets; the default 20 keep the
    100 000 jets a chunk (and so the same events for a seed) they always had."""
    from xaugcol.sources.toy import ToyConfig, jets_per_chunk

    assert jets_per_chunk(ToyConfig(particles_per_subjet=2_500)) == 400
    assert jets_per_chunk(ToyConfig()) == jets_per_chunk(ToyConfig(particles_per_subjet=1)) == 100_000


def test_workers_sanity_jets_and_pythia_events_have_limits(tmp_path, capsys):
    """--workers 10000 started as many processes; --sanity-jets and Pythia's --events had no upper limit either.
    Each is refused in one line before anything runs, on the command line, in a study and in the library."""
    from xaugcol.explain.options import ExplainOptions
    from xaugcol.explain.explain_tables import explain_tables
    from xaugcol.workflow.config import Workflow

    out = tmp_path / "out"
    for argv in (["process", "fileset.json", "--out", str(out), "--workers", "1000"],
                 ["explain", "proc", "--taggers", "t", "--out", str(out), "--sanity-jets", "100000"],
                 ["generate", "pythia", "--process", "qcd", "--events", "1000000000", "--out", str(out)],
                 ["report", "rel", "--out", str(out), "--workers", "257"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "(xaugcol's limit)" in err and err.count("\n") == 1, (argv, err)
    assert not out.exists()
    base = {"source": {"kind": "toy", "events": 10}, "taggers": [{"model": "dnn", "xaug": True}]}
    for section, field, value in (("processing", "workers", 1000), ("explain", "sanity_jets", 10**6),
                                  ("explain", "workers", 300), ("dask", "workers", 300)):
        with pytest.raises(ValueError, match=f"{field} must be at most"):
            Workflow.from_dict({**base, section: {field: value}})
    with pytest.raises(ValueError, match="at most 100 000 000 per Pythia process"):
        Workflow.from_dict({**base, "source": {"kind": "pythia", "events": 10**9}})
    with pytest.raises(ValueError, match="(?s)faithfulness_steps.*must be at most 200"):
        explain_tables(None, tmp_path, [], tmp_path / "rel", ExplainOptions(faithfulness_steps=10**6))
