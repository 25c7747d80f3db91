"""The guided search (``xaugcol.mapping.guided``) step by step: the high-level model's AUC with its ensemble
spread against the black box's band, and its ADO to the black box."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xaugcol.plotting.style import Margins, figure, label, save, text_width


def step_label(row: dict) -> str:
    """The name of a guided-search step on the x axis: ``base``, or the EFP added with its kappa and beta.

    Parameters
    ----------
    row : dict
        A row of ``guided.json``'s ``rows`` (``added``, ``graph``, ``kappa``, ``beta``).

    Returns
    -------
    str
        ``base`` for the base set, else ``+ <graph>`` with its kappa and beta in brackets (mathtext).
    """
    if row["added"] is None:
        return "base"
    return f"+ {row['graph']} ($\\kappa$={row['kappa']:g}, $\\beta$={row['beta']:g})"


def plot_guided(result: dict, out_stem: str | Path, sample: str) -> list[Path]:
    """Draw the guided search step by step: the high-level AUC against the black box's band (left), its ADO (right).

    Parameters
    ----------
    result : dict
        The search's ``guided.json`` (``run_guided_search``): ``rows``, ``black_box`` (``name``, ``auc``),
        ``high_level``.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path
        The files written.
    """
    rows = result["rows"]
    steps = np.arange(len(rows))
    names = [step_label(r) for r in rows]
    # room below the panels for the step names at 60 degrees (EFP graph names grow with the degree)
    reach = text_width(names, 11) * np.sin(np.radians(60)) + 11 / 72 * np.cos(np.radians(60))
    bottom = max(2.6, reach + 0.5)
    fig, axes = figure(
        2, 1, width=7.0, height=7.0 + bottom - 2.6, margins=Margins(left=1.2, right=0.4, bottom=bottom, wspace=1.4)
    )
    auc_ax, ado_ax = axes[0]
    bb = result["black_box"]["auc"]
    auc_ax.axhspan(
        bb["mean"] - bb["std"], bb["mean"] + bb["std"], color="0.8", label=f"black box {result['black_box']['name']}"
    )
    auc_ax.axhline(bb["mean"], color="0.4")
    auc_ax.errorbar(
        steps,
        [r["auc"]["mean"] for r in rows],
        yerr=[r["auc"]["std"] for r in rows],
        marker="o",
        color="#3f90da",
        label=f"high-level {result['high_level'].upper()}",
    )
    auc_ax.set_ylabel("AUC (test split)", fontsize=20)
    auc_ax.legend(loc="lower right", fontsize=12)
    ado_ax.plot(steps, [r["ado_black_box"] for r in rows], marker="s", color="#bd1f01")
    ado_ax.set_ylabel("ADO[black box] (test split)", fontsize=20)
    for ax in (auc_ax, ado_ax):
        ax.set_xticks(steps, names, rotation=60, ha="right", rotation_mode="anchor", fontsize=11)
    label(auc_ax, sample, right=ado_ax)
    return save(fig, out_stem)
