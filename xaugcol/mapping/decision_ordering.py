"""Decision ordering: do two taggers f and g order signal-background pairs alike?

    DO(x, x') = Theta((f(x) - f(x')) (g(x) - g(x'))),  x signal, x' background, a tie (product 0) counting 1/2,
    ADO = the average of DO over ALL signal x background pairs, folded to max(ADO, 1 - ADO)

(a tagger and its negative order alike: folding makes the measure blind to the sign of the output). With
s(x, x') = sign(f(x) - f(x')) sign(g(x) - g(x')), DO = (1 + s) / 2, so ADO = 1/2 + S / (2 N_s N_b) with
S = sum over the pairs of s. S is exact in O(N log N), never sampled: the sum over all pairs of a pooled sample of
sign products (Kendall's numerator, from scipy's merge-sort ``kendalltau``) minus those within the signal and
within the background leaves the signal-background pairs.

The guided search needs the ordering of a third observable e on the pairs where two taggers h and t disagree.
With the weight w = (1 - s_h s_t) / 2 of a pair (1 where h and t order it differently, 0 where alike, 1/2 where
either ties) and DO(e, t) = (1 + s_e s_t) / 2,

    sum_pairs w DO(e, t) = [N - S(h, t) + S(e, t) - S_t(h, e)] / 4,   sum_pairs w = [N - S(h, t)] / 2,

with N the number of pairs and S_t(h, e) = sum s_h s_e s_t^2 the sum over the pairs untied in t. S_t is S(h, e)
less the pairs tied in t, and those are counted in O(N log N) too: with the keys h' = (t, h) and e' = (t, e)
compared lexicographically, every pair untied in t gives s_h' s_e' = 1 and every tied one s_h s_e. So the ADO on
the disagreement pairs is as exact as the ADO itself, without listing a pair.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import kendalltau


def _ties(values: np.ndarray) -> int:
    _, counts = np.unique(values, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def concordance_sum(f: np.ndarray, g: np.ndarray) -> int:
    """Exact sum over all pairs i < j of sign(f_i - f_j) sign(g_i - g_j) (concordant minus discordant pairs).

    kendalltau gives tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2)) with n1, n2 the pairs tied in f, in g; C - D is an
    integer, recovered by rounding (the float error stays far below 1/2 up to 10^7 jets).

    Parameters
    ----------
    f : numpy.ndarray
        The first tagger's values, shape (n,).
    g : numpy.ndarray
        The second tagger's values on the same items, shape (n,).

    Returns
    -------
    int
        C - D; 0 for fewer than two items or when ``f`` or ``g`` is constant.
    """
    n = len(f)
    if n < 2:
        return 0
    pairs = n * (n - 1) // 2
    untied_f, untied_g = pairs - _ties(f), pairs - _ties(g)
    if untied_f == 0 or untied_g == 0:
        return 0  # one of them is constant: every product is 0
    tau = kendalltau(f, g, variant="b").statistic
    return int(round(float(tau) * np.sqrt(float(untied_f) * float(untied_g))))


def ado(
    f_signal: ArrayLike, g_signal: ArrayLike, f_background: ArrayLike, g_background: ArrayLike, fold: bool = True
) -> float:
    """The average decision ordering of taggers f and g over every signal x background pair.

    A tie (in f or in g) counts 1/2. The inputs are flattened to float64.

    Parameters
    ----------
    f_signal : array_like
        Tagger f's values on the signal jets, shape (signal,).
    g_signal : array_like
        Tagger g's values on the same signal jets, in the same order.
    f_background : array_like
        Tagger f's values on the background jets, shape (background,).
    g_background : array_like
        Tagger g's values on the same background jets, in the same order.
    fold : bool, default True
        Whether to fold the result to max(ADO, 1 - ADO), so that a tagger and its negative order alike.

    Returns
    -------
    float
        The ADO, in [0, 1] ([0.5, 1] folded).

    Raises
    ------
    ValueError
        On an empty class, arrays of one class differing in length, or a NaN or infinite value, naming them.
    """
    arrays = _checked(
        "decision ordering", f_signal=f_signal, g_signal=g_signal, f_background=f_background, g_background=g_background
    )
    fs, gs, fb, gb = arrays.values()
    value = 0.5 + _cross(fs, gs, fb, gb) / (2.0 * len(fs) * len(fb))
    return max(value, 1.0 - value) if fold else value


def _cross(fs, gs, fb, gb) -> int:
    """sum over the signal x background pairs of sign(f_s - f_b) sign(g_s - g_b): all pairs minus those within a
    class."""
    return (
        concordance_sum(np.concatenate([fs, fb]), np.concatenate([gs, gb]))
        - concordance_sum(fs, gs)
        - concordance_sum(fb, gb)
    )


def _checked(where: str, **arrays) -> dict[str, np.ndarray]:
    out = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in arrays.items()}
    for k, v in out.items():
        if not np.isfinite(v).all():
            raise ValueError(f"{where}: {int((~np.isfinite(v)).sum())} NaN or inf value(s) in {k}")
    for cls in ("signal", "background"):
        lengths = {k: len(v) for k, v in out.items() if k.endswith(cls)}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{where}: the {cls} arrays differ in length: {lengths}")
        if not min(lengths.values()):
            raise ValueError(f"{where}: no {cls} jets")
    return out


def _lexicographic(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Integer keys ordering jets by ``first``, then ``second`` (dense ranks, exact for any float values)."""
    _, r1 = np.unique(first, return_inverse=True)
    _, r2 = np.unique(second, return_inverse=True)
    return r1.astype(np.int64) * (int(r2.max()) + 1) + r2


class Disagreement:
    """The signal x background pairs on which a tagger h and a reference t (the black box) order differently.

    The pairs are weighted w = (1 - s_h s_t) / 2, with what ``ado`` of another observable needs of them computed
    once: ``ado(e_signal, e_background)`` is the average DO(e, t) over these pairs (folded), exactly (module
    docstring). ``fraction`` is their share of all pairs, 1 - ADO(h, t) unfolded.

    Parameters
    ----------
    h_signal : array_like
        Tagger h's values on the signal jets, shape (signal,).
    t_signal : array_like
        The reference t's values on the same signal jets, in the same order.
    h_background : array_like
        Tagger h's values on the background jets, shape (background,).
    t_background : array_like
        The reference t's values on the same background jets, in the same order.

    Raises
    ------
    ValueError
        On an empty class, arrays of one class differing in length, or a NaN or infinite value.
    """

    def __init__(self, h_signal, t_signal, h_background, t_background):
        a = _checked(
            "disagreement", h_signal=h_signal, t_signal=t_signal, h_background=h_background, t_background=t_background
        )
        self.h_s, self.t_s, self.h_b, self.t_b = a.values()
        self.pairs = len(self.h_s) * len(self.h_b)
        self.weight = (self.pairs - _cross(self.h_s, self.t_s, self.h_b, self.t_b)) / 2.0
        self.fraction = self.weight / self.pairs
        # the pairs tied in t: sum over the t values of (signal jets at it) x (background jets at it)
        values_s, counts_s = np.unique(self.t_s, return_counts=True)
        values_b, counts_b = np.unique(self.t_b, return_counts=True)
        _, i_s, i_b = np.intersect1d(values_s, values_b, assume_unique=True, return_indices=True)
        self.tied_t = int((counts_s[i_s].astype(np.int64) * counts_b[i_b]).sum())

    def ado(self, e_signal: ArrayLike, e_background: ArrayLike, fold: bool = True) -> float:
        """ADO[t] of an observable e on the disagreement pairs: the weighted share of them e orders as t does.

        Parameters
        ----------
        e_signal : array_like
            The observable's values on the signal jets: the same jets, in the same order, as the constructor's.
        e_background : array_like
            The observable's values on the background jets, likewise.
        fold : bool, default True
            Whether e and -e count alike (max(ADO, 1 - ADO)): an observable may order either way.

        Returns
        -------
        float
            The average decision ordering, in [0, 1] ([0.5, 1] folded).

        Raises
        ------
        ValueError
            On invalid values (as the constructor), or when h and t order every pair alike (no disagreement pairs).
        """
        a = _checked(
            "disagreement ADO", e_signal=e_signal, e_background=e_background, t_signal=self.t_s, t_background=self.t_b
        )
        e_s, e_b = a["e_signal"], a["e_background"]
        if self.weight == 0:
            raise ValueError("disagreement ADO: the two taggers order every pair alike (no disagreement pairs)")
        # S_t(h, e): the pairs untied in t; the lexicographic keys give (untied pairs) + (tied pairs' s_h s_e)
        n_s = len(e_s)
        t = np.concatenate([self.t_s, self.t_b])
        hk, ek = _lexicographic(t, np.concatenate([self.h_s, self.h_b])), _lexicographic(t, np.concatenate([e_s, e_b]))
        tied_part = _cross(hk[:n_s], ek[:n_s], hk[n_s:], ek[n_s:]) - (self.pairs - self.tied_t)
        s_t_he = _cross(self.h_s, e_s, self.h_b, e_b) - tied_part
        s_ht = self.pairs - 2.0 * self.weight
        value = (self.pairs - s_ht + _cross(e_s, self.t_s, e_b, self.t_b) - s_t_he) / 4.0 / self.weight
        return max(value, 1.0 - value) if fold else value


def disagreement_pairs(
    h_signal: ArrayLike, t_signal: ArrayLike, h_background: ArrayLike, t_background: ArrayLike, max_pairs: int = 10**8
) -> tuple[np.ndarray, ...]:
    """List (signal index, background index) of every pair the two taggers order strictly differently.

    For inspection and small samples: it builds a (signal, background) matrix, refused above ``max_pairs`` pairs;
    the search uses ``Disagreement``. Pairs tied in either tagger are not listed.

    Parameters
    ----------
    h_signal : array_like
        Tagger h's values on the signal jets, shape (signal,).
    t_signal : array_like
        Tagger t's values on the same signal jets, in the same order.
    h_background : array_like
        Tagger h's values on the background jets, shape (background,).
    t_background : array_like
        Tagger t's values on the same background jets, in the same order.
    max_pairs : int, default 10**8
        The most signal x background pairs accepted.

    Returns
    -------
    tuple of numpy.ndarray
        (signal indices, background indices) of the pairs, as ``numpy.nonzero`` gives them.

    Raises
    ------
    ValueError
        On invalid values (as ``ado``), or more than ``max_pairs`` pairs.
    """
    a = _checked(
        "disagreement pairs", h_signal=h_signal, t_signal=t_signal, h_background=h_background, t_background=t_background
    )
    h_s, t_s, h_b, t_b = a.values()
    if len(h_s) * len(h_b) > max_pairs:
        raise ValueError(f"disagreement pairs: {len(h_s)} x {len(h_b)} pairs are more than max_pairs = {max_pairs}")
    product = np.sign(h_s[:, None] - h_b[None, :]) * np.sign(t_s[:, None] - t_b[None, :])
    return np.nonzero(product < 0)
