"""Holes an exploratory round found after the first fixes: files planted where a command writes (a link or a hard
link as the lock file, a link under the name of a temporary, a link as the report's figures folder, user files
named like temporaries), runs that meet (a resume that is no resume, a processing rewritten while a training
reads it, a tagger replaced while it is explained, stage outputs edited between a study and its resume), and
inputs that say one thing twice (a table listed under two spellings, two members of one seed, options beside
--config)."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from helpers import held, one_line_error
from xaugcol.atomic import atomic_path, write_json
from xaugcol.cli import main
from xaugcol.explain.ensemble import Ensemble
from xaugcol.models.folder import ModelFileError
from xaugcol.output_folder import LOCK_NAME
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.training.train import TrainConfig
from xaugcol.workflow.config import Workflow
from xaugcol.workflow.run_workflow import run_workflow


def _explain(work, tagger, out, *more) -> int:
    return main(["explain", str(work / "proc"), "--taggers", str(tagger), "--out", str(out), "--rules", "epsilon",
                 "--faithfulness-steps", "0", "--sanity-jets", "0", *more])


# ---------------------------------------------------------------- planted files

def test_the_lock_file_is_never_written_through_a_link(tmp_path, capsys):
    """OUT/.xaugcol.lock a symbolic link, a hard link to someone's file, or a FIFO: refused with one line, and the
    file it points to keeps its content (before: truncated and overwritten with the lock's note)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name, plant in {"symlink": lambda p: p.symlink_to(victim), "hardlink": lambda p: os.link(victim, p),
                        "fifo": os.mkfifo}.items():
        out = tmp_path / name
        out.mkdir()
        plant(out / LOCK_NAME)
        assert main(["generate", "toy", "--jets", "10", "--out", str(out)]) == 2, name  # not empty, or refused
        one_line_error(capsys)
        assert main(["generate", "toy", "--jets", "10", "--out", str(out), "--overwrite"]) == 2, name
        assert "of its own" in one_line_error(capsys), name
        assert victim.read_text() == "precious" and sorted(p.name for p in out.iterdir()) == [LOCK_NAME], name


def test_a_link_planted_under_a_temporary_name_is_not_written_through(tmp_path):
    """Temporaries had predictable names (.<name>.tmp-<pid>): a link planted there had its target overwritten and
    became the output. They are made with O_EXCL now."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / f".report.json.tmp-{os.getpid()}").symlink_to(victim)
    write_json(tmp_path / "report.json", {"tables": {}})
    assert victim.read_text() == "precious"
    assert not (tmp_path / "report.json").is_symlink() and json.loads((tmp_path / "report.json").read_text())
    with atomic_path(tmp_path / "other.txt") as tmp:
        assert tmp.is_file() and not tmp.is_symlink() and tmp.name.startswith(f".other.txt.tmp-{os.getpid()}-")
        tmp.write_text("mine")


def test_a_resume_removes_only_its_own_temporaries(trained_toy, tmp_path, monkeypatch):
    """--resume removed every '.*.tmp-*' anywhere under --out, a user's notes included."""
    from xaugcol.processors.xaug_processor import XAUGProcessor

    class Interrupt(BaseException):
        pass
    out = tmp_path / "out"
    original, calls = XAUGProcessor.process, []

    def process(self, events):
        calls.append(1)
        if len(calls) > 1:
            raise Interrupt()
        return original(self, events)
    with monkeypatch.context() as m:
        m.setattr(XAUGProcessor, "process", process)
        with pytest.raises(Interrupt):
            run_processing(load_fileset(trained_toy / "toy" / "fileset.json"), out, chunksize=100)
    (out / "notes" / "deep").mkdir(parents=True)
    mine = [out / "notes" / "deep" / ".draft.tmp-old", out / ".myconfig.tmp-save", out / "notes" / ".x.tmp-1"]
    for path in mine:
        path.write_text("mine")
    dataset = next(p for p in (out / "jets").iterdir() if p.is_dir())
    ours = dataset / ".chunk.parquet.tmp-123-abcd1234"  # as an interrupted write leaves it
    ours.write_bytes(b"half")
    run_processing(load_fileset(trained_toy / "toy" / "fileset.json"), out, chunksize=100, resume=True)
    assert all(path.read_text() == "mine" for path in mine) and not ours.exists()


def test_resume_is_not_overwrite(trained_toy, tmp_path, capsys):
    """--resume on a folder holding no interrupted run but other files replaced them (before: exit 0)."""
    work = trained_toy
    out = tmp_path / "proc"
    out.mkdir()
    (out / "report.json").write_text('{"my": "analysis"}')
    assert main(["process", str(work / "toy" / "fileset.json"), "--out", str(out), "--resume"]) == 2
    assert "no interrupted run to resume" in one_line_error(capsys)
    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / "relevance.json").write_text('{"my": "relevance"}')
    assert _explain(work, work / "dnn", rel, "--resume") == 2
    assert "no interrupted run to resume" in one_line_error(capsys)
    study = tmp_path / "study"
    study.mkdir()
    (study / "index.html").write_text("<html>mine")
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump({"source": {"kind": "toy", "events": 50},
                                      "taggers": [{"model": "dnn", "xaug": True}]}))
    assert main(["study", "--config", str(config), "--out", str(study), "--resume"]) == 2
    assert "no study to resume" in one_line_error(capsys)
    assert (out / "report.json").read_text() == '{"my": "analysis"}'
    assert (rel / "relevance.json").read_text() == '{"my": "relevance"}'
    assert (study / "index.html").read_text() == "<html>mine" and not (study / "study.yaml").exists()


def test_report_never_draws_through_a_linked_figures_folder(trained_toy, tmp_path, capsys):
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "out"
    elsewhere.mkdir()
    (elsewhere / "roc.png").write_text("my plot")
    out.mkdir()
    (out / "figures").symlink_to(elsewhere)
    assert main(["report", str(trained_toy / "dnn"), "--out", str(out), "--overwrite"]) == 2
    assert "symbolic link" in one_line_error(capsys)
    assert [p.name for p in elsewhere.iterdir()] == ["roc.png"] and (elsewhere / "roc.png").read_text() == "my plot"


# ---------------------------------------------------------------- inputs that say one thing twice

def test_a_table_listed_twice_is_refused(trained_toy, tmp_path, capsys):
    """report.json listing one table as d/f and d/./f: read twice by training and explaining (before: 4x)."""
    proc = tmp_path / "proc"
    shutil.copytree(trained_toy / "proc", proc)
    report = json.loads((proc / "report.json").read_text())
    name = sorted(report["tables"])[0]
    folder, file = name.split("/")
    report["tables"][f"{folder}/./{file}"] = report["tables"][name]
    (proc / "report.json").write_text(json.dumps(report))
    assert main(["train", "--data", str(proc), "--model", "dnn", "--epochs", "1", "--out", str(tmp_path / "t")]) == 1
    assert "is not <dataset>/<chunk>.parquet" in one_line_error(capsys)
    del report["tables"][f"{folder}/./{file}"]
    os.link(proc / "jets" / name, proc / "jets" / folder / "twin.parquet")
    report["tables"][f"{folder}/twin.parquet"] = report["tables"][name]
    (proc / "report.json").write_text(json.dumps(report))
    assert main(["train", "--data", str(proc), "--model", "dnn", "--epochs", "1", "--out", str(tmp_path / "t")]) == 1
    assert "lists one table twice" in one_line_error(capsys) and not (tmp_path / "t").exists()


def test_members_of_one_seed_are_refused(trained_toy, tmp_path):
    """Two members trained with seed 0 were merged into one, with a spread of 0."""
    ensemble = tmp_path / "ens"
    shutil.copytree(trained_toy / "dnn" / "seed_0", ensemble / "seed_0")
    shutil.copytree(trained_toy / "dnn" / "seed_0", ensemble / "seed_1")  # its config.yaml says seed 0
    write_json(ensemble / "metrics.json", {"members": ["seed_0", "seed_1"]})
    with pytest.raises(ModelFileError, match="same seed"):
        Ensemble.load(ensemble)


def test_train_options_beside_config_are_refused(trained_toy, tmp_path, capsys):
    """--out, --data, --epochs beside --config were dropped without a word."""
    study = tmp_path / "t.yaml"
    study.write_text(yaml.safe_dump({"data": str(trained_toy / "proc"), "out": str(tmp_path / "yaml_out"),
                                     "training": {"epochs": 1}, "taggers": [{"model": "dnn", "xaug": True}]}))
    for extra in (["--epochs", "7"], ["--out", str(tmp_path / "cli_out")], ["--msd-window"]):
        assert main(["train", "--config", str(study), *extra]) == 2, extra
        assert "cannot be given beside it" in one_line_error(capsys), extra
    assert not (tmp_path / "yaml_out").exists() and not (tmp_path / "cli_out").exists()
    from xaugcol.cli import TRAIN_DEFAULTS

    defaults = TrainConfig()
    assert all(getattr(defaults, k) == v for k, v in TRAIN_DEFAULTS.items() if k != "seeds")


def test_a_diverging_training_is_one_line(trained_toy, tmp_path, capsys):
    assert main(["train", "--data", str(trained_toy / "proc"), "--model", "dnn", "--epochs", "1",
                 "--learning-rate", "1e30", "--out", str(tmp_path / "t")]) == 2
    assert "the training diverged" in one_line_error(capsys)


# ---------------------------------------------------------------- runs that meet

def test_a_processing_being_read_is_not_rewritten(trained_toy, tmp_path, capsys):
    """process --overwrite into a folder a training reads was accepted: the training went on with the new tables
    (two processings mixed). Readers hold a shared lock: readers together, no writer meanwhile."""
    proc = tmp_path / "proc"
    shutil.copytree(trained_toy / "proc", proc)
    before = {p: p.read_bytes() for p in proc.rglob("*.parquet")}
    with held("read_lock", proc):
        assert main(["process", str(trained_toy / "toy" / "fileset.json"), "--out", str(proc), "--overwrite"]) == 2
        assert "being read by another xaugcol run" in one_line_error(capsys)
        assert {p: p.read_bytes() for p in proc.rglob("*.parquet")} == before
        assert main(["train", "--data", str(proc), "--model", "dnn", "--epochs", "1",
                     "--out", str(tmp_path / "t")]) == 0  # another reader: welcome


def test_a_tagger_replaced_while_it_is_explained_is_refused(trained_toy, tmp_path, monkeypatch, capsys):
    """A member's files replaced during an explanation (rsync writes each file under a temporary name and renames
    it): workers that load the members saw the new files, and the relevance mixed two models, exit 0."""
    from xaugcol.processors.relevance_processor import RelevanceProcessor

    tagger = tmp_path / "dnn"
    shutil.copytree(trained_toy / "dnn", tagger)
    pinned = Ensemble.load(tagger).pinned()
    scaler = tagger / "seed_0" / "scaler.json"
    scaler.write_text(json.dumps({**json.loads(scaler.read_text()), "note": "replaced"}))
    with pytest.raises(ModelFileError, match="scaler.json changed while the run explained it"):
        pinned.load_members()

    shutil.rmtree(tagger)
    shutil.copytree(trained_toy / "dnn", tagger)
    original, calls = RelevanceProcessor.process, []

    def process(self, events):  # each chunk reloads the members, as a fresh worker does
        calls.append(1)
        if len(calls) == 2:
            weights = tagger / "seed_0" / "model.pt"
            state = torch.load(weights, weights_only=True)
            torch.save({k: v * 2 for k, v in state.items()}, weights)
        self._members = None
        return original(self, events)
    monkeypatch.setattr(RelevanceProcessor, "process", process)
    assert _explain(trained_toy, tagger, tmp_path / "rel", "--chunksize", "100") == 1
    assert "model.pt changed while the run explained it" in one_line_error(capsys)


def _study(folder: Path) -> Workflow:
    return Workflow.from_dict({"source": {"kind": "fileset", "fileset": str(folder / "toy" / "fileset.json")},
                               "training": {"epochs": 1, "batch_size": 128},
                               "explain": {"rules": ["epsilon"], "faithfulness_steps": 0, "sanity_jets": 0,
                                           "occlusion_fraction": 0, "activations": False, "examples": 0},
                               "taggers": [{"model": "dnn", "xaug": True, "architecture": {"hidden": [8]}}]})


def test_a_resume_reuses_no_output_edited_since(trained_toy, tmp_path, capsys):
    """A member's weights replaced by hand after a study: --resume reused every stage and kept the relevance of
    the old model beside the new one; `xaugcol report` of that relevance showed the new model's metrics."""
    wf, out = _study(trained_toy), tmp_path / "study"
    run_workflow(wf, out, progress=False)
    again = run_workflow(wf, out, resume=True, progress=False)
    assert again["ran"] == {}  # nothing changed: everything reused
    member = out / "taggers" / "dnn" / "seed_0"
    state = torch.load(member / "model.pt", weights_only=True)
    torch.save({k: v * 2 for k, v in state.items()}, member / "model.pt")
    # a tagger's changed files: exit 1 (xaugcol.errors.ModelFilesError; a usage error, 2, before the error model)
    assert main(["report", str(out / "relevance"), "--out", str(tmp_path / "report")]) == 1
    assert "changed since" in one_line_error(capsys)
    resumed = run_workflow(wf, out, resume=True, progress=False)
    assert "its outputs changed since it completed (seed_0/model.pt)" in resumed["ran"]["train/dnn"]
    assert "explain" in resumed["ran"] and "figures" in resumed["ran"]
