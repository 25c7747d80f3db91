"""The particle list (``xaugcol.features.particles``) as a tagger input: (particles, 17 features) per jet, each
feature standardised over the training split's real particles (padded slots stay zero), one feature per particle
feature (relevance summed over the particles), profiled per real particle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xaugcol.features.kinds.base import InputKind, ProfileEntries
from xaugcol.features.particles import FEATURES
from xaugcol.features.scaler import ObjectScaler

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
class ParticlesInput(InputKind):
    name = "particles"
    SCALINGS = ("standard", "none")
    n_particles: int = 50
    n_features: int = len(FEATURES)
    scaling: str = "standard"

    def __post_init__(self):
        if self.n_features != len(FEATURES):
            raise ValueError(f"particle lists carry {len(FEATURES)} features per particle ({', '.join(FEATURES)}), "
                             f"got {self.n_features}")

    @classmethod
    def from_config(cls, config) -> ParticlesInput:
        return cls(*config.shape_of(cls.name, (cls.n_particles, cls.n_features)),
                   config.scaling_of(cls.name, cls.SCALINGS[0]))

    def fit_scaler(self, tables, scan: dict) -> ObjectScaler:
        blocks = tables.blocks("train", ["particles"])
        return ObjectScaler.fit(FEATURES, ((b["particles"], real_particles(b["particles"])) for b in blocks))

    def check_scaler(self, scaler, where: str) -> None:
        if not isinstance(scaler, ObjectScaler) or scaler.features != FEATURES:
            raise ValueError(f"{where}: the particle scaler does not fit the tagger's particle features "
                             f"({', '.join(FEATURES)})")

    @classmethod
    def shape_settings(cls, shape) -> tuple[int, ...]:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or shape[0] < 1 or shape[1] != len(FEATURES):
            raise ValueError(f"a particle list is (particles, {len(FEATURES)} features): got shape {list(shape)}")
        return shape

    def columns(self) -> tuple[str, ...]:
        return ("particles",)

    def extra_columns(self) -> tuple[str, ...]:
        return ("particles_mask",)

    @property
    def table_column(self) -> str:
        return "particles"

    def tensor(self, rows: dict, scaler=None) -> np.ndarray:
        particles = rows["particles"]
        if scaler is None:
            return particles.astype(np.float32)
        return scaler.transform(particles, real_particles(particles))

    def model_arguments(self) -> dict:
        return {"n_particles": self.n_particles, "n_features": self.n_features}

    def feature_names(self) -> list[str]:
        return [PREFIX + f for f in FEATURES]

    def feature_sums(self, relevance: np.ndarray) -> np.ndarray:
        return np.abs(relevance).sum(axis=1)

    def binning(self, feature: str):
        return BINNING[feature.removeprefix(PREFIX)]

    def profile_entries(self, rows: dict, relevance: np.ndarray) -> list[ProfileEntries]:
        """One entry per real (unpadded) particle and feature."""
        mask = rows["particles_mask"].astype(bool)
        jet = np.nonzero(mask)[0]
        values, r = rows["particles"][mask], relevance[mask]  # (real particles, features)
        return [ProfileEntries(PREFIX + f, values[:, k], r[:, k], jet) for k, f in enumerate(FEATURES)]

    removal_unit = "particle"

    def unit_relevance(self, relevance):
        return relevance.sum(dim=2)  # a particle: all its features

    def present_units(self, x):
        return real_particles(x)

    def without_units(self, x, removed, baseline):
        """A removed particle becomes a padded slot (all zeros), which the masked taggers do not read."""
        return x * (~removed).unsqueeze(2).to(x.dtype)

    def object_positions(self, rows: dict):
        """(delta eta, delta phi) to the jet axis, marker size growing with the pT fraction."""
        p = rows["particles"]
        size = 400 * np.exp(p[..., FEATURES.index("log_pt_rel")])
        return (p[..., FEATURES.index("deta_jet")], p[..., FEATURES.index("dphi_jet")], size,
                rows["particles_mask"].astype(bool))


def real_particles(particles):
    """(jets, particles) True for a real particle, False for a padded slot (all zeros; a real particle never is:
    its pT fraction is not zero), for numpy arrays and torch tensors alike: the taggers' ``RealParticles``."""
    return (particles != 0).any(-1)
