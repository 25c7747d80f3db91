"""The CMS-like tracker of the Pythia jet samples: each effect against its model (covariance against a least-squares
fit through the layers, the V0 veto against the K0S mass, charged-hadron subtraction against the vertices it
separates, efficiency and fakes against their rates), and the whole against the CMS PFNano file (the SV dxySig)."""

import awkward as ak
import numpy as np
import pytest
import uproot

from xaugcol.config_models import with_settings
from xaugcol.features import tracks as track_features
from xaugcol.sources.jet_detector import CMS_LIKE, JetDetector, TrackerSettings, seen_particles, tracker_settings
from xaugcol.sources.pileup import PileupPool, PileupSettings, draw_overlay
from xaugcol.sources.processes import BUILTIN
from xaugcol.sources.pythia import run_pythia
from xaugcol.sources.tracker import COVARIANCE_FIELDS, TrackerModel, measure_tracks, track_covariance
from xaugcol.sources.vertexing import K0S_MASS, PION_MASS, VertexingModel, find_vertices


def test_covariance_terms_follow_a_least_squares_fit_through_the_layers():
    model = TrackerModel(covariance=True)
    # brute force: the straight-line fit y = d0 + phi r through the layers, equal errors; its parameter covariance
    design = np.stack([np.ones(len(model.layer_radii)), np.asarray(model.layer_radii)], axis=1)
    cov = np.linalg.inv(design.T @ design)
    rho_fit = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    pt, eta = np.array([1.0, 10.0, 100.0, 100.0]), np.array([0.0, 1.0, 0.0, -1.5])
    d0 = np.array([0.0, 0.01, 0.0, -0.05])
    sigma_d0, sigma_dz = model.d0_resolution(pt, eta), model.dz_resolution(pt, eta)
    terms = track_covariance(pt, eta, d0, sigma_d0, sigma_dz, np.zeros(4), model)
    sigma_phi, sigma_lambda = np.sqrt(terms["dphidphi"]), np.sqrt(terms["detadeta"])
    np.testing.assert_allclose(terms["dphidxy"] / (sigma_phi * sigma_d0), rho_fit, rtol=1e-12)
    np.testing.assert_allclose(terms["dlambdadz"] / (sigma_lambda * sigma_dz / np.cosh(eta)), rho_fit, rtol=1e-12)
    assert rho_fit < -0.8  # the inner layers fix both: strongly anti-correlated
    # sigma(pT) / pT at 100 GeV in the barrel: 1-2 % (the CMS tracking paper, JINST 9 (2014) P10009)
    p = pt * np.cosh(eta)
    relative = np.sqrt(terms["dptdpt"]) * p
    assert 0.01 < relative[2] < 0.02
    # angular resolutions fall with pT to the constant term; multiple scattering dominates at 1 GeV
    assert sigma_phi[0] > 10 * sigma_phi[2] and sigma_phi[2] == pytest.approx(np.hypot(1e-4, 3.5e-5))
    # d0 and dz: correlated only through a displaced track's geometry, with the sign of d0 x eta
    assert terms["dxydz"][0] == 0 and terms["dxydz"][2] == 0
    assert terms["dxydz"][1] > 0 and terms["dxydz"][3] > 0  # (+ x +) and (- x -)


def test_covariance_terms_reach_the_interaction_networks_features():
    rng = np.random.default_rng(5)
    n = 1000
    pt, eta = rng.uniform(1, 50, n), rng.uniform(-2, 2, n)
    zero = np.zeros(n)
    plain = measure_tracks(np.ones(n), pt, eta, (zero,) * 3, (zero,) * 2, np.random.default_rng(1))
    with_cov = measure_tracks(np.ones(n), pt, eta, (zero,) * 3, (zero,) * 2, np.random.default_rng(1),
                              TrackerModel(covariance=True))
    assert not set(COVARIANCE_FIELDS) & set(plain)
    # the covariance adds fields and draws nothing: every other field is the same
    assert all(np.array_equal(plain[k], with_cov[k]) for k in plain)
    assert all(np.all(np.isfinite(with_cov[k])) for k in COVARIANCE_FIELDS)
    assert np.all(with_cov["dptdpt"] > 0) and np.all(with_cov["dphidxy"] < 0)
    # the six terms were what CMS PFNano and the first tracker lacked: the track list now has every feature
    assert set(COVARIANCE_FIELDS) == set(track_features.NOT_IN_PFNANO)


def _two_track_vertices(masses, charges, n_events):
    """One two-body decay at rest-frame momentum giving ``masses`` (pi pi), boosted along x, 2 cm away, per event."""
    rng = np.random.default_rng(2)
    tracks = {k: [] for k in ("px", "py", "pz", "E", "pt", "eta", "phi", "d0", "dz", "d0Err", "dzErr", "vx", "vy",
                              "vz", "charge")}
    events = []
    for k in range(n_events):
        mass = masses[k]
        p_star = np.sqrt(mass**2 / 4 - PION_MASS**2)
        theta = rng.uniform(0.3, 2.8)
        daughters = np.array([[p_star * np.cos(theta), p_star * np.sin(theta), 0.0],
                              [-p_star * np.cos(theta), -p_star * np.sin(theta), 0.0]])
        energy = np.sqrt((daughters**2).sum(1) + PION_MASS**2)
        gamma = 20.0 / mass  # a 20 GeV candidate along x
        beta = np.sqrt(1 - 1 / gamma**2)
        px = gamma * (daughters[:, 0] + beta * energy)
        p = np.stack([px, daughters[:, 1], daughters[:, 2]], axis=1)
        for i in range(2):
            pt = np.hypot(p[i, 0], p[i, 1])
            values = {"px": p[i, 0], "py": p[i, 1], "pz": p[i, 2], "E": np.sqrt((p[i] ** 2).sum() + PION_MASS**2),
                      "pt": pt, "eta": np.arcsinh(p[i, 2] / pt), "phi": np.arctan2(p[i, 1], p[i, 0]),
                      "d0": 0.1, "dz": 0.0, "d0Err": 0.002, "dzErr": 0.002, "vx": 2.0, "vy": 0.0, "vz": 0.0,
                      "charge": charges[k][i]}
            for name, v in values.items():
                tracks[name].append(v)
            events.append(k)
    return np.array(events), {k: np.array(v, dtype=float) for k, v in tracks.items()}


def test_v0_veto_drops_two_track_vertices_at_the_k0s_mass_only():
    n = 400
    masses = np.where(np.arange(n) % 2 == 0, K0S_MASS, 0.8)  # K0S-like and well away from it
    charges = [(1, -1) if k % 4 < 2 else (1, 1) for k in range(n)]  # same-sign pairs are no V0
    event, tracks = _two_track_vertices(masses, charges, n)
    seen = {}
    for veto in (False, True):
        model = VertexingModel(efficiency=1.0, v0_veto=veto)
        _, counts = find_vertices(event, tracks, n, np.random.default_rng(4), model)
        seen[veto] = counts > 0
    k0s = (masses == K0S_MASS) & np.array([c == (1, -1) for c in charges])
    assert seen[False].all()  # every vertex found without the veto
    assert not seen[True][k0s].any() and seen[True][~k0s].all()


@pytest.fixture(scope="module")
def pool():
    """A small hand-made pile-up pool: per interaction 6 charged and 4 neutral particles at the interaction vertex."""
    rng = np.random.default_rng(9)
    n_int, per = 200, 10
    n = n_int * per
    charge = np.tile([1, -1, 1, -1, 1, -1, 0, 0, 0, 0], n_int).astype(np.int8)
    return PileupPool(offsets=np.arange(0, n + 1, per), pt=rng.uniform(0.2, 3.0, n).astype(np.float32),
                      eta=rng.uniform(-2.4, 2.4, n).astype(np.float32), phi=rng.uniform(-3, 3, n).astype(np.float32),
                      mass=np.full(n, 0.14, np.float32), pdg_id=np.where(charge != 0, 211, 22).astype(np.int32),
                      charge=charge, vx=np.zeros(n, np.float32), vy=np.zeros(n, np.float32),
                      vz=np.zeros(n, np.float32))


def _hard(n_events, per_event=20, radius=0.0):
    rng = np.random.default_rng(1)
    n = n_events * per_event
    pt, eta, phi = rng.uniform(1, 20, n), rng.uniform(-2, 2, n), rng.uniform(-3, 3, n)
    return {"event": np.repeat(np.arange(n_events), per_event), "px": pt * np.cos(phi), "py": pt * np.sin(phi),
            "pz": pt * np.sinh(eta), "E": pt * np.cosh(eta) + 0.1, "mass": np.full(n, 0.14),
            "pdg_id": np.tile([211, -211, 11, 22], n // 4), "charge": np.tile([1.0, -1.0, -1.0, 0.0], n // 4),
            "vx": np.full(n, radius), "vy": np.zeros(n), "vz": np.zeros(n)}


def test_charged_hadron_subtraction_removes_pileup_tracks_from_other_vertices(pool):
    settings = PileupSettings(mu=30, pool_size=200)
    n_events = 50
    overlay = draw_overlay(pool, n_events, settings, np.random.default_rng(7))
    for chs in (True, False):
        detector = JetDetector(TrackerSettings(chs=chs), settings, pool)
        seen, n_pu = seen_particles(_hard(n_events), n_events, detector, np.random.default_rng(7))
        assert np.array_equal(n_pu, overlay.n_pu)
        pileup = seen["oz"] != 0
        assert np.all(np.diff(seen["event"]) >= 0)  # ordered by event
        assert (~pileup).sum() == 20 * n_events  # the hard event untouched
        neutral = (overlay.charge == 0).sum()
        assert (seen["charge"][pileup] == 0).sum() == neutral  # neutrals always stay
        charged_left = (seen["charge"][pileup] != 0).sum()
        if not chs:
            assert charged_left == (overlay.charge != 0).sum()
            continue
        # what is left: charged particles from vertices within 3 resolutions of the hard one
        model = TrackerModel()
        sigma = model.dz_resolution(np.maximum(overlay.pt, 0.3), overlay.eta)
        near = (overlay.charge != 0) & (np.abs(overlay.interaction_z) <= 3 * sigma)
        assert charged_left == near.sum() and 0 < charged_left < 0.15 * (overlay.charge != 0).sum()
        left_z = seen["oz"][pileup & (seen["charge"] != 0)]
        assert np.all(np.abs(left_z) < 3 * model.dz_resolution(0.3, 2.4))


def test_track_efficiency_falls_with_the_production_radius_and_spares_leptons():
    settings = TrackerSettings(efficiency=0.9, displaced_efficiency=0.4)
    detector = JetDetector(settings)
    for radius, expected in ((0.0, 0.9), (60.0, 0.4), (2.9 + (60 - 2.9) / 2, 0.65)):
        hard = _hard(5000, radius=radius)
        seen, _ = seen_particles(hard, 5000, detector, np.random.default_rng(3))
        hadron = np.isin(seen["pdg_id"], (211, -211))
        found = seen["reconstructed"][hadron].mean()
        assert abs(found - expected) < 4 * np.sqrt(expected * (1 - expected) / hadron.sum())
        assert seen["reconstructed"][~hadron].all()  # electrons and photons
        # a lost track is a neutral candidate for particle flow
        assert np.all(seen["pf_charge"][hadron & ~seen["reconstructed"]] == 0)


def test_fake_tracks_appear_at_their_rate_beside_real_tracks_with_a_worse_fit():
    detector = JetDetector(TrackerSettings(fake_rate=0.05))
    n_events = 4000
    hard = _hard(n_events)
    seen, _ = seen_particles(hard, n_events, detector, np.random.default_rng(8))
    fake = seen["fake"]
    tracks = (hard["charge"] != 0).sum()  # every charged particle here is a track (pT > 1 GeV, |eta| < 2)
    assert abs(fake.sum() / tracks - 0.05) < 4 * np.sqrt(0.05 * 0.95 / tracks)
    assert np.all(seen["charge"][fake] != 0) and np.all(np.abs(seen["true_d0"][fake]) < 1.0)
    assert abs(np.std(seen["true_d0"][fake]) - 0.05) < 0.005
    pt = np.hypot(seen["px"], seen["py"])
    measured = measure_tracks(seen["charge"], pt, np.arcsinh(seen["pz"] / pt), (seen["vx"], seen["vy"], seen["vz"]),
                              (np.where(fake, seen["true_d0"], 0.0), np.where(fake, seen["true_dz"], 0.0)),
                              np.random.default_rng(2), fake=fake)
    real = measured["has_track"] & ~fake & ~measured["tail"]
    ratio = np.mean(measured["trkChi2"][fake & ~measured["tail"]]) / np.mean(measured["trkChi2"][real])
    assert ratio == pytest.approx(3.0, rel=0.05)
    # fakes look displaced: most have |d0| / d0Err above 3
    assert np.mean(np.abs(measured["d0"][fake] / measured["d0Err"][fake]) > 3) > 0.8


def test_tracker_settings_by_preset_or_mapping_and_the_set_option():
    assert tracker_settings("cms_like") == CMS_LIKE and tracker_settings({}) == TrackerSettings()
    assert tracker_settings({"fake_rate": 0.01}).fake_rate == 0.01
    with pytest.raises(ValueError, match="unknown tracker 'cms'"):
        tracker_settings("cms")
    with pytest.raises(ValueError, match="v0_decay"):
        tracker_settings({"v0_decay": True})
    with pytest.raises(ValueError, match="true or false"):
        tracker_settings({"chs": "yes"})
    raw = {"source": {"kind": "pythia", "events": 10}}
    changed = with_settings(raw, ["source.tracker={v0_decays: true}", "source.events=20", "training.epochs=3"],
                            "study config")
    assert changed["source"] == {"kind": "pythia", "events": 20, "tracker": {"v0_decays": True}}
    assert changed["training"] == {"epochs": 3} and raw["source"] == {"kind": "pythia", "events": 10}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        with_settings(raw, ["source.events"], "study config")
    with pytest.raises(ValueError, match="source.events of the study config is not a mapping"):
        with_settings(raw, ["source.events.x=1"], "study config")


@pytest.fixture(scope="module")
def cms_like_sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("cms_like")
    fileset = run_pythia(out, [BUILTIN["hbb"], BUILTIN["qcd"]], 150, seed=4, pthat_min=300, pileup=25,
                         pileup_pool=400, tracker=CMS_LIKE)
    run_pythia(out / "no_veto", [BUILTIN["hbb"], BUILTIN["qcd"]], 150, seed=4, pthat_min=300, pileup=25,
               pileup_pool=400, tracker=CMS_LIKE.model_copy(update={"v0_veto": False}))
    return out, fileset


def _arrays(out, name, branches):
    return uproot.open(out / f"{name}.root")["Events"].arrays(branches)


@pytest.mark.slow
def test_cms_like_sample_has_v0_decays_pileup_and_cms_like_vertex_significances(cms_like_sample, cms_samples):
    out, fileset = cms_like_sample
    assert fileset["hbb"]["metadata"]["tracker"] == CMS_LIKE.model_dump()
    assert fileset["hbb"]["metadata"]["pileup_mu"] == 25
    both = [_arrays(out, n, ["SV_dxySig", "SV_pt", "SV_eta", "SV_phi", "FatJet_eta", "FatJet_phi",
                             "FatJet_hadronFlavour", "Pileup_nPU", "PFCands_genPdgId", "PFCands_charge",
                             "PFCands_d0Err", "PFCands_dptdpt", "PFCands_dphidxy"]) for n in ("hbb", "qcd")]
    a = ak.concatenate(both)
    assert 22 < np.mean(a.Pileup_nPU) < 28
    # every track carries its covariance terms
    track = ak.to_numpy(ak.flatten(a.PFCands_d0Err)) > 0
    assert np.all(ak.to_numpy(ak.flatten(a.PFCands_dptdpt))[track] > 0)
    assert np.all(ak.to_numpy(ak.flatten(a.PFCands_dphidxy))[track] < 0)
    # fake tracks (no generator particle) and lost tracks (a charged hadron seen as neutral)
    gen, charge = ak.to_numpy(ak.flatten(a.PFCands_genPdgId)), ak.to_numpy(ak.flatten(a.PFCands_charge))
    assert np.any(gen == 0) and np.any((np.abs(gen) == 211) & (charge == 0))
    # the median SV dxySig within 30 % of CMS's (the PFNano file, 2018 conditions)
    cms = uproot.open(cms_samples / "pfnano.root")["Events"]["SV_dxySig"].array()
    ours = np.median(ak.to_numpy(ak.flatten(a.SV_dxySig)))
    assert abs(ours / np.median(ak.to_numpy(ak.flatten(cms))) - 1) < 0.3
    # the K0S veto: the same events without it hold more vertices, every extra one a two-track vertex at the K0S
    # mass (both tracks taken as pions)
    unvetoed = ak.concatenate([_arrays(out / "no_veto", n, ["SV_mass", "SV_ntracks", "SV_pt"]) for n in ("hbb", "qcd")])
    kept = {(e, round(float(pt), 3)) for e, row in enumerate(ak.to_list(a.SV_pt)) for pt in row}
    extra = [(m, n) for e, (row_m, row_n, row_pt) in enumerate(zip(ak.to_list(unvetoed.SV_mass),
                                                                   ak.to_list(unvetoed.SV_ntracks),
                                                                   ak.to_list(unvetoed.SV_pt)))
             for m, n, pt in zip(row_m, row_n, row_pt) if (e, round(pt, 3)) not in kept]
    assert len(extra) > 0 and len(extra) == len(ak.flatten(unvetoed.SV_pt)) - len(kept)
    assert all(n == 2 and abs(m - K0S_MASS) < 0.05 for m, n in extra)
    # light-flavour jets hold SVs at a small, non-zero rate (V0s beyond the window, fakes); b jets mostly do
    deta = a.FatJet_eta[:, :, None] - a.SV_eta[:, None, :]
    dphi = (a.FatJet_phi[:, :, None] - a.SV_phi[:, None, :] + np.pi) % (2 * np.pi) - np.pi
    has_sv = ak.to_numpy(ak.flatten(ak.any(np.hypot(deta, dphi) < 0.8, axis=2)))
    flavour = ak.to_numpy(ak.flatten(a.FatJet_hadronFlavour))
    assert 0 < has_sv[flavour == 0].mean() < 0.15 and has_sv[flavour == 5].mean() > 0.6


def test_generate_pythia_takes_the_tracker_and_records_it(tmp_path, capsys):
    import json

    from xaugcol.cli import main

    out = tmp_path / "gen"
    assert main(["generate", "pythia", "--process", "qcd", "--events", "20", "--pthat-min", "300",
                 "--tracker", "cms_like", "--out", str(out)]) == 0
    metadata = json.loads((out / "fileset.json").read_text())["qcd"]["metadata"]
    assert metadata["tracker"] == CMS_LIKE.model_dump() and metadata["pileup_mu"] == 0
    names = uproot.open(out / "qcd.root")["Events"].keys()
    assert "PFCands_dphidxy" in names and "Pileup_nPU" not in names
    assert main(["generate", "pythia", "--process", "qcd", "--tracker", "cms", "--out", str(tmp_path / "x")]) == 2
    assert "invalid choice: 'cms'" in capsys.readouterr().err
