"""Pythia 8 event batches (awkward, from ``Pythia.nextBatch``) -> NanoAOD-style branches, columnar throughout.

* visible final-state particles (status > 0, not neutrinos or other invisibles) are clustered with fastjet,
  anti-kt R=0.8; jets with pT > 200 GeV and |eta| < 2.4 become FatJet, pT-ordered, their constituents
  PFCands (pT-ordered inside each jet) linked through FatJetPFCands (PFNano convention);
* PFCands get CMS particle-flow ids (pf_pdg_id), the generator id in ``genPdgId``, and the measurements of the
  simplified tracker (``xaugcol.sources.tracker``: d0, dz, d0Err, dzErr, trkChi2, trkQuality, lostInnerHits);
  FatJetPFCands the PFNano per-track b-tagging variables; ``SV`` the secondary vertices of the simplified vertex
  finder (``xaugcol.sources.vertexing``); each FatJet CMS's heavy-flavour truth (nBHadrons, nCHadrons,
  hadronFlavour), all through ``xaugcol.sources.pythia_tracks``;
* GenPart holds the last copies of heavy resonances (t, Z, W, H) and the outgoing partons of the hard process,
  including the resonance decay products, with ``genPartIdxMother`` pointing within GenPart;
* ``Generator_binvar`` holds the hard-process pT-hat and ``Generator_weight`` = ``genWeight``, as in CMS NanoAOD;
* each FatJet stores its match to the nearest hadronically decaying signal boson: ``genBosonIdx`` (GenPart index or
  -1 when farther than R or none), ``genBosonDR`` (-1 when the event has none) and ``genBosonContained`` (both
  decay partons within R of the jet axis).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import awkward as ak
import fastjet
import numpy as np
import vector

from xaugcol.jets.backend import silence_banner
from xaugcol.sources.jet_detector import JetDetector, seen_particles
from xaugcol.sources.nanoaod import pf_pdg_id
from xaugcol.sources.pythia_tracks import flat as _flat
from xaugcol.sources.pythia_tracks import (
    heavy_flavour,
    link_btag_variables,
    measured_candidates,
    production_point,
    secondary_vertices,
)
from xaugcol.sources.species import SpeciesTable

if TYPE_CHECKING:
    from xaugcol.sources.processes import Process

silence_banner()

vector.register_awkward()

RESONANCES = (6, 23, 24, 25)
# NanoAOD GenPart_statusFlags bits
IS_HARD_PROCESS = 1 << 7
FROM_HARD_PROCESS = 1 << 8
IS_LAST_COPY = 1 << 13


@dataclass(frozen=True)
class JetSelection:
    """The jets a jet process keeps: anti-kT jets of ``radius``, p_T above ``pt_min`` GeV, |eta| below ``abs_eta_max``.

    Parameters
    ----------
    radius : float, default 0.8
        The anti-kT radius; also the radius of the jets' boson matching and heavy-flavour counting.
    pt_min : float, default 200.0
        The jets' lowest pT, GeV.
    abs_eta_max : float, default 2.4
        The jets' largest |eta|.
    """

    radius: float = 0.8
    pt_min: float = 200.0
    abs_eta_max: float = 2.4


def _isin(jagged, values) -> ak.Array:
    """np.isin for jagged arrays (numpy's own needs rectangular input)."""
    flat = _flat(jagged)
    return ak.unflatten(np.isin(flat, list(values)), ak.num(jagged, axis=1))


def _p4(p) -> ak.Array:
    return ak.zip({"px": p.px, "py": p.py, "pz": p.pz, "E": p.e}, with_name="Momentum4D")


def gen_particles(prt: ak.Array) -> tuple[ak.Array, ak.Array]:
    """GenPart (NanoAOD fields) and, per GenPart entry, whether it is a resonance decaying to quarks.

    GenPart keeps the last copies of the heavy resonances (t, Z, W, H: ``RESONANCES``) and the outgoing partons of
    the hard process (status 23).

    Parameters
    ----------
    prt : awkward.Array
        A ``nextBatch`` result's particles (``batch.prt``), one list per event: ``id``, ``status``, ``mother1``,
        ``daughter1``, ``p`` (``px, py, pz, e``) and ``m``.

    Returns
    -------
    gen : awkward.Array
        GenPart records per event: ``pt``, ``eta``, ``phi``, ``mass`` (float32), ``pdgId``, ``status``,
        ``statusFlags`` and ``genPartIdxMother`` (int32; its mother's position within GenPart, -1 when the
        mother is not kept).
    hadronic : awkward.Array
        Bool per GenPart entry: a resonance one of whose GenPart daughters is a quark.
    """
    idx = ak.local_index(prt.id, axis=1)
    absid = abs(prt.id)
    daughter_id = prt.id[prt.daughter1]
    last_resonance = _isin(absid, RESONANCES) & (prt.daughter1 > 0) & (daughter_id != prt.id)
    hard_parton = abs(prt.status) == 23
    keep = last_resonance | hard_parton
    sel = prt[["id", "status", "mother1", "p", "m"]][keep]  # mask only the fields used: the record is wide
    sel_idx = idx[keep]
    is_res = last_resonance[keep]
    # genPartIdxMother: position within GenPart of the particle's mother, if that mother is kept
    same = sel.mother1[:, :, None] == sel_idx[:, None, :]
    mother = ak.where(ak.any(same, axis=2), ak.argmax(same, axis=2), -1)
    mother = ak.values_astype(ak.fill_none(mother, -1), np.int32)
    flags = ak.where(is_res, IS_HARD_PROCESS | FROM_HARD_PROCESS | IS_LAST_COPY, IS_HARD_PROCESS | FROM_HARD_PROCESS)
    p4 = _p4(sel.p)
    gen = ak.zip(
        {
            "pt": ak.values_astype(p4.pt, np.float32),
            "eta": ak.values_astype(p4.eta, np.float32),
            "phi": ak.values_astype(p4.phi, np.float32),
            "mass": ak.values_astype(sel.m, np.float32),
            "pdgId": ak.values_astype(sel.id, np.int32),
            "status": ak.values_astype(abs(sel.status), np.int32),
            "statusFlags": ak.values_astype(flags, np.int32),
            "genPartIdxMother": mother,
        }
    )
    # a resonance "decays to quarks" when one of its GenPart daughters is a quark
    gidx = ak.local_index(gen.pdgId, axis=1)
    is_quark_daughter = (abs(gen.pdgId) <= 5) & (gen.genPartIdxMother >= 0)
    has_quark = ak.any((gen.genPartIdxMother[:, None, :] == gidx[:, :, None]) & is_quark_daughter[:, None, :], axis=2)
    return gen, is_res & has_quark


def match_jets(
    jets: ak.Array, gen: ak.Array, hadronic: ak.Array, signal_bosons: Iterable[int], radius: float
) -> tuple[ak.Array, ak.Array, ak.Array]:
    """Per jet: index of the nearest hadronic signal boson within ``radius``, its distance, and containment.

    Parameters
    ----------
    jets : awkward.Array
        The jets per event, records with ``pt``, ``eta``, ``phi`` and ``mass``.
    gen : awkward.Array
        GenPart per event (``gen_particles``).
    hadronic : awkward.Array
        Bool per GenPart entry: a resonance decaying to quarks (``gen_particles``).
    signal_bosons : iterable of int
        The PDG ids (absolute) of the signal bosons.
    radius : float
        The matching radius in Delta R (the jets' radius).

    Returns
    -------
    boson_idx : awkward.Array
        Per jet, int32: the GenPart index of the nearest hadronic signal boson, -1 when none lies within
        ``radius``.
    boson_dr : awkward.Array
        Per jet, float32: the Delta R to the nearest hadronic signal boson, -1 when the event has none.
    contained : awkward.Array
        Per jet, bool: matched, and every GenPart daughter of the boson within ``radius`` of the jet axis.
    """
    is_signal = hadronic & _isin(abs(gen.pdgId), signal_bosons)
    bos = ak.zip({"pt": gen.pt, "eta": gen.eta, "phi": gen.phi, "mass": gen.mass}, with_name="Momentum4D")
    jv = ak.zip({"pt": jets.pt, "eta": jets.eta, "phi": jets.phi, "mass": jets.mass}, with_name="Momentum4D")
    dr = jv[:, :, None].deltaR(bos[:, None, :])  # (events, jets, genparts)
    dr_sig = ak.where(is_signal[:, None, :], dr, np.inf)
    best = ak.argmin(dr_sig, axis=2, keepdims=True)
    best_dr = ak.fill_none(ak.firsts(dr_sig[best], axis=2), np.inf)
    best_idx = ak.fill_none(ak.firsts(best, axis=2), -1)
    matched = best_dr < radius
    boson_idx = ak.where(matched, best_idx, -1)
    # contained: every GenPart daughter of the matched boson lies within radius of the jet axis
    daughter_of = gen.genPartIdxMother[:, None, :] == boson_idx[:, :, None]
    contained = matched & ak.all((dr < radius) | ~daughter_of, axis=2)
    has_any = ak.broadcast_arrays(ak.any(is_signal, axis=1), jets.pt)[0]
    return (
        ak.values_astype(boson_idx, np.int32),
        ak.values_astype(ak.where(has_any, best_dr, -1.0), np.float32),
        ak.values_astype(contained, np.bool_),
    )


def _visible(prt, species: SpeciesTable) -> dict:
    """The hard event's visible final-state particles as flat arrays, event by event (production points in cm)."""
    counts = ak.to_numpy(ak.num(prt.id, axis=1))
    pdg_id = _flat(prt.id)
    charge, visible = species.lookup(pdg_id)
    final = (_flat(prt.status) > 0) & visible
    vertex = production_point(prt)
    columns = {
        "event": np.repeat(np.arange(len(counts)), counts),
        "px": _flat(prt.p.px),
        "py": _flat(prt.p.py),
        "pz": _flat(prt.p.pz),
        "E": _flat(prt.p.e),
        "mass": _flat(prt.m),
        "pdg_id": pdg_id,
        "charge": charge,
        "vx": vertex[0],
        "vy": vertex[1],
        "vz": vertex[2],
    }
    return {k: np.asarray(v)[final] for k, v in columns.items()}


def batch_to_nanoaod(
    batch: Any,  # a Pythia nextBatch result (pythia8mc has no type hints)
    species: SpeciesTable,
    process: Process,
    selection: JetSelection,
    first_event: int,
    lumi_block: int,
    rng: np.random.Generator,
    detector: JetDetector = JetDetector(),
) -> tuple[dict, int]:
    """Convert one ``nextBatch`` result; return (branches, number of events the process filter dropped).

    The module docstring describes the branches.

    Parameters
    ----------
    batch : object
        A Pythia ``nextBatch`` result (awkward arrays ``prt`` and ``info``).
    species : SpeciesTable
        Charge and visibility of the particle species.
    process : Process
        The process (its ``require_hadronic`` filter and ``signal_bosons``).
    selection : JetSelection
        The jets kept.
    first_event : int
        The ``event`` number of the batch's first kept event (the rest follow consecutively).
    lumi_block : int
        The ``luminosityBlock`` of every event.
    rng : numpy.random.Generator
        The detector simulation's random stream (overlay, tracker, vertex finder).
    detector : JetDetector, optional
        The tracker's settings and the pile-up overlay; default: ``JetDetector()``, the simple tracker without
        pile-up.

    Returns
    -------
    branches : dict
        Branch and collection names to arrays (numpy per event, awkward collections), for ``write_events``;
        ``Pileup_nPU`` and ``Pileup_nTrueInt`` only with pile-up.
    n_dropped : int
        The events the process filter (``require_hadronic``) dropped.
    """
    prt = batch.prt
    gen, hadronic = gen_particles(prt)
    n_dropped = 0
    if process.require_hadronic:
        keep = ak.to_numpy(ak.any(hadronic & _isin(abs(gen.pdgId), process.signal_bosons), axis=1))
        n_dropped = int((~keep).sum())
        prt, gen, hadronic, batch = prt[keep], gen[keep], hadronic[keep], batch[keep]
    n_events = len(prt)

    hard = _visible(prt, species)
    particles, n_pu = seen_particles(hard, n_events, detector, rng)
    counts = np.bincount(particles["event"], minlength=n_events)
    offsets = np.cumsum(counts) - counts
    pt_flat = np.hypot(particles["px"], particles["py"])
    momenta = ak.unflatten(ak.zip({c: particles[c] for c in ("px", "py", "pz", "E")}), counts)

    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, selection.radius)
    cluster = fastjet.ClusterSequence(momenta, jetdef)
    jets_raw = cluster.inclusive_jets(min_pt=selection.pt_min)
    cidx = cluster.constituent_index(min_pt=selection.pt_min)
    jets4 = ak.zip({"px": jets_raw.px, "py": jets_raw.py, "pz": jets_raw.pz, "E": jets_raw.E}, with_name="Momentum4D")
    order = ak.argsort(jets4.pt, axis=1, ascending=False)
    jets4, cidx = jets4[order], cidx[order]
    good = abs(jets4.eta) < selection.abs_eta_max
    jets4, cidx = jets4[good], cidx[good]
    jets = ak.zip({"pt": jets4.pt, "eta": jets4.eta, "phi": jets4.phi, "mass": jets4.mass})

    # constituents, pt-ordered inside each jet; PFCands = the constituents of the kept jets
    n_per_jet = ak.num(cidx, axis=2)
    flat_cidx = ak.flatten(cidx, axis=2)
    cpt = ak.unflatten(ak.unflatten(pt_flat, counts)[flat_cidx], ak.flatten(n_per_jet), axis=1)
    cidx = cidx[ak.argsort(cpt, axis=2, ascending=False)]
    pf_idx = ak.flatten(cidx, axis=2)
    n_cands = ak.to_numpy(ak.num(pf_idx, axis=1))
    chosen = _flat(pf_idx) + np.repeat(offsets, n_cands)  # positions in the flat particle arrays
    cand = {k: v[chosen] for k, v in particles.items()}
    cand["pt"] = pt_flat[chosen]
    cand["eta"] = np.arcsinh(cand["pz"] / np.where(cand["pt"] > 0, cand["pt"], 1.0))
    cand["phi"] = np.arctan2(cand["py"], cand["px"])
    jet_of_cand = ak.flatten(ak.broadcast_arrays(ak.local_index(cidx, axis=1), cidx)[0], axis=2)

    # the tracker measures the charged constituents (impact parameters from their true production points)
    tracks, flat_tracks = measured_candidates(cand, n_cands, rng, detector.tracker.tracker_model())
    per_event = lambda a: ak.unflatten(a, n_cands)  # noqa: E731
    pt = per_event(cand["pt"])
    pf_id = per_event(pf_pdg_id(cand["pdg_id"], cand["pf_charge"]))

    f32 = lambda a: ak.values_astype(a, np.float32)  # noqa: E731
    pfcands = ak.zip(
        {
            "pt": f32(pt),
            "eta": f32(per_event(cand["eta"])),
            "phi": f32(per_event(cand["phi"])),
            "mass": f32(per_event(cand["mass"])),
            "charge": per_event(cand["pf_charge"].astype(np.int32)),
            "pdgId": ak.values_astype(pf_id, np.int32),
            "genPdgId": per_event(cand["pdg_id"].astype(np.int32)),
            **tracks,
            "puppiWeight": f32(ak.ones_like(pt)),
        }
    )
    link = ak.zip(
        {
            "jetIdx": ak.values_astype(jet_of_cand, np.int32),
            "pFCandsIdx": ak.values_astype(ak.local_index(pf_idx, axis=1), np.int32),
            "pt": f32(pt),
            **link_btag_variables(flat_tracks, jet_of_cand, jets),
        }
    )
    boson_idx, boson_dr, contained = match_jets(jets, gen, hadronic, process.signal_bosons, selection.radius)
    fatjet = ak.zip(
        {
            "pt": f32(jets.pt),
            "eta": f32(jets.eta),
            "phi": f32(jets.phi),
            "mass": f32(jets.mass),
            "rawFactor": f32(ak.zeros_like(jets.pt)),
            "nConstituents": ak.values_astype(n_per_jet, np.int32),
            "genBosonIdx": boson_idx,
            "genBosonDR": boson_dr,
            "genBosonContained": contained,
            **heavy_flavour(prt, jets, selection.radius),
        }
    )
    weights = ak.to_numpy(batch.info.weights[:, 0]).astype(np.float32)
    pthat = np.sqrt(ak.to_numpy(batch.info.pT2Hat)).astype(np.float32)
    branches = {
        "run": np.ones(n_events, dtype=np.uint32),
        "luminosityBlock": np.full(n_events, lumi_block, dtype=np.uint32),
        "event": np.arange(first_event, first_event + n_events, dtype=np.uint64),
        "genWeight": weights,
        # CMS NanoAOD's Generator table: binvar is the hard-process pT-hat
        "Generator_weight": weights,
        "Generator_binvar": pthat,
        "FatJet": fatjet,
        "FatJetPFCands": link,
        "PFCands": pfcands,
        "GenPart": gen,
        "SV": secondary_vertices(flat_tracks, n_events, rng, detector.tracker.vertexing_model()),
    }
    if detector.pileup.mu > 0:  # NanoAOD's pile-up record
        branches["Pileup_nPU"] = n_pu
        branches["Pileup_nTrueInt"] = np.full(n_events, detector.pileup.mu, dtype=np.float32)
    return branches, n_dropped
