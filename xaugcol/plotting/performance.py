"""ROC curves of tagger ensembles: the mean over members with a band of one standard deviation, one panel per
tagger family (without and with the XAUG variables side by side), the XAUG-only DNN as reference in each."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xaugcol.paths import read_json
from xaugcol.plotting.style import figure, label, panel_title, save, tagger_style

REFERENCE = "dnn"  # the XAUG-only tagger, drawn in every panel


def member_rocs(ensemble_folder: str | Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Read the ROC curves of an ensemble's members from their metrics, on the first member's grid.

    Parameters
    ----------
    ensemble_folder : str or Path
        The ensemble folder (``metrics.json`` listing the members, each with its own ``metrics.json``).

    Returns
    -------
    grid : numpy.ndarray
        The background efficiencies, shape (points,).
    sig : numpy.ndarray
        The signal efficiency of each member at them, shape (members, points).
    n_background : int
        The fewest background jets a member was tested on (10000 for a member whose metrics lack the count).
    """
    folder = Path(ensemble_folder)
    summary = read_json(folder / "metrics.json", "an ensemble's metrics.json")
    members = [read_json(folder / m / "metrics.json", "a member's metrics.json") for m in summary["members"]]
    grid = np.asarray(members[0]["roc"]["bkg_eff"])
    sig = np.array([np.interp(grid, m["roc"]["bkg_eff"], m["roc"]["sig_eff"]) for m in members])
    n_background = min(m.get("n_background", 10_000) for m in members)
    return grid, sig, n_background


def auc_text(ensemble_folder: str | Path) -> str:
    """AUC mean +- spread over the members, for a legend.

    Parameters
    ----------
    ensemble_folder : str or Path
        The ensemble folder (its ``metrics.json``'s ``summary``).

    Returns
    -------
    str
        ``AUC <mean> +- <std>`` (the +- in mathtext), three decimals.
    """
    auc = read_json(Path(ensemble_folder) / "metrics.json", "an ensemble's metrics.json")["summary"]["auc"]
    return f"AUC {auc['mean']:.3f} $\\pm$ {auc['std']:.3f}"


def plot_rocs(ensembles: dict[str, str | Path], out_stem: str | Path, sample: str) -> list[Path]:
    """Background efficiency (log) against signal efficiency, one panel per tagger family.

    Solid with XAUG, dashed without, the XAUG-only DNN dotted; each curve stops at one background jet of its test
    set. A curve is the members' mean with a band of one standard deviation.

    Parameters
    ----------
    ensembles : dict of str to str or Path
        The ensemble folders by tagger name (``<model>`` or ``<model>_xaug``); the family is the part before the
        first ``_``.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path
        The files written.
    """
    families = sorted({name.split("_")[0] for name in ensembles} - {REFERENCE}) or [REFERENCE]
    fig, axes = figure(len(families), width=8.0, height=8.0)
    floor = 1.0
    for ax, family in zip(axes.flat, families):
        names = [n for n in ensembles if n.split("_")[0] == family]
        if family != REFERENCE:
            names += [n for n in ensembles if n.split("_")[0] == REFERENCE]
        for name in names:
            grid, sig, n_background = member_rocs(ensembles[name])
            lowest = 1.0 / max(n_background, 1)
            floor = min(floor, lowest)
            keep = grid >= lowest  # below one background jet the curve is an empty staircase
            mean = sig.mean(axis=0)
            std = sig.std(axis=0, ddof=1) if len(sig) > 1 else np.zeros(len(grid))
            style = tagger_style(name)
            if family != REFERENCE and name.split("_")[0] == REFERENCE:
                style = {**style, "linestyle": ":"}
            ax.plot(mean[keep], grid[keep], label=f"{name} ({len(sig)}): {auc_text(ensembles[name])}", **style)
            ax.fill_betweenx(grid[keep], (mean - std)[keep], (mean + std)[keep], color=style["color"], alpha=0.2)
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel("signal efficiency")
        ax.set_ylabel("background efficiency")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower right", fontsize=12, title="tagger (members)", title_fontsize=12)
        panel_title(ax, family)
    for ax in axes.flat:
        ax.set_ylim(floor, 1)
    label(axes.flat[0], sample, axes[0, -1])
    return save(fig, out_stem, minor_ticks=True)  # the decades of the log axis
