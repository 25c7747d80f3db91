"""Energy-flow polynomials of a batch of jets at once, with the hadronic measure:

    EFP_G = sum_{i_1..i_n} z_{i_1} ... z_{i_n} prod_{(k,l) in G} theta_{i_k i_l},
    z_i = pT_i^kappa / (sum_j pT_j)^kappa,  theta_ij = Delta R_ij^beta  (Delta phi wrapped into [-pi, pi)).

kappa = 1 gives the IRC-safe EFPs; other kappa the IRC-unsafe ones the decision-ordering study uses (kappa = 0
counts constituents). Each connected graph is summed out one vertex at a time (variable elimination, one batched
matrix product or einsum over the jet axis per step: a tree costs O(N^2) per jet, not O(N^n)); a composite
graph's EFP is the product of its factors'. Padded constituents have z = 0 (and theta = 0), so they add nothing.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from xaugcol.features.efp.graphs import Graph, n_vertices

# what a factor of the elimination computes: ("z",), ("anchor",), ("theta", multiplicity), or ("sum", the keys of the
# factors summed with their axes' places): nested tuples, so typed loosely
Key = tuple[Any, ...]
# a factor: (its vertices, one constituent axis each; its key)
Factor = tuple[tuple[int, ...], Key]
# one elimination step: (key, the vertex summed out, the factors used, the vertices left)
Step = tuple[Key, int, tuple[Factor, ...], tuple[int, ...]]


def measure(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mask: np.ndarray, kappa: float = 1.0, beta: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(z (jets, N), theta (jets, N, N)) of padded constituent arrays; ``mask``: the real constituents.

    Refuses jets without any constituent, a non-positive pT of a real constituent, and NaN / inf, naming them.

    Parameters
    ----------
    pt : numpy.ndarray
        Shape (jets, N): the constituents' pT (GeV), padded; the padded slots' values are not used.
    eta : numpy.ndarray
        Shape (jets, N): the constituents' pseudorapidities.
    phi : numpy.ndarray
        Shape (jets, N): the constituents' azimuths (radians), in any range.
    mask : numpy.ndarray
        Shape (jets, N), bool: True for the real constituents.
    kappa : float, default 1.0
        The energy exponent: z_i = (pT_i / sum_j pT_j) ** kappa.
    beta : float, default 1.0
        The angular exponent: theta_ij = Delta R_ij ** beta.

    Returns
    -------
    z : numpy.ndarray
        Shape (jets, N), float64: the energy fractions to the power kappa, 0 in the padded slots.
    theta : numpy.ndarray
        Shape (jets, N, N), float64: the pairwise angles to the power beta, 0 for any pair with a padded slot.

    Raises
    ------
    ValueError
        For NaN or inf in a real constituent, a real constituent with pT <= 0, or a jet without constituents.
    """
    pt, eta, phi = (np.asarray(a, dtype=np.float64) for a in (pt, eta, phi))
    mask = np.asarray(mask, dtype=bool)
    real = (np.isfinite(pt) & np.isfinite(eta) & np.isfinite(phi)) | ~mask
    if not real.all():
        raise ValueError(f"EFP inputs: NaN or inf in {int((~real.all(1)).sum())} jet(s)")
    if (mask & ~(pt > 0)).any():
        raise ValueError(f"EFP inputs: a constituent with pT <= 0 in {int((mask & ~(pt > 0)).any(1).sum())} jet(s)")
    if not mask.any(1).all():
        raise ValueError(f"EFP inputs: {int((~mask.any(1)).sum())} jet(s) without constituents")
    total = np.where(mask, pt, 0.0).sum(1, keepdims=True)
    # padded slots get 1 before the power (0 ** kappa is inf for kappa < 0), then z = 0 there
    z = np.where(mask, (np.where(mask, pt, 1.0) / total) ** kappa, 0.0)
    # |Delta phi| wrapped: with every phi first in [-pi, pi), a difference lies in (-2 pi, 2 pi), and its wrapped
    # size is min(|d|, 2 pi - |d|): two passes over (jets, N, N) instead of a modulo; the work is done in place
    phi = np.mod(phi + np.pi, 2 * np.pi) - np.pi
    dphi = np.abs(phi[:, :, None] - phi[:, None, :])
    np.minimum(dphi, 2 * np.pi - dphi, out=dphi)
    theta = eta[:, :, None] - eta[:, None, :]
    np.square(theta, out=theta)
    np.square(dphi, out=dphi)
    theta += dphi
    np.sqrt(theta, out=theta)
    if beta != 1.0:
        np.power(theta, beta, out=theta)
    theta *= mask[:, :, None] & mask[:, None, :]  # padded pairs: 0
    return z, theta


@functools.cache
def elimination_order(graph: Graph) -> tuple[int, ...]:
    """Vertices in the order they are summed out: always one with the fewest remaining neighbours.

    A leaf of a tree goes first, which keeps every intermediate factor small (at most the graph's treewidth + 1
    constituent axes; O(N^2) per jet for a tree). Ties go to the smaller vertex label.

    Parameters
    ----------
    graph : Graph
        A connected graph: a sorted tuple of edges (a, b), a <= b.

    Returns
    -------
    tuple of int
        Every vertex of the graph, in elimination order.
    """
    neighbours: dict[int, set[int]] = {v: set() for v in range(n_vertices(graph))}
    for a, b in graph:
        neighbours[a].add(b)
        neighbours[b].add(a)
    order: list[int] = []
    while neighbours:
        v = min(neighbours, key=lambda u: (len(neighbours[u]), u))
        for u in neighbours[v]:  # summing v out joins its neighbours in one factor
            neighbours[u] |= neighbours[v] - {u}
            neighbours[u].discard(v)
        del neighbours[v]
        order.append(v)
    return tuple(order)


def connected_efp(
    graph: Graph,
    z: np.ndarray,
    theta: np.ndarray,
    cache: dict[Key, np.ndarray] | None = None,
    anchor: np.ndarray | None = None,
) -> np.ndarray:
    """(jets,) EFP of one connected graph by variable elimination.

    With ``anchor``, vertex 0 weighs the constituents by it instead of z (a one-hot anchor pins vertex 0 on one
    object: ``anchored``). Each step's key names what it computes independently of the vertex labels
    (``elimination_plan``), so ``cache`` (shared over the graphs of one batch) computes each intermediate once: the
    leaf sum sum_j z_j theta_ij^m, for one, is the same in every graph that has such a leaf.

    Parameters
    ----------
    graph : Graph
        A connected graph: a sorted tuple of edges (a, b), a <= b.
    z : numpy.ndarray
        Shape (jets, N): the constituents' energy fractions to the power kappa (0 for padding).
    theta : numpy.ndarray
        Shape (jets, N, N): the pairwise angles to the power beta (0 for padding).
    cache : dict, optional
        Maps keys to the arrays already computed for this ``z`` and ``theta`` (powers of ``theta`` and the steps'
        intermediates); filled in place. None: a fresh one for this call.
    anchor : numpy.ndarray, optional
        Shape (jets, N): the weights of vertex 0 in place of ``z``; None: vertex 0 is weighed by ``z`` as the others.

    Returns
    -------
    numpy.ndarray
        Shape (jets,): the EFP of each jet.
    """
    cache = {} if cache is None else cache
    leaves: dict[Key, np.ndarray] = {("z",): z}
    if anchor is not None:  # without one, the plan never asks for it
        leaves[("anchor",)] = anchor

    def value(key: Key) -> np.ndarray:
        if key in leaves:
            return leaves[key]
        if key not in cache:  # only theta's powers are asked for before a step made them
            cache[key] = theta ** key[1]
        return cache[key]

    steps, final = elimination_plan(graph, anchor is not None)
    for key, v, used, scope in steps:
        if key not in cache:
            cache[key] = _sum_out(v, [(vs, k, value(k)) for vs, k in used], scope)
    result = value(final[0])
    for key in final[1:]:  # every factor left has an empty scope: one number per jet
        result = result * value(key)
    return result


@functools.cache
def elimination_plan(graph: Graph, anchored: bool = False) -> tuple[tuple[Step, ...], tuple[Key, ...]]:
    """The variable elimination of a connected graph, worked out once per graph without any array.

    A factor is (vertices, key): one constituent axis per vertex, and a key that names what it computes
    (``("z",)``, ``("anchor",)``, ``("theta", multiplicity)``, or a sum of keyed factors with their axes' places), so
    equal keys are equal arrays within one batch. Each step sums vertex ``v`` out of the factors ``used`` into one
    over ``scope``: (key, v, used, scope).

    Parameters
    ----------
    graph : Graph
        A connected graph: a sorted tuple of edges (a, b), a <= b.
    anchored : bool, default False
        Vertex 0 is weighed by the anchor (key ``("anchor",)``) instead of z.

    Returns
    -------
    steps : tuple of Step
        The elimination steps, in ``elimination_order``.
    final : tuple of Key
        The keys of the factors left at the end, each over no vertex: their product is the EFP.
    """
    multiplicity: dict[tuple[int, int], int] = {}
    for e in graph:
        multiplicity[e] = multiplicity.get(e, 0) + 1
    factors: list[Factor] = [((v,), ("z",)) for v in range(n_vertices(graph))]
    if anchored:
        factors[0] = ((0,), ("anchor",))
    factors += [(e, ("theta", m)) for e, m in sorted(multiplicity.items())]
    steps: list[Step] = []
    for v in elimination_order(graph):
        used = tuple(f for f in factors if v in f[0])
        factors = [f for f in factors if v not in f[0]]
        scope = tuple(sorted({u for vs, _ in used for u in vs} - {v}))
        position = {u: i for i, u in enumerate(scope)}
        key = ("sum", tuple(sorted((k, tuple(position.get(u, -1) for u in vs)) for vs, k in used)))
        steps.append((key, v, used, scope))
        factors.append((scope, key))
    return tuple(steps), tuple(k for _, k in factors)


def _sum_out(v: int, used: list[tuple[tuple[int, ...], Key, np.ndarray]], scope: tuple[int, ...]) -> np.ndarray:
    """Sum vertex v out of the product of the factors ``used`` (each over v and at most one more vertex), leaving
    the axes of ``scope``. Every step of a graph of treewidth <= 2 is one of three shapes, each done as elementwise
    products and at most one batched matrix product (``np.matmul``: 2-3x faster than einsum's loop over several
    operands); wider steps (treewidth 3, from d = 6) go through einsum."""
    if len(scope) > 2 or any(len(vs) > 2 for vs, _, _ in used):
        letters = string.ascii_lowercase
        subscripts = ",".join("J" + "".join(letters[u] for u in vs) for vs, _, _ in used)
        out = "J" + "".join(letters[u] for u in scope)
        return np.einsum(f"{subscripts}->{out}", *(a for _, _, a in used), optimize="greedy")
    weight: np.ndarray | None = None  # (jets, N) over v: its z and what earlier steps left on v alone
    towards: dict[int, np.ndarray] = {}  # u -> (jets, N_u, N_v): the product of the factors joining u and v
    for vs, _, a in used:
        if len(vs) == 1:
            weight = a if weight is None else weight * a
            continue
        u, m = (vs[0], a) if vs[1] == v else (vs[1], a.transpose(0, 2, 1))
        towards[u] = m if u not in towards else towards[u] * m
    # every vertex keeps its own one-vertex factor (z or the anchor) until it is summed out
    assert weight is not None
    if not scope:
        return weight.sum(1)
    if len(scope) == 1:
        return np.matmul(towards[scope[0]], weight[:, :, None])[:, :, 0]
    first, second = scope
    return np.matmul(towards[first] * weight[:, None, :], towards[second].transpose(0, 2, 1))


def efps(
    graphs: Sequence[tuple[Graph, ...]], z: np.ndarray, theta: np.ndarray, powers: dict[Key, np.ndarray] | None = None
) -> np.ndarray:
    """The EFP of every graph of ``graphs`` for a batch of jets; each connected factor is contracted once, however
    many composites use it.

    Parameters
    ----------
    graphs : sequence of tuple of Graph
        Each graph as a tuple of its connected factors, as ``graphs.all_graphs`` gives them.
    z : np.ndarray
        (jets, N): the constituents' energy fractions to the power kappa (0 for padding).
    theta : np.ndarray
        (jets, N, N): the pairwise angles to the power beta (0 for padding).
    powers : dict, optional
        Keeps the powers of ``theta`` for the next call with the same theta (another kappa).

    Returns
    -------
    np.ndarray
        (jets, graphs): one column per graph.
    """
    values: dict[Graph, np.ndarray] = {}
    cache: dict[Key, np.ndarray] = {} if powers is None else powers
    out = np.empty((len(z), len(graphs)))
    for k, factors in enumerate(graphs):
        product = np.ones(len(z))
        for g in factors:
            if g not in values:
                values[g] = connected_efp(g, z, theta, cache)
            product = product * values[g]
        out[:, k] = product
    if powers is not None:  # keep only what does not depend on z
        for key in [k for k in cache if k[0] != "theta"]:
            del cache[key]
    return out
