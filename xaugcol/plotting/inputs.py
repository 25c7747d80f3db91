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
    """Read a processing ``histograms.root`` into each variable's histograms by class, summed over datasets.

    Parameters
    ----------
    path : str or Path
        The file (a regular file): TH1 histograms ``<variable>/<dataset>_label<k>``.

    Returns
    -------
    dict of str to dict of int to hist.Hist
        variable -> {label (1 signal, 0 background, -1 data): histogram summed over the datasets of that label}.
    """
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
    """The x range holding all but ``outside`` of each histogram's entries on either side, at least ``min_bins`` wide.

    The union over the histograms (the classes): tails and empty ranges do not squeeze the distributions.

    Parameters
    ----------
    hists : list of hist.Hist
        One-dimensional histograms of one variable, all with the first one's binning; at least one.
    outside : float, default 0.005
        The fraction of a histogram's entries that may lie outside the range on each side.
    min_bins : int, default 6
        The fewest bins the range spans (where the histogram has them).

    Returns
    -------
    lo : float
        The range's low edge, a bin edge.
    hi : float
        The range's high edge, a bin edge.
    """
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
    """A grid of every variable's distribution, signal and background each normalised to unit area.

    One panel per variable of ``BINNING`` the file holds, five to a row, each x range cut to ``central_range``;
    jets without truth (real data) are drawn as a third class.

    Parameters
    ----------
    histograms_root : str or Path
        The processing output's ``histograms.root``.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path
        The files written.
    """
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
