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
    with pytest.raises(ValueError, match="the signal arrays differ in length"):
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


def _brute_disagreement_ado(e_s, t_s, h_s, e_b, t_b, h_b):
    """By the definition: every pair, weighted 1 where h and t order it differently, 1/2 where either ties."""
    s_h = np.sign(h_s[:, None] - h_b[None, :])
    s_t = np.sign(t_s[:, None] - t_b[None, :])
    s_e = np.sign(e_s[:, None] - e_b[None, :])
    w = (1 - s_h * s_t) / 2
    value = (w * (1 + s_e * s_t) / 2).sum() / w.sum()
    return max(value, 1 - value), w.sum() / w.size


@pytest.mark.parametrize("levels", [None, 4, 12])
def test_disagreement_ado_equals_the_pair_by_pair_count(levels):
    """Exact against the pair-by-pair count, also with many ties in the black box, the tagger and the observable
    (levels: values rounded onto that many steps); the listed pairs are those of weight 1."""
    from xaugcol.mapping.decision_ordering import Disagreement, disagreement_pairs

    rng = np.random.default_rng(levels or 0)
    for trial in range(4):
        n_s, n_b = rng.integers(20, 90, 2)
        truth_s, truth_b = rng.normal(1.0, 1, n_s), rng.normal(0.0, 1, n_b)
        make = lambda x: x if levels is None else np.round(x * levels / 4)  # noqa: E731
        t_s, t_b = make(truth_s + rng.normal(0, 0.3, n_s)), make(truth_b + rng.normal(0, 0.3, n_b))
        h_s, h_b = make(truth_s + rng.normal(0, 0.8, n_s)), make(truth_b + rng.normal(0, 0.8, n_b))
        e_s, e_b = make(truth_s + rng.normal(0, 1.0, n_s)), make(truth_b + rng.normal(0, 1.0, n_b))
        d = Disagreement(h_s, t_s, h_b, t_b)
        want, fraction = _brute_disagreement_ado(e_s, t_s, h_s, e_b, t_b, h_b)
        assert d.ado(e_s, e_b) == pytest.approx(want, abs=1e-12)
        assert d.fraction == pytest.approx(fraction, abs=1e-12)
        assert d.ado(h_s, h_b) == pytest.approx(_brute_disagreement_ado(h_s, t_s, h_s, h_b, t_b, h_b)[0], abs=1e-12)
        i, j = disagreement_pairs(h_s, t_s, h_b, t_b)
        strict = (np.sign(h_s[i] - h_b[j]) * np.sign(t_s[i] - t_b[j]))
        assert np.all(strict == -1)
        assert len(i) == int(((np.sign(h_s[:, None] - h_b) * np.sign(t_s[:, None] - t_b)) < 0).sum())


def test_disagreement_refuses_what_it_cannot_order():
    from xaugcol.mapping.decision_ordering import Disagreement, disagreement_pairs

    x = np.arange(5.0)
    with pytest.raises(ValueError, match="order every pair alike"):
        Disagreement(x + 10, x + 10, x, x).ado(x, x)
    with pytest.raises(ValueError, match="NaN or inf value\\(s\\) in e_background"):
        Disagreement(x, -x, x, x).ado(x, np.full(5, np.nan))
    with pytest.raises(ValueError, match="more than max_pairs"):
        disagreement_pairs(x, x, x, x, max_pairs=10)
