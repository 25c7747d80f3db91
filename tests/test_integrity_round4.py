"""Integrity, fourth round: what the second exploratory round of hostile and careless use found.

* ``xaugcol report`` with a relative --out (or one whose parent is a symbolic link) drew every figure and then
  failed, leaving the figures without their page under the final name: the figures are now placed relative to the
  resolved folder, and the page is written.
* ``condor prepare`` refused two inputs of one job with the same file name only after it had made the submission's
  folders and wheel, and its "not empty" message advised an --overwrite it does not have: the sandbox names are
  checked first, a failed submission is removed whole, and the message names the remedy.
* A jet table rewritten after processing with the other class's label (same rows and columns) was trained on
  silently: the processing report records each dataset's label, and training and explaining check every table's.
* A collection branch with its own counter (``PFCands_eta`` counted by ``nPFCands_eta``, one value longer in one
  event) shifted values onto the wrong particles in every later event: screening refuses it.
* An ensemble's size had no limit (``--seeds 100000000`` grew to gigabytes; a study's ``seeds: 10**11`` was a
  MemoryError traceback): ``MAX_SEEDS``.
* ``xaugcol report`` given two tagger folders of one name kept one of them silently; a relevance output recorded its
  members' folders relative to where explain ran, so a report from elsewhere blamed an unchanged tagger.
* ``train --overwrite`` removed the earlier ensemble when it started: a training that diverged or was killed left
  neither. ``study --overwrite`` / ``--resume`` rewrote OUT/processed or a tagger while another run read it.
* ``condor pack`` into the venv it packs packed itself (and replaced a venv file with --overwrite); a malformed
  relevance.json made ``report`` raise KeyError / TypeError tracebacks; every output had mode 0600 (folders 0700);
  ``report`` read its inputs without a lock (a processing could be rewritten while its figures were drawn).
* Third round: a processing did not hold its input folders (``generate --overwrite`` there mixed two seeds in one
  run's tables); a copied study folder processed the original's files (its generated fileset's absolute paths).
  The pile-up pool and process-card cases are in tests/test_lepton_detector.py.
"""

from pathlib import Path

import pytest

from helpers import held
from xaugcol.cli import main


def test_a_report_into_a_relative_or_linked_out_is_written(trained_toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(trained_toy / "proc"), "--out", "rel/rep", "--examples", "0", "--workers", "1"]) == 0
    page = tmp_path / "rel" / "rep" / "index.html"
    assert page.is_file() and "src='figures/" in page.read_text()  # the figures, relative to the page
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert main(["report", str(trained_toy / "proc"), "--out", str(tmp_path / "link" / "rep"), "--examples", "0",
                 "--workers", "1"]) == 0
    assert (tmp_path / "real" / "rep" / "index.html").is_file()


def _empty_repo(path: Path) -> Path:
    """A clean git checkout that cannot build a wheel (no setup.py): prepare gets past the checkout's check."""
    import subprocess

    path.mkdir()
    (path / "README").write_text("x\n")
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *command], cwd=path, check=True)
    return path


def test_condor_prepare_leaves_nothing_behind_when_it_fails(trained_toy, tmp_path, capsys):
    """Two inputs of one job with the same file name (they would overwrite each other in the sandbox) are refused
    before anything is written; a submission that fails later (the wheel cannot be built) is removed whole; the
    message for a non-empty folder does not advise an option the command lacks."""
    import json

    from xaugcol.output_folder import is_empty

    repo = _empty_repo(tmp_path / "repo")
    toy = json.loads((trained_toy / "toy" / "fileset.json").read_text())
    for folder, dataset in (("a", "toy_signal"), ("b", "toy_background")):  # two files, one name
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.root").write_bytes(Path(next(iter(toy[dataset]["files"]))).read_bytes())
    fileset = tmp_path / "fs.json"
    fileset.write_text(json.dumps({"sig": {"files": {str(tmp_path / "a" / "x.root"): "Events",
                                                     str(tmp_path / "b" / "x.root"): "Events"},
                                           "metadata": {"label": 1}}}))
    submit = tmp_path / "submit.yaml"
    submit.write_text(f"fileset: {fileset}\nfiles_per_job: 2\ntransfer_inputs: true\n"
                      "resources: {cpus: 1, memory: 2GB, disk: 1GB}\n")
    sub = tmp_path / "sub"
    assert main(["condor", "prepare", "--config", str(submit), "--out", str(sub), "--repo", str(repo)]) == 2
    assert "same name cannot be transferred" in capsys.readouterr().err and is_empty(sub)
    submit.write_text(f"fileset: {fileset}\nfiles_per_job: 1\ntransfer_inputs: true\n"
                      "resources: {cpus: 1, memory: 2GB, disk: 1GB}\n")
    assert main(["condor", "prepare", "--config", str(submit), "--out", str(sub), "--repo", str(repo)]) != 0
    capsys.readouterr()
    assert is_empty(sub)  # the groups, logs and outputs made before the wheel failed are gone
    (sub / "mine.txt").write_text("kept\n")
    assert main(["condor", "prepare", "--config", str(submit), "--out", str(sub), "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--overwrite" not in err and (sub / "mine.txt").read_text() == "kept\n"


def test_a_table_whose_labels_changed_after_processing_is_refused(trained_toy, tmp_path, capsys):
    """One signal table rewritten with the background label (same rows, same columns) trained silently as
    background; training and explaining now compare every table's labels with its dataset's in the report."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    proc = tmp_path / "proc"
    shutil.copytree(trained_toy / "proc", proc)
    table = sorted((proc / "jets" / "toy_signal").glob("*.parquet"))[0]
    data = pq.read_table(table)
    flipped = data.set_column(data.schema.get_field_index("label"), "label",
                              pa.array([0] * data.num_rows, type=data.schema.field("label").type))
    pq.write_table(flipped, table)
    assert main(["train", "--data", str(proc), "--model", "dnn", "--epochs", "1", "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err
    assert table.name in err and "label" in err and not (tmp_path / "t").exists()
    assert main(["explain", str(proc), "--taggers", str(trained_toy / "dnn"), "--out", str(tmp_path / "e"),
                 "--rules", "epsilon", "--faithfulness-steps", "0", "--sanity-jets", "0"]) == 1
    err = capsys.readouterr().err
    assert table.name in err and "label" in err


def test_a_branch_with_its_own_counter_is_refused(trained_toy, tmp_path, capsys):
    """PFCands_eta written with its own counter and one extra value in the first event: every later jet took its
    neighbour's eta (masses of 250 GeV instead of 55). Screening refuses the file, naming the branch."""
    import json

    import awkward as ak
    import uproot

    source = next(iter(json.loads((trained_toy / "toy" / "fileset.json").read_text())["toy_signal"]["files"]))
    events = uproot.open(source)["Events"].arrays()
    collections = {}
    for name in events.fields:
        group, _, field = name.partition("_")
        if field and f"n{group}" in events.fields:
            collections.setdefault(group, {})[field] = events[name]
    eta = collections["PFCands"].pop("eta")
    shifted = ak.concatenate([ak.concatenate([eta[:1], [[0.1]]], axis=1), eta[1:]])  # one value more in event 0
    branches = {k: ak.to_numpy(events[k]) for k in events.fields
                if not k.startswith("n") and k.partition("_")[0] not in collections}
    branches.update({group: ak.zip(fields) for group, fields in collections.items()})
    branches["PFCands_eta"] = shifted
    bad = tmp_path / "bad.root"
    with uproot.recreate(bad) as f:
        f.mktree("Events", {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in branches.items()})
        f["Events"].extend(branches)
    fileset = tmp_path / "fs.json"
    fileset.write_text(json.dumps({"sig": {"files": {str(bad): "Events"}, "metadata": {"label": 1}}}))
    assert main(["process", str(fileset), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "PFCands_eta" in err and "nPFCands_eta" in err and "'nPFCands'" in err
    assert not (tmp_path / "out" / "report.json").exists()


def test_an_ensemble_size_has_a_limit(trained_toy, tmp_path, capsys):
    """--seeds 100000000 grew without bound and a study's seeds: 10**11 was a MemoryError traceback."""
    from xaugcol.limits import MAX_SEEDS
    from xaugcol.training.study import _seeds

    assert main(["train", "--data", str(trained_toy / "proc"), "--model", "dnn", "--seeds", "100000000",
                 "--out", str(tmp_path / "t")]) == 2
    assert "--seeds" in capsys.readouterr().err and not (tmp_path / "t").exists()
    for seeds in (10**11, MAX_SEEDS + 1, list(range(MAX_SEEDS + 1)), [2**40]):
        with pytest.raises(ValueError, match="at most"):
            _seeds(seeds)
    assert _seeds(MAX_SEEDS) == tuple(range(MAX_SEEDS))
    study = tmp_path / "s.yaml"
    study.write_text("source: {kind: toy, events: 100}\nseeds: 100000000000\ntaggers: [{model: dnn, xaug: true}]\n")
    assert main(["study", "--config", str(study), "--out", str(tmp_path / "o")]) == 2
    assert "seeds" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_two_taggers_of_one_name_are_refused_by_the_report(trained_toy, tmp_path, capsys):
    """``report proc a/dnn b/dnn`` showed b's metrics only, a's silently dropped."""
    import shutil

    for folder in ("a", "b"):
        shutil.copytree(trained_toy / "dnn", tmp_path / folder / "dnn")
    assert main(["report", str(trained_toy / "proc"), str(tmp_path / "a" / "dnn"), str(tmp_path / "b" / "dnn"),
                 "--out", str(tmp_path / "rep"), "--examples", "0", "--workers", "1"]) == 2
    assert "two taggers named 'dnn'" in capsys.readouterr().err


def test_a_relevance_output_is_reported_from_any_folder(trained_toy, tmp_path, monkeypatch, capsys):
    """relevance.json recorded member folders as given (relative to where explain ran): from another folder the
    report blamed the unchanged tagger ("changed since"). Members are recorded resolved."""
    import json
    import shutil

    work = tmp_path / "work"
    shutil.copytree(trained_toy / "dnn", work / "dnn")
    monkeypatch.chdir(work)
    assert main(["explain", str(trained_toy / "proc"), "--taggers", "dnn", "--out", str(work / "expl"),
                 "--rules", "epsilon", "--faithfulness-steps", "0", "--sanity-jets", "0"]) == 0
    members = json.loads((work / "expl" / "relevance.json").read_text())["taggers"]["dnn"]["members"]
    assert all(Path(m["folder"]).is_absolute() for m in members)
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(work / "expl"), "--out", str(tmp_path / "rep"), "--examples", "0",
                 "--workers", "1"]) == 0
    capsys.readouterr()


def test_a_failed_train_overwrite_keeps_the_earlier_ensemble(trained_toy, tmp_path, capsys):
    """``train --overwrite`` removed the earlier members when it started: a training that diverged (or was killed)
    left neither. The members now train into a staging folder and replace the earlier ones only when complete."""
    import shutil

    shutil.copytree(trained_toy / "dnn", tmp_path / "tg" / "dnn")
    before = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "tg").rglob("*") if p.is_file()}
    assert main(["train", "--data", str(trained_toy / "proc"), "--model", "dnn", "--epochs", "1",
                 "--learning-rate", "1e30", "--out", str(tmp_path / "tg"), "--overwrite"]) == 2
    assert "diverged" in capsys.readouterr().err
    after = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "tg").rglob("*") if p.is_file()}
    assert {k: v for k, v in after.items() if k.name != ".xaugcol.lock"} == \
        {k: v for k, v in before.items() if k.name != ".xaugcol.lock"}
    assert not [p for p in (tmp_path / "tg" / "dnn").iterdir() if p.name.startswith(".members")]
    # a training that succeeds replaces it, leaving no staging behind
    assert main(["train", "--data", str(trained_toy / "proc"), "--model", "dnn", "--epochs", "1", "--seeds", "2",
                 "--out", str(tmp_path / "tg"), "--overwrite"]) == 0
    names = sorted(p.name for p in (tmp_path / "tg" / "dnn").iterdir())
    assert names == [".xaugcol.lock", "metrics.json", "seed_0", "seed_1"]


def test_a_study_never_rewrites_a_stage_folder_another_run_reads(trained_toy, tmp_path, capsys):
    """``study --overwrite`` reprocessed OUT/processed under a training that read it (which then died with a
    traceback, or would have mixed two processings): each stage now holds its folder's lock as any command's
    output does, so a reader stops the study, and the folder stays as it was."""
    import yaml

    study = {"source": {"kind": "fileset", "fileset": str(trained_toy / "toy" / "fileset.json")},
             "processing": {"chunksize": 150}, "training": {"epochs": 1, "batch_size": 128},
             "taggers": [{"model": "dnn", "xaug": True, "architecture": {"hidden": [8]}}],
             "explain": {"rules": ["epsilon"], "examples": 0, "faithfulness_steps": 0, "sanity_jets": 0,
                         "occlusion_fraction": 0, "activations": False}}
    config, out = tmp_path / "study.yaml", tmp_path / "out"
    config.write_text(yaml.safe_dump(study))
    assert main(["study", "--config", str(config), "--out", str(out)]) == 0
    before = {p: p.read_bytes() for p in (out / "processed").rglob("*.parquet")}
    study["processing"]["chunksize"] = 100
    config.write_text(yaml.safe_dump(study))
    capsys.readouterr()
    with held("read_lock", out / "processed"):
        assert main(["study", "--config", str(config), "--out", str(out), "--overwrite"]) == 2
        assert "being read by another xaugcol run" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in (out / "processed").rglob("*.parquet")} == before
    # a resume that would retrain the tagger an explanation reads
    study["processing"]["chunksize"] = 150
    study["training"]["epochs"] = 2
    config.write_text(yaml.safe_dump(study))
    tagger = {p: p.read_bytes() for p in (out / "taggers" / "dnn").rglob("*") if p.is_file()}
    with held("read_lock", out / "taggers" / "dnn"):
        assert main(["study", "--config", str(config), "--out", str(out), "--resume"]) == 2
        assert "being read by another xaugcol run" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in (out / "taggers" / "dnn").rglob("*") if p.is_file()} == tagger


def test_condor_pack_refuses_an_out_inside_the_venv(tmp_path, capsys):
    """The tarball packed its own temporary (and every earlier tarball); with --overwrite it replaced a file of the
    venv it was asked to pack."""
    venv = tmp_path / "fv"
    (venv / "lib").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib" / "x.py").write_text("data\n")
    for out, extra in ((venv / "env.tar.gz", []), (venv / "lib" / "x.py", ["--overwrite"])):
        assert main(["condor", "pack", "--venv", str(venv), "--out", str(out), *extra]) == 2
        assert "inside the venv" in capsys.readouterr().err
    assert sorted(p.name for p in venv.rglob("*")) == ["lib", "pyvenv.cfg", "x.py"]
    assert (venv / "lib" / "x.py").read_text() == "data\n"
    assert main(["condor", "pack", "--venv", str(venv), "--out", str(tmp_path / "env.tar.gz")]) == 0


@pytest.mark.parametrize("record", ['{}', '{"config": {}, "taggers": {}}',
                                    '{"config": {"jets": 5}, "taggers": {"x": {"members": []}}}',
                                    '{"config": {"jets": "/x"}, "taggers": {"x": {"members": "seed_0"}}}'])
def test_a_malformed_relevance_record_is_one_line(tmp_path, capsys, record):
    """``xaugcol report`` on a relevance.json that explain did not write: KeyError / TypeError tracebacks."""
    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "relevance.json").write_text(record)
    assert main(["report", str(tmp_path / "rel"), "--out", str(tmp_path / "rep")]) in (1, 2)
    err = capsys.readouterr().err
    assert "relevance.json: not a relevance record" in err and "Traceback" not in err
    assert not (tmp_path / "rep").exists()


def test_outputs_get_the_permissions_of_any_new_file(trained_toy, tmp_path):
    """Written under O_EXCL temporaries (mode 0600, folders 0700), every output kept those: a report or a tagger
    on a shared disk could not be read by anyone else. They are published with 0666 / 0777 less the umask."""
    import os

    from xaugcol.atomic import atomic_folder, write_json

    mask = os.umask(0o022)
    os.umask(mask)
    write_json(tmp_path / "a.json", {"x": 1})
    with atomic_folder(tmp_path / "member") as folder:
        (folder / "f").write_text("x")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "member").stat().st_mode & 0o777 == 0o777 & ~mask
    assert main(["report", str(trained_toy / "proc"), "--out", str(tmp_path / "rep"), "--examples", "0",
                 "--workers", "1"]) == 0
    for path in (tmp_path / "rep").rglob("*"):
        if path.name != ".xaugcol.lock":
            assert path.stat().st_mode & 0o777 == (0o777 if path.is_dir() else 0o666) & ~mask, path


def test_a_report_holds_what_it_reads(trained_toy, tmp_path, capsys):
    """``xaugcol report`` took no lock on what it read: a ``process --overwrite`` could rewrite the processing
    output while the figures were drawn from it. It reads under shared locks, as training and explaining do."""
    import shutil


    proc = tmp_path / "proc"
    shutil.copytree(trained_toy / "proc", proc)
    with held("output_lock", proc):
        assert main(["report", str(proc), "--out", str(tmp_path / "rep"), "--examples", "0", "--workers", "1"]) != 0
        assert "is being written by an xaugcol run" in capsys.readouterr().err
    with held("read_lock", proc):  # readers go together
        assert main(["report", str(proc), "--out", str(tmp_path / "rep"), "--examples", "0", "--workers", "1",
                     "--overwrite"]) == 0


def test_a_copied_study_never_processes_the_originals_events(tmp_path, capsys):
    """``cp -a S S2`` then ``study --out S2 --resume`` with other processing settings reprocessed the files its
    copied fileset named by absolute path: the original study's, regenerated meanwhile with another seed. A
    study's processing now refuses a generated fileset listing files outside its own ``generated/``."""
    import shutil

    import yaml

    study = {"source": {"kind": "toy", "events": 150, "seed": 1}, "processing": {"chunksize": 150},
             "training": {"epochs": 1, "batch_size": 128},
             "taggers": [{"model": "dnn", "xaug": True, "architecture": {"hidden": [8]}}],
             "explain": {"rules": ["epsilon"], "examples": 0, "faithfulness_steps": 0, "sanity_jets": 0,
                         "occlusion_fraction": 0, "activations": False}}
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(study))
    assert main(["study", "--config", str(config), "--out", str(tmp_path / "S")]) == 0
    shutil.copytree(tmp_path / "S", tmp_path / "S2")
    study["processing"]["n_particles"] = 30
    config.write_text(yaml.safe_dump(study))
    capsys.readouterr()
    assert main(["study", "--config", str(config), "--out", str(tmp_path / "S2"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "lies outside" in err and str(tmp_path / "S" / "generated") in err
    assert main(["study", "--config", str(config), "--out", str(tmp_path / "S2"), "--overwrite"]) == 0
    report = (tmp_path / "S2" / "processed" / "report.json").read_text()
    assert str(tmp_path / "S2" / "generated") in report and str(tmp_path / "S" / "generated") not in report


def test_processing_holds_its_input_folders(trained_toy, tmp_path, capsys):
    """``generate toy --overwrite`` into the folder a processing read rewrote its files between chunks: the jet
    tables mixed two seeds, and the report recorded files that were not what was read. Processing now holds its
    input files' folders as a reader: no generator writes there meanwhile, and it waits for none."""
    import shutil


    gen = tmp_path / "gen"
    shutil.copytree(trained_toy / "toy", gen)
    fileset = gen / "fileset.json"
    fileset.write_text(fileset.read_text().replace(str(trained_toy / "toy"), str(gen)))
    with held("output_lock", gen):  # a generator writing there now
        assert main(["process", str(fileset), "--out", str(tmp_path / "out")]) == 2
        assert "is being written by" in capsys.readouterr().err
    with held("read_lock", gen):  # another reader: welcome
        assert main(["process", str(fileset), "--out", str(tmp_path / "out"), "--overwrite"]) == 0
        assert main(["generate", "toy", "--jets", "50", "--out", str(gen), "--overwrite"]) == 2
        assert "being read" in capsys.readouterr().err
