"""Figures of the relevance histograms: mean normalised relevance (bars with the ensemble spread), profiles
(mean relevance against the input value), 2D relevance maps of the top XAUG pair, and image heat maps."""

from __future__ import annotations

from pathlib import Path

import hist
import numpy as np

from xaugcol.explain.summary import pair_histograms, profile
from xaugcol.features.kinds import feature_label
from xaugcol.plotting.style import CLASS_COLOURS, CLASS_NAMES, figure, label, panel_title, save

MAX_BARS = 25


def plot_feature_relevance(summary: dict, tagger: str, rule: str, out_stem, sample: str) -> list[Path]:
    """Horizontal bars of the mean normalised relevance per feature, signal and background, with error bars of
    one standard deviation over the ensemble members; features in ranking order (at most ``MAX_BARS``)."""
    s = summary[tagger][rule]
    names = s["ranking"][:MAX_BARS][::-1]
    fig, axes = figure(height=max(6.0, 0.45 * len(names) + 3))
    ax = axes[0, 0]
    y = np.arange(len(names))
    for offset, (cls, k) in zip((0.2, -0.2), (("signal", 1), ("background", 0))):
        means = [s["classes"][cls][f]["mean"] or 0.0 for f in names]
        errs = [s["classes"][cls][f]["std"] for f in names]
        ax.barh(y + offset, means, height=0.4, xerr=errs, color=CLASS_COLOURS[k], label=cls, capsize=3)
    ax.set_yticks(y, [feature_label(f) for f in names], fontsize=13)
    ax.set_xlabel("mean normalised relevance")
    ax.legend(loc="lower right", fontsize=14, title=f"{tagger}, {rule}", title_fontsize=14)
    label(ax, sample)
    return save(fig, out_stem)


def plot_profiles(hists: dict, summary: dict, tagger: str, rule: str, out_stem, sample: str,
                  n: int = 6) -> list[Path] | None:
    """Mean normalised relevance against the input value for the ``n`` most relevant features that have a
    profile (not the image); points with standard errors, the input distribution as a shaded histogram on a
    second axis. None for a tagger without profiled features."""
    features = [f for f in summary[tagger][rule]["ranking"] if f"profile/{tagger}/{f}" in hists][:n]
    if not features:
        return None
    ncols = min(3, len(features))
    nrows = -(-len(features) // ncols)
    fig, axes = figure(ncols, nrows, width=7.0, height=6.0)
    for ax, f in zip(axes.flat, features):
        twin = ax.twinx()
        for k in (1, 0):
            centres, mean, err, n_entries = profile(hists, tagger, f, rule, k)
            ok = n_entries > 0
            ax.errorbar(centres[ok], mean[ok], yerr=err[ok], fmt="o", ms=4, color=CLASS_COLOURS[k],
                        label=CLASS_NAMES[k])
            width = centres[1] - centres[0] if len(centres) > 1 else 1.0
            twin.bar(centres, n_entries / max(n_entries.sum(), 1), width=width, color=CLASS_COLOURS[k], alpha=0.15)
        twin.set_yticks([])
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel(feature_label(f), fontsize=14)
        ax.set_ylabel("mean normalised relevance", fontsize=14)
        ax.tick_params(labelsize=11)
    for ax in axes.flat[len(features):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=12, title=f"{tagger}, {rule}", title_fontsize=12)
    label(axes.flat[0], sample, axes[0, -1])
    return save(fig, out_stem)


def plot_pair(hists: dict, summary: dict, tagger: str, rule: str, out_stem, sample: str) -> list[Path] | None:
    """The two most relevant XAUG variables: mean summed relevance of the pair per bin as colour, per class."""
    pair = summary[tagger][rule]["top_pair"]
    if not pair:
        return None
    h_sum, h_jets = pair_histograms(hists, tagger, tuple(pair))
    fig, axes = figure(2, 1, width=9.0, height=8.0)
    sums = {k: h_sum[{"rule": rule, "label": hist.loc(k)}] for k in (1, 0)}
    jets = {k: h_jets[{"rule": rule, "label": hist.loc(k)}].values() for k in (1, 0)}
    with np.errstate(invalid="ignore", divide="ignore"):
        means = {k: np.where(jets[k] > 0, sums[k].values() / jets[k], np.nan) for k in (1, 0)}
    finite = np.concatenate([m[np.isfinite(m)] for m in means.values()])
    vmax = float(np.abs(finite).max()) if finite.size else 1.0
    for ax, k in zip(axes.flat, (1, 0)):
        xa, ya = sums[k].axes
        mesh = ax.pcolormesh(xa.edges, ya.edges, means[k].T, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_xlabel(feature_label(pair[0]), fontsize=14)
        ax.set_ylabel(feature_label(pair[1]), fontsize=14)
        panel_title(ax, f"{CLASS_NAMES[k]}, {tagger}, {rule}")
        fig.colorbar(mesh, ax=ax, label="mean relevance of the pair")
    label(axes.flat[0], sample, axes[0, -1])
    return save(fig, out_stem)


def plot_heatmaps(hists: dict, tagger: str, rule: str, out_stem, sample: str,
                  kind: str = "image") -> list[Path] | None:
    """Average input map and average signed relevance per pixel (positive minus negative, over jets), per class,
    of an input kind with a map (the jet image); None when the tagger has no such map."""
    key = f"{kind}/{tagger}"
    if key not in hists:
        return None
    h = hists[key][{"rule": rule}]
    jets = hists[f"jets/{tagger}"][{"rule": rule}]
    images = hists[f"{kind}_input/{tagger}"]
    fig, axes = figure(2, 2, width=8.0, height=7.0)
    for col, k in enumerate((1, 0)):
        n_members = jets[{"label": hist.loc(k)}].values().sum()
        n_jets = images[{"label": hist.loc(k)}]
        sel = {"label": hist.loc(k)}
        signed = h[{**sel, "sign": "positive"}].values() - h[{**sel, "sign": "negative"}].values()
        signed = signed / max(n_members, 1)
        avg = n_jets.values()
        avg = avg / max(avg.sum(), 1e-300)
        x, y = n_jets.axes
        top = axes[0, col].pcolormesh(x.edges, y.edges, avg.T, cmap="viridis",
                                      norm=_log_norm(avg))
        fig.colorbar(top, ax=axes[0, col], label="fraction of jet $p_T$")
        vmax = float(np.abs(signed).max()) or 1.0
        bottom = axes[1, col].pcolormesh(x.edges, y.edges, signed.T, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        fig.colorbar(bottom, ax=axes[1, col], label="mean normalised relevance")
        panel_title(axes[0, col], f"average {CLASS_NAMES[k]} {kind}")
        panel_title(axes[1, col], f"{CLASS_NAMES[k]}: {rule}, {tagger}")
        for ax in axes[:, col]:
            ax.set_xlabel(x.label, fontsize=13)
            ax.set_ylabel(y.label, fontsize=13)
    label(axes[0, 0], sample, axes[0, -1])
    return save(fig, out_stem)


def _log_norm(values):
    from matplotlib.colors import LogNorm

    positive = values[values > 0]
    return LogNorm(vmin=max(positive.min(), positive.max() * 1e-4), vmax=positive.max()) if positive.size else None
