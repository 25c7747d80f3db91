"""The secondary-vertex list (``xaugcol.features.vertices``) as a tagger input: (vertices, 14 features) per jet,
standardised over the training split's real vertices, one feature per vertex feature, profiled per real vertex."""

from __future__ import annotations

from dataclasses import dataclass

from xaugcol.features.kinds.objects import ObjectListInput
from xaugcol.features.vertices import FEATURES

PREFIX = "sv:"
BINNING = {
    "ptrel": (50, 0.0, 1.0, r"SV $p_T / p_T^{jet}$"),
    "erel": (50, 0.0, 1.0, r"SV $E / E^{jet}$"),
    "phirel": (40, -0.8, 0.8, r"SV $\Delta\phi$(SV, jet)"),
    "etarel": (40, -0.8, 0.8, r"SV $\Delta\eta$(SV, jet)"),
    "deltaR": (40, 0.0, 0.8, r"SV $\Delta R$(SV, jet)"),
    "pt": (50, 0.0, 500.0, r"SV $p_T$ [GeV]"),
    "mass": (50, 0.0, 10.0, "SV mass [GeV]"),
    "ntracks": (15, -0.5, 14.5, "SV tracks"),
    "normchi2": (40, 0.0, 10.0, r"SV $\chi^2 / n_{dof}$"),
    "dxy": (50, 0.0, 5.0, r"SV $d_{xy}$ [cm]"),
    "dxysig": (50, 0.0, 200.0, r"SV $d_{xy} / \sigma$"),
    "d3d": (50, 0.0, 10.0, r"SV $d_{3D}$ [cm]"),
    "d3dsig": (50, 0.0, 200.0, r"SV $d_{3D} / \sigma$"),
    "costhetasvpv": (40, 0.9, 1.0, r"SV $\cos\theta$(flight, momentum)"),
}
assert tuple(BINNING) == FEATURES


@dataclass(frozen=True)
class VerticesInput(ObjectListInput):
    """The secondary-vertex list (module docstring).

    Parameters
    ----------
    n_objects : int, default 0
        The vertex slots per jet; 0: 5 (``DEFAULT_OBJECTS``).
    n_features : int, default 0
        The features per vertex; 0: ``len(FEATURES)``, the only number accepted.
    scaling : str, default "standard"
        How the features are scaled, one of ``SCALINGS`` (``standard``, ``none``, ``robust``).
    """

    name = "vertices"
    FEATURES = FEATURES
    BINNING = BINNING
    PREFIX = PREFIX
    DEFAULT_OBJECTS = 5
    COUNT_ARGUMENT, FEATURES_ARGUMENT = "n_vertices", "n_vertex_features"
    removal_unit = "secondary vertex"
