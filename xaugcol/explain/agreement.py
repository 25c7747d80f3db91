"""Where relevance and occlusion disagree: Roy and Neubauer's (ICHEP 2022) warning case, automated.

Roy and Neubauer found ``track_quality`` among the features LRP ranked highest while masking it cost the Interaction
Network nothing, and its distribution was nearly the same for H->bb and QCD jets: a feature that carries relevance
without carrying information acts like a bias (a constant input the network leans on, which LRP has to hand its
share of the output). A feature is flagged for an explanation method when

* LRP ranks it high: among the ``top`` most relevant features (mean normalised relevance, in either class);
* occlusion shows no loss: its mean dAUC is below ``max_dauc`` (x 100, the occlusion table's unit);
* its input distribution is nearly the same in both classes: the total-variation distance between the normalised
  signal and background histograms of its value (per jet, or per real object for a track or particle feature)
  is below ``max_distance``.

Features without a value histogram (image blocks) are never flagged. A retraining without the flagged features
(``xaugcol.training.pruning``) tells whether the tagger needed them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TOP_FRACTION = 0.25  # "ranked high": the top quarter of the features (at least one)
MAX_DAUC = 0.01  # dAUC x 100: an AUC loss below 1e-4
MAX_DISTANCE = 0.1  # total-variation distance between the classes' value distributions


def comparison_rule(rules: Sequence[str]) -> str:
    """The method the occlusion ranking is compared with: LRP-gamma where the run has it, else the first.

    LRP-gamma is Roy and Neubauer's choice (ICHEP 2022).

    Parameters
    ----------
    rules : sequence of str
        The run's explanation methods' names, in their order (not empty).

    Returns
    -------
    str
        The first name starting with ``gamma``, else the first name.
    """
    return next((r for r in rules if r.startswith("gamma")), rules[0])


def class_distance(hists: dict, tagger: str, feature: str) -> float | None:
    """Total-variation distance, 0.5 sum |p_signal - p_background|, between the classes' value histograms of a feature.

    The value histograms come from the feature's relevance profile, which counts every jet or object explained (the
    first method's, flow bins included).

    Parameters
    ----------
    hists : dict of str to hist.Hist
        A run's relevance histograms (``profile/T/f``).
    tagger : str
        The tagger's name.
    feature : str
        The feature's name.

    Returns
    -------
    float or None
        The distance, from 0 (the same distribution) to 1; None without a profile, without both classes (labels 0
        and 1), or when a class has no entries.
    """
    h = hists.get(f"profile/{tagger}/{feature}")
    if h is None:
        return None
    labels = list(h.axes["label"])
    if 0 not in labels or 1 not in labels:
        return None
    rule = list(h.axes["rule"])[0]  # every method's profile counts the same entries
    counts = h[{"rule": rule}].project("label", h.axes[2].name).values(flow=True)  # (label, value bins + flow)
    signal, background = counts[labels.index(1)], counts[labels.index(0)]
    if signal.sum() <= 0 or background.sum() <= 0:
        return None
    return float(0.5 * np.abs(signal / signal.sum() - background / background.sum()).sum())


def bias_like(
    summary: dict,
    occlusion: dict,
    hists: dict,
    tagger: str,
    top_fraction: float = TOP_FRACTION,
    max_dauc: float = MAX_DAUC,
    max_distance: float = MAX_DISTANCE,
) -> list[dict]:
    """The flagged features of one tagger for one method, each with its relevance rank, dAUC and class distance.

    Parameters
    ----------
    summary : dict
        The method's entry of the tagger's relevance summary, with ``classes`` ({class: {feature: {"mean", ...}}});
        the ``signal`` and ``background`` classes rank the features.
    occlusion : dict
        The tagger's occlusion table (``occlusion.table``), whose ``features`` rows hold ``dauc`` (``mean``).
    hists : dict of str to hist.Hist
        The run's relevance histograms (the profiles, for ``class_distance``).
    tagger : str
        The tagger's name.
    top_fraction : float, default TOP_FRACTION
        "Ranked high": among this fraction of the features (rounded up, at least one), in either class.
    max_dauc : float, default MAX_DAUC
        Flagged only below this mean dAUC (x 100, the occlusion table's unit).
    max_distance : float, default MAX_DISTANCE
        Flagged only below this total-variation distance between the classes' value distributions.

    Returns
    -------
    list of dict
        One per flagged feature, in summary order: ``feature``, ``relevance_rank`` (1: the most relevant),
        ``dauc`` and ``class_distance``; empty without an occlusion table or without a signal or background class.
    """
    rows = {r["feature"]: r for r in occlusion.get("features", [])}
    if not rows:
        return []
    classes = {c: v for c, v in summary["classes"].items() if c in ("signal", "background")}
    if not classes:
        return []
    names = list(next(iter(classes.values())))
    top = max(1, int(np.ceil(top_fraction * len(names))))
    rank: dict[str, int] = {}
    for stats in classes.values():  # the best place a feature takes in either class
        means = [stats[f]["mean"] if stats[f]["mean"] is not None else -np.inf for f in names]
        for place, k in enumerate(np.argsort(-np.asarray(means), kind="stable")):
            rank[names[k]] = min(rank.get(names[k], place), place)
    flagged = []
    for name in names:
        if name not in rows or rank[name] >= top:
            continue
        d_auc = rows[name]["dauc"]["mean"]
        distance = class_distance(hists, tagger, name)
        if d_auc < max_dauc and distance is not None and distance < max_distance:
            flagged.append(
                {"feature": name, "relevance_rank": rank[name] + 1, "dauc": d_auc, "class_distance": distance}
            )
    return flagged
