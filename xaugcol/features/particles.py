"""The particle list of each jet: Agarwal, Rappoccio et al.'s (arXiv:2011.13466) 17 features per constituent,
pT-ordered, padded, with a mask.

Features (index: name):
 0 log_pt             log(pT / GeV)
 1 log_pt_rel         log(pT / pT_jet)
 2 log_e              log(E / GeV)
 3 abs_eta            |eta|
 4 dphi_jet           phi - phi_jet, wrapped to [-pi, pi)
 5 deta_jet           eta - eta_jet
 6 dr_jet             distance to the jet axis in (eta, phi)
 7 dr_subjet1         distance to the harder softdrop prong (the groomed jet axis for one-prong jets)
 8 dr_subjet2         distance to the softer prong (= dr_subjet1 for one-prong jets)
 9 charge
10 is_muon, 11 is_electron, 12 is_photon, 13 is_charged_hadron, 14 is_neutral_hadron   (from the PF pdgId)
15 dxy                transverse impact parameter d0 (cm; 0 for neutrals and where the file has none)
16 dz                 longitudinal impact parameter (cm)

Padded entries are 0 with mask False. Columnar: one (jets, n_max) pad of awkward arrays, no loop over jets.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from numpy.typing import ArrayLike

from xaugcol.features.packed import PackedArray

FEATURES = (
    "log_pt",
    "log_pt_rel",
    "log_e",
    "abs_eta",
    "dphi_jet",
    "deta_jet",
    "dr_jet",
    "dr_subjet1",
    "dr_subjet2",
    "charge",
    "is_muon",
    "is_electron",
    "is_photon",
    "is_charged_hadron",
    "is_neutral_hadron",
    "dxy",
    "dz",
)
N_FEATURES = len(FEATURES)
FEATURE_INDEX = {name: k for k, name in enumerate(FEATURES)}  # a feature's position in a particle's row
# a pT or energy of 0 would give log(0): floor at 1 MeV (PUPPI can weight a candidate down to ~0)
LOG_FLOOR = 1e-3


def per_jet(values: ArrayLike) -> ak.Array:
    """A per-jet numpy array as (jets, 1): broadcasts against (jets, particles) whether that is jagged or regular.

    A bare 1-d array would follow numpy's right-aligned rule against a regular array.

    Parameters
    ----------
    values : array_like
        Shape (jets,): one value per jet.

    Returns
    -------
    awkward.Array
        Shape (jets, 1): the values, each in a list of its own.
    """
    return ak.from_numpy(np.asarray(values))[:, np.newaxis]


def wrap_phi(dphi: Any) -> Any:
    """Wrap an azimuthal angle (difference) into [-pi, pi).

    Parameters
    ----------
    dphi : numpy.ndarray or awkward.Array or float
        Angles in radians, of any shape.

    Returns
    -------
    numpy.ndarray or awkward.Array or float
        The same angles shifted by multiples of 2 pi into [-pi, pi), of the type and shape of ``dphi``.
    """
    return (dphi + np.pi) % (2 * np.pi) - np.pi


def _dr(eta, phi, eta0, phi0):
    return np.hypot(eta - eta0, wrap_phi(phi - phi0))


def particle_list(constituents: ak.Array, jet: dict, subjets: dict, n_max: int = 50) -> tuple[PackedArray, PackedArray]:
    """(jets, n_max, 17) float32 features and (jets, n_max) bool mask, packed.

    Packed as ``xaugcol.features.packed`` does: the real particles only; ``np.asarray`` pads them. A jet's
    constituents beyond its ``n_max`` first are dropped.

    Parameters
    ----------
    constituents : awkward.Array
        Shape (jets, particles), jagged, pT-ordered Momentum4D records with pt, eta, phi, mass, E, charge, pdgId,
        d0, dz.
    jet : dict of str to numpy.ndarray
        Per-jet arrays, shape (jets,): ``pt`` (GeV), ``eta``, ``phi`` (radians).
    subjets : dict of str to numpy.ndarray
        Per-jet arrays, shape (jets,): ``sj1_eta``, ``sj1_phi``, ``sj2_eta``, ``sj2_phi``, ``sd_two_prong`` (> 0
        for a jet with two softdrop prongs; the second prong is taken as the first otherwise).
    n_max : int, default 50
        The particle slots per jet.

    Returns
    -------
    particles : PackedArray
        The (jets, n_max, 17) float32 features ``FEATURES``, in the prefix layout.
    mask : PackedArray
        The (jets, n_max) bool mask, True for the slots that hold a particle.
    """
    c = constituents[:, :n_max]
    pt, eta, phi = c.pt, c.eta, c.phi
    energy = c.E
    two = subjets["sd_two_prong"] > 0
    sj1_eta, sj1_phi = per_jet(subjets["sj1_eta"]), per_jet(subjets["sj1_phi"])
    sj2_eta = per_jet(np.where(two, subjets["sj2_eta"], subjets["sj1_eta"]))
    sj2_phi = per_jet(np.where(two, subjets["sj2_phi"], subjets["sj1_phi"]))
    jet_pt, jet_eta, jet_phi = per_jet(jet["pt"]), per_jet(jet["eta"]), per_jet(jet["phi"])
    pid = abs(c.pdgId)
    columns = [
        np.log(np.maximum(pt, LOG_FLOOR)),
        np.log(np.maximum(pt, LOG_FLOOR) / jet_pt),
        np.log(np.maximum(energy, LOG_FLOOR)),
        abs(eta),
        wrap_phi(phi - jet_phi),
        eta - jet_eta,
        _dr(eta, phi, jet_eta, jet_phi),
        _dr(eta, phi, sj1_eta, sj1_phi),
        _dr(eta, phi, sj2_eta, sj2_phi),
        c.charge,
        pid == 13,
        pid == 11,
        pid == 22,
        pid == 211,
        pid == 130,
        c.d0,
        c.dz,
    ]
    counts = ak.to_numpy(ak.num(c, axis=1))
    # every feature of every particle in one (particles, 17) block, jet after jet
    values = np.stack([ak.to_numpy(ak.flatten(col)).astype(np.float32) for col in columns], axis=1)
    particles = PackedArray.objects(values, counts, n_max)
    return particles, particles.mask()
