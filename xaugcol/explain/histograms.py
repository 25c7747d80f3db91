"""hist histograms of relevance, per tagger (ensemble), explanation method and true class.

Every relevance filled here is normalised per jet (divided by the jet's largest absolute relevance, so |R| <= 1)
and then rounded to a multiple of 2^-30 (``quantise``). With values on that grid, float64 sums are exact (up to
2^23 jets per bin), so a histogram does not depend on the order in which chunks are merged: the iterative and
futures executors give bit-identical outputs. The rounding (1e-9) is far below float32 LRP precision (1e-7).
Histograms count jets (or particles), unweighted: they describe the tagger's decisions on the sample explained.

Which histograms a tagger gets follows from its input kinds (``xaugcol.features.kinds``), never from their names.
Keys (``T`` the tagger name, ``f`` a feature, ``a__b`` a pair of per-jet scalar features, ``K`` a kind with a map);
the ``rule`` axis holds the explanation method:

* ``features/T``   (rule, member, label, feature): summed |normalised relevance| per feature (Agarwal, Rappoccio et
  al.'s (arXiv:2011.13466) mean normalised relevance is this over ``jets/T``);
* ``jets/T``       (rule, member, label): jets explained with some non-zero relevance;
* ``score/T`` and ``score_output/T`` (rule, member, label[, feature]): per feature the summed signed relevance
  times the sign of the output, and the summed |output|: their ratio is the share of the output score the feature
  carries (Agarwal, Rappoccio et al.'s (arXiv:2011.13466) relevance normalised by the output score,
  ``statistics.score_shares``);
* ``profile/T/f``  (rule, label, value, relevance): 2D, per jet (XAUG) or per object (particle features);
* ``profile_sum/T/f`` (rule, label, value): summed signed relevance, for exact profile means;
* ``K/T``          (rule, label, sign, x, y): summed positive and (absolute) negative relevance per pixel (``image``);
* ``K_input/T``    (label, x, y): summed input per pixel (the average image, for comparison);
* ``pairs/T`` and ``pairs_jets/T`` (rule, label, pair, a, b): for every pair of per-jet scalar features (``a__b``),
  the summed relevance of a and b, and the jet counts, on a coarse grid of each feature's range (bin indices); one
  histogram for all pairs, so a chunk's output stays small. ``pair_histograms`` turns one pair into
  ``pair/T/a__b`` and ``pair_jets/T/a__b`` (rule, label, a, b) with the features' value axes: the report keeps the
  pair of the two most relevant variables.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import hist
import numpy as np
from numpy.typing import ArrayLike

from xaugcol.features.kinds import InputKind

if TYPE_CHECKING:
    from xaugcol.processing.settings import ProcessingConfig

QUANTUM = 2.0**-30
# 41 bins of width 0.05 centred on -1, -0.95, ..., 1: the normalised relevance +-1 of a jet's top input is inside
RELEVANCE_AXIS = (41, -1.025, 1.025)
PAIR_BINS = 16


def quantise(values: ArrayLike) -> np.ndarray:
    """Round to a multiple of 2^-30 (exact power-of-two scaling): sums of such values are order-independent.

    Parameters
    ----------
    values : array_like
        Numbers of any shape (normalised relevance, |R| <= 1, or inputs and outputs to be summed).

    Returns
    -------
    numpy.ndarray
        ``values`` as float64, rounded to the nearest multiple of ``QUANTUM``, same shape.
    """
    return np.round(np.asarray(values, dtype=np.float64) / QUANTUM) * QUANTUM


def _rule_axis(rules):
    return hist.axis.StrCategory(list(rules), name="rule", label="explanation method")


# true class of a jet: 0 background, 1 signal; -1 a dataset without truth (real data), a class only in runs that
# explain such datasets
CLASSES = (0, 1)
WITH_DATA = (0, 1, -1)


def _label_axis(classes):
    return hist.axis.IntCategory(list(classes), name="label", label="class")


def _value_axis(kind: InputKind, feature: str, bins: int | None = None):
    n, lo, hi, label = kind.binning(feature)
    return hist.axis.Regular(bins or n, lo, hi, name=feature.replace(":", "_"), label=label)


def map_axes(kind: InputKind, processing: Any) -> tuple[hist.axis.Regular, hist.axis.Regular]:
    """The (x, y) axes of the 2D relevance map of ``kind`` (``InputKind.map_axes``).

    Parameters
    ----------
    kind : InputKind
        An input kind with a 2D map (the jet image).
    processing : ProcessingConfig
        The jet tables' processing configuration (the map's pixels and extent).

    Returns
    -------
    x, y : hist.axis.Regular
        Axes named ``x`` and ``y``, each with one bin per pixel from -extent to +extent, labelled with the map's unit.

    Raises
    ------
    ValueError
        The kind has no 2D relevance map.
    """
    geometry = kind.map_axes(processing)
    if geometry is None:
        raise ValueError(f"input kind {kind.name!r} has no 2D relevance map")
    n, e, unit = geometry
    return (
        hist.axis.Regular(n, -e, e, name="x", label=f"x [{unit}]"),
        hist.axis.Regular(n, -e, e, name="y", label=f"y [{unit}]"),
    )


def xaug_pairs(columns: Iterable[str]) -> list[tuple[str, str]]:
    """Every pair of the XAUG ``columns``, in their order (the 2D relevance histograms).

    Parameters
    ----------
    columns : iterable of str
        The XAUG variables (the feature names of a kind with ``jet_scalars``).

    Returns
    -------
    list of tuple of str
        Every ``(a, b)`` with ``a`` before ``b`` in ``columns`` (``itertools.combinations``).
    """
    return list(itertools.combinations(columns, 2))


def pair_key(a: str, b: str) -> str:
    """The key part of the histograms of the pair (``a``, ``b``) of XAUG variables: ``a__b``.

    Parameters
    ----------
    a, b : str
        The pair's two variables, in ``xaug_pairs`` order.

    Returns
    -------
    str
        ``a__b``: a category of the ``pair`` axis of ``pairs/T``, and the last part of ``pair/T/a__b``.
    """
    return f"{a}__{b}"


def tagger_histograms(
    tagger: str,
    kinds: tuple[InputKind, ...],
    rules: Iterable[str],
    processing: ProcessingConfig,
    classes: Iterable[int] = CLASSES,
) -> dict:
    """Empty histograms for one tagger taking ``kinds`` (forward order).

    Parameters
    ----------
    tagger : str
        The tagger's name (``T`` in the keys of the module docstring).
    kinds : tuple of InputKind
        The tagger's input kinds, in forward order: they decide which histograms it gets.
    rules : iterable of str
        The explanation methods' names (the categories of the ``rule`` axes).
    processing : ProcessingConfig
        The configuration of the jet tables (map geometry).
    classes : iterable of int, default CLASSES
        The true classes of the jets explained (``WITH_DATA`` when some dataset has no truth).

    Returns
    -------
    dict of str to hist.Hist
        Key -> empty histogram, with double storage: ``features/T``, ``jets/T``, ``score/T``, ``score_output/T``
        (their ``member`` axis grows), the profiles of every profiled feature, the maps of kinds with one and the
        ``pairs/T`` histograms of kinds with per-jet scalar features.
    """
    double = hist.storage.Double()
    rule = _rule_axis(rules)
    relevance = hist.axis.Regular(*RELEVANCE_AXIS, name="relevance", label="normalised relevance")
    features = [f for kind in kinds for f in kind.feature_names()]
    out = {
        f"features/{tagger}": hist.Hist(
            rule,
            hist.axis.IntCategory([], growth=True, name="member", label="seed"),
            _label_axis(classes),
            hist.axis.StrCategory(features, name="feature"),
            storage=double,
        ),
        f"jets/{tagger}": hist.Hist(
            rule,
            hist.axis.IntCategory([], growth=True, name="member", label="seed"),
            _label_axis(classes),
            storage=double,
        ),
    }
    out[f"score/{tagger}"] = out[f"features/{tagger}"].copy()
    out[f"score_output/{tagger}"] = out[f"jets/{tagger}"].copy()
    for kind in kinds:
        for f in kind.profiled_features():
            out[f"profile/{tagger}/{f}"] = hist.Hist(
                rule, _label_axis(classes), _value_axis(kind, f), relevance, storage=double
            )
            out[f"profile_sum/{tagger}/{f}"] = hist.Hist(
                rule, _label_axis(classes), _value_axis(kind, f), storage=double
            )
        if kind.map_axes(processing) is not None:
            sign = hist.axis.StrCategory(["positive", "negative"], name="sign")
            out[f"{kind.name}/{tagger}"] = hist.Hist(
                rule, _label_axis(classes), sign, *map_axes(kind, processing), storage=double
            )
            out[f"{kind.name}_input/{tagger}"] = hist.Hist(
                _label_axis(classes), *map_axes(kind, processing), storage=double
            )
    keys = [pair_key(a, b) for kind in kinds if kind.jet_scalars for a, b in xaug_pairs(kind.feature_names())]
    if keys:
        grid = [hist.axis.Integer(0, PAIR_BINS, name=n, label=f"{n} bin") for n in ("a", "b")]
        axes = (rule, _label_axis(classes), hist.axis.StrCategory(keys, name="pair"), *grid)
        out[f"pairs/{tagger}"] = hist.Hist(*axes, storage=double)
        out[f"pairs_jets/{tagger}"] = hist.Hist(*axes, storage=double)
    return out


def pair_bin(kind: InputKind, feature: str, values: ArrayLike) -> np.ndarray:
    """Bin index of ``values`` on the coarse pair grid of ``feature`` (-1: below, PAIR_BINS: above the range).

    The grid bins as a regular axis of PAIR_BINS bins over the feature's range (``InputKind.binning``) does.

    Parameters
    ----------
    kind : InputKind
        The kind the feature belongs to (its binning gives the range).
    feature : str
        The feature's name.
    values : array_like
        The feature's input values, one per jet.

    Returns
    -------
    numpy.ndarray
        int64 bin indices, shaped like ``values``, from -1 to PAIR_BINS.
    """
    _, lo, hi, _ = kind.binning(feature)
    z = np.floor((np.asarray(values, dtype=np.float64) - lo) / (hi - lo) * PAIR_BINS)
    return np.clip(z, -1, PAIR_BINS).astype(np.int64)


def pair_histograms(
    hists: dict, tagger: str, pair: tuple[str, str], kinds: Iterable[InputKind]
) -> tuple[hist.Hist, hist.Hist]:
    """(summed relevance, jets) of one pair (rule, label, a, b) with the two features' value axes, from
    ``pairs/T``.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        A run's histograms, with ``pairs/T`` and ``pairs_jets/T`` of the tagger.
    tagger : str
        The tagger's name.
    pair : tuple of str
        The two variables ``(a, b)``, in ``xaug_pairs`` order.
    kinds : iterable of InputKind
        The tagger's input kinds; the kind with per-jet scalars that has both features gives the value axes.

    Returns
    -------
    relevance : hist.Hist
        (rule, label, a, b): the summed relevance of a and b per cell, on PAIR_BINS bins of each feature's range.
    jets : hist.Hist
        The same axes: the jets per cell.
    """
    a, b = pair
    kind = next(k for k in kinds if k.jet_scalars and a in k.feature_names() and b in k.feature_names())
    out = []
    for key in (f"pairs/{tagger}", f"pairs_jets/{tagger}"):
        source = hists[key]
        h = hist.Hist(
            source.axes["rule"],
            source.axes["label"],
            _value_axis(kind, a, PAIR_BINS),
            _value_axis(kind, b, PAIR_BINS),
            storage=hist.storage.Double(),
        )
        h.view(flow=True)[...] = source[{"pair": pair_key(a, b)}].view(flow=True)
        out.append(h)
    return out[0], out[1]


def pixel_centres(n_pixels: int, extent: float) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of every pixel, flattened row by row: rows run top (y = +extent) to bottom, columns left to right.

    Parameters
    ----------
    n_pixels : int
        Pixels per side of the map.
    extent : float
        The map's half-width (in its unit, ``InputKind.map_axes``): it spans -extent to +extent.

    Returns
    -------
    x, y : numpy.ndarray
        Shape (n_pixels * n_pixels,): the pixel centres.
    """
    width = 2 * extent / n_pixels
    centres = -extent + (np.arange(n_pixels) + 0.5) * width
    x, y = np.meshgrid(centres, centres[::-1])
    return x.ravel(), y.ravel()


def fill_input_maps(
    hists: dict, tagger: str, kinds: Iterable[InputKind], rows: dict, processing: ProcessingConfig
) -> None:
    """The summed input of every kind with a map (the average jet image), per class.

    Fills ``K_input/T`` in place, with the quantised input summed per pixel over the jets of each class.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The tagger's histograms (``tagger_histograms``).
    tagger : str
        The tagger's name.
    kinds : iterable of InputKind
        The tagger's input kinds; those without a map are passed over.
    rows : dict
        The explained jets' table rows (with ``label`` and the kinds' columns).
    processing : ProcessingConfig
        The configuration of the jet tables (map geometry).
    """
    for kind in kinds:
        geometry = kind.map_axes(processing)
        if geometry is None:
            continue
        x, y = pixel_centres(*geometry[:2])
        values = kind.map_values(rows)
        for label in hists[f"{kind.name}_input/{tagger}"].axes["label"]:
            hists[f"{kind.name}_input/{tagger}"].fill(
                label=label, x=x, y=y, weight=quantise(values[rows["label"] == label]).sum(axis=0)
            )


def fill_score_shares(
    hists: dict,
    tagger: str,
    rule: str,
    member: int,
    features: list[str],
    labels: np.ndarray,
    shares: np.ndarray,
    weights: np.ndarray,
) -> None:
    """One member's score-share numerators and weights (``statistics.score_shares``) of the jets of ``labels``.

    Fills ``score_output/T`` and ``score/T`` in place, quantised.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The tagger's histograms (``tagger_histograms``).
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's name.
    member : int
        The member's seed.
    features : list of str
        The feature names, in the order of the columns of ``shares`` (``statistics.feature_names``).
    labels : numpy.ndarray
        Shape (jets,), int: each jet's true class.
    shares : numpy.ndarray
        Shape (jets, features): the score-share numerators.
    weights : numpy.ndarray
        Shape (jets,): |output| of each jet.
    """
    hists[f"score_output/{tagger}"].fill(rule=rule, member=member, label=labels, weight=quantise(weights))
    _fill_per_feature(hists[f"score/{tagger}"], rule, member, labels, features, quantise(shares))


def _fill_per_feature(
    h: hist.Hist, rule: str, member: int, labels: np.ndarray, features: list[str], values: np.ndarray
) -> None:
    """Fill a (rule, member, label, feature) histogram with (jets, features) ``values``."""
    h.fill(
        rule=rule,
        member=member,
        label=np.repeat(labels, len(features)),
        feature=np.tile(np.asarray(features, dtype=object), len(labels)),
        weight=values.ravel(),
    )


def fill_relevance(
    hists: dict,
    tagger: str,
    rule: str,
    member: int,
    kinds: Iterable[InputKind],
    rows: dict,
    normalised: dict,
    sums: np.ndarray,
    processing: ProcessingConfig,
) -> None:
    """Fill one member's explanation by one method.

    Fills, in place, ``jets/T``, ``features/T``, the profiles of the kinds' profiled features, the ``pairs/T``
    histograms of kinds with per-jet scalars and the relevance maps of kinds with one, all with quantised relevance.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The tagger's histograms (``tagger_histograms``).
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's name.
    member : int
        The member's seed.
    kinds : iterable of InputKind
        The tagger's input kinds, in forward order.
    rows : dict
        The explained jets' table rows (kept jets only).
    normalised : dict of str to numpy.ndarray
        Input name -> normalised relevance of those jets, shaped like the input (``statistics.normalise_per_jet``).
    sums : numpy.ndarray
        Shape (jets, features): summed |normalised relevance| (``statistics.feature_sums``).
    processing : ProcessingConfig
        The configuration of the jet tables (map geometry).
    """
    labels = rows["label"].astype(np.int64)
    features = [f for kind in kinds for f in kind.feature_names()]
    sums = quantise(sums)
    hists[f"jets/{tagger}"].fill(rule=rule, member=member, label=labels)
    _fill_per_feature(hists[f"features/{tagger}"], rule, member, labels, features, sums)
    for kind in kinds:
        r = normalised[kind.name]
        for entries in kind.profile_entries(rows, r):
            entry_labels = labels if entries.jet is None else labels[entries.jet]
            _fill_profile(
                hists, tagger, entries.feature, rule, entry_labels, entries.values, quantise(entries.relevance)
            )
        if kind.jet_scalars and len(kind.feature_names()) >= 2:
            _fill_pairs(hists, tagger, rule, kind, labels, rows, quantise(r))
        geometry = kind.map_axes(processing)
        if geometry is not None:
            q = quantise(kind.map_values(rows, r))
            x, y = pixel_centres(*geometry[:2])
            h = hists[f"{kind.name}/{tagger}"]
            for label in h.axes["label"]:
                sel = q[labels == label]
                h.fill(rule=rule, label=label, sign="positive", x=x, y=y, weight=np.clip(sel, 0, None).sum(axis=0))
                h.fill(rule=rule, label=label, sign="negative", x=x, y=y, weight=-np.clip(sel, None, 0).sum(axis=0))


def _fill_pairs(hists, tagger, rule, kind, labels, rows, q) -> None:
    """Every pair of the kind's features at once: per pair and jet, the two bin indices and the pair's summed
    relevance, summed with ``np.bincount`` straight into the histograms' bins (hundreds of thousands of entries
    per chunk: a fill through the string category axis would cost more than explaining a small tagger). The
    values are quantised, so the sums are exact whatever their order."""
    names = kind.feature_names()
    pairs = list(itertools.combinations(range(len(names)), 2))
    index = {f: pair_bin(kind, f, rows[f]) + 1 for f in names}  # flow layout: 0 underflow, PAIR_BINS + 1 overflow
    h, h_jets = hists[f"pairs/{tagger}"], hists[f"pairs_jets/{tagger}"]
    classes = np.asarray(list(h.axes["label"]))
    pair_of = {v: i for i, v in enumerate(h.axes["pair"])}
    side = PAIR_BINS + 2
    shape = (len(classes), len(pair_of), side, side)
    label_index = np.argmax(labels[:, None] == classes[None, :], axis=1)  # each jet's class position on the axis
    flat = np.concatenate(
        [
            ((label_index * len(pair_of) + pair_of[pair_key(names[i], names[j])]) * side + index[names[i]]) * side
            + index[names[j]]
            for i, j in pairs
        ]
    )
    weights = np.concatenate([q[:, i] + q[:, j] for i, j in pairs])
    size = int(np.prod(shape))
    r = h.axes["rule"].index(rule)
    h.view(flow=True)[r, : shape[0], : shape[1]] += np.bincount(flat, weights, minlength=size).reshape(shape)
    h_jets.view(flow=True)[r, : shape[0], : shape[1]] += np.bincount(flat, minlength=size).reshape(shape)


def _fill_profile(hists, tagger, feature, rule, labels, values, relevance) -> None:
    axis = feature.replace(":", "_")
    hists[f"profile/{tagger}/{feature}"].fill(rule=rule, label=labels, **{axis: values, "relevance": relevance})
    hists[f"profile_sum/{tagger}/{feature}"].fill(rule=rule, label=labels, **{axis: values}, weight=relevance)
