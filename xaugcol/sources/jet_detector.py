"""What a jet event's particles look like to a CMS-like tracker before jets are clustered: the pile-up overlay,
charged-hadron subtraction, track efficiency and fake tracks, each a documented setting of ``TrackerSettings``.

The simple tracker (``TrackerSettings()``, every effect off) is the first version's: no pile-up, K0S and Lambda
undecayed, every charged particle in the acceptance a track, no fake tracks, SV errors from the tracks' resolution
alone. ``CMS_LIKE`` switches every effect on (the README's "A CMS-like tracker" table measures each one's worth on
the Interaction Network's AUC); pile-up itself comes from the source's ``pileup`` (mean interactions) as for the
lepton processes (``xaugcol.sources.pileup``).

* **V0 decays** (``v0_decays``): K0S, Lambda and the other strange hadrons decay where Pythia puts them when that is
  inside the tracker volume (a cylinder of r < 60 cm, |z| < 120 cm: ``ParticleDecays:limitCylinder``) instead of
  never (``tau0Max = 10 mm``); their daughters are displaced tracks (efficiency falling with the radius, below).
  ``v0_veto``: the vertex finder drops two-track vertices at the K0S mass, as CMS's (``xaugcol.sources.vertexing``).
  The pile-up pool keeps its strange hadrons undecayed (its settings are fixed by its key).
* **Charged-hadron subtraction** (``chs``, with pile-up): a charged pile-up particle with a track is removed before
  clustering when its interaction's vertex lies more than ``chs_sigma`` = 3 longitudinal resolutions
  (``TrackerModel.dz_resolution``, at least at 0.3 GeV) from the hard vertex: what CMS's CHS removes (candidates
  used in the fit of another vertex). Pile-up from vertices closer than that, lost tracks and every neutral particle
  stay in the jets, as in CMS's AK8 CHS jets.
* **Track efficiency** (``efficiency``, ``displaced_efficiency``): a charged hadron is tracked with probability
  ``efficiency`` when made inside the first pixel layer (2.9 cm), falling linearly to ``displaced_efficiency`` at
  the tracker's 60 cm (CMS's detached iterations find fewer of the tracks of V0 daughters far out); a lost one is
  a neutral candidate for particle flow (its energy in the calorimeters). Electrons and muons are always tracked.
* **Fake tracks** (``fake_rate``): each track has a fake neighbour with probability ``fake_rate`` (fakes come from
  hits of dense jet cores): direction within 0.02 in eta and phi of it, pT a uniform fraction 0.1-1 of its (at
  least the tracker's 0.5 GeV), a random charge, impact parameters drawn from Normal(0, 500 um) in d0 and
  Normal(0, 1 mm) in dz, a fit ``TrackerModel.fake_chi2_scale`` times worse; a pion for particle flow.
* **SV errors** (``sv_error_scale``): ``VertexingModel.error_scale``; **SV masses** (``pion_masses``) from the
  tracks taken as pions, as CMS's vertex fit (``VertexingModel.pion_masses``).
* **Covariance** (``covariance``): the six covariance terms of the track fit (``tracker.track_covariance``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from xaugcol.config_models import Bool, ConfigModel, Number
from xaugcol.sources.pileup import Overlay, PileupPool, PileupSettings, draw_overlay
from xaugcol.sources.tracker import TrackerModel
from xaugcol.sources.vertexing import PION_MASS, VertexingModel

CHS_MIN_PT = 0.3  # GeV: the resolution CHS uses below this is the one at 0.3 GeV
FAKE_DIRECTION = 0.02  # eta and phi spread of a fake track around the track it shares hits with
FAKE_D0 = 0.05  # cm
FAKE_DZ = 0.1  # cm
FAKE_PT_FRACTION = (0.1, 1.0)
TRACKER_CYLINDER = ("ParticleDecays:limitCylinder = on", "ParticleDecays:xyMax = 600", "ParticleDecays:zMax = 1200")
UNDECAYED_V0S = ("ParticleDecays:limitTau0 = on", "ParticleDecays:tau0Max = 10")  # CMS's generator convention


class TrackerSettings(ConfigModel):
    """The effects of the CMS-like tracker, each switched on or off (module docstring)."""

    v0_decays: Bool = False
    v0_veto: Bool = False
    chs: Bool = True
    chs_sigma: Number = Field(3.0, gt=0, le=100)
    efficiency: Number = Field(1.0, gt=0, le=1)
    displaced_efficiency: Number = Field(1.0, ge=0, le=1)
    fake_rate: Number = Field(0.0, ge=0, le=0.5)
    sv_error_scale: Number = Field(1.0, gt=0, le=100)
    pion_masses: Bool = False
    covariance: Bool = False

    def tracker_model(self) -> TrackerModel:
        """The tracker's measurement model, with the track fit's covariance terms when ``covariance`` is on.

        Returns
        -------
        TrackerModel
            The default tracker model with ``covariance`` set.
        """
        return TrackerModel(covariance=self.covariance)

    def vertexing_model(self) -> VertexingModel:
        """The secondary-vertex finder these settings ask for.

        Returns
        -------
        VertexingModel
            The default vertexing model with ``error_scale`` = ``sv_error_scale``, ``v0_veto`` and
            ``pion_masses`` set.
        """
        return VertexingModel(error_scale=self.sv_error_scale, v0_veto=self.v0_veto, pion_masses=self.pion_masses)

    def decay_settings(self) -> tuple[str, ...]:
        """Pythia's settings for where particles decay.

        Returns
        -------
        tuple of str
            ``TRACKER_CYLINDER`` (decays inside the tracker volume) when ``v0_decays`` is on, else
            ``UNDECAYED_V0S`` (no decay of particles with c tau above 10 mm).
        """
        return TRACKER_CYLINDER if self.v0_decays else UNDECAYED_V0S


# the CMS-like tracker (README, "A CMS-like tracker": each value, and what each effect is worth)
CMS_LIKE = TrackerSettings(
    v0_decays=True,
    v0_veto=True,
    efficiency=0.95,
    displaced_efficiency=0.4,
    fake_rate=0.02,
    sv_error_scale=3.0,
    pion_masses=True,
    covariance=True,
)
PRESETS = {"simple": TrackerSettings(), "cms_like": CMS_LIKE}


def tracker_settings(value: TrackerSettings | str | Mapping[str, Any]) -> TrackerSettings:
    """The tracker's settings from a preset's name (``PRESETS``) or a mapping of settings.

    Parameters
    ----------
    value : TrackerSettings or str or Mapping
        Settings (returned as they are), a preset's name (``"simple"`` or ``"cms_like"``) or a mapping of settings
        (the rest the simple tracker's).

    Returns
    -------
    TrackerSettings
        The validated settings.

    Raises
    ------
    ValueError
        If ``value`` names no preset (a mapping of invalid settings raises pydantic's ``ValidationError``).
    """
    if isinstance(value, TrackerSettings):
        return value
    if isinstance(value, str):
        if value not in PRESETS:
            raise ValueError(f"unknown tracker {value!r}; presets: {', '.join(PRESETS)}, or a mapping of settings")
        return PRESETS[value]
    return TrackerSettings.model_validate(value)


@dataclass(frozen=True)
class JetDetector:
    """What a jet process is seen with: the tracker's settings and the pile-up overlay (its pool when mu > 0).

    Parameters
    ----------
    tracker : TrackerSettings, default TrackerSettings()
        The tracker's effects; default: the simple tracker (every effect off).
    pileup : PileupSettings, default PileupSettings()
        The pile-up overlay; default: none (``mu`` = 0).
    pool : PileupPool or None, default None
        The minimum-bias interactions the overlay draws from; needed when ``pileup.mu`` > 0.

    Raises
    ------
    ValueError
        If ``pileup.mu`` > 0 and there is no ``pool``.
    """

    tracker: TrackerSettings = TrackerSettings()
    pileup: PileupSettings = PileupSettings()
    pool: PileupPool | None = None

    def __post_init__(self) -> None:
        if self.pileup.mu > 0 and self.pool is None:
            raise ValueError("pile-up with mu > 0 needs a pool of minimum-bias interactions")


def seen_particles(
    hard: dict, n_events: int, detector: JetDetector, rng: np.random.Generator
) -> tuple[dict, np.ndarray]:
    """The particles clustering sees, flat and ordered by event.

    The hard event's visible particles, the pile-up overlay after charged-hadron subtraction, and the fake tracks;
    each with ``oz`` (its interaction's z), ``fake``, ``reconstructed`` (False: a charged hadron the tracking
    lost), ``true_d0`` and ``true_dz`` (a fake track's drawn impact parameters, else NaN) and ``pf_charge`` (0 for
    a lost track); and the pile-up interactions of each event. The default detector draws no random number (the
    first tracker's stream).

    Parameters
    ----------
    hard : dict
        The hard event's visible particles as flat arrays: ``event, px, py, pz, E, mass, pdg_id, charge, vx, vy,
        vz`` (GeV; production points in cm), ``event`` the position of the event in the batch.
    n_events : int
        The events in the batch.
    detector : JetDetector
        The tracker's settings and the pile-up overlay.
    rng : numpy.random.Generator
        The random stream of the overlay, the track efficiency and the fake tracks.

    Returns
    -------
    particles : dict of str to numpy.ndarray
        The fields of ``hard`` and ``oz``, ``fake``, ``true_d0``, ``true_dz``, ``reconstructed`` and
        ``pf_charge``, flat over every particle, ordered by event (stably).
    n_pu : numpy.ndarray
        Shape (n_events,), int32: the pile-up interactions overlaid on each event (0 without pile-up).
    """
    n = len(hard["px"])
    particles = {
        **hard,
        "oz": np.zeros(n),
        "fake": np.zeros(n, bool),
        "true_d0": np.full(n, np.nan),
        "true_dz": np.full(n, np.nan),
    }
    settings, model = detector.tracker, detector.tracker.tracker_model()
    n_pu = np.zeros(n_events, dtype=np.int32)
    if detector.pileup.mu > 0:
        assert detector.pool is not None  # JetDetector.__post_init__: mu > 0 needs a pool
        overlay = draw_overlay(detector.pool, n_events, detector.pileup, rng)
        particles, n_pu = _joined(particles, _pileup(overlay, settings, model)), overlay.n_pu
    particles["reconstructed"] = _tracked(particles, settings, model, rng)
    if settings.fake_rate > 0:
        particles = _joined(particles, _fakes(particles, settings, model, rng))
    order = np.argsort(particles["event"], kind="stable")
    particles = {k: v[order] for k, v in particles.items()}
    particles["pf_charge"] = np.where(particles["reconstructed"], particles["charge"], 0.0)
    return particles, n_pu


def _joined(a: dict, b: dict) -> dict:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _pileup(overlay: Overlay, settings: TrackerSettings, model: TrackerModel) -> dict:
    """The overlay's particles that charged-hadron subtraction keeps."""
    o = overlay
    n = len(o.pt)
    px, py, pz = o.pt * np.cos(o.phi), o.pt * np.sin(o.phi), o.pt * np.sinh(o.eta)
    tracked = (o.charge != 0) & (np.abs(o.eta) < model.abs_eta_max)
    resolution = model.dz_resolution(np.maximum(o.pt, CHS_MIN_PT), o.eta)
    removed = settings.chs & tracked & (np.abs(o.interaction_z) > settings.chs_sigma * resolution)
    keep = ~removed
    columns = {
        "event": o.event,
        "px": px,
        "py": py,
        "pz": pz,
        "E": np.sqrt(px**2 + py**2 + pz**2 + o.mass**2),
        "mass": o.mass,
        "pdg_id": o.pdg_id.astype(np.int64),
        "charge": o.charge,
        "vx": o.vx,
        "vy": o.vy,
        "vz": o.vz,
        "oz": o.interaction_z,
        "fake": np.zeros(n, bool),
        "true_d0": np.full(n, np.nan),
        "true_dz": np.full(n, np.nan),
    }
    return {k: v[keep] for k, v in columns.items()}


def _tracked(p: dict, settings: TrackerSettings, model: TrackerModel, rng) -> np.ndarray:
    """Whether each particle's track was found (True for neutrals, electrons and muons)."""
    n = len(p["px"])
    if settings.efficiency >= 1 and settings.displaced_efficiency >= 1:
        return np.ones(n, bool)
    radius = np.hypot(p["vx"], p["vy"])
    first = model.pixel_layers[0]
    reach = np.clip((radius - first) / (model.radius_max - first), 0.0, 1.0)
    probability = settings.efficiency + (settings.displaced_efficiency - settings.efficiency) * reach
    hadron = (p["charge"] != 0) & ~np.isin(np.abs(p["pdg_id"]), (11, 13))
    return ~hadron | (rng.random(n) < probability)


def _fakes(p: dict, settings: TrackerSettings, model: TrackerModel, rng) -> dict:
    """One fake track beside each real track with probability ``fake_rate``."""
    pt = np.hypot(p["px"], p["py"])
    eta = np.arcsinh(p["pz"] / np.maximum(pt, 1e-12))
    radius = np.hypot(p["vx"], p["vy"])
    track = (
        (p["charge"] != 0)
        & p["reconstructed"]
        & (pt > model.pt_min)
        & (np.abs(eta) < model.abs_eta_max)
        & (radius < model.radius_max)
    )
    n = len(pt)
    spawn = track & (rng.random(n) < settings.fake_rate)
    parent = np.nonzero(spawn)[0]
    k = len(parent)
    f_pt = np.maximum(pt[parent] * rng.uniform(*FAKE_PT_FRACTION, k), model.pt_min * 1.01)
    f_eta = eta[parent] + rng.normal(0.0, FAKE_DIRECTION, k)
    f_phi = np.arctan2(p["py"][parent], p["px"][parent]) + rng.normal(0.0, FAKE_DIRECTION, k)
    px, py, pz = f_pt * np.cos(f_phi), f_pt * np.sin(f_phi), f_pt * np.sinh(f_eta)
    charge = np.where(rng.random(k) < 0.5, -1.0, 1.0)
    oz = p["oz"][parent]
    return {
        "event": p["event"][parent],
        "px": px,
        "py": py,
        "pz": pz,
        "E": np.sqrt(px**2 + py**2 + pz**2 + PION_MASS**2),
        "mass": np.full(k, PION_MASS),
        "pdg_id": np.zeros(k, np.int64),
        "charge": charge,
        "vx": np.zeros(k),
        "vy": np.zeros(k),
        "vz": oz,
        "oz": oz,
        "fake": np.ones(k, bool),
        "reconstructed": np.ones(k, bool),
        "true_d0": rng.normal(0.0, FAKE_D0, k),
        "true_dz": oz + rng.normal(0.0, FAKE_DZ, k),
    }
