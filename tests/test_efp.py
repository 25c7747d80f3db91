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


def _toy_parts(n_jets, seed, max_n=30):
    """An awkward jets x constituents array of random multiplicities (1..max_n), as the jet-table builder holds."""
    import awkward as ak

    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_n + 1, n_jets)
    total = int(counts.sum())
    flat = {"pt": rng.exponential(10.0, total) + 0.5, "eta": rng.normal(0, 0.3, total),
            "phi": rng.normal(3.0, 0.3, total)}  # around phi = pi: angles across the wrap
    return ak.unflatten(ak.zip(flat), counts), counts


def test_jet_table_columns_equal_one_padded_evaluation(monkeypatch):
    """Batches sorted by multiplicity (forced small here) give every jet the EFPs of one evaluation over all jets
    padded together, in the jets' own order, under the documented column names."""
    import awkward as ak

    from xaugcol.features.efp import columns
    from xaugcol.features.efp.graphs import graph_name

    parts, counts = _toy_parts(200, 3)
    config = columns.EFPConfig(degree=3, kappas=(0.5, 1, -1), betas=(0.5, 2))
    monkeypatch.setattr(columns, "BATCH_ELEMENTS", {2: 2000, 3: 2000})  # many batches of a few jets each
    got = columns.jet_efps(parts, config)
    assert list(got) == config.columns() and len(set(got)) == len(got)
    width = int(counts.max())
    pad = lambda f: ak.to_numpy(ak.fill_none(ak.pad_none(parts[f], width), 0.0))  # noqa: E731
    mask = np.arange(width)[None, :] < counts[:, None]
    for kappa in config.kappas:
        for beta in config.betas:
            z, theta = measure(pad("pt"), pad("eta"), pad("phi"), mask, kappa, beta)
            graphs = config.graphs(kappa, beta)
            want = efps(graphs, z, theta)
            for k, g in enumerate(graphs):
                name = columns.column_name(graph_name(g), kappa, beta)
                np.testing.assert_allclose(got[name], want[:, k], rtol=1e-12, atol=0, err_msg=name)
    # the one-vertex graph: left out at kappa = 1 (it is 1), the constituent count at kappa = 0
    assert "efp_n1_d0_k0_kappa1_beta0p5" not in got and "efp_n1_d0_k0_kappa0p5_beta0p5" in got
    assert "efp_n1_d0_k0_kappa0p5_beta2" not in got  # no angle: once, at the first beta
    zero = columns.jet_efps(parts, columns.EFPConfig(degree=1, kappas=(0,), betas=(1,)))
    np.testing.assert_array_equal(zero["efp_n1_d0_k0_kappa0_beta1"], counts)


def test_float32_contractions_stay_within_1e_6_of_float64():
    """``precision: float32`` (about 2x faster): every column within 1e-6 relative of the float64 one, on jets of
    up to 80 constituents at the shipped configurations' degree, kappas and betas; refused above degree 5, where
    the difference reached 1.02e-6."""
    from xaugcol.features.efp import columns

    degree, kappas, betas = 5, (0, 0.5, 1, 2), (0.5, 1, 2)
    parts, _ = _toy_parts(300, 11, max_n=80)
    exact = columns.jet_efps(parts, columns.EFPConfig(degree=degree, kappas=kappas, betas=betas))
    single = columns.jet_efps(parts, columns.EFPConfig(degree=degree, kappas=kappas, betas=betas,
                                                       precision="float32"))
    assert single.keys() == exact.keys()
    worst = 0.0
    for name, want in exact.items():
        got = single[name]
        assert got.dtype == np.float64 and np.array_equal(got == 0, want == 0), name
        nonzero = want != 0
        worst = max(worst, float(np.max(np.abs(got[nonzero] / want[nonzero] - 1), initial=0.0)))
    assert 0 < worst < 1e-6  # float32 differs (it is not float64 in disguise), by less than 1e-6
    with pytest.raises(ValueError, match="precision must be one of float64, float32"):
        columns.EFPConfig(precision="float16")
    with pytest.raises(ValueError, match="float32 is offered up to degree 5"):
        columns.EFPConfig(degree=6, precision="float32")


def test_efp_column_names_read_back_and_bad_settings_are_refused():
    from xaugcol.features.efp.columns import EFPConfig, column_name, parse_column

    assert column_name("n3_d2_k0", 1, 0.5) == "efp_n3_d2_k0_kappa1_beta0p5"
    assert parse_column("efp_n2_d1_k0xn3_d2_k0_kappam1_beta2") == ("n2_d1_k0xn3_d2_k0", -1.0, 2.0)
    for name in ("efp_n3_d2_k0", "tau21", "efp_n9_d1_k0_kappa1_beta1"):
        with pytest.raises(ValueError, match="EFP"):
            parse_column(name)
    for bad, match in (({"degree": 0}, "degree"), ({"betas": [0]}, "betas must be > 0"),
                       ({"kappas": [1, 1]}, "twice"), ({"kappas": []}, "non-empty"), ({"power": 2}, "unknown")):
        with pytest.raises(ValueError, match=match):
            EFPConfig.model_validate(bad)
    assert len(EFPConfig(degree=5).columns()) == 101  # d <= 5 without the one-vertex graph
    # every digit is named: close values never share a column, and each name reads back as its value
    close = EFPConfig(degree=1, kappas=(0.1234567, 0.1234568), betas=(1,)).columns()
    assert len(set(close)) == len(close) == 4  # two graphs (one vertex, one edge) at each kappa
    assert sorted({parse_column(c)[1] for c in close}) == [0.1234567, 0.1234568]
    # the one-vertex graph has no angle: one column per kappa, at the first beta, not one per beta
    counts = EFPConfig(degree=1, kappas=(0,), betas=(2, 0.5)).columns()
    assert counts == ["efp_n1_d0_k0_kappa0_beta2", "efp_n2_d1_k0_kappa0_beta2", "efp_n2_d1_k0_kappa0_beta0p5"]
    assert len(EFPConfig(degree=5, connected_only=True, kappas=(1, 2)).columns()) == 53 + 54


def test_cms_jets_efp_columns_know_the_jet_mass(cms_samples, tmp_path):
    """On CMS's PFNano jets the processor writes the EFP columns, and they are physics: with beta = 2 the one-edge
    EFP is 2 m^2 / pT^2 of massless constituents at small angles (CMS's AK8 jets: within a few per cent of the
    recomputed jet mass), kappa = 0 counts the constituents; ProcessingConfig records EFPs only where asked."""
    import awkward as ak

    from xaugcol.features.efp.columns import EFPConfig
    from xaugcol.processing.jet_table import ProcessingConfig
    from xaugcol.processing.table_io import read_tables
    from xaugcol.coffea_runs import run_processing

    config = ProcessingConfig(efp=EFPConfig(degree=2, kappas=(0, 1), betas=(1, 2)))
    assert "efp" not in ProcessingConfig().as_dict()  # the fingerprints of studies without EFPs stay as they were
    assert ProcessingConfig.from_dict(config.as_dict()) == config
    fileset = {"cms": {"files": {str(cms_samples / "pfnano.root"): "Events"}, "metadata": {"label": 0}}}
    run_processing(fileset, tmp_path / "out", config=config)
    t = read_tables(tmp_path / "out" / "jets" / "cms")
    assert set(config.efp.columns()) <= set(t.fields)
    col = lambda name: ak.to_numpy(t[name]).astype(np.float64)  # noqa: E731
    ratio = col("efp_n2_d1_k0_kappa1_beta2") / (2 * (col("mass") / col("pt")) ** 2)
    assert len(ratio) == 24 and np.median(np.abs(ratio - 1)) < 0.05, ratio
    assert np.all(col("efp_n1_d0_k0_kappa0_beta1") <= col("n_constituents"))
    assert np.median(col("efp_n1_d0_k0_kappa0_beta1") / col("n_constituents")) > 0.9
