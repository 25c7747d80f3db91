"""The input-perturbation curves of a relevance run (``xaugcol.explain.faithfulness``), one figure per tagger: the
decision margin (left) and the AUC (right) against the fraction of each jet's units removed, per explanation method
in relevance order (solid) and reverse order (dashed), and the random order (grey, the same for every method)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xaugcol.plotting.style import axis_label, figure, label, save

METHOD_COLOURS = ("#5790fc", "#e42536", "#f89c20", "#964a8b", "#7a21dd", "#9c9ca1")


def plot_faithfulness(
    curves: dict, tagger: str, out_stem: str | Path, sample: str, units: str = ""
) -> list[Path] | None:
    """Draw one tagger's input-perturbation curves: decision margin (left) and AUC (right) against units removed.

    Parameters
    ----------
    curves : dict or None
        The tagger's entry of relevance.json's ``faithfulness`` (method -> curves: ``removed_fraction``,
        ``margin`` and ``auc`` per order with ``mean`` and ``std``, ``score``); empty or None: no figure.
    tagger : str
        The tagger's name, in the legend's title.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.
    units : str, default ""
        What is removed (e.g. ``pixels, particles``), in the x axis label; empty: not named.

    Returns
    -------
    list of Path or None
        The files written; None without curves.
    """
    if not curves:
        return None
    fig, axes = figure(2, width=8.0, height=7.5)
    random_drawn = False
    for k, (rule, c) in enumerate(curves.items()):
        x = np.asarray(c["removed_fraction"])
        colour = METHOD_COLOURS[k % len(METHOD_COLOURS)]
        for ax, quantity in zip(axes[0], ("margin", "auc")):
            for order, style in (("relevance", "-"), ("reverse", "--")):
                mean, std = (np.asarray(c[quantity][order][s], dtype=float) for s in ("mean", "std"))
                text = (
                    f"{rule}, score {c['score']['mean']:+.2f}" if (quantity, order) == ("margin", "relevance") else None
                )
                ax.plot(x, mean, linestyle=style, color=colour, label=text)
                ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.15)
            if not random_drawn:
                mean = np.asarray(c[quantity]["random"]["mean"], dtype=float)
                ax.plot(
                    x,
                    mean,
                    linestyle=":",
                    color="grey",
                    linewidth=2.5,
                    label="random order" if quantity == "margin" else None,
                )
        random_drawn = True
    what = f" ({units})" if units else ""
    # long labels (the removal units of three kinds) at one size that fits their axes
    labels = [
        (axes[0, 0], "y", "decision margin, relative to before removal"),
        (axes[0, 1], "y", "AUC"),
        *((ax, "x", f"fraction removed{what}") for ax in axes[0]),
    ]
    size = min(axis_label(*spec) for spec in labels)
    for spec in labels:
        axis_label(*spec, fontsize=size)
    axes[0, 1].axhline(0.5, color="black", linewidth=0.8, alpha=0.5)
    for ax in axes[0]:
        ax.set_xlim(0, 1)
        ax.grid(True, alpha=0.3)
    axes[0, 0].legend(
        loc="upper right", fontsize=11, title=f"{tagger}\nsolid: most relevant first; dashed: least", title_fontsize=11
    )
    label(axes[0, 0], sample, axes[0, 1])
    return save(fig, out_stem)
