"""The EFP engine: its graph enumeration against the known counts, its values against a brute-force evaluation by
the definition and against energyflow 1.4.0 (``tests/fixtures/energyflow_reference.npz``, made by the script
beside it in a numpy-1 environment)."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from xaugcol.features.efp.evaluate import efps, measure
from xaugcol.features.efp.graphs import all_graphs, canonical, components, connected_graphs, n_vertices

FIXTURE = Path(__file__).parent / "fixtures" / "energyflow_reference.npz"


def test_graph_counts_are_the_known_ones():
    # connected multigraphs without loops by edge count (OEIS A076864), and energyflow's totals with composites
    assert [len(connected_graphs(d)) for d in range(8)] == [1, 1, 2, 5, 12, 33, 103, 333]
    assert len(all_graphs(5)) == 102 and len(all_graphs(7)) == 1000
    # relabelling a graph gives the same canonical form; a different graph a different one
    square = ((0, 1), (1, 2), (2, 3), (0, 3))
    assert canonical(square) == canonical(((0, 2), (1, 2), (1, 3), (0, 3)))
    assert canonical(square) != canonical(((0, 1), (1, 2), (2, 3), (0, 2)))
    assert components(((0, 1), (2, 3), (2, 3))) == [((0, 1),), ((0, 1), (0, 1))]


def _brute_force(factors, z, theta):
    value = 1.0
    for g in factors:
        n = n_vertices(g)
        total = 0.0
        for idx in itertools.product(range(len(z)), repeat=n):
            term = np.prod([z[i] for i in idx])
            for a, b in g:
                term *= theta[idx[a], idx[b]]
            total += term
        value *= total
    return value


def test_efps_equal_the_definition_on_small_jets():
    rng = np.random.default_rng(3)
    n_jets, n = 3, 4
    pt = rng.exponential(10.0, (n_jets, n)) + 1.0
    eta, phi = rng.normal(0, 0.4, (n_jets, n)), rng.normal(3.0, 0.4, (n_jets, n))
    mask = np.ones((n_jets, n), bool)
    mask[2, 3] = False  # a padded slot adds nothing
    graphs = [g for g in all_graphs(5) if n_vertices(max(g, key=n_vertices)) <= 5]
    for kappa, beta in ((1.0, 1.0), (0.5, 2.0), (-1.0, 0.5)):
        z, theta = measure(pt, eta, np.mod(phi + np.pi, 2 * np.pi) - np.pi, mask, kappa, beta)
        values = efps(graphs, z, theta)
        for j in range(n_jets):
            keep = mask[j]
            want = [_brute_force(g, z[j][keep], theta[j][np.ix_(keep, keep)]) for g in graphs]
            np.testing.assert_allclose(values[j], want, rtol=1e-10, atol=0)


def test_efps_equal_energyflow():
    f = np.load(FIXTURE, allow_pickle=False)
    constituents, counts = f["constituents"], f["counts"]
    mask = np.arange(constituents.shape[1])[None, :] < counts[:, None]
    graphs = all_graphs(5)
    index = {g: i for i, g in enumerate(graphs)}
    order = [index[tuple(components(tuple(tuple(int(v) for v in e) for e in edges if e[0] >= 0)))]
             for edges in f["edges"]]
    assert sorted(order) == list(range(len(graphs)))  # energyflow's graphs are ours, one to one
    for (kappa, beta), reference in zip(f["kappa_beta"], f["values"]):
        z, theta = measure(constituents[..., 0], constituents[..., 1], constituents[..., 2], mask, kappa, beta)
        np.testing.assert_allclose(efps(graphs, z, theta)[:, order], reference, rtol=1e-10, atol=0)


def test_bad_constituents_are_named():
    ones = np.ones((2, 3))
    with pytest.raises(ValueError, match="NaN or inf in 1 jet"):
        measure(np.array([[1.0, np.nan, 1.0], [1.0, 1.0, 1.0]]), ones, ones, ones.astype(bool))
    with pytest.raises(ValueError, match="pT <= 0 in 1 jet"):
        measure(np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]), ones, ones, ones.astype(bool))
    with pytest.raises(ValueError, match="1 jet\\(s\\) without constituents"):
        measure(ones, ones, ones, np.array([[True] * 3, [False] * 3]))


def test_graph_names_round_trip_and_bad_names_are_refused():
    from xaugcol.features.efp.graphs import graph_from_name, graph_name

    graphs = all_graphs(7)
    names = [graph_name(g) for g in graphs]
    assert len(set(names)) == len(graphs)
    assert all(graph_from_name(n) == g for n, g in zip(names, graphs))
    assert names[:5] == ["n1_d0_k0", "n2_d1_k0", "n2_d2_k0", "n3_d2_k0", "n2_d1_k0xn2_d1_k0"]
    with pytest.raises(ValueError, match="no k5"):
        graph_from_name("n2_d1_k5")
    with pytest.raises(ValueError, match="not an EFP graph name: 'n2_d1'"):
        graph_from_name("n2_d1")


def test_graph_pictures_draw_every_edge(tmp_path):
    import matplotlib.pyplot as plt

    from xaugcol.features.efp.graphs import graph_name
    from xaugcol.plotting.efp_graphs import draw_graph, plot_graphs

    graphs = all_graphs(4)
    for g in graphs:
        fig, ax = plt.subplots()
        assert draw_graph(ax, graph_name(g)) == sum(len(f) for f in g)
        assert len(ax.patches) == sum(len(f) for f in g)  # a k-fold edge is k arcs
        plt.close(fig)
    (path,) = plot_graphs([graph_name(g) for g in graphs], tmp_path / "graphs")
    assert path.stat().st_size > 20_000
