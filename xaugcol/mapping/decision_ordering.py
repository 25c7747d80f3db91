"""Decision ordering: do two taggers f and g order signal-background pairs alike?

    DO(x, x') = Theta((f(x) - f(x')) (g(x) - g(x'))),  x signal, x' background, a tie (product 0) counting 1/2,
    ADO = the average of DO over ALL signal x background pairs, folded to max(ADO, 1 - ADO)

(a tagger and its negative order alike: folding makes the measure blind to the sign of the output). With
s(x, x') = sign(f(x) - f(x')) sign(g(x) - g(x')), DO = (1 + s) / 2, so ADO = 1/2 + S / (2 N_s N_b) with
S = sum over the pairs of s. S is exact in O(N log N), never sampled: the sum over all pairs of a pooled sample of
sign products (Kendall's numerator, from scipy's merge-sort ``kendalltau``) minus those within the signal and
within the background leaves the signal-background pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau


def _ties(values: np.ndarray) -> int:
    _, counts = np.unique(values, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def concordance_sum(f: np.ndarray, g: np.ndarray) -> int:
    """Exact sum over all pairs i < j of sign(f_i - f_j) sign(g_i - g_j) (concordant minus discordant pairs).
    kendalltau gives tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2)) with n1, n2 the pairs tied in f, in g; C - D is an
    integer, recovered by rounding (the float error stays far below 1/2 up to 10^7 jets)."""
    n = len(f)
    if n < 2:
        return 0
    pairs = n * (n - 1) // 2
    untied_f, untied_g = pairs - _ties(f), pairs - _ties(g)
    if untied_f == 0 or untied_g == 0:
        return 0  # one of them is constant: every product is 0
    tau = kendalltau(f, g, variant="b").statistic
    return int(round(float(tau) * np.sqrt(float(untied_f) * float(untied_g))))


def ado(f_signal, g_signal, f_background, g_background, fold: bool = True) -> float:
    """The average decision ordering of taggers f and g over every signal x background pair (``fold``: folded to
    max(ADO, 1 - ADO)). Refuses empty classes, mismatched lengths and NaN, naming them."""
    arrays = {"f_signal": f_signal, "g_signal": g_signal, "f_background": f_background, "g_background": g_background}
    arrays = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in arrays.items()}
    for k, v in arrays.items():
        if not np.isfinite(v).all():
            raise ValueError(f"decision ordering: {int((~np.isfinite(v)).sum())} NaN or inf value(s) in {k}")
    for cls in ("signal", "background"):
        if len(arrays[f"f_{cls}"]) != len(arrays[f"g_{cls}"]):
            raise ValueError(f"decision ordering: f and g have {len(arrays[f'f_{cls}'])} and "
                             f"{len(arrays[f'g_{cls}'])} {cls} jets")
        if len(arrays[f"f_{cls}"]) == 0:
            raise ValueError(f"decision ordering: no {cls} jets")
    fs, gs, fb, gb = arrays.values()
    cross = (concordance_sum(np.concatenate([fs, fb]), np.concatenate([gs, gb]))
             - concordance_sum(fs, gs) - concordance_sum(fb, gb))
    value = 0.5 + cross / (2.0 * len(fs) * len(fb))
    return max(value, 1.0 - value) if fold else value
