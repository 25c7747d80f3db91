"""Secondary vertices for our generated events, seeded by the true decay vertices, written as NanoAOD's ``SV_*``.

Model (the settings of ``VertexingModel``; the README's "Simplified tracker" repeats them):

* **Seeds.** Tracks (``xaugcol.sources.tracker``) sharing a true production point (to 1 um) away from the primary
  vertex make a true vertex: a B or D hadron decay, or a strange hadron decaying inside the tracker. It needs at least
  two tracks, and is found with probability ``efficiency`` = 0.75 (the inclusive vertex finder's losses).
* **Fakes.** In each event, the two highest-pT prompt tracks whose measured |d0| / d0Err exceeds 3 (the resolution
  tails of ``tracker``) make a fake vertex when they lie within Delta R < 0.4 of each other: placed at the mean of
  their points of closest approach.
* **Position.** The true point (a fake: the mean above) smeared with a Gaussian that is narrow across the flight
  direction, sigma_perp = (sum_i 1 / sigma_d0,i^2)^(-1/2) (what the tracks' impact-parameter resolution allows), and
  wide along it, sigma_par = sigma_perp / alpha, alpha the RMS angle of the tracks to the vertex momentum (at least
  1 mrad): nearly collinear tracks of a boosted decay fix the flight distance poorly. The errors of dlen (sigma_par)
  and dxy (sigma_par and sigma_perp projected onto the transverse plane) are these sigmas.
* **Errors.** Both sigmas are multiplied by ``error_scale`` (1: the tracks' resolution alone). The CMS-like tracker
  (``xaugcol.sources.jet_detector``) sets it so that the median SV dxySig matches CMS's (README: measured against
  the PFNano file); the fit's real errors also carry the hits' misalignment, the material and the primary vertex.
* **V0 veto** (``v0_veto`` on): two-track vertices of opposite charges whose mass, both tracks taken as pions, lies
  within ``k0s_window`` = 50 MeV of the K0S mass are dropped, as CMS's inclusive vertex finder does.
* **Mass.** The sum of the tracks' four-momenta, with their true masses, or (``pion_masses`` on) every track taken
  as a pion, as CMS's vertex fit does.
* **Selection.** Vertices with a 3D flight significance ``dlenSig`` > 3 are kept, as in the CMS SV collection.
* **Fields.** The momentum is the sum of the tracks' four-momenta (so the mass lies below the decaying hadron's);
  ``chi2`` is chi2 / ndof (as CMS NanoAOD stores it), drawn from chi2(ndof) / ndof with ndof = 2 tracks - 3;
  ``dxy``, ``dlen`` and their significances from the smeared position and sigma; ``pAngle`` as CMS NanoAOD stores
  it: the angle between the vertex momentum and the primary-minus-secondary vertex direction (pi for a vertex whose
  momentum points straight away from the primary vertex).

Tracks of a pile-up interaction are displaced only when their production point is away from their own interaction's
vertex (``oz``, its z; 0 for the hard event).

Columnar: one ``np.unique`` over (event, position) keys groups every event's tracks at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from xaugcol.jets.track_geometry import transverse_pca

SV_FIELDS = (
    "pt",
    "eta",
    "phi",
    "mass",
    "ntracks",
    "chi2",
    "ndof",
    "dxy",
    "dxySig",
    "dlen",
    "dlenSig",
    "pAngle",
    "x",
    "y",
    "z",
)
GROUPING = 1e-4  # cm: tracks whose true production points agree to 1 um share a vertex
MIN_OPENING = 1e-3  # rad: the smallest RMS track angle the position error along the flight assumes
K0S_MASS = 0.497611  # GeV
PION_MASS = 0.13957039  # GeV


@dataclass(frozen=True)
class VertexingModel:
    """The secondary-vertex finder's settings (module docstring: what each does).

    Parameters
    ----------
    efficiency : float, default 0.75
        The probability that a true vertex is found.
    min_tracks : int, default 2
        The fewest tracks of a true vertex.
    fake_significance : float, default 3.0
        The |d0| / d0Err above which a prompt track can make a fake vertex.
    fake_delta_r : float, default 0.4
        The Delta R within which the two tracks of a fake vertex lie.
    min_dlen_significance : float, default 3.0
        The 3D flight significance ``dlenSig`` above which a vertex is kept.
    error_scale : float, default 1.0
        The factor on both position errors (1: the tracks' resolution alone).
    v0_veto : bool, default False
        Drop two-track vertices of opposite charges at the K0S mass (tracks taken as pions).
    k0s_window : float, default 0.05
        The half-width (GeV) of the V0 veto's window around the K0S mass.
    pion_masses : bool, default False
        The vertex four-momentum from the tracks taken as pions (CMS's), not their true masses.
    """

    efficiency: float = 0.75
    min_tracks: int = 2
    fake_significance: float = 3.0
    fake_delta_r: float = 0.4
    min_dlen_significance: float = 3.0
    error_scale: float = 1.0
    v0_veto: bool = False
    k0s_window: float = 0.05  # GeV
    pion_masses: bool = False  # the vertex four-momentum from the tracks taken as pions (CMS's), not their true masses


def find_vertices(
    event: ArrayLike, tracks: dict, n_events: int, rng: np.random.Generator, model: VertexingModel = VertexingModel()
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Secondary vertices of every event: (fields, counts per event).

    The fields are flat per vertex (``SV_FIELDS`` plus ``is_fake``), ordered by event and by descending pT within
    it. Every vertex draws its random numbers whether or not it is kept.

    Parameters
    ----------
    event : array_like
        Each track's event index.
    tracks : dict
        Flat arrays over those tracks (candidates with a track) of ``px, py, pz, E, pt, eta, phi``, the measured
        ``d0, dz, d0Err, dzErr`` and the true production point ``vx, vy, vz`` (cm); optionally ``oz``, the z of
        the track's own interaction (pile-up; 0 for the hard event), and ``charge`` (which the V0 veto needs).
    n_events : int
        The events in the batch.
    rng : numpy.random.Generator
        The caller's random stream.
    model : VertexingModel, optional
        The vertex finder; default: ``VertexingModel()``.

    Returns
    -------
    fields : dict of str to numpy.ndarray
        ``SV_FIELDS`` (float64; positions and lengths in cm) and ``is_fake`` (bool), one entry per kept vertex.
    counts : numpy.ndarray
        Shape (n_events,): the kept vertices of each event.
    """
    event = np.asarray(event, dtype=np.int64)
    t = {k: np.asarray(v, dtype=np.float64) for k, v in tracks.items()}
    t.setdefault("oz", np.zeros_like(t["vz"]))
    t.setdefault("charge", np.zeros_like(t["vz"]))
    t["E_pion"] = np.sqrt(t["px"] ** 2 + t["py"] ** 2 + t["pz"] ** 2 + PION_MASS**2)
    displaced = np.sqrt(t["vx"] ** 2 + t["vy"] ** 2 + (t["vz"] - t["oz"]) ** 2) > GROUPING
    true = _true_vertices(event[displaced], {k: v[displaced] for k, v in t.items()}, model)
    fake = _fake_vertices(event[~displaced], {k: v[~displaced] for k, v in t.items()}, model)
    found = {k: np.concatenate([true[k], fake[k]]) for k in true}
    found["sigma_par"] = found["sigma_par"] * model.error_scale
    found["sigma_perp"] = found["sigma_perp"] * model.error_scale
    n = len(found["event"])
    # every vertex draws its random numbers whether or not it is kept: the stream does not depend on the selection
    kept = np.concatenate([rng.random(len(true["event"])) < model.efficiency, np.ones(len(fake["event"]), bool)])
    position = np.stack([found["x"], found["y"], found["z"]], axis=1)
    flight, across1, across2 = _axes(np.stack([found["px"], found["py"], found["pz"]], axis=1))
    draws = rng.standard_normal((n, 3))
    position = position + (
        draws[:, :1] * found["sigma_par"][:, None] * flight
        + (draws[:, 1:2] * across1 + draws[:, 2:] * across2) * found["sigma_perp"][:, None]
    )
    ndof = 2.0 * found["ntracks"] - 3.0
    chi2 = rng.chisquare(np.maximum(ndof, 1.0)) / np.maximum(ndof, 1.0)
    if model.pion_masses:
        found["E"] = found["E_pion"]
    out = _vertex_fields(position, found, chi2, ndof)
    kept &= out["dlenSig"] > model.min_dlen_significance
    if model.v0_veto:
        kept &= ~_k0s_like(found, model)
    order = np.lexsort((-out["pt"][kept], found["event"][kept]))
    fields = {k: v[kept][order] for k, v in out.items()}
    counts = np.bincount(found["event"][kept], minlength=n_events)
    return fields, counts


def _true_vertices(event, t: dict, model: VertexingModel) -> dict:
    key = np.stack([event, *(np.round(t[c] / GROUPING).astype(np.int64) for c in ("vx", "vy", "vz"))], axis=1)
    _, group, size = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    sums = _group_sums(group, len(size), t)
    first = np.full(len(size), -1, dtype=np.int64)
    first[group[::-1]] = np.arange(len(group))[::-1]  # one track of each group: its event and true point
    keep = size >= model.min_tracks
    out = {k: v[keep] for k, v in sums.items()}
    out.update(
        event=event[first][keep],
        x=t["vx"][first][keep],
        y=t["vy"][first][keep],
        z=t["vz"][first][keep],
        ntracks=size[keep].astype(np.float64),
        is_fake=np.zeros(int(keep.sum()), bool),
    )
    return out


def _fake_vertices(event, t: dict, model: VertexingModel) -> dict:
    """At most one per event: its two hardest prompt tracks with a significant measured d0, if close in angle."""
    tail = np.abs(t["d0"]) / t["d0Err"] > model.fake_significance
    idx = np.nonzero(tail)[0]
    idx = idx[np.lexsort((-t["pt"][idx], event[idx]))]
    ev = event[idx]
    rank = np.arange(len(idx)) - np.searchsorted(ev, ev)  # position within the event, hardest first
    a, b = idx[rank == 0], idx[rank == 1]
    a = a[np.isin(event[a], event[b])]  # events with two such tracks (both arrays ordered by event)
    dphi = (t["phi"][a] - t["phi"][b] + np.pi) % (2 * np.pi) - np.pi
    close = np.hypot(t["eta"][a] - t["eta"][b], dphi) < model.fake_delta_r
    a, b = a[close], b[close]
    pca = 0.5 * (
        transverse_pca(t["d0"][a], t["dz"][a], t["phi"][a]) + transverse_pca(t["d0"][b], t["dz"][b], t["phi"][b])
    )
    group = np.concatenate([np.arange(len(a)), np.arange(len(b))])
    both = np.concatenate([a, b])
    out = _group_sums(group, len(a), {k: v[both] for k, v in t.items()})
    out.update(
        event=event[a],
        x=pca[:, 0],
        y=pca[:, 1],
        z=pca[:, 2],
        ntracks=np.full(len(a), 2.0),
        is_fake=np.ones(len(a), bool),
    )
    return out


def _group_sums(group, n_groups: int, t: dict) -> dict:
    """Four-momentum sums of each group of tracks, and its position resolution across and along the flight
    direction (``sigma_perp``, ``sigma_par``)."""
    total = {c: np.bincount(group, weights=t[c], minlength=n_groups) for c in ("px", "py", "pz", "E")}
    sigma_perp = 1.0 / np.sqrt(np.bincount(group, weights=1.0 / t["d0Err"] ** 2, minlength=n_groups))
    p = np.stack([total["px"], total["py"], total["pz"]], axis=1)
    p_hat = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    track = np.stack([t["px"], t["py"], t["pz"]], axis=1)
    cos = np.sum(track * p_hat[group], axis=1) / np.maximum(np.linalg.norm(track, axis=1), 1e-12)
    mean_sq = np.bincount(group, weights=np.arccos(np.clip(cos, -1.0, 1.0)) ** 2, minlength=n_groups)
    alpha = np.sqrt(mean_sq / np.maximum(np.bincount(group, minlength=n_groups), 1))
    return {
        **total,
        "sigma_perp": sigma_perp,
        "sigma_par": sigma_perp / np.maximum(alpha, MIN_OPENING),
        "E_pion": np.bincount(group, weights=t["E_pion"], minlength=n_groups),
        "charge": np.bincount(group, weights=t["charge"], minlength=n_groups),
        "abs_charge": np.bincount(group, weights=np.abs(t["charge"]), minlength=n_groups),
    }


def _k0s_like(found: dict, model: VertexingModel) -> np.ndarray:
    """Two-track vertices of opposite charges with a pi pi mass within the K0S window."""
    p2 = found["px"] ** 2 + found["py"] ** 2 + found["pz"] ** 2
    mass = np.sqrt(np.maximum(found["E_pion"] ** 2 - p2, 0.0))
    opposite = (found["ntracks"] == 2) & (found["charge"] == 0) & (found["abs_charge"] == 2)
    return opposite & (np.abs(mass - K0S_MASS) < model.k0s_window)


def _axes(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors along each momentum and two across it."""
    flight = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    helper = np.where(np.abs(flight[:, 2:]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    across1 = np.cross(flight, helper)
    across1 /= np.linalg.norm(across1, axis=1, keepdims=True)
    return flight, across1, np.cross(flight, across1)


def _vertex_fields(position, found: dict, chi2, ndof) -> dict[str, np.ndarray]:
    px, py, pz, energy = found["px"], found["py"], found["pz"], found["E"]
    pt = np.hypot(px, py)
    p = np.sqrt(pt**2 + pz**2)
    x, y, z = position.T
    dxy = np.hypot(x, y)
    dlen = np.sqrt(dxy**2 + z**2)
    # the flight-distance errors: sigma_par along the flight, sigma_perp across, projected on the transverse plane
    sin_theta = pt / np.where(p > 0, p, 1.0)
    sigma_dlen = found["sigma_par"]
    sigma_dxy = np.hypot(found["sigma_par"] * sin_theta, found["sigma_perp"] * np.sqrt(1 - sin_theta**2))
    cos_flight = (x * px + y * py + z * pz) / np.where(dlen * p > 0, dlen * p, 1.0)
    return {
        "pt": pt,
        "eta": np.arcsinh(pz / np.where(pt > 0, pt, 1.0)),
        "phi": np.arctan2(py, px),
        "mass": np.sqrt(np.maximum(energy**2 - p**2, 0.0)),
        "ntracks": found["ntracks"],
        "chi2": chi2,
        "ndof": ndof,
        "dxy": dxy,
        "dxySig": dxy / sigma_dxy,
        "dlen": dlen,
        "dlenSig": dlen / sigma_dlen,
        "pAngle": np.arccos(np.clip(-cos_flight, -1.0, 1.0)),
        "x": x,
        "y": y,
        "z": z,
        "is_fake": found["is_fake"],
    }
