"""Events of one chunk -> the jet table of docs/design.md (one row per AK8 jet) and counts of what was kept or skipped.

Library code, free of coffea specifics: the processor calls ``build_jet_table`` and fills histograms from it.

Skipped jets are counted by reason, never silently lost:
* ``no_constituents``: a jet of a PF layout with no linked candidate;
* ``nonfinite_input``: NaN or inf in a constituent's pt / eta / phi / mass (or a stored branch in the stored layout);
* ``unphysical_input``: a constituent with negative pt (or, in the stored layout, a jet with negative pt): its
  four-vector would be wrong (one such constituent turned a 60 GeV jet mass into 294 GeV). A slightly negative
  candidate mass is not: CMS stores masses with reduced precision (down to -0.002 GeV in PFNano);
* ``too_many_constituents``: more linked candidates than ``max_constituents`` (default 1 000, ``xaugcol.limits``);
* ``below_min_pt``: recomputed pt under ``min_pt``.
Jets with a single constituent are kept with documented values (see ``xaugcol.jets.substructure``) and
``few_constituents`` = True.

Why a jet with too many constituents is skipped, not cut to its leading ones: its substructure costs O(N^3) (the
energy correlators of N2 and D2; measured 1.3 s for one jet of 1 000 constituents, 14 s at 2 000, 191 s at
5 000), so one such jet stalls its chunk. CMS PUPPI AK8 jets hold a few hundred candidates at most (at most 84
in the PFNano test sample), so a jet of thousands is a broken record (links duplicated or misassigned), and a
cut-flow count is what an analysis expects for it. Computed on its leading constituents it would enter the tables
with a mass, N2 and image that look plausible and are wrong. ``max_constituents`` raises the cap where such jets
are real.

The sizes of the table's arrays are limited (``ProcessingConfig``, ``xaugcol.limits``), and a chunk's table is
estimated before a run (``ProcessingConfig.check_chunk``).
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from xaugcol.features import tracks as track_features
from xaugcol.features import vertices as vertex_features
from xaugcol.features.efp.columns import jet_efps
from xaugcol.features.images import jet_images
from xaugcol.features.packed import PackedArray
from xaugcol.features.particles import N_FEATURES, particle_list
from xaugcol.jets import substructure
from xaugcol.jets.constituents import STORED, MissingBranchError, detect_layout, jet_constituents
from xaugcol.jets.stored import stored_xaug
from xaugcol.jets.vertices import has_vertices, jet_vertices
from xaugcol.processing.lepton_table import build_lepton_table, is_lepton_file
from xaugcol.processing.opendata_table import TRUTH_LABEL, build_opendata_table, is_opendata_file
from xaugcol.processing.settings import Columns, ProcessingConfig

XAUG = ("msd", "tau1", "tau2", "tau3", "tau4", "tau21", "tau32", "n2", "d2", "sj_z", "sj_dr", "sj1_pt", "sj2_pt")
KINEMATICS = ("pt", "eta", "phi", "mass", "n_constituents")
IDENTITY = ("dataset", "label", "weight", "run", "luminosityBlock", "event", "fatjet_index")
FLAGS = ("in_msd_window", "few_constituents", "sd_two_prong", "has_particles")
SKIP_REASONS = (
    "no_constituents",
    "nonfinite_input",
    "unphysical_input",
    "too_many_constituents",
    "below_min_pt",
    "other_truth",
)  # other_truth: open-data jets of neither class (``opendata_table``)
# generator truth carried into the table when the file has it (our toy and Pythia sources)
# (CMS's heavy-flavour truth, nBHadrons / nCHadrons / hadronFlavour, in CMS simulation and our Pythia files alike)
TRUTH = {
    "genBosonIdx": "gen_boson_idx",
    "genBosonDR": "gen_boson_dr",
    "genBosonContained": "gen_boson_contained",
    "genZ": "gen_z",
    "genTheta": "gen_theta",
    "genPt": "gen_pt",
    "nBHadrons": "n_b_hadrons",
    "nCHadrons": "n_c_hadrons",
    "hadronFlavour": "hadron_flavour",
}


def _event_columns(events: ak.Array, n_jets: np.ndarray) -> Columns:
    """Per-jet copies of the event identity and weight."""
    out: Columns = {}
    for name in ("run", "luminosityBlock", "event"):
        if name not in events.fields:
            raise MissingBranchError(name, "the jet table's event identity")
        out[name] = np.repeat(ak.to_numpy(events[name]).astype(np.int64), n_jets)
    weight = ak.to_numpy(events.genWeight).astype(np.float64) if "genWeight" in events.fields else np.ones(len(events))
    out["weight"] = np.repeat(weight, n_jets)
    for field_name, column in TRUTH.items():
        if field_name in events.FatJet.fields:
            out[column] = ak.to_numpy(ak.flatten(events.FatJet[field_name]))
    out["fatjet_index"] = ak.to_numpy(ak.flatten(ak.local_index(events.FatJet.pt, axis=1))).astype(np.int32)
    return out


def build_jet_table(
    events: ak.Array, dataset: str, label: int, config: ProcessingConfig = ProcessingConfig()
) -> tuple[Columns, dict[str, int], list[str]]:
    """The jet table of a chunk of events: one row per AK8 jet (per lepton for a lepton file).

    Parameters
    ----------
    events : ak.Array
        The chunk's events (coffea's NanoEvents).
    dataset : str
        The dataset's name, a column of the table.
    label : int
        The dataset's class (1 signal, 0 background, -1 no truth), or ``TRUTH_LABEL`` for the open-data ntuples.
    config : ProcessingConfig
        What to compute.

    Returns
    -------
    (dict, dict, list of str)
        The columns, equal-length numpy arrays (the object lists, their masks and the image multi-dimensional,
        packed: ``xaugcol.features.packed``); the counts {"jets_seen", "jets_kept", "skipped_<reason>"}; and the
        names of the columns this file's layout cannot provide (NaN in the table).
    """
    if is_opendata_file(events):  # the CMS open-data H->bb ntuples: one entry per jet, truth per jet
        table, counts, missing = build_opendata_table(events, dataset, label, config)
        return table, {**{f"skipped_{r}": 0 for r in SKIP_REASONS}, **counts}, missing
    if label == TRUTH_LABEL:
        raise ValueError(
            f"dataset {dataset!r}: label 'truth' takes each jet's label from the file, and only the "
            "CMS open-data H->bb ntuples carry one"
        )
    if is_lepton_file(events):  # a lepton file (``sources.pythia_leptons``): one row per lepton
        return build_lepton_table(events, dataset, label, config.lepton_settings, config.efp)
    layout = detect_layout(events)
    if "FatJet" not in events.fields:
        raise MissingBranchError("nFatJet", "the AK8 jets (FatJet) of the jet table")
    n_jets = ak.to_numpy(ak.num(events.FatJet, axis=1)).astype(np.int64)
    cols = _event_columns(events, n_jets)
    n_total = int(n_jets.sum())
    npart, npix = config.n_particles, config.image.n_pixels
    unavailable: list[str] = []
    keep = np.ones(n_total, dtype=bool)
    counts = {"jets_seen": n_total, **{f"skipped_{r}": 0 for r in SKIP_REASONS}}

    if layout is STORED:
        xaug, unavailable = stored_xaug(events)
        unavailable = sorted(set(unavailable) | {"particles", "image"})
        cols.update(xaug)
        finite = np.all(
            [np.isfinite(cols[k]) for k in ("pt", "eta", "phi", "mass", "msd", "tau1", "tau2", "n2")], axis=0
        )
        _skip(keep, ~finite, "nonfinite_input", counts)
        _skip(keep, cols["pt"] < 0, "unphysical_input", counts)
        cols["few_constituents"] = np.zeros(n_total, dtype=bool)
        cols["has_particles"] = np.zeros(n_total, dtype=bool)
        cols["particles"] = PackedArray.empty(n_total, (npart, N_FEATURES))
        cols["particles_mask"] = PackedArray.empty(n_total, (npart,), dtype=bool)
        cols["image"] = PackedArray.empty(n_total, (npix, npix))
        cols["image_pt_fraction"] = np.zeros(n_total)
        cols.update(_no_objects(n_total, config))
        unavailable += ["tracks", "vertices"]
        if config.efp is not None:  # EFPs need the constituents
            cols.update({name: np.full(n_total, np.nan) for name in config.efp.columns()})
            unavailable.append("efp")
    else:
        parts = ak.flatten(jet_constituents(events, layout), axis=1)  # (jets, particles)
        n_const = ak.to_numpy(ak.num(parts, axis=1))
        _skip(keep, n_const == 0, "no_constituents", counts)
        finite = np.ones(n_total, dtype=bool)
        for name in ("pt", "eta", "phi", "mass"):
            finite &= ak.to_numpy(ak.all(np.isfinite(parts[name]), axis=1))
        _skip(keep, ~finite, "nonfinite_input", counts)
        _skip(keep, ak.to_numpy(ak.any(parts.pt < 0, axis=1)), "unphysical_input", counts)
        # before any per-jet work: one jet of thousands of constituents would stall the chunk (module docstring)
        _skip(keep, n_const > config.max_constituents, "too_many_constituents", counts)
        # compute on the good jets only: no NaN enters fastjet, empty jets give no 0 / 0
        good = keep.copy()
        parts = parts[good]
        p4 = ak.sum(parts, axis=1)
        kin = {
            "pt": ak.to_numpy(p4.pt),
            "eta": ak.to_numpy(p4.eta),
            "phi": ak.to_numpy(p4.phi),
            "mass": np.maximum(ak.to_numpy(p4.mass), 0.0),
        }
        sub = substructure.compute(parts, config.substructure)
        plist, pmask = particle_list(parts, kin, sub, npart)
        images, fraction = jet_images(parts, kin["pt"], sub, config.image)
        objects, missing = _tracks_and_vertices(events, parts, {**kin, "E": ak.to_numpy(p4.E)}, sub, good, config)
        unavailable += missing
        efp = {} if config.efp is None else jet_efps(parts, config.efp)
        computed = {
            **kin,
            **sub,
            **efp,
            "n_constituents": n_const[good].astype(np.float64),
            "particles": plist,
            "particles_mask": pmask,
            "image": images,
            "image_pt_fraction": fraction,
            **objects,
            "few_constituents": n_const[good] < 2,
            "has_particles": np.ones(int(good.sum()), dtype=bool),
        }
        for name, values in computed.items():
            cols[name] = values if good.all() else _scatter(values, good, n_total)
    if config.min_pt > 0:
        _skip(keep, cols["pt"] < config.min_pt, "below_min_pt", counts)

    lo, hi = config.msd_window
    cols["in_msd_window"] = (cols["msd"] > lo) & (cols["msd"] < hi)
    cols["sd_two_prong"] = cols["sd_two_prong"].astype(bool)
    cols["dataset"] = np.full(n_total, dataset, dtype=object)
    cols["label"] = np.full(n_total, label, dtype=np.int32)
    table = cols if keep.all() else {name: values[keep] for name, values in cols.items()}
    counts["jets_kept"] = int(keep.sum())
    return table, counts, unavailable


def _tracks_and_vertices(
    events: ak.Array,
    parts: ak.Array,
    kin: dict[str, np.ndarray],
    sub: dict[str, np.ndarray],
    good: np.ndarray,
    config: ProcessingConfig,
) -> tuple[Columns, list[str]]:
    """The track and vertex lists of the good jets, their counts, and what the file cannot provide (named
    ``track:<feature>``, or ``vertices`` for a file without an SV collection)."""
    vertices = jet_vertices(events, kin["eta"], kin["phi"], good) if has_vertices(events) else None
    tracks, tracks_mask, n_tracks, missing = track_features.track_list(parts, kin, sub, vertices, config.n_tracks)
    unavailable = [f"track:{f}" for f in missing]
    if vertices is None:
        out = _no_objects(int(good.sum()), config, tracks=False)
        unavailable.append("vertices")
    else:
        vlist, vmask = vertex_features.vertex_list(vertices, kin, config.n_vertices)
        n_vertices = ak.to_numpy(ak.num(vertices, axis=1)).astype(np.int32)
        out = {"vertices": vlist, "vertices_mask": vmask, "n_vertices": n_vertices}
    return {**out, "tracks": tracks, "tracks_mask": tracks_mask, "n_tracks": n_tracks}, unavailable


def _no_objects(n: int, config: ProcessingConfig, tracks: bool = True) -> Columns:
    """Empty vertex (and track) lists, for files that have none."""
    out: Columns = {
        "vertices": PackedArray.empty(n, (config.n_vertices, vertex_features.N_FEATURES)),
        "vertices_mask": PackedArray.empty(n, (config.n_vertices,), dtype=bool),
        "n_vertices": np.zeros(n, dtype=np.int32),
    }
    if tracks:
        out.update(
            tracks=PackedArray.empty(n, (config.n_tracks, track_features.N_FEATURES)),
            tracks_mask=PackedArray.empty(n, (config.n_tracks,), dtype=bool),
            n_tracks=np.zeros(n, dtype=np.int32),
        )
    return out


def chunk_jet_table(
    events: ak.Array, labels: dict[str, int], config: ProcessingConfig
) -> tuple[Columns, dict[str, int], list[str]]:
    """``build_jet_table`` for a coffea chunk: the dataset and label from its metadata.

    Parameters
    ----------
    events : awkward.Array
        The chunk's events (coffea's NanoEvents), with coffea's ``metadata`` (``dataset``, ``filename``).
    labels : dict of str to int
        Each dataset's label (``coffea_runner.dataset_label``: 1, 0, -1, or ``TRUTH_LABEL``).
    config : ProcessingConfig
        What to compute.

    Returns
    -------
    table : dict
        The columns, as ``build_jet_table`` returns them.
    counts : dict of str to int
        ``jets_seen``, ``jets_kept`` and ``skipped_<reason>``.
    unavailable : list of str
        The columns this file's layout cannot provide.

    Raises
    ------
    MissingBranchError
        A branch the table needs is missing; the error names the chunk's file.
    """
    meta = events.metadata
    dataset = meta["dataset"]
    try:
        return build_jet_table(events, dataset, labels[dataset], config)
    except MissingBranchError as err:
        raise MissingBranchError(err.branch, err.needed_for, where=str(meta["filename"])) from None


def _skip(keep: np.ndarray, bad: np.ndarray, reason: str, counts: dict[str, int]) -> None:
    """Drop the still-kept jets flagged ``bad`` and count them under ``reason`` (each jet counted once)."""
    newly = keep & bad
    counts[f"skipped_{reason}"] += int(newly.sum())
    keep &= ~bad


def _scatter(values: Any, where: np.ndarray, n: int) -> np.ndarray | PackedArray:
    """Place per-good-jet values into an array over all jets (zeros elsewhere; those rows are dropped)."""
    if isinstance(values, PackedArray):
        return values.scattered(where)
    values = np.asarray(values)
    out = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
    out[where] = values
    return out
