"""Pythia 8 event batches -> NanoAOD-like lepton events: a lepton collection with its calorimeter cells and nearby
particles, columnar throughout (flat numpy over the batch).

Lepton candidates (``LeptonSelection``: p_T in [pt_min, pt_max], |eta| < 2.4, and an impact on the calorimeter
within its |eta| < 2.5: in a field, a lepton below 0.735 GeV curls before it) of a process with ``lepton`` set:
* ``lepton_origin: prompt``: final-state leptons of that flavour descending from a W or Z (after the lepton's own
  copies: photon radiation);
* ``lepton_origin: hadron``: leptons of that flavour from a hadron decay (heavy flavour: the B-enriched cards);
* ``lepton_origin: any``: every charged final-state particle but muons, the electron fakes of QCD: with
  ``lepton: 11`` all candidates, genuine electrons included, must pass the loose electron preselection of
  ``LeptonSelection`` (E_T in the EM cells within Delta R < 0.1 at least ``min_em_over_pt`` of the track p_T, and
  hadronic over EM E_T there below ``max_had_over_em`` = 0.15, the loose H/E of CMS).
With ``leading_candidate`` only the hardest passing candidate of an event is kept (the electron paper's background:
the leading electron of a dijet event). Events without a candidate are dropped (and counted). Branches, besides the
event identity and weight:

``Lepton_*``
    ``pt, eta, phi, mass, charge, pdgId`` (the generator's particle: muon, electron, or the fake's hadron),
    ``genPartFlav`` (CMS's convention: 1 prompt, 5 from b, 4 from c, 3 from light hadrons, 0 not a lepton),
    ``dxy, dz, dxyErr, dzErr`` of its track (the simplified tracker), ``cellIEta, cellIPhi`` (its EM cell)
``LeptonCell_*``
    the cells of each lepton's window (``xaugcol.sources.calorimeter``): ``leptonIdx, layer`` (0 EM, 1 HAD),
    ``ieta, iphi, eta, phi, et``; per lepton EM first, each layer hardest first
``PFCands_*``, ``LeptonPFCands_leptonIdx, pFCandsIdx``
    the visible particles within Delta R < ``particle_radius`` of each lepton (not the lepton itself), PFNano's
    names with the tracker's measurements, linked to their lepton as PFNano links jet constituents; with pile-up,
    the overlaid particles too (``PFCands_fromPileup`` 1, their tracks measured from their own vertex)
``Pileup_nPU, Pileup_nTrueInt``
    NanoAOD's pile-up record: the interactions overlaid on the event and their Poisson mean (0 without overlay)
``fixedGridRhoFastjetAll``
    the event's pile-up density, as CMS computes it (``xaugcol.sources.rho``), from every visible particle

The detector (``Detector``): the calorimeter sees every particle at its impact on the calorimeter surface
(``xaugcol.sources.solenoid``; with a field, charged particles bend and the softest never arrive), and a lepton's
window and cones are centred on its own impact point (``Lepton_caloEta, caloPhi``), as detector-based isolation
is around the extrapolated track. Pile-up is either the overlay of minimum-bias interactions
(``xaugcol.sources.pileup``) or the calorimeter model's flat deposits (``CalorimeterModel.pileup_density``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np

from xaugcol.sources.calorimeter import EM, CalorimeterModel, deposits, lepton_cells, pileup_particles
from xaugcol.sources.nanoaod import pf_pdg_id
from xaugcol.sources.pileup import Overlay, PileupPool, PileupSettings, draw_overlay
from xaugcol.sources.pythia_tracks import _heavy_quark, flat, production_point
from xaugcol.sources.rho import grid_rho
from xaugcol.sources.solenoid import Solenoid, calorimeter_impact
from xaugcol.sources.tracker import TRACK_FIELDS, measure_tracks, straight_line_ip

if TYPE_CHECKING:
    from xaugcol.sources.processes import Process
    from xaugcol.sources.species import SpeciesTable

CM_TO_M = 0.01

ORIGINS = ("prompt", "hadron", "any")
BOSONS = (23, 24)
MAX_ANCESTRY = 64  # copies of one particle in a Pythia record (the shower's recoils and radiation): far fewer


@dataclass(frozen=True)
class LeptonSelection:
    """The lepton candidates a lepton process keeps (module docstring).

    p_T in [``pt_min``, ``pt_max``] GeV, |eta| below ``abs_eta_max``; the particles within ``particle_radius`` of
    each are stored; an electron candidate passes the loose preselection (EM E_T within ``preselection_radius`` at
    least ``min_em_over_pt`` of its p_T, H/E below ``max_had_over_em``).

    Parameters
    ----------
    pt_min : float, default 20.0
        The candidates' lowest p_T, GeV.
    pt_max : float, default 100.0
        Their highest p_T, GeV.
    abs_eta_max : float, default 2.4
        Their largest |eta|.
    particle_radius : float, default 0.4
        The Delta R within which the visible particles around a candidate are stored (``PFCands``).
    min_em_over_pt : float, default 0.5
        Loose electron preselection (``lepton`` 11): the least EM E_T near the candidate, as a fraction of its p_T.
    max_had_over_em : float, default 0.15
        Loose electron preselection: the largest hadronic over EM E_T near the candidate (CMS's loose H/E).
    preselection_radius : float, default 0.1
        The Delta R around the candidate's impact point within which the preselection sums the cells' E_T.
    """

    pt_min: float = 20.0
    pt_max: float = 100.0
    abs_eta_max: float = 2.4
    particle_radius: float = 0.4
    min_em_over_pt: float = 0.5  # loose electron preselection (lepton 11)
    max_had_over_em: float = 0.15  # CMS's loose H/E
    preselection_radius: float = 0.1


@dataclass(frozen=True)
class Detector:
    """What a lepton event is seen with: the calorimeter (its flat pile-up included), the field, the overlay.

    Parameters
    ----------
    calorimeter : CalorimeterModel, default CalorimeterModel()
        The calorimeter, its flat pile-up included.
    solenoid : Solenoid, default Solenoid(field_tesla=0.0)
        The field and the calorimeter surface; default: no field (straight lines).
    pileup : PileupSettings, default PileupSettings()
        The overlay of minimum-bias interactions; default: none.
    pool : PileupPool or None, default None
        The minimum-bias interactions the overlay draws from; needed when ``pileup.mu`` > 0.

    Raises
    ------
    ValueError
        If ``pileup.mu`` > 0 and there is no ``pool``.
    """

    calorimeter: CalorimeterModel = CalorimeterModel()
    solenoid: Solenoid = Solenoid(field_tesla=0.0)
    pileup: PileupSettings = PileupSettings()
    pool: PileupPool | None = None

    def __post_init__(self):
        if self.pileup.mu > 0 and self.pool is None:
            raise ValueError("pile-up with mu > 0 needs a pool of minimum-bias interactions")


def _ancestor(pid, mother, offsets, event, index):
    """The first ancestor of each particle ``index`` (global) that is not a copy of it (another id)."""
    anc = offsets[event[index]] + mother[index]
    for _ in range(MAX_ANCESTRY):
        same = (pid[anc] == pid[index]) & (mother[anc] > 0)
        if not same.any():
            break
        anc = np.where(same, offsets[event[index]] + mother[anc], anc)
    return anc


def gen_flavour(ancestor_id: np.ndarray, candidate_id: np.ndarray, lepton: int) -> np.ndarray:
    """CMS's genPartFlav: 1 from a W / Z, 5 / 4 / 3 from a b / c / light hadron, 0 not a lepton of the flavour.

    Parameters
    ----------
    ancestor_id : numpy.ndarray
        The PDG id of each candidate's first ancestor that is not a copy of it.
    candidate_id : numpy.ndarray
        The candidates' PDG ids.
    lepton : int
        The process's lepton flavour, 11 or 13.

    Returns
    -------
    numpy.ndarray
        int32 per candidate: 1, 5, 4 or 3 as above; 0 for a candidate of another flavour, and for one whose
        ancestor is neither a W / Z nor a hadron (a tau, a photon: CMS would give a tau's 15).
    """
    heavy = _heavy_quark(ancestor_id)
    hadron = np.abs(ancestor_id) > 100
    flav = np.where(
        np.isin(np.abs(ancestor_id), BOSONS),
        1,
        np.where(hadron & (heavy == 5), 5, np.where(hadron & (heavy == 4), 4, np.where(hadron, 3, 0))),
    )
    return np.where(np.abs(candidate_id) == lepton, flav, 0).astype(np.int32)


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = np.mod(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def leptons_to_nanoaod(
    batch: Any,  # a Pythia nextBatch result (pythia8mc has no type hints)
    species: SpeciesTable,
    process: Process,
    selection: LeptonSelection,
    first_event: int,
    lumi_block: int,
    rng: np.random.Generator,
    detector: Detector = Detector(),
) -> tuple[dict, int]:
    """Convert one ``nextBatch`` result of a lepton process; return (branches, events dropped for want of a candidate).

    The module docstring describes the candidates and the branches.

    Parameters
    ----------
    batch : object
        A Pythia ``nextBatch`` result (awkward arrays ``prt`` and ``info``).
    species : SpeciesTable
        Charge and visibility of the particle species.
    process : Process
        The lepton process: its ``lepton``, ``lepton_origin`` and ``leading_candidate``.
    selection : LeptonSelection
        The candidates kept and the radius of the particles stored around them.
    first_event : int
        The ``event`` number of the batch's first kept event (the rest follow consecutively).
    lumi_block : int
        The ``luminosityBlock`` of every event.
    rng : numpy.random.Generator
        The detector simulation's random stream (overlay, calorimeter, tracker).
    detector : Detector, optional
        The calorimeter, the field and the overlay; default: ``Detector()``, no field and no overlay.

    Returns
    -------
    branches : dict
        Branch and collection names to arrays (numpy per event, awkward collections), for ``write_events``.
    n_dropped : int
        The events of the batch dropped for want of a passing candidate.
    """
    calorimeter = detector.calorimeter
    prt = batch.prt
    counts = ak.to_numpy(ak.num(prt.id, axis=1))
    n_batch = len(counts)
    offsets = np.cumsum(counts) - counts
    event = np.repeat(np.arange(n_batch), counts)
    pid, status, mother = flat(prt.id), flat(prt.status), flat(prt.mother1)
    px, py, pz, energy = (flat(getattr(prt.p, c)) for c in ("px", "py", "pz", "e"))
    mass = flat(prt.m)
    charge, visible = species.lookup(pid)
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    final = (status > 0) & visible & (pt > 0)

    lepton, origin = process.lepton, process.lepton_origin
    in_range = final & (pt >= selection.pt_min) & (pt <= selection.pt_max) & (np.abs(eta) < selection.abs_eta_max)
    if origin == "any":
        cand = np.nonzero(in_range & (charge != 0) & (np.abs(pid) != 13))[0]
    else:
        cand = np.nonzero(in_range & (np.abs(pid) == lepton))[0]
    anc = _ancestor(pid, mother, offsets, event, cand)
    flav = gen_flavour(pid[anc], pid[cand], lepton)
    if origin == "prompt":
        cand, flav = cand[flav == 1], flav[flav == 1]
    elif origin == "hadron":
        keep = np.isin(flav, (3, 4, 5))
        cand, flav = cand[keep], flav[keep]

    # the calorimeter sees the visible final-state particles of the events with a candidate at their impact
    # points, the overlaid interactions' near a candidate, and the flat pile-up
    production = production_point(prt)
    vz_m = production[2] * CM_TO_M
    busy = final & np.isin(event, event[cand])
    hit_eta, hit_phi = np.full(len(pid), np.inf), np.zeros(len(pid))
    hit_eta[busy], hit_phi[busy] = calorimeter_impact(
        charge[busy], pt[busy], eta[busy], phi[busy], vz_m[busy], detector.solenoid
    )
    arrives = np.isfinite(hit_eta[cand]) & (np.abs(hit_eta[cand]) < calorimeter.abs_eta_max)
    cand, flav = cand[arrives], flav[arrives]  # a lepton that curls before the calorimeter has no window
    drawn = _draw_overlay(detector, n_batch, event[cand], rng)
    rho = _event_rho(busy, event, pt, prt, drawn, n_batch)
    overlay, o_eta, o_phi, overlay_near = _overlay_near(
        detector, drawn, event[cand], hit_eta[cand], hit_phi[cand], eta[cand], phi[cand], selection
    )
    flat_pu = pileup_particles(event[cand], hit_eta[cand], hit_phi[cand], rng, calorimeter)
    cells = deposits(
        np.concatenate((event[busy], overlay.event, flat_pu["event"])),
        np.concatenate((hit_eta[busy], o_eta, flat_pu["eta"])),
        np.concatenate((hit_phi[busy], o_phi, flat_pu["phi"])),
        np.concatenate((pt[busy], overlay.pt, flat_pu["et"])),
        np.concatenate((pid[busy], overlay.pdg_id, flat_pu["pdg_id"])),
        rng,
        calorimeter,
        charge=np.concatenate([charge[busy], overlay.charge, flat_pu["pdg_id"] != 22]),
    )
    window = lepton_cells(cells, event[cand], hit_eta[cand], hit_phi[cand], rng, calorimeter)
    if lepton == 11:  # the loose electron preselection, on every candidate
        passed = _electron_preselection(window, hit_eta[cand], hit_phi[cand], pt[cand], selection)
    else:
        passed = np.ones(len(cand), dtype=bool)
    if process.leading_candidate:  # the hardest passing candidate of each event only
        passed &= _leading(event[cand], pt[cand], passed)
    cand, flav = cand[passed], flav[passed]
    window = _kept_cells(window, passed)
    pu_lep, pu = overlay_near
    pu_lep, pu = (np.cumsum(passed) - 1)[pu_lep[passed[pu_lep]]], pu[passed[pu_lep]]  # the passing candidates'

    # events with a candidate are kept, renumbered in the batch
    kept_events = np.unique(event[cand])
    n_dropped = n_batch - len(kept_events)
    new_event = np.full(n_batch, -1)
    new_event[kept_events] = np.arange(len(kept_events))
    lep_event = new_event[event[cand]]
    n_events = len(kept_events)
    lep_counts = np.bincount(lep_event, minlength=n_events)
    lep_local = np.arange(len(cand)) - np.repeat(np.cumsum(lep_counts) - lep_counts, lep_counts)

    tracks = _tracks(cand, prt, production, charge, pt, eta, rng)
    f32 = np.float32
    leptons = {
        "pt": pt[cand].astype(f32),
        "eta": eta[cand].astype(f32),
        "phi": phi[cand].astype(f32),
        "mass": mass[cand].astype(f32),
        "charge": charge[cand].astype(np.int32),
        "pdgId": pid[cand].astype(np.int32),
        "genPartFlav": flav,
        "dxy": tracks["d0"],
        "dz": tracks["dz"],
        "dxyErr": tracks["d0Err"],
        "dzErr": tracks["dzErr"],
        "cellIEta": window["lepton_ieta"].astype(np.int32),
        "cellIPhi": window["lepton_iphi"].astype(np.int32),
        "caloEta": hit_eta[cand].astype(f32),
        "caloPhi": hit_phi[cand].astype(f32),
    }

    cell_event = lep_event[window["lepton"]]
    cell_counts = np.bincount(cell_event, minlength=n_events)
    cell_fields = {
        "leptonIdx": lep_local[window["lepton"]].astype(np.int32),
        "layer": window["layer"].astype(np.int32),
        "ieta": window["ieta"].astype(np.int32),
        "iphi": window["iphi"].astype(np.int32),
        "eta": window["eta"].astype(f32),
        "phi": window["phi"].astype(f32),
        "et": window["et"].astype(f32),
    }

    near_lep, near = _nearby(cand, event, final, eta, phi, selection.particle_radius)
    hard = _particles(near, prt, production, pid, charge, pt, eta, phi, mass)
    soft = _overlay_particles(overlay, pu)
    near_lep = np.concatenate([near_lep, pu_lep])
    parts = {k: np.concatenate([hard[k], soft[k]]) for k in hard}
    near_event = lep_event[near_lep]
    order = np.lexsort((-parts["pt"], near_lep))  # per lepton, hardest first (lepton order is event order)
    near_lep, near_event = near_lep[order], near_event[order]
    parts = {k: v[order] for k, v in parts.items()}
    near_counts = np.bincount(near_event, minlength=n_events)
    vertex = (parts["vx"], parts["vy"], parts["vz"])
    true_ip = straight_line_ip(*vertex, parts["px"], parts["py"], parts["pz"])
    near_tracks = measure_tracks(parts["charge"], parts["pt"], parts["eta"], vertex, true_ip, rng)
    pf = {
        "pt": parts["pt"].astype(f32),
        "eta": parts["eta"].astype(f32),
        "phi": parts["phi"].astype(f32),
        "mass": parts["mass"].astype(f32),
        "charge": parts["charge"].astype(np.int32),
        "pdgId": pf_pdg_id(parts["pdg_id"], parts["charge"]).astype(np.int32),
        "genPdgId": parts["pdg_id"].astype(np.int32),
        **{k: near_tracks[k] for k in TRACK_FIELDS},
        "puppiWeight": np.ones(len(near_lep), dtype=f32),
        "fromPileup": parts["pileup"].astype(np.int32),
    }
    link = {
        "leptonIdx": lep_local[near_lep].astype(np.int32),
        "pFCandsIdx": (np.arange(len(near_lep)) - np.repeat(np.cumsum(near_counts) - near_counts, near_counts)).astype(
            np.int32
        ),
    }

    def jagged(fields, per_event):
        return ak.unflatten(ak.zip({k: np.asarray(v) for k, v in fields.items()}), per_event)

    weights = ak.to_numpy(batch.info.weights[:, 0]).astype(np.float32)[kept_events]
    pthat = np.sqrt(ak.to_numpy(batch.info.pT2Hat)).astype(np.float32)[kept_events]
    n_pu = overlay.n_pu[kept_events].astype(np.int32)
    branches = {
        "run": np.ones(n_events, dtype=np.uint32),
        "luminosityBlock": np.full(n_events, lumi_block, dtype=np.uint32),
        "event": np.arange(first_event, first_event + n_events, dtype=np.uint64),
        "genWeight": weights,
        "Generator_weight": weights,
        "Generator_binvar": pthat,
        "Pileup_nPU": n_pu,
        "fixedGridRhoFastjetAll": rho[kept_events].astype(np.float32),
        "Pileup_nTrueInt": np.full(n_events, detector.pileup.mu, dtype=np.float32),
        "Lepton": jagged(leptons, lep_counts),
        "LeptonCell": jagged(cell_fields, cell_counts),
        "LeptonPFCands": jagged(link, near_counts),
        "PFCands": jagged(pf, near_counts),
    }
    return branches, n_dropped


def _leading(cand_event, cand_pt, passed) -> np.ndarray:
    """Whether each candidate is the hardest of those ``passed`` in its event."""
    order = np.lexsort((-cand_pt, ~passed, cand_event))  # per event: passing first, hardest first
    first = np.ones(len(order), dtype=bool)
    first[1:] = cand_event[order][1:] != cand_event[order][:-1]
    leading = np.zeros(len(order), dtype=bool)
    leading[order[first]] = True
    return leading


def _electron_preselection(window: dict, eta, phi, pt, selection: LeptonSelection) -> np.ndarray:
    """Loose electron preselection per candidate: EM E_T near the track and little hadronic E_T behind it."""
    lep = window["lepton"]
    close = _delta_r(window["eta"], window["phi"], eta[lep], phi[lep]) < selection.preselection_radius
    em = np.bincount(
        lep[close & (window["layer"] == EM)], weights=window["et"][close & (window["layer"] == EM)], minlength=len(pt)
    )
    had = np.bincount(
        lep[close & (window["layer"] != EM)], weights=window["et"][close & (window["layer"] != EM)], minlength=len(pt)
    )
    return (em >= selection.min_em_over_pt * pt) & (had < selection.max_had_over_em * np.maximum(em, 1e-9))


def _kept_cells(window: dict, passed: np.ndarray) -> dict:
    """The cells of the passing candidates, their lepton positions renumbered among those."""
    renumber = np.cumsum(passed) - 1
    keep = passed[window["lepton"]]
    out = {k: v[keep] for k, v in window.items() if k not in ("lepton_ieta", "lepton_iphi")}
    out["lepton"] = renumber[out["lepton"]]
    out["lepton_ieta"], out["lepton_iphi"] = window["lepton_ieta"][passed], window["lepton_iphi"][passed]
    return out


def _nearby(cand, event, final, eta, phi, radius):
    """(position of the lepton in ``cand``, global particle index) of every visible final-state particle within
    ``radius`` of a lepton, the lepton itself excepted."""
    part = np.nonzero(final)[0]  # in event order already: a batch's particles are flattened event by event
    lep, index = _pairs(event[cand], event[part])
    pick = part[index]
    close = (_delta_r(eta[pick], phi[pick], eta[cand][lep], phi[cand][lep]) < radius) & (pick != cand[lep])
    return lep[close], pick[close]


def _tracks(index, prt, production, charge, pt, eta, rng) -> dict:
    """The simplified tracker's measurement of the particles ``index`` (global positions in the batch)."""
    vertex = tuple(v[index] for v in production)
    p = tuple(flat(getattr(prt.p, c))[index] for c in ("px", "py", "pz"))
    true_ip = straight_line_ip(*vertex, *p)
    return measure_tracks(charge[index], pt[index], eta[index], vertex, true_ip, rng)


def _particles(index, prt, production, pid, charge, pt, eta, phi, mass) -> dict:
    """The hard event's particles ``index``: kinematics, id, charge, production point (cm), momentum."""
    vertex = {name: v[index] for name, v in zip(("vx", "vy", "vz"), production)}
    momentum = {c: flat(getattr(prt.p, c))[index] for c in ("px", "py", "pz")}
    return {
        "pt": pt[index],
        "eta": eta[index],
        "phi": phi[index],
        "mass": mass[index],
        "pdg_id": pid[index],
        "charge": charge[index],
        **vertex,
        **momentum,
        "pileup": np.zeros(len(index), dtype=bool),
    }


def _overlay_particles(overlay: Overlay, index) -> dict:
    pt, eta, phi = overlay.pt[index], overlay.eta[index], overlay.phi[index]
    return {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "mass": overlay.mass[index],
        "pdg_id": overlay.pdg_id[index],
        "charge": overlay.charge[index],
        "vx": overlay.vx[index],
        "vy": overlay.vy[index],
        "vz": overlay.vz[index],
        "px": pt * np.cos(phi),
        "py": pt * np.sin(phi),
        "pz": pt * np.sinh(eta),
        "pileup": np.ones(len(index), dtype=bool),
    }


def _draw_overlay(detector: Detector, n_batch: int, cand_event, rng) -> Overlay:
    """The overlaid particles of the events with a candidate. Every event draws its interactions, so the random
    stream does not depend on which events have candidates; only theirs become particles."""
    if detector.pileup.mu <= 0:
        return Overlay.empty(n_batch)
    assert detector.pool is not None  # Detector.__post_init__: mu > 0 needs a pool
    return draw_overlay(detector.pool, n_batch, detector.pileup, rng, np.unique(cand_event))


def _event_rho(busy, event, pt, prt, overlay: Overlay, n_batch: int) -> np.ndarray:
    """``fixedGridRhoFastjetAll`` of each event of the batch (``xaugcol.sources.rho``) from its visible particles:
    the hard event's (``busy``: final-state particles of the events with a candidate) and the overlay's. The flat
    pile-up of the first samples is local to the lepton windows and not counted."""
    e, pz = flat(prt.p.e)[busy], flat(prt.p.pz)[busy]
    rapidity = np.arctanh(np.clip(pz / np.maximum(e, 1e-12), -1 + 1e-15, 1 - 1e-15))
    transverse = np.hypot(overlay.pt, overlay.mass)
    o_rapidity = np.arcsinh(overlay.pt * np.sinh(overlay.eta) / np.maximum(transverse, 1e-12))
    return grid_rho(
        np.concatenate([event[busy], overlay.event]),
        np.concatenate([pt[busy], overlay.pt]),
        np.concatenate([rapidity, o_rapidity]),
        np.concatenate([np.arctan2(flat(prt.p.py)[busy], flat(prt.p.px)[busy]), overlay.phi]),
        n_batch,
    )


def _overlay_near(
    detector: Detector,
    overlay: Overlay,
    cand_event,
    cand_hit_eta,
    cand_hit_phi,
    cand_eta,
    cand_phi,
    selection: LeptonSelection,
):
    """(the overlaid particles that can matter, their impact eta and phi, and the (candidate, particle) pairs
    within the particle radius, positions in the returned particles): impact within a candidate's window (with the
    lateral spread's margin) or direction within the particle radius of it."""
    model = detector.calorimeter
    half = (model.window // 2 + 2) * model.em_eta_size
    half_phi = (model.window // 2 + 2) * model.phi_size(EM)
    o_eta, o_phi = calorimeter_impact(
        overlay.charge, overlay.pt, overlay.eta, overlay.phi, overlay.vz * CM_TO_M, detector.solenoid
    )
    keep = np.zeros(len(overlay.pt), dtype=bool)
    lep, part = _pairs(cand_event, overlay.event)
    in_window = (np.abs(o_eta[part] - cand_hit_eta[lep]) < half) & (
        np.abs(_dphi(o_phi[part], cand_hit_phi[lep])) < half_phi
    )
    close = _delta_r(overlay.eta[part], overlay.phi[part], cand_eta[lep], cand_phi[lep]) < selection.particle_radius
    keep[part[in_window | close]] = True
    position = np.cumsum(keep) - 1  # of each kept particle among the kept
    return overlay.select(keep), o_eta[keep], o_phi[keep], (lep[close], position[part[close]])


def _pairs(cand_event, particle_event):
    """Every (candidate, particle) pair of the same event: positions in the given arrays (particles sorted by
    event)."""
    start = np.searchsorted(particle_event, cand_event, "left")
    stop = np.searchsorted(particle_event, cand_event, "right")
    counts = stop - start
    lep = np.repeat(np.arange(len(cand_event)), counts)
    part = np.arange(len(lep)) - np.repeat(np.cumsum(counts) - counts - start, counts)
    return lep, part


def _dphi(a, b):
    return np.mod(a - b + np.pi, 2 * np.pi) - np.pi
