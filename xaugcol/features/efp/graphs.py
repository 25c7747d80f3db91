"""The multigraphs that index energy-flow polynomials: every connected multigraph with d edges up to isomorphism,
and the composite ones (disconnected: a multiset of connected graphs, whose EFP is the product of theirs).

A graph is a sorted tuple of edges (a, b), a < b, over vertices 0..n-1; a repeated edge is a multi-edge (a power of
theta_ab). The d = 0 graph is one vertex and no edges (its EFP is sum_i z_i). Connected graphs of degree d are grown
from those of degree d - 1: every connected multigraph loses one edge and stays connected, by dropping an edge off
a spanning tree (a repeat or a cycle edge) or a leaf with its edge, so adding one edge between two vertices, or one
new vertex joined to an old one, to every graph of degree d - 1 reaches them all. Duplicates are removed by a
canonical form: vertices split into classes by colour refinement (degree, then the multiset of neighbour colours
and edge multiplicities), and only permutations within a class are tried.

How many graphs there are per degree is tabulated (``CONNECTED_PER_DEGREE``, ``ALL_PER_DEGREE``, up to
``MAX_DEGREE`` = 8), so that the size of an EFP set is known before any graph is enumerated or named: naming the
3 388 graphs up to degree 8 takes about 2 s per (kappa, beta), and a set of 30 kappas x 30 betas half an hour.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter

from xaugcol.quoting import quoted

Graph = tuple[tuple[int, int], ...]

# multigraphs with exactly d edges (d = 0, 1, ..., 8) up to isomorphism: the connected ones, and all of them (connected
# and composite); the enumeration below gives the same numbers (tests/test_integrity_limits.py)
CONNECTED_PER_DEGREE = (1, 1, 2, 5, 12, 33, 103, 333, 1183)
ALL_PER_DEGREE = (1, 1, 3, 8, 23, 66, 212, 686, 2389)
MAX_DEGREE = len(ALL_PER_DEGREE) - 1


def graph_count(max_degree: int, connected_only: bool = False) -> int:
    """How many graphs ``all_graphs(max_degree)`` holds (the one-vertex graph included), or how many are connected.

    Counted from the table (``ALL_PER_DEGREE``, ``CONNECTED_PER_DEGREE``), without enumerating them.

    Parameters
    ----------
    max_degree : int
        The largest number of edges, 0 to ``MAX_DEGREE``.
    connected_only : bool, default False
        Count only the connected graphs.

    Returns
    -------
    int
        The number of graphs with up to ``max_degree`` edges.

    Raises
    ------
    ValueError
        For ``max_degree`` outside 0 to ``MAX_DEGREE``.
    """
    if not 0 <= max_degree <= MAX_DEGREE:
        raise ValueError(f"EFP graphs are counted up to degree {MAX_DEGREE}, got {max_degree}")
    return sum((CONNECTED_PER_DEGREE if connected_only else ALL_PER_DEGREE)[: max_degree + 1])


def n_vertices(graph: Graph) -> int:
    """How many vertices a graph has: one more than its largest vertex label (1 for the edgeless graph).

    Parameters
    ----------
    graph : Graph
        A sorted tuple of edges (a, b), a <= b.

    Returns
    -------
    int
        The number of vertices.
    """
    return 1 + max((b for _, b in graph), default=0)


def _refined_classes(graph: Graph, n: int) -> list[list[int]]:
    """Vertices grouped by colour refinement, the groups in an order that depends only on the graph's structure."""
    multiplicity = Counter(graph)
    neighbours: dict[int, Counter[int]] = {v: Counter() for v in range(n)}
    for (a, b), m in multiplicity.items():
        neighbours[a][b] += m
        neighbours[b][a] += m
    colour = {v: sum(neighbours[v].values()) for v in range(n)}
    for _ in range(n):
        signature = {v: (colour[v], tuple(sorted((colour[u], m) for u, m in neighbours[v].items()))) for v in range(n)}
        ranks = {s: i for i, s in enumerate(sorted(set(signature.values())))}
        new = {v: ranks[signature[v]] for v in range(n)}
        if len(set(new.values())) == len(set(colour.values())):
            colour = new
            break
        colour = new
    classes: dict[int, list[int]] = {}
    for v in range(n):
        classes.setdefault(colour[v], []).append(v)
    return [classes[c] for c in sorted(classes)]


@functools.cache
def canonical(graph: Graph) -> Graph:
    """The smallest relabelled edge tuple over the permutations that keep every refinement class in its place.

    Parameters
    ----------
    graph : Graph
        A sorted tuple of edges (a, b), a <= b, over vertices 0..n-1.

    Returns
    -------
    Graph
        The canonical form: the same for every graph isomorphic to ``graph``.
    """
    n = n_vertices(graph)
    classes = _refined_classes(graph, n)
    targets: list[range] = []
    start = 0
    for cls in classes:
        targets.append(range(start, start + len(cls)))
        start += len(cls)
    best: Graph | None = None
    for images in itertools.product(*(itertools.permutations(t) for t in targets)):
        relabel: dict[int, int] = {}
        for cls, image in zip(classes, images):
            relabel.update(zip(cls, image))
        edges = tuple(sorted(sorted_edge(relabel[a], relabel[b]) for a, b in graph))
        if best is None or edges < best:
            best = edges
    # itertools.product always yields at least one tuple (the empty one when there are no classes)
    assert best is not None
    return best


def sorted_edge(a: int, b: int) -> tuple[int, int]:
    """The edge between vertices ``a`` and ``b`` as a graph holds it: its smaller vertex first.

    Parameters
    ----------
    a : int
        One vertex.
    b : int
        The other vertex.

    Returns
    -------
    tuple of (int, int)
        ``(min(a, b), max(a, b))``.
    """
    return (a, b) if a <= b else (b, a)


@functools.cache
def connected_graphs(d: int) -> tuple[Graph, ...]:
    """Every connected multigraph with exactly ``d`` edges, one per isomorphism class, in canonical form.

    Sorted by (vertices, edges).

    Parameters
    ----------
    d : int
        The number of edges (the degree), >= 0.

    Returns
    -------
    tuple of Graph
        The graphs; ``((),)``, the one-vertex graph, for ``d`` = 0.

    Raises
    ------
    ValueError
        For a negative ``d``.
    """
    if d < 0:
        raise ValueError(f"EFP degree must be >= 0, got {d}")
    if d == 0:
        return ((),)
    found: set[Graph] = set()
    for g in connected_graphs(d - 1):
        n = n_vertices(g)
        for a in range(n):
            found.add(canonical(tuple(sorted(g + ((a, n),)))))  # a new vertex joined to a
            for b in range(a + 1, n):
                found.add(canonical(tuple(sorted(g + ((a, b),)))))
    return tuple(sorted(found, key=lambda g: (n_vertices(g), g)))


def components(graph: Graph) -> list[Graph]:
    """The connected components of a graph (edges relabelled from 0), each in canonical form.

    Parameters
    ----------
    graph : Graph
        A sorted tuple of edges (a, b), a <= b.

    Returns
    -------
    list of Graph
        The components, sorted by (edges, vertices, edge tuple); ``[()]`` for the edgeless graph.
    """
    if not graph:
        return [()]
    parent: dict[int, int] = {}

    def find(v: int) -> int:
        while parent.setdefault(v, v) != v:
            v = parent[v]
        return v

    for a, b in graph:
        parent[find(a)] = find(b)
    groups: dict[int, list[tuple[int, int]]] = {}
    for a, b in graph:
        groups.setdefault(find(a), []).append((a, b))
    out: list[Graph] = []
    for edges in groups.values():
        labels = {v: i for i, v in enumerate(sorted({v for e in edges for v in e}))}
        out.append(canonical(tuple(sorted((labels[a], labels[b]) for a, b in edges))))
    return sorted(out, key=lambda g: (len(g), n_vertices(g), g))


def composite_graphs(d: int) -> tuple[tuple[Graph, ...], ...]:
    """Every multigraph with exactly ``d`` >= 2 edges made of two or more connected ones.

    Each is the sorted tuple of its connected factors (each of degree >= 1).

    Parameters
    ----------
    d : int
        The total number of edges.

    Returns
    -------
    tuple of tuple of Graph
        The composite graphs, each as its factors in the order of (degree, position in ``connected_graphs``);
        empty for ``d`` < 2.
    """
    out: list[tuple[Graph, ...]] = []

    def extend(remaining: int, smallest: tuple[int, int], factors: list[Graph]) -> None:
        if remaining == 0:
            if len(factors) >= 2:
                out.append(tuple(factors))
            return
        for k in range(smallest[0], remaining + 1):
            for i, g in enumerate(connected_graphs(k)):
                if (k, i) < smallest:
                    continue
                extend(remaining - k, (k, i), factors + [g])

    extend(d, (1, 0), [])
    return tuple(out)


def all_graphs(max_degree: int) -> list[tuple[Graph, ...]]:
    """Every EFP multigraph with up to ``max_degree`` edges, connected (one factor) and composite.

    Each is a tuple of connected factors; degree 0 is the one-vertex graph.

    Parameters
    ----------
    max_degree : int
        The largest number of edges.

    Returns
    -------
    list of tuple of Graph
        The graphs by degree, each degree's connected ones first, then its composite ones.
    """
    out: list[tuple[Graph, ...]] = []
    for d in range(max_degree + 1):
        out += [(g,) for g in connected_graphs(d)]
        if d >= 2:
            out += list(composite_graphs(d))
    return out


def _connected_index(graph: Graph) -> tuple[int, int, int]:
    """(vertices, edges, k): k counts the connected graphs of the same vertices and edges before it in the
    canonical order (energyflow's (n, d, k) naming, with our own k)."""
    d, n = len(graph), n_vertices(graph)
    same = [g for g in connected_graphs(d) if n_vertices(g) == n]
    return n, d, same.index(graph)


def graph_name(factors: tuple[Graph, ...]) -> str:
    """A stable name for an EFP multigraph: ``n{vertices}_d{edges}_k{index}`` per connected factor.

    The factors' names are joined by ``x`` for a composite (``n2_d1_k0xn3_d2_k0``): short enough for a jet-table
    column, and ``graph_from_name`` reads it back.

    Parameters
    ----------
    factors : tuple of Graph
        The graph's connected factors (one for a connected graph).

    Returns
    -------
    str
        The name.
    """
    return "x".join("n{}_d{}_k{}".format(*_connected_index(canonical(g))) for g in factors)


_NAME = re.compile(r"n(\d+)_d(\d+)_k(\d+)")


def graph_from_name(name: str) -> tuple[Graph, ...]:
    """The factors ``graph_name`` named; refuses a name that is not one, saying why.

    Parameters
    ----------
    name : str
        A name ``graph_name`` gives.

    Returns
    -------
    tuple of Graph
        The graph's connected factors, each in canonical form.

    Raises
    ------
    ValueError
        Where ``name`` is not such a name, or names a graph that does not exist.
    """
    factors: list[Graph] = []
    for part in name.split("x"):
        match = _NAME.fullmatch(part)
        if match is None:
            raise ValueError(
                f"not an EFP graph name: {quoted(name)} (expected n<vertices>_d<edges>_k<index>, joined by 'x')"
            )
        n, d, k = (int(x) for x in match.groups())
        same = [g for g in connected_graphs(d) if n_vertices(g) == n]
        if not 0 <= k < len(same):
            raise ValueError(
                f"EFP graph name {quoted(name)}: there are {len(same)} connected graphs with {n} vertices "
                f"and {d} edges, no k{k}"
            )
        factors.append(same[k])
    return tuple(factors)
