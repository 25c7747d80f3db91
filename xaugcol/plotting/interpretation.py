"""Figures of Roy and Neubauer's (ICHEP 2022) interpretation methods, drawn from relevance.json: the occlusion ranking
beside the LRP ranking (``plot_occlusion``) and the neuron-activation patterns (``plot_activations``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xaugcol.plotting.style import (
    Margins,
    clear_bands,
    colorbar,
    figure,
    figure_of,
    hbars,
    label,
    panel_title,
    place_labels,
    renderer_of,
    save,
    text_width,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.legend import Legend
    from matplotlib.text import Text

KIND_COLOURS = {
    "tracks": "#3f90da",
    "vertices": "#ffa90e",
    "xaug": "#832db6",
    "particles": "#bd1f01",
    "image": "#94a4a2",
}
SHOWN = 25  # features in the ranking panel


def plot_occlusion(
    table: dict[str, Any] | None,
    relevance: dict[str, Any] | None,
    rule: str | None,
    tagger: str,
    out_stem: str | Path,
    sample: str,
) -> list[Path] | None:
    """The occlusion ranking of a tagger's features beside its LRP relevance under ``rule``.

    Left: the features ranked by dAUC when each is occluded (mean over members, spread as error bars, coloured
    by kind; the most harmful ``SHOWN``); middle: the same features' share of the output score under ``rule``
    (Agarwal, Rappoccio et al.'s (arXiv:2011.13466) relevance normalised by the output score), for signal and
    background; right: each feature's mean normalised relevance under ``rule`` (both classes averaged) against its
    dAUC, the features flagged as acting like a bias circled.

    Parameters
    ----------
    table : dict or None
        The tagger's entry of relevance.json's ``occlusion``.
    relevance : dict or None
        The tagger's entry of relevance.json's ``relevance``; None: the left panel alone.
    rule : str or None
        The relevance method of the middle and right panels.
    tagger : str
        The tagger's name, for the title.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None without occlusion results.
    """
    rows = table.get("features") if table else None
    if not table or not rows:
        return None
    shown = rows[:SHOWN][::-1]
    names = [r["feature"] for r in shown]
    margins = Margins(left=text_width(names, 12) + 0.5, right=0.4, bottom=1.0, top=0.5, wspace=1.6, hspace=1.0)
    # the rule's summary, for the middle and right panels (relevance.json's keys are method names, never None)
    summary = relevance[rule] if relevance and rule is not None and rule in relevance else None
    panels = 3 if summary is not None else 1
    # + bands above and below the bars for the panel titles and legends
    fig, axes = figure(panels, width=8.0, height=max(6.0, 0.32 * len(shown) + 1.5) + 0.9, margins=margins)
    ax = axes[0, 0]
    y = np.arange(len(shown))
    hbars(
        ax,
        y,
        [r["dauc"]["mean"] for r in shown],
        0.7,
        [KIND_COLOURS.get(r["kind"], "grey") for r in shown],
        xerr=[r["dauc"]["std"] for r in shown],
    )
    ax.set_yticks(y, names, fontsize=12)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(r"$\Delta$AUC $\times$ 100 when occluded")
    titles = [panel_title(ax, f"{tagger}: AUC {table['auc']['mean']:.4f}")]
    kinds = sorted({r["kind"] for r in rows})
    for kind in kinds:
        ax.plot([], [], "s", color=KIND_COLOURS.get(kind, "grey"), label=kind)
    legends = [ax.legend(loc="lower right", fontsize=11, ncols=min(len(kinds), 3))]
    if summary is not None:
        assert rule is not None  # a summary is found under a rule
        title, legend = _score_shares(axes[0, 1], names, summary.get("score"), rule)
        titles.append(title)
        legends += [legend] if legend is not None else []
    # the rows of both bar panels side by side, between a band for the titles and one for the legends
    clear_bands(axes[0, : min(panels, 2)], -0.5, len(shown) - 0.5, top=titles, bottom=legends)
    if summary is not None:
        assert rule is not None
        _relevance_against_occlusion(
            axes[0, 2], rows, summary, rule, {f["feature"] for f in table.get("bias_like", {}).get(rule, [])}
        )
    label(ax, sample, axes[0, -1])
    return save(fig, out_stem)


CLASS_COLOURS = {"signal": "#e42536", "background": "#5790fc"}


def _score_shares(ax: Axes, names: list[str], score: dict[str, Any] | None, rule: str) -> tuple[Text, Legend | None]:
    """Per feature (rows as in the occlusion panel), the mean share of the output score per class, as two bars."""
    if not score:
        score = {"classes": {}}
    classes = [c for c in ("signal", "background") if c in score["classes"]]
    y = np.arange(len(names))
    for k, cls in enumerate(classes):
        shares = [score["classes"][cls].get(f, {}) for f in names]
        hbars(
            ax,
            y + (0.2 if k == 0 else -0.2),
            [s.get("mean") or 0.0 for s in shares],
            0.38,
            CLASS_COLOURS[cls],
            label=cls,
            xerr=[s.get("std", 0.0) for s in shares],
        )
    ax.set_yticks(y, [])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.autoscale(axis="x")
    ax.set_xlabel(f"share of the output score ({rule})")
    legend = ax.legend(loc="lower right", fontsize=11, ncols=len(classes)) if classes else None
    return panel_title(ax, "LRP per class, normalised by the output"), legend


def _relevance_against_occlusion(
    ax: Axes, rows: list[dict[str, Any]], summary: dict[str, Any], rule: str, flagged: set[str]
) -> None:
    """Each feature's mean normalised relevance against its dAUC; the flagged features circled and named, each
    name where it hides neither another name nor a point."""
    classes = [c for c in ("signal", "background") if c in summary["classes"]]
    points: list[tuple[float, float]] = []
    circled: list[tuple[float, float, str]] = []
    for r in rows:
        values = [summary["classes"][c].get(r["feature"], {}).get("mean") for c in classes]
        values = [v for v in values if v is not None]
        if not values:
            continue
        x, y = float(np.mean(values)), r["dauc"]["mean"]
        points.append((x, y))
        ax.plot(x, y, "o", color=KIND_COLOURS.get(r["kind"], "grey"), markersize=7)
        if r["feature"] in flagged:
            ax.plot(x, y, "o", markersize=16, markerfacecolor="none", markeredgecolor="black", markeredgewidth=1.5)
            circled.append((x, y, r["feature"]))
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"mean normalised relevance ({rule})")
    ax.set_ylabel(r"$\Delta$AUC $\times$ 100")
    title = panel_title(ax, "circled: high relevance, no AUC lost,\nsame in both classes (acts like a bias)")
    if not points:
        ax.set_xlim(left=0)
        return
    xs, ys = np.array(points).T
    # room beside the points for the names: a tenth of the range on either side, a band above for the title
    right = max(float(xs.max()), 1e-12)
    ax.set_xlim(0, right * 1.15)
    lo, hi = float(min(ys.min(), 0.0)), float(max(ys.max(), 0.0))
    scale = ax.yaxis.get_transform()
    t_lo, t_hi = scale.transform([lo, hi])
    margin = 0.08 * max(t_hi - t_lo, 1e-12)
    lo, hi = scale.inverted().transform([t_lo - margin, t_hi + margin])
    clear_bands([ax], lo, hi, top=[title])
    if circled:
        fig = figure_of(ax)
        renderer = renderer_of(fig)
        title.update_bbox_position_size(renderer)
        marks = ax.transData.transform(np.array(points))
        half = 7 * fig.dpi / 72 / 2
        box = title.get_bbox_patch()
        assert box is not None  # panel_title sets its text in a box
        avoid: list[Any] = [box.get_window_extent(renderer).extents]
        avoid += [np.array([x - half, y - half, x + half, y + half]) for x, y in marks]
        place_labels(ax, [c[:2] for c in circled], [c[2] for c in circled], 11, avoid=avoid)


def plot_activations(
    patterns: dict[str, Any] | None, tagger: str, out_stem: str | Path, sample: str
) -> list[Path] | None:
    """Heat maps of the relative neural activity (weighted RNA) of every neuron, one row per layer (input side at
    the top), for signal (left) and background (right); the sparsity of each layer at its right.

    Parameters
    ----------
    patterns : dict or None
        The activation patterns (relevance.json's ``activations`` entry of the tagger): ``layers`` and
        ``threshold``.
    tagger : str
        The tagger's name, for the titles.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None without patterns of both classes.
    """
    layers = patterns.get("layers") if patterns else None
    if not patterns or not layers:
        return None
    classes = [c for c in ("signal", "background") if all(c in v["classes"] for v in layers.values())]
    if not classes:
        return None
    names = list(layers)
    width = max(v["neurons"] for v in layers.values())
    margins = Margins(
        left=text_width(names, 12) + 0.5, right=1.4, bottom=1.0, top=0.5, wspace=text_width(names, 12) + 1.2, hspace=1.0
    )
    fig, axes = figure(len(classes), width=8.0, height=max(5.0, 0.45 * len(names) + 2.0), margins=margins)
    image = None
    for ax, cls in zip(axes[0], classes):
        grid = np.full((len(names), width), np.nan)
        for k, name in enumerate(names):
            rna = layers[name]["classes"][cls]["rna"]
            grid[k, : len(rna)] = rna
        image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks(
            range(len(names)), [f"{n} ({layers[n]['classes'][cls]['sparsity']:.0%})" for n in names], fontsize=11
        )
        ax.set_xlabel("neuron")
        counts = np.array([layers[n]["neurons"] for n in names])
        sparsity = np.dot([layers[n]["classes"][cls]["sparsity"] for n in names], counts) / counts.sum()
        panel_title(ax, f"{tagger}, {cls}: {sparsity:.0%} of neurons below RNA {patterns['threshold']:g}")
    assert image is not None  # one panel per class, and there are classes
    colorbar(fig, image, axes[0, -1], "relative neural activity")
    label(axes[0, 0], sample, axes[0, -1])
    return save(fig, out_stem)
