"""The Pythia 8 source, generated for real at small sizes: physics of the jets, weights, truth, reproducibility."""

import json

import awkward as ak
import numpy as np
import pytest
import uproot
import vector

from xaugcol.cli import main
from xaugcol.sources.nanoaod import write_events
from xaugcol.sources.process_card import load_processes
from xaugcol.sources.processes import BUILTIN
from xaugcol.sources.pythia import run_pythia

vector.register_awkward()
pytestmark = pytest.mark.slow

N_EVENTS = 40
Z_MASS = 91.19


def _read(path):
    return uproot.open(path)["Events"].arrays()


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("pythia")
    fileset = run_pythia(out, [BUILTIN["zz"], BUILTIN["qcd"]], N_EVENTS, seed=5)
    return out, fileset, {name: _read(out / f"{name}.root") for name in fileset}


def _jets(a):
    return ak.zip({"pt": a.FatJet_pt, "eta": a.FatJet_eta, "phi": a.FatJet_phi, "mass": a.FatJet_mass},
                  with_name="Momentum4D")


def _constituents(a):
    """PFCands of each jet, through the FatJetPFCands link: (events, jets, constituents)."""
    cands = ak.zip({"pt": a.PFCands_pt, "eta": a.PFCands_eta, "phi": a.PFCands_phi, "mass": a.PFCands_mass},
                   with_name="Momentum4D")
    linked = cands[a.FatJetPFCands_pFCandsIdx]
    # the links are grouped by jet: unflatten by the per-jet counts
    return ak.unflatten(linked, ak.flatten(a.FatJet_nConstituents), axis=1)


def test_fileset_metadata(sample):
    out, fileset, arrays = sample
    assert json.loads((out / "fileset.json").read_text()) == fileset
    assert fileset["zz"]["metadata"]["label"] == 1 and fileset["qcd"]["metadata"]["label"] == 0
    for name, a in arrays.items():
        meta = fileset[name]["metadata"]
        assert len(a) == N_EVENTS == meta["n_events"]
        assert meta["xsec_pb"] > 0 and 0 < meta["filter_efficiency"] <= 1
        assert meta["sumw"] == pytest.approx(float(np.sum(a.genWeight)), rel=1e-6)
    # only ~70 % of ZZ events have a Z -> qq: the filter must have dropped some
    assert fileset["zz"]["metadata"]["filter_efficiency"] < 0.95
    assert fileset["qcd"]["metadata"]["filter_efficiency"] == 1


def test_jets_pass_the_selection_and_hold_their_constituents(sample):
    _, _, arrays = sample
    for a in arrays.values():
        assert ak.all(a.FatJet_pt > 200) and ak.all(abs(a.FatJet_eta) < 2.4)
        assert ak.all(a.FatJet_pt[:, :-1] >= a.FatJet_pt[:, 1:])
        assert ak.sum(a.nFatJet) > N_EVENTS // 2
        cons = _constituents(a)
        jets = _jets(a)
        assert ak.all(ak.num(cons, axis=2) == a.FatJet_nConstituents)
        assert ak.all(a.FatJet_nConstituents >= 1)
        # anti-kt R = 0.8 in (rapidity, phi), fastjet's metric: constituents lie within R of the jet axis. Not
        # exactly: when two hard prongs closer than R merge (a boosted Z), particles within R of one prong can sit
        # up to ~R + dR(prongs)/2 from the combined axis. They are few and soft.
        axis = jets[:, :, None]
        dr = np.hypot(cons.rapidity - axis.rapidity, cons.deltaphi(axis))
        outside = dr >= 0.8
        assert ak.max(dr) < 1.2 and ak.mean(ak.flatten(outside, axis=None)) < 0.01
        assert ak.sum(cons.pt[outside]) < 0.005 * ak.sum(cons.pt)
        dr = ak.flatten(dr, axis=None)
        # in pseudorapidity soft massive hadrons can sit far outside: the metric matters
        assert ak.max(ak.flatten(cons.deltaR(axis), axis=None)) > ak.max(dr)
        # the jet four-momentum is the sum of its constituents (float32 storage)
        total = ak.sum(cons, axis=2)
        np.testing.assert_allclose(ak.to_numpy(ak.flatten(total.pt)), ak.to_numpy(ak.flatten(jets.pt)), rtol=1e-4)
        np.testing.assert_allclose(ak.to_numpy(ak.flatten(total.mass)), ak.to_numpy(ak.flatten(jets.mass)),
                                   rtol=1e-3, atol=0.05)
        # every PF candidate belongs to exactly one jet: no particle is written twice
        assert ak.all(a.nPFCands == ak.sum(a.FatJet_nConstituents, axis=1))
        assert ak.all(ak.sort(a.FatJetPFCands_pFCandsIdx) == ak.local_index(a.PFCands_pt))


def test_particle_content(sample):
    _, _, arrays = sample
    a = ak.concatenate(list(arrays.values()))
    pdg, charge = ak.flatten(a.PFCands_pdgId), ak.flatten(a.PFCands_charge)
    assert set(np.unique(np.abs(pdg))) <= {11, 13, 22, 130, 211}
    assert np.all((charge != 0) == np.isin(np.abs(pdg), [11, 13, 211]))
    # invisible particles are never clustered
    assert not np.any(np.isin(np.abs(ak.flatten(a.PFCands_genPdgId)), [12, 14, 16]))
    d0, dz = ak.to_numpy(ak.flatten(a.PFCands_d0)), ak.to_numpy(ak.flatten(a.PFCands_dz))
    assert np.all(np.isfinite(d0)) and np.all(np.isfinite(dz))
    assert np.all(d0[charge == 0] == 0)
    # most tracks are measured consistent with the primary vertex; heavy-flavour decays displace some, by millimetres
    err = ak.to_numpy(ak.flatten(a.PFCands_d0Err))
    track = err > 0
    assert np.all(charge[track] != 0) and np.all(d0[~track] == 0)
    displaced = np.abs(d0[track] / err[track]) > 3
    assert 0.001 < displaced.mean() < 0.1
    assert np.median(np.abs(d0[track][displaced])) < 0.5


def test_zz_jets_peak_at_the_z_mass_and_qcd_jets_do_not(sample):
    _, _, arrays = sample
    zz, qcd = arrays["zz"], arrays["qcd"]
    contained = ak.flatten(zz.FatJet_genBosonContained)
    assert ak.sum(contained) >= 5
    m_signal = ak.to_numpy(ak.flatten(zz.FatJet_mass)[contained])
    assert 80 < np.median(m_signal) < 100
    assert np.median(ak.to_numpy(ak.flatten(qcd.FatJet_mass))) < 75
    # QCD has no signal boson: never matched
    assert ak.all(qcd.FatJet_genBosonIdx == -1) and ak.all(qcd.FatJet_genBosonDR == -1)


def test_boson_match_points_at_a_hadronic_z(sample):
    _, _, arrays = sample
    a = arrays["zz"]
    idx = a.FatJet_genBosonIdx
    matched = idx >= 0
    assert ak.sum(matched) >= 5
    boson_id = a.GenPart_pdgId[ak.where(matched, idx, 0)][matched]
    assert ak.all(boson_id == 23)
    assert ak.all(a.FatJet_genBosonDR[matched] < 0.8)
    # every kept ZZ event has a Z whose GenPart daughters are quarks, and their four-momenta add up to the Z
    gen = ak.zip({"pt": a.GenPart_pt, "eta": a.GenPart_eta, "phi": a.GenPart_phi, "mass": a.GenPart_mass},
                 with_name="Momentum4D")
    is_z = a.GenPart_pdgId == 23
    zi = ak.local_index(a.GenPart_pdgId)[is_z]
    daughters = a.GenPart_genPartIdxMother[:, None, :] == zi[:, :, None]
    quark = (abs(a.GenPart_pdgId) <= 5)[:, None, :]
    n_quarks = ak.sum(daughters & quark, axis=2)
    assert ak.all(ak.any(n_quarks == 2, axis=1))
    dsum = ak.sum(ak.broadcast_arrays(gen[:, None, :], daughters)[0][daughters], axis=2)
    has_two = ak.sum(daughters, axis=2) == 2
    z_mass = ak.to_numpy(ak.flatten(gen.mass[is_z][has_two]))
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(dsum.mass[has_two])), z_mass, rtol=2e-3)
    assert 60 < np.median(z_mass) < 120 and abs(np.median(z_mass) - Z_MASS) < 5


def test_weights(sample, tmp_path):
    _, _, arrays = sample
    for a in arrays.values():
        assert np.all(a.genWeight == 1) and np.all(a.Generator_weight == a.genWeight)
        assert np.all(a.Generator_binvar >= 200)
    # flat pT-hat: the bias2Selection weight (pTref / pTHat)^4 goes to genWeight
    fs = run_pythia(tmp_path, [BUILTIN["qcd"]], 30, seed=11, flat_pthat=True, pthat_min=200)
    b = _read(tmp_path / "qcd.root")
    w, pthat = ak.to_numpy(b.genWeight), ak.to_numpy(b.Generator_binvar)
    assert np.all(w > 0) and np.all(w <= 1.0001) and np.std(w) > 0
    np.testing.assert_allclose(w * pthat.astype(np.float64) ** 4, 200.0**4, rtol=1e-4)
    assert fs["qcd"]["metadata"]["flat_pthat"] is True
    # the flattened spectrum is harder than the steeply falling unbiased one
    assert np.median(pthat) > np.median(ak.to_numpy(arrays["qcd"].Generator_binvar))


def test_same_seed_same_files_other_seed_differs(tmp_path):
    def generate(name, seed):
        run_pythia(tmp_path / name, [BUILTIN["qcd"]], 12, seed=seed, workers=2)
        return [_read(tmp_path / name / f"qcd_{k:03d}.root") for k in range(2)]

    first, again, other = generate("a", 3), generate("b", 3), generate("c", 4)
    for x, y in zip(first, again):
        assert ak.to_list(x) == ak.to_list(y)
    assert ak.to_list(first[0].PFCands_pt) != ak.to_list(other[0].PFCands_pt)
    # the two workers run different seeds and number their events apart
    assert ak.to_list(first[0].PFCands_pt) != ak.to_list(first[1].PFCands_pt)
    assert len(set(first[0].event) & set(first[1].event)) == 0
    assert len(first[0]) + len(first[1]) == 12


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--process", "ww"], "unknown process ww"),
        (["--process", "zz", "--events", "-3"], "--events"),
        (["--process", "zz", "--workers", "0"], "--workers"),
        (["--process", "zz", "--pthat-min", "-1"], "--pthat-min"),
    ],
)
def test_cli_rejects_bad_arguments(args, fragment, tmp_path, capsys):
    argv = ["generate", "pythia", "--events", "5", "--seed", "1", "--out", str(tmp_path / "o"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_cli_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["generate", "toy", "--jets", "5", "--seed", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not empty" in err and "--overwrite" in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert main(["generate", "toy", "--jets", "5", "--seed", "1", "--out", str(tmp_path), "--overwrite"]) == 0
    assert (tmp_path / "toy_signal.root").exists() and (tmp_path / "keep.txt").read_text() == "mine"


def test_cli_generates_pythia(tmp_path):
    assert main(["generate", "pythia", "--process", "qcd", "--events", "4", "--seed", "2", "--out", str(tmp_path)]) == 0
    fileset = json.loads((tmp_path / "fileset.json").read_text())
    assert list(fileset) == ["qcd"] and len(_read(tmp_path / "qcd.root")) == 4


def test_interrupted_write_leaves_no_file(tmp_path):
    def chunks():
        yield {"event": np.arange(3, dtype=np.uint64)}
        raise KeyboardInterrupt  # the user pressed ctrl-C half-way

    with pytest.raises(KeyboardInterrupt):
        write_events(tmp_path / "half.root", chunks())
    assert list(tmp_path.iterdir()) == []


def test_process_card(tmp_path):
    card = tmp_path / "card.yaml"
    card.write_text("hbb:\n  label: 1\n  settings: ['HiggsSM:ffbar2HZ = on']\n  signal_bosons: [25]\n"
                    "  require_hadronic: true\n")
    procs = load_processes(card)
    assert procs["hbb"].signal_bosons == (25,) and "zz" in procs
    card.write_text("hbb:\n  label: 2\n  settings: ['HiggsSM:ffbar2HZ = on']\n")
    with pytest.raises(ValueError, match="'label' must be 0 or 1"):
        load_processes(card)
    card.write_text("hbb:\n  label: 1\n  setings: ['x = 1']\n")
    with pytest.raises(ValueError, match="unknown field.*setings"):
        load_processes(card)
