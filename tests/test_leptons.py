"""The lepton study's parts: the simplified calorimeter, lepton-anchored EFPs, the lepton table, the calorimeter
taggers under LRP, and the study from Pythia to the methods table."""

from __future__ import annotations

import itertools
import json

import awkward as ak
import numpy as np
import pytest
import torch

from xaugcol.explain.lrp import LRP, Composite, Epsilon
from xaugcol.features.efp.anchored import anchored_efps, anchored_from_name, anchored_graphs
from xaugcol.features.efp.columns import EFPConfig
from xaugcol.features.efp.graphs import n_vertices
from xaugcol.jets.constituents import MissingBranchError
from xaugcol.models.deep_sets import EFN, PFN
from xaugcol.models.taggers import CaloCNN
from xaugcol.processing.lepton_table import AnchoredEFPConfig, LeptonConfig, build_lepton_table
from xaugcol.sources.calorimeter import EM, HAD, CalorimeterModel, deposits, lepton_cells
from xaugcol.sources.nanoaod import write_events

EXACT = CalorimeterModel(em_stochastic=0, em_constant=0, had_stochastic=0, had_constant=0, em_noise=1e-9,
                         had_noise=1e-9, threshold_sigma=0.0, pileup_density=0.0)


def test_calorimeter_conserves_energy_and_shares_by_species():
    """Without resolution and noise, every GeV of E_T lands in one layer: photons all in EM, a hadron split,
    a muon nowhere; the window around the photon holds it all, its hit cell the largest share."""
    rng = np.random.default_rng(3)
    event = np.array([0, 0, 0, 1])
    eta, phi = np.array([0.013, 0.1, -0.05, 1.0]), np.array([0.02, -0.06, 0.1, 2.0])
    et = np.array([10.0, 20.0, 30.0, 5.0])
    cells = deposits(event, eta, phi, et, np.array([22, 211, 13, 130]), rng, EXACT)
    np.testing.assert_allclose(cells["et"].sum(), 35.0, rtol=1e-12)  # the muon deposits nothing
    np.testing.assert_allclose(cells["et"][cells["event"] == 1].sum(), 5.0, rtol=1e-12)
    photon_only = deposits(np.array([0]), eta[:1], phi[:1], et[:1], np.array([22]), rng, EXACT)
    assert set(photon_only["layer"]) == {EM}
    window = lepton_cells(photon_only, np.array([0]), eta[:1], phi[:1], rng, EXACT)
    np.testing.assert_allclose(window["et"].sum(), 10.0, rtol=1e-6)
    hottest = np.argmax(window["et"])
    assert (window["ieta"][hottest], window["iphi"][hottest]) == EXACT.cell_index(eta[:1], phi[:1], EM)
    assert window["et"][hottest] > 0.3 * 10.0
    # the EM window is 32 x 32 cells centred on the lepton's cell, the HAD cells reach 9 x 9 around it
    lep_ieta, lep_iphi = EXACT.cell_index(eta[:1], phi[:1], EM)
    em = window["layer"] == EM
    assert np.all(np.abs(window["ieta"][em] - lep_ieta) <= 16)


def test_noise_and_zero_suppression_follow_the_gaussian_tail():
    """Empty windows: the share of cells kept is the Gaussian tail above 3 sigma, each kept cell above it."""
    model = CalorimeterModel(pileup_density=0.0)
    rng = np.random.default_rng(7)
    n = 400
    empty = {k: np.zeros(0, dtype=np.int64) for k in ("event", "layer", "ieta", "iphi")} | {"et": np.zeros(0)}
    window = lepton_cells(empty, np.arange(n), np.zeros(n), np.zeros(n), rng, model)
    em, had = window["layer"] == EM, window["layer"] == HAD
    assert np.all(window["et"][em] > 3 * model.em_noise) and np.all(window["et"][had] > 3 * model.had_noise)
    n_cells = n * 32 * 32
    tail = 1.3499e-3  # P(N(0, 1) > 3)
    assert abs(em.sum() - tail * n_cells) < 5 * np.sqrt(tail * n_cells)


def _brute_anchored(graph, vertex, z, theta):
    """sum over every assignment of the non-anchored vertices (the anchored one on object 0)."""
    n = n_vertices(graph)
    others = [v for v in range(n) if v != vertex]
    total = np.zeros(len(z))
    for assignment in itertools.product(range(z.shape[1]), repeat=len(others)):
        index = dict(zip(others, assignment))
        index[vertex] = 0
        term = np.prod([z[:, index[v]] for v in others], axis=0) if others else np.ones(len(z))
        for a, b in graph:
            term = term * theta[np.arange(len(z)), index[a], index[b]]
        total += term
    return total


def test_anchored_efps_match_a_brute_force_sum_and_name_each_orbit_once():
    rng = np.random.default_rng(11)
    n_obj = 5
    z = rng.random((3, n_obj))
    z[:, 0] = 0.0  # slot 0: the lepton, weighted only by the anchored vertex
    pos = rng.normal(size=(3, n_obj, 2)) * 0.2
    pos[:, 0] = 0.0
    theta = np.linalg.norm(pos[:, :, None] - pos[:, None, :], axis=-1) ** 0.5
    graphs = anchored_graphs(3)
    values = anchored_efps([(g, v) for g, v, _ in graphs], z, theta)
    for k, (graph, vertex, name) in enumerate(graphs):
        np.testing.assert_allclose(values[:, k], _brute_anchored(graph, vertex, z, theta), rtol=1e-10,
                                   err_msg=name)
        assert anchored_from_name(name) == (graph, vertex)
    # the one-edge graph anchored is the radially weighted isolation sum_j z_j dR_j^beta
    one_edge = [k for k, (g, _, _) in enumerate(graphs) if len(g) == 1]
    assert len(one_edge) == 1  # its two vertices are one orbit
    np.testing.assert_allclose(values[:, one_edge[0]], (z * theta[:, 0, :]).sum(1), rtol=1e-12)
    # the three-vertex chain: its end and its middle are two orbits, so two anchored graphs
    chain = [name for g, _, name in graphs if len(g) == 2 and n_vertices(g) == 3]
    assert len(chain) == 2
    (chain_graph, _), = {(g, 0) for g, _, name in graphs if name == chain[0]}
    degree = np.bincount(np.ravel(chain_graph), minlength=3)
    ends = [v for v in range(3) if degree[v] == 1]
    with pytest.raises(ValueError, match="orbit"):
        anchored_from_name(chain[0].rsplit("_a", 1)[0] + f"_a{max(ends)}")


def test_cell_efps_are_batched_by_the_degree_they_reach():
    """At degree 6-7 a batch's largest factor is leptons x N x N x N: the cells' EFPs are batched within the
    same budget as the jets' (``columns.batches``), not by N x N alone, which put all 300 leptons of 40 cells
    into one batch of 165 MB factors (each fresh memory; the electron paper's EFP space ran 5x slower). The values
    equal the same leptons taken one by one."""
    import tracemalloc

    from xaugcol.features.efp.columns import BATCH_ELEMENTS
    from xaugcol.processing.lepton_table import cell_efps

    rng = np.random.default_rng(5)
    n, per = 300, 40
    owner = np.repeat(np.arange(n), per)
    z, deta, dphi = rng.random(n * per) * 0.1, rng.normal(0, 0.1, n * per), rng.normal(0, 0.1, n * per)
    efp = EFPConfig(degree=6, connected_only=True)
    tracemalloc.start()
    try:
        out = cell_efps(z, deta, dphi, owner, n, efp, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    factor = BATCH_ELEMENTS[3] * 8  # bytes of the largest factor a batch may hold
    assert peak < 6 * factor, peak / 2**20
    few = cell_efps(z[:3 * per], deta[:3 * per], dphi[:3 * per], owner[:3 * per], 3, efp, None)
    for name, values in few.items():
        np.testing.assert_allclose(out[name][:3], values, rtol=1e-12)
    # leptons of different cell counts, their cells in no order (as a table's cells come): each lepton's EFPs are
    # those of its own cells taken alone
    counts = rng.integers(1, 30, 40)
    owner = rng.permutation(np.repeat(np.arange(40), counts))
    z, deta, dphi = rng.random(len(owner)) * 0.1, rng.normal(0, 0.1, len(owner)), rng.normal(0, 0.1, len(owner))
    efp = EFPConfig(degree=3)
    out = cell_efps(z, deta, dphi, owner, 40, efp, AnchoredEFPConfig(degree=2))
    for lepton in (0, 17, 39):
        mine = owner == lepton
        alone = cell_efps(z[mine], deta[mine], dphi[mine], np.zeros(mine.sum(), dtype=np.int64), 1, efp,
                          AnchoredEFPConfig(degree=2))
        for name, values in alone.items():
            np.testing.assert_allclose(out[name][lepton], values[0], rtol=1e-12, err_msg=name)


def _lepton_file(path, cells, leptons, pf=None):
    """One event per lepton list: ``leptons`` [(pt, eta, phi)], ``cells`` [(lepton, layer, ieta, iphi, et)]."""
    model = CalorimeterModel()
    lep = np.array(leptons, dtype=float)
    l_ieta, l_iphi = model.cell_index(lep[:, 1], lep[:, 2], EM)
    c = np.array(cells, dtype=float).reshape(-1, 5)
    layer = c[:, 1].astype(int)
    eta, phi = np.empty(len(c)), np.empty(len(c))
    for lay in (EM, HAD):
        sel = layer == lay
        eta[sel], phi[sel] = model.cell_centre(c[sel, 2].astype(int), c[sel, 3].astype(int), lay)
    one = lambda fields: ak.unflatten(ak.zip({k: np.asarray(v) for k, v in fields.items()}), [len(next(iter(fields.values())))])  # noqa: E731
    pf = pf or [(1.0, lep[0, 1] + 0.1, lep[0, 2], 1)]
    pf = np.array(pf, dtype=float)
    branches = {
        "run": np.ones(1, dtype=np.uint32), "luminosityBlock": np.ones(1, dtype=np.uint32),
        "event": np.ones(1, dtype=np.uint64), "genWeight": np.ones(1, dtype=np.float32),
        "Lepton": one({"pt": lep[:, 0].astype(np.float32), "eta": lep[:, 1].astype(np.float32),
                       "phi": lep[:, 2].astype(np.float32), "pdgId": np.full(len(lep), 13, dtype=np.int32),
                       "genPartFlav": np.ones(len(lep), dtype=np.int32),
                       "cellIEta": l_ieta.astype(np.int32), "cellIPhi": l_iphi.astype(np.int32)}),
        "LeptonCell": one({"leptonIdx": c[:, 0].astype(np.int32), "layer": layer.astype(np.int32),
                           "ieta": c[:, 2].astype(np.int32), "iphi": c[:, 3].astype(np.int32),
                           "eta": eta.astype(np.float32), "phi": phi.astype(np.float32),
                           "et": c[:, 4].astype(np.float32)}),
        "LeptonPFCands": one({"leptonIdx": np.zeros(len(pf), dtype=np.int32),
                              "pFCandsIdx": np.arange(len(pf), dtype=np.int32)}),
        "PFCands": one({"pt": pf[:, 0].astype(np.float32), "eta": pf[:, 1].astype(np.float32),
                        "phi": pf[:, 2].astype(np.float32), "charge": pf[:, 3].astype(np.int32)}),
    }
    write_events(path, [branches])
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()


def test_lepton_table_isolation_image_and_shower_shapes(tmp_path):
    """A 40 GeV muon with a central EM cell (4 GeV), a cell two cells away in eta (2 GeV) and a HAD cell (8 GeV)
    around it: the cones grow with R as the cells enter, the image holds each cell where it lies (the HAD cell over
    its 4 x 4 EM cells), the shower shapes follow from their definitions."""
    model = CalorimeterModel()
    lep = (40.0, 0.0127, 0.0123)
    ie, ip = (int(x[0]) for x in model.cell_index(np.array([lep[1]]), np.array([lep[2]]), EM))
    he, hp = ie // 4, ip // 4
    events = _lepton_file(tmp_path / "mu.root", [(0, EM, ie, ip, 4.0), (0, EM, ie + 2, ip, 2.0),
                                                 (0, HAD, he + 1, hp, 8.0)], [lep])
    config = LeptonConfig(anchored_efp=AnchoredEFPConfig(degree=1, kappas=(1.0,), betas=(1.0,)))
    table, counts, _ = build_lepton_table(events, "mu", 1, config)
    assert counts["jets_kept"] == 1
    iso = [table[f"iso_{r}"][0] for r in ("0p05", "0p1", "0p15", "0p2", "0p25", "0p3", "0p35", "0p4")]
    assert all(a <= b for a, b in zip(iso, iso[1:]))
    np.testing.assert_allclose(iso[-1], 14.0 / 40.0, rtol=1e-6)
    np.testing.assert_allclose(table["pt_sum"][0], 14.0 / 40.0, rtol=1e-6)
    image = table["calo"][0]
    assert image.shape == (2, 32, 32)
    np.testing.assert_allclose(image[0, 16, 16], 4.0 / 40, rtol=1e-6)
    np.testing.assert_allclose(image[0, 18, 16], 2.0 / 40, rtol=1e-6)
    np.testing.assert_allclose(image[1].sum(), 8.0 / 40, rtol=1e-6)
    assert np.count_nonzero(image[1]) == 16
    np.testing.assert_allclose(table["r_had"][0], 8.0 / 6.0, rtol=1e-6)
    np.testing.assert_allclose(table["r_phi"][0], 1.0)  # 3 x 3 and 3 x 7 hold the same (central) cell
    np.testing.assert_allclose(table["r_eta"][0], 4.0 / 6.0, rtol=1e-6)  # 7 x 7 also holds the cell at +2
    # w_eta2 over 3 x 5 holds one cell: no width; sigma_eta_eta over 5 x 5 sees both cells
    assert table["w_eta2"][0] == 0.0 and table["sigma_eta_eta"][0] > 0
    assert table["track_iso"][0] == pytest.approx(1.0 / 40.0)
    # the anchored one-edge EFP: sum z_j dR(lepton, j)
    eta_c, phi_c = model.cell_centre(np.array([ie, ie + 2]), np.array([ip, ip]), EM)
    had_eta, had_phi = model.cell_centre(np.array([he + 1]), np.array([hp]), HAD)
    dr = np.hypot(np.r_[eta_c, had_eta] - lep[1], np.r_[phi_c, had_phi] - lep[2])
    np.testing.assert_allclose(table["efpl_n2_d1_k0_a0_kappa1_beta1"][0],
                               (np.array([4.0, 2.0, 8.0]) / 40 * dr).sum(), rtol=1e-5)
    assert table["cells_mask"][0].sum() == 3
    np.testing.assert_allclose(table["cells"][0, 0, 0], 8.0 / 40, rtol=1e-6)  # hardest first


def test_loose_electron_preselection_cuts_on_em_fraction_and_h_over_e():
    """CMS's loose H/E < 0.15 within Delta R < 0.1, and EM E_T there at least half the track pT: an electron-like
    deposit passes, a hadron leaving a fifth of its energy in HAD fails, as does a track with little EM behind it;
    energy beyond 0.1 does not count."""
    from xaugcol.sources.pythia_leptons import LeptonSelection, _electron_preselection

    # four candidates of pT 20 at eta = 0, 0.5, 1, 1.5 (phi 0), each with one EM and one HAD cell near it
    lepton = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3])
    eta = np.array([0.0, 0.02, 0.5, 0.52, 1.0, 1.02, 1.5, 1.52, 1.7])
    layer = np.array([EM, HAD, EM, HAD, EM, HAD, EM, HAD, HAD])
    et = np.array([20.0, 2.0, 20.0, 4.0, 8.0, 0.5, 20.0, 0.5, 30.0])  # the last HAD cell lies 0.2 away
    window = {"lepton": lepton, "eta": eta, "phi": np.zeros_like(eta), "layer": layer, "et": et}
    passed = _electron_preselection(window, np.array([0.0, 0.5, 1.0, 1.5]), np.zeros(4), np.full(4, 20.0),
                                    LeptonSelection())
    assert passed.tolist() == [True, False, False, True]


def test_lepton_table_refuses_and_counts_bad_input(tmp_path):
    model = CalorimeterModel()
    ie, ip = (int(x[0]) for x in model.cell_index(np.array([0.0]), np.array([0.0]), EM))
    events = _lepton_file(tmp_path / "nan.root", [(0, EM, ie, ip, np.nan)], [(30.0, 0.0, 0.0)])
    table, counts, _ = build_lepton_table(events, "mu", 0, LeptonConfig())
    assert counts["skipped_nonfinite_input"] == 1 and counts["jets_kept"] == 0 and len(table["label"]) == 0
    events = _lepton_file(tmp_path / "ok.root", [(0, EM, ie, ip, 1.0)], [(30.0, 0.0, 0.0)])
    bad = events
    bad["LeptonCell"] = ak.without_field(events.LeptonCell, "et")
    with pytest.raises(MissingBranchError, match="LeptonCell_et"):
        build_lepton_table(bad, "mu", 0, LeptonConfig())
    with pytest.raises(ValueError, match="cone_radii"):
        LeptonConfig(cone_radii=(0.1, 0.5))
    with pytest.raises(ValueError, match="unknown field"):
        LeptonConfig.model_validate({"n_cell": 3})


@pytest.mark.parametrize("model_class", [EFN, PFN, CaloCNN])
def test_calorimeter_taggers_conserve_under_lrp(model_class):
    """Bias-free, each tagger's inputs hold its logit (less the last bias) under the epsilon rule; padded cells get
    none."""
    torch.manual_seed(2)
    if model_class is CaloCNN:
        model = CaloCNN(n_pixels=8, channels=[4, 4], hidden=[8]).double().eval()
        x = torch.rand(4, 2, 8, 8, dtype=torch.double) * (torch.rand(4, 2, 8, 8, dtype=torch.double) > 0.7)
    else:
        options = {"biases": False} if model_class is EFN else {}
        model = model_class(n_cells=6, width=8, latent=4, depth=2, hidden=[8], **options).double().eval()
        x = torch.rand(4, 6, 5, dtype=torch.double)
        x[:, :, 1:3] -= 0.5
        x[1, 3:] = 0.0  # padding
    cons = LRP(model, Composite(default=Epsilon(1e-12), stabiliser=1e-12))(x)
    torch.testing.assert_close(cons.conservation.input_total + cons.conservation.bias, cons.output, rtol=1e-6,
                               atol=1e-9)
    if model_class is not CaloCNN:
        assert float(cons.relevance[0][1, 3:].abs().sum()) == 0.0
        assert float(cons.relevance[0].abs().sum()) > 0


def test_efn_is_linear_in_the_cell_energies():
    """The EFN's latent sum is linear in z: doubling every energy doubles it; splitting a cell into two at the
    same place changes nothing (IRC safety)."""
    torch.manual_seed(5)
    model = EFN(n_cells=4, width=8, latent=4, depth=2, hidden=[4]).double().eval()
    x = torch.zeros(1, 4, 5, dtype=torch.double)
    x[0, 0] = torch.tensor([0.4, 0.1, -0.05, 0.0, 0.11])
    x[0, 1] = torch.tensor([0.2, -0.2, 0.1, 1.0, 0.22])
    split = x.clone()
    split[0, 0, 0] = 0.1
    split[0, 2] = x[0, 0]
    split[0, 2, 0] = 0.3
    torch.testing.assert_close(model.features(split), model.features(x))
    double = x.clone()
    double[:, :, 0] *= 2
    torch.testing.assert_close(model.features(double), 2 * model.features(x))


STUDY = """
name: lepton study test
source: {{kind: pythia, processes: [prompt_mu_wz, nonprompt_mu_forced], events: {events}, seed: 3, workers: 1,
         pthat_min: 30}}
processing: {{chunksize: 500, executor: iterative, efp: {{degree: 2, kappas: [0, 1], betas: [1]}},
             lepton: {{n_cells: 16, anchored_efp: {{degree: 2, kappas: [1], betas: [0.5, 1]}}}}}}
seeds: 2
training: {{epochs: 1, batch_size: 64, match_pt: true}}
taggers:
  - {{model: dnn, xaug: true, xaug_columns: [iso_0p1, iso_0p2, iso_0p4]}}
  - {{model: calo_cnn, architecture: {{channels: [4, 4], hidden: [8]}}}}
  - {{model: efn, architecture: {{width: 8, latent: 4, depth: 2, hidden: [8]}}}}
  - {{model: pfn, architecture: {{width: 8, latent: 4, depth: 2, hidden: [8]}}}}
explain: {{rules: [epsilon], split: test, examples: 1, faithfulness_steps: 0, sanity_jets: 0, occlusion_fraction: 0,
          activations: false}}
mapping: {{black_box: calo_cnn, base: [iso_0p4], steps: 1, candidates: [efp, anchored]}}
reduced: null
figures: {{pdf: false}}
"""


def test_muon_study_from_pythia_to_the_methods_table(tmp_path):
    """Pythia prompt and non-prompt muons through the whole study: a lepton table with every observable, the four
    taggers trained and explained (the CNN's relevance drawn on the cells), the guided search and the methods
    table against the CNN."""
    from xaugcol.workflow.config import Workflow
    from xaugcol.workflow.run_workflow import run_workflow

    config = tmp_path / "muons.yaml"
    config.write_text(STUDY.format(events=120))
    out = tmp_path / "out"
    run_workflow(Workflow.load(config), out, progress=False)
    import pyarrow.parquet as pq

    tables = sorted((out / "processed" / "jets").glob("**/*.parquet"))
    table = pq.read_table(tables[0]).to_pydict()
    for column in ("iso_0p05", "iso_0p4", "pt_sum", "r_had", "mass", "efp_n2_d1_k0_kappa1_beta1",
                   "efpl_n2_d1_k0_a0_kappa1_beta0p5", "calo", "cells"):
        assert column in table
    # prompt muons are more isolated than non-prompt ones (the physics the study rests on)
    iso, weights = {label: [] for label in (0, 1)}, []
    for path in tables:
        t = pq.read_table(path, columns=["label", "iso_0p4", "weight"]).to_pydict()
        for label, value in zip(t["label"], t["iso_0p4"]):
            iso[label].append(value)
        weights += t["weight"]
    assert np.median(iso[1]) < np.median(iso[0])
    # the histograms use the lepton binning: every lepton (pT 20-100 GeV) lands inside the pT axis, and the axis
    # resolves that range (the jets' 25 GeV bins would put it into 4 bins)
    import uproot

    with uproot.open(out / "processed" / "histograms.root") as f:
        pt = [h.values(flow=False) for h in f["pt"].values()]
    assert float(sum(v.sum() for v in pt)) == pytest.approx(sum(weights), rel=1e-9) and len(weights) > 0
    assert int((sum(pt) > 0).sum()) >= 10
    methods = json.loads((out / "mapping" / "methods.json").read_text())
    names = {r["method"] for r in methods["rows"]}
    assert {"dnn", "efn", "pfn"} <= names and any(n.endswith("iso_0p4") for n in names)
    for r in methods["rows"]:
        assert 0.0 <= r["auc"]["mean"] <= 1.0 and 0.0 <= r["ado_black_box"] <= 1.0
    guided = json.loads((out / "mapping" / "guided.json").read_text())
    assert guided["rows"][0]["columns"] == ["iso_0p4"]
    expected = len(EFPConfig(degree=2, kappas=(0.0, 1.0), betas=(1.0,)).columns()) + len(
        AnchoredEFPConfig(degree=2, kappas=(1.0,), betas=(0.5, 1.0)).columns())
    assert guided["candidates"] == expected == 9 + 8  # EFPs (the edgeless graph at kappa 0) and anchored ones
    assert (out / "figures" / "heatmap_calo_cnn_epsilon.png").exists()
    assert "Every method against the black box" in (out / "index.html").read_text()
