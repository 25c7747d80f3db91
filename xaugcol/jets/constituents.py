"""One adapter from any NanoAOD-style file to each AK8 jet's constituents.

Layouts understood (found from the branches present, not from a flag):

* ``pfnano``: CMS PFNano and our own generated files: ``FatJetPFCands_jetIdx`` / ``FatJetPFCands_pFCandsIdx`` ->
  ``PFCands_*``; the PUPPI weight ``PFCands_puppiWeight`` multiplies each candidate's four-momentum (our
  generators write weight 1);
* ``nanov15``: CMS NanoAODv15: ``FatJetPFCand_jetIdx`` / ``FatJetPFCand_pfCandIdx`` -> ``PFCand_*``, whose pt
  already carries the PUPPI weight;
* ``stored``: plain NanoAOD with no PF candidates: no particle-level inputs; the XAUG variables come from the
  stored FatJet / SubJet branches (``xaugcol.jets.stored``).

Columnar throughout: the links of a chunk are grouped jet by jet with one stable sort on a global jet index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import vector

from xaugcol.errors import InputDataError

vector.register_awkward()


class MissingBranchError(InputDataError, KeyError):
    """A branch the processing needs is absent; names the branch and what needs it.

    Parameters
    ----------
    branch : str
        The missing branch (``Collection_field``, or the counter ``nCollection`` for a missing collection).
    needed_for : str
        What needs it, in words.
    where : str, default ""
        The file it is missing from, where known (prefixed to the message).
    """

    def __init__(self, branch: str, needed_for: str, where: str = ""):
        self.branch, self.needed_for, self.where = branch, needed_for, where
        super().__init__(f"{where + ': ' if where else ''}missing branch {branch!r}, needed for {needed_for}")

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self):  # picklable: raised in futures / Dask workers
        return (type(self), (self.branch, self.needed_for, self.where))


@dataclass(frozen=True)
class Layout:
    """Where a NanoAOD flavour keeps the FatJets' constituents.

    ``STORED`` has no candidates at all: every field but ``name`` is None.

    Parameters
    ----------
    name : str
        The layout's name: ``pfnano``, ``nanov15`` or ``stored``.
    link : str or None
        The collection of jet -> candidate links.
    link_cand : str or None
        The field of the link holding the candidate index.
    cands : str or None
        The candidate collection.
    puppi_weight : str or None
        The candidate field to multiply the four-momentum by; None: the pt already carries the PUPPI weight.
    """

    name: str
    link: str | None  # collection of jet -> candidate links
    link_cand: str | None  # field of the link holding the candidate index
    cands: str | None  # candidate collection
    puppi_weight: str | None  # candidate field to multiply the four-momentum by, if any


LAYOUTS = (
    Layout("pfnano", "FatJetPFCands", "pFCandsIdx", "PFCands", "puppiWeight"),
    Layout("nanov15", "FatJetPFCand", "pfCandIdx", "PFCand", None),
)
STORED = Layout("stored", None, None, None, None)

CANDIDATE_FIELDS = ("pt", "eta", "phi", "mass", "pdgId")
OPTIONAL_FIELDS = ("charge", "d0", "dz")  # charge is derived from pdgId, impact parameters 0 when absent
# a track's measurement (CMS PFNano PFCands_*) and PFNano's per-track b-tagging variables (FatJetPFCands_*): carried
# when the file has them (``xaugcol.features.tracks`` lists the rest as unavailable)
MEASUREMENT_FIELDS = (
    "d0Err",
    "dzErr",
    "trkChi2",
    "trkQuality",
    "lostInnerHits",
    "dptdpt",
    "detadeta",
    "dphidphi",
    "dxydz",
    "dphidxy",
    "dlambdadz",
)  # the fit's covariance terms
LINK_FIELDS = ("btagEtaRel", "btagPtRatio", "btagPParRatio", "btagSip3dVal", "btagSip3dSig", "btagJetDistVal")


def detect_layout(events: Any) -> Layout:
    """The layout of ``LAYOUTS`` whose collections the events have; ``STORED`` when none.

    Parameters
    ----------
    events : Any
        A chunk's events (coffea's NanoEvents, or any awkward record array with ``fields``).

    Returns
    -------
    Layout
        The first layout whose link or candidate collection is among the fields, else ``STORED``.
    """
    fields = set(events.fields)
    for layout in LAYOUTS:
        if layout.link in fields or layout.cands in fields:
            return layout
    return STORED


def _field(collection, name: str, branch: str, needed_for: str):
    if name not in collection.fields:
        raise MissingBranchError(branch, needed_for)
    return collection[name]


def charge_from_pdg(pdg: np.ndarray) -> np.ndarray:
    """Electric charge of particle-flow candidates from their id (NanoAODv15 does not store it).

    Parameters
    ----------
    pdg : numpy.ndarray
        The candidates' PDG ids, shape (candidates,).

    Returns
    -------
    numpy.ndarray
        Shape (candidates,), int32: +1 for 211, -11, -13; -1 for -211, 11, 13; 0 for every other id.
    """
    pdg = np.asarray(pdg)
    charge = np.zeros(len(pdg), dtype=np.int32)
    charge[np.isin(pdg, [211, -11, -13])] = 1
    charge[np.isin(pdg, [-211, 11, 13])] = -1
    return charge


def jet_constituents(events: ak.Array, layout: Layout) -> ak.Array:
    """Constituents of every FatJet, pT-ordered inside each jet; jets with no links get an empty list.

    Parameters
    ----------
    events : awkward.Array
        A chunk's events (coffea's NanoEvents) with ``FatJet``, the layout's link and candidate collections.
    layout : Layout
        The file's layout (``detect_layout``), one with PF candidates.

    Returns
    -------
    awkward.Array
        (events, jets, particles) ``Momentum4D`` records of pt (GeV), eta, phi (radians), mass (GeV), charge,
        pdgId, d0, dz (PUPPI-weighted where the layout says so; d0 and dz 0 where the file has none), and those of
        ``MEASUREMENT_FIELDS`` / ``LINK_FIELDS`` the file has.

    Raises
    ------
    ValueError
        A layout without PF candidates (``STORED``), or a link index that points outside its collection.
    MissingBranchError
        A collection or branch the constituents need is missing.
    """
    if layout is STORED or layout.link_cand is None:  # STORED alone has no links
        raise ValueError("the file has no PF candidates: particle-level inputs are unavailable")
    need = f"the constituents of each FatJet ({layout.name} layout)"
    if "FatJet" not in events.fields:
        raise MissingBranchError("nFatJet", need)
    if layout.link not in events.fields:
        raise MissingBranchError(f"{layout.link}_jetIdx", need)
    if layout.cands not in events.fields:
        raise MissingBranchError(f"{layout.cands}_pt", need)
    link, cands = events[layout.link], events[layout.cands]
    jet_idx = _np(ak.flatten(_field(link, "jetIdx", f"{layout.link}_jetIdx", need)), np.int64)
    cand_idx = _np(ak.flatten(_field(link, layout.link_cand, f"{layout.link}_{layout.link_cand}", need)), np.int64)

    n_links = _np(ak.num(link, axis=1), np.int64)
    n_jets = _np(ak.num(events.FatJet, axis=1), np.int64)
    n_cands = _np(ak.num(cands, axis=1), np.int64)
    event_of_link = np.repeat(np.arange(len(n_links)), n_links)
    if np.any(jet_idx < 0) or np.any(jet_idx >= n_jets[event_of_link]):
        raise ValueError(f"{layout.link}_jetIdx points outside FatJet")
    if np.any(cand_idx < 0) or np.any(cand_idx >= n_cands[event_of_link]):
        raise ValueError(f"{layout.link}_{layout.link_cand} points outside {layout.cands}")

    # global jet and candidate indices, then one stable sort groups the links jet by jet
    jet_offset = np.concatenate([[0], np.cumsum(n_jets)[:-1]])
    cand_offset = np.concatenate([[0], np.cumsum(n_cands)[:-1]])
    global_jet = jet_offset[event_of_link] + jet_idx
    order = np.argsort(global_jet, kind="stable")
    global_cand = (cand_offset[event_of_link] + cand_idx)[order]
    per_jet = np.bincount(global_jet, minlength=int(n_jets.sum()))

    flat = {}
    for name in CANDIDATE_FIELDS:
        flat[name] = _np(ak.flatten(_field(cands, name, f"{layout.cands}_{name}", need)))[global_cand]
    for name in OPTIONAL_FIELDS:
        if name in cands.fields:
            flat[name] = _np(ak.flatten(cands[name]))[global_cand]
    flat["pdgId"] = flat["pdgId"].astype(np.int32)
    flat["charge"] = flat["charge"].astype(np.int32) if "charge" in flat else charge_from_pdg(flat["pdgId"])
    for name in ("d0", "dz"):
        flat[name] = flat.get(name, np.zeros(len(global_cand))).astype(np.float32)
    extra = [name for name in MEASUREMENT_FIELDS if name in cands.fields]
    for name in extra:
        flat[name] = _np(ak.flatten(cands[name]))[global_cand]
    for name in LINK_FIELDS:
        if name in link.fields:
            flat[name] = _np(ak.flatten(link[name]))[order]
            extra.append(name)
    if layout.puppi_weight is not None:
        weight = _np(
            ak.flatten(
                _field(cands, layout.puppi_weight, f"{layout.cands}_{layout.puppi_weight}", need + " (PUPPI weights)")
            )
        )[global_cand]
        # PUPPI scales the whole four-momentum: pt and mass by the weight, eta and phi unchanged
        flat["pt"] = flat["pt"] * weight
        flat["mass"] = flat["mass"] * weight

    parts = ak.zip(
        {k: flat[k] for k in ("pt", "eta", "phi", "mass", "charge", "pdgId", "d0", "dz", *extra)},
        with_name="Momentum4D",
    )
    per_event_jets = ak.unflatten(parts, per_jet)
    per_event_jets = per_event_jets[ak.argsort(per_event_jets.pt, axis=1, ascending=False)]
    return ak.unflatten(per_event_jets, n_jets)


def _np(a, dtype=None) -> np.ndarray:
    out = ak.to_numpy(a) if not isinstance(a, np.ndarray) else a
    return out.astype(dtype) if dtype is not None else out
