"""The relevance of ParticleNet's kNN edges (``xaugcol.explain.edges``), one figure per tagger and LRP method: per
EdgeConv block (a column), the share of the edges' |relevance| each kind of edge carries (within one softdrop
prong, between the prongs, to an unclustered particle) for signal and background (top), and how it divides along
the edge length (bottom)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xaugcol.explain.edges import EDGE_KINDS, LENGTH_BINS
from xaugcol.plotting.style import clear_bands, figure, label, panel_title, save

CLASS_COLOURS = {"signal": "#e42536", "background": "#5790fc"}


def plot_edges(edges: dict | None, tagger: str, rule: str, out_stem: str | Path, sample: str) -> list[Path] | None:
    """``edges``: the tagger's entry of relevance.json's ``edges`` for method ``rule`` (block -> class ->
    summary); None without.

    Parameters
    ----------
    edges : dict or None
        Per block, per class: ``share`` (kind -> mean, std), ``by_length``, ``edges``.
    tagger, rule : str
        The tagger and the LRP method, for the titles.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None without edges.
    """
    if not edges:
        return None
    blocks = list(edges)
    fig, axes = figure(len(blocks), 2, width=7.0, height=11.0)
    x = np.arange(len(EDGE_KINDS))
    centres = np.arange(len(LENGTH_BINS) - 1)  # the length bins, the last open
    titles = []
    for b, block in enumerate(blocks):
        top, bottom = axes[0, b], axes[1, b]
        classes = [c for c in ("signal", "background") if c in edges[block]]
        for k, cls in enumerate(classes):
            share = edges[block][cls]["share"]
            mean = [share[kind]["mean"] for kind in EDGE_KINDS]
            std = [share[kind]["std"] for kind in EDGE_KINDS]
            offset = -0.2 if k == 0 else 0.2
            top.bar(x + offset, mean, 0.38, yerr=std, color=CLASS_COLOURS[cls], label=cls, capsize=3)
            bottom.step(centres, edges[block][cls]["by_length"], where="mid", color=CLASS_COLOURS[cls], label=cls)
        top.set_xticks(x, [kind.replace(" ", "\n", 1) for kind in EDGE_KINDS], fontsize=12)
        top.set_ylabel("share of the edges' |relevance|")
        titles.append(panel_title(top, f"{tagger}, {rule}: block {block}"))
        names = [f"<{edge:g}" for edge in LENGTH_BINS[1:-1]] + [f">{LENGTH_BINS[-2]:g}"]
        bottom.set_xticks(centres, names, fontsize=11, rotation=45)
        bottom.set_xlabel("edge length in (eta, phi)")
        bottom.set_ylabel("share of the edges' |relevance|")
        bottom.set_ylim(0, None)
        bottom.legend(loc="upper right", fontsize=11)  # the classes' colours, the same in the bars above
    clear_bands(axes[0], 0.0, 1.0, top=titles)  # the bars below the titles
    label(axes[0, 0], sample, axes[0, -1])
    return save(fig, out_stem)
