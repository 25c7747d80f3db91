"""Summaries of the relevance histograms: mean normalised relevance per feature with the ensemble spread, the
ranking it gives, and the pair of most relevant XAUG variables."""

from __future__ import annotations

from collections.abc import Iterable

import hist
import numpy as np

from xaugcol.explain.histograms import pair_key

# "data": jets of datasets without truth (label -1); "all": every jet explained
CLASSES = {"background": (0,), "signal": (1,), "data": (-1,), "all": (0, 1, -1)}


def mean_normalised_relevance(hists: dict, tagger: str, rule: str, view: str = "features") -> dict:
    """Mean normalised relevance per class and feature, with its spread over the ensemble's members.

    Per member, the summed |normalised relevance| over the jets explained; mean and standard deviation over the
    members (ddof 1; 0 for a single member). ``view="score"``: the |output|-weighted mean share of the output score
    instead (``score/T`` over ``score_output/T``).

    Parameters
    ----------
    hists : dict of str to hist.Hist
        A run's relevance histograms (``xaugcol.explain.histograms``).
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's name (a category of the ``rule`` axis).
    view : {"features", "score"}, default "features"
        ``features``: ``features/T`` over ``jets/T``; ``score``: ``score/T`` over ``score_output/T``.

    Returns
    -------
    dict
        {class: {feature: {"mean", "std", "members": {seed: value}}}}, for the classes of ``CLASSES`` that the
        histograms have jets of (``all``: every jet explained); ``mean`` is None where no member explained a jet of
        the class, and members without such jets are left out.
    """
    h = hists[f"{view}/{tagger}"][{"rule": rule}]
    jets = hists[{"features": f"jets/{tagger}", "score": f"score_output/{tagger}"}[view]][{"rule": rule}]
    features = list(h.axes["feature"])
    members = [int(m) for m in h.axes["member"]]
    out: dict[str, dict[str, dict]] = {}
    present = set(h.axes["label"])
    for cls, class_labels in CLASSES.items():
        labels = [k for k in class_labels if k in present]
        if not labels:
            continue  # "data" in a run without datasets lacking truth
        sums = sum(h[{"label": hist.loc(k)}].values() for k in labels)  # (member, feature)
        n = sum(jets[{"label": hist.loc(k)}].values() for k in labels)  # (member,)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_member = np.where(n[:, None] > 0, sums / np.where(n[:, None] > 0, n[:, None], 1), np.nan)
        valid = n > 0
        out[cls] = {}
        for j, f in enumerate(features):
            v = per_member[valid, j]
            out[cls][f] = {
                "mean": float(v.mean()) if v.size else None,
                "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
                "members": {str(m): float(per_member[i, j]) for i, m in enumerate(members) if valid[i]},
            }
    return out


def ranking(summary: dict, cls: str = "all", only: list[str] | None = None) -> list[str]:
    """Features by decreasing mean normalised relevance (``only``: restrict to these, e.g. the XAUG variables).

    Parameters
    ----------
    summary : dict
        {class: {feature: {"mean", ...}}}, as ``mean_normalised_relevance`` returns.
    cls : str, default "all"
        The class ranked (a key of ``summary``).
    only : list of str, optional
        The features ranked; default: all of them.

    Returns
    -------
    list of str
        The features with a mean, the most relevant first (ties by name).
    """
    items = [(f, s["mean"]) for f, s in summary[cls].items() if s["mean"] is not None and (only is None or f in only)]
    return [f for f, _ in sorted(items, key=lambda fs: (-fs[1], fs[0]))]


def mean_score_shares(hists: dict, tagger: str, rule: str) -> dict:
    """{"classes": {class: {feature: {"mean", "std", "members"}}}, "ranking": {class: features}}: Agarwal, Rappoccio et
    al.'s (arXiv:2011.13466) relevance normalised by the output score, per class, ranked by decreasing mean share (the
    feature that carries most of the decision first).

    Parameters
    ----------
    hists : dict of str to hist.Hist
        A run's relevance histograms, with ``score/T`` and ``score_output/T``.
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's name.

    Returns
    -------
    dict
        ``classes``: ``mean_normalised_relevance`` with ``view="score"``; ``ranking``: per class, the features by
        decreasing mean share (``ranking``).
    """
    classes = mean_normalised_relevance(hists, tagger, rule, view="score")
    return {"classes": classes, "ranking": {c: ranking(classes, c) for c in classes}}


def top_pair(summary: dict, xaug_columns: Iterable[str]) -> tuple[str, str] | None:
    """The two most relevant XAUG variables, in the order their pair histogram is keyed.

    Parameters
    ----------
    summary : dict
        {class: {feature: {"mean", ...}}}, as ``mean_normalised_relevance`` returns; the ``all`` class is ranked.
    xaug_columns : iterable of str
        The tagger's XAUG variables, in their order.

    Returns
    -------
    tuple of str or None
        ``(a, b)``, in the order of ``xaug_columns``; None when fewer than two variables have a mean.
    """
    top = ranking(summary, "all", list(xaug_columns))[:2]
    if len(top) < 2:
        return None
    a, b = sorted(top, key=list(xaug_columns).index)
    return a, b


def pair_histograms(hists: dict, tagger: str, pair: tuple[str, str]) -> tuple[hist.Hist, hist.Hist]:
    """The relevance and jet-count histograms of a pair of XAUG variables (``pair/...``, ``pair_jets/...``).

    Parameters
    ----------
    hists : dict of str to hist.Hist
        A run's histograms, with the pair's ``pair/T/a__b`` and ``pair_jets/T/a__b`` (as the report keeps them).
    tagger : str
        The tagger's name.
    pair : tuple of str
        The two variables ``(a, b)``, in the order their histograms are keyed (``top_pair``).

    Returns
    -------
    relevance : hist.Hist
        (rule, label, a, b): the summed relevance of the two variables.
    jets : hist.Hist
        The same axes: the jets counted.
    """
    key = pair_key(*pair)
    return hists[f"pair/{tagger}/{key}"], hists[f"pair_jets/{tagger}/{key}"]


def profile(
    hists: dict, tagger: str, feature: str, rule: str, label: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bin centres, mean normalised relevance, its standard error, entries) per input-value bin.

    NaN where a bin is empty. The mean is exact (summed relevance / entries); the spread comes from the 2D histogram
    (relevance at its bins' centres). Flow bins are left out.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        A run's histograms, with ``profile/T/f`` and ``profile_sum/T/f`` of the feature.
    tagger : str
        The tagger's name.
    feature : str
        The profiled feature.
    rule : str
        The explanation method's name.
    label : int
        The true class (0 background, 1 signal, -1 data without truth).

    Returns
    -------
    centres : numpy.ndarray
        Shape (bins,): the centres of the input-value bins.
    mean : numpy.ndarray
        Shape (bins,): the mean normalised relevance per bin.
    error : numpy.ndarray
        Shape (bins,): its standard error.
    entries : numpy.ndarray
        Shape (bins,): the entries (jets or objects) per bin.
    """
    sel = {"rule": rule, "label": hist.loc(label)}
    h2 = hists[f"profile/{tagger}/{feature}"][sel]
    sums = hists[f"profile_sum/{tagger}/{feature}"][sel].values()
    counts = h2.values()  # (value, relevance)
    n = counts.sum(axis=1)
    r = h2.axes[1].centers
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / n
        var = (counts * (r[None, :] - mean[:, None]) ** 2).sum(axis=1) / n
        err = np.sqrt(var / n)
    return h2.axes[0].centers, mean, err, n
