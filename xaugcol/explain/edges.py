"""The relevance of the edges of ParticleNet's dynamic graphs: which particle pairs carry a decision.

Each EdgeConv block (``xaugcol.models.particlenet``) computes a feature for every edge i <- j of its k-nearest-neighbour
graph and averages them over j. LRP, with the choice of neighbours as fixed routing, gives each edge's feature a
relevance; summed over the edge function's output channels it is the relevance the edge carries (Mokhtar et al., "Do
graph neural networks learn traditional jet substructure?", arXiv:2211.09912, who found the decisive edges of a top
tagger between its subjets). Together with the shortcut's, it is the whole relevance of the block's output.

Edges are classified by where their particles lie, from the jet table's raw (unscaled) particle features: a particle
belongs to the softdrop prong it is nearer to (``dr_subjet1``, ``dr_subjet2``) when that prong is within
``SUBJET_RADIUS``, otherwise it is unclustered. An edge is ``within a subjet`` (both particles in one prong),
``between subjets`` (one in each) or ``to unclustered`` (either particle unclustered); its length is the distance
of its two particles in (eta, phi).

    edges = edge_relevance(model, (particles, xaug), "epsilon")
    summary = edge_summary(edges, raw_particles, labels)   # shares of |relevance| per kind of edge, by class
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import hist
import numpy as np
import torch

from xaugcol.explain.lrp import LRP, Composite
from xaugcol.explain.methods.base import Attribution
from xaugcol.features.particles import FEATURE_INDEX
from xaugcol.layers import neighbour_mask

if TYPE_CHECKING:
    from xaugcol.models.particlenet import EdgeConvBlock

SUBJET_RADIUS = 0.4  # a particle farther than this from both softdrop prongs is unclustered (half the AK8 radius)
EDGE_KINDS = ("within a subjet", "between subjets", "to unclustered")
LENGTH_BINS = np.array([0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8, np.inf])  # edge lengths in (eta, phi), the last open


@dataclass(frozen=True)
class BlockEdges:
    """One EdgeConv block's graph and the relevance of its edges.

    Parameters
    ----------
    name : str
        The block's module name (``body.0``, ``body.1``, ...).
    index : numpy.ndarray
        (jets, particles, k) the neighbour j of each edge i <- j.
    real : numpy.ndarray
        (jets, particles, k) whether the edge joins two real particles (the others carry nothing).
    relevance : numpy.ndarray
        (jets, particles, k) the relevance the edge carries (its feature's, summed over channels).
    shortcut : numpy.ndarray
        (jets, particles) the relevance of each particle's shortcut term.
    output : numpy.ndarray
        (jets, particles) the relevance of the block's output per particle (edges and shortcut together).
    """

    name: str
    index: np.ndarray
    real: np.ndarray
    relevance: np.ndarray
    shortcut: np.ndarray
    output: np.ndarray


def edge_relevance(
    model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], composite: Composite | str | dict, batch_size: int = 512
) -> list[BlockEdges]:
    """Every EdgeConv block's edges of ``model`` (a ParticleNet) on ``inputs``, with their relevance under
    ``composite`` (an LRP composite or preset name, as ``LRP`` takes it), in batches of ``batch_size`` jets.

    Parameters
    ----------
    model : torch.nn.Module
        A ParticleNet tagger (``xaugcol.models.particlenet.ParticleNet``), in evaluation mode.
    inputs : tuple of torch.Tensor
        Its inputs (the scaled particle list first, then the XAUG vector if it joins them).
    composite : Composite, str or dict
        The LRP rules: a ``Composite``, a preset's name or a mapping (``Composite.from_spec``).
    batch_size : int, default 512
        Jets per pass (the edge features of a batch are its largest tensor).

    Returns
    -------
    list of BlockEdges
        One per block, in order.
    """
    return explain_edges(model, LRP(model, composite), inputs, batch_size)[0]


def explain_edges(
    model: torch.nn.Module, lrp: LRP, inputs: tuple[torch.Tensor, ...], batch_size: int = 512
) -> tuple[list[BlockEdges], Attribution]:
    """One LRP pass of ``lrp`` (on ``model``) over ``inputs`` that gives both the edges of every EdgeConv block
    (``edge_relevance``) and the relevance of the inputs (an ``Attribution``, as the LRP attributor gives it): a
    run that wants both explains each jet once.

    Parameters
    ----------
    model : torch.nn.Module
        A ParticleNet tagger, in evaluation mode.
    lrp : LRP
        Its LRP (``xaugcol.explain.lrp.LRP``).
    inputs : tuple of torch.Tensor
        Its inputs, in forward order (the scaled particle list first).
    batch_size : int, default 512
        Jets per pass (plain batches: recorded layers keep the batch's shapes).

    Returns
    -------
    blocks : list of BlockEdges
        The blocks' edges, one per block, in order.
    attribution : Attribution
        The inputs' relevance with the explained output and what LRP absorbed (output minus the summed input
        relevance, in float64).

    Raises
    ------
    ValueError
        The model has no EdgeConv block.
    """
    blocks = edge_blocks(model)
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no EdgeConv block: edge relevance is ParticleNet's")
    names = {
        name: (f"{name}.edge.{len(b.edge) - 1}", _shortcut_name(name, b), f"{name}.activation") for name, b in blocks
    }
    parts, explanations = [], []
    for start in range(0, len(inputs[0]), max(batch_size, 1)):
        part, explanation = _edge_batch(lrp, blocks, names, tuple(x[start : start + batch_size] for x in inputs))
        parts.append(part)
        explanations.append(explanation)
    found = [
        BlockEdges(name, *(np.concatenate([p[k][field] for p in parts]) for field in range(5)))
        for k, (name, _) in enumerate(blocks)
    ]
    output = torch.cat([e.output for e in explanations])
    total = torch.cat([e.conservation.input_total for e in explanations])
    relevance = tuple(torch.cat(r) for r in zip(*(e.relevance for e in explanations)))
    # as the LRP attributor books it: in float64, a small difference of large numbers
    return found, Attribution(relevance, output, output.double() - total.double())


def edge_blocks(model: torch.nn.Module) -> list[tuple[str, EdgeConvBlock]]:
    """The EdgeConv blocks of ``model`` with their module names (none: not a graph network).

    Parameters
    ----------
    model : torch.nn.Module
        A tagger.

    Returns
    -------
    list of tuple of (str, EdgeConvBlock)
        ``(name, block)`` in ``named_modules`` order; empty for a model without EdgeConv blocks, and for one whose
        graph joins other objects to the particles (``graph_of_particles`` false: an imported ParticleNetTagger),
        whose edges the kinds of ``edge_kinds`` do not describe.
    """
    from xaugcol.models.particlenet import EdgeConvBlock

    if not getattr(model, "graph_of_particles", True):  # a graph of particles and vertices: edges not summarised
        return []
    return [(name, m) for name, m in model.named_modules() if isinstance(m, EdgeConvBlock)]


def _edge_batch(lrp: LRP, blocks: list, names: dict, inputs: tuple[torch.Tensor, ...]) -> tuple[list[tuple], Any]:
    """One batch: the blocks' edges (the graphs as the LRP pass's own forward built them) and its Explanation."""
    graphs: dict[str, torch.Tensor] = {}
    hooks = [
        block.neighbours.register_forward_hook(lambda _m, _i, out, name=name: graphs.__setitem__(name, out))
        for name, block in blocks
    ]
    try:
        explanation = lrp(*inputs, record=tuple(n for triple in names.values() for n in triple if n is not None))
    finally:
        for hook in hooks:
            hook.remove()
    recorded = explanation.layers
    mask = (inputs[0] != 0).any(dim=-1).to(inputs[0].dtype)
    n = mask.shape[1]
    out = []
    for name, _block in blocks:
        index = graphs[name]
        jets, particles, k = index.shape
        # a weaver-core model pads k slots more (``ParticleNet.features``): they are padding, cut below
        slots = torch.cat([mask, mask.new_zeros(jets, particles - n)], dim=1)
        real = neighbour_mask(slots, index) > 0
        edge_name, shortcut_name, output_name = names[name]
        all_edges = recorded[edge_name].sum(dim=1).reshape(jets, particles, k)
        output = recorded[output_name].sum(dim=1)
        # an identity shortcut (weaver-core's, where a block keeps its width) is what the edges leave of the output
        shortcut = output - all_edges.sum(-1) if shortcut_name is None else recorded[shortcut_name].sum(dim=1)
        out.append(
            (
                index[:, :n].clamp(max=n - 1).numpy(),  # a slot the model added: padding, as one of the table's
                real[:, :n].numpy(),
                (all_edges * real)[:, :n].detach().numpy(),
                shortcut[:, :n].detach().numpy(),
                output[:, :n].detach().numpy(),
            )
        )
    return out, explanation


def _shortcut_name(name: str, block) -> str | None:
    """The module whose output is the block's shortcut term; None: an identity shortcut (no module)."""
    if block.shortcut is None:
        return None
    return f"{name}.shortcut_norm" if block.shortcut_norm is not None else f"{name}.shortcut"


def edge_kinds(particles: np.ndarray, index: np.ndarray, radius: float = SUBJET_RADIUS) -> tuple[np.ndarray, ...]:
    """Each edge's kind (an index into ``EDGE_KINDS``) and length, from the raw particle features.

    Parameters
    ----------
    particles : numpy.ndarray
        (jets, particles, features) the jet table's particle list (unscaled; ``xaugcol.features.particles``).
    index : numpy.ndarray
        (jets, particles, k) each edge's neighbour.
    radius : float, default SUBJET_RADIUS
        A particle farther than this from both softdrop prongs is unclustered (in (eta, phi) distance).

    Returns
    -------
    kinds, lengths : numpy.ndarray
        (jets, particles, k) each: the kind's index into ``EDGE_KINDS``, and the distance of the edge's two
        particles in (eta, phi) (phi difference wrapped into [-pi, pi)).
    """
    d1 = particles[..., FEATURE_INDEX["dr_subjet1"]]
    d2 = particles[..., FEATURE_INDEX["dr_subjet2"]]
    prong = np.where(np.minimum(d1, d2) > radius, -1, np.where(d1 <= d2, 0, 1))  # -1: unclustered
    jets = np.arange(len(index))[:, None, None]
    mine = np.broadcast_to(prong[:, :, None], index.shape)
    theirs = prong[jets, index]
    kinds = np.where((mine < 0) | (theirs < 0), 2, np.where(mine == theirs, 0, 1))
    eta = particles[..., FEATURE_INDEX["deta_jet"]]
    phi = particles[..., FEATURE_INDEX["dphi_jet"]]
    d_eta = eta[:, :, None] - eta[jets, index]
    d_phi = np.mod(phi[:, :, None] - phi[jets, index] + np.pi, 2 * np.pi) - np.pi
    return kinds, np.hypot(d_eta, d_phi)


def edge_summary(blocks: list[BlockEdges], particles: np.ndarray, labels: np.ndarray) -> dict:
    """Per block and class, how the edges' |relevance| divides among the kinds of edge (shares summing to 1) and
    along the edge length (``LENGTH_BINS``), with the number of real edges of each kind.

    Parameters
    ----------
    blocks : list of BlockEdges
        ``edge_relevance``'s result.
    particles : numpy.ndarray
        (jets, particles, features) the raw particle lists of the same jets.
    labels : numpy.ndarray
        (jets,) 1 signal, 0 background.

    Returns
    -------
    dict
        ``{block name: {"signal" | "background": {"share": {kind: share}, "edges": {kind: count},
        "by_length": [share per length bin]}}}``; a share is None (and ``by_length`` zeros) where the class's
        edges carry no relevance.
    """
    out: dict = {}
    for block in blocks:
        kinds, lengths = edge_kinds(particles[:, : block.index.shape[1]], block.index)
        weight = np.abs(block.relevance) * block.real
        per_class = {}
        for label, cls in ((1, "signal"), (0, "background")):
            rows = labels == label
            w, kind, length, real = weight[rows], kinds[rows], lengths[rows], block.real[rows]
            total = float(w.sum())
            per_class[cls] = {
                "share": {
                    name: (float(w[kind == k].sum()) / total if total > 0 else None)
                    for k, name in enumerate(EDGE_KINDS)
                },
                "edges": {name: int((real & (kind == k)).sum()) for k, name in enumerate(EDGE_KINDS)},
                "by_length": (
                    np.histogram(length[real], LENGTH_BINS, weights=w[real])[0] / total
                    if total > 0
                    else np.zeros(len(LENGTH_BINS) - 1)
                ).tolist(),
            }
        out[block.name] = per_class
    return out


def histograms(tagger: str, methods: list[str], classes: Sequence[int]) -> dict:
    """Per LRP method ``edges/T/<method>`` sums the edges' |relevance| and ``edge_count/T/<method>`` counts the real
    edges, per (member, class, block, kind of edge, length).

    Parameters
    ----------
    tagger : str
        The tagger's name (``T``).
    methods : list of str
        The LRP methods whose edges are recorded.
    classes : sequence of int
        The true classes of the jets (the ``label`` axis).

    Returns
    -------
    dict of str to hist.Hist
        Two empty histograms per method, double storage (the ``member`` and ``block`` axes grow; ``length`` is the
        bin index of ``LENGTH_BINS``).
    """
    out = {}
    for method in methods:
        axes = (
            hist.axis.IntCategory([], growth=True, name="member", label="seed"),
            hist.axis.IntCategory(list(classes), name="label", label="class"),
            hist.axis.StrCategory([], growth=True, name="block", label="EdgeConv block"),
            hist.axis.Integer(0, len(EDGE_KINDS), name="kind", label="kind of edge", underflow=False, overflow=False),
            # the bin of ``LENGTH_BINS`` (an integer axis: checkpoints store the histograms' values, not edges)
            hist.axis.Integer(
                0, len(LENGTH_BINS) - 1, name="length", label="edge length bin", underflow=False, overflow=False
            ),
        )
        out[f"edges/{tagger}/{method}"] = hist.Hist(*axes, storage=hist.storage.Double())
        out[f"edge_count/{tagger}/{method}"] = hist.Hist(*axes, storage=hist.storage.Double())
    return out


def fill(
    hists: dict,
    tagger: str,
    method: str,
    member: int,
    blocks: list[BlockEdges],
    particles: np.ndarray,
    labels: np.ndarray,
) -> None:
    """Add one member's edges (``edge_relevance``) on a batch of jets to the tagger's histograms.

    Only the real edges are filled.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The run's histograms, those of ``histograms(tagger, ...)`` among them (filled in place).
    tagger : str
        The tagger's name.
    method : str
        The LRP method's name.
    member : int
        The member's seed.
    blocks : list of BlockEdges
        The member's edges on the jets (``edge_relevance`` or ``explain_edges``).
    particles : numpy.ndarray
        (jets, particles, features) the jets' raw particle lists.
    labels : numpy.ndarray
        (jets,) their classes.
    """
    for block in blocks:
        kinds, lengths = edge_kinds(particles[:, : block.index.shape[1]], block.index)
        real = block.real
        label = np.broadcast_to(np.asarray(labels)[:, None, None], real.shape)[real]
        length = np.digitize(lengths[real], LENGTH_BINS[1:-1])  # the bin, the last open
        common = {"member": member, "label": label, "block": block.name, "kind": kinds[real], "length": length}
        hists[f"edges/{tagger}/{method}"].fill(**common, weight=np.abs(block.relevance[real]))
        hists[f"edge_count/{tagger}/{method}"].fill(**common)


def patterns(hists: dict, tagger: str) -> dict:
    """Per LRP method, block and class: each kind of edge's share of the edges' |relevance| (mean and spread over
    the members), the shares along the edge length (``LENGTH_BINS``, the last bin open; members pooled) and the
    real edges of each kind per member. Empty when the run recorded no edges for the tagger.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        A run's histograms, with the tagger's ``edges/T/<method>`` and ``edge_count/T/<method>``.
    tagger : str
        The tagger's name.

    Returns
    -------
    dict
        ``{method: {block: {class name: {"share": {kind: {"mean", "std"}}, "by_length": [share per length bin],
        "edges": {kind: mean count per member}}}}}``; a block and class whose edges carry no relevance are left out.
    """
    prefix = f"edges/{tagger}/"
    out: dict = {}
    names = {0: "background", 1: "signal", -1: "data"}
    for key in (k for k in hists if k.startswith(prefix)):
        method = key.removeprefix(prefix)
        sums, counts = hists[key], hists[f"edge_count/{tagger}/{method}"]
        members, labels, blocks = (list(sums.axes[a]) for a in ("member", "label", "block"))
        if not members:
            continue
        w = sums.view(flow=True)[: len(members), : len(labels), : len(blocks)]  # (member, label, block, kind, length)
        n = counts.view(flow=True)[: len(members), : len(labels), : len(blocks)]
        per_method = out.setdefault(method, {})
        for b, block in enumerate(blocks):
            for c, label in enumerate(labels):
                cell = w[:, c, b]  # (member, kind, length)
                totals = cell.sum(axis=(1, 2))
                if not (totals > 0).any():
                    continue
                # per member that saw edges of this class (one that saw none has no share, not a share of 0)
                shares = cell.sum(axis=2)[totals > 0] / totals[totals > 0, None]  # (member, kind)
                pooled = cell.sum(axis=(0, 1))
                per_method.setdefault(block, {})[names.get(label, str(label))] = {
                    "share": {
                        kind: {"mean": float(shares[:, k].mean()), "std": _spread(shares[:, k])}
                        for k, kind in enumerate(EDGE_KINDS)
                    },
                    "by_length": (pooled / pooled.sum()).tolist(),
                    "edges": {kind: float(n[:, c, b, k].sum() / len(members)) for k, kind in enumerate(EDGE_KINDS)},
                }
    return out


def _spread(values: np.ndarray) -> float:
    """The spread over members as everywhere in the toolkit: ddof 1, 0 for a single member."""
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0
