"""Input distributions by class, from the processing histograms (``histograms.root``)."""

from __future__ import annotations

from pathlib import Path

import hist
import mplhep as hep
import numpy as np
import uproot

from xaugcol.paths import check_regular
from xaugcol.plotting.style import CLASS_COLOURS, CLASS_NAMES, CLASS_ORDER, Margins, figure, label, save
from xaugcol.processing.histograms import BINNING


def class_histograms(path: str | Path) -> dict[str, dict[int, hist.Hist]]:
    """variable -> {label: hist summed over datasets} from a processing ``histograms.root``."""
    out: dict[str, dict[int, hist.Hist]] = {}
    check_regular(path, "a processing output's histograms")
    with uproot.open(path) as f:
        for key, cls in f.classnames().items():
            if not cls.startswith("TH1") or "/" not in key:
                continue
            variable, slot = key.split(";")[0].split("/")
            k = int(slot.rsplit("_label", 1)[1])
            h = f[key].to_hist()
            out.setdefault(variable, {})
            out[variable][k] = out[variable][k] + h if k in out[variable] else h
    return out


def central_range(hists: list[hist.Hist], outside: float = 0.005, min_bins: int = 6) -> tuple[float, float]:
    """The x range holding all but ``outside`` of each histogram's entries on either side (the union over the
    classes), at least ``min_bins`` bins wide: tails and empty ranges do not squeeze the distributions."""
    edges = hists[0].axes[0].edges
    lo, hi = len(edges) - 1, 0
    for h in hists:
        values = np.clip(h.values(), 0, None)
        cumulative = np.cumsum(values) / max(values.sum(), 1e-300)
        lo = min(lo, int(np.searchsorted(cumulative, outside, side="right")))
        hi = max(hi, int(np.searchsorted(cumulative, 1 - outside, side="left")) + 1)
    if hi - lo < min_bins:
        grow = min_bins - (hi - lo)
        lo, hi = lo - grow // 2, hi + grow - grow // 2
    lo, hi = max(lo, 0), min(hi, len(edges) - 1)
    return float(edges[lo]), float(edges[hi])


def plot_inputs(histograms_root: str | Path, out_stem: str | Path, sample: str) -> list[Path]:
    """A grid of every variable's distribution, signal and background each normalised to unit area."""
    hists = class_histograms(histograms_root)
    names = [n for n in BINNING if n in hists]
    ncols = 5
    nrows = -(-len(names) // ncols)
    fig, axes = figure(
        ncols, nrows, width=6.0, height=5.0, margins=Margins(left=1.1, wspace=1.1, bottom=0.9, hspace=0.9)
    )
    for ax, name in zip(axes.flat, names):
        for k in CLASS_ORDER:
            h = hists[name].get(k)
            if h is None or h.values().sum() <= 0:
                continue
            hep.histplot(h, ax=ax, density=True, yerr=False, color=CLASS_COLOURS[k], label=CLASS_NAMES[k], flow="none")
        ax.set_xlim(*central_range([h for h in hists[name].values() if h.values().sum() > 0]))
        ax.set_xlabel(BINNING[name][3], fontsize=14)
        ax.set_ylabel("a.u.", fontsize=14)
        ax.tick_params(labelsize=11)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=12)
    label(axes.flat[0], sample, axes[0, -1])
    return save(fig, out_stem)
