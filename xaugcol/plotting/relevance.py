"""Figures of the relevance histograms: mean normalised relevance (bars with the ensemble spread), profiles
(mean relevance against the input value), 2D relevance maps of the top XAUG pair, and image heat maps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import hist
import numpy as np

from xaugcol.explain.summary import pair_histograms, profile
from xaugcol.features.kinds import feature_label
from xaugcol.plotting.style import (
    CLASS_COLOURS,
    CLASS_NAMES,
    CLASS_ORDER,
    WITH_COLOURBAR,
    Margins,
    clear_bands,
    colorbar,
    figure,
    hbars,
    label,
    panel_title,
    save,
    text_width,
)

if TYPE_CHECKING:
    from matplotlib.colors import LogNorm

MAX_BARS = 25
DISCRETE_BINS = 3  # a profile of this few value bins is a flag (0, 1) or a charge (-1, 0, 1)


def plot_feature_relevance(
    summary: dict[str, Any],
    tagger: str,
    rule: str,
    out_stem: str | Path,
    sample: str,
    groups: list[list[str]] | None = None,
) -> list[Path]:
    """Horizontal bars of the mean normalised relevance per feature, signal and background, with error bars of
    one standard deviation over the ensemble members; features in ranking order (at most ``MAX_BARS``).

    Parameters
    ----------
    summary : dict
        The relevance summary: tagger -> rule -> ``ranking`` and per-class ``classes``.
    tagger, rule : str
        Whose relevance, by which method.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.
    groups : list of list of str, optional
        Features drawn in panels of their own scale (a joined tagger's image or particle sum beside its XAUG
        variables); default one panel.

    Returns
    -------
    list of Path
        The files written.
    """
    s = summary[tagger][rule]
    ranked = s["ranking"]
    groups = [g for g in (groups or [ranked]) if g]
    panels = [[f for f in ranked if f in set(g)][:MAX_BARS][::-1] for g in groups]
    heights = [max(2.0, 0.45 * len(names) + 1.0) for names in panels]
    largest = int(np.argmax([len(names) for names in panels]))  # the legend's panel
    heights[largest] += 0.7  # its band below the bars
    left = text_width([feature_label(f) for names in panels for f in names], 13) + 0.35
    fig, axes = figure(
        1,
        len(panels),
        width=max(10.0, left + 7.0),
        height=sum(heights) + 2.0,
        height_ratios=heights,
        margins=Margins(left=left, hspace=1.5),
    )
    drawn = [
        k
        for k in CLASS_ORDER
        if CLASS_NAMES[k] in s["classes"] and any(v["mean"] is not None for v in s["classes"][CLASS_NAMES[k]].values())
    ]
    height = 0.8 / max(len(drawn), 1)
    for ax, names in zip(axes[:, 0], panels):
        y = np.arange(len(names))
        for i, k in enumerate(drawn):
            cls = CLASS_NAMES[k]
            means = [s["classes"][cls][f]["mean"] or 0.0 for f in names]
            errs = [s["classes"][cls][f]["std"] for f in names]
            offset = 0.4 - height * (i + 0.5)
            hbars(
                ax,
                y + offset,
                means,
                height,
                CLASS_COLOURS[k],
                label=cls,
                xerr=[e if e is not None else 0.0 for e in errs],
            )
        ax.set_yticks(y, [feature_label(f) for f in names], fontsize=13)
        ax.set_xlabel("mean normalised relevance")
        ax.set_ylim(-0.6, len(names) - 0.4)
    legend = axes[largest, 0].legend(
        loc="lower right", fontsize=14, title=f"{tagger}, {rule}", title_fontsize=14, ncols=max(len(drawn), 1)
    )
    # in a band of its own below the bars: the least relevant features are not always short bars (one feature)
    clear_bands([axes[largest, 0]], -0.6, len(panels[largest]) - 0.4, bottom=[legend])
    label(axes[0, 0], sample)
    return save(fig, out_stem)


def plot_profiles(
    hists: dict[str, Any],
    summary: dict[str, Any],
    tagger: str,
    rule: str,
    out_stem: str | Path,
    sample: str,
    n: int = 6,
) -> list[Path] | None:
    """Mean normalised relevance against the input value for the ``n`` most relevant features with a profile.

    Features with a profile: not the image. Per class, points with standard errors, the input distribution
    shaded behind them (its height a share of the panel's); three panels to a row.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The relevance run's histograms of the tagger, with ``profile/<tagger>/<feature>`` and
        ``profile_sum/<tagger>/<feature>`` (``xaugcol.explain.summary.profile``).
    summary : dict
        The relevance summary: tagger -> rule -> ``ranking`` (the features, most relevant first).
    tagger : str
        Whose relevance.
    rule : str
        The explanation method's name.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.
    n : int, default 6
        The most features drawn.

    Returns
    -------
    list of Path or None
        The files written; None for a tagger without profiled features.
    """
    features = [f for f in summary[tagger][rule]["ranking"] if f"profile/{tagger}/{f}" in hists][:n]
    if not features:
        return None
    ncols = min(3, len(features))
    nrows = -(-len(features) // ncols)
    fig, axes = figure(ncols, nrows, width=7.0, height=6.0, margins=Margins(left=1.2, wspace=1.3, hspace=1.1))
    for ax, f in zip(axes.flat, features):
        curves = {k: profile(hists, tagger, f, rule, k) for k in _labels(hists, f"profile/{tagger}/{f}")}
        curves = {k: c for k, c in curves.items() if c[3].sum()}
        tallest = max((c[3].max() / c[3].sum() for c in curves.values()), default=1.0)
        # the input distribution shaded behind the points, in axes height (no axis of its own): x in data,
        # y a fraction of the panel, the tallest bin at 90 %
        shaded = ax.get_xaxis_transform()
        discrete = None
        for k, (centres, mean, err, n_entries) in curves.items():
            discrete = len(centres) <= DISCRETE_BINS  # a flag or the charge: points at its values, not a block
            offset = {1: -0.06, 0: 0.06, -1: 0.0}[k] if discrete else 0.0
            ok = n_entries > 0
            x = centres + offset
            ax.errorbar(
                x[ok],
                mean[ok],
                yerr=err[ok],
                fmt="o",
                ms=6 if discrete else 4,
                color=CLASS_COLOURS[k],
                label=CLASS_NAMES[k],
            )
            heights = 0.9 * n_entries / n_entries.sum() / tallest
            if discrete:
                ax.bar(x, heights, width=0.1, color=CLASS_COLOURS[k], alpha=0.15, transform=shaded)
            else:  # one filled step per class (a bar per bin would be hundreds of patches to lay out)
                ax.stairs(heights, _edges(centres), fill=True, color=CLASS_COLOURS[k], alpha=0.15, transform=shaded)
        if discrete:
            ax.set_xticks(centres, [f"{c:g}" for c in centres])
            ax.set_xlim(centres[0] - 0.5, centres[-1] + 0.5)
        ax.axhline(0, color="grey", lw=0.8)
        ax.margins(y=0.12)  # points at the edge of the range (a flag's zero) stay visible, room for the legend
        ax.set_xlabel(feature_label(f), fontsize=14)
        ax.set_ylabel("mean normalised relevance", fontsize=14)
        ax.tick_params(labelsize=11)
    for ax in axes.flat[len(features) :]:
        ax.axis("off")
    first = axes.flat[0]
    legend = first.legend(
        loc="upper right", fontsize=12, title=f"{tagger}, {rule}", title_fontsize=12, ncols=len(first.containers) or 1
    )
    lo, hi = first.get_ylim()
    clear_bands([first], lo, hi, top=[legend])  # above the points, in a band of its own
    label(axes.flat[0], sample, axes[0, -1])
    return save(fig, out_stem)


def plot_pair(
    hists: dict[str, Any], summary: dict[str, Any], tagger: str, rule: str, out_stem: str | Path, sample: str
) -> list[Path] | None:
    """The two most relevant XAUG variables: mean summed relevance of the pair per bin as colour, per class.

    One panel per class with jets, all on one symmetric colour scale.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The relevance run's histograms of the tagger, with the pair's ``pair/...`` and ``pair_jets/...``
        (``xaugcol.explain.summary.pair_histograms``).
    summary : dict
        The relevance summary: tagger -> rule -> ``top_pair`` (the two variables, or empty).
    tagger : str
        Whose relevance.
    rule : str
        The explanation method's name.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None without a top pair.
    """
    pair = summary[tagger][rule]["top_pair"]
    if not pair:
        return None
    h_sum, h_jets = pair_histograms(hists, tagger, tuple(pair))
    labels = [k for k in CLASS_ORDER if k in set(h_jets.axes["label"]) and _class_slice(h_jets, rule, k).sum()]
    fig, axes = figure(len(labels), 1, width=9.0, height=8.0, margins=WITH_COLOURBAR)
    sums = {k: _class_slice(h_sum, rule, k) for k in labels}
    jets = {k: _class_slice(h_jets, rule, k).values() for k in labels}
    with np.errstate(invalid="ignore", divide="ignore"):
        means = {k: np.where(jets[k] > 0, sums[k].values() / jets[k], np.nan) for k in labels}
    finite = np.concatenate([m[np.isfinite(m)] for m in means.values()])
    vmax = float(np.abs(finite).max()) if finite.size else 1.0
    for ax, k in zip(axes.flat, labels):
        xa, ya = sums[k].axes
        mesh = ax.pcolormesh(xa.edges, ya.edges, means[k].T, cmap="RdBu_r", vmin=-vmax, vmax=vmax, rasterized=True)
        ax.set_xlabel(feature_label(pair[0]), fontsize=14)
        ax.set_ylabel(feature_label(pair[1]), fontsize=14)
        ax.tick_params(labelsize=12)
        panel_title(ax, f"{CLASS_NAMES[k]}, {tagger}, {rule}")
        colorbar(fig, mesh, ax, "mean relevance of the pair")
    label(axes.flat[0], sample, axes[0, -1])
    return save(fig, out_stem)


def _class_slice(h: hist.Hist, rule: str, k: int) -> hist.Hist:
    """``h`` at one rule and one class: a histogram of its other axes (hist's stubs allow a number)."""
    return cast(hist.Hist, h[{"rule": rule, "label": hist.loc(k)}])


def plot_heatmaps(
    hists: dict[str, Any], tagger: str, rule: str, out_stem: str | Path, sample: str, kind: str | None = None
) -> list[Path] | None:
    """Average input map and average signed relevance per pixel, per class, of an input kind with a map.

    The kind is the jet image or the calorimeter cells around a lepton. Top row: the average input map,
    normalised to unit sum, on a log colour scale; bottom row: the relevance per pixel (positive minus negative)
    divided by the jets counted, one colour scale for every class.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The relevance run's histograms of the tagger, with ``<kind>/<tagger>``, ``<kind>_input/<tagger>`` and
        ``jets/<tagger>``.
    tagger : str
        Whose relevance.
    rule : str
        The explanation method's name.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.
    kind : str, optional
        The input kind (e.g. ``image``); None: the first one with a map the tagger has.

    Returns
    -------
    list of Path or None
        The files written; None when the tagger has no such map.
    """
    if kind is None:
        kinds = [key.split("/")[0].removesuffix("_input") for key in hists if key.endswith(f"_input/{tagger}")]
        if not kinds:
            return None
        kind = kinds[0]
    key = f"{kind}/{tagger}"
    if key not in hists:
        return None
    h = hists[key][{"rule": rule}]
    jets = hists[f"jets/{tagger}"][{"rule": rule}]
    images = hists[f"{kind}_input/{tagger}"]
    labels = [k for k in _labels(hists, f"{kind}_input/{tagger}") if images[{"label": hist.loc(k)}].sum()]
    fig, axes = figure(len(labels), 2, width=8.0, height=7.0, margins=WITH_COLOURBAR)
    averages: dict[int, np.ndarray] = {}
    signed: dict[int, np.ndarray] = {}
    for k in labels:
        sel = {"label": hist.loc(k)}
        n_members = jets[sel].values().sum()
        values = h[{**sel, "sign": "positive"}].values() - h[{**sel, "sign": "negative"}].values()
        signed[k] = values / max(n_members, 1)
        avg = images[sel].values()
        averages[k] = avg / max(avg.sum(), 1e-300)
    # one colour scale for both classes, so their relevance (and their images) compare at a glance
    vmax = max(float(np.abs(v).max()) for v in signed.values()) or 1.0
    norm = _log_norm(np.concatenate([a.ravel() for a in averages.values()]))
    x, y = images[{"label": hist.loc(labels[0])}].axes
    for col, k in enumerate(labels):
        top = axes[0, col].pcolormesh(x.edges, y.edges, averages[k].T, cmap="viridis", norm=norm, rasterized=True)
        colorbar(fig, top, axes[0, col], "fraction of jet $p_T$" if kind == "image" else "fraction of the $E_T$")
        bottom = axes[1, col].pcolormesh(
            x.edges, y.edges, signed[k].T, cmap="RdBu_r", vmin=-vmax, vmax=vmax, rasterized=True
        )
        colorbar(fig, bottom, axes[1, col], "mean normalised relevance")
        panel_title(axes[0, col], f"average {CLASS_NAMES[k]} {kind}")
        panel_title(axes[1, col], f"{CLASS_NAMES[k]}: {rule}, {tagger}")
        for ax in axes[:, col]:
            ax.set_xlabel(x.label, fontsize=13)
            ax.set_ylabel(y.label, fontsize=13)
            ax.tick_params(labelsize=12)
    label(axes[0, 0], sample, axes[0, -1])
    return save(fig, out_stem)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Bin edges of regular bins from their centres."""
    width = centres[1] - centres[0] if len(centres) > 1 else 1.0
    return np.append(centres - width / 2, centres[-1] + width / 2)


def _labels(hists: dict[str, Any], key: str) -> list[int]:
    """The classes (1, 0, -1: signal, background, data) a histogram has, in drawing order."""
    present = set(hists[key].axes["label"])
    return [k for k in CLASS_ORDER if k in present]


def _log_norm(values: np.ndarray) -> LogNorm | None:
    from matplotlib.colors import LogNorm

    positive = values[values > 0]
    return LogNorm(vmin=max(positive.min(), positive.max() * 1e-4), vmax=positive.max()) if positive.size else None
