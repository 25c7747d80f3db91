"""The track list (``xaugcol.features.tracks``) as a tagger input: (tracks, 30 features) per jet, standardised over
the training split's real tracks, one feature per track feature, profiled per real track."""

from __future__ import annotations

from dataclasses import dataclass

from xaugcol.features.kinds.objects import ObjectListInput
from xaugcol.features.tracks import FEATURES

PREFIX = "track:"
BINNING = {
    "ptrel": (50, 0.0, 0.5, r"track $p_T / p_T^{jet}$"),
    "erel": (50, 0.0, 0.5, r"track $E / E^{jet}$"),
    "phirel": (40, -1.0, 1.0, r"track $\Delta\phi$(track, jet)"),
    "etarel": (40, -1.0, 1.0, r"track $\Delta\eta$(track, jet)"),
    "deltaR": (40, 0.0, 1.0, r"track $\Delta R$(track, jet)"),
    "drminsv": (40, 0.0, 1.0, r"track $\Delta R$ to the nearest SV"),
    "drsubjet1": (40, 0.0, 1.2, r"track $\Delta R$(track, subjet 1)"),
    "drsubjet2": (40, 0.0, 1.2, r"track $\Delta R$(track, subjet 2)"),
    "dz": (40, -0.5, 0.5, r"track $d_z$ [cm]"),
    "dzsig": (40, -50.0, 50.0, r"track $d_z / \sigma$"),
    "dxy": (40, -0.2, 0.2, r"track $d_{xy}$ [cm]"),
    "dxysig": (40, -50.0, 50.0, r"track $d_{xy} / \sigma$"),
    "normchi2": (40, 0.0, 10.0, r"track $\chi^2 / n_{dof}$"),
    "quality": (8, -0.5, 7.5, "track quality mask"),
    "dptdpt": (40, 0.0, 1e-4, r"track $\sigma^2(q/p)$ [GeV$^{-2}$]"),
    "detadeta": (40, 0.0, 1e-5, r"track $\sigma^2(\lambda)$"),
    "dphidphi": (40, 0.0, 1e-5, r"track $\sigma^2(\phi)$"),
    "dxydxy": (40, 0.0, 1e-4, r"track $\sigma^2(d_{xy})$ [cm$^2$]"),
    "dzdz": (40, 0.0, 1e-3, r"track $\sigma^2(d_z)$ [cm$^2$]"),
    "dxydz": (40, -1e-5, 1e-5, r"track cov($d_{xy}, d_z$)"),
    "dphidxy": (40, -1e-5, 1e-5, r"track cov($\phi, d_{xy}$)"),
    "dlambdadz": (40, -1e-5, 1e-5, r"track cov($\lambda, d_z$)"),
    "btagEtaRel": (40, 0.0, 8.0, r"track $\eta_{rel}$"),
    "btagPtRatio": (40, 0.0, 1.0, r"track $p_T^{rel} / p$"),
    "btagPParRatio": (40, 0.0, 1.0, r"track $p_{\parallel} / p$"),
    "btagSip2dVal": (40, -0.2, 0.2, r"track signed $IP_{2D}$ [cm]"),
    "btagSip2dSig": (40, -30.0, 30.0, r"track signed $IP_{2D} / \sigma$"),
    "btagSip3dVal": (40, -0.2, 0.2, r"track signed $IP_{3D}$ [cm]"),
    "btagSip3dSig": (40, -30.0, 30.0, r"track signed $IP_{3D} / \sigma$"),
    "btagJetDistVal": (40, -0.1, 0.0, "track distance to the jet axis [cm]"),
}
assert tuple(BINNING) == FEATURES


@dataclass(frozen=True)
class TracksInput(ObjectListInput):
    """The track list (module docstring).

    Parameters
    ----------
    n_objects : int, default 0
        The track slots per jet; 0: 60 (``DEFAULT_OBJECTS``).
    n_features : int, default 0
        The features per track; 0: ``len(FEATURES)``, the only number accepted.
    scaling : str, default "standard"
        How the features are scaled, one of ``SCALINGS`` (``standard``, ``none``, ``robust``).
    """

    name = "tracks"
    FEATURES = FEATURES
    BINNING = BINNING
    PREFIX = PREFIX
    DEFAULT_OBJECTS = 60
    COUNT_ARGUMENT, FEATURES_ARGUMENT = "n_tracks", "n_track_features"
    removal_unit = "track"
