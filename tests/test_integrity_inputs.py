"""Inputs that must neither hang a command nor exhaust the machine (issue "Integrity, second round", items 8 and 9).

* YAML: every YAML file the toolkit reads (study, toy, process card, submit file, methods file, a tagger folder's
  config.yaml) is bounded. A "billion laughs" (aliases of aliases) ends each command at once with a one-line
  error naming the file, in little memory, and writes nothing into --out; anchors and ``<<:`` merges still load;
  messages quote a user's value cut short, and list a bounded number of errors.
* FIFOs: every file a command reads from a folder the user hands over (JSON records, parquet jet tables, ROOT
  histograms, npz arrays, tarballs) is refused when it is a FIFO, with a one-line error naming it. Opening a FIFO
  blocks until something writes into it: each case runs under a time limit, after which the FIFO is given a
  writer that closes at once, so that a regression fails instead of hanging the suite.
"""

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from helpers import outcome, run_in_thread
from xaugcol.cli import main
from xaugcol.config_models import read_yaml
from xaugcol.models.registry import ModelConfig
from xaugcol.output_folder import is_empty
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.sources.toy import ToyConfig, run_toy
from xaugcol.training.train import TrainConfig, train_ensemble

DNN = ModelConfig("dnn", xaug=True, architecture={"hidden": [8]})
QUICK = TrainConfig(epochs=1, batch_size=128)
REPO = Path(__file__).resolve().parents[1]
LIMIT_S = 20  # far more than any case needs: a case still running then is blocked on its FIFO


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    run_toy(out, 150, seed=7)
    return out


@pytest.fixture(scope="module")
def processed(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("processed") / "proc"
    run_processing(load_fileset(toy / "fileset.json"), out, chunksize=150)
    return out


@pytest.fixture(scope="module")
def dnn(processed, tmp_path_factory):
    """A one-member DNN ensemble trained on the processed toy jets."""
    out = tmp_path_factory.mktemp("dnn") / "dnn"
    train_ensemble(str(processed / "jets"), DNN, QUICK, [0], str(out))
    return out


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def _plant_fifo(path: Path) -> Path:
    """A FIFO in place of ``path`` (which may exist)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


def _release(fifo: Path) -> None:
    """Give a reader blocked on ``fifo`` its end of file (a writer that closes at once)."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # nobody is reading it (yet)
        pass


def _within_limit(fifo: Path, function, *args, **kwargs):
    """``function(*args, **kwargs)`` in a thread: the test fails when it still runs after ``LIMIT_S`` seconds
    (then ``fifo`` is released, so that no thread stays blocked). Returns what it returned, raises what it
    raised."""
    finished, result = run_in_thread(LIMIT_S, function, *args, **kwargs)
    for _ in range(40):
        if not result["thread"].is_alive():
            break
        _release(fifo)
        result["thread"].join(0.25)
    assert finished, f"{getattr(function, '__name__', function)} was still running after {LIMIT_S} s: " \
                     f"it blocks on the FIFO {fifo}"
    return outcome(result)


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("xaugcol: error: "), err[:2000]
    return err


# ---------------------------------------------------------------- YAML bombs

BOMB_LEVELS = 6  # 9**6 = 531 441 strings: far beyond the node limit, yet survivable by a reader without one


def _bomb(key: str, levels: int = BOMB_LEVELS, entry: str = "{}") -> str:
    """A "billion laughs" under ``key``: a list whose last item is ``levels`` levels of nine aliases each.
    ``entry`` wraps the list (e.g. ``"{{name: m, composite: {}}}"`` for a methods file)."""
    items = ['&a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return f"{key}: " + entry.format(f"[{', '.join(items)}]") + "\n"


# each: (the command line reading the bomb written by ``bomb(key[, entry])``, the bomb's path)

def _study(tmp_path, bomb):
    path = bomb("name")
    return ["study", "--config", str(path), "--out", str(tmp_path / "out")], path


def _toy(tmp_path, bomb):
    path = bomb("pt_min")
    return ["generate", "toy", "--config", str(path), "--out", str(tmp_path / "out")], path


def _pythia(tmp_path, bomb):
    path = bomb("mine")
    return ["generate", "pythia", "--process", "mine", "--process-card", str(path), "--events", "1",
            "--out", str(tmp_path / "out")], path


def _training_study(tmp_path, bomb):
    path = bomb("seeds")
    return ["train", "--config", str(path)], path


def _methods(tmp_path, bomb):
    path = bomb("- name", entry="mine\n  composite: {}")
    return ["explain", str(tmp_path / "jets"), "--taggers", str(tmp_path / "tagger"), "--methods", str(path),
            "--out", str(tmp_path / "out")], path


def _submit(tmp_path, bomb):
    path = bomb("files_per_job")
    return ["condor", "prepare", "--config", str(path), "--out", str(tmp_path / "out")], path


def _tagger_folder(tmp_path, bomb):
    tagger = tmp_path / "tagger"
    tagger.mkdir()
    path = bomb("model").rename(tagger / "config.yaml")
    return ["explain", str(tmp_path / "jets"), "--taggers", str(tagger), "--out", str(tmp_path / "out")], path


@pytest.mark.parametrize("command, exit_code, claims_out", [
    (_study, 2, False), (_toy, 2, False), (_pythia, 2, False), (_training_study, 2, False), (_methods, 2, False),
    (_submit, 2, True), (_tagger_folder, 1, False)], ids=lambda c: c.__name__.strip("_") if callable(c) else "")
def test_a_yaml_bomb_ends_every_command_at_once(tmp_path, capsys, command, exit_code, claims_out):
    """Refused by the reader, before a value is validated or quoted (without the bound: a message of megabytes,
    and for nine levels minutes and gigabytes)."""
    def bomb(key, entry="{}"):
        path = tmp_path / "bomb.yaml"
        path.write_text(_bomb(key, entry=entry))
        return path
    argv, path = command(tmp_path, bomb)
    started = time.perf_counter()
    assert main(argv) == exit_code
    seconds = time.perf_counter() - started
    err = _one_line(capsys.readouterr().err)
    assert f"{path}: cannot read it" in err and "expands to more than 100000 nodes with its aliases followed" in err, err[:500]
    assert len(err) < 400 and seconds < 2, (len(err), seconds)
    out = tmp_path / "out"
    if claims_out:  # the submit file is read once --out is locked: it holds the lock file only
        assert is_empty(out)
    else:
        assert not out.exists()


def test_a_billion_laughs_stays_small(tmp_path):
    """Nine levels of nine aliases (9**9 strings from 400 bytes), measured in a process of its own: a few tenths
    of a second and no memory beyond the interpreter's (without the bound: minutes and gigabytes; here capped)."""
    (tmp_path / "bomb.yaml").write_text(_bomb("pt_min", levels=9))
    script = textwrap.dedent("""
        import resource, sys, time
        from xaugcol.cli import main
        import xaugcol.sources.toy  # what the command imports: not counted below
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        rc = main(["generate", "toy", "--config", "bomb.yaml", "--out", "out"])
        print(rc, time.perf_counter() - started, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)

    def cap_memory():  # without the bound the child would take gigabytes: let it fail instead
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          preexec_fn=cap_memory)
    assert done.returncode == 0, done.stderr[-2000:]
    rc, seconds, before_kib, after_kib = done.stdout.split()
    assert rc == "2" and float(seconds) < 1.0, done.stdout
    assert int(after_kib) - int(before_kib) < 50 * 1024, done.stdout  # KiB: less than 50 MiB grown
    assert "expands to more than 100000 nodes" in done.stderr and len(done.stderr) < 400, done.stderr[:500]
    assert not (tmp_path / "out").exists()


def test_anchors_and_merges_still_load(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("defaults: &defaults {epochs: 3, batch_size: 128}\n"
                    "first: {<<: *defaults, epochs: 5}\n"
                    "second:\n  <<: *defaults\n"
                    "pair: &pair [1, 2]\n"
                    "pairs: [*pair, *pair]\n")
    assert read_yaml(path, "test file") == {
        "defaults": {"epochs": 3, "batch_size": 128}, "first": {"epochs": 5, "batch_size": 128},
        "second": {"epochs": 3, "batch_size": 128}, "pair": [1, 2], "pairs": [[1, 2], [1, 2]]}
    shipped = sorted((REPO / "configs").glob("*.yaml")) + sorted((REPO / "condor").glob("*.yaml"))
    assert len(shipped) >= 8
    for config in shipped:
        assert read_yaml(config, "shipped file") == yaml.safe_load(config.read_text()), config


@pytest.mark.parametrize("text, why", [
    ("a: &a [1, *a]\n", "holds an alias of itself: it expands without end"),
    ("a: &a {x: *a}\n", "holds an alias of itself: it expands without end"),
    ("[" * 2000 + "]" * 2000, "nested too deeply"),
    ("a: &s '" + "x" * 500_000 + "'\nb: [*s, *s, *s, *s, *s]\n", "expands to more than 2000000 characters"),
    ("x: [" + ", ".join(["1"] * 400_000) + "]\n", "more than the 1048576 a YAML file may have"),
], ids=["recursive-list", "recursive-mapping", "deep", "long-strings", "large-file"])
def test_unbounded_yaml_is_refused(tmp_path, text, why):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^test file {re.escape(str(path))}: cannot read it: .*{why}"):
        read_yaml(path, "test file")


def test_messages_quote_user_values_cut_short():
    with pytest.raises(ValueError) as caught:
        ToyConfig.from_dict({"pt_min": "x" * 100_000}, "toy config")
    assert "... (100002 characters)" in str(caught.value) and len(str(caught.value)) < 300
    with pytest.raises(ValueError) as caught:
        ToyConfig.from_dict({"y" * 100_000: 1}, "toy config")
    assert "... (100004 characters)" in str(caught.value) and len(str(caught.value)) < 500
    with pytest.raises(ValueError) as caught:  # a value that is not a mapping
        ToyConfig.from_dict(["lol"] * 100_000, "toy config")
    assert "... (700000 characters)" in str(caught.value) and len(str(caught.value)) < 300


def test_a_message_lists_ten_errors_then_a_count():
    from xaugcol.training.study import Study

    with pytest.raises(ValueError) as caught:
        Study.from_dict({"data": ".", "out": "o", "taggers": [1] * 50}, "study config")
    text = str(caught.value)
    assert text.count("expected a mapping") == 10 and text.endswith("; and 40 more error(s)"), text


# ---------------------------------------------------------------- FIFOs where a command reads a file

def _cli(capsys, fifo: Path, argv: list[str]) -> tuple[int, str]:
    rc = _within_limit(fifo, main, argv)
    return rc, _one_line(capsys.readouterr().err)


def test_train_refuses_a_fifo_among_the_jet_tables(processed, tmp_path, capsys):
    """A FIFO in place of a table the processing report lists: one line naming it. (A FIFO the report does not
    list is never opened: training reads the listed tables only, tests/test_ownership.py.)"""
    data = _copy(processed, tmp_path)
    listed = sorted(json.loads((data / "report.json").read_text())["tables"])[0]
    fifo = _plant_fifo(data / "jets" / listed)
    rc, err = _cli(capsys, fifo, ["train", "--data", str(data), "--model", "dnn", "--epochs", "1",
                                  "--out", str(tmp_path / "taggers")])
    assert rc == 1 and f"{Path(listed).name}: a jet table is a FIFO" in err
    assert not (tmp_path / "taggers").exists()


def test_a_resumed_run_refuses_a_fifo_as_its_checkpoint_manifest(toy, tmp_path, capsys):
    out = tmp_path / "proc"
    fifo = _plant_fifo(out / "checkpoints" / "manifest.json")
    (out / "checkpoints" / "toy_signal").mkdir()
    (out / "checkpoints" / "toy_signal" / "chunk.npz").write_bytes(b"")  # a finished chunk, as far as names go
    rc, err = _cli(capsys, fifo, ["process", str(toy / "fileset.json"), "--out", str(out), "--resume"])
    assert rc == 1 and "manifest.json: a checkpoint manifest is a FIFO" in err


@pytest.mark.parametrize("where, what", [("metrics.json", "an ensemble's metrics.json"),
                                         ("seed_0/metrics.json", "a member's metrics.json")])
def test_report_refuses_a_fifo_in_an_ensemble(dnn, tmp_path, capsys, where, what):
    ensemble = _copy(dnn, tmp_path)
    fifo = _plant_fifo(ensemble / where)
    rc, err = _cli(capsys, fifo, ["-q", "report", str(ensemble), "--out", str(tmp_path / "report"),
                                  "--workers", "1", "--examples", "0"])
    assert rc == 1 and f"{where}: {what} is a FIFO" in err


def test_report_refuses_a_fifo_as_the_input_histograms(processed, tmp_path, capsys):
    folder = _copy(processed, tmp_path)
    fifo = _plant_fifo(folder / "histograms.root")
    rc, err = _cli(capsys, fifo, ["-q", "report", str(folder), "--out", str(tmp_path / "report"), "--workers", "1"])
    assert rc == 1 and "histograms.root: a processing output's histograms is a FIFO" in err


def _submission(tmp_path: Path) -> Path:
    """A submission folder expecting one job's output (which each test makes)."""
    sub = tmp_path / "submission"
    (sub / "outputs").mkdir(parents=True)
    (sub / "jobs.json").write_text(json.dumps({"commit": "c0ffee", "config": {},
                                               "groups": {"group_0000": {"dataset": "d", "files": ["a.root"]}}}))
    return sub


def test_condor_merge_refuses_a_fifo_as_a_jobs_output(tmp_path, capsys):
    fifo = _plant_fifo(_submission(tmp_path) / "outputs" / "out_group_0000.tar.gz")
    rc, err = _cli(capsys, fifo, ["condor", "merge", str(tmp_path / "submission"), "--out", str(tmp_path / "m")])
    assert rc == 1 and "out_group_0000.tar.gz: a job's output is a FIFO" in err


def test_condor_merge_refuses_a_fifo_inside_a_jobs_output(tmp_path, capsys):
    """tarfile's data filter refuses to unpack the FIFO; the merge says so in one line, as unusable input (exit 1,
    as for a FIFO in place of the tarball above; a usage error, 2, before the error model)."""
    sub = _submission(tmp_path)
    fifo = _plant_fifo(tmp_path / "out_group_0000" / "report.json")
    with tarfile.open(sub / "outputs" / "out_group_0000.tar.gz", "w:gz") as tar:
        tar.add(fifo.parent, arcname=fifo.parent.name)
    rc, err = _cli(capsys, fifo, ["condor", "merge", str(sub), "--out", str(tmp_path / "m")])
    assert rc == 1 and "job group_0000: its output" in err and "report.json' is a special file" in err


def _relevance_histograms(folder):
    from xaugcol.explain.relevance_file import read_relevance_histograms

    return read_relevance_histograms(folder)


def _test_predictions(folder):
    from xaugcol.models.folder import load_test_predictions

    return load_test_predictions(folder)


def _checkpoint(folder):
    from xaugcol.processing.checkpoints import load_accumulator

    return load_accumulator(folder / "chunk.npz")


def _jet_tables(folder):
    from xaugcol.processing.table_io import read_tables

    return read_tables(folder)


def _resumed_tables(folder):
    """A resumed processing run keeps the interrupted run's table of a checkpointed chunk, checked at the end."""
    from xaugcol.processing.outputs import OwnedTables, reconcile_tables

    return reconcile_tables(folder, {"d/planted.parquet": 10}, OwnedTables([]))


def _member_rocs(folder):
    from xaugcol.plotting.performance import member_rocs

    return member_rocs(folder)


def _input_histograms(folder):
    from xaugcol.plotting.inputs import class_histograms

    return class_histograms(folder / "histograms.root")


def _roc_figures(folder):
    from xaugcol.report.figures import performance_jobs

    return performance_jobs({"t": folder}, "jets")


def _metrics_table(folder):
    from xaugcol.report.html import metrics_table

    return metrics_table({"t": folder})


def _relevance_figures(folder):
    from xaugcol.report.figures import relevance_jobs

    return relevance_jobs(folder, {}, "jets")


def _guided_figures(folder):
    from xaugcol.report.figures import mapping_jobs

    return mapping_jobs(folder, "jets")


def _interpret_figures(folder):
    from xaugcol.report.figures import interpret_jobs

    return interpret_jobs(folder, "t", "jets")


@pytest.mark.parametrize("name, read", [
    ("relevance.root", _relevance_histograms), ("test_predictions.npz", _test_predictions),
    ("chunk.npz", _checkpoint), ("d/planted.parquet", _jet_tables), ("jets/d/planted.parquet", _resumed_tables),
    ("metrics.json", _member_rocs),
    ("histograms.root", _input_histograms), ("metrics.json", _roc_figures), ("metrics.json", _metrics_table),
    ("relevance.json", _relevance_figures), ("guided.json", _guided_figures),
    ("interpret.json", _interpret_figures),
], ids=lambda x: x.__name__.strip("_") if callable(x) else None)
def test_every_reader_refuses_a_fifo(tmp_path, name, read):
    fifo = _plant_fifo(tmp_path / name)
    with pytest.raises((OSError, ValueError), match=f"{fifo.name}: .* is a FIFO, not a regular file"):
        _within_limit(fifo, read, tmp_path)


def test_a_study_stage_with_a_fifo_as_its_record_runs_again(tmp_path):
    from xaugcol.workflow.stages import Stage

    stage = Stage("training", tmp_path / "stage", {"epochs": 1})
    _plant_fifo(stage.folder / "stage.json")
    assert _within_limit(stage.folder / "stage.json", stage.plan, True) == \
        ("run", "no record of the settings it ran with")
