"""Pictures of EFP multigraphs, for the report's tables of chosen EFPs: each connected factor's vertices on a
circle, factors side by side, a k-fold edge as k arcs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch

from xaugcol.features.efp.anchored import anchored_from_name
from xaugcol.features.efp.graphs import Graph, graph_from_name, n_vertices
from xaugcol.plotting.style import save

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COLUMNS = 6  # graphs per row in ``plot_graphs``


def draw_graph(ax: Axes, name: str) -> int:
    """Draw the graph ``name`` into ``ax``: each connected factor's vertices on a circle, a k-fold edge as k arcs.

    Parameters
    ----------
    ax : Axes
        The panel; its axes are switched off.
    name : str
        The graph's name (``graphs.graph_name``), or an anchored graph's ``<graph>_a<v>``, whose anchored vertex
        is drawn as the lepton, in red.

    Returns
    -------
    int
        The number of edges drawn (a k-fold edge counting k).
    """
    anchor = None
    factors: tuple[Graph, ...]
    if "_a" in name:
        graph, anchor = anchored_from_name(name)
        factors = (graph,)
    else:
        factors = graph_from_name(name)
    drawn, x0 = 0, 0.0
    for g in factors:
        n = n_vertices(g)
        angles = np.pi / 2 + 2 * np.pi * np.arange(n) / n
        xy = np.stack([x0 + 0.5 * np.cos(angles), 0.5 * np.sin(angles)], 1) if n > 1 else np.array([[x0, 0.0]])
        count: dict[tuple[int, int], int] = {}
        for e in g:
            count[e] = count.get(e, 0) + 1
        for (a, b), m in count.items():
            for k in range(m):
                rad = 0.0 if m == 1 else 0.5 * (k - (m - 1) / 2) / max((m - 1) / 2, 1)
                ax.add_patch(
                    FancyArrowPatch(
                        xy[a],
                        xy[b],
                        arrowstyle="-",
                        connectionstyle=f"arc3,rad={rad}",
                        color="black",
                        linewidth=1.5,
                        shrinkA=0,
                        shrinkB=0,
                    )
                )
                drawn += 1
        colours = ["#e42536" if v == anchor else "#3f90da" for v in range(n)]
        ax.scatter(xy[:, 0], xy[:, 1], s=60, color=colours, zorder=3, edgecolors="black")
        x0 += 1.4
    ax.set_xlim(-0.8, x0 - 0.6)
    ax.set_ylim(-0.8, 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    return drawn


def plot_graphs(names: list[str], out_stem: str | Path, labels: list[str] | None = None) -> list[Path]:
    """A grid of graph pictures (``COLUMNS`` per row), each titled by its label (default: its name).

    Parameters
    ----------
    names : list of str
        The graphs' names, as ``draw_graph`` reads them.
    out_stem : str or Path
        The figure's path without suffix.
    labels : list of str, optional
        The titles, one per graph; None: the names.

    Returns
    -------
    list of Path
        The files written (``style.save``).

    Raises
    ------
    ValueError
        When ``names`` is empty.
    """
    if not names:
        raise ValueError("no EFP graphs to draw")
    columns = min(COLUMNS, len(names))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    for ax, name, title in zip(axes.ravel(), names, labels or names):
        draw_graph(ax, name)
        ax.set_title(title, fontsize=10)
    return save(fig, out_stem)
