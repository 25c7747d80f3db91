"""The CMS open-data H->bb ntuples -> the jet table: the data the Interaction Network paper (Moreno et al.,
arXiv:1909.12285) trained on, interpreted by Roy and Neubauer (ICHEP 2022).

The files (CMS open-data portal, "Sample with jet, track and secondary vertex properties for Hbb tagging ML
studies", made by HiggsToBBNtupleProducerTool from 2016 CMS full simulation with pile-up) hold one entry per AK8
jet in the tree ``deepntuplizer/tree``: scalar ``fj_*`` jet branches, ``std::vector<float>`` branches per track
(``track_*``, ``trackBTag_*``, sized by ``n_tracks``) and per secondary vertex (``sv_*``, sized by ``n_sv``),
integer truth labels and ``event_no``. The layout is recognised by ``fj_pt`` and ``event_no``.

What the table gets:
* kinematics ``pt, eta, phi, mass`` (``fj_*``: the producer stores them without jet-energy corrections, as our
  stored-NanoAOD path reads them), ``msd`` (``fj_sdmass``), ``tau1..3``, ``tau21``/``tau32`` recomputed with our
  convention (0 where the denominator is 0; the file has 1.01), ``sd_two_prong`` (``fj_n_sdsubjets`` >= 2) and the
  softdrop subjets' ``sj1_pt, sj2_pt, sj_z, sj_dr`` from ``fj_sdsj1/2_pt, eta, phi`` (0 for one-prong jets, as in
  the stored-NanoAOD path). Unavailable (NaN, named in the report): ``tau4, n2, d2, n_constituents`` (the file's
  ``n_pfcands`` counts only candidates above 0.95 GeV), the particle list, the image and EFPs.
* tracks and SVs in our kinds' feature order (``xaugcol.features.tracks`` / ``vertices``: the IN's 30 and 14, the
  same lists), the first ``n_tracks`` / ``n_vertices`` as the file orders them (tracks by decreasing 2D impact
  significance, SVs by decreasing dxy significance), padded with zeros and masked beyond. Three of the producer's
  conventions are undone so that a feature means what our kinds define: ``etarel`` is multiplied by sign(eta_jet)
  in the file, ``track_drminsv`` is min(Delta R, 0.8) - 0.8 (0.8 added back: the distance, 0.8 without a vertex
  near, our convention), ``sv_deltaR`` is min(Delta R - 0.5, 0) (0.5 added back: the distance, capped at 0.5).
  What stays the producer's: ``drminsv`` is the distance to any SV of the event (ours: the jet's), a missing
  subjet gives ``drsubjet`` -1 (ours: the groomed axis), significances are clipped to +-2000 (tracks) and 800
  (SVs), and the six covariance terms are 0 for tracks without details.
* labels: with ``metadata.label: "truth"`` each jet's own: 1 for H -> b bbar (``fj_isH`` and ``label_H_bb``), 0 for
  QCD (``sample_isQCD`` and ``fj_isQCD``), the paper's classes; with ``label`` 1 or 0 only that class's jets. Every
  other jet (top, W, Z, H not to b bbar, or the other class) is left out and counted as ``skipped_other_truth``.
* identity: these files have no run, luminosity block or event number of their own. ``run`` is the file's ROOT
  UUID (its first 63 bits), ``luminosityBlock`` the entry in the file, ``event`` the producer's ``event_no`` and
  ``fatjet_index`` 0: the same in every run and chunking, so the splits (a hash of run, luminosity block and
  event) are stable. Two jets of one collision get independent splits (the merged files do not say which jets
  share a collision).

Bad input: a missing branch is named (``MissingBranchError``); a vector whose length disagrees with its count
stops the chunk naming the branch; a jet with NaN or inf in a used branch is skipped (``nonfinite_input``), one
with negative pT too (``unphysical_input``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

import awkward as ak
import numpy as np

from xaugcol.features import tracks as track_features
from xaugcol.features import vertices as vertex_features
from xaugcol.features.particles import N_FEATURES
from xaugcol.jets.constituents import MissingBranchError
from xaugcol.jets.substructure import ratio

if TYPE_CHECKING:
    import uproot

    from xaugcol.processing.settings import Columns, ProcessingConfig

TREE = "deepntuplizer/tree"
MARKERS = ("fj_pt", "event_no")
TRUTH_LABEL = "truth"  # the fileset label that takes each jet's label from the file
NEED = "the CMS open-data H->bb ntuples (deepntuplizer/tree)"
JET = {
    "pt": "fj_pt",
    "eta": "fj_eta",
    "phi": "fj_phi",
    "mass": "fj_mass",
    "msd": "fj_sdmass",
    "tau1": "fj_tau1",
    "tau2": "fj_tau2",
    "tau3": "fj_tau3",
}
SUBJET = (
    "fj_n_sdsubjets",
    "fj_sdsj1_pt",
    "fj_sdsj1_eta",
    "fj_sdsj1_phi",
    "fj_sdsj2_pt",
    "fj_sdsj2_eta",
    "fj_sdsj2_phi",
)
LABELS = ("fj_isH", "label_H_bb", "sample_isQCD", "fj_isQCD")
# our feature name -> the producer's branch
TRACK_BRANCHES = {
    f: (f"trackBTag_{f[len('btag') :]}" if f.startswith("btag") else f"track_{f}") for f in track_features.FEATURES
}
SV_BRANCHES = {f: f"sv_{f}" for f in vertex_features.FEATURES}
COUNTS = {"tracks": "n_tracks", "vertices": "n_sv"}
# the producer's offsets, added back (module docstring)
OFFSETS = {"drminsv": 0.8}
SV_OFFSETS = {"deltaR": 0.5}
UNAVAILABLE = ("tau4", "n2", "d2", "n_constituents", "particles", "image")


def is_opendata_layout(names: Iterable[str]) -> bool:
    """Whether branch (or field) ``names`` are the open-data ntuples'.

    Parameters
    ----------
    names : iterable of str
        A file's branch names, or its events' field names.

    Returns
    -------
    bool
        True when they hold the ntuples' jet and event branches (``fj_pt``, ``event_no``) and no NanoAOD identity
        (``run``) or FatJet collection.
    """
    names = set(names)
    return all(m in names for m in MARKERS) and not names & {"run", "FatJet", "nFatJet"}


def is_opendata_file(events: ak.Array) -> bool:
    """The same test (``is_opendata_layout``) on a chunk's events.

    Parameters
    ----------
    events : awkward.Array
        A chunk's events (coffea's NanoEvents or base schema).

    Returns
    -------
    bool
        Whether their fields are the open-data ntuples'.
    """
    return is_opendata_layout(events.fields)


def is_opendata_tree(tree: uproot.TTree) -> bool:
    """The same test (``is_opendata_layout``) on an uproot tree (screening, before coffea reads the file).

    Parameters
    ----------
    tree : uproot.TTree
        The file's events tree.

    Returns
    -------
    bool
        Whether its branches are the open-data ntuples'.
    """
    return is_opendata_layout(tree.keys())


def _scalar(events, branch: str) -> np.ndarray:
    if branch not in events.fields:
        raise MissingBranchError(branch, NEED)
    return ak.to_numpy(events[branch]).astype(np.float64)


def truth_labels(events: ak.Array) -> np.ndarray:
    """Each jet's class: 1 H -> b bbar, 0 QCD, -1 neither (left out).

    Parameters
    ----------
    events : awkward.Array
        A chunk of the open-data ntuples, one entry per jet, with the truth branches ``LABELS``.

    Returns
    -------
    numpy.ndarray
        Shape (jets,), int32: 1 where ``fj_isH`` and ``label_H_bb``, 0 where ``sample_isQCD`` and ``fj_isQCD``,
        -1 otherwise.

    Raises
    ------
    MissingBranchError
        A truth branch is missing.
    """
    flags = {b: _scalar(events, b) != 0 for b in LABELS}
    signal = flags["fj_isH"] & flags["label_H_bb"]
    background = flags["sample_isQCD"] & flags["fj_isQCD"]
    return np.where(signal, 1, np.where(background, 0, -1)).astype(np.int32)


def _objects(
    events,
    branches: dict[str, str],
    count: str,
    n_max: int,
    eta_sign: np.ndarray,
    offsets: dict[str, float],
    selected: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(list (selected jets, n_max, features), its mask, the selected jets' object counts, whether each jet's values
    are finite, for every jet). Columnar: the positions of the first ``n_max`` objects of the selected jets are
    found once, and each branch's flat values are scattered there, one feature plane at a time."""
    counts = _scalar(events, count).astype(np.int64)
    if np.any(counts < 0):
        raise ValueError(f"branch {count!r} holds a negative count")
    jet = np.repeat(np.arange(len(counts)), counts)  # the jet of every object, flat
    position = np.arange(len(jet)) - np.repeat(np.cumsum(counts) - counts, counts)
    row_of = np.cumsum(selected) - 1  # each selected jet's row in the list
    take = (position < n_max) & selected[jet]
    rows, slots = row_of[jet[take]], position[take]
    n_rows = int(selected.sum())
    planes = np.zeros((len(branches), n_rows, n_max), dtype=np.float32)
    finite = np.ones(len(counts), dtype=bool)
    for k, (feature, branch) in enumerate(branches.items()):
        if branch not in events.fields:
            raise MissingBranchError(branch, NEED)
        values = events[branch]
        lengths = ak.to_numpy(ak.num(values, axis=1))
        if np.any(lengths != counts):
            first = int(np.argmax(lengths != counts))
            raise ValueError(
                f"branch {branch!r} has {lengths[first]} values in entry {first} of the chunk, but "
                f"{count!r} says {counts[first]}: the vectors do not belong to the same objects"
            )
        flat = ak.to_numpy(ak.flatten(values, axis=1))
        bad = ~np.isfinite(flat)
        if bad.any():
            finite[jet[bad]] = False
        kept = flat[take].astype(np.float32, copy=False)
        if feature == "etarel":
            kept = kept * eta_sign[selected][rows].astype(np.float32)
        if feature in offsets:
            kept = kept + np.float32(offsets[feature])
        planes[k][rows, slots] = kept
    mask = np.zeros((n_rows, n_max), dtype=bool)
    mask[rows, slots] = True  # padding stays exactly 0 (``real_objects``), offsets included
    return (np.ascontiguousarray(planes.transpose(1, 2, 0)), mask, counts[selected].astype(np.int32), finite)


def _subjets(events, n_jets: int) -> tuple[dict[str, np.ndarray], list[str]]:
    if not all(b in events.fields for b in SUBJET):
        nan = np.full(n_jets, np.nan)
        return (
            {
                "sj1_pt": nan,
                "sj2_pt": nan.copy(),
                "sj_z": nan.copy(),
                "sj_dr": nan.copy(),
                "sd_two_prong": np.zeros(n_jets, dtype=bool),
            },
            ["sj1_pt", "sj2_pt", "sj_z", "sj_dr"],
        )
    v = {b: _scalar(events, b) for b in SUBJET}
    two = v["fj_n_sdsubjets"] >= 2
    hard = np.maximum(v["fj_sdsj1_pt"], v["fj_sdsj2_pt"])
    soft = np.minimum(v["fj_sdsj1_pt"], v["fj_sdsj2_pt"])
    dphi = np.mod(v["fj_sdsj1_phi"] - v["fj_sdsj2_phi"] + np.pi, 2 * np.pi) - np.pi
    dr = np.hypot(v["fj_sdsj1_eta"] - v["fj_sdsj2_eta"], dphi)
    zero = np.zeros(n_jets)
    return (
        {
            "sj1_pt": np.where(two, hard, zero),
            "sj2_pt": np.where(two, soft, zero),
            "sj_z": np.where(two, ratio(soft, hard + soft), zero),
            "sj_dr": np.where(two, dr, zero),
            "sd_two_prong": two,
        },
        [],
    )


def identity(events: ak.Array) -> dict[str, np.ndarray]:
    """The identity columns of a chunk of the open-data ntuples, which have no event identity of their own.

    Parameters
    ----------
    events : awkward.Array
        A chunk of the open-data ntuples, with coffea's ``metadata`` (``fileuuid``, ``entrystart``).

    Returns
    -------
    dict of str to numpy.ndarray
        One value per jet: ``run`` (the first 63 bits of the file's UUID, int64), ``luminosityBlock`` (the entry in
        the file, int64), ``event`` (``event_no``, int64) and ``fatjet_index`` (0, int32).
    """
    meta = events.metadata
    n = len(events)
    run = uuid.UUID(str(meta["fileuuid"])).int >> 65  # 63 bits: a non-negative int64
    return {
        "run": np.full(n, run, dtype=np.int64),
        "luminosityBlock": int(meta["entrystart"]) + np.arange(n, dtype=np.int64),
        "event": _scalar(events, "event_no").astype(np.int64),
        "fatjet_index": np.zeros(n, dtype=np.int32),
    }


def _unavailable_columns(n: int, dataset: str, config) -> dict[str, np.ndarray]:
    """The columns these files cannot give (NaN or empty), made at the kept jets' size: the particle list and the
    image alone would be hundreds of MB per chunk of 100 000 jets."""
    npart, npix = config.n_particles, config.image.n_pixels
    out = {name: np.full(n, np.nan) for name in ("tau4", "n2", "d2", "n_constituents")}
    out.update(
        particles=np.zeros((n, npart, N_FEATURES), dtype=np.float32),
        particles_mask=np.zeros((n, npart), dtype=bool),
        image=np.zeros((n, npix, npix), dtype=np.float32),
        image_pt_fraction=np.zeros(n),
        few_constituents=np.zeros(n, dtype=bool),
        has_particles=np.zeros(n, dtype=bool),
        dataset=np.full(n, dataset, dtype=object),
    )
    if config.efp is not None:  # EFPs need the constituents
        out.update({name: np.full(n, np.nan) for name in config.efp.columns()})
    return out


def build_opendata_table(
    events: ak.Array, dataset: str, label: str | int, config: ProcessingConfig
) -> tuple[Columns, dict[str, int], list[str]]:
    """The jet table of one chunk of the open-data ntuples, as ``jet_table.build_jet_table`` returns it.

    Parameters
    ----------
    events : awkward.Array
        The chunk, one entry per jet (coffea's base schema), with coffea's ``metadata``.
    dataset : str
        The dataset's name, a column of the table.
    label : str or int
        The dataset's label: ``"truth"`` (each jet's own class), or 1 or 0 (only that class's jets; module
        docstring).
    config : ProcessingConfig
        What to compute (list lengths, image size, ``min_pt``, softdrop-mass window, EFPs).

    Returns
    -------
    table : dict
        The columns, equal-length numpy arrays, one row per kept jet.
    counts : dict of str to int
        ``jets_seen``, ``jets_kept`` and ``skipped_<reason>`` (``other_truth``, ``nonfinite_input``,
        ``unphysical_input`` and, with ``min_pt``, ``below_min_pt``).
    unavailable : list of str
        The columns these files cannot provide (NaN or empty in the table), sorted.

    Raises
    ------
    ValueError
        A ``label`` other than ``"truth"``, 1 or 0, a negative count, or a vector whose length disagrees with its
        count.
    MissingBranchError
        A branch the table needs is missing.
    """
    if label not in (TRUTH_LABEL, 0, 1):
        raise ValueError(
            f"dataset {dataset!r}: the open-data ntuples carry each jet's truth: give the dataset "
            f"metadata label 'truth' (or 1 / 0 for one class), not {label!r}"
        )
    n = len(events)
    cols = identity(events)
    cols["weight"] = np.ones(n)
    counts = {"jets_seen": n}
    jet_labels = truth_labels(events)
    keep = jet_labels >= 0 if label == TRUTH_LABEL else jet_labels == label
    counts["skipped_other_truth"] = int((~keep).sum())

    for column, branch in JET.items():
        cols[column] = _scalar(events, branch)
    cols["tau21"] = ratio(cols["tau2"], cols["tau1"])
    cols["tau32"] = ratio(cols["tau3"], cols["tau2"])
    subjets, unavailable = _subjets(events, n)
    cols.update(subjets)
    eta_sign = np.where(cols["eta"] < 0, -1.0, 1.0)
    selected = keep.copy()  # the lists are made for these jets only (the other classes are half the file)
    objects, finite = {}, np.ones(n, dtype=bool)
    for kind, branches, n_max, offsets in (
        ("tracks", TRACK_BRANCHES, config.n_tracks, OFFSETS),
        ("vertices", SV_BRANCHES, config.n_vertices, SV_OFFSETS),
    ):
        values, mask, n_objects, ok = _objects(events, branches, COUNTS[kind], n_max, eta_sign, offsets, selected)
        objects.update({kind: values, f"{kind}_mask": mask, f"n_{kind}": n_objects})
        finite &= ok
    finite &= np.all([np.isfinite(cols[c]) for c in (*JET, *subjets) if c not in unavailable], axis=0)
    for reason, bad in (("nonfinite_input", ~finite), ("unphysical_input", cols["pt"] < 0)):
        counts[f"skipped_{reason}"] = int((keep & bad).sum())
        keep &= ~bad
    if config.min_pt > 0:
        counts["skipped_below_min_pt"] = int((keep & (cols["pt"] < config.min_pt)).sum())
        keep &= cols["pt"] >= config.min_pt
    cols["label"] = np.where(jet_labels >= 0, jet_labels, 0).astype(np.int32)
    table = {name: values[keep] for name, values in cols.items()}
    still = keep[selected]  # of the listed jets, those kept (all but the rare non-finite or too soft ones)
    table.update({name: values if still.all() else values[still] for name, values in objects.items()})
    table.update(_unavailable_columns(int(keep.sum()), dataset, config))
    lo, hi = config.msd_window
    table["in_msd_window"] = (table["msd"] > lo) & (table["msd"] < hi)
    unavailable = sorted({*unavailable, *UNAVAILABLE, *(("efp",) if config.efp is not None else ())})
    counts["jets_kept"] = int(keep.sum())
    return table, counts, unavailable
