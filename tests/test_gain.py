"""The XAUG gain (signal efficiency at fixed background efficiency, with XAUG over without) and matched pT
spectra, on predictions whose efficiencies are known."""

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from xaugcol.training.gain import gain_from_predictions, signal_efficiency
from xaugcol.training.pt_spectrum import PtWeights


def _member(rng, n, separation, pt=None):
    label = (rng.random(n) < 0.5).astype(np.int8)
    return {"score": rng.normal(label * separation, 1.0), "label": label, "weight": rng.uniform(0.5, 1.5, n),
            "pt": rng.uniform(300, 600, n) if pt is None else pt}


def test_signal_efficiency_is_the_weighted_roc_curve():
    rng = np.random.default_rng(1)
    p = _member(rng, 20000, 1.5)
    for e in (0.001, 0.01, 0.1):
        eff, above = signal_efficiency(p["score"], p["label"], p["weight"], e)
        fpr, tpr, _ = roc_curve(p["label"], p["score"], sample_weight=p["weight"])
        assert eff == pytest.approx(float(np.interp(e, fpr, tpr)), abs=1e-9)
        assert above == pytest.approx(e * (p["label"] == 0).sum(), rel=0.15)  # unit-mean weights


def test_gain_of_a_better_tagger_on_the_same_jets():
    rng = np.random.default_rng(2)
    n = 8000
    base = [_member(rng, n, 1.5) for _ in range(3)]
    jets = {k: base[0][k] for k in ("label", "weight", "pt")}
    # the same test jets for every member and both taggers (as training makes them): paired bootstrap
    base = [{**jets, "score": rng.normal(jets["label"] * 1.5, 1.0)} for _ in range(3)]
    better = [{**jets, "score": rng.normal(jets["label"] * 2.0, 1.0)} for _ in range(3)]
    same = gain_from_predictions(base, base, [300, 450, 600], bootstrap=20)
    assert same["paired_test_jets"]
    for b in same["bins"]:
        for e in b["efficiencies"]:
            assert e["gain"] == 0 and e["error_test"] == 0  # identical taggers: no gain, no test-set noise
            assert e["error_training"] > 0  # the members differ
    result = gain_from_predictions(base, better, None, (0.01, 0.1), bootstrap=50, seed=3)
    (overall,) = result["bins"]
    assert overall["jets"]["signal"] + overall["jets"]["background"] == n
    for e in overall["efficiencies"]:
        want = np.mean([signal_efficiency(p["score"], p["label"], p["weight"], e["background_efficiency"])[0]
                        for p in better]) / np.mean([signal_efficiency(
                            p["score"], p["label"], p["weight"], e["background_efficiency"])[0] for p in base]) - 1
        assert e["gain"] == pytest.approx(want, rel=1e-12) and e["gain"] > 0.1
        assert 0 < e["error_test"] < e["gain"] and e["error"] >= max(e["error_test"], e["error_training"])
    again = gain_from_predictions(base, better, None, (0.01, 0.1), bootstrap=50, seed=3)
    assert again == result  # seeded


def test_pt_weights_match_the_background_spectrum_to_the_signal():
    rng = np.random.default_rng(4)
    n = 50000
    label = (rng.random(n) < 0.5).astype(int)
    pt = np.where(label == 1, rng.uniform(300, 700, n), 300 + rng.exponential(80, n))
    weight = rng.uniform(0.5, 1.5, n)
    w = PtWeights.fit(pt, label, weight, (300, 700), bins=20)
    reweighted = weight * w.factors(pt, label)
    edges = np.asarray(w.edges)
    h = [np.histogram(pt[label == k], edges, weights=reweighted[label == k])[0] for k in (0, 1)]
    np.testing.assert_allclose(h[0] / h[0].sum(), h[1] / h[1].sum(), rtol=1e-9)
    assert np.array_equal(w.factors(pt, label)[label == 1], np.ones((label == 1).sum()))
    assert w.factors(np.array([100.0, 800.0]), np.array([0, 0])).tolist() == [0.0, 0.0]  # outside the range
    assert PtWeights.from_dict(w.as_dict(), "x") == w
    with pytest.raises(ValueError, match="pt_weights"):
        PtWeights.from_dict({"edges": [1, 0], "background": [1.0]}, "x")
