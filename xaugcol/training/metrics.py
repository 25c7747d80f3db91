"""Tagger performance: weighted ROC curve, AUC, signal efficiency at fixed background efficiency; ensemble
summaries as mean and standard deviation over the members (Agarwal, Rappoccio et al.'s (arXiv:2011.13466) error
bars)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

BACKGROUND_EFFICIENCIES = (0.01, 0.1)


def performance(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None, roc_points: int = 200
) -> dict:
    """Measure a tagger's performance: AUC, signal efficiencies and the ROC curve.

    The signal efficiencies are at background efficiency 1 % and 10 % (``BACKGROUND_EFFICIENCIES``, interpolated
    on the ROC curve); the ROC curve is down-sampled to ``roc_points`` points (background efficiency, signal
    efficiency).

    Parameters
    ----------
    labels : numpy.ndarray
        1 for signal, 0 for background, shape (jets,).
    scores : numpy.ndarray
        The tagger's score of each jet, shape (jets,).
    weights : numpy.ndarray, optional
        The weight of each jet, shape (jets,); None: unweighted.
    roc_points : int, default 200
        The points of the down-sampled ROC curve: 0 and ``roc_points - 1`` background efficiencies spaced
        logarithmically from 1e-4 to 1.

    Returns
    -------
    dict
        ``auc``, ``n_jets``, ``n_signal``, ``n_background``, ``sig_eff_at_bkg_0.01``, ``sig_eff_at_bkg_0.1`` and
        ``roc`` (``bkg_eff`` and ``sig_eff``, lists of float).

    Raises
    ------
    ValueError
        If the jets are not of both classes.
    """
    labels = np.asarray(labels).astype(int)
    if len(np.unique(labels)) < 2:
        raise ValueError("performance needs jets of both classes")
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights)
    out: dict[str, object] = {
        "auc": float(roc_auc_score(labels, scores, sample_weight=weights)),
        "n_jets": int(len(labels)),
        "n_signal": int((labels == 1).sum()),
        "n_background": int((labels == 0).sum()),
    }
    for eff in BACKGROUND_EFFICIENCIES:
        out[f"sig_eff_at_bkg_{eff:g}"] = float(np.interp(eff, fpr, tpr))
    grid = np.unique(np.concatenate([np.geomspace(1e-4, 1, roc_points - 1), [0.0]]))
    out["roc"] = {"bkg_eff": grid.tolist(), "sig_eff": np.interp(grid, fpr, tpr).tolist()}
    return out


def summarise(members: list[dict]) -> dict:
    """Summarise every scalar metric over the ensemble members: mean and standard deviation.

    Parameters
    ----------
    members : list of dict
        Each member's metrics (``performance``); the scalar keys of the first member are summarised.

    Returns
    -------
    dict of str to dict
        Metric to ``mean``, ``std`` (ddof 1; ddof 0, so 0, for one member) and ``values`` (one per member).
    """
    keys = [k for k, v in members[0].items() if isinstance(v, (int, float))]
    out = {}
    for k in keys:
        values = np.array([m[k] for m in members], dtype=np.float64)
        out[k] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1 if len(values) > 1 else 0)),
            "values": values.tolist(),
        }
    return out
