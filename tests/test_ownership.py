"""What a command may remove, where it may write and what it reads, probed as a careless or hostile user would:
nothing it did not write is removed (not through a link, not an input, not a tagger it was asked to read), an
input inside the output folder is refused before anything is touched, training reads exactly the tables the
processing report lists, and two dataset names never share a folder or a histogram key."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import one_line_error
from xaugcol.cli import main
from xaugcol.models.registry import ModelConfig
from xaugcol.paths import safe_component
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.sources.toy import run_toy
from xaugcol.training.data import DataSpec, JetTables
from xaugcol.training.train import TrainConfig

DNN = ModelConfig("dnn", xaug=True, architecture={"hidden": [8]})
QUICK = TrainConfig(epochs=1, batch_size=128)


@pytest.fixture(scope="module")
def work(trained_toy):
    return trained_toy


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links not followed) with its content: what must stay untouched."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _precious(folder: Path) -> dict[str, bytes]:
    """A folder of someone else's files, shaped like a tagger ensemble."""
    (folder / "seed_0").mkdir(parents=True)
    (folder / "seed_0" / "model.pt").write_bytes(b"their weights")
    (folder / "metrics.json").write_text('{"theirs": true}')
    (folder / "notes.txt").write_text("keep")
    return _tree(folder)


# ---------------------------------------------------------------- removed or written through a link

def test_train_overwrite_never_follows_a_link_in_its_output(work, tmp_path, capsys):
    """OUT/dnn a link to another folder: train --overwrite refuses (before: it emptied that folder's seed_* and
    wrote the new ensemble and a lock there), and a seed_* folder of someone else's files is not replaced."""
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "out"
    before = _precious(elsewhere)
    out.mkdir()
    (out / "dnn").symlink_to(elsewhere)
    args = ["train", "--data", str(work / "proc"), "--model", "dnn", "--epochs", "1", "--out", str(out)]
    assert main([*args, "--overwrite"]) == 2
    assert "symbolic link" in one_line_error(capsys)
    assert _tree(elsewhere) == before and (out / "dnn").is_symlink()

    (out / "dnn").unlink()
    mine = _precious(out / "dnn")  # not a link, but not a member folder training wrote either
    assert main([*args, "--overwrite"]) == 2
    assert "seed_0 is not a tagger member folder" in one_line_error(capsys)
    assert _tree(out / "dnn") == mine


def test_study_overwrite_never_follows_a_linked_taggers_folder(work, tmp_path, capsys):
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "out"
    _precious(elsewhere / "dnn")
    before = _tree(elsewhere)
    out.mkdir()
    (out / "taggers").symlink_to(elsewhere)
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"source": {"kind": "fileset", "fileset": str(work / "toy" / "fileset.json")},
                                     "training": {"epochs": 1}, "taggers": [{"model": "dnn", "xaug": True}]}))
    assert main(["study", "--config", str(study), "--out", str(out), "--overwrite"]) == 2
    assert "symbolic link" in one_line_error(capsys)
    assert _tree(elsewhere) == before and sorted(p.name for p in out.iterdir()) == ["taggers"]


def test_a_study_never_removes_its_inputs_or_folders_it_did_not_write(work, tmp_path, capsys):
    """A study asked to explain a tagger inside its own --out (before: deleted as a stale tagger, then the run
    failed), or to read a fileset there, is refused before anything is touched; so is a study whose layout
    holds someone else's files (OUT/generated with no stage record)."""
    out = tmp_path / "out"
    shutil.copytree(work / "dnn", out / "taggers" / "dnn")
    before = _tree(out)
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"source": {"kind": "fileset", "fileset": str(work / "toy" / "fileset.json")},
                                     "taggers": [{"folder": str(out / "taggers" / "dnn"), "name": "given"}]}))
    assert main(["study", "--config", str(study), "--out", str(out), "--overwrite"]) == 2
    assert "the trained tagger given" in one_line_error(capsys) and _tree(out) == before

    shutil.copytree(work / "toy", out / "data")
    study.write_text(yaml.safe_dump({"source": {"kind": "fileset", "fileset": str(out / "data" / "fileset.json")},
                                     "taggers": [{"folder": str(work / "dnn")}]}))
    before = _tree(out)
    assert main(["study", "--config", str(study), "--out", str(out), "--overwrite"]) == 2
    assert "the study's fileset" in one_line_error(capsys) and _tree(out) == before

    other = tmp_path / "other"
    (other / "generated").mkdir(parents=True)
    (other / "generated" / "mine.root").write_bytes(b"my events")
    study.write_text(yaml.safe_dump({"source": {"kind": "toy", "events": 50},
                                     "taggers": [{"folder": str(work / "dnn")}]}))
    assert main(["study", "--config", str(study), "--out", str(other), "--overwrite"]) == 2
    assert "no xaugcol study wrote" in one_line_error(capsys)
    assert (other / "generated" / "mine.root").read_bytes() == b"my events"
    assert sorted(p.name for p in other.iterdir()) == ["generated"]


def test_process_overwrite_removes_only_the_tables_it_wrote(work, tmp_path, capsys):
    """An input fileset and its files inside D/jets: process --overwrite refuses before touching anything (before:
    it deleted all of D/jets, inputs included). With the inputs elsewhere, --overwrite replaces the earlier
    run's tables and leaves (and names) files no record proves a run wrote."""
    d = tmp_path / "d"
    run_toy(d / "jets", 60, seed=3)
    before = _tree(d)
    assert main(["process", str(d / "jets" / "fileset.json"), "--out", str(d), "--overwrite"]) == 2
    assert "lies inside the output folder" in one_line_error(capsys) and _tree(d) == before

    out = tmp_path / "out"
    fileset = str(work / "toy" / "fileset.json")
    assert main(["process", fileset, "--out", str(out), "--chunksize", "100"]) == 0
    earlier = set(json.loads((out / "report.json").read_text())["tables"])
    (out / "jets" / "notes.txt").write_text("keep")
    some_table = next(iter(earlier))
    stray = (out / "jets" / some_table).parent / "mine.parquet"
    stray.write_bytes((out / "jets" / some_table).read_bytes())
    assert main(["process", fileset, "--out", str(out), "--chunksize", "150", "--overwrite"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert not earlier & set(report["tables"])  # other chunks: every earlier table replaced
    on_disk = {p.relative_to(out / "jets").as_posix() for p in (out / "jets").rglob("*.parquet")}
    mine = stray.relative_to(out / "jets").as_posix()
    assert on_disk == set(report["tables"]) | {mine} and report["unlisted_tables"] == [mine]
    assert (out / "jets" / "notes.txt").read_text() == "keep"


# ---------------------------------------------------------------- what training reads

def _jets_read(folder) -> int:
    tables = JetTables(folder, DataSpec.of(DNN))
    return sum(len(tables.scan(split, ["label"])["label"]) for split in ("train", "val", "test"))


def test_training_reads_exactly_the_tables_the_report_lists(work, tmp_path, capsys):
    """A stray copy of a table in jets/ (before: 55 duplicated jets were trained on) is not read; a processing
    that was interrupted (before: 1 109 of 1 888 jets used without a word) or is being written now is refused,
    naming it, and nothing is written."""
    proc = tmp_path / "proc"
    shutil.copytree(work / "proc", proc)
    listed = sum(json.loads((proc / "report.json").read_text())["tables"].values())
    table = next((proc / "jets").rglob("*.parquet"))
    shutil.copy(table, table.parent / "copy.parquet")
    assert _jets_read(proc) == listed == 600

    (proc / "checkpoints").mkdir()
    (proc / "checkpoints" / "manifest.json").write_text("{}")  # as an interrupted run leaves it
    out = tmp_path / "taggers"
    args = ["train", "--data", str(proc), "--model", "dnn", "--epochs", "1", "--out", str(out)]
    assert main(args) == 1
    assert "its processing did not finish" in one_line_error(capsys) and not out.exists()
    shutil.rmtree(proc / "checkpoints")

    code = ("import sys, time; from xaugcol.output_folder import output_lock\n"
            "with output_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(proc)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(args) == 1
        assert f"is being written by an xaugcol run (pid {holder.pid}" in one_line_error(capsys)
        assert main(["explain", str(proc), "--taggers", str(work / "dnn"), "--out", str(tmp_path / "rel")]) == 1
        assert "is being written" in one_line_error(capsys)
    finally:
        holder.kill()
        holder.wait()
    assert not out.exists() and not (tmp_path / "rel").exists()


def test_training_data_that_cannot_train_leave_nothing_behind(work, tmp_path, capsys):
    """No tables, only empty tables, a single class, a listed table missing or truncated: one line each (exit 1)
    and no output folder (before: tracebacks, and a half-made folder)."""
    def processed(name, tables: dict) -> Path:
        folder = tmp_path / name
        shutil.copytree(work / "proc", folder)
        report = json.loads((folder / "report.json").read_text())
        report["tables"] = tables(report["tables"], folder)
        (folder / "report.json").write_text(json.dumps(report))
        return folder

    def signal_only(tables, folder):
        return {k: v for k, v in tables.items() if k.startswith("toy_signal/")}

    def emptied(tables, folder):
        from xaugcol.processing.table_io import read_table, write_table

        for name in tables:
            rows = read_table(folder / "jets" / name)
            write_table(folder / "jets" / name, {k: v[:0] for k, v in rows.items()})
        return {k: 0 for k in tables}

    def truncated(tables, folder):
        path = folder / "jets" / next(iter(tables))
        path.write_bytes(path.read_bytes()[:100])
        return tables

    def missing(tables, folder):
        (folder / "jets" / next(iter(tables))).unlink()
        return tables

    cases = {"none": (lambda tables, folder: {}, "no jets"), "empty": (emptied, "no jets"),
             "one_class": (signal_only, "and 0 background jet(s)"),
             "truncated": (truncated, "cannot read it as a jet table"), "missing": (missing, "is missing")}
    for name, (change, message) in cases.items():
        folder = processed(name, change)
        out = tmp_path / f"out_{name}"
        assert main(["train", "--data", str(folder), "--model", "dnn", "--epochs", "1", "--out", str(out)]) == 1, name
        assert message in one_line_error(capsys), name
        assert not out.exists(), name
    assert main(["explain", str(tmp_path / "missing"), "--taggers", str(work / "dnn"), "--out",
                 str(tmp_path / "rel")]) == 1
    assert "is missing" in one_line_error(capsys)


# ---------------------------------------------------------------- names

def test_dataset_names_never_share_a_folder_or_a_histogram_key(work, tmp_path, capsys):
    """'a b' is cleaned to 'a_b-<hash>'; a dataset literally named so (before: both shared a folder and their
    histogram keys, and a class read back empty) is mapped elsewhere. Names that differ only in case would share
    a folder on macOS or Windows: refused."""
    from xaugcol.plotting.inputs import class_histograms

    cleaned = safe_component("a b")
    assert safe_component(cleaned) != cleaned and safe_component("a_b") == "a_b"
    toy = work / "toy"
    fileset = {"a b": {"files": {str(toy / "toy_signal.root"): "Events"}, "metadata": {"label": 1}},
               cleaned: {"files": {str(toy / "toy_background.root"): "Events"}, "metadata": {"label": 0}}}
    result = run_processing(fileset, tmp_path / "proc")
    classes = class_histograms(tmp_path / "proc" / "histograms.root")["msd"]
    assert classes[1].sum().value == classes[0].sum().value == 300
    assert sorted(result.counts) == sorted(fileset)
    assert len({p.parent.name for p in (tmp_path / "proc" / "jets").rglob("*.parquet")}) == 2

    path = tmp_path / "fileset.json"
    path.write_text(json.dumps({"ZZ": fileset["a b"], "zz": fileset[cleaned]}))
    assert main(["process", str(path), "--out", str(tmp_path / "cased")]) == 2
    assert "differ only in case" in one_line_error(capsys) and not (tmp_path / "cased").exists()


def test_a_file_rewritten_in_the_same_process_is_read_as_it_is_now(tmp_path):
    """coffea's Runner caches every file's entry count and UUID for the life of the process: a file rewritten
    with other events was chunked by its old entry count (events lost or made up) and its tables named after
    its old UUID. Each run now reads the files as they are."""
    gen = tmp_path / "gen"
    run_toy(gen, 100, seed=1)
    first = run_processing(load_fileset(gen / "fileset.json"), tmp_path / "a", chunksize=40)
    run_toy(gen, 160, seed=2)
    second = run_processing(load_fileset(gen / "fileset.json"), tmp_path / "b", chunksize=40)
    assert first.counts["toy_signal"]["events"] == 100
    assert second.counts["toy_signal"]["events"] == second.counts["toy_signal"]["jets_kept"] == 160
    assert not set(first.report["tables"]) & set(second.report["tables"])
