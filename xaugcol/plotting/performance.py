"""ROC curves of every tagger ensemble: the mean over members with a band of one standard deviation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xaugcol.plotting.style import figure, label, save, tagger_style


def member_rocs(ensemble_folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(background-efficiency grid, signal efficiency per member (members, grid)) from the members' metrics."""
    folder = Path(ensemble_folder)
    summary = json.loads((folder / "metrics.json").read_text())
    rocs = [json.loads((folder / m / "metrics.json").read_text())["roc"] for m in summary["members"]]
    grid = np.asarray(rocs[0]["bkg_eff"])
    return grid, np.array([np.interp(grid, r["bkg_eff"], r["sig_eff"]) for r in rocs])


def plot_rocs(ensembles: dict[str, str | Path], out_stem: str | Path, sample: str) -> list[Path]:
    """Background efficiency (log) against signal efficiency; solid with XAUG, dashed without."""
    fig, axes = figure()
    ax = axes[0, 0]
    for name, folder in ensembles.items():
        grid, sig = member_rocs(folder)
        mean, std = sig.mean(axis=0), sig.std(axis=0, ddof=1) if len(sig) > 1 else np.zeros(len(grid))
        keep = grid > 0
        style = tagger_style(name)
        ax.plot(mean[keep], grid[keep], label=f"{name} ({len(sig)})", **style)
        ax.fill_betweenx(grid[keep], (mean - std)[keep], (mean + std)[keep], color=style["color"], alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_ylim(1e-4, 1)
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background efficiency")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=14, title="tagger (members)", title_fontsize=14)
    label(ax, sample)
    return save(fig, out_stem)
