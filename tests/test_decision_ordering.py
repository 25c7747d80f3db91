"""Decision ordering over all signal-background pairs, against the brute-force pair count."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from xaugcol.mapping.decision_ordering import ado, concordance_sum


def _brute_force(fs, gs, fb, gb):
    s = np.sign(fs[:, None] - fb[None, :]) * np.sign(gs[:, None] - gb[None, :])
    return np.where(s > 0, 1.0, np.where(s < 0, 0.0, 0.5)).mean()


def test_ado_equals_the_pair_count_with_ties():
    rng = np.random.default_rng(5)
    for n_s, n_b, levels in ((40, 55, 6), (300, 200, 1000), (7, 1, 3)):
        fs, fb = rng.integers(0, levels, n_s).astype(float), rng.integers(0, levels, n_b).astype(float)
        gs = fs + rng.integers(-2, 3, n_s)  # correlated with f, with ties in both
        gb = fb + rng.integers(-2, 3, n_b)
        want = _brute_force(fs, gs, fb, gb)
        assert ado(fs, gs, fb, gb, fold=False) == pytest.approx(want, abs=1e-12)
        assert ado(fs, gs, fb, gb) == pytest.approx(max(want, 1 - want), abs=1e-12)
        assert ado(fs, -gs, fb, -gb) == pytest.approx(max(want, 1 - want), abs=1e-12)  # blind to the output's sign


def test_ado_against_a_perfect_tagger_is_its_auc():
    # g = the truth (1 for signal, 0 for background) orders every pair as a perfect tagger: ADO[f, truth] = AUC(f)
    rng = np.random.default_rng(6)
    fs, fb = rng.normal(1.0, 1.0, 500), rng.normal(0.0, 1.0, 700)
    auc = roc_auc_score(np.r_[np.ones(500), np.zeros(700)], np.r_[fs, fb])
    assert ado(fs, np.ones(500), fb, np.zeros(700), fold=False) == pytest.approx(auc, abs=1e-12)
    assert ado(fs, fs * 3 + 1, fb, fb * 3 + 1) == 1.0  # a monotonic map orders every pair alike


def test_concordance_sum_exact_at_scale():
    rng = np.random.default_rng(7)
    f = rng.integers(0, 50, 3000).astype(float)
    g = f + rng.normal(0, 10, 3000)
    i, j = np.triu_indices(3000, 1)
    assert concordance_sum(f, g) == int((np.sign(f[i] - f[j]) * np.sign(g[i] - g[j])).sum())
    assert concordance_sum(np.ones(10), g[:10]) == 0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no background jets"):
        ado([1.0], [1.0], [], [])
    with pytest.raises(ValueError, match="1 NaN or inf value\\(s\\) in g_signal"):
        ado([1.0, 2.0], [1.0, np.nan], [0.0], [0.0])
    with pytest.raises(ValueError, match="f and g have 2 and 1 signal jets"):
        ado([1.0, 2.0], [1.0], [0.0], [0.0])


def test_ado_agrees_with_a_sampled_estimate_within_its_error():
    # the original code estimates ADO from randomly drawn signal-background pairs: the exact value lies within
    # its binomial error
    rng = np.random.default_rng(8)
    fs, fb = rng.normal(1.0, 1.0, 20000), rng.normal(0.0, 1.0, 30000)
    gs, gb = fs ** 3 + rng.normal(0, 1.0, 20000), fb ** 3 + rng.normal(0, 1.0, 30000)
    i, j = rng.integers(0, 20000, 200000), rng.integers(0, 30000, 200000)
    do = (np.sign(fs[i] - fb[j]) * np.sign(gs[i] - gb[j]) > 0).astype(float)
    sampled, error = do.mean(), do.std() / np.sqrt(len(do))
    assert abs(ado(fs, gs, fb, gb, fold=False) - sampled) < 4 * error
