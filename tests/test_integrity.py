"""Integrity of every output, probed as an untrusted fileset or an unlucky user would: nothing is written outside
--out whatever the names in the inputs, nothing stale is mixed into new results, and one folder has one writer."""

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import awkward as ak
import pyarrow.parquet as pq
import pytest
import yaml

from xaugcol.explain.options import ExplainOptions
from xaugcol.cli import main
from xaugcol.explain.ensemble import Ensemble
from xaugcol.coffea_runs import run_relevance
from xaugcol.output_folder import LOCK_NAME, output_lock
from xaugcol.models.folder import ModelFileError
from xaugcol.models.registry import ModelConfig
from xaugcol.paths import UnsafePathError, safe_component, under
from xaugcol.processing.checkpoints import CHECKPOINTS, CheckpointError
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.processing.table_io import read_tables
from xaugcol.sources.process_card import load_processes
from xaugcol.sources.processes import Process
from xaugcol.sources.pythia import run_pythia
from xaugcol.sources.toy import run_toy
from xaugcol.training.train import TrainConfig, train_ensemble

UNSAFE = ["../../escape", "..", "/tmp/xaugcol-absolute-escape", "/DYJetsToLL_M-50/RunIISummer20UL18/NANOAODSIM"]
DNN = ModelConfig("dnn", xaug=True, architecture={"hidden": [8]})
QUICK = TrainConfig(epochs=1, batch_size=128)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


class Interrupt(BaseException):
    """Stands for Ctrl-C / a kill in the middle of a run (not an Exception: nothing may catch it)."""


def _interrupt_after(monkeypatch, cls, n: int) -> None:
    """The processor ``cls`` is interrupted at its (n+1)-th chunk, after n chunks completed."""
    original, calls = cls.process, []

    def process(self, events):
        calls.append(1)
        if len(calls) > n:
            raise Interrupt()
        return original(self, events)
    monkeypatch.setattr(cls, "process", process)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    run_toy(out, 300, seed=41)
    return out


@pytest.fixture(scope="module")
def dnn(toy, tmp_path_factory):
    """Processed toy jets and a trained two-member DNN ensemble."""
    root = tmp_path_factory.mktemp("dnn")
    run_processing(load_fileset(toy / "fileset.json"), root / "proc", chunksize=150)
    train_ensemble(str(root / "proc" / "jets"), DNN, QUICK, [0, 1], str(root / "dnn"))
    return root


# ---------------------------------------------------------------- writes outside the output folder

def test_safe_components_and_paths(tmp_path):
    assert safe_component("toy_signal") == "toy_signal"
    mapped = [safe_component(n) for n in UNSAFE]
    assert len(set(mapped)) == len(UNSAFE) and all("/" not in m and not m.startswith(".") for m in mapped)
    assert safe_component("a/b") != safe_component("a_b")  # cleaning never merges two names
    with pytest.raises(UnsafePathError):
        under(tmp_path / "out", "..", "x")
    with pytest.raises(UnsafePathError):
        under(tmp_path / "out", "/etc/passwd")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path)  # a link planted in the output folder
    with pytest.raises(UnsafePathError):
        under(tmp_path / "out", "link", "x")


def test_dataset_names_never_place_outputs_outside_the_folder(tmp_path):
    """Dataset names '../../x', '..', an absolute path and a CMS DAS path: process and explain write only under
    --out (before: tables and checkpoints landed beside it and stayed), and keep the names in the data."""
    gen = tmp_path / "inputs"
    run_toy(gen / "a", 60, seed=1)
    run_toy(gen / "b", 60, seed=2)
    files = [gen / "a" / "toy_signal.root", gen / "a" / "toy_background.root", gen / "b" / "toy_signal.root",
             gen / "b" / "toy_background.root"]
    fileset = {name: {"files": {str(f): "Events"}, "metadata": {"label": k % 2}}
               for k, (name, f) in enumerate(zip(UNSAFE, files))}
    work = tmp_path / "w1" / "w2" / "w3"
    before = _files(tmp_path)
    result = run_processing(fileset, work / "proc", chunksize=40)
    written = _files(tmp_path) - before
    assert written and all(p.is_relative_to(work / "proc") for p in written), sorted(map(str, written))
    assert not Path("/tmp/xaugcol-absolute-escape").exists()
    tables = read_tables(work / "proc" / "jets")
    assert sorted(set(ak.to_list(tables.dataset))) == sorted(UNSAFE)
    assert sorted(result.counts) == sorted(UNSAFE) and len(tables) == 240
    from xaugcol.plotting.inputs import class_histograms
    assert class_histograms(work / "proc" / "histograms.root")["msd"][1].sum().value == 120

    train_ensemble(str(work / "proc" / "jets"), DNN, QUICK, [0], str(work / "dnn"))
    before = _files(tmp_path)
    run_relevance(work / "proc", [work / "dnn"], work / "rel", ExplainOptions(rules=("epsilon",), split="all", faithfulness_steps=10, sanity_jets=50), chunksize=40)
    written = _files(tmp_path) - before
    assert written and all(p.is_relative_to(work / "rel") for p in written), sorted(map(str, written))


def test_a_link_planted_in_the_output_is_not_followed(toy, tmp_path, capsys):
    """out/jets is a symbolic link to a folder elsewhere: no table is written through it, even under
    --skip-bad-files; --overwrite removes nothing it did not write (neither the link nor what it points to) and
    says so: the run goes on once the link is gone."""
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "out"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep")
    out.mkdir()
    (out / "jets").symlink_to(elsewhere)
    with pytest.raises(UnsafePathError, match="outside the output folder"):
        run_processing(load_fileset(toy / "fileset.json"), out, chunksize=300, skip_bad_files=True)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["precious.txt"]
    capsys.readouterr()
    assert main(["process", str(toy / "fileset.json"), "--out", str(out), "--overwrite"]) == 2
    assert "outside the output folder" in capsys.readouterr().err
    assert (elsewhere / "precious.txt").read_text() == "keep" and len(list(elsewhere.iterdir())) == 1
    assert (out / "jets").is_symlink()
    (out / "jets").unlink()
    assert main(["process", str(toy / "fileset.json"), "--out", str(out), "--overwrite"]) == 0
    assert (elsewhere / "precious.txt").read_text() == "keep" and len(list(elsewhere.iterdir())) == 1
    assert len(read_tables(out / "jets")) == 600


def test_process_and_tagger_names_must_be_plain(tmp_path, capsys):
    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump({"../../evil": {"label": 1, "settings": ["HardQCD:all = on"]}}))
    with pytest.raises(ValueError, match="process name '../../evil' is not a plain name"):
        load_processes(card)
    assert main(["generate", "pythia", "--process", "../../evil", "--process-card", str(card), "--events", "1",
                 "--out", str(tmp_path / "gen")]) == 2
    assert "not a plain name" in capsys.readouterr().err and not (tmp_path / "gen").exists()
    evil = Process("../evil", ("HardQCD:all = on",), 0)  # through the API: refused before Pythia starts
    with pytest.raises(UnsafePathError):
        run_pythia(tmp_path / "gen2", [evil], 1, seed=1)
    assert not (tmp_path / "evil.root").exists()
    with pytest.raises(ModelFileError, match="tagger name"):
        Ensemble.load(tmp_path, name="../x")


# ---------------------------------------------------------------- stale results mixed into new ones

def test_resume_refuses_inputs_rewritten_since_the_interruption(tmp_path, monkeypatch):
    """The input is rewritten under the same path with the same entry count (a new file UUID): a resume is
    refused naming it (before: old and new chunk tables were mixed, 3 rows for every 2 jets)."""
    from xaugcol.processors.xaug_processor import XAUGProcessor

    gen, out = tmp_path / "gen", tmp_path / "out"
    run_toy(gen, 200, seed=3)
    with monkeypatch.context() as m:
        _interrupt_after(m, XAUGProcessor, 2)
        with pytest.raises(Interrupt):
            run_processing(load_fileset(gen / "fileset.json"), out, chunksize=50)
    assert len(list((out / CHECKPOINTS).rglob("*.npz"))) == 2
    run_toy(gen, 200, seed=3)  # the same events, new files
    with pytest.raises(CheckpointError, match=r"other files\..*toy_\w+\.root\.(mtime_ns|uuid)"):
        run_processing(load_fileset(gen / "fileset.json"), out, chunksize=50, resume=True)
    assert main(["process", str(gen / "fileset.json"), "--out", str(out), "--chunksize", "50", "--overwrite"]) == 0
    assert len(read_tables(out / "jets")) == 400


def test_leftover_tables_of_other_inputs_are_removed(tmp_path, monkeypatch):
    """An interrupted run wrote a table for a chunk, then was killed before checkpointing it; its input then
    changed. The run that follows (no chunk was checkpointed, so it starts again) removes that table, which the
    interrupted run's manifest proves a processing run wrote, and ends holding exactly the tables its report
    lists, leaving in place (and naming) a parquet file no record explains."""
    from xaugcol.processing.checkpoints import ChunkCheckpointer

    gen, out = tmp_path / "gen", tmp_path / "out"
    run_toy(gen, 100, seed=4)

    def killed_before_the_checkpoint(self, output, metadata, processor_instance):
        raise Interrupt()
    with monkeypatch.context() as m:
        m.setattr(ChunkCheckpointer, "save", killed_before_the_checkpoint)
        with pytest.raises(Interrupt):
            run_processing(load_fileset(gen / "fileset.json"), out, chunksize=50)
    orphan = [p.relative_to(out / "jets").as_posix() for p in (out / "jets").rglob("*.parquet")]
    assert len(orphan) == 1 and not list((out / CHECKPOINTS).rglob("*.npz"))
    mine = (out / "jets" / orphan[0]).parent / "mine.parquet"
    mine.write_bytes((out / "jets" / orphan[0]).read_bytes())  # the user's copy: no record lists it
    run_toy(gen, 100, seed=5)  # other events (another ROOT UUID): the orphan belongs to no chunk of the new files
    result = run_processing(load_fileset(gen / "fileset.json"), out, chunksize=50)
    assert result.report["removed_stale_tables"] == orphan
    assert result.report["unlisted_tables"] == [mine.relative_to(out / "jets").as_posix()] and mine.is_file()
    on_disk = {p.relative_to(out / "jets").as_posix(): pq.read_metadata(p).num_rows
               for p in (out / "jets").rglob("*.parquet") if p != mine}
    assert on_disk == result.report["tables"] and sum(on_disk.values()) == 200


def test_explain_resume_fingerprints_the_whole_model_folder(toy, dnn, tmp_path, monkeypatch):
    """A member's scaler.json or config.yaml changed after an interruption: the resume is refused naming the
    file (before: only model.pt was checked and results of two models were mixed)."""
    import shutil

    from xaugcol.processors.relevance_processor import RelevanceProcessor

    fileset = load_fileset(toy / "fileset.json")
    tagger = tmp_path / "dnn"
    shutil.copytree(dnn / "dnn", tagger)
    out = tmp_path / "rel"
    with monkeypatch.context() as m:
        _interrupt_after(m, RelevanceProcessor, 1)
        with pytest.raises(Interrupt):
            run_relevance(dnn / "proc", [tagger], out, ExplainOptions(rules=("epsilon",), faithfulness_steps=10, sanity_jets=50), chunksize=100)
    scaler = tagger / "seed_1" / "scaler.json"
    original = scaler.read_text()
    data = json.loads(original)
    data["scalers"]["xaug"]["mean"][0] *= 1.5
    scaler.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"taggers\.dnn\.seed_1\.scaler\.json"):
        run_relevance(dnn / "proc", [tagger], out, ExplainOptions(rules=("epsilon",), faithfulness_steps=10, sanity_jets=50), chunksize=100, resume=True)
    scaler.write_text(original)
    config = tagger / "seed_0" / "config.yaml"
    config.write_text(config.read_text().replace("patience: 3", "patience: 4"))
    with pytest.raises(CheckpointError, match=r"taggers\.dnn\.seed_0\.config\.yaml"):
        run_relevance(dnn / "proc", [tagger], out, ExplainOptions(rules=("epsilon",), faithfulness_steps=10, sanity_jets=50), chunksize=100, resume=True)
    config.write_text(config.read_text().replace("patience: 4", "patience: 3"))
    resumed = run_relevance(dnn / "proc", [tagger], out, ExplainOptions(rules=("epsilon",), faithfulness_steps=10, sanity_jets=50), chunksize=100, resume=True)
    clean = run_relevance(dnn / "proc", [tagger], tmp_path / "clean", ExplainOptions(rules=("epsilon",), faithfulness_steps=10, sanity_jets=50), chunksize=100)
    assert resumed.counts == clean.counts


def test_ensembles_are_complete_or_refused(dnn, tmp_path, monkeypatch):
    jets = str(dnn / "proc" / "jets")
    out = tmp_path / "taggers"
    args = ["train", "--data", str(dnn / "proc"), "--model", "dnn", "--epochs", "1", "--out", str(out)]
    assert main([*args, "--seeds", "2"]) == 0
    assert [s for s, _ in Ensemble.load(out / "dnn").members] == [0, 1]
    assert main([*args, "--seeds", "1", "--overwrite"]) == 0  # fewer seeds: the old member goes
    assert sorted(p.name for p in (out / "dnn").iterdir()) == [LOCK_NAME, "metrics.json", "seed_0"]
    assert [s for s, _ in Ensemble.load(out / "dnn").members] == [0]

    # a training stopped after its first member: the members train into a staging folder, so neither a half
    # ensemble nor a lone member is left, and an earlier ensemble in the folder stays whole
    import xaugcol.training.train as train_module
    original = train_module.train_member

    def dies_at_seed_1(data, model_config, train_config, seed, folder, progress=False, init_from=None):
        if seed == 1:
            raise Interrupt()
        return original(data, model_config, train_config, seed, folder, progress, init_from)
    def ensemble_files():
        return {p.relative_to(out): p.read_bytes() for p in (out / "dnn").rglob("*")
                if p.is_file() and p.name != LOCK_NAME}
    earlier = ensemble_files()
    with monkeypatch.context() as m:
        m.setattr(train_module, "train_member", dies_at_seed_1)
        with pytest.raises(Interrupt):
            train_ensemble(jets, DNN, QUICK, [0, 1], str(tmp_path / "killed"))
        with pytest.raises(Interrupt):
            train_ensemble(jets, DNN, QUICK, [0, 1], str(out / "dnn"))
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == [LOCK_NAME]
    assert ensemble_files() == earlier
    assert [s for s, _ in Ensemble.load(out / "dnn").members] == [0]

    # a member killed while writing its folder (weights saved, ONNX not yet) leaves no member folder at all
    def killed_in_export(*args, **kwargs):
        raise Interrupt()
    with monkeypatch.context() as m:
        m.setattr(train_module, "export_onnx", killed_in_export)
        with pytest.raises(Interrupt):
            train_ensemble(jets, DNN, QUICK, [0], str(tmp_path / "half"))
    assert not (tmp_path / "half" / "seed_0").exists()
    assert not list((tmp_path / "half").glob(".seed_0.tmp-*"))


def test_explain_refuses_an_incomplete_ensemble(toy, dnn, tmp_path, capsys):
    import shutil

    shutil.copytree(dnn / "dnn", tmp_path / "dnn")
    (tmp_path / "dnn" / "metrics.json").unlink()  # as a training killed before its summary leaves it
    assert main(["explain", str(dnn / "proc"), "--taggers", str(tmp_path / "dnn"),
                 "--out", str(tmp_path / "rel")]) == 1
    err = capsys.readouterr().err
    assert "incomplete ensemble: 2 member folder(s)" in err and "Traceback" not in err
    # a summary listing a member outside the ensemble is refused too
    (tmp_path / "dnn" / "metrics.json").write_text(json.dumps({"members": ["seed_0", "../../elsewhere"]}))
    with pytest.raises(ModelFileError, match="seed_<k>"):
        Ensemble.load(tmp_path / "dnn")


# ---------------------------------------------------------------- one writer per folder

def _hold_lock(folder: Path):
    """A separate process that holds ``folder``'s lock until killed."""
    code = ("import sys, time; from xaugcol.output_folder import output_lock\n"
            "with output_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_every_writing_command_takes_the_folder_lock(toy, dnn, tmp_path, capsys):
    out = tmp_path / "busy"
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"source": {"kind": "toy", "events": 50}, "taggers": [{"model": "dnn", "xaug": True}]}))
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "jobs.json").write_text(json.dumps({"commit": "x", "groups": {}}))
    commands = [["generate", "toy", "--jets", "10", "--out", str(out)],
                ["process", str(toy / "fileset.json"), "--out", str(out)],
                ["train", "--data", str(dnn / "proc"), "--model", "dnn", "--out", str(out)],
                ["explain", str(dnn / "proc"), "--taggers", str(dnn / "dnn"), "--out", str(out)],
                ["study", "--config", str(study), "--out", str(out)],
                ["demo", "--out", str(out)],
                ["condor", "merge", str(tmp_path / "submission"), "--out", str(out)],
                ["condor", "prepare", "--config", str(study), "--out", str(out)]]
    holder = _hold_lock(out)
    try:
        for args in commands:
            capsys.readouterr()
            assert main(args) == 2, args
            err = capsys.readouterr().err
            assert f"being written by another xaugcol run (pid {holder.pid}" in err, (args, err)
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing was written
    assert main(commands[0]) == 0  # the holder is gone (killed: the kernel released its lock)


def test_two_trainings_into_one_folder(dnn, tmp_path):
    """Started together, one training runs and the other is refused at once: no member mixes the config of one
    run with the metrics and ONNX of the other."""
    out = tmp_path / "taggers"
    args = [sys.executable, "-m", "xaugcol.cli", "train", "--data", str(dnn / "proc"), "--model", "dnn",
            "--epochs", "2", "--out", str(out)]
    runs = [subprocess.Popen([*args, "--batch-size", str(b)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             text=True) for b in (64, 128)]
    results = [(r.wait(timeout=300), r.stderr.read()) for r in runs]
    assert sorted(code for code, _ in results) == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "being written by another xaugcol run" in refused or "is not empty" in refused
    member = out / "dnn" / "seed_0"
    config = yaml.safe_load((member / "config.yaml").read_text())
    metrics = json.loads((member / "metrics.json").read_text())
    assert config["training"]["batch_size"] == json.loads((out / "dnn" / "metrics.json").read_text())[
        "training"]["batch_size"]
    assert metrics["seed"] == 0 and "onnx_max_abs_diff" in metrics


def test_a_killed_run_leaves_no_lock_behind(toy, tmp_path):
    out = tmp_path / "out"
    holder = _hold_lock(out)
    holder.kill()
    holder.wait()
    with output_lock(out):  # SIGKILL released it
        pass
    assert main(["process", str(toy / "fileset.json"), "--out", str(out), "--chunksize", "300"]) == 0


# ---------------------------------------------------------------- condor merge takes only what it expects

def _submission(tmp_path: Path, toy: Path) -> Path:
    """A submission whose two jobs ran (each group processed as job.sh does, output packed as it packs it)."""
    from xaugcol.condor.jobs import JOBS, PROVENANCE, file_groups

    sub = tmp_path / "submission"
    (sub / "outputs").mkdir(parents=True)
    groups = file_groups(load_fileset(toy / "fileset.json"), 1)
    jobs = {"commit": "c0ffee", "config": {},
            "groups": {g: {"dataset": next(iter(f)), "files": list(next(iter(f.values()))["files"])}
                       for g, f in groups.items()}}
    (sub / JOBS).write_text(json.dumps(jobs))
    for group, fileset in groups.items():
        job = tmp_path / "jobs" / f"out_{group}"
        run_processing(fileset, job, chunksize=100)
        (job / PROVENANCE).write_text(json.dumps({"commit": "c0ffee"}))
        with tarfile.open(sub / "outputs" / f"out_{group}.tar.gz", "w:gz") as tar:
            tar.add(job, arcname=job.name)
    return sub


def _repack(sub: Path, tmp_path: Path, group: str, change) -> None:
    """Unpack one job's output, apply ``change(folder)``, pack it again."""
    scratch = tmp_path / "repack"
    with tarfile.open(sub / "outputs" / f"out_{group}.tar.gz") as tar:
        tar.extractall(scratch, filter="data")
    change(scratch / f"out_{group}")
    with tarfile.open(sub / "outputs" / f"out_{group}.tar.gz", "w:gz") as tar:
        tar.add(scratch / f"out_{group}", arcname=f"out_{group}")


def test_condor_merge_takes_only_the_expected_tables(toy, tmp_path):
    from xaugcol.condor.jobs import merge_outputs

    sub = _submission(tmp_path, toy)
    report = merge_outputs(sub, tmp_path / "merged")
    assert sum(c["jets_kept"] for c in report["counts"].values()) == len(read_tables(tmp_path / "merged" / "jets"))

    def plant(folder):  # one more table, copied from another chunk
        table = next((folder / "jets").rglob("*.parquet"))
        table.with_name("planted.parquet").write_bytes(table.read_bytes())
    _repack(sub, tmp_path, "group_0001", plant)
    with pytest.raises(ValueError, match=r"group_0001: its jet tables differ from its report: not in the report: "
                                         r"\w+/planted.parquet"):
        merge_outputs(sub, tmp_path / "m2")
    assert not (tmp_path / "m2").exists() or not [p for p in (tmp_path / "m2").iterdir()]

    def shorten(folder):  # a table replaced by one with fewer rows under the same name
        next((folder / "jets").rglob("planted.parquet")).unlink()
        table = next((folder / "jets").rglob("*.parquet"))
        pq.write_table(pq.read_table(table).slice(0, 10), table)
    _repack(sub, tmp_path, "group_0001", shorten)
    with pytest.raises(ValueError, match="has 10 rows, its report says"):
        merge_outputs(sub, tmp_path / "m3")
    assert not (tmp_path / "m3").exists() or not [p for p in (tmp_path / "m3").iterdir()]


def test_condor_merge_failure_leaves_no_partial_output(toy, tmp_path):
    """The second job's output is damaged: the first one's tables must not be left in the output folder."""
    from xaugcol.condor.jobs import merge_outputs

    sub = _submission(tmp_path, toy)
    _repack(sub, tmp_path, "group_0001", lambda folder: (folder / "report.json").unlink())
    with pytest.raises(ValueError, match="group_0001: its output is incomplete"):
        merge_outputs(sub, tmp_path / "merged")
    left = [p for p in (tmp_path / "merged").rglob("*")] if (tmp_path / "merged").exists() else []
    assert left == []
