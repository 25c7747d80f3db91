"""The XAUG processor against CMS's own stored values, on toy truth, and on bad input."""

import json

import awkward as ak
import numpy as np
import pytest
import uproot
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from xaugcol.cli import main
from xaugcol.features.tracks import NOT_IN_PFNANO
from xaugcol.jets import substructure
from xaugcol.jets.constituents import MissingBranchError, detect_layout, jet_constituents
from xaugcol.processing.coffea_runner import BadFileError, FilesetError, load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.processing.table_io import read_tables
from xaugcol.sources.nanoaod import write_events
from xaugcol.sources.toy import run_toy


def _fileset(path, label=0, name="cms"):
    return {name: {"files": {str(path): "Events"}, "metadata": {"label": label}}}


def _table(out, dataset):
    """The jet table of a dataset in (event, jet index) order."""
    t = read_tables(out / "jets" / dataset)
    order = np.lexsort((ak.to_numpy(t.fatjet_index), ak.to_numpy(t.event)))
    return t[order]


def _col(t, name):
    return ak.to_numpy(t[name]).astype(np.float64)


def _cms_jets(path):
    """CMS's stored FatJet values in (event, jet index) order, with the raw mass of the two softdrop subjets."""
    a = uproot.open(path)["Events"].arrays()
    a = a[np.argsort(ak.to_numpy(a.event), kind="stable")]
    raw = 1 - a.FatJet_rawFactor
    idx1, idx2 = a.FatJet_subJetIdx1, a.FatJet_subJetIdx2
    two = (idx1 >= 0) & (idx2 >= 0)

    def subjet(i):
        k = ak.where(two, i, 0)
        corr = 1 - a.SubJet_rawFactor[k]
        return ak.zip({"pt": a.SubJet_pt[k] * corr, "eta": a.SubJet_eta[k], "phi": a.SubJet_phi[k],
                       "mass": a.SubJet_mass[k] * corr}, with_name="Momentum4D")

    flat = lambda x: ak.to_numpy(ak.flatten(x)).astype(np.float64)  # noqa: E731
    return {
        "pt": flat(a.FatJet_pt * raw), "mass": flat(a.FatJet_mass * raw),
        **{f"tau{n}": flat(a[f"FatJet_tau{n}"]) for n in range(1, 5)},
        "n2": flat(a.FatJet_n2b1), "msoftdrop": flat(a.FatJet_msoftdrop),
        "sj_mass": flat((subjet(idx1) + subjet(idx2)).mass), "two": flat(two).astype(bool),
    }


def _constituents(path):
    events = NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()
    events = events[np.argsort(ak.to_numpy(events.event), kind="stable")]
    return ak.flatten(jet_constituents(events, detect_layout(events)), axis=1)


def _tau_deviation(table, cms, constituents, n):
    """|tau_N / CMS - 1| per jet, up to the stored precision of the inputs. PFNano keeps ~10-bit mantissas, and the
    one-pass axis minimisation can settle in another local minimum under perturbations that small: a jet's
    deviation is the smallest over our nominal value and 8 evaluations on inputs shaken at that precision."""
    rng = np.random.default_rng(0)
    best = np.abs(_col(table, f"tau{n}") / cms[f"tau{n}"] - 1)
    counts = ak.num(constituents, axis=1)
    for _ in range(8):
        def shake(x):
            noise = ak.unflatten(rng.standard_normal(int(ak.sum(counts))), counts)
            return x * (1 + 2**-10 * noise)
        shaken = ak.zip({"pt": shake(constituents.pt), "eta": shake(constituents.eta),
                         "phi": shake(constituents.phi), "mass": constituents.mass}, with_name="Momentum4D")
        best = np.minimum(best, np.abs(substructure.compute(shaken)[f"tau{n}"] / cms[f"tau{n}"] - 1))
    return best


def _check_against_cms(table, cms, constituents):
    assert len(table) == len(cms["pt"]) == 24
    np.testing.assert_allclose(_col(table, "pt"), cms["pt"], rtol=0.01)
    np.testing.assert_allclose(_col(table, "mass"), cms["mass"], rtol=0.01)
    for n in (1, 2, 3):
        assert np.all(_tau_deviation(table, cms, constituents, n) < 0.02), f"tau{n}"
    # most jets agree without any shaking
    assert np.median(np.abs(_col(table, "tau2") / cms["tau2"] - 1)) < 0.005
    assert np.all(np.abs(_col(table, "tau21") - cms["tau2"] / cms["tau1"]) < 0.02)
    msd = _col(table, "msd")
    hard = (msd > 10) & cms["two"]
    assert hard.sum() >= 15
    np.testing.assert_allclose(msd[hard], cms["sj_mass"][hard], rtol=0.05)
    # N2 of the groomed jet, as CMS's n2b1 (not asked for; a cross-check of the ECF convention)
    assert np.median(np.abs(_col(table, "n2")[hard] / cms["n2"][hard] - 1)) < 0.01


@pytest.fixture(scope="module")
def pfnano_run(cms_samples, tmp_path_factory):
    out = tmp_path_factory.mktemp("pfnano")
    result = run_processing(_fileset(cms_samples / "pfnano.root"), out)
    return result, out


def test_pfnano_matches_cms(pfnano_run, cms_samples):
    result, out = pfnano_run
    path = cms_samples / "pfnano.root"
    _check_against_cms(_table(out, "cms"), _cms_jets(path), _constituents(path))
    # PFNano stores every input but the track-fit covariance terms beyond the d0 and dz errors
    assert result.counts["cms"]["jets_kept"] == 24
    assert sorted(result.unavailable["cms"]) == sorted(f"track:{c}" for c in NOT_IN_PFNANO)


def _write_v15(src, dst):
    """A NanoAODv15-style copy of a PFNano file: FatJetPFCand_pfCandIdx -> PFCand_*, PUPPI weight folded into pt
    and mass, no charge branch (v15 stores none)."""
    a = uproot.open(src)["Events"].arrays()
    w = a.PFCands_puppiWeight
    branches = {
        "run": ak.to_numpy(a.run), "luminosityBlock": ak.to_numpy(a.luminosityBlock), "event": ak.to_numpy(a.event),
        "FatJet": ak.zip({k: a[f"FatJet_{k}"] for k in ("pt", "eta", "phi", "mass", "rawFactor", "msoftdrop",
                                                        "tau1", "tau2", "tau3", "tau4", "n2b1")}),
        "FatJetPFCand": ak.zip({"jetIdx": a.FatJetPFCands_jetIdx, "pfCandIdx": a.FatJetPFCands_pFCandsIdx}),
        "PFCand": ak.zip({"pt": a.PFCands_pt * w, "eta": a.PFCands_eta, "phi": a.PFCands_phi,
                          "mass": a.PFCands_mass * w, "pdgId": a.PFCands_pdgId,
                          "d0": a.PFCands_d0, "dz": a.PFCands_dz}),
    }
    write_events(dst, [branches])


def test_nanoaod_v15_layout(cms_samples, tmp_path, pfnano_run):
    path = tmp_path / "nano_v15.root"
    _write_v15(cms_samples / "pfnano.root", path)
    result = run_processing(_fileset(path, name="v15"), tmp_path / "out")
    t15 = _table(tmp_path / "out", "v15")
    _check_against_cms(t15, _cms_jets(cms_samples / "pfnano.root"), _constituents(path))
    # the same physics as the PFNano path, and charge recovered from pdgId
    tpf = _table(pfnano_run[1], "cms")
    for name in ("pt", "mass", "msd", "tau21", "sj_z"):
        np.testing.assert_allclose(_col(t15, name), _col(tpf, name), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(ak.to_numpy(t15.particles[:, :, 9]), ak.to_numpy(tpf.particles[:, :, 9]))


def test_stored_branches_without_pf_candidates(cms_samples, tmp_path):
    """Plain NanoAOD: XAUG from the stored FatJet / SubJet branches, unavailable inputs named in the report."""
    a = uproot.open(cms_samples / "pfnano.root")["Events"].arrays()
    fat = ("pt", "eta", "phi", "mass", "rawFactor", "msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1",
           "subJetIdx1", "subJetIdx2")
    branches = {"run": ak.to_numpy(a.run), "luminosityBlock": ak.to_numpy(a.luminosityBlock),
                "event": ak.to_numpy(a.event),
                "FatJet": ak.zip({k: a[f"FatJet_{k}"] for k in fat}),
                "SubJet": ak.zip({k: a[f"SubJet_{k}"] for k in ("pt", "eta", "phi", "mass", "rawFactor")})}
    path = tmp_path / "plain.root"
    write_events(path, [branches])
    result = run_processing(_fileset(path, name="plain"), tmp_path / "out")
    t = _table(tmp_path / "out", "plain")
    cms = _cms_jets(cms_samples / "pfnano.root")
    np.testing.assert_allclose(_col(t, "msd"), cms["msoftdrop"])
    np.testing.assert_allclose(_col(t, "tau2"), cms["tau2"])
    np.testing.assert_allclose(_col(t, "pt"), cms["pt"], rtol=1e-6)
    assert not ak.any(t.has_particles)
    assert set(result.unavailable["plain"]) == {"d2", "n_constituents", "particles", "image", "tracks", "vertices"}
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["unavailable_columns"]["plain"] == result.unavailable["plain"]
    # the real plain-NanoAOD sample: runs, has no AK8 jet in its 40 events
    r = run_processing(_fileset(cms_samples / "nano_dy.root", name="dy"), tmp_path / "dy")
    assert r.counts["dy"]["events"] == 40 and r.counts["dy"]["jets_seen"] == 0


def test_empty_file_gives_empty_outputs(cms_samples, tmp_path):
    result = run_processing(_fileset(cms_samples / "nano_dy_empty.root", name="empty"), tmp_path / "out")
    assert result.counts["empty"]["events"] == 0 and result.counts["empty"]["jets_kept"] == 0
    assert not list((tmp_path / "out").rglob("*.parquet"))
    assert (tmp_path / "out" / "histograms.root").exists()
    assert json.loads((tmp_path / "out" / "report.json").read_text())["skipped_files"] == []


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    run_toy(out, 1500, seed=4)
    return out


def test_toy_softdrop_subjets_track_the_generated_splitting(toy_files, tmp_path):
    run_processing(load_fileset(toy_files / "fileset.json"), tmp_path / "out", chunksize=1000)
    for name in ("toy_signal", "toy_background"):
        t = _table(tmp_path / "out", name)
        truth = uproot.open(toy_files / f"{name}.root")["Events"].arrays(["FatJet_genZ", "FatJet_genTheta"])
        gen_z, gen_theta = ak.to_numpy(truth.FatJet_genZ[:, 0]), ak.to_numpy(truth.FatJet_genTheta[:, 0])
        z, dr = _col(t, "sj_z"), _col(t, "sj_dr")
        # where the generated splitting passes mMDT (z > 0.1, with a margin) and the prongs are resolvable
        # (further apart than the particles spread around their axes: up to 0.2), softdrop stops at it
        resolved = (gen_z > 0.12) & (gen_theta > 0.3)
        assert resolved.sum() > 100
        assert np.corrcoef(z[resolved], gen_z[resolved])[0, 1] > 0.95
        assert np.mean(np.abs(z[resolved] - gen_z[resolved]) < 0.02) > 0.9
        assert np.median(np.abs(dr[resolved] / gen_theta[resolved] - 1)) < 0.06
        assert np.corrcoef(dr[resolved], gen_theta[resolved])[0, 1] > 0.9
        # where it fails mMDT, the soft prong is groomed away and a narrower splitting inside the hard one remains
        fails = gen_z < 0.08
        if fails.sum() > 50:
            assert np.median(dr[fails] / gen_theta[fails]) < 0.5
        assert np.all(_col(t, "n_constituents") == 20)


def test_iterative_and_futures_agree(toy_files, tmp_path):
    fs = load_fileset(toy_files / "fileset.json")
    a = run_processing(fs, tmp_path / "it", executor="iterative", chunksize=500)
    b = run_processing(fs, tmp_path / "fu", executor="futures", workers=2, chunksize=500)
    names_a = sorted(p.relative_to(tmp_path / "it") for p in (tmp_path / "it").rglob("*.parquet"))
    names_b = sorted(p.relative_to(tmp_path / "fu") for p in (tmp_path / "fu").rglob("*.parquet"))
    assert names_a == names_b and len(names_a) == 6
    for rel in names_a:
        assert ak.to_list(ak.from_parquet(tmp_path / "it" / rel)) == ak.to_list(ak.from_parquet(tmp_path / "fu" / rel))
    for name, h in a.histograms.items():
        assert h == b.histograms[name]
    assert a.counts == b.counts
    assert a.histograms["msd"].sum(flow=True).value == 3000  # every jet filled once (overflow included)


def test_a_chunk_built_block_by_block_equals_it_built_whole(toy_files, tmp_path, monkeypatch):
    """The processor builds and writes a chunk's table in blocks of events (its table never all in memory): blocks
    of 70 events give the same files, histograms and counts as one block per chunk."""
    import pyarrow.parquet as pq

    from xaugcol.processors import xaug_processor

    fs = load_fileset(toy_files / "fileset.json")
    whole = run_processing(fs, tmp_path / "whole", chunksize=500)
    monkeypatch.setattr(xaug_processor, "BLOCK_EVENTS", 70)
    blocks = run_processing(fs, tmp_path / "blocks", chunksize=500)
    files = sorted(p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*.parquet"))
    assert files == sorted(p.relative_to(tmp_path / "blocks") for p in (tmp_path / "blocks").rglob("*.parquet"))
    for rel in files:
        a, b = pq.read_table(tmp_path / "whole" / rel), pq.read_table(tmp_path / "blocks" / rel)
        assert a.num_rows > 140 and a.schema.equals(b.schema, check_metadata=True) and a.equals(b)
        assert pq.ParquetFile(tmp_path / "blocks" / rel).metadata.num_row_groups >= 3  # written in parts
    assert whole.counts == blocks.counts and whole.report["tables"] == blocks.report["tables"]
    for name, h in whole.histograms.items():
        assert h == blocks.histograms[name]


def _toy_branches(a, drop=(), pf_edit=None):
    pf = {k.removeprefix("PFCands_"): a[k] for k in a.fields if k.startswith("PFCands_")}
    if pf_edit:
        pf = pf_edit(pf)
    out = {"run": ak.to_numpy(a.run), "luminosityBlock": ak.to_numpy(a.luminosityBlock),
           "event": ak.to_numpy(a.event), "genWeight": ak.to_numpy(a.genWeight),
           "FatJet": ak.zip({k.removeprefix("FatJet_"): a[k] for k in a.fields if k.startswith("FatJet_")}),
           "FatJetPFCands": ak.zip({k.removeprefix("FatJetPFCands_"): a[k] for k in a.fields
                                    if k.startswith("FatJetPFCands_")}),
           "PFCands": ak.zip({k: v for k, v in pf.items() if k not in drop})}
    return out


def test_nan_constituents_are_counted_and_dropped(toy_files, tmp_path):
    a = uproot.open(toy_files / "toy_signal.root")["Events"].arrays()[:100]

    def poison(pf):
        pt = ak.to_numpy(ak.flatten(pf["pt"])).copy()
        pt[[5, 45]] = [np.nan, np.inf]  # jets 0 and 2 (20 particles each)
        return {**pf, "pt": ak.unflatten(pt, ak.num(pf["pt"]))}

    path = tmp_path / "nan.root"
    write_events(path, [_toy_branches(a, pf_edit=poison)])
    result = run_processing(_fileset(path, 1, "nan"), tmp_path / "out")
    c = result.counts["nan"]
    assert c["jets_seen"] == 100 and c["skipped_nonfinite_input"] == 2 and c["jets_kept"] == 98
    t = _table(tmp_path / "out", "nan")
    assert set(ak.to_numpy(t.event)) == set(ak.to_numpy(a.event)) - {a.event[0], a.event[2]}


def test_one_constituent_jets_get_documented_values(toy_files, tmp_path):
    a = uproot.open(toy_files / "toy_signal.root")["Events"].arrays()[:10]
    # keep only the hardest particle of the first five jets
    n = ak.to_numpy(a.nPFCands).copy()
    keep = np.ones(int(n.sum()), dtype=bool)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    for k in range(5):
        keep[starts[k] + 1: starts[k] + n[k]] = False
    new_n = np.where(np.arange(10) < 5, 1, n)

    def cut(arr):
        return ak.unflatten(ak.to_numpy(ak.flatten(arr))[keep], new_n)

    branches = _toy_branches(a)
    branches["PFCands"] = ak.zip({f: cut(branches["PFCands"][f]) for f in branches["PFCands"].fields})
    branches["FatJetPFCands"] = ak.zip({f: cut(branches["FatJetPFCands"][f])
                                        for f in branches["FatJetPFCands"].fields})
    path = tmp_path / "one.root"
    write_events(path, [branches])
    result = run_processing(_fileset(path, 1, "one"), tmp_path / "out")
    t = _table(tmp_path / "out", "one")
    assert result.counts["one"]["jets_kept"] == 10
    few = ak.to_numpy(t.few_constituents)
    assert few.tolist() == [True] * 5 + [False] * 5
    for name in ("msd", "tau1", "tau21", "n2", "d2", "sj_z", "sj_dr", "pt", "mass"):
        assert np.all(np.isfinite(_col(t, name))), name
    assert np.all(_col(t, "tau21")[few] == 0) and np.all(_col(t, "sj_z")[few] == 0)
    np.testing.assert_allclose(_col(t, "sj1_pt")[few], _col(t, "pt")[few], rtol=1e-6)  # the particle itself
    assert np.all(np.isfinite(ak.to_numpy(t.particles))) and np.all(np.isfinite(ak.to_numpy(t.image)))


def test_missing_branch_is_named(toy_files, tmp_path):
    a = uproot.open(toy_files / "toy_signal.root")["Events"].arrays()[:20]
    path = tmp_path / "nopuppi.root"
    write_events(path, [_toy_branches(a, drop=("puppiWeight",))])
    with pytest.raises(MissingBranchError, match="PFCands_puppiWeight.*PUPPI"):
        run_processing(_fileset(path, 1, "x"), tmp_path / "out")


def test_truncated_file_is_named_or_skipped(toy_files, tmp_path):
    data = (toy_files / "toy_signal.root").read_bytes()
    bad = tmp_path / "truncated.root"
    bad.write_bytes(data[: len(data) // 2])
    fs = {**_fileset(bad, 1, "bad"), **_fileset(toy_files / "toy_background.root", 0, "good")}
    with pytest.raises(BadFileError, match="truncated.root"):
        run_processing(fs, tmp_path / "strict")
    result = run_processing(fs, tmp_path / "lenient", skip_bad_files=True)
    assert [s["file"] for s in result.skipped_files] == [str(bad)]
    assert result.counts["good"]["jets_kept"] == 1500 and result.counts["bad"]["jets_seen"] == 0
    report = json.loads((tmp_path / "lenient" / "report.json").read_text())
    assert report["skipped_files"][0]["file"] == str(bad) and "truncated.root" in report["skipped_files"][0]["reason"]


def test_fileset_validation(tmp_path):
    (tmp_path / "f.json").write_text("{not json")
    with pytest.raises(FilesetError, match="f.json"):
        load_fileset(tmp_path / "f.json")
    (tmp_path / "f.json").write_text(json.dumps({"d": {"files": {"a.root": "Events"}, "metadata": {"label": 3}}}))
    with pytest.raises(FilesetError, match="'label' must be 0 or 1"):
        load_fileset(tmp_path / "f.json")


def test_cli_process(toy_files, tmp_path, capsys):
    assert main(["process", str(toy_files / "fileset.json"), "--out", str(tmp_path / "o"), "--chunksize",
                 "2000", "--min-pt", "350"]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    c = report["counts"]["toy_signal"]
    assert c["skipped_below_min_pt"] > 0 and c["jets_kept"] + c["skipped_below_min_pt"] == 1500
    assert np.all(_col(read_tables(tmp_path / "o" / "jets"), "pt") >= 350)
    assert main(["process", str(tmp_path / "missing.json"), "--out", str(tmp_path / "p")]) == 2
    assert "missing.json" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_fileset(tmp_path / "nowhere.root")))
    assert main(["process", str(bad), "--out", str(tmp_path / "q")]) == 1
    err = capsys.readouterr().err.strip()
    assert "nowhere.root" in err and "\n" not in err


def test_pythia_zz_and_qcd_through_the_processor(tmp_path):
    """Generated for real: softdrop recovers the Z mass in contained ZZ jets; QCD jets are light and one-prong."""
    from xaugcol.sources.processes import BUILTIN
    from xaugcol.sources.pythia import run_pythia

    run_pythia(tmp_path / "gen", [BUILTIN["zz"], BUILTIN["qcd"]], 40, seed=5)
    result = run_processing(load_fileset(tmp_path / "gen" / "fileset.json"), tmp_path / "out")
    zz, qcd = _table(tmp_path / "out", "zz"), _table(tmp_path / "out", "qcd")
    contained = ak.to_numpy(zz.gen_boson_contained)
    assert contained.sum() >= 10 and np.all(ak.to_numpy(qcd.gen_boson_idx) == -1)
    assert 80 < np.median(_col(zz, "msd")[contained]) < 100
    assert np.median(_col(qcd, "msd")) < 50
    assert np.median(_col(zz, "tau21")[contained]) + 0.2 < np.median(_col(qcd, "tau21"))
    assert np.mean(ak.to_numpy(zz.in_msd_window)[contained]) > 0.7
    # generator weights reach the table and the histograms
    assert np.all(_col(zz, "weight") == 1) and result.histograms["msd"][{"dataset": "zz"}].sum(flow=True).value == len(zz)


def test_stored_subjets_of_events_without_any_subjet():
    """A chunk where one event has fat jets but no SubJet at all (its jets have no two subjets): zeros there, the
    other events' subjets as stored (before, the placeholder index 0 pointed into the empty list: IndexError)."""
    import awkward as ak

    from xaugcol.jets.stored import stored_xaug

    def jets(n, two):
        return [{"pt": 400.0, "eta": 0.1, "phi": 0.2, "mass": 90.0, "msoftdrop": 85.0, "tau1": 0.3, "tau2": 0.1,
                 "tau3": 0.05, "tau4": 0.03, "n2b1": 0.2, "rawFactor": 0.0,
                 "subJetIdx1": 0 if two else -1, "subJetIdx2": 1 if two else -1} for _ in range(n)]

    subjets = [{"pt": 300.0, "eta": 0.0, "phi": 0.0, "mass": 10.0, "rawFactor": 0.5},
               {"pt": 100.0, "eta": 0.3, "phi": 0.4, "mass": 5.0, "rawFactor": 0.0}]
    events = ak.Array({"FatJet": [jets(1, True), jets(2, False)], "SubJet": [subjets, []]})
    out, _ = stored_xaug(events)
    np.testing.assert_array_equal(out["sd_two_prong"], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(out["sj1_pt"], [150.0, 0.0, 0.0])  # 300 GeV with its correction undone (x 0.5)
    np.testing.assert_allclose(out["sj2_pt"], [100.0, 0.0, 0.0])
    np.testing.assert_allclose(out["sj_dr"][0], np.hypot(0.3, 0.4))
