"""Events of a lepton file (``xaugcol.sources.pythia_leptons``: ``Lepton``, ``LeptonCell``, ``LeptonPFCands``,
``PFCands``) -> the lepton table: one row per lepton, in the jet table's contract (identity, kinematics, flags),
with the lepton observables of the lepton studies of Collado et al. (arXiv:2102.02278, arXiv:2011.01984). The jet-table
builder hands a file with a ``Lepton`` collection here, so the processor, training and explaining read lepton tables as
they read jet tables.

Columns (E_T of cells, both layers unless named; every sum divided by the lepton p_T):
* identity as the jet table, ``fatjet_index`` holding the lepton's index in its collection; ``gen_part_flav``
  and ``lepton_pdg_id`` from the file;
* ``pt, eta, phi`` of the lepton; ``mass``: the jet mass, of the lepton and the cells within Delta R < 0.4
  (massless, at their centres); ``n_constituents``: those cells; ``pileup_npu``: the event's overlaid pile-up
  interactions (``Pileup_nPU``; 0 when the file has none);
* cells are measured from the lepton's impact on the calorimeter (``Lepton_caloEta, caloPhi``, where a file has
  them: with a field the lepton bends before it), tracks from its direction;
* ``iso_<R>``: the isolation cones, sum E_T (Delta R < R) / p_T at the eight radii 0.05 ... 0.40; ``rho``: the
  event's pile-up density ``fixedGridRhoFastjetAll`` (0 when the file has none);
  ``pt_sum``: the scalar sum of every cell of the window / p_T; ``track_iso``: charged particles' p_T within 0.4;
* the electron shower shapes of arXiv:2011.01984 on the EM image (centred on the lepton's cell, windows in cells
  eta x phi): ``r_had`` = HAD / EM E_T over the window; ``w_eta2``, the E_T-weighted eta width in 3 x 5;
  ``r_phi`` = E(3 x 3) / E(3 x 7); ``r_eta`` = E(3 x 7) / E(7 x 7); ``sigma_eta_eta``, the log-weighted
  width in 5 x 5 (cells, CMS's sigma_ietaieta weights); ``e_ecal_0p3``, ``e_ecal_0p4``: EM E_T within 0.3, 0.4 / p_T;
* ``calo``: the (2, 32, 32) image, EM and HAD (each HAD cell spread evenly over its 4 x 4 EM cells), E_T / p_T;
* ``cells``: the ``n_cells`` hardest cells (z = E_T / p_T, Delta eta, Delta phi, HAD flag, Delta R) and their
  mask, for the energy- and particle-flow networks;
* ``efp_*`` of the cells (``processing.efp``; z_i = E_T,i / p_T of the lepton, so an empty cone gives 0 and the
  EFPs carry the isolation's scale) and ``efpl_*``, the lepton-anchored EFPs (``features.efp.anchored``).
A lepton whose values are not finite is skipped and counted (``nonfinite_input``).
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from pydantic import ValidationInfo, field_validator, model_validator

from xaugcol.config_models import ConfigModel, PositiveInt, integer_in
from xaugcol.features.cells import cell_list, hardest_first
from xaugcol.features.efp.anchored import PREFIX as ANCHORED_PREFIX
from xaugcol.features.efp.anchored import anchored_count, anchored_efps, anchored_graphs
from xaugcol.features.efp.columns import (
    EFPConfig,
    batches,
    check_column_count,
    checked_parameters,
    column_name,
    number_text,
)
from xaugcol.features.efp.evaluate import Key, efps
from xaugcol.features.efp.graphs import graph_name
from xaugcol.jets.constituents import MissingBranchError
from xaugcol.limits import MAX_EFP_COLUMNS, MAX_IMAGE_PIXELS, MAX_LIST_LENGTH, check_size
from xaugcol.quoting import quoted
from xaugcol.sources.calorimeter import EM, CalorimeterModel

CONE_RADII = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
SHOWER_SHAPES = ("r_had", "w_eta2", "r_phi", "r_eta", "sigma_eta_eta", "e_ecal_0p3", "e_ecal_0p4")
JET_RADIUS = 0.4
CELL_BRANCHES = ("leptonIdx", "layer", "ieta", "iphi", "eta", "phi", "et")


def cone_column(radius: float) -> str:
    """The name of the isolation column of the cone of ``radius`` (``iso_0p3``).

    Parameters
    ----------
    radius : float
        The cone's radius in Delta R.

    Returns
    -------
    str
        ``iso_<radius as text>``, the decimal point written ``p``.
    """
    return f"iso_{number_text(radius)}"


class AnchoredEFPConfig(ConfigModel):
    """Lepton-anchored EFPs: every connected graph up to ``degree`` edges, each vertex orbit anchored. Refused above
    ``max_columns`` columns (default ``xaugcol.limits.MAX_EFP_COLUMNS`` = 2 000, as the ordinary EFPs; degree 6 at
    one (kappa, beta) has 537, degree 7 2 055, degree 8 8 263), counted before any graph is enumerated."""

    degree: int = 3  # edges: every connected graph up to this many
    kappas: tuple[float, ...] = (1.0,)  # energy exponents
    betas: tuple[float, ...] = (1.0,)  # angular exponents (> 0)
    max_columns: int = MAX_EFP_COLUMNS  # a larger set is refused before any graph is enumerated

    @model_validator(mode="before")
    @classmethod
    def _parameters(cls, data: Any) -> Any:
        data = cls.check_known(data)
        if isinstance(data, cls):
            return data
        fields = cls.model_fields
        check_column_count(0, data.get("max_columns", MAX_EFP_COLUMNS), "anchored EFP")  # an integer, as given
        kappas, betas = checked_parameters(  # the ordinary EFPs' checks
            data.get("degree", fields["degree"].default),
            data.get("kappas", fields["kappas"].default),
            data.get("betas", fields["betas"].default),
        )
        return {**data, "kappas": kappas, "betas": betas}

    @model_validator(mode="after")
    def _size(self) -> AnchoredEFPConfig:
        check_column_count(self.n_columns(), self.max_columns, "anchored EFP")
        return self

    def n_columns(self) -> int:
        """``len(self.columns())``, counted without enumerating a graph.

        Returns
        -------
        int
            The number of anchored EFP columns: kappas x betas x anchored graphs up to ``degree`` edges.
        """
        return len(self.kappas) * len(self.betas) * anchored_count(self.degree)

    def columns(self) -> list[str]:
        """The names of the anchored EFP columns, per beta, kappa and anchored graph.

        Returns
        -------
        list of str
            The column names (``anchored_column``), beta outermost, then kappa, then graph.
        """
        return [
            anchored_column(name, k, b)
            for b in self.betas
            for k in self.kappas
            for _, _, name in anchored_graphs(self.degree)
        ]


def anchored_column(graph: str, kappa: float, beta: float) -> str:
    """The column name of the anchored graph ``graph`` at (kappa, beta).

    Parameters
    ----------
    graph : str
        The anchored graph's name (``anchored.anchored_graphs``' names).
    kappa : float
        The energy exponent.
    beta : float
        The angular exponent.

    Returns
    -------
    str
        The ordinary EFP column name of ``graph`` at (kappa, beta), its ``efp_`` prefix replaced by the anchored
        one (``efpl_``).
    """
    return ANCHORED_PREFIX + column_name(graph, kappa, beta).removeprefix("efp_")


class LeptonConfig(ConfigModel):
    """The lepton table's settings; the calorimeter geometry must be the generator's (``CalorimeterModel``).

    Sizes are limited (``xaugcol.limits``): ``n_cells`` 1..2 000 (``MAX_LIST_LENGTH``), the ``window`` at most
    256 EM cells per side (``MAX_IMAGE_PIXELS``, as a jet image), and a HAD cell (``had_factor`` EM cells per
    side, each spread over f x f image cells) at most the window."""

    n_cells: PositiveInt = 64  # calorimeter cells in the cell list, 1..2 000
    cone_radii: tuple[float, ...] = CONE_RADII  # isolation cones, distinct, in (0, 0.4]
    window: PositiveInt = 32  # EM cells per side of the calorimeter image, at most 256
    em_phi_cells: PositiveInt = 256  # EM cells around the circle in phi (the generator's)
    had_factor: PositiveInt = 4  # EM cells per HAD cell side, at most the window
    anchored_efp: AnchoredEFPConfig | None = None  # lepton-anchored EFP columns

    @field_validator("n_cells", "window", mode="before")
    @classmethod
    def _sizes_as_given(cls, value: Any, info: ValidationInfo) -> int:
        return integer_in(value, 1, MAX_LIST_LENGTH if info.field_name == "n_cells" else MAX_IMAGE_PIXELS)

    @field_validator("cone_radii", mode="before")
    @classmethod
    def _radii(cls, radii: Any) -> tuple[float, ...]:
        numbers = all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in radii or ())
        if not (isinstance(radii, (list, tuple)) and numbers):
            raise ValueError(f"lepton cone_radii must be a list of radii, got {quoted(radii)}")
        radii = tuple(float(r) for r in radii)
        if not radii or any(not 0 < r <= JET_RADIUS for r in radii) or len(set(radii)) != len(radii):
            raise ValueError(f"lepton cone_radii must be distinct radii in (0, {JET_RADIUS}], got {quoted(radii)}")
        return radii

    @model_validator(mode="after")
    def _sizes(self) -> LeptonConfig:
        check_size(self.had_factor, "lepton had_factor", self.window)
        CalorimeterModel(window=self.window, em_phi_cells=self.em_phi_cells, had_factor=self.had_factor)
        return self

    def as_dict(self) -> dict[str, Any]:
        """The settings as a processing report records them.

        Returns
        -------
        dict of str to Any
            The fields (``model_dump``).
        """
        return self.model_dump()

    def scalar_columns(self) -> list[str]:
        """The lepton table's scalar columns these settings add.

        Returns
        -------
        list of str
            The isolation cones (one per radius of ``cone_radii``), ``rho``, ``pt_sum``, ``track_iso`` and the
            shower shapes (``SHOWER_SHAPES``).
        """
        return [cone_column(r) for r in self.cone_radii] + ["rho", "pt_sum", "track_iso", *SHOWER_SHAPES]


def is_lepton_file(events: ak.Array) -> bool:
    """Whether ``events`` come from a lepton file (``sources.pythia_leptons``): leptons, no AK8 jets.

    Parameters
    ----------
    events : awkward.Array
        A chunk's events (coffea's NanoEvents).

    Returns
    -------
    bool
        True when they have a ``Lepton`` collection and no ``FatJet`` one.
    """
    return "Lepton" in events.fields and "FatJet" not in events.fields


def _delta_phi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.mod(a - b + np.pi, 2 * np.pi) - np.pi


def build_lepton_table(
    events: ak.Array, dataset: str, label: int, config: LeptonConfig, efp: EFPConfig | None = None
) -> tuple[dict[str, np.ndarray], dict[str, int], list[str]]:
    """The lepton table of a chunk of events, one row per lepton.

    Parameters
    ----------
    events : ak.Array
        The chunk's events (coffea's NanoEvents) of a lepton file.
    dataset : str
        The dataset's name, a column of the table.
    label : int
        The dataset's class.
    config : LeptonConfig
        The lepton table's settings.
    efp : EFPConfig, optional
        EFP columns of each lepton's cells.

    Returns
    -------
    (dict, dict, list of str)
        (columns, counts, unavailable) as ``jet_table.build_jet_table``.
    """
    for name in ("pt", "eta", "phi"):
        if name not in events.Lepton.fields:
            raise MissingBranchError(f"Lepton_{name}", "the lepton table")
    if "LeptonCell" not in events.fields:
        raise MissingBranchError("nLeptonCell", "the lepton table's calorimeter cells")
    for name in CELL_BRANCHES:
        if name not in events.LeptonCell.fields:
            raise MissingBranchError(f"LeptonCell_{name}", "the lepton table's calorimeter cells")
    lep = events.Lepton
    n_lep = ak.to_numpy(ak.num(lep.pt, axis=1)).astype(np.int64)
    n = int(n_lep.sum())
    cols: dict[str, np.ndarray] = {}
    for name in ("run", "luminosityBlock", "event"):
        if name not in events.fields:
            raise MissingBranchError(name, "the lepton table's event identity")
        cols[name] = np.repeat(ak.to_numpy(events[name]).astype(np.int64), n_lep)
    weight = ak.to_numpy(events.genWeight).astype(np.float64) if "genWeight" in events.fields else np.ones(len(events))
    cols["weight"] = np.repeat(weight, n_lep)
    cols["fatjet_index"] = ak.to_numpy(ak.flatten(ak.local_index(lep.pt, axis=1))).astype(np.int32)
    pt, eta, phi = (ak.to_numpy(ak.flatten(lep[f])).astype(np.float64) for f in ("pt", "eta", "phi"))
    for source, column in (("genPartFlav", "gen_part_flav"), ("pdgId", "lepton_pdg_id")):
        if source in lep.fields:
            cols[column] = ak.to_numpy(ak.flatten(lep[source])).astype(np.int32)
    lepton_offset = np.cumsum(n_lep) - n_lep

    cells = events.LeptonCell
    per_event = ak.to_numpy(ak.num(cells.et, axis=1))
    c = {k: ak.to_numpy(ak.flatten(cells[k])) for k in CELL_BRANCHES}
    owner = np.repeat(lepton_offset, per_event) + c["leptonIdx"].astype(np.int64)  # row of each cell's lepton
    bad_link = (c["leptonIdx"] < 0) | (c["leptonIdx"] >= np.repeat(n_lep, per_event))
    if bad_link.any():
        raise ValueError(f"LeptonCell_leptonIdx: {int(bad_link.sum())} cell(s) point to no lepton of their event")
    finite = np.isfinite(pt) & np.isfinite(eta) & np.isfinite(phi) & (pt > 0)
    cell_finite = np.isfinite(c["et"]) & np.isfinite(c["eta"]) & np.isfinite(c["phi"])
    finite &= np.bincount(owner[~cell_finite], minlength=n) == 0
    counts = {
        "jets_seen": n,
        "skipped_no_constituents": 0,
        "skipped_nonfinite_input": int((~finite).sum()),
        "skipped_below_min_pt": 0,
    }

    et = np.where(cell_finite, c["et"], 0.0)
    at_eta, at_phi = eta, phi  # where the cells are measured from
    if "caloEta" in lep.fields and "caloPhi" in lep.fields:
        at_eta, at_phi = (ak.to_numpy(ak.flatten(lep[f])).astype(np.float64) for f in ("caloEta", "caloPhi"))
        finite &= np.isfinite(at_eta) & np.isfinite(at_phi)
        counts["skipped_nonfinite_input"] = int((~finite).sum())
    deta = c["eta"] - at_eta[owner]
    dphi = _delta_phi(c["phi"], at_phi[owner])
    dr = np.hypot(deta, dphi)
    z = et / pt[owner]
    em = c["layer"] == EM

    def per_lepton(weights: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        where = np.ones(len(owner), dtype=bool) if where is None else where
        return np.bincount(owner[where], weights=weights[where], minlength=n)

    rho = (
        ak.to_numpy(events.fixedGridRhoFastjetAll).astype(np.float64)
        if "fixedGridRhoFastjetAll" in events.fields
        else np.zeros(len(events))
    )
    cols["rho"] = np.repeat(rho, n_lep)
    for r in config.cone_radii:
        cols[cone_column(r)] = per_lepton(z, dr < r)
    cols["pt_sum"] = per_lepton(z)
    in_jet = dr < JET_RADIUS
    cols["n_constituents"] = per_lepton(np.ones(len(owner)), in_jet)
    cols.update(pt=pt, eta=eta, phi=phi, mass=_jet_mass(pt, at_eta, at_phi, et, c["eta"], c["phi"], owner, in_jet, n))
    n_pu = (
        ak.to_numpy(events.Pileup.nPU)
        if "Pileup" in events.fields and "nPU" in events.Pileup.fields
        else np.zeros(len(events))
    )
    cols["pileup_npu"] = np.repeat(n_pu.astype(np.int32), n_lep)
    cols["track_iso"] = _track_isolation(events, pt, eta, phi, lepton_offset, n)

    image = calo_image(c, owner, pt, events, config, n)
    cols["calo"] = image.astype(np.float32)
    cols.update(shower_shapes(image, c, owner, z, dr, em, n))
    cells_list, cells_mask = cell_list(z, deta, dphi, ~em, dr, owner, n, config.n_cells)
    cols["cells"], cols["cells_mask"] = cells_list, cells_mask
    if efp is not None or config.anchored_efp is not None:
        cols.update(cell_efps(z, deta, dphi, owner, n, efp, config.anchored_efp))

    cols["few_constituents"] = cols["n_constituents"] < 2
    cols["has_particles"] = np.ones(n, dtype=bool)
    cols["in_msd_window"] = np.zeros(n, dtype=bool)  # no softdrop mass: a lepton is never in the jets' window
    cols["dataset"] = np.full(n, dataset, dtype=object)
    cols["label"] = np.full(n, label, dtype=np.int32)
    numeric = [k for k, v in cols.items() if v.dtype.kind == "f" and v.ndim == 1]
    bad = finite & ~np.all([np.isfinite(cols[k]) for k in numeric], axis=0)
    if bad.any():  # a value became NaN although the inputs were finite: named, never written
        names = [k for k in numeric if not np.isfinite(cols[k][finite]).all()]
        raise ValueError(f"lepton table: non-finite {names} from finite inputs ({int(bad.sum())} lepton(s))")
    table = cols if finite.all() else {k: v[finite] for k, v in cols.items()}
    counts["jets_kept"] = int(finite.sum())
    return table, counts, []


def _jet_mass(
    pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    et: np.ndarray,
    c_eta: np.ndarray,
    c_phi: np.ndarray,
    owner: np.ndarray,
    in_jet: np.ndarray,
    n: int,
) -> np.ndarray:
    """Mass of the lepton (massless) plus the cells within the jet radius (massless, at their centres)."""

    def components(
        p: np.ndarray, h: np.ndarray, f: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return p * np.cos(f), p * np.sin(f), p * np.sinh(h), p * np.cosh(h)

    lx, ly, lz, le = components(pt, eta, phi)
    cx, cy, cz, ce = components(np.where(in_jet, et, 0.0), c_eta, c_phi)
    sums = [np.bincount(owner, weights=w, minlength=n) + own for w, own in ((cx, lx), (cy, ly), (cz, lz), (ce, le))]
    m2 = sums[3] ** 2 - sums[0] ** 2 - sums[1] ** 2 - sums[2] ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def _track_isolation(
    events: ak.Array, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, lepton_offset: np.ndarray, n: int
) -> np.ndarray:
    """Per lepton, the pT of the charged candidates linked to it within the jet radius over its own pT (NaN for a
    file without the links)."""
    if "LeptonPFCands" not in events.fields or "PFCands" not in events.fields:
        return np.full(n, np.nan)
    link, pf = events.LeptonPFCands, events.PFCands
    per_event = ak.to_numpy(ak.num(link.leptonIdx, axis=1))
    owner = np.repeat(lepton_offset, per_event) + ak.to_numpy(ak.flatten(link.leptonIdx)).astype(np.int64)
    cand = pf[link.pFCandsIdx]
    c_pt, c_eta, c_phi, charge = (
        ak.to_numpy(ak.flatten(cand[f])).astype(np.float64) for f in ("pt", "eta", "phi", "charge")
    )
    dr = np.hypot(c_eta - eta[owner], _delta_phi(c_phi, phi[owner]))
    use = (charge != 0) & (dr < JET_RADIUS)
    return np.bincount(owner[use], weights=c_pt[use], minlength=n) / pt


def calo_image(
    c: dict[str, np.ndarray], owner: np.ndarray, pt: np.ndarray, events: ak.Array, config: LeptonConfig, n: int
) -> np.ndarray:
    """The calorimeter image of every lepton: E_T / p_T per EM cell, the lepton's EM cell at [window // 2] in
    both axes; each HAD cell's E_T spread evenly over the EM cells it covers.

    Parameters
    ----------
    c : dict of np.ndarray
        The cells' branches (``CELL_BRANCHES``), flattened over the events.
    owner : np.ndarray
        Each cell's lepton (its row in the table).
    pt : np.ndarray
        The leptons' pT.
    events : ak.Array
        The chunk's events (for the lepton's own cell).
    config : LeptonConfig
        The image's geometry.
    n : int
        The number of leptons.

    Returns
    -------
    np.ndarray
        (leptons, 2, window, window): the EM and HAD layers.
    """
    w, f, n_phi = config.window, config.had_factor, config.em_phi_cells
    lep = events.Lepton
    if "cellIEta" not in lep.fields or "cellIPhi" not in lep.fields:
        raise MissingBranchError("Lepton_cellIEta", "the calorimeter image (the lepton's EM cell)")
    l_ieta = ak.to_numpy(ak.flatten(lep.cellIEta)).astype(np.int64)
    l_iphi = ak.to_numpy(ak.flatten(lep.cellIPhi)).astype(np.int64)
    image = np.zeros((n, 2, w, w))
    em = c["layer"] == EM
    et = np.where(np.isfinite(c["et"]), c["et"], 0.0) / pt[owner]
    # EM cells map one to one
    row = c["ieta"][em] - l_ieta[owner[em]] + w // 2
    col = (c["iphi"][em] - l_iphi[owner[em]] + n_phi // 2) % n_phi - n_phi // 2 + w // 2
    ok = (row >= 0) & (row < w) & (col >= 0) & (col < w)
    np.add.at(image, (owner[em][ok], 0, row[ok], col[ok]), et[em][ok])
    # each HAD cell covers f x f EM cells, from (f ieta, f iphi)
    had = ~em
    sub = np.arange(f)
    rows = (f * c["ieta"][had])[:, None, None] + sub[None, :, None] - l_ieta[owner[had]][:, None, None] + w // 2
    cols = (
        ((f * c["iphi"][had])[:, None, None] + sub[None, None, :] - l_iphi[owner[had]][:, None, None] + n_phi // 2)
        % n_phi
        - n_phi // 2
        + w // 2
    )
    rows, cols = np.broadcast_arrays(rows, cols)
    who = np.broadcast_to(owner[had][:, None, None], rows.shape)
    value = np.broadcast_to((et[had] / f**2)[:, None, None], rows.shape)
    ok = (rows >= 0) & (rows < w) & (cols >= 0) & (cols < w)
    # the stubs type the indices as one integer array-like; ufunc.at takes any index, a tuple with an int too
    np.add.at(image, (who[ok], 1, rows[ok], cols[ok]), value[ok])  # type: ignore[arg-type]
    return image


def _window_sum(em_image: np.ndarray, n_eta: int, n_phi: int) -> np.ndarray:
    """E_T of the n_eta x n_phi cells around the image centre (the lepton's cell)."""
    centre = em_image.shape[1] // 2
    return em_image[
        :, centre - n_eta // 2 : centre + n_eta // 2 + 1, centre - n_phi // 2 : centre + n_phi // 2 + 1
    ].sum((1, 2))


def shower_shapes(
    image: np.ndarray,
    c: dict[str, np.ndarray],
    owner: np.ndarray,
    z: np.ndarray,
    dr: np.ndarray,
    em: np.ndarray,
    n: int,
) -> dict[str, np.ndarray]:
    """The standard electron identification variables (arXiv:2011.01984, after ATLAS), from the EM image.
    A ratio whose denominator is empty is 0 (no energy: nothing to share).

    Parameters
    ----------
    image : np.ndarray
        (leptons, 2, window, window): ``calo_image``.
    c : dict of np.ndarray
        The cells' branches, flattened over the events.
    owner : np.ndarray
        Each cell's lepton.
    z : np.ndarray
        Each cell's E_T / p_T of its lepton.
    dr : np.ndarray
        Each cell's Delta R to its lepton.
    em : np.ndarray
        Which cells are EM cells.
    n : int
        The number of leptons.

    Returns
    -------
    dict of np.ndarray
        One column per name of ``SHOWER_SHAPES``.
    """
    em_image, had_image = image[:, 0], image[:, 1]
    total_em = em_image.sum((1, 2))
    out = {"r_had": _ratio(had_image.sum((1, 2)), total_em)}
    centre = em_image.shape[1] // 2
    offsets = np.arange(-centre, em_image.shape[1] - centre, dtype=np.float64)
    # w_eta2: the E_T-weighted width in eta over 3 x 5 (eta x phi), in units of the cell size 0.025
    block = em_image[:, centre - 1 : centre + 2, centre - 2 : centre + 3]
    rows = offsets[centre - 1 : centre + 2][None, :, None] * 0.025
    e = block.sum((1, 2))
    mean = _ratio((block * rows).sum((1, 2)), e)
    out["w_eta2"] = np.sqrt(np.maximum(_ratio((block * rows**2).sum((1, 2)), e) - mean**2, 0.0))
    out["r_phi"] = _ratio(_window_sum(em_image, 3, 3), _window_sum(em_image, 3, 7))
    out["r_eta"] = _ratio(_window_sum(em_image, 3, 7), _window_sum(em_image, 7, 7))
    # sigma_eta_eta: the log-weighted width over 5 x 5 in cells, CMS's sigma_ietaieta: w_i = max(0, 4.7 + ln(E_i /
    # E_5x5)), a scale-free weight (cells under 0.9 % of the block's energy do not count)
    block = em_image[:, centre - 2 : centre + 3, centre - 2 : centre + 3]
    e5 = block.sum((1, 2))[:, None, None]
    share = np.divide(block, e5, out=np.zeros_like(block), where=(block > 0) & (e5 > 0))
    weight = np.where(share > 0, np.maximum(0.0, 4.7 + np.log(np.where(share > 0, share, 1.0))), 0.0)
    rows = offsets[centre - 2 : centre + 3][None, :, None]
    wsum = weight.sum((1, 2))
    mean = _ratio((weight * rows).sum((1, 2)), wsum)
    out["sigma_eta_eta"] = np.sqrt(np.maximum(_ratio((weight * rows**2).sum((1, 2)), wsum) - mean**2, 0.0))
    for r, name in ((0.3, "e_ecal_0p3"), (0.4, "e_ecal_0p4")):
        use = em & (dr < r)
        out[name] = np.bincount(owner[use], weights=z[use], minlength=n)
    return out


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def cell_efps(
    z: np.ndarray,
    deta: np.ndarray,
    dphi: np.ndarray,
    owner: np.ndarray,
    n: int,
    efp: EFPConfig | None,
    anchored: AnchoredEFPConfig | None,
) -> dict[str, np.ndarray]:
    """The EFPs of each lepton's cells (z_i = E_T,i / p_T) and its anchored EFPs, batched by cell count.

    Parameters
    ----------
    z, deta, dphi : np.ndarray
        Each cell's E_T / p_T and its (eta, phi) distance to its lepton.
    owner : np.ndarray
        Each cell's lepton.
    n : int
        The number of leptons.
    efp, anchored : EFPConfig or None, AnchoredEFPConfig or None
        The EFP and anchored-EFP columns to compute (at least one of them).

    Returns
    -------
    dict of np.ndarray
        One column per EFP, then per anchored EFP.
    """
    counts = np.bincount(owner, minlength=n)
    names = (efp.columns() if efp else []) + (anchored.columns() if anchored else [])
    out = {name: np.zeros(n) for name in names}
    rank, _ = hardest_first(owner, z, n, 1)
    by_owner = np.argsort(owner, kind="stable")  # each lepton's cells together: a batch reads only its own
    first = np.cumsum(counts) - counts
    degree = max(c.degree for c in (efp, anchored) if c is not None)
    # sized by the largest factor of the degree asked for, as the jets' (degree 6-7: leptons x N x N x N; a budget
    # of N x N alone made gigabyte factors there, every one fresh memory)
    for rows, width in batches(counts + 1, degree):  # slot 0 of each lepton: the lepton itself
        lengths = counts[rows]
        at = np.repeat(np.arange(len(rows)), lengths)  # each of the batch's cells: its lepton's place in the batch
        cells = by_owner[np.repeat(first[rows] - (np.cumsum(lengths) - lengths), lengths) + np.arange(len(at))]
        slot = rank[cells] + 1
        zz = np.zeros((len(rows), width))
        ee = np.zeros((len(rows), width))
        pp = np.zeros((len(rows), width))
        zz[at, slot] = z[cells]
        ee[at, slot] = deta[cells]  # relative to the lepton, which sits at (0, 0)
        pp[at, slot] = dphi[cells]
        real = np.zeros((len(rows), width), dtype=bool)
        real[at, slot] = True
        theta1 = np.hypot(ee[:, :, None] - ee[:, None, :], _delta_phi(pp[:, :, None], pp[:, None, :]))
        for name, values in _batch(zz, real, theta1, efp, anchored).items():
            out[name][rows] = values
    return out


def _batch(
    z1: np.ndarray,
    real: np.ndarray,
    theta1: np.ndarray,
    efp: EFPConfig | None,
    anchored: AnchoredEFPConfig | None,
) -> dict[str, np.ndarray]:
    """The EFP and anchored-EFP columns of one batch of leptons (the lepton in slot 0 of each row)."""
    out = {}
    with_lepton = real.copy()
    with_lepton[:, 0] = True
    configs: tuple[EFPConfig | AnchoredEFPConfig | None, ...] = (efp, anchored)
    for config in configs:
        if config is None:
            continue
        anchored_kind = isinstance(config, AnchoredEFPConfig)
        for beta in config.betas:
            pairs = with_lepton if anchored_kind else real
            theta = theta1**beta * (pairs[:, :, None] & pairs[:, None, :])
            powers: dict[Key, np.ndarray] = {}
            for kappa in config.kappas:
                z = np.where(real, np.where(real, z1, 1.0) ** kappa, 0.0)
                if isinstance(config, AnchoredEFPConfig):
                    anchored_set = anchored_graphs(config.degree)
                    values = anchored_efps([(g, v) for g, v, _ in anchored_set], z, theta, powers)
                    for k, (_, _, name) in enumerate(anchored_set):
                        out[anchored_column(name, kappa, beta)] = values[:, k]
                else:
                    graphs = config.graphs(kappa, beta)
                    values = efps(graphs, z, theta, powers)
                    for k, g in enumerate(graphs):
                        out[column_name(graph_name(g), kappa, beta)] = values[:, k]
    return out


__all__ = ["LeptonConfig", "AnchoredEFPConfig", "build_lepton_table", "is_lepton_file", "CONE_RADII", "SHOWER_SHAPES"]
