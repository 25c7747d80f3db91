"""The lepton samples' detector: the solenoid's bend against the equation of motion, the pile-up overlay's
statistics and its pool's integrity, and the processes' own defaults (the muon paper's kinematics)."""

from __future__ import annotations

import numpy as np
import pytest

from xaugcol.sources.calorimeter import EM, CalorimeterModel, deposits, lepton_cells
from xaugcol.sources.pileup import (PileupError, PileupPool, PileupSettings, draw_overlay, ensure_pool,
                                    generate_pool, load_pool, pool_paths)
from xaugcol.sources.solenoid import GEV_PER_TESLA_METRE, Solenoid, calorimeter_impact

CMS = Solenoid()


def _integrate(charge, pt, eta, phi, z0, solenoid: Solenoid, step=2e-4):
    """Step a charged particle through the uniform field (the velocity rotated about z by the exact angle of each
    step) until it reaches the barrel or an end cap: (eta, phi) of the impact seen from the origin."""
    omega = -charge * GEV_PER_TESLA_METRE * solenoid.field_tesla / pt  # turning per metre of transverse path
    x = y = 0.0
    z = z0
    direction = phi
    for _ in range(200_000):
        x += step * np.cos(direction)
        y += step * np.sin(direction)
        z += step * np.sinh(eta)
        direction += omega * step
        if np.hypot(x, y) >= solenoid.radius_m or abs(z) >= solenoid.endcap_z_m:
            break
    return np.arcsinh(z / np.hypot(x, y)), np.arctan2(y, x)


@pytest.mark.parametrize("charge,pt,eta,z0", [(1, 10.0, 0.0, 0.0), (-1, 3.0, 0.7, 0.02), (1, 0.9, -1.2, -0.05),
                                               (-1, 1.5, 2.2, 0.0), (1, 0.6, 2.3, 0.0)])
def test_the_bend_matches_the_equation_of_motion(charge, pt, eta, z0):
    """Barrel and end-cap impacts, soft and hard, both charges: the closed form agrees with stepping the motion."""
    want = _integrate(charge, pt, eta, 0.4, z0, CMS)
    got = calorimeter_impact([charge], [pt], [eta], [0.4], z0, CMS)
    assert got[0][0] == pytest.approx(want[0], abs=2e-3)
    assert got[1][0] == pytest.approx(want[1], abs=2e-3)


def test_the_bend_formula_and_the_curling_threshold():
    """At the barrel the azimuth turns by -q asin(0.3 B R / 2 pT); below 0.735 GeV a central particle never
    arrives; neutral particles and a field-free detector keep their direction."""
    pt = np.array([1.0, 5.0, 40.0])
    _, phi = calorimeter_impact(np.ones(3), pt, np.zeros(3), np.zeros(3), 0.0, CMS)
    np.testing.assert_allclose(phi, -np.arcsin(GEV_PER_TESLA_METRE * 3.8 * 1.29 / (2 * pt)), rtol=1e-12)
    np.testing.assert_allclose(CMS.bend([1, 1, 1], pt), phi, rtol=1e-12)
    assert CMS.curl_pt() == pytest.approx(0.735, abs=1e-3)
    eta, _ = calorimeter_impact([1, 1], [0.73, 0.74], [0.0, 0.0], [0.0, 0.0], 0.0, CMS)
    assert np.isinf(eta[0]) and np.isfinite(eta[1])
    eta, phi = calorimeter_impact([0, 1], [0.3, 0.3], [0.5, 0.5], [1.0, 1.0], 0.0, Solenoid(field_tesla=0))
    np.testing.assert_allclose(eta, 0.5, rtol=1e-12)
    np.testing.assert_allclose(phi, 1.0, rtol=1e-12)
    # a displaced vertex shifts a straight particle's impact: z = z0 + R sinh(eta) at the barrel
    eta, _ = calorimeter_impact([0], [5.0], [0.3], [0.0], 0.05, CMS)
    assert eta[0] == pytest.approx(np.arcsinh((0.05 + 1.29 * np.sinh(0.3)) / 1.29), rel=1e-12)


def _toy_pool(n=300, per=40, seed=0) -> PileupPool:
    rng = np.random.default_rng(seed)
    counts = rng.integers(per // 2, per * 3 // 2, n)
    total = int(counts.sum())
    return PileupPool(offsets=np.concatenate([[0], np.cumsum(counts)]), pt=rng.exponential(0.6, total) + 0.1,
                      eta=rng.uniform(-3, 3, total), phi=rng.uniform(-np.pi, np.pi, total), mass=np.zeros(total),
                      pdg_id=np.where(rng.random(total) < 0.4, 22, 211), charge=np.where(rng.random(total) < 0.4, 0, 1),
                      vx=np.zeros(total), vy=np.zeros(total), vz=np.zeros(total))


def test_the_overlay_follows_poisson_and_places_each_interaction_on_its_own_vertex():
    pool = _toy_pool()
    rng = np.random.default_rng(5)
    overlay = draw_overlay(pool, 4000, PileupSettings(mu=20), rng)
    n_pu = overlay.n_pu
    # Poisson(20): mean and variance 20 (standard errors over 4000 events: 0.07 and 0.45)
    assert n_pu.mean() == pytest.approx(20, abs=0.3)
    assert n_pu.var() == pytest.approx(20, abs=2.0)
    # every event holds exactly the particles of its interactions
    per_event = np.bincount(overlay.event, minlength=4000)
    assert per_event.sum() == len(overlay.pt) and per_event[n_pu == 0].sum() == 0
    # random rotations and reflections: azimuth and eta symmetric whatever the pool's
    assert abs(np.mean(np.cos(overlay.phi))) < 0.01 and abs(np.mean(overlay.eta)) < 0.02
    # vertex z relative to the hard vertex: Normal(0, sqrt(2) x 3.5 cm), one value per interaction
    assert np.std(overlay.vz) == pytest.approx(np.sqrt(2) * 3.5, rel=0.03)
    # expanding only some events' interactions gives those events exactly the particles of the full draw
    full = draw_overlay(pool, 50, PileupSettings(mu=20), np.random.default_rng(8))
    some = draw_overlay(pool, 50, PileupSettings(mu=20), np.random.default_rng(8), events=np.array([3, 17, 40]))
    mine = np.isin(full.event, [3, 17, 40])
    np.testing.assert_array_equal(some.n_pu, full.n_pu)
    for field in ("event", "pt", "eta", "phi", "vz"):
        np.testing.assert_array_equal(getattr(some, field), getattr(full, field)[mine])
    none = draw_overlay(pool, 100, PileupSettings(mu=0), rng)
    assert len(none.pt) == 0 and not none.n_pu.any()


def test_cone_energy_from_pile_up_alone_grows_linearly_with_mu():
    """Minimum bias from Pythia overlaid around empty leptons, through the field and an exact calorimeter: the
    E_T in the R = 0.4 cone is proportional to mu."""
    pool = generate_pool(PileupSettings(pool_size=300), seed=3, ecm=13000.0)
    exact = CalorimeterModel(em_stochastic=0, em_constant=0, had_stochastic=0, had_constant=0, em_noise=1e-9,
                             had_noise=1e-9, threshold_sigma=0.0, pileup_density=0.0)
    n_leptons = 300
    cone = {}
    for mu in (10.0, 20.0, 40.0):
        rng = np.random.default_rng(11)
        overlay = draw_overlay(pool, n_leptons, PileupSettings(mu=mu), rng)
        eta, phi = calorimeter_impact(overlay.charge, overlay.pt, overlay.eta, overlay.phi, overlay.vz / 100, CMS)
        cells = deposits(overlay.event, eta, phi, overlay.pt, overlay.pdg_id, rng, exact)
        window = lepton_cells(cells, np.arange(n_leptons), np.zeros(n_leptons), np.zeros(n_leptons), rng, exact)
        inside = np.hypot(window["eta"], window["phi"]) < 0.4
        cone[mu] = window["et"][inside].sum() / n_leptons
    assert cone[20.0] / cone[10.0] == pytest.approx(2.0, rel=0.08)
    assert cone[40.0] / cone[10.0] == pytest.approx(4.0, rel=0.08)
    # about 1.35 GeV per interaction per unit area from Pythia, a quarter of it lost to the field: 0.5 x pi x 0.16
    per_interaction = cone[40.0] / 40 / (np.pi * 0.16)
    assert 0.6 < per_interaction < 1.4


def test_the_pool_is_reused_only_when_it_provably_matches(tmp_path):
    settings = PileupSettings(mu=50, pool_size=40)
    said = []
    path, digest = ensure_pool(tmp_path, settings, seed=1, ecm=13000.0, say=said.append)
    assert not said and load_pool(path, digest).size == 40
    stamp = path.stat().st_mtime_ns
    # same settings (mu is not part of the pool): reused as is
    assert ensure_pool(tmp_path, PileupSettings(mu=20, pool_size=40), 1, 13000.0, say=said.append) == (path, digest)
    assert path.stat().st_mtime_ns == stamp and not said
    # other settings: made again, and said
    path2, digest2 = ensure_pool(tmp_path, PileupSettings(mu=50, pool_size=41), 1, 13000.0, say=said.append)
    assert digest2 != digest and "other settings" in said[-1] and load_pool(path2, digest2).size == 41
    # a truncated pool: made again
    data = path2.read_bytes()
    path2.write_bytes(data[: len(data) // 2])
    path3, digest3 = ensure_pool(tmp_path, PileupSettings(mu=50, pool_size=41), 1, 13000.0, say=said.append)
    assert "from its record" in said[-1] and digest3 == digest2  # the same seed makes the same pool
    # a pool changed after the run checked it: refused by the workers, naming the file
    path3.write_bytes(data[: len(data) // 2])
    with pytest.raises(PileupError, match="pool.npz: changed since"):
        load_pool(path3, digest3)
    # a huge (sparse) file in its place is judged by its size, never hashed through
    import os
    import time

    ensure_pool(tmp_path, PileupSettings(mu=50, pool_size=41), 1, 13000.0, say=said.append)
    os.truncate(path3, 3 << 30)  # sparse: above any pool (2 GiB), no disk used
    started = time.perf_counter()
    with pytest.raises(PileupError, match="more than any pool"):
        load_pool(path3, digest3)
    ensure_pool(tmp_path, PileupSettings(mu=50, pool_size=41), 1, 13000.0, say=said.append)
    assert "size differs" in said[-1] and time.perf_counter() - started < 10 and path3.stat().st_size < 1 << 20


def test_a_pool_holding_objects_is_refused_without_running_them(tmp_path):
    """Arrays only: a pool whose arrays are Python objects (a pickle) is refused, never unpickled."""
    path, _ = pool_paths(tmp_path)
    path.parent.mkdir()
    np.savez(path, offsets=np.array([0, 1]), pt=np.array([object()], dtype=object))
    import hashlib

    with pytest.raises(PileupError, match="unreadable"):
        load_pool(path, hashlib.sha256(path.read_bytes()).hexdigest())


def test_settings_of_the_overlay_are_checked():
    with pytest.raises(ValueError):
        PileupSettings(mu=-1)
    with pytest.raises(ValueError):
        PileupSettings(mu=401)
    with pytest.raises(ValueError):
        PileupSettings(pool_size=0)


def test_process_defaults_and_card_checks(tmp_path):
    from xaugcol.sources.process_card import load_processes
    from xaugcol.sources.processes import BUILTIN

    mu, nonprompt = BUILTIN["prompt_mu"], BUILTIN["nonprompt_mu"]
    assert mu.lepton_pt == nonprompt.lepton_pt == (10.0, 20.0)
    assert mu.pileup == nonprompt.pileup == 50.0 and mu.solenoid_tesla == 3.8
    assert nonprompt.forced_b_decays == 0 and nonprompt.default_pthat_min() == 10.0
    assert BUILTIN["qcd"].default_pthat_min() == 200.0  # jets keep the boosted default
    forced = BUILTIN["nonprompt_mu_forced"]
    assert "511:onIfAny = 13" in forced.all_settings() and forced.flat_pileup == 25.0
    card = tmp_path / "card.yaml"
    card.write_text("mine: {label: 0, lepton: 13, lepton_origin: hadron, settings: ['HardQCD:hardbbbar = on', "
                    "'511:onMode = off'], forced_b_decays: 13}\n")
    with pytest.raises(ValueError, match="forced_b_decays.*511:onMode"):
        load_processes(card)
    card.write_text("mine: {label: 0, lepton: 13, lepton_origin: hadron, settings: ['HardQCD:hardbbbar = on'], "
                    "pileup: -3}\n")
    with pytest.raises(ValueError, match="pileup"):
        load_processes(card)
    card.write_text("mine: {label: 0, lepton: 13, lepton_origin: hadron, settings: ['HardQCD:hardbbbar = on'], "
                    "lepton_pt: [20, 10]}\n")
    with pytest.raises(ValueError, match="lepton_pt"):
        load_processes(card)
    card.write_text("mine: {label: 0, lepton: 13, lepton_origin: hadron, settings: ['HardQCD:hardbbbar = on'], "
                    "lepton_pt: [5, 15], pileup: 30, solenoid_tesla: 2, pthat_min: 7}\n")
    mine = load_processes(card)["mine"]
    assert (mine.lepton_pt, mine.pileup, mine.solenoid_tesla, mine.default_pthat_min()) == ((5.0, 15.0), 30.0, 2.0, 7.0)


def test_prompt_muons_at_the_defaults_have_the_papers_kinematics(tmp_path):
    """gamma*/Z of 19-21 GeV -> mu mu, muons of 10-20 GeV, Poisson(50) pile-up recorded as NanoAOD does, the
    window and cones centred on the bent muon's impact; without --pthat-min the b bbar sample starts at 10 GeV."""
    import awkward as ak
    import uproot

    from xaugcol.sources.processes import BUILTIN
    from xaugcol.sources.pythia import run_pythia

    fileset = run_pythia(tmp_path, [BUILTIN["prompt_mu"]], 60, seed=4,
                         pileup=PileupSettings(mu=50, pool_size=150))
    meta = fileset["prompt_mu"]["metadata"]
    assert meta["pileup_mu"] == 50 and meta["solenoid_tesla"] == 3.8 and meta["lepton_selection"]["pt_min"] == 10
    with uproot.open(tmp_path / "prompt_mu.root") as f:
        ev = f["Events"].arrays(["Pileup_nPU", "Pileup_nTrueInt", "Lepton_pt", "Lepton_eta", "Lepton_phi",
                                 "Lepton_charge", "Lepton_caloPhi", "PFCands_fromPileup", "fixedGridRhoFastjetAll"])
    pt = ak.flatten(ev.Lepton_pt).to_numpy()
    assert len(pt) >= 60 and pt.min() >= 10 and pt.max() <= 20
    assert np.all(ev.Pileup_nTrueInt == 50) and 40 < ak.mean(ev.Pileup_nPU) < 60
    assert ak.sum(ev.PFCands_fromPileup) > 0
    # the pile-up density grows with the interactions: about 1.4 GeV per unit area per interaction (generator level)
    rho, n_pu = ev.fixedGridRhoFastjetAll.to_numpy(), ev.Pileup_nPU.to_numpy()
    assert 50 < np.median(rho) < 90 and np.corrcoef(rho, n_pu)[0, 1] > 0.5
    # the impact azimuth is the direction bent by -q asin(0.3 B R / 2 pT) (endcap muons bend less)
    charge = ak.flatten(ev.Lepton_charge).to_numpy()
    turn = np.mod(ak.flatten(ev.Lepton_caloPhi).to_numpy() - ak.flatten(ev.Lepton_phi).to_numpy() + np.pi,
                  2 * np.pi) - np.pi
    barrel = np.abs(ak.flatten(ev.Lepton_eta).to_numpy()) < 1.0
    np.testing.assert_allclose(turn[barrel], CMS.bend(charge[barrel], pt[barrel]), atol=1e-5)
    # pairs of muons (both in the window: a few per cent of events, 3 with this seed): the gamma*/Z mass window
    # (final-state radiation only lowers it)
    two = ak.num(ev.Lepton_pt) == 2
    mu = ev[two]
    import vector

    p4 = vector.zip({"pt": mu.Lepton_pt, "eta": mu.Lepton_eta, "phi": mu.Lepton_phi,
                     "mass": 0.1057 * ak.ones_like(mu.Lepton_pt)})
    mass = (p4[:, 0] + p4[:, 1]).mass.to_numpy()
    assert len(mass) >= 3 and np.all(mass < 21.01) and np.median(mass) > 18.5


def _single_particles(model: CalorimeterModel, pdg_id: int, n: int = 3000, seed: int = 1):
    """Isolated particles of pT 30 GeV over the barrel through the calorimeter (noise on, no pile-up): whether each
    passes the loose electron preselection, and its E(3 x 3) / E(7 x 7) in the EM layer."""
    from xaugcol.sources.pythia_leptons import LeptonSelection, _electron_preselection

    rng = np.random.default_rng(seed)
    eta, phi, pt = rng.uniform(-1.4, 1.4, n), rng.uniform(-np.pi, np.pi, n), np.full(n, 30.0)
    cells = deposits(np.arange(n), eta, phi, pt, np.full(n, pdg_id), rng, model, charge=np.ones(n))
    window = lepton_cells(cells, np.arange(n), eta, phi, rng, model)
    passed = _electron_preselection(window, eta, phi, pt, LeptonSelection())
    lep, em = window["lepton"], window["layer"] == EM
    d_eta = window["ieta"] - window["lepton_ieta"][lep]
    d_phi = (window["iphi"] - window["lepton_iphi"][lep] + 128) % 256 - 128

    def block(k):
        inside = em & (np.abs(d_eta) <= k) & (np.abs(d_phi) <= k)
        return np.bincount(lep[inside], weights=window["et"][inside], minlength=n)

    return passed, np.divide(block(1), block(3), out=np.zeros(n), where=block(3) > 0)


def test_hadron_showers_rarely_fake_an_electron_and_look_wider():
    """Isolated 30 GeV pi+: the first samples' uniform EM fraction let 17.7 % through the loose electron
    preselection, with an electron's profile; the parametrised showers let a few per cent through, and those are
    wider than electrons (E3x3 / E7x7)."""
    uniform = CalorimeterModel(pileup_density=0.0)
    parametrised = CalorimeterModel(pileup_density=0.0, hadron_showers="parametrised")
    passed, _ = _single_particles(uniform, 211)
    assert passed.mean() == pytest.approx(0.177, abs=0.02)
    passed, pion_ratio = _single_particles(parametrised, 211)
    assert 0.01 < passed.mean() < 0.08
    electron_passed, electron_ratio = _single_particles(parametrised, 11)
    assert electron_passed.mean() > 0.99 and np.median(electron_ratio) > 0.99
    assert np.median(pion_ratio[passed]) < 0.97 and np.quantile(pion_ratio[passed], 0.1) < 0.9


def test_hadron_shares_follow_the_interaction_length_and_groom():
    """The share model's pieces: a hadron crosses 1.13 lambda_I without interacting with probability exp(-1.13)
    and then leaves only the MIP signal; the mean EM fraction of an early shower approaches Groom's 1 - E^-0.18."""
    from xaugcol.sources.calorimeter import hadron_shares

    model = CalorimeterModel(hadron_showers="parametrised")
    n = 40_000
    rng = np.random.default_rng(2)
    core, halo = hadron_shares(np.full(n, 211), np.ones(n), np.full(n, 30.0), rng, model)
    crossed = halo == 0
    assert crossed.mean() == pytest.approx(np.exp(-1.13), abs=0.01)
    np.testing.assert_allclose(core[crossed], 0.23 / 30.0)
    assert np.all(core + halo <= 1.0) and np.all(core >= 0) and np.all(halo >= 0)
    neutral, neutral_halo = hadron_shares(np.full(1000, 130), np.zeros(1000), np.full(1000, 30.0), rng, model)
    assert np.all(neutral[neutral_halo == 0] == 0) and (neutral_halo == 0).sum() > 200  # no MIP signal when neutral
    photon, photon_halo = hadron_shares(np.array([22, 11, 13]), np.array([0, 1, 1]), np.full(3, 30.0), rng, model)
    assert photon[0] == photon[1] == 1.0 and photon_halo[0] == 0 and np.isnan(photon[2])
    # an ECAL deep enough to contain the EM component and none of the hadronic one: core = f_em, Groom's mean
    deep = CalorimeterModel(hadron_showers="parametrised", ecal_interaction_lengths=30.0, em_component_length=1e-3,
                            had_component_length=1e6)
    core, _ = hadron_shares(np.full(n, 211), np.ones(n), np.full(n, 30.0), np.random.default_rng(3), deep)
    assert core.mean() == pytest.approx(1 - 30.0 ** -0.18, abs=0.01)


def test_grid_rho_is_fastjets_grid_median_estimator():
    """CMS's fixedGridRhoFastjetAll for a batch at once, against fastjet's GridMedianBackgroundEstimator(2.5, 0.55)
    event by event (empty events, sparse and dense ones, particles beyond |y| = 2.5)."""
    import fastjet

    from xaugcol.sources.rho import grid_rho

    rng = np.random.default_rng(1)
    events, pts, rapidities, phis, reference = [], [], [], [], []
    for k, n in enumerate([300, 50, 2000, 5, 0, 800]):
        pt, y, phi = rng.exponential(1.0, n), rng.uniform(-3, 3, n), rng.uniform(-np.pi, np.pi, n)
        estimator = fastjet.GridMedianBackgroundEstimator(2.5, 0.55)
        estimator.set_particles([fastjet.PseudoJet(p * np.cos(f), p * np.sin(f), p * np.sinh(r), p * np.cosh(r))
                                 for p, r, f in zip(pt, y, phi)])
        reference.append(estimator.rho())
        events += [k] * n
        pts, rapidities, phis = [*pts, *pt], [*rapidities, *y], [*phis, *phi]
    rho = grid_rho(np.array(events), np.array(pts), np.array(rapidities), np.array(phis), 6)
    np.testing.assert_allclose(rho, reference, rtol=1e-12, atol=1e-12)
    assert rho[2] > rho[0] > 0 and rho[4] == 0


STUDY = """
name: muons at the paper's setup
source: {{kind: pythia, processes: [prompt_mu, nonprompt_mu], events: {events}, seed: 2, workers: 1,
         pileup_pool: 200}}
processing: {{chunksize: 500, executor: iterative, lepton: {{n_cells: 16}}}}
seeds: 1
training: {{epochs: 1, batch_size: 32, match_pt: true}}
taggers:
  - {{model: dnn, xaug: true, xaug_columns: [iso_0p1, iso_0p2, iso_0p4]}}
  - {{model: calo_cnn, architecture: {{channels: [4, 4], hidden: [8]}}}}
explain: {{rules: [epsilon], split: test, examples: 1, faithfulness_steps: 0, sanity_jets: 0, occlusion_fraction: 0,
          activations: false}}
reduced: null
figures: {{pdf: false}}
"""


def test_a_muon_study_at_the_papers_setup_end_to_end(tmp_path):
    """The defaults through a whole study: muons of 10-20 GeV with Poisson(50) pile-up in the lepton table (the pool
    made once in the generation folder), prompt muons more isolated, both taggers trained and explained."""
    import json

    import pyarrow.parquet as pq

    from xaugcol.workflow.config import Workflow
    from xaugcol.workflow.run_workflow import run_workflow

    config = tmp_path / "muons.yaml"
    config.write_text(STUDY.format(events=20))
    out = tmp_path / "out"
    run_workflow(Workflow.load(config), out, progress=False)
    fileset = json.loads((out / "generated" / "fileset.json").read_text())
    assert {d["metadata"]["pthat_min"] for d in fileset.values()} == {200.0, 10.0}  # Z: 2 -> 1, no pT-hat cut
    assert fileset["nonprompt_mu"]["metadata"]["pileup_pool"]["pool_size"] == 200
    rows = [pq.read_table(p, columns=["label", "pt", "iso_0p4", "pileup_npu", "rho"]).to_pydict()
            for p in sorted((out / "processed" / "jets").glob("**/*.parquet"))]
    table = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    assert table["pt"].min() >= 10 and table["pt"].max() <= 20
    assert 40 < table["pileup_npu"].mean() < 60 and np.all(table["rho"] > 0)
    iso = {label: np.median(table["iso_0p4"][table["label"] == label]) for label in (0, 1)}
    assert iso[1] < iso[0]
    relevance = json.loads((out / "relevance" / "relevance.json").read_text())
    assert len(relevance["taggers"]) == 2 and any("calo_cnn" in name for name in relevance["taggers"])


def test_pileup_zero_on_the_command_line_turns_the_overlay_off(tmp_path, capsys):
    import json

    import uproot

    from xaugcol.cli import main

    assert main(["generate", "pythia", "--process", "prompt_mu", "--events", "5", "--pileup", "0",
                 "--out", str(tmp_path / "g")]) == 0
    meta = json.loads((tmp_path / "g" / "fileset.json").read_text())["prompt_mu"]["metadata"]
    assert meta["pileup_mu"] == 0 and "pileup_pool" not in meta and not (tmp_path / "g" / "pileup").exists()
    with uproot.open(tmp_path / "g" / "prompt_mu.root") as f:
        events = f["Events"].arrays(["Pileup_nPU", "PFCands_fromPileup"])
    assert not events.Pileup_nPU.to_numpy().any() and not np.concatenate(events.PFCands_fromPileup.to_list()).any()
    for bad in ("-1", "401", "nan"):
        assert main(["generate", "pythia", "--process", "prompt_mu", "--pileup", bad,
                     "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_a_lepton_that_curls_before_the_calorimeter_is_no_candidate(tmp_path):
    """Soft charged candidates (minimum bias, 0.3-1.2 GeV) in the 3.8 T field: those that never reach the
    calorimeter have no window and are not candidates (their window was centred on an infinite eta); soft forward
    ones that reach an end cap stay, at their impact inside |eta| < 2.5."""
    import warnings

    import awkward as ak
    import uproot

    from xaugcol.sources.process_card import load_processes
    from xaugcol.sources.pythia import run_pythia

    card = tmp_path / "card.yaml"
    card.write_text("soft: {label: 0, lepton: 11, lepton_origin: any, settings: ['SoftQCD:nonDiffractive = on'], "
                    "lepton_pt: [0.3, 1.2], solenoid_tesla: 3.8}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run_pythia(tmp_path / "g", [load_processes(card)["soft"]], 15, seed=3)
    with uproot.open(tmp_path / "g" / "soft.root") as f:
        leptons = f["Events"].arrays(["Lepton_pt", "Lepton_eta", "Lepton_caloEta"])
    pt, eta, calo_eta = (ak.flatten(leptons[k]).to_numpy() for k in ("Lepton_pt", "Lepton_eta", "Lepton_caloEta"))
    assert len(pt) > 20 and np.all(np.abs(calo_eta) < 2.5)
    central = np.abs(eta) < 1.0
    assert np.all(pt[central] > Solenoid().curl_pt())  # a central particle below 0.735 GeV never arrives


def test_a_process_nothing_passes_is_refused_not_endless(tmp_path, monkeypatch):
    """A card whose selection no event can pass (prompt muons of 500-1000 GeV from a 20 GeV Z) generated forever
    at full load; after MAX_FRUITLESS_EVENTS events without one it is a GeneratorError naming the process, and no
    file is left."""
    import xaugcol.sources.pythia as pythia_module
    from xaugcol.sources.process_card import load_processes
    from xaugcol.sources.pythia_config import GeneratorError

    card = tmp_path / "card.yaml"
    card.write_text("pm: {label: 1, lepton: 13, lepton_origin: prompt, lepton_pt: [500, 1000], settings: "
                    "['WeakSingleBoson:ffbar2gmZ = on', 'PhaseSpace:mHatMin = 19', 'PhaseSpace:mHatMax = 21', "
                    "'23:onMode = off', '23:onIfAny = 13']}\n")
    monkeypatch.setattr(pythia_module, "MAX_FRUITLESS_EVENTS", 500)
    with pytest.raises(GeneratorError, match="'pm': none of 500 events passed its selection"):
        pythia_module.run_pythia(tmp_path / "g", [load_processes(card)["pm"]], 3, seed=1)
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [".xaugcol.lock"]


def test_forced_decays_beside_b_hadron_settings_in_any_spelling_are_refused(tmp_path):
    """Pythia reads ``0511:`` and ``+511:`` as the B0: a card forcing the decays and switching B0 decays off under
    such a spelling passed, and its "forced" sample had stable B0s."""
    from xaugcol.sources.process_card import load_processes

    card = tmp_path / "card.yaml"
    for spelling in ("0511:mayDecay = off", "+511:onMode = off", "-511:onMode = off", " 511 :onMode = off"):
        card.write_text(f"mine: {{label: 0, lepton: 13, lepton_origin: hadron, forced_b_decays: 13, "
                        f"settings: ['HardQCD:hardbbbar = on', '{spelling}']}}\n")
        with pytest.raises(ValueError, match="forced_b_decays"):
            load_processes(card)


def test_pool_problems_are_one_line(tmp_path, capsys):
    """A FIFO where the pool's folder goes was found only after the pool was made (a FileExistsError traceback);
    a pool of Python objects whose record was forged to match ended in a PileupError traceback."""
    import hashlib
    import json
    import os

    from xaugcol.cli import main

    out = tmp_path / "g"
    out.mkdir()
    os.mkfifo(out / "pileup")
    assert main(["generate", "pythia", "--process", "prompt_mu", "--events", "2", "--out", str(out),
                 "--overwrite"]) == 1
    assert "is not a folder" in capsys.readouterr().err
    os.remove(out / "pileup")
    assert main(["generate", "pythia", "--process", "prompt_mu", "--events", "2", "--out", str(out),
                 "--overwrite"]) == 0
    pool, record = out / "pileup" / "pool.npz", out / "pileup" / "pool.json"
    np.savez(pool, offsets=np.array([0, 1]), pt=np.array([object()], dtype=object))
    forged = json.loads(record.read_text())
    forged.update(sha256=hashlib.sha256(pool.read_bytes()).hexdigest(), bytes=pool.stat().st_size)
    record.write_text(json.dumps(forged))
    capsys.readouterr()
    assert main(["generate", "pythia", "--process", "prompt_mu", "--events", "2", "--out", str(out),
                 "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "pool.npz: unreadable" in err and "Traceback" not in err


def test_a_process_pythia_cannot_generate_is_one_line(tmp_path, capsys):
    """pT-hat above 6 499 GeV at 13 TeV initialises but makes no event: an AttributeError traceback before."""
    from xaugcol.cli import main

    assert main(["generate", "pythia", "--process", "qcd", "--pthat-min", "6499", "--events", "2",
                 "--out", str(tmp_path / "g")]) == 2
    assert "Pythia made none of the" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "g").iterdir()] == [".xaugcol.lock"]


def test_leading_candidate_keeps_each_events_hardest(tmp_path):
    """``leading_candidate``: of the candidates that pass, only each event's hardest stays (the same Pythia events
    with and without it: the generator's momenta do not depend on the detector's draws)."""
    import awkward as ak
    import uproot

    from xaugcol.sources.process_card import load_processes
    from xaugcol.sources.pythia import run_pythia

    base = "label: 0, lepton: 11, lepton_origin: any, settings: ['SoftQCD:nonDiffractive = on'], lepton_pt: [1, 10]"
    pts = {}
    for name, extra in (("every", ""), ("leading", ", leading_candidate: true")):
        card = tmp_path / f"{name}.yaml"
        card.write_text(f"soft: {{{base}{extra}}}\n")  # one name: the same Pythia seed, the same events
        run_pythia(tmp_path / name, [load_processes(card)["soft"]], 12, seed=4)
        with uproot.open(tmp_path / name / "soft.root") as f:
            pts[name] = f["Events"].arrays(["Lepton_pt"]).Lepton_pt
    assert ak.all(ak.num(pts["leading"]) == 1) and ak.any(ak.num(pts["every"]) > 1)
    np.testing.assert_array_equal(ak.to_numpy(pts["leading"][:, 0]), ak.to_numpy(ak.max(pts["every"], axis=1)))


def test_electron_processes_and_their_card_checks(tmp_path):
    """The electron paper's background by default, the first samples under their own names; forcing the c-hadron
    decays and setting them in the card is refused as for b hadrons."""
    from xaugcol.sources.process_card import load_processes
    from xaugcol.sources.processes import BUILTIN, C_HADRONS

    prompt, background = BUILTIN["prompt_e"], BUILTIN["qcd_e"]
    assert prompt.pileup == background.pileup == 50.0 and prompt.solenoid_tesla == background.solenoid_tesla == 3.8
    assert background.lepton_origin == "hadron" and background.leading_candidate
    assert background.default_pthat_min() == 25.0
    settings = background.all_settings()
    for hadron in (511, 521, 5122):
        assert f"{hadron}:onMode = off" in settings and f"{hadron}:onIfAny = 11" in settings
    assert not any(s.startswith(f"{hadron}:") for s in settings for hadron in C_HADRONS)  # c: Pythia's decays
    assert BUILTIN["qcd_e_dijets"].all_settings() == ("HardQCD:all = on",)  # the unbiased reference
    fakes = BUILTIN["qcd_e_fakes"]
    assert fakes.lepton_origin == "any" and fakes.flat_pileup == 25.0 and fakes.pileup == 0
    assert BUILTIN["prompt_e_first"].flat_pileup == 25.0
    charm = "label: 0, lepton: 11, lepton_origin: hadron, settings: ['HardQCD:hardccbar = on'"
    for entry, match in ((f"{charm}, '+0421:onMode = off'], forced_c_decays: 11", "forced_c_decays.*421:onMode"),
                         (f"{charm}], forced_c_decays: 12", "forced_c_decays")):
        (tmp_path / "card.yaml").write_text(f"mine: {{{entry}}}\n")
        with pytest.raises(ValueError, match=match):
            load_processes(tmp_path / "card.yaml")


def test_the_electron_background_is_each_events_leading_real_electron(tmp_path):
    """``qcd_e``: one electron per event, a real one from a heavy-flavour decay, in the window, passing the loose
    preselection (EM E_T within 0.1 at least half its pT) on the CMS-like detector."""
    import awkward as ak
    import uproot

    from xaugcol.sources.processes import BUILTIN
    from xaugcol.sources.pythia import run_pythia

    fileset = run_pythia(tmp_path, [BUILTIN["qcd_e"]], 30, seed=2, pileup=PileupSettings(mu=50, pool_size=150))
    meta = fileset["qcd_e"]["metadata"]
    assert meta["forced_b_decays"] == 11 and meta["forced_c_decays"] == 0 and meta["pthat_min"] == 25.0
    assert meta["leading_candidate"] and meta["pileup_mu"] == 50
    with uproot.open(tmp_path / "qcd_e.root") as f:
        ev = f["Events"].arrays(["Lepton_pt", "Lepton_pdgId", "Lepton_genPartFlav", "Lepton_caloEta", "Lepton_caloPhi",
                                 "LeptonCell_layer", "LeptonCell_eta", "LeptonCell_phi", "LeptonCell_et"])
    assert len(ev) >= 30 and ak.all(ak.num(ev.Lepton_pt) == 1)
    lep = ak.firsts(ev.Lepton_pt)
    assert ak.all(np.abs(ak.firsts(ev.Lepton_pdgId)) == 11) and ak.all((lep >= 20) & (lep <= 100))
    flav = ak.firsts(ev.Lepton_genPartFlav).to_numpy()
    assert np.all(np.isin(flav, (3, 4, 5))) and np.mean(np.isin(flav, (4, 5))) > 0.9
    dphi = np.mod(ev.LeptonCell_phi - ak.firsts(ev.Lepton_caloPhi) + np.pi, 2 * np.pi) - np.pi
    close = (np.hypot(ev.LeptonCell_eta - ak.firsts(ev.Lepton_caloEta), dphi) < 0.1) & (ev.LeptonCell_layer == 0)
    assert ak.all(ak.sum(ev.LeptonCell_et[close], axis=1) >= 0.5 * lep)


def test_the_shipped_process_cards_load():
    """Every card under configs/cards validates (the README's tables were generated from them)."""
    from pathlib import Path

    from xaugcol.sources.process_card import load_processes

    cards = sorted((Path(__file__).resolve().parents[1] / "configs" / "cards").glob("*.yaml"))
    assert cards
    for card in cards:
        added = set(load_processes(card)) - set(load_processes())
        assert added, card


def test_a_card_can_set_every_field_of_a_process():
    """The card's schema (``ProcessEntry``) and the process (``Process``) list the same fields: a setting added to
    one only would be refused in cards, or silently unset."""
    from dataclasses import fields

    from xaugcol.sources.process_card import ProcessEntry
    from xaugcol.sources.processes import Process

    assert {f.name for f in fields(Process)} - {"name"} == set(ProcessEntry.model_fields)


def test_filter_efficiency_counts_every_tried_event(tmp_path):
    """A lepton process asks Pythia for whole batches and cuts the surplus of passing events: the efficiency is
    of the whole batch (passing / tried), so it does not depend on how many events were asked (before, the cut
    events were left out of the tried ones and the efficiency fell with fewer events asked)."""
    from xaugcol.sources.processes import BUILTIN
    from xaugcol.sources.pythia import BATCH_EVENTS, run_pythia

    metadata = {n: run_pythia(tmp_path / str(n), [BUILTIN["prompt_mu"]], n, seed=6)["prompt_mu"]["metadata"]
                for n in (20, 40)}
    efficiency = metadata[20]["filter_efficiency"]
    assert 40 / BATCH_EVENTS <= efficiency < 1  # one batch held both requests
    assert metadata[40]["filter_efficiency"] == efficiency
    assert metadata[40]["xsec_pb"] == pytest.approx(metadata[20]["xsec_pb"], rel=1e-12)
