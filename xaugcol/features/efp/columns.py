"""EFPs as jet-table columns: which graphs and parameters (``EFPConfig``), the column names, and the evaluation
over the constituents of a chunk's jets (``jet_efps``, called by the jet-table builder).

A column is named ``efp_<graph>_kappa<kappa>_beta<beta>`` with the graph's name (``graphs.graph_name``) and the
numbers written CMS-style, ``p`` for the decimal point and ``m`` for a minus sign: ``efp_n3_d2_k0_kappa1_beta0p5``,
``efp_n1_d0_k0_kappam1_beta1``. ``parse_column`` reads one back.

A set's size is limited (``xaugcol.limits.MAX_EFP_COLUMNS``, ``EFPConfig``) and checked from the graph counts
before any graph is enumerated.

Jets are evaluated in batches of similar multiplicity (sorted by constituent count, each batch padded to its
largest jet), so padding costs little and a batch's (jets, N, N) angles stay within a fixed memory budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import awkward as ak
import numpy as np
from pydantic import model_validator

from xaugcol.config_models import Bool, ConfigModel
from xaugcol.features.efp.evaluate import efps, measure
from xaugcol.features.efp.graphs import MAX_DEGREE, all_graphs, graph_count, graph_from_name, graph_name
from xaugcol.limits import MAX_EFP_COLUMNS, is_integer, number
from xaugcol.quoting import quoted

PREFIX = "efp_"
PRECISIONS = {"float64": np.float64, "float32": np.float32}  # of the contractions (``EFPConfig.precision``)
FLOAT32_MAX_DEGREE = 5  # float32 keeps every column within 1e-6 of float64 up to this degree (not at 6 and 7)
# a batch's largest factor holds at most this many numbers, by its constituent axes: jets x N x N for the graphs
# up to degree 5 (treewidth <= 2; 4 MB in float64: larger batches ran 2-5x slower, out of cache), jets x N x N x N
# from degree 6 (treewidth 3, ``evaluate._sum_out``; 32 MB: smaller batches pay the per-graph steps more often)
BATCH_ELEMENTS = {2: 1 << 19, 3: 1 << 22}


def factor_axes(degree: int) -> int:
    """The constituent axes of the largest factor the graphs up to ``degree`` build.

    That is their treewidth + 1, at most 3 up to degree 7.

    Parameters
    ----------
    degree : int
        The largest number of edges of the graphs.

    Returns
    -------
    int
        2 up to degree 5, 3 beyond.
    """
    return 2 if degree <= 5 else 3


def jets_per_batch(width: int | np.ndarray, degree: int) -> np.ndarray:
    """How many jets of ``width`` constituents one batch takes within ``BATCH_ELEMENTS`` (at least one).

    A batch of degree-7 graphs that sized its (jets, N, N, N) factors by the angles alone ran 2-3x slower (page
    faults of hundreds of MB per step).

    Parameters
    ----------
    width : int or numpy.ndarray
        A number of constituents per jet, or an array of them.
    degree : int
        The largest number of edges of the graphs (``factor_axes``).

    Returns
    -------
    numpy.ndarray
        Of the shape of ``width``, int64: ``BATCH_ELEMENTS`` // width ** axes, at least 1.
    """
    axes = factor_axes(degree)
    return np.maximum(1, BATCH_ELEMENTS[axes] // np.maximum(width, 1).astype(np.int64) ** axes)


def number_text(x: float) -> str:
    """1 -> "1", 0.5 -> "0p5", -1 -> "m1": a number as a column name can carry it, every digit of it.

    The text is the shortest that reads back as the same float, so that two values never share a column.

    Parameters
    ----------
    x : float
        The number.

    Returns
    -------
    str
        Its text, ``m`` for a minus sign and ``p`` for the decimal point.

    Raises
    ------
    ValueError
        For a number whose shortest text has an exponent (``1e-05``, ``1e+16``). Inf and NaN are not refused
        here (``checked_parameters`` refuses them).
    """
    text = repr(float(x)).removesuffix(".0")
    if "e" in text:
        raise ValueError(f"EFP parameter {quoted(x)} cannot be named (write it without an exponent)")
    return text.replace("-", "m").replace(".", "p")


def _text_number(text: str) -> float:
    return float(text.replace("m", "-").replace("p", "."))


def column_name(graph: str, kappa: float, beta: float) -> str:
    """The jet-table column of the EFP of ``graph`` at (kappa, beta): ``efp_<graph>_kappa<kappa>_beta<beta>``.

    Parameters
    ----------
    graph : str
        The graph's name (``graphs.graph_name``).
    kappa : float
        The energy exponent.
    beta : float
        The angular exponent.

    Returns
    -------
    str
        The column name, the numbers written by ``number_text``.

    Raises
    ------
    ValueError
        For a number ``number_text`` cannot write.
    """
    return f"{PREFIX}{graph}_kappa{number_text(kappa)}_beta{number_text(beta)}"


_COLUMN = re.compile(r"efp_(?P<graph>.+)_kappa(?P<kappa>m?[0-9p]+)_beta(?P<beta>m?[0-9p]+)")


def parse_column(name: str) -> tuple[str, float, float]:
    """(graph name, kappa, beta) of an EFP column; refuses other names, saying why.

    Parameters
    ----------
    name : str
        A column name, ``efp_<graph>_kappa<k>_beta<b>``.

    Returns
    -------
    graph : str
        The graph's name (``graphs.graph_from_name`` reads it).
    kappa : float
        The energy exponent.
    beta : float
        The angular exponent.

    Raises
    ------
    ValueError
        Where ``name`` is not an EFP column or its graph part is not a graph's name.
    """
    match = _COLUMN.fullmatch(name)
    if match is None:
        raise ValueError(f"not an EFP column: {quoted(name)} (expected efp_<graph>_kappa<k>_beta<b>)")
    graph_from_name(match["graph"])  # the graph part is a graph's name
    return match["graph"], _text_number(match["kappa"]), _text_number(match["beta"])


def is_efp_column(name: str) -> bool:
    """Whether ``name`` is an EFP column: whether it starts with ``efp_`` (``PREFIX``); the name is not parsed.

    Parameters
    ----------
    name : str
        A column name.

    Returns
    -------
    bool
        True for a name that starts with ``efp_``.
    """
    return name.startswith(PREFIX)


def checked_parameters(degree: object, kappas: object, betas: object) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The kappas and betas of an EFP set as floats, once degree, kappas and betas are checked.

    These are the checks every EFP family shares; a bad value is refused, named.

    Parameters
    ----------
    degree : object
        The degree, as configured: an integer 1 to ``MAX_DEGREE``.
    kappas : object
        The energy exponents, as configured: a non-empty list or tuple of distinct finite numbers that
        ``number_text`` can write.
    betas : object
        The angular exponents, as configured: as ``kappas``, and each > 0.

    Returns
    -------
    kappas : tuple of float
        The energy exponents.
    betas : tuple of float
        The angular exponents.

    Raises
    ------
    ValueError
        For a degree, kappas or betas that break the rules above.
    """
    if not (is_integer(degree) and 1 <= degree <= MAX_DEGREE):
        raise ValueError(f"EFP degree must be an integer 1..{MAX_DEGREE}, got {quoted(degree)}")
    out = []
    for name, values in (("kappas", kappas), ("betas", betas)):
        if not (
            isinstance(values, (list, tuple))
            and values
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values)
        ):
            raise ValueError(f"EFP {name} must be a non-empty list of numbers, got {quoted(values)}")
        if len(set(values)) != len(values):
            raise ValueError(f"EFP {name} lists a value twice: {quoted(list(values))}")
        for v in values:
            number_text(v)
        out.append(tuple(float(v) for v in values))
    if any(b <= 0 for b in out[1]):
        raise ValueError(f"EFP betas must be > 0 (theta^beta of coinciding constituents), got {quoted(out[1])}")
    return out[0], out[1]


def check_column_count(n_columns: int, max_columns: object, what: str) -> None:
    """Refuse a set of more than ``max_columns`` columns (``MAX_EFP_COLUMNS`` unless the section raises it).

    Parameters
    ----------
    n_columns : int
        The number of columns the set has.
    max_columns : object
        The limit, as configured: a positive integer.
    what : str
        Names the set in the messages (``EFP``, ...).

    Raises
    ------
    ValueError
        For a ``max_columns`` that is not a positive integer, or ``n_columns`` > ``max_columns``.
    """
    if not (is_integer(max_columns) and max_columns >= 1):
        raise ValueError(f"{what} max_columns must be a positive integer, got {quoted(max_columns)}")
    if n_columns > max_columns:
        raise ValueError(
            f"{what} set of {number(n_columns)} columns, more than max_columns = {number(max_columns)} "
            f"(each column costs time in every jet: about 35 jets/s per core at 1 215 columns): lower "
            f"the degree or the number of kappas and betas, or raise the limit with max_columns: "
            f"{n_columns}"
        )


class EFPConfig(ConfigModel):
    """Every multigraph up to ``degree`` edges (only the connected ones with ``connected_only``), at every
    (kappa, beta) given. The one-vertex graph (sum of z^kappa) is left out at kappa = 1, where it is 1 in every
    jet; at other kappa it is an observable (kappa = 0: the constituent count).

    A set of more than ``max_columns`` columns (default ``xaugcol.limits.MAX_EFP_COLUMNS`` = 2 000) is refused
    before any graph is enumerated (``n_columns`` counts them from tables): the shipped configurations ask for
    1 215 (degree 5 at 4 kappas x 3 betas), which cost about 35 jets/s per core; degree 7 at one (kappa, beta) has
    999, degree 8 3 388, and a degree-8 set at 30 kappas x 30 betas would be 3 million. ``max_columns: N`` in the
    ``efp`` section lifts the limit to N (it is not part of the processing fingerprint at its default).

    ``precision``: the contractions in ``float64`` (default) or, up to degree 5, ``float32``: about 2x faster, at
    most 7.4e-7 relative from float64 (measured on jets of 40 and 80 constituents; ``tests/test_efp.py`` holds it
    below 1e-6 at the shipped kappas and betas). At degree 7 float32 reached 1.02e-6, so it is not offered there.
    The columns are float64 either way."""

    degree: int = 5  # edges: every multigraph up to this many
    kappas: tuple[float, ...] = (1.0,)  # energy exponents
    betas: tuple[float, ...] = (1.0,)  # angular exponents (> 0)
    connected_only: Bool = False  # only the connected graphs (the prime EFPs)
    max_columns: int = MAX_EFP_COLUMNS  # a larger set is refused before any graph is enumerated
    precision: str = "float64"  # of the contractions: float64, or float32 up to degree 5

    @model_validator(mode="before")
    @classmethod
    def _parameters(cls, data):
        data = cls.check_known(data)
        if isinstance(data, cls):
            return data
        fields = cls.model_fields
        check_column_count(0, data.get("max_columns", MAX_EFP_COLUMNS), "EFP")  # an integer, as given
        kappas, betas = checked_parameters(
            data.get("degree", fields["degree"].default),
            data.get("kappas", fields["kappas"].default),
            data.get("betas", fields["betas"].default),
        )
        return {**data, "kappas": kappas, "betas": betas}

    @model_validator(mode="after")
    def _size(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"EFP precision must be one of {', '.join(PRECISIONS)}, got {quoted(self.precision)}")
        if self.precision == "float32" and self.degree > FLOAT32_MAX_DEGREE:
            raise ValueError(
                f"EFP precision float32 is offered up to degree {FLOAT32_MAX_DEGREE}: at degree 6 and 7 "
                f"it differs from float64 by more than 1e-6 relative (1.02e-6 measured); got degree "
                f"{self.degree}"
            )
        check_column_count(self.n_columns(), self.max_columns, "EFP")
        return self

    def n_columns(self) -> int:
        """``len(self.columns())``, counted without enumerating a graph: every graph but the one-vertex one at each
        (kappa, beta), and the one-vertex graph once per kappa other than 1.

        Returns
        -------
        int
            The number of EFP columns.
        """
        per_pair = graph_count(self.degree, self.connected_only) - 1
        return len(self.kappas) * len(self.betas) * per_pair + sum(k != 1.0 for k in self.kappas)

    def graphs(self, kappa: float, beta: float) -> list[tuple]:
        """The graphs evaluated at (kappa, beta). The one-vertex graph, sum z_i^kappa, has no angle: it is the
        same at every beta and comes once, at the first; at kappa = 1 it is 1 and never comes.

        Parameters
        ----------
        kappa : float
            The energy exponent.
        beta : float
            The angular exponent.

        Returns
        -------
        list of tuple of Graph
            The multigraphs, each a tuple of its connected factors (``graphs.all_graphs``), each factor a tuple of
            edges.
        """
        graphs = [g for g in all_graphs(self.degree) if not (self.connected_only and len(g) > 1)]
        drop_edgeless = kappa == 1.0 or beta != self.betas[0]
        return [g for g in graphs if not (drop_edgeless and g == ((),))]

    def columns(self) -> list[str]:
        """The names of the EFP columns, in the order they are written (per beta, per kappa, per graph).

        Returns
        -------
        list of str
            ``n_columns()`` column names.
        """
        return [
            column_name(graph_name(g), kappa, beta)
            for beta in self.betas
            for kappa in self.kappas
            for g in self.graphs(kappa, beta)
        ]


def jet_efps(parts: ak.Array, config: EFPConfig) -> dict[str, np.ndarray]:
    """{column: (jets,) float64} for the jets of ``parts``.

    Parameters
    ----------
    parts : awkward.Array
        Shape (jets, constituents), jagged records with pt (GeV), eta, phi (radians); every jet with at least one
        constituent of pT > 0, as the jet-table builder keeps them. Constituents of pT 0 are left out.
    config : EFPConfig
        The graphs, exponents and precision.

    Returns
    -------
    dict of str to numpy.ndarray
        One array of shape (jets,), float64, per column of ``config.columns()``, in that order.
    """
    out = {name: np.empty(len(parts)) for name in config.columns()}
    for rows, width in batches(ak.to_numpy(ak.num(parts, axis=1)), config.degree):
        for name, values in _batch_efps(parts[rows], width, config).items():
            out[name][rows] = values
    return out


def batches(counts: np.ndarray, degree: int) -> Iterator[tuple[np.ndarray, int]]:
    """Batches of the jets (or leptons) with ``counts`` constituents for the EFPs up to ``degree``.

    The jets come in order of their counts, each batch as long as its last (largest) member keeps the batch's
    largest factor within ``BATCH_ELEMENTS`` (``jets_per_batch``).

    Parameters
    ----------
    counts : numpy.ndarray
        Shape (jets,): each jet's number of constituents.
    degree : int
        The largest number of edges of the graphs.

    Yields
    ------
    rows : numpy.ndarray
        The positions of the batch's jets in ``counts``, by increasing count.
    width : int
        The batch's largest count, to which its jets are padded.
    """
    counts = np.asarray(counts)
    order = np.argsort(counts, kind="stable")
    caps = jets_per_batch(counts[order], degree)  # of a batch that ends on each jet: falls along the order
    start = 0
    while start < len(counts):
        window = caps[start : start + int(caps[start])]
        fits = np.arange(1, len(window) + 1) <= window
        size = len(window) if fits.all() else max(1, int(fits.argmin()))
        rows = order[start : start + size]
        yield rows, int(counts[rows[-1]])
        start += size


def _padded(values, width: int) -> np.ndarray:
    return ak.to_numpy(ak.fill_none(ak.pad_none(values, width, axis=1, clip=True), 0.0)).astype(np.float64)


def _batch_efps(parts, width: int, config: EFPConfig) -> dict[str, np.ndarray]:
    pt, eta, phi = (_padded(parts[f], width) for f in ("pt", "eta", "phi"))
    # a constituent without energy (a PUPPI weight of 0) adds nothing at kappa > 0 and is left out at every kappa
    mask = pt > 0
    z1, dr = measure(pt, eta, phi, mask)  # kappa = beta = 1; the other exponents are powers of these
    dtype = PRECISIONS[config.precision]
    out = {}
    for beta in config.betas:
        theta = (dr if beta == 1.0 else dr**beta).astype(dtype, copy=False)
        powers: dict = {}  # theta^m, shared by the kappas
        for kappa in config.kappas:
            z = z1 if kappa == 1.0 else np.where(mask, np.where(mask, z1, 1.0) ** kappa, 0.0)
            z = z.astype(dtype, copy=False)
            graphs = config.graphs(kappa, beta)
            values = efps(graphs, z, theta, powers)
            for k, g in enumerate(graphs):
                out[column_name(graph_name(g), kappa, beta)] = values[:, k]
    return out
