"""The particle list (``xaugcol.features.particles``) as a tagger input: (particles, 17 features) per jet, each
feature standardised over the training split's real particles (padded slots stay zero), one feature per particle
feature (relevance summed over the particles), profiled per real particle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xaugcol.features.kinds.objects import ObjectListInput, real_objects
from xaugcol.features.particles import FEATURES

PREFIX = "particle:"
# particle feature: (bins, low, high, label)
BINNING = {
    "log_pt": (40, -3.0, 7.0, r"$\log(p_T / \mathrm{GeV})$"),
    "log_pt_rel": (40, -10.0, 0.0, r"$\log(p_T / p_T^{jet})$"),
    "log_e": (40, -3.0, 8.0, r"$\log(E / \mathrm{GeV})$"),
    "abs_eta": (40, 0.0, 3.2, r"$|\eta|$"),
    "dphi_jet": (40, -1.0, 1.0, r"$\Delta\phi$(particle, jet)"),
    "deta_jet": (40, -1.0, 1.0, r"$\Delta\eta$(particle, jet)"),
    "dr_jet": (40, 0.0, 1.0, r"$\Delta R$(particle, jet)"),
    "dr_subjet1": (40, 0.0, 1.2, r"$\Delta R$(particle, subjet 1)"),
    "dr_subjet2": (40, 0.0, 1.2, r"$\Delta R$(particle, subjet 2)"),
    "charge": (3, -1.5, 1.5, "charge"),
    "is_muon": (2, -0.5, 1.5, "is muon"),
    "is_electron": (2, -0.5, 1.5, "is electron"),
    "is_photon": (2, -0.5, 1.5, "is photon"),
    "is_charged_hadron": (2, -0.5, 1.5, "is charged hadron"),
    "is_neutral_hadron": (2, -0.5, 1.5, "is neutral hadron"),
    "dxy": (40, -0.2, 0.2, r"$d_{xy}$ [cm]"),
    "dz": (40, -0.5, 0.5, r"$d_z$ [cm]"),
}
assert tuple(BINNING) == FEATURES


@dataclass(frozen=True)
class ParticlesInput(ObjectListInput):
    """The particle list (module docstring).

    Parameters
    ----------
    n_objects : int, default 0
        The particle slots per jet; 0: 50 (``DEFAULT_OBJECTS``).
    n_features : int, default 0
        The features per particle; 0: ``len(FEATURES)``, the only number accepted.
    scaling : str, default "standard"
        How the features are scaled, one of ``SCALINGS`` (``standard``, ``none``, ``robust``).
    """

    name = "particles"
    FEATURES = FEATURES
    BINNING = BINNING
    PREFIX = PREFIX
    DEFAULT_OBJECTS = 50
    COUNT_ARGUMENT, FEATURES_ARGUMENT = "n_particles", "n_features"
    removal_unit = "particle"
    POSITION_FEATURES = ("deta_jet", "dphi_jet", "log_pt_rel")

    @staticmethod
    def marker_size(log_pt_fraction: np.ndarray) -> np.ndarray:
        """The marker size of particles of the given log pT fraction: 400 * pT / pT_jet.

        Parameters
        ----------
        log_pt_fraction : numpy.ndarray
            The particles' log(pT / pT_jet) (``log_pt_rel``), any shape.

        Returns
        -------
        numpy.ndarray
            The marker sizes (points squared), of the shape of ``log_pt_fraction``.
        """
        return 400 * np.exp(log_pt_fraction)


real_particles = real_objects  # padding of a particle list is all zeros, as of every object list
