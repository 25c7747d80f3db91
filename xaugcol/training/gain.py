"""What the XAUG variables add to a low-level tagger: Agarwal, Rappoccio et al.'s (arXiv:2011.13466) claim, measured as
the gain in signal efficiency at fixed background efficiency, tagger + XAUG over the same tagger without, overall and in
bins of jet pT.

Per member, from its test predictions (``test_predictions.npz``: score, label, weight, pT of every test jet), the
signal efficiency at a background efficiency e is the weighted share of signal jets scoring above the threshold
that keeps e of the background weight (jets at the threshold counted in proportion). The ensemble's efficiency is
the mean over its members; the gain is eff(with XAUG) / eff(without) - 1. Two uncertainties: the training spread
(members' standard deviation / sqrt(members), propagated to the ratio) and the test-set statistics (a bootstrap:
the test jets resampled with replacement, ``bootstrap`` times, the same resampling for both taggers when they were
tested on the same jets, so their shared fluctuations cancel in the gain); ``error`` is both in quadrature. Where
no signal passes the threshold without XAUG (tiny samples at 0.1 %), the gain is None, and resamplings without a
ratio are left out and counted (``bootstrap_without_ratio``). The
number of background test jets above the threshold says how far a small efficiency can be trusted (about 400 for a
5 % error at 1 %).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from xaugcol.models.folder import load_test_predictions

BACKGROUND_EFFICIENCIES = (0.001, 0.01, 0.1)
BOOTSTRAP = 200


def signal_efficiency(
    score: ArrayLike, label: ArrayLike, weight: ArrayLike, background_efficiency: float
) -> tuple[float, float]:
    """Compute the signal efficiency at a weighted background efficiency.

    The threshold keeps ``background_efficiency`` of the background weight; jets at the threshold count in
    proportion.

    Parameters
    ----------
    score : array_like
        The tagger's score of each jet, shape (jets,).
    label : array_like
        1 for signal, 0 for background, shape (jets,); other labels are ignored.
    weight : array_like
        The weight of each jet, shape (jets,).
    background_efficiency : float
        The share of the background weight kept above the threshold, e.g. 0.01.

    Returns
    -------
    efficiency : float
        The share of the signal weight above the threshold; NaN if the background or the signal has no
        positive summed weight.
    background_above : float
        The number of background jets (unweighted) above the threshold, those at it counted in proportion: how far
        a small efficiency can be trusted; 0.0 where the efficiency is NaN.
    """
    score, label, weight = np.asarray(score, float), np.asarray(label), np.asarray(weight, float)
    bkg = label == 0
    order = np.argsort(-score[bkg], kind="stable")
    s_b, w_b = score[bkg][order], weight[bkg][order]
    total_b = w_b.sum()
    sig_w = weight[label == 1]
    if total_b <= 0 or sig_w.sum() <= 0:
        return float("nan"), 0.0
    cumulative = np.cumsum(w_b) / total_b
    k = int(np.searchsorted(cumulative, background_efficiency, side="left"))
    k = min(k, len(s_b) - 1)
    threshold = s_b[k]
    above_b = w_b[s_b > threshold].sum() / total_b
    at_b = w_b[s_b == threshold].sum() / total_b
    share = 0.0 if at_b <= 0 else float(np.clip((background_efficiency - above_b) / at_b, 0.0, 1.0))
    s_s = score[label == 1]
    eff = (sig_w[s_s > threshold].sum() + share * sig_w[s_s == threshold].sum()) / sig_w.sum()
    return float(eff), float((s_b > threshold).sum() + share * (s_b == threshold).sum())


def _efficiencies(predictions: list[dict], selection, effs, index=None) -> np.ndarray:
    """(members, efficiencies): each member on the selected test jets (``index``: a bootstrap resampling)."""
    out = np.empty((len(predictions), len(effs)))
    for m, p in enumerate(predictions):
        sel = np.flatnonzero(selection(p))
        if index is not None:
            sel = sel[index[m] if isinstance(index, list) else index]
        for j, e in enumerate(effs):
            out[m, j] = signal_efficiency(p["score"][sel], p["label"][sel], p["weight"][sel], e)[0]
    return out


def xaug_gain(
    base: list[str | Path],
    with_xaug: list[str | Path],
    pt_bins: Iterable[float] | None = None,
    background_efficiencies: Iterable[float] = BACKGROUND_EFFICIENCIES,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> dict:
    """Measure the gain of the tagger with XAUG over the one without, from their member folders.

    Parameters
    ----------
    base : list of str or Path
        The member folders of the tagger without XAUG (``Ensemble.members``), each with its
        ``test_predictions.npz``.
    with_xaug : list of str or Path
        The member folders of the same tagger with XAUG.
    pt_bins : iterable of float, optional
        Bin edges in jet pT (GeV); None: all jets in one bin.
    background_efficiencies : iterable of float, default ``BACKGROUND_EFFICIENCIES``
        The background efficiencies at which the signal efficiencies are compared.
    bootstrap : int, default ``BOOTSTRAP``
        The number of bootstrap resamplings of the test jets.
    seed : int, default 0
        The random-number seed of the resamplings.

    Returns
    -------
    dict
        As ``gain_from_predictions`` returns it.
    """
    base_predictions = [load_test_predictions(f) for f in base]
    xaug_predictions = [load_test_predictions(f) for f in with_xaug]
    return gain_from_predictions(base_predictions, xaug_predictions, pt_bins, background_efficiencies, bootstrap, seed)


def gain_from_predictions(
    base: list[dict],
    with_xaug: list[dict],
    pt_bins: Iterable[float] | None = None,
    background_efficiencies: Iterable[float] = BACKGROUND_EFFICIENCIES,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> dict:
    """Measure the gain of the tagger with XAUG over the one without, from the members' test predictions.

    Parameters
    ----------
    base : list of dict
        The test predictions of the members without XAUG, each a mapping of ``score``, ``label``, ``weight``
        and ``pt`` (GeV) to arrays of shape (jets,).
    with_xaug : list of dict
        The test predictions of the members with XAUG, the same way.
    pt_bins : iterable of float, optional
        Bin edges in jet pT (GeV); None: all jets in one bin.
    background_efficiencies : iterable of float, default ``BACKGROUND_EFFICIENCIES``
        The background efficiencies at which the signal efficiencies are compared.
    bootstrap : int, default ``BOOTSTRAP``
        The number of bootstrap resamplings of the test jets (the same for both taggers when every member was
        tested on the same jets).
    seed : int, default 0
        The random-number seed of the resamplings.

    Returns
    -------
    dict
        ``members`` (the member count of each tagger), ``bootstrap``, ``seed``, ``paired_test_jets`` (whether the
        resamplings were shared) and ``bins``: per pT bin its ``pt`` edges, its signal and background test jets
        (``jets``, of the first member without XAUG) and per background efficiency the members' efficiencies
        (``base``, ``xaug``: mean, std, values), the ``gain`` (None without a ratio), its errors (``error_training``,
        ``error_test``, ``error``), ``bootstrap_without_ratio`` and ``background_above``.
    """
    predictions = [list(base), list(with_xaug)]
    same_jets = all(_same_jets(predictions[0][0], p) for p in predictions[0][1:] + predictions[1])
    effs = tuple(background_efficiencies)
    edges = list(pt_bins) if pt_bins is not None else [-np.inf, np.inf]
    rng = np.random.default_rng(seed)
    bins = []
    for lo, hi in zip(edges, edges[1:]):

        def selection(p, lo=lo, hi=hi):
            return (p["pt"] >= lo) & (p["pt"] < hi) & (p["label"] >= 0)

        central = [_efficiencies(preds, selection, effs) for preds in predictions]  # (members, effs) each
        n_jets = [[int(selection(p).sum()) for p in preds] for preds in predictions]
        counts = {
            "signal": int(((predictions[0][0]["label"] == 1) & selection(predictions[0][0])).sum()),
            "background": int(((predictions[0][0]["label"] == 0) & selection(predictions[0][0])).sum()),
        }
        replica_rows: list[np.ndarray] = []
        for _ in range(bootstrap):
            # per tagger, the resampling: one index for every member (the same jets), or one per member
            draws: list[np.ndarray] | list[list[np.ndarray]]
            if same_jets:
                n = n_jets[0][0]
                index = rng.integers(0, n, n)
                draws = [index, index]
            else:
                draws = [[rng.integers(0, n, n) for n in per] for per in n_jets]
            means = [_efficiencies(preds, selection, effs, d).mean(axis=0) for preds, d in zip(predictions, draws)]
            # a resampling without signal above the threshold has no ratio: left out (NaN), counted below
            replica_rows.append(np.divide(means[1], means[0], out=np.full(len(effs), np.nan), where=means[0] > 0) - 1)
        replicas = np.array(replica_rows) if replica_rows else np.full((0, len(effs)), np.nan)
        rows = []
        for j, e in enumerate(effs):
            b, x = central[0][:, j], central[1][:, j]
            mb, mx = b.mean(), x.mean()
            sb, sx = (v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in (b, x))
            gain = mx / mb - 1 if mb > 0 else None  # no signal above the threshold without XAUG: no ratio
            training = float((mx / mb) * np.hypot(sb / mb, sx / mx)) if mb > 0 and mx > 0 else None
            usable = replicas[:, j][np.isfinite(replicas[:, j])]
            test = float(usable.std(ddof=1)) if len(usable) > 1 else None
            above = np.mean(
                [
                    signal_efficiency(p["score"][selection(p)], p["label"][selection(p)], p["weight"][selection(p)], e)[
                        1
                    ]
                    for p in predictions[0]
                ]
            )
            error = None if training is None or test is None else float(np.hypot(training, test))
            rows.append(
                {
                    "background_efficiency": e,
                    "base": _stat(b),
                    "xaug": _stat(x),
                    "gain": gain,
                    "error_training": training,
                    "error_test": test,
                    "error": error,
                    "bootstrap_without_ratio": int(len(replicas) - len(usable)),
                    "background_above": float(above),
                }
            )
        bins.append({"pt": [float(lo), float(hi)], "jets": counts, "efficiencies": rows})
    return {
        "members": [len(p) for p in predictions],
        "bootstrap": bootstrap,
        "seed": seed,
        "paired_test_jets": same_jets,
        "bins": bins,
    }


def _stat(values: np.ndarray) -> dict:
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "values": values.tolist(),
    }


def _same_jets(a: dict, b: dict) -> bool:
    return (
        len(a["label"]) == len(b["label"])
        and np.array_equal(a["label"], b["label"])
        and np.array_equal(a["pt"], b["pt"], equal_nan=True)
    )
