"""Where a user needs one line, not a traceback, and where a result was silently wrong: duplicate seeds, negative
constituent pT, non-ASCII paths and names, Ctrl-C, model folders and files that are not what they should be, a
study's named taggers, settings Pythia refuses, and messages that blamed the wrong thing."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import awkward as ak
import numpy as np
import pickle
import pytest
import torch
import uproot
import yaml

from helpers import one_line_error
from xaugcol.cli import main
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.table_io import read_tables
from xaugcol.coffea_runs import run_processing
from xaugcol.sources.nanoaod import write_events
from xaugcol.sources.toy import run_toy
from xaugcol.training.train import TrainConfig, train_ensemble

DNN = ModelConfig("dnn", xaug=True, architecture={"hidden": [8]})
QUICK = TrainConfig(epochs=1, batch_size=128)


@pytest.fixture(scope="module")
def work(trained_toy):
    return trained_toy


def _explain(work, tagger, out) -> int:
    return main(["explain", str(work / "proc"), "--taggers", str(tagger), "--out", str(out), "--rules", "epsilon",
                 "--faithfulness-steps", "0", "--sanity-jets", "0"])


# ---------------------------------------------------------------- silently wrong results

def test_duplicate_seeds_are_refused(work, tmp_path, capsys):
    """seeds: [0, 0] trained one member twice and reported a spread of 0."""
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"data": str(work / "proc"), "out": str(tmp_path / "t"), "seeds": [0, 0],
                                     "taggers": [{"model": "dnn", "xaug": True}]}))
    assert main(["train", "--config", str(study)]) == 2
    assert "distinct seeds" in one_line_error(capsys) and not (tmp_path / "t").exists()
    with pytest.raises(ValueError, match="distinct seeds"):
        train_ensemble(str(work / "proc"), DNN, QUICK, [3, 3], str(tmp_path / "api"))
    assert not (tmp_path / "api").exists()


def test_negative_constituent_pt_is_bad_input(work, tmp_path):
    """A constituent with negative pT was used as is (a 60 GeV jet came out at 294 GeV): its jet is skipped and
    counted under unphysical_input, like NaN; the other jets are exactly those of the clean file."""
    events = uproot.open(work / "toy" / "toy_signal.root")["Events"].arrays()[:40]
    group = lambda prefix: ak.zip({k.removeprefix(prefix): events[k] for k in events.fields  # noqa: E731
                                   if k.startswith(prefix)})
    cands = group("PFCands_")
    pt = ak.to_numpy(ak.flatten(cands.pt)).copy()
    pt[3] = -pt[3]  # a constituent of the first jet
    branches = {"run": ak.to_numpy(events.run), "luminosityBlock": ak.to_numpy(events.luminosityBlock),
                "event": ak.to_numpy(events.event), "genWeight": ak.to_numpy(events.genWeight),
                "FatJet": group("FatJet_"), "FatJetPFCands": group("FatJetPFCands_"),
                "PFCands": ak.with_field(cands, ak.unflatten(pt, ak.num(cands.pt)), "pt")}
    write_events(tmp_path / "negative.root", [branches])
    fileset = {"negative": {"files": {str(tmp_path / "negative.root"): "Events"}, "metadata": {"label": 1}}}
    counts = run_processing(fileset, tmp_path / "out").counts["negative"]
    assert counts["skipped_unphysical_input"] == 1 and counts["jets_kept"] == counts["jets_seen"] - 1 == 39
    kept = read_tables(tmp_path / "out" / "jets")
    clean = read_tables(work / "proc" / "jets" / "toy_signal")
    clean = clean[np.isin(ak.to_numpy(clean.event), ak.to_numpy(kept.event))]
    order = np.argsort(ak.to_numpy(clean.event))
    assert np.allclose(np.sort(ak.to_numpy(kept.mass)), np.sort(ak.to_numpy(clean.mass)[order]))


# ---------------------------------------------------------------- names and paths are text

def test_non_ascii_paths_and_dataset_names_work_end_to_end(work, tmp_path):
    """A folder named with an accent and datasets named in other scripts: process (in worker processes too),
    train and explain (before: every run failed inside coffea's hashing of its work items)."""
    root = tmp_path / "café" / "Zürich"
    shutil.copytree(work / "toy", root / "données")
    fileset = json.loads((root / "données" / "fileset.json").read_text())
    fileset = {"signal é": fileset["toy_signal"], "фон": fileset["toy_background"]}
    for entry in fileset.values():
        entry["files"] = {str(root / "données" / Path(f).name): tree for f, tree in entry["files"].items()}
    (root / "données" / "fileset.json").write_text(json.dumps(fileset, ensure_ascii=False))
    assert main(["-q", "process", str(root / "données" / "fileset.json"), "--out", str(root / "proc"),
                 "--executor", "futures", "--workers", "2", "--chunksize", "150"]) == 0
    assert sorted(set(ak.to_list(read_tables(root / "proc" / "jets").dataset))) == ["signal é", "фон"]
    assert main(["-q", "train", "--data", str(root / "proc"), "--model", "dnn", "--epochs", "1",
                 "--out", str(root / "modèles")]) == 0
    assert main(["-q", "explain", str(root / "proc"), "--taggers", str(root / "modèles" / "dnn"), "--out",
                 str(root / "relevance"), "--rules", "epsilon", "--split", "all", "--faithfulness-steps", "0",
                 "--sanity-jets", "0"]) == 0
    counts = json.loads((root / "relevance" / "relevance.json").read_text())["counts"]["dnn"]
    assert sorted(counts) == ["signal é", "фон"] and sum(c["jets_selected"] for c in counts.values()) == 600


# ---------------------------------------------------------------- Ctrl-C

def test_ctrl_c_prints_one_line_with_the_command_that_continues(tmp_path):
    """SIGINT to the whole process group (as a terminal sends it) while chunks run in worker processes: one line
    naming what was kept and the --resume command (before: 28-121 lines of tracebacks); the resume finishes."""
    run_toy(tmp_path / "toy", 2000, seed=3)
    out = tmp_path / "out"
    args = ["process", str(tmp_path / "toy" / "fileset.json"), "--out", str(out), "--chunksize", "100",
            "--executor", "futures", "--workers", "2"]
    run = subprocess.Popen([sys.executable, "-m", "xaugcol.cli", "-q", *args], start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not len(list((out / "checkpoints").rglob("*.npz"))) >= 2 and run.poll() is None:
        assert time.monotonic() < deadline, "no chunk finished in 120 s"
        time.sleep(0.05)
    assert run.poll() is None, "the run ended before it could be interrupted"
    os.killpg(run.pid, signal.SIGINT)
    err = run.stderr.read()
    assert run.wait(timeout=60) == 130
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "finished chunk(s) checkpointed in" in err and err.rstrip().endswith("--resume")
    assert main(args + ["--resume"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["chunks_from_checkpoints"] >= 2
    assert sum(c["events"] for c in report["counts"].values()) == 4000


# ---------------------------------------------------------------- model folders and files

def test_a_sub_folder_in_a_member_folder_changes_nothing(work, tmp_path, capsys):
    """A folder of notes (or a notebook's checkpoints) inside a member folder: explained as before (before: a
    traceback, and a resume was impossible); a member file that is a FIFO is one line naming it."""
    tagger = tmp_path / "dnn"
    shutil.copytree(work / "dnn", tagger)
    (tagger / "seed_0" / ".ipynb_checkpoints").mkdir()
    (tagger / "seed_0" / "notes").mkdir()
    assert _explain(work, tagger, tmp_path / "rel") == 0
    (tagger / "seed_0" / "scaler.json").unlink()
    os.mkfifo(tagger / "seed_0" / "scaler.json")
    assert _explain(work, tagger, tmp_path / "rel2") == 1
    assert "scaler.json" in one_line_error(capsys)


def test_a_model_file_that_is_not_a_model_says_what_it_is(work, tmp_path, capsys):
    """model.pt as text, as a plain pickle, as an ONNX model, as numpy's npz, as a torch archive with pickled
    code: one line that says what the file is, never torch's advice to load it unsafely."""
    tagger = tmp_path / "dnn"
    shutil.copytree(work / "dnn", tagger)
    weights = tagger / "seed_0" / "model.pt"
    state = torch.load(weights, weights_only=True)

    def write_npz(path):
        with open(path, "wb") as f:
            np.savez(f, w=np.zeros(3))

    cases = {"text": (lambda p: p.write_text("hello"), "a text file"),
             "pickle": (lambda p: p.write_bytes(pickle.dumps({"w": np.zeros(3)})), "a plain pickle"),
             "onnx": (lambda p: shutil.copy(tagger / "seed_0" / "model.onnx", p), "ONNX"),
             "npz": (write_npz, "numpy's .npz"),
             "code": (lambda p: torch.save({**state, "x": np.zeros(2)}, p), "objects other than tensors")}
    for name, (write, message) in cases.items():
        write(weights)
        assert _explain(work, tagger, tmp_path / f"rel_{name}") == 1, name
        err = one_line_error(capsys)
        assert message in err and "weights_only" not in err and "arbitrary code" not in err, (name, err)


def test_a_tagger_reading_a_column_the_tables_lack_is_named(work, tmp_path, capsys):
    """The tagger reads an XAUG column the jet tables do not have: before, the message blamed a chunk of the jet
    table, every chunk was retried four times and the error class itself failed to build."""
    tagger = tmp_path / "dnn"
    shutil.copytree(work / "dnn", tagger)
    member = tagger / "seed_0"
    config = yaml.safe_load((member / "config.yaml").read_text())
    config["model"]["xaug_columns"] = ["rho" if c == "msd" else c for c in config["model"]["xaug_columns"]]
    (member / "config.yaml").write_text(yaml.safe_dump(config))
    scaler = json.loads((member / "scaler.json").read_text())
    scaler["scalers"]["xaug"]["columns"] = config["model"]["xaug_columns"]
    (member / "scaler.json").write_text(json.dumps(scaler))
    assert _explain(work, tagger, tmp_path / "rel") == 2
    err = one_line_error(capsys)
    assert "tagger dnn reads column(s) 'rho'" in err and "entries" not in err


# ---------------------------------------------------------------- studies and generators

def test_a_study_explains_named_taggers_under_their_names(work, tmp_path):
    """{folder: .../dnn, name: given}: before, the explain stage named it after its folder and the report stage,
    after every other stage had run, failed looking for 'given'."""
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"source": {"kind": "fileset", "fileset": str(work / "toy" / "fileset.json")},
                                     "explain": {"rules": ["epsilon"], "faithfulness_steps": 0, "sanity_jets": 0,
                                                 "occlusion_fraction": 0, "activations": False, "examples": 0},
                                     "taggers": [{"folder": str(work / "dnn"), "name": "given"}]}))
    assert main(["-q", "study", "--config", str(study), "--out", str(tmp_path / "out")]) == 0
    relevance = json.loads((tmp_path / "out" / "relevance" / "relevance.json").read_text())
    assert list(relevance["relevance"]) == ["given"]
    assert "given" in (tmp_path / "out" / "index.html").read_text()


@pytest.mark.slow
def test_settings_pythia_refuses_are_one_line_before_anything_is_written(tmp_path, capsys):
    """A setting Pythia does not know, and settings it cannot initialise (by generate pythia, and by a study): one
    line naming the process (exit 2), no output folder (before: a traceback after the output folder was made)."""
    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump({"typo": {"label": 1, "settings": ["HardQCD:al = on"]},
                                    "nothing": {"label": 0, "settings": ["HardQCD:all = off"]}}))
    out = tmp_path / "gen"
    assert main(["generate", "pythia", "--process", "typo", "--process-card", str(card), "--events", "5",
                 "--out", str(out)]) == 2
    assert "Pythia rejects the setting 'HardQCD:al = on'" in one_line_error(capsys) and not out.exists()
    card.write_text(yaml.safe_dump({"nothing": {"label": 0, "settings": ["HardQCD:all = off"]}}))
    assert main(["generate", "pythia", "--process", "nothing", "--process-card", str(card), "--events", "5",
                 "--out", str(out)]) == 2
    assert "no process switched on" in one_line_error(capsys) and not out.exists()
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"source": {"kind": "pythia", "processes": ["nothing"], "events": 5,
                                                "process_card": str(card)},
                                     "taggers": [{"model": "dnn", "xaug": True}]}))
    assert main(["study", "--config", str(study), "--out", str(tmp_path / "study")]) == 2
    assert "no process switched on" in one_line_error(capsys) and not (tmp_path / "study").exists()
