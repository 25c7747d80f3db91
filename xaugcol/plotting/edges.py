"""The relevance of ParticleNet's kNN edges (``xaugcol.explain.edges``), one figure per tagger and LRP method: per
EdgeConv block (a column), the share of the edges' |relevance| each kind of edge carries (within one softdrop
prong, between the prongs, to an unclustered particle) for signal and background (top), and how it divides along
the edge length (bottom)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from xaugcol.explain.edges import EDGE_KINDS, LENGTH_BINS
from xaugcol.features.particles import FEATURE_INDEX
from xaugcol.plotting.style import CLASS_NAMES, clear_bands, figure, label, panel_title, save

if TYPE_CHECKING:
    from xaugcol.explain.ensemble import Ensemble


CLASS_COLOURS = {"signal": "#e42536", "background": "#5790fc"}


def plot_edges(edges: dict | None, tagger: str, rule: str, out_stem: str | Path, sample: str) -> list[Path] | None:
    """Draw, per EdgeConv block, the share of the edges' relevance by kind of edge and by edge length.

    ``edges`` is the tagger's entry of relevance.json's ``edges`` for method ``rule`` (block -> class ->
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
        highest = max(max(edges[block][cls]["by_length"]) for cls in classes)
        bottom.set_ylim(0, 1.3 * highest)  # room for the legend above the steps
        bottom.legend(loc="upper right", fontsize=11)  # the classes' colours, the same in the bars above
    clear_bands(axes[0], 0.0, 1.0, top=titles)  # the bars below the titles
    label(axes[0, 0], sample, axes[0, -1])
    return save(fig, out_stem)


TOP_EDGES = 12  # edges drawn per block and jet, the largest |relevance| first


def plot_jet_edges(
    particles: np.ndarray,
    blocks: list,
    labels: np.ndarray,
    logits: np.ndarray,
    tagger: str,
    rule: str,
    out_stem: str | Path,
    sample: str,
) -> list[Path] | None:
    """Example jets in the (eta, phi) plane around the jet axis: each real particle a dot (area by its pT fraction)
    and the edges of the first and the last EdgeConv block that carry the most relevance (``TOP_EDGES`` each; solid:
    first block, whose neighbours are the nearest in (eta, phi); dashed: last block, neighbours in feature space;
    red: towards signal, blue: towards background; width by |relevance|).

    Parameters
    ----------
    particles : numpy.ndarray
        (jets, slots, features) the jets' raw particle lists (``xaugcol.features.particles``).
    blocks : list of BlockEdges
        ``xaugcol.explain.edges.edge_relevance`` on the same jets.
    labels, logits : numpy.ndarray
        (jets,) their classes and the tagger's outputs.
    tagger, rule : str
        The tagger and the LRP method, for the titles.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None without jets.
    """
    if not len(particles) or not blocks:
        return None
    eta_col, phi_col, pt_col = (FEATURE_INDEX[c] for c in ("deta_jet", "dphi_jet", "log_pt_rel"))
    fig, axes = figure(len(particles), 1, width=6.0, height=6.5)
    shown = [(blocks[0], "-"), (blocks[-1], "--")] if len(blocks) > 1 else [(blocks[0], "-")]
    scale = max(float(np.abs(b.relevance).max()) for b, _ in shown) or 1.0
    titles = []
    for jet, ax in enumerate(axes[0]):
        real = (particles[jet] != 0).any(axis=1)
        eta, phi = particles[jet, real, eta_col], particles[jet, real, phi_col]
        for block, style in shown:
            r = block.relevance[jet]
            order = np.argsort(-np.abs(r), axis=None)[:TOP_EDGES]
            for flat in order:
                i, k = np.unravel_index(flat, r.shape)
                if not block.real[jet, i, k] or r[i, k] == 0:
                    continue
                j = block.index[jet, i, k]
                colour = CLASS_COLOURS["signal"] if r[i, k] > 0 else CLASS_COLOURS["background"]
                width = 0.5 + 4.0 * abs(r[i, k]) / scale
                ax.plot(
                    [particles[jet, i, eta_col], particles[jet, j, eta_col]],
                    [particles[jet, i, phi_col], particles[jet, j, phi_col]],
                    style,
                    color=colour,
                    linewidth=width,
                    alpha=0.8,
                )
        ax.scatter(eta, phi, s=20 + 600 * np.exp(particles[jet, real, pt_col]), color="black", alpha=0.6, zorder=3)
        ax.set_xlabel(r"$\Delta\eta$ to the jet axis")
        ax.set_ylabel(r"$\Delta\phi$ to the jet axis")
        span = max(float(np.abs(np.concatenate([eta, phi])).max(initial=0.1)) * 1.1, 0.2)
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
        name = CLASS_NAMES.get(int(labels[jet]), str(labels[jet]))
        titles.append(panel_title(ax, f"{tagger}, {rule}: {name}, logit {float(logits[jet]):+.2f}"))
    lo, hi = axes[0, 0].get_ylim()
    clear_bands(axes[0], lo, hi, top=titles)
    label(axes[0, 0], sample, axes[0, -1])
    return save(fig, out_stem)


def plot_edge_examples(
    ensemble: Ensemble,
    jets_folder: str | Path,
    rule: dict | str,
    out_stem: str | Path,
    sample: str,
    per_class: int = 2,
    split: str = "test",
) -> list[Path] | None:
    """Draw example jets with their most relevant edges (``plot_jet_edges``) under the LRP method ``rule``.

    The first ``per_class`` jets of each class of ``split``, explained by the ensemble's first member.

    Parameters
    ----------
    ensemble : Ensemble
        The tagger (a graph network such as ParticleNet); its first member is explained.
    jets_folder : str or Path
        The processing output folder (or its ``jets/``) holding the jet tables.
    rule : dict or str
        The explanation method: a name or a mapping (``xaugcol.explain.methods.method_spec``); a mapping's
        ``name`` (default ``lrp``) titles the panels.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.
    per_class : int, default 2
        Jets per class.
    split : str, default "test"
        The split the jets come from.

    Returns
    -------
    list of Path or None
        The files written; None if the method is not LRP, the tagger has no kNN edges or there are no jets.
    """
    from xaugcol.explain.edges import edge_blocks, edge_relevance
    from xaugcol.explain.methods import method_spec
    from xaugcol.explain.methods.lrp import LRPAttributor
    from xaugcol.training.data import JetTables, model_inputs

    tables = JetTables(jets_folder, ensemble.spec)
    extra = [c for kind in ensemble.spec.kinds for c in (*kind.columns(), *kind.extra_columns())]
    rows = tables.examples(split, list(dict.fromkeys(tables.columns + extra + ["particles"])), per_class)
    _seed, model, scalers = ensemble.load_members()[0]
    attributor = method_spec(rule).attributor(model)
    if not isinstance(attributor, LRPAttributor) or not edge_blocks(model):
        return None
    inputs = model_inputs(rows, ensemble.spec, scalers)
    tensors = tuple(torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs)
    blocks = edge_relevance(model, tensors, attributor.lrp.composite)
    with torch.no_grad():
        logits = model(*tensors).numpy()
    return plot_jet_edges(
        rows["particles"],
        blocks,
        rows["label"],
        logits,
        ensemble.name,
        str(rule if isinstance(rule, str) else rule.get("name", "lrp")),
        out_stem,
        sample,
    )
