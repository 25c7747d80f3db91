"""Lepton-anchored energy-flow polynomials: EFPs whose graph has one distinguished vertex pinned on the lepton, so
that angles to the lepton enter (the "new class of EFP" the muon study asks for):

    EFPL_(G, a) = sum_{i_1..i_{n-1}} prod_{b != a} z_{i_b}^kappa  prod_{(k,l) in G} theta_{i_k i_l}^beta,
    with i_a = the lepton: theta_{lepton, j} = Delta R(lepton, cell j),  z_j = E_T,j / p_T,lepton.

The one-edge graph anchored is the radially weighted isolation sum_j z_j Delta R_j^beta; a star of m edges at the
anchor is its m-th power; chains and loops through the anchor weigh pairs of cells by where they sit relative to
the lepton. An anchored graph is a connected graph with one vertex orbit chosen (two vertices that an automorphism
of the graph exchanges give the same polynomial): named ``<graph>_a<v>`` with v the orbit's smallest vertex in the
graph's canonical labelling. Evaluated by the same variable elimination as the ordinary EFPs
(``evaluate.connected_efp``), with the lepton as an extra object of weight 0 that only the anchored vertex sees.

How many anchored graphs each degree has is tabulated (``ANCHORED_PER_DEGREE``): enumerating them tries every
relabelling of a graph's vertices, 4 s up to degree 7 and many minutes at degree 8, so a set's size is counted first.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence

import numpy as np

from xaugcol.features.efp.evaluate import Key, connected_efp
from xaugcol.features.efp.graphs import Graph, connected_graphs, graph_from_name, graph_name, n_vertices, sorted_edge
from xaugcol.quoting import quoted

PREFIX = "efpl_"
# anchored graphs (connected graph, vertex orbit) with exactly d edges, d = 0, 1, ..., 8: ``anchored_graphs`` gives
# the same numbers (tests/test_integrity_limits.py up to degree 6; degrees 7 and 8 counted once with a
# refinement-based canonical form of the rooted graphs, which agrees with it up to degree 7)
ANCHORED_PER_DEGREE = (0, 1, 3, 9, 30, 104, 390, 1518, 6208)


def anchored_count(max_degree: int) -> int:
    """How many graphs ``anchored_graphs(max_degree)`` holds, counted from the table.

    Parameters
    ----------
    max_degree : int
        The largest number of edges, 0 to 8 (the length of ``ANCHORED_PER_DEGREE`` minus one).

    Returns
    -------
    int
        The number of (connected graph, vertex orbit) pairs with up to ``max_degree`` edges (0 for degree 0).

    Raises
    ------
    ValueError
        For ``max_degree`` beyond the table.
    """
    if not 0 <= max_degree < len(ANCHORED_PER_DEGREE):
        raise ValueError(
            f"anchored EFP graphs are counted up to degree {len(ANCHORED_PER_DEGREE) - 1}, got {max_degree}"
        )
    return sum(ANCHORED_PER_DEGREE[: max_degree + 1])


def _rooted_form(graph: Graph, root: int) -> Graph:
    """The graph relabelled with ``root`` as vertex 0, canonical over the other vertices' labels."""
    n = n_vertices(graph)
    others = [v for v in range(n) if v != root]
    best: Graph | None = None
    for perm in itertools.permutations(range(1, n)):
        label = {root: 0, **dict(zip(others, perm))}
        form = tuple(sorted(sorted_edge(label[a], label[b]) for a, b in graph))
        if best is None or form < best:
            best = form
    # itertools.permutations yields at least one tuple (the empty one for a one-vertex graph)
    assert best is not None
    return best


@functools.cache
def anchored_graphs(max_degree: int) -> tuple[tuple[Graph, int, str], ...]:
    """Every (connected graph with 1..max_degree edges, anchored vertex, name), one per vertex orbit.

    Parameters
    ----------
    max_degree : int
        The largest number of edges.

    Returns
    -------
    tuple of tuple of (Graph, int, str)
        By degree and graph: the graph, its anchored vertex (the smallest of its orbit) and the name
        ``<graph>_a<vertex>``.
    """
    out: list[tuple[Graph, int, str]] = []
    for d in range(1, max_degree + 1):
        for graph in connected_graphs(d):
            seen: set[Graph] = set()
            for v in range(n_vertices(graph)):
                form = _rooted_form(graph, v)
                if form in seen:
                    continue
                seen.add(form)
                out.append((graph, v, f"{graph_name((graph,))}_a{v}"))
    return tuple(out)


def relabelled(graph: Graph, root: int) -> Graph:
    """The graph with ``root`` and vertex 0 exchanged (the evaluation pins vertex 0).

    Parameters
    ----------
    graph : Graph
        A sorted tuple of edges (a, b), a <= b.
    root : int
        The anchored vertex.

    Returns
    -------
    Graph
        The relabelled graph, its edges sorted again.
    """
    swap = {root: 0, 0: root}
    return tuple(sorted(sorted_edge(swap.get(a, a), swap.get(b, b)) for a, b in graph))


_NAME = re.compile(r"(?P<graph>n\d+_d\d+_k\d+)_a(?P<vertex>\d+)")


def anchored_from_name(name: str) -> tuple[Graph, int]:
    """The (connected graph, anchored vertex) an ``<graph>_a<vertex>`` name stands for.

    Refuses a name that is not one, or whose vertex is not the smallest of its orbit, saying why.

    Parameters
    ----------
    name : str
        An anchored graph's name, ``n<v>_d<e>_k<i>_a<vertex>``.

    Returns
    -------
    graph : Graph
        The connected graph, in canonical form.
    vertex : int
        The anchored vertex.

    Raises
    ------
    ValueError
        Where ``name`` is not such a name, names no graph, a vertex the graph lacks, or a vertex that is not the
        smallest of its orbit.
    """
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"not an anchored EFP graph name: {quoted(name)} (expected n<v>_d<e>_k<i>_a<vertex>)")
    (graph,) = graph_from_name(match["graph"])
    vertex = int(match["vertex"])
    if vertex >= n_vertices(graph):
        raise ValueError(f"anchored EFP graph {quoted(name)}: the graph has {n_vertices(graph)} vertices")
    root = min(v for v in range(n_vertices(graph)) if _rooted_form(graph, v) == _rooted_form(graph, vertex))
    if root != vertex:
        raise ValueError(
            f"anchored EFP graph {quoted(name)}: vertex {vertex} is in the orbit of vertex {root}, which names it"
        )
    return graph, vertex


def anchored_efps(
    graphs: Sequence[tuple[Graph, int]],
    z: np.ndarray,
    theta: np.ndarray,
    powers: dict[Key, np.ndarray] | None = None,
) -> np.ndarray:
    """The anchored EFP of each (graph, vertex) of ``graphs``, for a batch of leptons.

    Parameters
    ----------
    graphs : sequence of (Graph, int)
        Connected graphs, each with the vertex pinned on the lepton.
    z : np.ndarray
        (leptons, N): the objects' energy fractions, the lepton in slot 0 with z = 0 there.
    theta : np.ndarray
        (leptons, N, N): the objects' angles, already to the power beta.
    powers : dict, optional
        Keeps the powers of ``theta`` for the next call with the same theta (another kappa).

    Returns
    -------
    np.ndarray
        (leptons, graphs): one column per (graph, vertex).
    """
    anchor = np.zeros_like(z)
    anchor[:, 0] = 1.0
    cache: dict[Key, np.ndarray] = {} if powers is None else powers
    out = np.empty((len(z), len(graphs)))
    for k, (graph, vertex) in enumerate(graphs):
        out[:, k] = connected_efp(relabelled(graph, vertex), z, theta, cache, anchor=anchor)
    if powers is not None:
        for key in [key for key in cache if key[0] != "theta"]:
            del cache[key]
    return out


_COLUMN = re.compile(r"efpl_(?P<graph>n\d+_d\d+_k\d+_a\d+)_kappa(?P<kappa>m?[0-9p]+)_beta(?P<beta>m?[0-9p]+)")


def parse_anchored_column(name: str) -> tuple[str, float, float]:
    """(anchored graph name, kappa, beta) of an ``efpl_`` column; refuses other names, saying why.

    Parameters
    ----------
    name : str
        A column name, ``efpl_<graph>_a<v>_kappa<k>_beta<b>`` (``m`` for a minus sign, ``p`` for the decimal point
        in the numbers).

    Returns
    -------
    graph : str
        The anchored graph's name, ``<graph>_a<v>``.
    kappa : float
        The energy exponent.
    beta : float
        The angular exponent.

    Raises
    ------
    ValueError
        Where ``name`` is not an anchored EFP column or its graph name is not valid (``anchored_from_name``).
    """
    match = _COLUMN.fullmatch(name)
    if match is None:
        raise ValueError(f"not an anchored EFP column: {quoted(name)} (expected efpl_<graph>_a<v>_kappa<k>_beta<b>)")
    anchored_from_name(match["graph"])
    number = lambda text: float(text.replace("m", "-").replace("p", "."))  # noqa: E731
    return match["graph"], number(match["kappa"]), number(match["beta"])
