"""Secondary vertices of each AK8 jet: NanoAOD's ``SV`` collection (CMS files and ours alike) associated to the jets.

An SV belongs to every jet whose axis lies within Delta R < ``radius`` (0.8) of its flight direction (its momentum
direction, as NanoAOD's eta / phi); a jet's vertices are ordered by decreasing transverse flight significance
(``dxySig``), as DeepAK8 and PFNano's ``FatJetSVs`` order them. Checked against the ``FatJetSVs`` association CMS
stored in ``pfnano.root`` (tests/test_tracks.py).
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from xaugcol.jets.constituents import MissingBranchError

SV_INPUTS = ("pt", "eta", "phi", "mass", "ntracks", "chi2", "dxy", "dxySig", "dlen", "dlenSig", "pAngle")


def has_vertices(events: Any) -> bool:
    """Whether the events carry the secondary-vertex collection ``SV``.

    Parameters
    ----------
    events : Any
        A chunk's events (coffea's NanoEvents, or any awkward record array with ``fields``).

    Returns
    -------
    bool
        True when ``SV`` is one of their fields.
    """
    return "SV" in events.fields


def jet_vertices(
    events: Any, jet_eta: np.ndarray, jet_phi: np.ndarray, good: np.ndarray, radius: float = 0.8
) -> ak.Array:
    """The secondary vertices of each ``good`` jet: those of its event within ``radius`` of its axis.

    Parameters
    ----------
    events : Any
        A chunk's events (coffea's NanoEvents) with the ``SV`` and ``FatJet`` collections.
    jet_eta : numpy.ndarray
        The axes' eta of the good jets, shape (good jets,).
    jet_phi : numpy.ndarray
        The axes' phi (radians) of the good jets, shape (good jets,).
    good : numpy.ndarray
        Which of the chunk's FatJets (flat over the events) to associate, shape (jets,), bool.
    radius : float, default 0.8
        The largest Delta R between a jet's axis and a vertex's flight direction.

    Returns
    -------
    awkward.Array
        (good jets, vertices) records of the ``SV_INPUTS`` fields, each jet's vertices by decreasing ``dxySig``.

    Raises
    ------
    MissingBranchError
        An ``SV`` field of ``SV_INPUTS`` is missing.
    """
    sv = events.SV
    missing = [f for f in SV_INPUTS if f not in sv.fields]
    if missing:
        raise MissingBranchError(f"SV_{missing[0]}", "the secondary vertices of the jets")
    n_jets = ak.to_numpy(ak.num(events.FatJet, axis=1))
    event_of_jet = np.repeat(np.arange(len(n_jets)), n_jets)[good]
    per_jet = ak.zip({f: sv[f] for f in SV_INPUTS})[event_of_jet]  # each jet: its event's vertices
    eta = ak.from_numpy(np.asarray(jet_eta, dtype=np.float64))[:, np.newaxis]
    phi = ak.from_numpy(np.asarray(jet_phi, dtype=np.float64))[:, np.newaxis]
    dphi = (per_jet.phi - phi + np.pi) % (2 * np.pi) - np.pi
    near = np.hypot(per_jet.eta - eta, dphi) < radius
    mine = per_jet[near]
    return mine[ak.argsort(mine.dxySig, axis=1, ascending=False)]
