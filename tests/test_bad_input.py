"""Bad input, one case each: a clear message naming the culprit, or a counted skip; under --skip-bad-files no case
stops the run, and every jet is either in the tables or counted as skipped, once.

Also covered in tests/test_processing.py: a truncated ROOT file (test_truncated_file_is_named_or_skipped), NaN and
inf constituents (test_nan_constituents_are_counted_and_dropped), one-constituent jets
(test_one_constituent_jets_get_documented_values), a missing branch named (test_missing_branch_is_named), a
zero-event CMS file (test_empty_file_gives_empty_outputs) and a malformed fileset (test_fileset_validation).
"""

import json

import awkward as ak
import numpy as np
import pytest
import uproot

from xaugcol.cli import main
from xaugcol.processing.run import BadFileError, FilesetError, load_fileset, run_processing
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
