"""The one NanoAOD-style writer shared by every generator.

Our files follow CMS PFNano names, so that one processor reads toy, Pythia and CMS files alike:

``run``, ``luminosityBlock``, ``event``, ``genWeight``
    event identity and generator weight (scalars per event)
``FatJet_*``
    jets: ``pt``, ``eta``, ``phi``, ``mass``, ``rawFactor`` (always 0: no corrections), ``nConstituents``
    and generator-specific truth
``FatJetPFCands_jetIdx``, ``FatJetPFCands_pFCandsIdx``, ``FatJetPFCands_pt``
    the jet -> candidate association (PFNano convention)
``PFCands_*``
    candidates: ``pt``, ``eta``, ``phi``, ``mass``, ``charge``, ``pdgId`` (PF convention: +-11, +-13, 22, +-211, 130),
    ``d0``, ``dz`` (cm) and ``puppiWeight`` (1: no pile-up in our events)
``GenPart_*``
    generator truth where the source has it (NanoAOD names, ``genPartIdxMother`` within GenPart)

Collections are awkward record arrays (one list per event); uproot writes them with an ``n<Name>`` counter
and ``<Name>_<field>`` branches, exactly the NanoAOD convention.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from xaugcol.atomic import atomic_path

TREE = "Events"


def pf_pdg_id(pdg_id: np.ndarray, charge: np.ndarray) -> np.ndarray:
    """Map generator particle ids onto the ids CMS particle flow gives its candidates.

    Electrons, muons and photons keep their id; other charged particles become charged hadrons (+-211),
    other neutral ones neutral hadrons (130), as the PF algorithm would label them.

    Parameters
    ----------
    pdg_id : numpy.ndarray
        Generator PDG ids.
    charge : numpy.ndarray
        The particles' charges (the sign of a charged hadron's id).

    Returns
    -------
    numpy.ndarray
        The particle-flow ids, int32, in the shape of ``pdg_id``.
    """
    pdg_id = np.asarray(pdg_id)
    charge = np.asarray(charge)
    absid = np.abs(pdg_id)
    keep = (absid == 11) | (absid == 13) | (absid == 22)
    hadron = np.where(charge != 0, 211 * np.sign(charge), 130).astype(np.int32)
    return np.where(keep, pdg_id, hadron).astype(np.int32)


def write_events(path: str | os.PathLike, chunks: Iterable[Mapping[str, Any]]) -> int:
    """Write chunks of events into ``path`` (tree ``Events``) atomically; return the number of events.

    Each chunk maps branch names (scalars per event, numpy) and collection names (awkward records, one list per
    event) to arrays; every chunk must have the same branches and types. The file appears under its final name
    only once every chunk is written.

    Parameters
    ----------
    path : str or os.PathLike
        The ROOT file to write (replaced if it exists).
    chunks : iterable of Mapping
        The chunks of events: mappings of branch or collection names to arrays, each with an ``event`` branch.

    Returns
    -------
    int
        The number of events written.

    Raises
    ------
    ValueError
        If ``chunks`` holds no chunk.
    """
    path = Path(path)
    n_events = 0
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as f:
            for chunk in chunks:
                chunk = dict(chunk)
                if TREE not in f:
                    # mktree (not assignment) gives the flat NanoAOD layout: nFatJet + FatJet_pt, ...
                    f.mktree(TREE, {k: _branch_type(v) for k, v in chunk.items()})
                f[TREE].extend(chunk)
                n_events += len(chunk["event"])
            if TREE not in f:
                raise ValueError(f"{path}: no chunk of events to write")
    return n_events


def _branch_type(array):
    return array.type if isinstance(array, ak.Array) else np.asarray(array).dtype


def collection(fields: Mapping[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    """Build a jagged record collection from flat per-object arrays and per-event counts.

    Parameters
    ----------
    fields : Mapping of str to numpy.ndarray
        The collection's fields, flat arrays of one entry per object (all of the same length); each becomes a
        ``<Name>_<field>`` branch once written.
    counts : numpy.ndarray
        The number of objects in each event; sums to the fields' length.

    Returns
    -------
    awkward.Array
        One list of records (with the given fields) per event.
    """
    counts = np.asarray(counts, dtype=np.int64)
    return ak.unflatten(ak.zip({k: np.asarray(v) for k, v in fields.items()}), counts)
