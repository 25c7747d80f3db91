"""Tracks and secondary vertices: the geometry against what CMS stored in PFNano, the simplified tracker and vertex
finder against their model, the jet table's track and vertex lists on CMS and Pythia jets, and their physics
(H -> b bbar against light-flavour QCD)."""

import awkward as ak
import numpy as np
import pytest
import torch
import uproot
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from xaugcol.features import tracks as track_features
from xaugcol.features import vertices as vertex_features
from xaugcol.jets import track_geometry as geometry
from xaugcol.models.registry import ModelConfig, build_model
from xaugcol.processing.jet_table import build_jet_table
from xaugcol.sources.processes import BUILTIN
from xaugcol.sources.pythia import run_pythia
from xaugcol.sources.tracker import TrackerModel, measure_tracks, straight_line_ip
from xaugcol.sources.vertexing import find_vertices

B_HADRON_MASS = 5.28


def _events(path):
    return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()


def _padded(table: dict) -> dict:
    """A jet table with its packed columns (object lists, masks: xaugcol.features.packed) as padded arrays."""
    return {name: np.asarray(values) for name, values in table.items()}


@pytest.fixture(scope="module")
def pfnano(cms_samples):
    path = cms_samples / "pfnano.root"
    return path, uproot.open(path)["Events"].arrays()


def _links(a):
    """Flat (link) arrays of PFNano's FatJetPFCands with their candidate's and jet's fields."""
    event = np.repeat(np.arange(len(a)), ak.to_numpy(ak.num(a.FatJetPFCands_jetIdx)))
    cand_offset = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(a.PFCands_pt)))[:-1]])
    jet_offset = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(a.FatJet_pt)))[:-1]])
    cand = cand_offset[event] + ak.to_numpy(ak.flatten(a.FatJetPFCands_pFCandsIdx))
    jet = jet_offset[event] + ak.to_numpy(ak.flatten(a.FatJetPFCands_jetIdx))
    c = {k: ak.to_numpy(ak.flatten(a[f"PFCands_{k}"]))[cand] for k in
         ("pt", "eta", "phi", "mass", "charge", "d0", "dz", "d0Err", "dzErr")}
    j = {k: ak.to_numpy(ak.flatten(a[f"FatJet_{k}"]))[jet] for k in ("eta", "phi")}
    stored = {k: ak.to_numpy(ak.flatten(a[f"FatJetPFCands_{k}"])) for k in geometry.BTAG_VARIABLES}
    return c, j, stored, jet


def test_btag_variables_reproduce_what_cms_stored(pfnano):
    _, a = pfnano
    c, j, stored, _ = _links(a)
    track = c["d0Err"] > 0
    # CMS stores the variables exactly for the charged candidates with track details, 0 for the rest
    assert track.sum() > 400 and np.all(c["charge"][track] != 0)
    assert all(np.all(stored[k][~track] == 0) for k in stored)
    ours = geometry.btag_variables(c["pt"], c["eta"], c["phi"], c["mass"], c["d0"], c["dz"], c["d0Err"], c["dzErr"],
                                   j["eta"], j["phi"])
    for name in ("btagEtaRel", "btagPtRatio", "btagPParRatio", "btagSip3dVal", "btagJetDistVal"):
        diff = np.abs(ours[name][track] - stored[name][track])
        assert np.median(diff) < 5e-4, name
        assert np.mean(diff < 0.01 * np.abs(stored[name][track]) + 1e-3) > 0.9, name
    # the lifetime sign of every track's 3D impact parameter is CMS's
    assert np.all(np.sign(ours["btagSip3dVal"][track]) == np.sign(stored["btagSip3dVal"][track]))
    # the uncorrelated error is a lower bound of CMS's full one: the significance a little larger, same sign
    ratio = ours["btagSip3dSig"][track] / stored["btagSip3dSig"][track]
    assert 1.0 <= np.median(ratio) < 1.1 and np.all(ratio > 0)


def test_jet_table_tracks_and_vertices_on_cms_pfnano(pfnano):
    path, a = pfnano
    table, counts, unavailable = build_jet_table(_events(path), "cms", 0)
    table = _padded(table)
    assert counts["jets_kept"] == len(ak.flatten(a.FatJet_pt))
    # tracks per jet: its charged constituents with track details (capped at the list length)
    c, j, stored, jet = _links(a)
    track = c["d0Err"] > 0
    expected = np.bincount(jet[track], minlength=counts["jets_kept"])
    np.testing.assert_array_equal(table["n_tracks"], expected)
    np.testing.assert_array_equal(table["tracks_mask"].sum(axis=1), np.minimum(expected, 60))
    # the stored b-tagging variables reach the track list unchanged, in each jet's pT order
    k = track_features.FEATURES.index("btagSip3dSig")
    ours = np.sort(table["tracks"][..., k][table["tracks_mask"]])
    np.testing.assert_allclose(ours, np.sort(stored["btagSip3dSig"][track]).astype(np.float32), rtol=1e-6)
    assert sorted(unavailable) == sorted(f"track:{f}" for f in track_features.NOT_IN_PFNANO)
    # padded slots hold exactly zero; a real track or vertex is never all zeros
    assert not table["tracks"][~table["tracks_mask"]].any() and not table["vertices"][~table["vertices_mask"]].any()
    assert table["tracks"][table["tracks_mask"]].any(axis=1).all()


def test_vertex_association_and_features_match_cms_fatjetsvs(pfnano):
    path, a = pfnano
    table = _padded(build_jet_table(_events(path), "cms", 0)[0])
    jet_offset = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(a.FatJet_pt)))[:-1]])
    n_fjsv = ak.to_numpy(ak.num(a.FatJetSVs_jetIdx))
    event = np.repeat(np.arange(len(a)), n_fjsv)
    in_sv = ak.to_numpy(ak.flatten(a.FatJetSVs_sVIdx)) >= 0  # PFNano also keeps vertices the SV table does not
    jet = (jet_offset[event] + ak.to_numpy(ak.flatten(a.FatJetSVs_jetIdx)))[in_sv]
    # every SV the SV table holds is associated to the jets CMS associated it to
    np.testing.assert_array_equal(table["n_vertices"], np.bincount(jet, minlength=len(table["pt"])))
    assert table["n_vertices"].sum() >= 10
    stored = {k: ak.to_numpy(ak.flatten(a[f"FatJetSVs_{k}"]))[in_sv] for k in
              ("ptrel", "enration", "phirel", "deltaR", "mass", "ntracks", "normchi2", "dxy", "dxysig", "d3d",
               "d3dsig", "costhetasvpv")}
    order = np.lexsort((-stored["dxysig"], jet))  # the table orders each jet's vertices by dxySig, keeps 5
    rank = np.arange(len(order)) - np.searchsorted(jet[order], jet[order])
    order = order[rank < 5]
    # PFNano divides by the corrected jet pT and energy, the table by the raw ones it recomputes from the constituents
    correction = 1 / (1 - ak.to_numpy(ak.flatten(a.FatJet_rawFactor)))[jet[order]]
    stored["ptrel"][order] *= correction
    stored["enration"][order] *= correction
    ours = table["vertices"][table["vertices_mask"]]
    f = {name: ours[:, k] for k, name in enumerate(vertex_features.FEATURES)}
    # NanoAOD keeps about 3 significant digits of these floats (10-bit mantissas): rtol 3e-3 is exact
    for name, cms_name, rtol, atol in (("ptrel", "ptrel", 0.01, 1e-3), ("erel", "enration", 0.02, 1e-3),
                                       ("phirel", "phirel", 0.0, 5e-3), ("mass", "mass", 3e-3, 0),
                                       ("ntracks", "ntracks", 0, 0), ("normchi2", "normchi2", 3e-3, 1e-5),
                                       ("dxy", "dxy", 3e-3, 0), ("dxysig", "dxysig", 3e-3, 0),
                                       ("d3d", "d3d", 3e-3, 0), ("d3dsig", "d3dsig", 3e-3, 0),
                                       ("costhetasvpv", "costhetasvpv", 0, 2e-3)):
        np.testing.assert_allclose(f[name], stored[cms_name][order], rtol=rtol, atol=atol, err_msg=name)
    # PFNano stores the distance to the jet axis minus 0.5
    np.testing.assert_allclose(f["deltaR"] - 0.5, stored["deltaR"][order], atol=5e-3)


def test_tracker_smears_with_its_resolution_and_flags_displaced_tracks():
    rng = np.random.default_rng(3)
    n = 200_000
    pt = rng.uniform(1, 50, n)
    eta = rng.uniform(-2.4, 2.4, n)
    radius = np.where(rng.random(n) < 0.1, rng.uniform(3.0, 10.0, n), 0.0)  # 10 % made beyond the first layer
    vertex = (radius, np.zeros(n), np.zeros(n))
    true_ip = (np.zeros(n), np.zeros(n))
    model = TrackerModel()
    out = measure_tracks(np.ones(n), pt, eta, vertex, true_ip, rng, model)
    assert out["has_track"].all()
    pull = out["d0"] / out["d0Err"]
    core = ~out["tail"]
    assert abs(np.std(pull[core]) - 1) < 0.01 and abs(np.std(out["dz"][core] / out["dzErr"][core]) - 1) < 0.01
    assert abs(np.std(pull[out["tail"]]) - model.tail_scale) < 0.2
    assert abs(out["tail"].mean() - model.tail_fraction) < 0.002
    np.testing.assert_allclose(out["d0Err"], model.d0_resolution(pt, eta).astype(np.float32), rtol=1e-6)
    # tracks made beyond a pixel layer miss its hit
    assert np.all(out["lostInnerHits"][radius > 6.8] == 2) and np.all(out["lostInnerHits"][(radius > 2.9)
                                                                                          & (radius < 6.8)] == 1)
    prompt = out["lostInnerHits"][radius == 0]
    assert abs(np.mean(prompt == -1) - 0.85) < 0.01
    assert set(np.unique(out["trkQuality"])) == {1, 5}
    # below 0.5 GeV, beyond |eta| 2.5 or neutral: no track details, as CMS
    low = measure_tracks(np.array([1, 1, 0]), np.array([0.3, 5.0, 5.0]), np.array([0.0, 2.7, 0.0]),
                         (np.zeros(3),) * 3, (np.zeros(3),) * 2, rng, model)
    assert not low["has_track"].any() and np.all(low["d0Err"] == -1) and np.all(low["d0"] == 0)
    # the straight-line impact parameters of a track from a displaced point, CMS's signs
    d0, dz = straight_line_ip(np.array([1.0]), np.array([0.0]), np.array([2.0]), np.array([0.0]), np.array([1.0]),
                              np.array([1.0]))
    assert d0[0] == pytest.approx(-1.0) and dz[0] == pytest.approx(2.0)


def test_vertex_finder_recovers_a_decay_within_its_errors():
    rng = np.random.default_rng(11)
    n_events = 3000
    # one 3-track decay per event at a known point, plus two prompt tracks
    flight = rng.uniform(0.2, 2.0, n_events)
    direction = np.array([0.6, 0.8, 0.0])
    event = np.repeat(np.arange(n_events), 5)
    decay = np.tile([True, True, True, False, False], n_events)
    angles = rng.normal(0, 0.05, (len(event), 2))
    p_dir = direction[None, :] + np.stack([-0.8 * angles[:, 0], 0.6 * angles[:, 0], angles[:, 1]], axis=1)
    p = 10.0 * p_dir
    pt = np.hypot(p[:, 0], p[:, 1])
    vertex = np.where(decay[:, None], flight[event][:, None] * direction[None, :], 0.0)
    energy = np.sqrt((p**2).sum(1) + 0.1396**2)
    d0_true, dz_true = straight_line_ip(*vertex.T, *p.T)
    err = np.full(len(event), 0.002)
    tracks = {"px": p[:, 0], "py": p[:, 1], "pz": p[:, 2], "E": energy, "pt": pt, "eta": np.arcsinh(p[:, 2] / pt),
              "phi": np.arctan2(p[:, 1], p[:, 0]), "d0": d0_true, "dz": dz_true, "d0Err": err, "dzErr": err,
              "vx": vertex[:, 0], "vy": vertex[:, 1], "vz": vertex[:, 2]}
    fields, counts = find_vertices(event, tracks, n_events, rng)
    true = ~fields["is_fake"]
    # found with the model's efficiency (0.75), times the significance cut this flight passes almost always
    assert 0.7 < true.sum() / n_events < 0.8
    assert counts.sum() == len(fields["pt"])
    assert np.all(fields["ntracks"][true] == 3)
    # the invariant mass of the tracks, the flight distance within its error (pulls of unit width)
    pulls = (fields["dlen"][true] - flight[np.repeat(np.arange(n_events), counts)][true]) / (
        fields["dlen"][true] / fields["dlenSig"][true])
    assert abs(np.std(pulls) - 1) < 0.1 and abs(np.mean(pulls)) < 0.1
    # the momentum points away from the primary vertex: NanoAOD's pAngle near pi
    assert np.all(fields["pAngle"][true] > 2.8)


@pytest.fixture(scope="module")
def hbb_and_qcd(tmp_path_factory):
    out = tmp_path_factory.mktemp("hbb")
    run_pythia(out, [BUILTIN["hbb"], BUILTIN["qcd"]], 300, seed=2, pthat_min=300)
    return {name: _padded(build_jet_table(_events(out / f"{name}.root"), name, int(name == "hbb"))[0]) for name in
            ("hbb", "qcd")}


@pytest.mark.slow
def test_hbb_jets_are_displaced_and_have_vertices_light_qcd_jets_do_not(hbb_and_qcd):
    hbb, qcd = hbb_and_qcd["hbb"], hbb_and_qcd["qcd"]
    higgs = hbb["gen_boson_contained"]
    light = qcd["hadron_flavour"] == 0
    assert higgs.sum() >= 100 and light.sum() >= 200
    # the Higgs-matched jets hold its two b hadrons and peak near 125 GeV in softdrop mass
    assert np.mean(hbb["n_b_hadrons"][higgs] >= 2) > 0.9
    assert 110 < np.median(hbb["msd"][higgs]) < 135
    k = track_features.FEATURES.index("btagSip3dSig")

    def median_sip(table, sel):
        return np.median(np.abs(table["tracks"][sel][..., k][table["tracks_mask"][sel]]))

    assert median_sip(hbb, higgs) > 1.3 * median_sip(qcd, light)
    assert hbb["n_vertices"][higgs].mean() > 1.0 > 10 * qcd["n_vertices"][light].mean()
    # vertex masses: charged tracks of a b-hadron decay, below its mass
    m = hbb["vertices"][..., vertex_features.FEATURES.index("mass")][hbb["vertices_mask"]]
    assert np.all(m < B_HADRON_MASS) and np.median(m) > 0.5
    # heavy-flavour QCD (gluon splitting to b and c kept) sits between the two
    heavy = qcd["hadron_flavour"] == 5
    assert heavy.sum() >= 5 and qcd["n_vertices"][heavy].mean() > qcd["n_vertices"][light].mean()


def test_interaction_network_masks_padding_and_ignores_track_order():
    torch.manual_seed(0)
    config = ModelConfig("in", shapes={"tracks": [10, 30], "vertices": [3, 14]})
    model = build_model(config).eval()
    tracks, vertices = torch.randn(4, 10, 30), torch.randn(4, 3, 14)
    tracks[:, 6:] = 0
    vertices[:, 1:] = 0
    out = model(tracks, vertices)
    # the sum over tracks and pairs: the same decision for any order of the tracks
    perm = torch.randperm(10)
    torch.testing.assert_close(model(tracks[:, perm], vertices), out)
    # padded slots give nothing, with biases too: more padding, the same decision
    longer = build_model(ModelConfig("in", shapes={"tracks": [16, 30], "vertices": [5, 14]},
                                     architecture={"biases": True})).eval()
    biased = build_model(ModelConfig("in", shapes={"tracks": [10, 30], "vertices": [3, 14]},
                                     architecture={"biases": True})).eval()
    longer.load_state_dict(biased.state_dict())
    padded_t, padded_v = torch.zeros(4, 16, 30), torch.zeros(4, 5, 14)
    padded_t[:, :10], padded_v[:, :3] = tracks, vertices
    torch.testing.assert_close(longer(padded_t, padded_v), biased(tracks, vertices))
    # a real vertex moves the decision; a track's pair with itself does not exist
    moved = vertices.clone()
    moved[:, 0] += 1
    assert not torch.allclose(model(tracks, moved), out)
    assert sum(p.numel() for p in build_model(ModelConfig("in")).parameters()) > 20_000  # seed sizes: 60, 20, 24


@pytest.mark.slow
def test_hbb_study_config_trains_and_explains_the_interaction_network(tmp_path):
    """The shipped H -> bb study at a tiny size: generation with tracks and vertices, processing, the IN with and
    without XAUG trained and explained, the report written."""
    import json
    from pathlib import Path

    from xaugcol.config_models import read_yaml
    from xaugcol.workflow.config import Workflow
    from xaugcol.workflow.run_workflow import run_workflow

    raw = read_yaml(Path(__file__).resolve().parents[1] / "configs" / "hbb_vs_qcd.yaml", "study config")
    raw["source"].update(events=250, workers=1, pileup_pool=500)
    raw.update(seeds=1, training={**raw["training"], "epochs": 1, "batch_size": 64},
               taggers=raw["taggers"][:2],  # the IN with and without XAUG, robustly scaled
               explain={**raw["explain"], "rules": ["gamma", "gradient_x_input"], "examples": 1, "workers": 1,
                        "executor": "iterative", "faithfulness_steps": 2, "sanity_jets": 5,
                        "occlusion_fraction": 1.0},
               interpret={**raw["interpret"], "prune_below": 0.5, "squeezed": {"width": 8, "de": 4, "do": 4}})
    raw["processing"].update(workers=1, executor="iterative", n_tracks=16)
    out = tmp_path / "study"
    run_workflow(Workflow.from_dict(raw), out)
    for name in ("in", "in_xaug"):
        metrics = json.loads((out / "taggers" / name / "metrics.json").read_text())
        assert metrics["summary"]["auc"]["mean"] > 0.6, name
        member = out / "taggers" / name / "seed_0"
        assert (member / "model.onnx").is_file() and (member / "model.pt").is_file()
    relevance = json.loads((out / "relevance" / "relevance.json").read_text())
    ranked = relevance["relevance"]["in"]["gradient_x_input"]["ranking"]
    assert any(f.startswith("track:") for f in ranked) and any(f.startswith("sv:") for f in ranked)
    # LRP-gamma through the IN conserves: the bias share is the classifier's last bias alone, a few percent
    assert relevance["absorbed_fraction"]["in"]["gamma"] < 0.5
    table = relevance["occlusion"]["in"]
    assert {r["kind"] for r in table["features"]} == {"tracks", "vertices"} and len(table["features"]) == 44
    assert {r["kind"] for r in relevance["occlusion"]["in_xaug"]["features"]} == {"tracks", "vertices", "xaug"}
    naps = relevance["activations"]["in"]
    assert len(naps["layers"]) == 9 and 0 <= naps["sparsity"]["mean"] <= 1
    interpret = json.loads((out / "interpret" / "interpret.json").read_text())
    assert interpret["dropped"] and interpret["kept"]  # the top track features cost more than 0.005 in AUC
    assert set(interpret["runs"]) >= {"reduced_scratch", "reduced_preloaded", "squeezed"}
    assert interpret["runs"]["reduced_preloaded"]["masked"] == interpret["dropped"]
    squeezed = interpret["runs"]["squeezed"]
    assert squeezed["parameters"] < interpret["baseline"]["parameters"] / 5
    assert 0 < interpret["squeezed"]["inference_time_ratio"] and len(interpret["squeezed"]["activations"]["layers"]) == 9
    report = (out / "index.html").read_text()
    assert "Retraining after occlusion" in report and "Feature occlusion" in report
    assert (out / "figures" / "occlusion_in.png").is_file() and (out / "figures" / "activations_in.png").is_file()
    assert (out / "figures" / "activations_in_squeezed.png").is_file()


def test_a_batch_without_events_links_no_btag_variables():
    """A generator batch with no events left (before: a broadcast error that stopped the whole generation)."""
    from xaugcol.sources.pythia_tracks import BTAG_VARIABLES, link_btag_variables

    empty = np.zeros(0)
    measured = {k: empty for k in ("pt", "eta", "phi", "mass", "d0", "dz", "d0Err", "dzErr")}
    measured["has_track"] = np.zeros(0, dtype=bool)
    jets = ak.zip({"pt": ak.Array([[0.0]])[:0], "eta": ak.Array([[0.0]])[:0], "phi": ak.Array([[0.0]])[:0]})
    out = link_btag_variables(measured, ak.Array([[0]])[:0], jets)
    assert set(out) == set(BTAG_VARIABLES) and all(len(v) == 0 for v in out.values())
