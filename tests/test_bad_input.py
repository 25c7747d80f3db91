"""Bad input, one case each: a clear message naming the culprit, or a counted skip; under --skip-bad-files no case
stops the run, and every jet is either in the tables or counted as skipped, once.

Also covered in tests/test_processing.py: a truncated ROOT file (test_truncated_file_is_named_or_skipped), NaN and
inf constituents (test_nan_constituents_are_counted_and_dropped), one-constituent jets
(test_one_constituent_jets_get_documented_values), a missing branch named (test_missing_branch_is_named), a
zero-event CMS file (test_empty_file_gives_empty_outputs) and a malformed fileset (test_fileset_validation).
"""

import json
import os
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from helpers import outcome, run_in_thread
from xaugcol.cli import main
from xaugcol.processing.coffea_runner import BadFileError, FilesetError, load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.processing.table_io import read_tables
from xaugcol.sources.nanoaod import write_events
from xaugcol.sources.toy import run_toy

N_JETS = 200  # toy jets per class, one per event


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    run_toy(out, N_JETS, seed=5)
    return out


def _fileset(path, label=0, name="bad", tree="Events"):
    return {name: {"files": {str(path): tree}, "metadata": {"label": label}}}


def _branches(a, drop=(), keep_jet=None):
    """The toy events ``a`` as write_events chunks; ``keep_jet``: per event, whether its FatJet (and its
    constituent links) is kept."""
    group = lambda prefix: ak.zip({k.removeprefix(prefix): a[k] for k in a.fields  # noqa: E731
                                   if k.startswith(prefix)})
    fatjet, links = group("FatJet_"), group("FatJetPFCands_")
    if keep_jet is not None:
        fatjet = fatjet[ak.broadcast_arrays(keep_jet, fatjet.pt)[0]]
        links = links[ak.broadcast_arrays(keep_jet, links.jetIdx)[0]]
    return {"run": ak.to_numpy(a.run), "luminosityBlock": ak.to_numpy(a.luminosityBlock),
            "event": ak.to_numpy(a.event), "genWeight": ak.to_numpy(a.genWeight), "FatJet": fatjet,
            "FatJetPFCands": links,
            "PFCands": ak.zip({k.removeprefix("PFCands_"): a[k] for k in a.fields
                               if k.startswith("PFCands_") and k.removeprefix("PFCands_") not in drop})}


def _events(toy, n=None):
    return uproot.open(toy / "toy_signal.root")["Events"].arrays()[:n]


def _accounted(counts):
    """Every jet seen is kept or skipped for a named reason, once."""
    skipped = sum(v for k, v in counts.items() if k.startswith("skipped_"))
    return counts["jets_seen"] == counts["jets_kept"] + skipped


def test_empty_file(tmp_path, toy):
    empty = tmp_path / "empty.root"
    empty.write_bytes(b"")
    with pytest.raises(BadFileError, match="empty.root"):
        run_processing(_fileset(empty), tmp_path / "strict")
    # a valid ROOT file whose tree has no events is not bad: processed, nothing kept
    zero = tmp_path / "zero.root"
    write_events(zero, [_branches(_events(toy, 0))])
    result = run_processing(_fileset(zero, name="zero"), tmp_path / "zero_out")
    assert result.counts["zero"]["events"] == 0 and result.counts["zero"]["jets_seen"] == 0
    assert result.skipped_files == [] and not list((tmp_path / "zero_out").rglob("*.parquet"))


def test_wrong_tree_name(tmp_path, toy):
    fs = _fileset(toy / "toy_signal.root", tree="Events_v2")
    with pytest.raises(BadFileError, match=r"toy_signal.root: no tree 'Events_v2' \(has: Events\)"):
        run_processing(fs, tmp_path / "strict")
    result = run_processing(fs, tmp_path / "lenient", skip_bad_files=True)
    assert [s["file"] for s in result.skipped_files] == [str(toy / "toy_signal.root")]
    assert "no tree 'Events_v2'" in result.skipped_files[0]["reason"]


def test_missing_branch_skips_the_chunks_of_that_file(tmp_path, toy):
    """The branch is found missing while processing (the file itself reads fine): each of its chunks is skipped
    and listed with the branch, the other files' jets are all there."""
    path = tmp_path / "nopuppi.root"
    write_events(path, [_branches(_events(toy, 60), drop=("puppiWeight",))])
    fs = {**_fileset(path, 1, "nopuppi"), **_fileset(toy / "toy_background.root", 0, "good")}
    result = run_processing(fs, tmp_path / "out", chunksize=25, skip_bad_files=True)
    chunks = result.skipped_chunks
    ranges = [(c["entrystart"], c["entrystop"]) for c in chunks]
    assert len(ranges) >= 2 and ranges[0][0] == 0 and ranges[-1][1] == 60
    assert all(stop == start for (_, stop), (start, _) in zip(ranges, ranges[1:]))  # contiguous, each once
    assert all(c["file"] == str(path) and "PFCands_puppiWeight" in c["reason"] for c in chunks)
    assert sum(c["events"] for c in chunks) == 60
    assert result.counts["good"]["jets_kept"] == N_JETS and result.counts["nopuppi"]["jets_seen"] == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["skipped_chunks"] == chunks


def test_event_with_no_jets(tmp_path, toy):
    a = _events(toy, 30)
    keep = np.ones(30, dtype=bool)
    keep[[3, 7, 8]] = False
    path = tmp_path / "gaps.root"
    write_events(path, [_branches(a, keep_jet=keep)])
    result = run_processing(_fileset(path, 1, "gaps"), tmp_path / "out", chunksize=10)
    c = result.counts["gaps"]
    assert c["events"] == 30 and c["jets_seen"] == c["jets_kept"] == 27 and _accounted(c)
    t = read_tables(tmp_path / "out" / "jets")
    assert sorted(ak.to_numpy(t.event)) == sorted(ak.to_numpy(a.event)[keep])
    assert result.histograms["msd"].sum(flow=True).value == 27


def test_unreadable_fileset_json(tmp_path, capsys):
    bad = tmp_path / "fileset.json"
    bad.write_bytes(b'{"zz": {"files": ["a.root"], "metadata": {"label": 1}')  # cut short
    with pytest.raises(FilesetError, match="fileset.json: cannot read it as JSON"):
        load_fileset(bad)
    assert main(["process", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "fileset.json" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_every_bad_case_together_under_skip_bad_files(tmp_path, toy, capsys):
    """One run over good and bad files: it finishes, lists every bad file and chunk with the reason, and the good
    files give exactly the jets of a clean run over them alone."""
    a = _events(toy, 40)
    files = {}
    (tmp_path / "empty.root").write_bytes(b"")
    files["empty"] = tmp_path / "empty.root"
    data = (toy / "toy_signal.root").read_bytes()
    (tmp_path / "truncated.root").write_bytes(data[: len(data) // 2])
    files["truncated"] = tmp_path / "truncated.root"
    files["nopuppi"] = tmp_path / "nopuppi.root"
    write_events(files["nopuppi"], [_branches(a, drop=("puppiWeight",))])

    def poison(values):
        pt = ak.to_numpy(ak.flatten(values)).copy()
        pt[[5, 45]] = [np.nan, np.inf]  # in jets 0 and 2 (20 particles each)
        return ak.unflatten(pt, ak.num(values))
    nan = _branches(a)
    nan["PFCands"] = ak.with_field(nan["PFCands"], poison(nan["PFCands"].pt), "pt")
    files["nan"] = tmp_path / "nan.root"
    write_events(files["nan"], [nan])
    keep = np.arange(40) % 10 != 0
    files["gaps"] = tmp_path / "gaps.root"
    write_events(files["gaps"], [_branches(a, keep_jet=keep)])

    fs = {name: {"files": {str(p): "Events"}, "metadata": {"label": 1}} for name, p in files.items()}
    fs["wrongtree"] = {"files": {str(toy / "toy_signal.root"): "Tree"}, "metadata": {"label": 1}}
    fs["good"] = {"files": {str(toy / "toy_background.root"): "Events"}, "metadata": {"label": 0}}
    (tmp_path / "fileset.json").write_text(json.dumps(fs))
    out = tmp_path / "out"
    assert main(["process", str(tmp_path / "fileset.json"), "--out", str(out), "--chunksize", "15",
                 "--skip-bad-files"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert sorted(s["dataset"] for s in report["skipped_files"]) == ["empty", "truncated", "wrongtree"]
    for s in report["skipped_files"]:
        assert s["reason"] in printed and (s["file"] in s["reason"])
    assert {c["dataset"] for c in report["skipped_chunks"]} == {"nopuppi"}
    assert sum(c["events"] for c in report["skipped_chunks"]) == 40
    counts = report["counts"]
    assert counts["nan"]["skipped_nonfinite_input"] == 2 and counts["nan"]["jets_kept"] == 38
    assert counts["gaps"]["jets_seen"] == counts["gaps"]["jets_kept"] == 36
    assert all(_accounted(c) for c in counts.values())
    tables = read_tables(out / "jets")
    assert len(tables) == sum(c["jets_kept"] for c in counts.values()) == 38 + 36 + N_JETS
    # the good file's jets equal a clean run over it alone
    clean = run_processing({"good": fs["good"]}, tmp_path / "clean", chunksize=15)
    mine = read_tables(out / "jets" / "good")
    theirs = read_tables(tmp_path / "clean" / "jets" / "good")
    for field in ("event", "msd", "tau21", "image"):
        assert np.array_equal(ak.to_numpy(mine[field]), ak.to_numpy(theirs[field])), field
    assert clean.counts["good"] == counts["good"]


def _finishes_within(seconds, function, *args, **kwargs):
    """Run ``function``; fail (instead of hanging the suite) if it is still running after ``seconds``. Returns
    what it returned or raises what it raised."""
    finished, result = run_in_thread(seconds, function, *args, **kwargs)
    assert finished, f"{function.__name__} still running after {seconds} s: it hangs"
    return outcome(result)


def test_fifo_and_other_non_regular_inputs_are_refused(tmp_path, toy, capsys):
    """A FIFO as an input file or as the fileset itself would block forever on open: refused at once."""
    fifo = tmp_path / "pipe.root"
    os.mkfifo(fifo)
    with pytest.raises(BadFileError, match=r"pipe.root: input file is a FIFO"):
        _finishes_within(60, run_processing, _fileset(fifo), tmp_path / "strict")
    fs = {**_fileset(fifo, 1, "pipe"), **_fileset(toy / "toy_background.root", 0, "good")}
    result = _finishes_within(60, run_processing, fs, tmp_path / "lenient", skip_bad_files=True)
    assert [s["file"] for s in result.skipped_files] == [str(fifo)] and result.counts["good"]["jets_kept"] == N_JETS
    with pytest.raises(BadFileError, match="is a folder"):
        run_processing(_fileset(tmp_path), tmp_path / "dir_as_file")
    fileset_fifo = tmp_path / "fileset.json"
    os.mkfifo(fileset_fifo)
    assert _finishes_within(60, main, ["process", str(fileset_fifo), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "fileset.json" in err and "FIFO" in err and err.count("\n") == 1


@pytest.mark.parametrize("metadata", [[1, 2], "label: 1", 1])
def test_metadata_must_be_a_mapping(tmp_path, toy, metadata, capsys):
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps({"d": {"files": [str(toy / "toy_signal.root")], "metadata": metadata}}))
    with pytest.raises(FilesetError, match="dataset 'd': 'metadata' must be a mapping"):
        load_fileset(path)
    assert main(["process", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "'metadata' must be a mapping" in err and err.count("\n") == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("executor", ["iterative", "futures"])
def test_events_without_their_identity(tmp_path, toy, executor, capsys):
    """An Events tree without run / luminosityBlock / event (before: a traceback from coffea's schema): one line
    naming the branches (exit 1), or with --skip-bad-files the file listed; either way nothing blocks a rerun."""
    chunk = _branches(_events(toy, 30))
    for name in ("run", "luminosityBlock", "event"):
        del chunk[name]
    path = tmp_path / "anonymous.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in chunk.items()})
        f["Events"].extend(chunk)
    fs = tmp_path / "fileset.json"
    fs.write_text(json.dumps({**_fileset(path, 1, "anonymous"), **_fileset(toy / "toy_background.root", 0, "good")}))
    out = tmp_path / "out"
    args = ["process", str(fs), "--out", str(out), "--chunksize", "20", "--executor", executor, "--workers", "2"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "anonymous.root: tree 'Events' has no run, luminosityBlock, event" in err and err.count("\n") == 1, err
    assert main([*args, "--skip-bad-files"]) == 0  # a plain rerun: the failed run left nothing in its way
    report = json.loads((out / "report.json").read_text())
    assert [s["file"] for s in report["skipped_files"]] == [str(path)]
    assert "has no run, luminosityBlock, event" in report["skipped_files"][0]["reason"]
    assert report["counts"]["good"]["jets_kept"] == N_JETS


def test_one_file_listed_twice_is_refused(tmp_path, toy, capsys):
    """The same ROOT file under two paths (relative, a symbolic link) or as a byte-for-byte copy would be counted
    twice: refused, naming both."""
    link = tmp_path / "link.root"
    link.symlink_to(toy / "toy_signal.root")
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps({"a": {"files": [str(toy / "toy_signal.root")], "metadata": {"label": 1}},
                                 "b": {"files": ["link.root"], "metadata": {"label": 1}}}))
    with pytest.raises(FilesetError, match=r"toy_signal.root \(dataset 'a'\) and .*link.root \(dataset 'b'\) are "
                                           r"the same file"):
        load_fileset(twice)
    assert main(["process", str(twice), "--out", str(tmp_path / "o")]) == 2
    assert "are the same file" in capsys.readouterr().err
    copy = tmp_path / "copy.root"
    copy.write_bytes((toy / "toy_signal.root").read_bytes())
    fs = {**_fileset(toy / "toy_signal.root", 1, "a"), **_fileset(copy, 1, "b")}
    with pytest.raises(FilesetError, match="same ROOT file \\(same UUID\\)"):
        run_processing(fs, tmp_path / "o2")
    assert not (tmp_path / "o2" / "checkpoints").exists()


def test_absurd_scalers_are_refused(tmp_path, toy, capsys):
    """A member's scaler.json with values that would overflow (1e308, an integer past any float), fewer columns
    than the tagger takes, other ones, another scaling than the tagger's config.yaml records, no scaler for a
    scaled input or one for an input the tagger does not scale: one line naming the file (exit 1), nothing left
    that blocks a rerun."""
    from xaugcol.models.folder import ModelFileError, load_model
    from xaugcol.models.registry import ModelConfig
    from xaugcol.training.train import TrainConfig, train_ensemble

    run_processing(load_fileset(toy / "fileset.json"), tmp_path / "proc")
    train_ensemble(str(tmp_path / "proc" / "jets"), ModelConfig("dnn", xaug=True, architecture={"hidden": [8]}),
                   TrainConfig(epochs=1), [0], str(tmp_path / "dnn"))
    scaler = tmp_path / "dnn" / "seed_0" / "scaler.json"
    good = json.loads(scaler.read_text())
    xaug = good["scalers"]["xaug"]
    n = len(xaug["columns"])

    def changed(**fields):
        return json.dumps({**good, "scalers": {"xaug": {**xaug, **fields}}})

    cases = {
        "huge": (changed(high=[1e308] * n), "'high' must be"),
        "int": (changed(std=["BIG", *xaug["std"][1:]]).replace('"BIG"', "9" * 400), "'std' must be"),
        "fewer": (json.dumps({**good, "scalers": {"xaug": {k: v[:-1] if isinstance(v, list) else v
                                                           for k, v in xaug.items()}}}), "does not fit the tagger"),
        "other": (changed(columns=["rho", *xaug["columns"][1:]]), "does not fit the tagger"),
        "scaling": (changed(kind="xaug_minmax_3std"), "does not fit the tagger, .* with standard scaling"),
        "missing": (json.dumps({**good, "scalers": {}}), "no scaler for the tagger's xaug inputs"),
        "extra": (json.dumps({**good, "scalers": {**good["scalers"], "particles": {
            "kind": "objects_standard", "features": ["a"], "mean": [0.0], "std": [1.0]}}}), "which the tagger"),
    }
    for name, (text, message) in cases.items():
        scaler.write_text(text)
        with pytest.raises(ModelFileError, match=message):
            load_model(scaler.parent)
        out = tmp_path / f"rel_{name}"
        assert main(["explain", str(tmp_path / "proc"), "--taggers", str(tmp_path / "dnn"), "--out", str(out),
                     "--rules", "epsilon"]) == 1, name
        err = capsys.readouterr().err
        assert "scaler.json" in err and err.count("\n") == 1 and "Traceback" not in err, (name, err)
    scaler.write_text(json.dumps(good))
    assert main(["explain", str(tmp_path / "proc"), "--taggers", str(tmp_path / "dnn"), "--out",
                 str(tmp_path / "rel_other"), "--rules", "epsilon"]) == 0  # a plain rerun into the same folder


@pytest.mark.parametrize("where", ["under_a_file", "proc", "read_only"])
def test_impossible_output_folders(tmp_path, toy, where, capsys):
    """--out under a regular file, in /proc, or in a folder no one may write (even root): one line naming it."""
    if where == "under_a_file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "out"
    elif where == "proc":
        out = Path("/proc/xaugcol-out")
    else:
        out = Path("/sys/kernel/xaugcol-out")
        if not Path("/sys/kernel").is_dir():
            pytest.skip("no /sys/kernel on this machine")
    for args in (["process", str(toy / "fileset.json")], ["generate", "toy", "--jets", "5"]):
        assert main([*args, "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"xaugcol: error: cannot write {out}") and err.count("\n") == 1, err
    assert not out.exists()


@pytest.fixture
def silent_server():
    """An HTTP address whose server accepts connections and never answers (a host that hangs)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/store/data/nano.root"
    server.close()
    for c in held:
        c.close()


def test_remote_file_that_never_answers(tmp_path, toy, silent_server, capsys):
    """A remote file whose host never answers is a bad file after --remote-timeout seconds (before: minutes of
    silence per file), named, or skipped and listed under --skip-bad-files."""
    fs = {**_fileset(silent_server, 1, "remote"), **_fileset(toy / "toy_background.root", 0, "good")}
    (tmp_path / "fileset.json").write_text(json.dumps(fs))
    args = ["process", str(tmp_path / "fileset.json"), "--remote-timeout", "1"]
    assert _finishes_within(60, main, [*args, "--out", str(tmp_path / "strict")]) == 1
    err = capsys.readouterr().err
    assert f"{silent_server}: no answer within 1 s" in err and err.count("\n") == 1
    assert _finishes_within(60, main, [*args, "--out", str(tmp_path / "lenient"), "--skip-bad-files"]) == 0
    report = json.loads((tmp_path / "lenient" / "report.json").read_text())
    assert [s["file"] for s in report["skipped_files"]] == [silent_server]
    assert report["counts"]["good"]["jets_kept"] == N_JETS


def test_metadata_may_not_use_coffeas_own_keys(tmp_path, toy, capsys):
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps({"d": {"files": [str(toy / "toy_signal.root")],
                                      "metadata": {"label": 1, "dataset": "other"}}}))
    assert main(["process", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "metadata may not use dataset" in err and err.count("\n") == 1 and not (tmp_path / "out").exists()
