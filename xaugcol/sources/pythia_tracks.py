"""What a Pythia event's jet constituents look like to a CMS tracker and vertex finder, columnar over a batch:

* per candidate, the measured track (``xaugcol.sources.tracker``): ``PFCands_d0, dz, d0Err, dzErr, trkChi2,
  trkQuality, lostInnerHits``;
* per (candidate, jet) link, PFNano's b-tagging variables ``FatJetPFCands_btag*`` (``xaugcol.jets.track_geometry``,
  zero for a candidate without a track, as CMS);
* per event, the secondary vertices (``xaugcol.sources.vertexing``) as NanoAOD's ``SV`` collection;
* per jet, CMS's heavy-flavour truth: ``nBHadrons`` / ``nCHadrons`` (weakly decaying b / c hadrons within the jet
  radius of its axis) and ``hadronFlavour`` (5 with a b hadron, else 4 with a c hadron, else 0).
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import vector

from xaugcol.jets.track_geometry import BTAG_VARIABLES, btag_variables
from xaugcol.sources.tracker import TrackerModel, measure_tracks, straight_line_ip, track_fields
from xaugcol.sources.vertexing import SV_FIELDS, VertexingModel, find_vertices

MM_TO_CM = 0.1
WEAK_DECAY_TAU = 1e-4  # mm: proper decay lengths above this are weak decays (a B* or D* decays ~1e-6 mm)


def flat(jagged: ak.Array) -> np.ndarray:
    """A jagged per-event array as one flat numpy array.

    Parameters
    ----------
    jagged : awkward.Array
        One list per event (of numbers).

    Returns
    -------
    numpy.ndarray
        The lists' values, event by event.
    """
    return ak.to_numpy(ak.flatten(jagged))


def production_point(prt: ak.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat (x, y, z) in cm of every particle's production point.

    Pythia leaves it unset (None) for particles made at the interaction point, which is 0.

    Parameters
    ----------
    prt : awkward.Array
        A ``nextBatch`` result's particles (``batch.prt``), with ``vProd`` (mm).

    Returns
    -------
    x : numpy.ndarray
        The production points' x, cm, float64, flat over the batch's particles.
    y : numpy.ndarray
        Their y, cm.
    z : numpy.ndarray
        Their z, cm.
    """
    x, y, z = (flat(ak.fill_none(getattr(prt.vProd, c), 0.0)).astype(np.float64) * MM_TO_CM for c in ("px", "py", "pz"))
    return x, y, z


def measured_candidates(
    cand: dict, counts: np.ndarray, rng: np.random.Generator, model: TrackerModel = TrackerModel()
) -> tuple[dict, dict]:
    """The tracker's measurement of the jet constituents: PFCands fields per event, and the flat tracker output.

    Charged constituents become tracks (``tracker.measure_tracks``) with impact parameters from their true
    production points; a fake track's are those drawn for it.

    Parameters
    ----------
    cand : dict
        Flat arrays of the jet constituents, event by event: ``jet_detector.seen_particles``' fields and ``pt, eta,
        phi``.
    counts : numpy.ndarray
        The constituents of each event.
    rng : numpy.random.Generator
        The detector simulation's random stream.
    model : TrackerModel, optional
        The tracker; default: ``TrackerModel()``.

    Returns
    -------
    fields : dict
        ``track_fields(model)`` to awkward arrays, one list per event (the PFCands fields).
    flat_tracks : dict
        The tracker's flat output (``measure_tracks``, ``has_track`` included) with the candidates' ``vx, vy, vz,
        oz, px, py, pz, E, pt, eta, phi, mass, charge`` and ``event`` (position in the batch): the input of
        ``secondary_vertices`` and ``link_btag_variables``.
    """
    vertex = (cand["vx"], cand["vy"], cand["vz"])
    true_ip = straight_line_ip(*vertex, cand["px"], cand["py"], cand["pz"])
    fake = cand["fake"]
    if fake.any():  # a fake track's impact parameters are what was drawn for it
        true_ip = (np.where(fake, cand["true_d0"], true_ip[0]), np.where(fake, cand["true_dz"], true_ip[1]))
    measured = measure_tracks(
        cand["charge"],
        cand["pt"],
        cand["eta"],
        vertex,
        true_ip,
        rng,
        model,
        reconstructed=cand["reconstructed"],
        fake=fake if fake.any() else None,
    )
    flat_tracks = {
        **measured,
        **{k: cand[k] for k in ("vx", "vy", "vz", "oz", "px", "py", "pz", "E", "pt", "eta", "phi", "mass", "charge")},
        "event": np.repeat(np.arange(len(counts)), counts),
    }
    fields = {k: ak.unflatten(measured[k], counts) for k in track_fields(model)}
    return fields, flat_tracks


def secondary_vertices(
    measured: dict, n_events: int, rng: np.random.Generator, model: VertexingModel = VertexingModel()
) -> ak.Array:
    """NanoAOD's SV collection from the measured tracks of the jet constituents.

    Parameters
    ----------
    measured : dict
        The flat tracker output of ``measured_candidates`` (only the candidates with a track are used).
    n_events : int
        The events in the batch.
    rng : numpy.random.Generator
        The detector simulation's random stream.
    model : VertexingModel, optional
        The vertex finder; default: ``VertexingModel()``.

    Returns
    -------
    awkward.Array
        The secondary vertices per event, records of ``SV_FIELDS`` (float32; ``ntracks`` int32), by descending pT.
    """
    has = measured["has_track"]
    tracks = {
        k: measured[k][has]
        for k in (
            "px",
            "py",
            "pz",
            "E",
            "pt",
            "eta",
            "phi",
            "d0",
            "dz",
            "d0Err",
            "dzErr",
            "vx",
            "vy",
            "vz",
            "oz",
            "charge",
        )
    }
    fields, counts = find_vertices(measured["event"][has], tracks, n_events, rng, model)
    columns = {k: fields[k].astype(np.int32 if k == "ntracks" else np.float32) for k in SV_FIELDS}
    return ak.unflatten(ak.zip(columns), counts)


def link_btag_variables(measured: dict, jet_of_cand: ak.Array, jets: ak.Array) -> dict[str, ak.Array]:
    """PFNano's per-track b-tagging variables for each (candidate, jet) link; 0 where the candidate has no track.

    Parameters
    ----------
    measured : dict
        The flat tracker output of ``measured_candidates``, one entry per candidate.
    jet_of_cand : awkward.Array
        Per event, the index (within the event) of each candidate's jet.
    jets : awkward.Array
        The jets per event, with ``eta`` and ``phi``.

    Returns
    -------
    dict of str to awkward.Array
        ``BTAG_VARIABLES`` (``xaugcol.jets.track_geometry``) to float32 values, one list per event.
    """
    counts = ak.num(jet_of_cand, axis=1)
    n_jets = ak.to_numpy(ak.num(jets.pt, axis=1))
    jet_offset = np.cumsum(n_jets) - n_jets  # (a batch without events has no offsets at all)
    global_jet = flat(jet_of_cand) + np.repeat(jet_offset, ak.to_numpy(counts))
    jet_eta, jet_phi = flat(jets.eta)[global_jet], flat(jets.phi)[global_jet]
    m, has = measured, measured["has_track"]
    values = btag_variables(
        m["pt"],
        m["eta"],
        m["phi"],
        m["mass"],
        m["d0"],
        m["dz"],
        np.where(has, m["d0Err"], 1.0),
        np.where(has, m["dzErr"], 1.0),
        jet_eta,
        jet_phi,
    )
    return {k: ak.unflatten(np.where(has, values[k], 0.0).astype(np.float32), counts) for k in BTAG_VARIABLES}


def _heavy_quark(pdg_id: np.ndarray) -> np.ndarray:
    """The heaviest quark flavour of a hadron id (mesons: hundreds digit, baryons: thousands), 0 otherwise."""
    a = np.abs(pdg_id)
    meson = (a >= 100) & (a < 1000)
    baryon = (a >= 1000) & (a < 10000) & ((a // 10) % 10 != 0)  # diquarks (xy0z) are not hadrons
    return np.where(meson, (a // 100) % 10, np.where(baryon, (a // 1000) % 10, 0))


def heavy_flavour(prt: ak.Array, jets: ak.Array, radius: float) -> dict[str, ak.Array]:
    """Per jet: the numbers of weakly decaying b and c hadrons within ``radius`` and CMS's hadronFlavour.

    A weakly decaying hadron: one that decayed (status < 0) with a proper lifetime above ``WEAK_DECAY_TAU``.

    Parameters
    ----------
    prt : awkward.Array
        A ``nextBatch`` result's particles (``batch.prt``).
    jets : awkward.Array
        The jets per event, records with ``pt``, ``eta``, ``phi`` and ``mass``.
    radius : float
        The Delta R around the jet axis within which hadrons count.

    Returns
    -------
    dict of str to awkward.Array
        Per jet, int32: ``nBHadrons``, ``nCHadrons`` and ``hadronFlavour`` (5 with a b hadron, else 4 with a c
        hadron, else 0).
    """
    counts = ak.num(prt.id, axis=1)
    flavour = ak.unflatten(_heavy_quark(flat(prt.id)), counts)
    weak = (prt.tau > WEAK_DECAY_TAU) & (prt.status < 0)  # decayed, after a measurable flight
    p4 = ak.zip({"px": prt.p.px, "py": prt.p.py, "pz": prt.p.pz, "E": prt.p.e}, with_name="Momentum4D")
    jv = ak.zip({"pt": jets.pt, "eta": jets.eta, "phi": jets.phi, "mass": jets.mass}, with_name="Momentum4D")
    out = {}
    for name, quark in (("nBHadrons", 5), ("nCHadrons", 4)):
        hadrons = p4[weak & (flavour == quark)]
        near = jv[:, :, None].deltaR(hadrons[:, None, :]) < radius
        out[name] = ak.values_astype(ak.sum(near, axis=2), np.int32)
    out["hadronFlavour"] = ak.values_astype(
        ak.where(out["nBHadrons"] > 0, 5, ak.where(out["nCHadrons"] > 0, 4, 0)), np.int32
    )
    return out


vector.register_awkward()
