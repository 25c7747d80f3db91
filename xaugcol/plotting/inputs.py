"""Input distributions by class, from the processing histograms (``histograms.root``)."""

from __future__ import annotations

from pathlib import Path

import mplhep as hep
import uproot

from xaugcol.plotting.style import CLASS_COLOURS, CLASS_NAMES, figure, label, save
from xaugcol.processing.histograms import BINNING


def class_histograms(path: str | Path) -> dict[str, dict[int, object]]:
    """variable -> {label: hist summed over datasets} from a processing ``histograms.root``."""
    out: dict[str, dict[int, object]] = {}
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


def plot_inputs(histograms_root: str | Path, out_stem: str | Path, sample: str) -> list[Path]:
    """A grid of every variable's distribution, signal and background each normalised to unit area."""
    hists = class_histograms(histograms_root)
    names = [n for n in BINNING if n in hists]
    ncols = 5
    nrows = -(-len(names) // ncols)
    fig, axes = figure(ncols, nrows, width=6.0, height=5.0)
    for ax, name in zip(axes.flat, names):
        for k in (1, 0):
            h = hists[name].get(k)
            if h is None or h.values().sum() <= 0:
                continue
            hep.histplot(h, ax=ax, density=True, yerr=False, color=CLASS_COLOURS[k], label=CLASS_NAMES[k], flow="none")
        ax.set_xlabel(BINNING[name][3], fontsize=14)
        ax.set_ylabel("a.u.", fontsize=14)
        ax.tick_params(labelsize=11)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=12)
    label(axes.flat[0], sample, axes[0, -1])
    return save(fig, out_stem)
