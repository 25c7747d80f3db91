"""Jet images, particle lists and the input scalers on hand-built jets with known answers."""

import json

import awkward as ak
import numpy as np
import pytest
import vector

from xaugcol.features.images import ImageConfig, image_coordinates, jet_images
from xaugcol.features.particles import FEATURES, particle_list
from xaugcol.features.scaler import InputScalers, ObjectScaler, XAUGScaler

vector.register_awkward()


def _jet(particles):
    """One jet per list of (pt, eta, phi, pdgId, charge) tuples."""
    counts = [len(p) for p in particles]
    flat = [q for p in particles for q in p]
    fields = dict(zip(("pt", "eta", "phi", "pdgId", "charge"), map(np.array, zip(*flat))))
    rec = ak.zip({**fields, "mass": np.zeros(len(flat)), "d0": np.full(len(flat), 0.01),
                  "dz": np.full(len(flat), -0.02)}, with_name="Momentum4D")
    return ak.unflatten(rec, counts)


def _subjets(sj1, sj2, two=True):
    return {"sj1_eta": np.array([sj1[0]]), "sj1_phi": np.array([sj1[1]]), "sj2_eta": np.array([sj2[0]]),
            "sj2_phi": np.array([sj2[1]]), "sd_eta": np.array([sj1[0]]), "sd_phi": np.array([sj1[1]]),
            "sd_two_prong": np.array([1.0 if two else 0.0])}


def test_image_puts_the_subjets_at_the_origin_and_minus_one():
    sj1, sj2 = (0.5, 3.0), (0.8, -2.9)  # across the phi = pi boundary: distance hypot(0.3, 0.383)
    # a hard particle at each subjet and a third one off the axis
    jets = _jet([[(300.0, *sj1, 211, 1), (100.0, *sj2, 22, 0), (50.0, 0.55, -3.1, 130, 0)]])
    sub = _subjets(sj1, sj2)
    x, y = image_coordinates(jets, sub)
    x, y = ak.to_numpy(x[0]), ak.to_numpy(y[0])
    np.testing.assert_allclose([x[0], y[0]], [0, 0], atol=1e-12)
    np.testing.assert_allclose([x[1], y[1]], [0, -1], atol=1e-12)
    # parity: the off-axis particle is flipped to x > 0; distances are in units of the subjet separation
    assert x[2] > 0
    d12 = np.hypot(0.3, 2 * np.pi - 5.9)
    d13 = np.hypot(0.05, 2 * np.pi - 6.1)
    np.testing.assert_allclose(np.hypot(x[2], y[2]), d13 / d12, rtol=1e-12)

    cfg = ImageConfig(n_pixels=37, extent=2.5)
    img, frac = jet_images(jets, np.array([450.0]), sub, cfg)
    img = np.asarray(img)  # packed as its lit pixels: padded back
    width = 5.0 / 37
    assert img[0, 18, 18] == pytest.approx(300 / 450)
    assert img[0, int((2.5 + 1) / width), 18] == pytest.approx(100 / 450)
    assert img.sum() == pytest.approx(frac[0]) and frac[0] == pytest.approx(1.0)


def test_image_of_a_one_prong_jet_is_centred_and_unrotated():
    jets = _jet([[(300.0, 0.0, 0.0, 211, 1), (10.0, 0.0, -0.2, 22, 0)]])
    x, y = image_coordinates(jets, _subjets((0.0, 0.0), (0.0, 0.0), two=False), ImageConfig(fallback_scale=0.4))
    np.testing.assert_allclose(ak.to_numpy(x[0]), [0, 0], atol=1e-12)
    np.testing.assert_allclose(ak.to_numpy(y[0]), [0, -0.5], atol=1e-12)  # 0.2 in phi / 0.4 scale


def test_particle_list_features():
    parts = [(200.0, 1.0, 0.5, 211, 1), (50.0, 1.2, 0.3, 22, 0), (20.0, 0.9, 0.7, -13, 1)]
    jets = _jet([parts, parts[:1]])
    jet = {"pt": np.array([260.0, 200.0]), "eta": np.array([1.05, 1.0]), "phi": np.array([0.45, 0.5])}
    sub = {"sj1_eta": np.array([1.0, 1.0]), "sj1_phi": np.array([0.5, 0.5]), "sj2_eta": np.array([1.2, 0.0]),
           "sj2_phi": np.array([0.3, 0.0]), "sd_two_prong": np.array([1.0, 0.0])}
    feats, mask = map(np.asarray, particle_list(jets, jet, sub, n_max=4))  # packed: padded back
    assert feats.shape == (2, 4, len(FEATURES)) == (2, 4, 17)
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False]]
    f = dict(zip(FEATURES, feats[0, 2]))
    pt, eta, phi = 20.0, 0.9, 0.7
    assert f["log_pt"] == pytest.approx(np.log(pt))
    assert f["log_pt_rel"] == pytest.approx(np.log(pt / 260.0))
    assert f["log_e"] == pytest.approx(np.log(pt * np.cosh(eta)), rel=1e-6)
    assert f["abs_eta"] == pytest.approx(0.9)
    assert f["dphi_jet"] == pytest.approx(0.25) and f["deta_jet"] == pytest.approx(-0.15)
    assert f["dr_jet"] == pytest.approx(np.hypot(0.15, 0.25))
    assert f["dr_subjet1"] == pytest.approx(np.hypot(0.1, 0.2))
    assert f["dr_subjet2"] == pytest.approx(np.hypot(0.3, 0.4))
    assert (f["charge"], f["is_muon"], f["is_charged_hadron"], f["is_photon"]) == (1, 1, 0, 0)
    assert f["dxy"] == pytest.approx(0.01) and f["dz"] == pytest.approx(-0.02)
    assert feats[0, 1, FEATURES.index("is_photon")] == 1 and feats[0, 0, FEATURES.index("is_charged_hadron")] == 1
    assert np.all(feats[~mask] == 0)
    # one-prong jet: the second-subjet distance falls back to the first
    assert feats[1, 0, FEATURES.index("dr_subjet2")] == feats[1, 0, FEATURES.index("dr_subjet1")]
    # truncation keeps the hardest particles
    short, short_mask = map(np.asarray, particle_list(jets, jet, sub, n_max=2))
    np.testing.assert_array_equal(short, feats[:, :2]) and np.testing.assert_array_equal(short_mask, mask[:, :2])


def test_scaler_clips_outliers_and_scales_to_unit_range(tmp_path):
    rng = np.random.default_rng(1)
    train = {"msd": np.concatenate([rng.normal(90, 10, 1000), [1e4]]), "tau21": rng.uniform(0, 1, 1001)}
    scaler = XAUGScaler.fit(train, ["msd", "tau21"])
    x = scaler.transform(train)
    assert x.shape == (1001, 2) and x.min() >= 0 and x.max() <= 1
    # the outlier is clipped to mean + 3 std, which is then the maximum of the min-max range
    k = 0
    assert scaler.high[k] == pytest.approx(scaler.mean[k] + 3 * scaler.std[k])
    assert x[-1, 0] == 1.0
    # application data outside the training range stays in [0, 1]
    y = scaler.transform({"msd": np.array([-1e3, 90.0]), "tau21": np.array([0.5, 2.0])})
    assert y[0, 0] == 0 and y[1, 1] == 1 and 0 < y[1, 0] < 1
    path = tmp_path / "scaler.json"
    InputScalers.of({"xaug": scaler}).save(path)
    assert InputScalers.load(path).get("xaug") == scaler
    # the files written before the particles were scaled: one XAUG scaler, the whole file
    path.write_text(json.dumps(scaler.to_dict()))
    assert InputScalers.load(path).kinds() == ("xaug",) and InputScalers.load(path).get("xaug") == scaler
    data = json.loads(path.read_text())
    data["std"] = [1.0]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="'std' must be 2 finite numbers"):
        InputScalers.load(path)
    with pytest.raises(ValueError, match="'msd' has 1 NaN"):
        XAUGScaler.fit({"msd": np.array([1.0, np.nan])}, ["msd"])


def test_standard_xaug_scaling_centres_the_clipped_variables():
    """``standard``: the same clipping at mean +- 3 std, then (x - mean) / std: the training mean maps to 0, the
    clipped outlier to +3, a constant column to 0."""
    rng = np.random.default_rng(2)
    train = {"msd": np.concatenate([rng.normal(90, 10, 1000), [1e4]]), "flat": np.full(1001, 7.0)}
    scaler = XAUGScaler.fit(train, ["msd", "flat"], mode="standard")
    x = scaler.transform(train)
    assert x[-1, 0] == pytest.approx(3.0) and np.all(x[:, 1] == 0)
    m, s = scaler.mean[0], scaler.std[0]
    y = scaler.transform({"msd": np.array([m, m + s, -1e5]), "flat": np.array([7.0, 8.0, 0.0])})
    np.testing.assert_allclose(y[:, 0], [0.0, 1.0, -3.0], atol=1e-6)
    assert XAUGScaler.from_dict(scaler.to_dict()) == scaler and scaler.to_dict()["kind"] == "xaug_standard_3std"


def test_object_scaler_standardises_real_particles_and_keeps_padding_zero(tmp_path):
    """Fitted block by block over real particles only (padding would pull every mean towards 0): the real
    particles of the training blocks come out with mean 0 and std 1 per feature, padded slots exactly 0, a feature
    constant over real particles 0; round trip through scaler.json; absurd files are refused."""
    rng = np.random.default_rng(3)
    blocks = []
    for n in (40, 25):
        values = np.zeros((n, 6, 3))
        mask = np.arange(6)[None, :] < rng.integers(1, 7, n)[:, None]
        values[mask] = np.column_stack([rng.normal(5, 2, mask.sum()), rng.exponential(1, mask.sum()),
                                        np.full(mask.sum(), 1.0)])
        blocks.append((values, mask))
    scaler = ObjectScaler.fit(("a", "b", "c"), blocks)
    real = np.concatenate([v[m] for v, m in blocks])
    np.testing.assert_allclose(scaler.mean, real.mean(0), rtol=1e-12)
    np.testing.assert_allclose(scaler.std[:2], real.std(0)[:2], rtol=1e-10)
    out = [scaler.transform(v, m) for v, m in blocks]
    real_out = np.concatenate([o[m] for o, (_, m) in zip(out, blocks)])
    np.testing.assert_allclose(real_out[:, :2].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(real_out[:, :2].std(0), 1, atol=1e-5)
    assert np.all(real_out[:, 2] == 0) and all(np.all(o[~m] == 0) for o, (_, m) in zip(out, blocks))
    assert out[0].dtype == np.float32
    path = tmp_path / "scaler.json"
    InputScalers.of({"particles": scaler, "xaug": XAUGScaler.fit({"x": np.arange(5.0)}, ["x"])}).save(path)
    loaded = InputScalers.load(path)
    assert loaded.kinds() == ("particles", "xaug") and loaded.get("particles") == scaler
    data = json.loads(path.read_text())
    data["scalers"]["particles"]["mean"][1] = float("inf")
    path.write_text(json.dumps(data).replace("Infinity", "1e400"))
    with pytest.raises(ValueError, match="particles: 'mean' must be 3 finite numbers"):
        InputScalers.load(path)
    with pytest.raises(ValueError, match="no real objects"):
        ObjectScaler.fit(("a",), [(np.zeros((2, 3, 1)), np.zeros((2, 3), bool))])


def test_robust_object_scaling_keeps_a_heavy_tail_from_setting_the_scale(tmp_path):
    """Impact parameters as the CMS-like tracker makes them: prompt tracks (20 um), b-hadron tracks (300 um) and a
    few V0 daughters (cm). Standardised, the tail sets the scale and squeezes the b tracks next to the prompt ones;
    robust (median, 16-84 % width, asinh) keeps them apart by several units, in order, with padding still zero."""
    rng = np.random.default_rng(4)
    n = 20_000
    kind = rng.choice(3, n, p=[0.80, 0.17, 0.03])
    d0 = np.where(kind == 0, rng.normal(0, 0.002, n), np.where(kind == 1, rng.exponential(0.03, n),
                                                               rng.uniform(1.0, 30.0, n)))
    values = np.zeros((n // 10, 12, 1))
    mask = np.broadcast_to(np.arange(12)[None, :] < 10, (n // 10, 12))
    values[mask] = d0[:, None]
    standard = ObjectScaler.fit(("dxy",), [(values, mask)])
    robust = ObjectScaler.fit(("dxy",), [(values, mask)], mode="robust")
    low, centre, high = np.percentile(d0, [16, 50, 84])
    assert robust.mean[0] == pytest.approx(centre) and robust.std[0] == pytest.approx(max(high - centre,
                                                                                          centre - low))
    separation = {}
    for name, scaler in (("standard", standard), ("robust", robust)):
        out = scaler.transform(values, mask)
        assert np.all(out[~mask] == 0)
        scaled = out[mask][:, 0]
        separation[name] = np.median(scaled[kind == 1]) - np.median(scaled[kind == 0])
        # order kept: the scaling is monotonic
        order = np.argsort(d0)
        assert np.all(np.diff(scaled[order]) >= -1e-6)
    assert separation["standard"] < 0.01 and separation["robust"] > 1.0
    path = tmp_path / "scaler.json"
    InputScalers.of({"tracks": robust}).save(path)
    assert InputScalers.load(path).get("tracks") == robust
    with pytest.raises(ValueError, match="object scaling must be one of"):
        ObjectScaler(("a",), (0.0,), (1.0,), "minmax")


def test_robust_scaling_samples_the_whole_training_split_evenly(monkeypatch):
    """A split larger than the scaler's sample (as the open-data ntuples give): the objects it keeps are every k-th
    of the whole split, so blocks that come first (one dataset, then the other) weigh as much as the last ones."""
    monkeypatch.setattr(ObjectScaler, "ROBUST_SAMPLE", 1000)
    rng = np.random.default_rng(6)
    blocks, everything = [], []
    for k in range(50):  # the first half of the split from one distribution, the second from another
        values = (rng.random((100, 5, 1)) + (k >= 25)).astype(np.float64)
        mask = np.ones((100, 5), dtype=bool)
        blocks.append((values, mask))
        everything.append(values.reshape(-1))
    scaler = ObjectScaler.fit(("x",), blocks, mode="robust")
    low, centre, high = np.percentile(np.concatenate(everything), [16, 50, 84])
    assert scaler.mean[0] == pytest.approx(centre, abs=0.03)
    assert scaler.std[0] == pytest.approx(max(high - centre, centre - low), abs=0.03)
