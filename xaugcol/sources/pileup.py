"""Pile-up as CMS simulates it: minimum-bias interactions overlaid on each hard event, each from its own vertex.

**The pool.** Minimum-bias interactions are expensive next to what is done with them, so a run generates a pool of
``pool_size`` (default 5 000) once: Pythia 8 ``SoftQCD:nonDiffractive`` at the run's centre-of-mass energy, with
its own seed derived from the run's seed, every visible final-state particle within |eta| < ``pool_eta_max`` = 3
kept (about 105 per interaction; pT, eta, phi, mass, PDG id, charge and production point). It is written into the
generator's output folder (``pileup/pool.npz`` and ``pileup/pool.json``: the settings it was made with and the
SHA-256 of the arrays) and read by every worker. A later run into the same folder reuses it only when the settings
match and the file's digest is the recorded one; otherwise (other settings, a truncated or edited file) it is made
again, and the run says so. About 9 s and 9 MB for 5 000 interactions.

**The overlay.** Each hard event gets n ~ Poisson(mu) interactions (recorded as NanoAOD does: ``Pileup_nPU`` = n,
``Pileup_nTrueInt`` = mu), drawn from the pool with replacement. Each is rotated by a uniform azimuth and reflected
in eta with probability 1/2, and placed at its own vertex z ~ Normal(0, sqrt(2) sigma_z) relative to the hard
vertex (both vertices are drawn from the beam spot, sigma_z = ``sigma_z_cm`` = 3.5 cm; the event's coordinates are
centred on the hard vertex). Reuse stays invisible: at mu = 50 a pool of 5 000 lends each interaction to one event
in 100, and a lepton's 0.8 x 0.8 window covers 2 % of the |eta| < 2.5 acceptance, so two events that share an
interaction almost never see the same part of it, and when they do it is rotated and shifted.

Pythia's minimum bias carries 1.35 GeV of visible E_T per interaction per unit eta-phi area at 13 TeV (measured on
the pool; 66 GeV at mu = 50).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from xaugcol.atomic import atomic_path, write_json
from xaugcol.errors import InputDataError
from xaugcol.limits import MAX_MU, MAX_POOL
from xaugcol.paths import check_regular, read_json, under

POOL_FOLDER = "pileup"
POOL_FILE = "pool.npz"
POOL_RECORD = "pool.json"
POOL_STREAM = 0x9E11  # the pool's seed stream, apart from the generators' own
POOL_ARRAYS = ("offsets", "pt", "eta", "phi", "mass", "pdg_id", "charge", "vx", "vy", "vz")  # in the file
MINIMUM_BIAS = ("SoftQCD:nonDiffractive = on",)
MAX_POOL_BYTES = 2 << 30  # the largest pool (MAX_POOL interactions of ~110 particles, 37 bytes each) is ~0.8 GB


class PileupError(InputDataError):
    """A pile-up pool that cannot be used: names the file and what is wrong."""


class PileupSettings(BaseModel):
    """The overlay of one run: ``mu`` interactions on average per event (0: none) and the pool they come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mu: float = Field(0.0, ge=0, le=MAX_MU)
    pool_size: int = Field(5000, ge=1, le=MAX_POOL)
    sigma_z_cm: float = Field(3.5, ge=0, le=100)
    pool_eta_max: float = Field(3.0, gt=0, le=10)

    def pool_key(self, seed: int, ecm: float) -> dict:
        """What the pool depends on (mu and sigma_z do not: they act when it is used).

        Parameters
        ----------
        seed : int
            The run's seed (the pool's Pythia seed is derived from it).
        ecm : float
            The centre-of-mass energy, GeV.

        Returns
        -------
        dict
            ``pool_size``, ``pool_eta_max``, ``seed``, ``ecm``, the minimum-bias Pythia ``settings`` and the
            ``pythia8mc`` version: the key recorded beside the pool and compared before reusing it.
        """
        import pythia8mc

        return {
            "pool_size": self.pool_size,
            "pool_eta_max": self.pool_eta_max,
            "seed": int(seed),
            "ecm": float(ecm),
            "settings": list(MINIMUM_BIAS),
            "pythia8mc": getattr(pythia8mc, "__version__", "unknown"),
        }


@dataclass(frozen=True)
class ParticleArrays:
    """Particles as flat arrays: kinematics, PDG id, charge and production point (cm).

    Parameters
    ----------
    pt : numpy.ndarray
        Transverse momenta, GeV.
    eta : numpy.ndarray
        Pseudorapidities.
    phi : numpy.ndarray
        Azimuths, radians.
    mass : numpy.ndarray
        Masses, GeV.
    pdg_id : numpy.ndarray
        PDG ids, int32.
    charge : numpy.ndarray
        Charges, in units of e.
    vx : numpy.ndarray
        The production points' x, cm.
    vy : numpy.ndarray
        The production points' y, cm.
    vz : numpy.ndarray
        The production points' z, cm.
    """

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    pdg_id: np.ndarray
    charge: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    vz: np.ndarray


PARTICLE_FIELDS = tuple(ParticleArrays.__dataclass_fields__)


@dataclass(frozen=True)
class PileupPool(ParticleArrays):
    """Minimum-bias interactions: interaction k holds particles offsets[k]:offsets[k + 1].

    The particles' production points are relative to their interaction's vertex. As ``generate_pool`` makes it,
    the particle arrays are float32 (``pdg_id`` int32, ``charge`` int8).

    Parameters
    ----------
    pt : numpy.ndarray
        Transverse momenta, GeV, flat over every interaction's particles.
    eta : numpy.ndarray
        Pseudorapidities.
    phi : numpy.ndarray
        Azimuths, radians.
    mass : numpy.ndarray
        Masses, GeV.
    pdg_id : numpy.ndarray
        PDG ids.
    charge : numpy.ndarray
        Charges, in units of e.
    vx : numpy.ndarray
        The production points' x, cm, relative to the interaction's vertex.
    vy : numpy.ndarray
        The production points' y, cm.
    vz : numpy.ndarray
        The production points' z, cm.
    offsets : numpy.ndarray
        Shape (interactions + 1,), int64: where each interaction's particles start, from 0 to the particles' count.
    """

    offsets: np.ndarray

    @property
    def size(self) -> int:
        """The number of interactions in the pool."""
        return len(self.offsets) - 1

    @property
    def counts(self) -> np.ndarray:
        """The number of particles of each interaction, shape (interactions,)."""
        return np.diff(self.offsets)


@dataclass(frozen=True)
class Overlay(ParticleArrays):
    """The overlaid particles of a batch of events.

    ``event`` the event of each (position in the batch), ``n_pu`` the interactions per event; production points
    relative to the hard vertex, and ``interaction_z`` the z of each particle's interaction vertex (cm, relative to
    the hard vertex).

    Parameters
    ----------
    pt : numpy.ndarray
        Transverse momenta, GeV, flat over the overlaid particles.
    eta : numpy.ndarray
        Pseudorapidities.
    phi : numpy.ndarray
        Azimuths, radians, in [-pi, pi).
    mass : numpy.ndarray
        Masses, GeV.
    pdg_id : numpy.ndarray
        PDG ids.
    charge : numpy.ndarray
        Charges, in units of e.
    vx : numpy.ndarray
        The production points' x, cm.
    vy : numpy.ndarray
        The production points' y, cm.
    vz : numpy.ndarray
        The production points' z, cm, relative to the hard vertex.
    n_pu : numpy.ndarray
        Shape (events,), int32: the interactions overlaid on each event of the batch.
    event : numpy.ndarray
        Each particle's event (its position in the batch).
    interaction_z : numpy.ndarray
        The z of each particle's interaction vertex, cm, relative to the hard vertex.
    """

    n_pu: np.ndarray
    event: np.ndarray
    interaction_z: np.ndarray

    def select(self, keep: np.ndarray) -> Overlay:
        """The particles ``keep`` (a mask or indices), ``n_pu`` unchanged.

        Parameters
        ----------
        keep : numpy.ndarray
            A boolean mask over the particles, or the indices of those to keep.

        Returns
        -------
        Overlay
            The kept particles, with every event's ``n_pu``.
        """
        fields = {k: getattr(self, k)[keep] for k in ("event", "interaction_z", *PARTICLE_FIELDS)}
        return Overlay(n_pu=self.n_pu, **fields)

    @classmethod
    def empty(cls, n_events: int) -> Overlay:
        """No particles, no interactions in ``n_events`` events.

        Parameters
        ----------
        n_events : int
            The events in the batch.

        Returns
        -------
        Overlay
            Empty particle arrays and ``n_pu`` zero for each of the ``n_events`` events.
        """
        fields = {k: np.zeros(0, dtype=np.int32 if k == "pdg_id" else np.float64) for k in PARTICLE_FIELDS}
        return cls(
            n_pu=np.zeros(n_events, dtype=np.int32),
            event=np.zeros(0, dtype=np.int64),
            interaction_z=np.zeros(0),
            **fields,
        )


def draw_overlay(
    pool: PileupPool,
    n_events: int,
    settings: PileupSettings,
    rng: np.random.Generator,
    events: np.ndarray | None = None,
) -> Overlay:
    """n ~ Poisson(mu) interactions per event from the pool, each rotated, maybe reflected and displaced.

    Every event's interactions are drawn (the stream does not depend on ``events``); only those of ``events``
    (positions in the batch; all when None) are expanded into particles, which is where the time goes. Each
    interaction is drawn from the pool with replacement, rotated by a uniform azimuth, reflected in eta (and z) with
    probability 1/2, and placed at a vertex z ~ Normal(0, sqrt(2) ``sigma_z_cm``) from the hard vertex.

    Parameters
    ----------
    pool : PileupPool
        The minimum-bias interactions to draw from.
    n_events : int
        The events in the batch.
    settings : PileupSettings
        Its ``mu`` (mean interactions per event; 0: none) and ``sigma_z_cm``.
    rng : numpy.random.Generator
        The caller's random stream.
    events : numpy.ndarray or None, optional
        The positions in the batch of the events whose particles are wanted; None: every event.

    Returns
    -------
    Overlay
        The overlaid particles (float64 kinematics), ``n_pu`` for every event of the batch.
    """
    n_pu = rng.poisson(settings.mu, n_events) if settings.mu > 0 else np.zeros(n_events, dtype=np.int64)
    total = int(n_pu.sum())
    which = rng.integers(0, pool.size, total)
    rotation = rng.uniform(-np.pi, np.pi, total)
    sign = np.where(rng.random(total) < 0.5, -1.0, 1.0)
    vertex_z = rng.normal(0.0, np.sqrt(2.0) * settings.sigma_z_cm, total)
    interaction_event = np.repeat(np.arange(n_events), n_pu)
    if events is not None:
        chosen = np.isin(interaction_event, events)
        which, rotation, sign, vertex_z = which[chosen], rotation[chosen], sign[chosen], vertex_z[chosen]
        interaction_event = interaction_event[chosen]
    counts = pool.counts[which]
    owner = np.repeat(np.arange(len(which)), counts)  # interaction of each particle
    first = np.repeat(pool.offsets[which] - (np.cumsum(counts) - counts), counts)
    part = first + np.arange(len(owner))  # its position in the pool
    cos, sin = np.cos(rotation)[owner], np.sin(rotation)[owner]
    vx, vy = pool.vx[part], pool.vy[part]
    return Overlay(
        n_pu=n_pu.astype(np.int32),
        event=interaction_event[owner],
        interaction_z=vertex_z[owner],
        pt=pool.pt[part].astype(np.float64),
        eta=pool.eta[part] * sign[owner],
        phi=np.mod(pool.phi[part] + rotation[owner] + np.pi, 2 * np.pi) - np.pi,
        mass=pool.mass[part].astype(np.float64),
        pdg_id=pool.pdg_id[part],
        charge=pool.charge[part].astype(np.float64),
        vx=cos * vx - sin * vy,
        vy=sin * vx + cos * vy,
        vz=vertex_z[owner] + pool.vz[part] * sign[owner],
    )


def generate_pool(
    settings: PileupSettings, seed: int, ecm: float, advance: Callable[[int], None] | None = None
) -> PileupPool:
    """A fresh pool from Pythia (``advance(n)`` reports interactions made).

    Pythia 8 ``SoftQCD:nonDiffractive``, particles with c tau above 10 mm undecayed; every visible final-state
    particle with pT > 0 within |eta| < ``pool_eta_max`` kept.

    Parameters
    ----------
    settings : PileupSettings
        The pool's ``pool_size`` (interactions) and ``pool_eta_max``.
    seed : int
        The run's seed: the pool's Pythia seed is derived from it and ``POOL_STREAM``.
    ecm : float
        The centre-of-mass energy, GeV.
    advance : callable or None, optional
        Called with the number of interactions made after each batch of up to 1 000 (a progress bar's).

    Returns
    -------
    PileupPool
        ``pool_size`` interactions, particle arrays float32 (``pdg_id`` int32, ``charge`` int8).
    """
    import awkward as ak

    from xaugcol.sources.pythia_config import configured_pythia
    from xaugcol.sources.pythia_tracks import flat, production_point
    from xaugcol.sources.species import SpeciesTable

    pythia_seed = int(np.random.SeedSequence([int(seed), POOL_STREAM]).generate_state(1)[0]) % 900_000_000 + 1
    pythia = configured_pythia(
        [
            f"Beams:eCM = {ecm}",
            "Print:quiet = on",
            "Random:setSeed = on",
            f"Random:seed = {pythia_seed}",
            "ParticleDecays:limitTau0 = on",
            "ParticleDecays:tau0Max = 10",
            *MINIMUM_BIAS,
        ],
        "the pile-up pool",
    )
    species = SpeciesTable(pythia.particleData)
    parts, counts, remaining = [], [], settings.pool_size
    while remaining > 0:
        batch = pythia.nextBatch(min(remaining, 1000))
        prt = batch.prt
        per_event = ak.to_numpy(ak.num(prt.id, axis=1))
        pid, status = flat(prt.id), flat(prt.status)
        px, py, pz = (flat(getattr(prt.p, c)) for c in ("px", "py", "pz"))
        charge, visible = species.lookup(pid)
        pt = np.hypot(px, py)
        eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
        keep = (status > 0) & visible & (pt > 0) & (np.abs(eta) < settings.pool_eta_max)
        event = np.repeat(np.arange(len(per_event)), per_event)
        counts.append(np.bincount(event[keep], minlength=len(per_event)))
        vertex = [v[keep] for v in production_point(prt)]
        parts.append(
            {
                "pt": pt[keep],
                "eta": eta[keep],
                "phi": np.arctan2(py, px)[keep],
                "mass": flat(prt.m)[keep],
                "pdg_id": pid[keep],
                "charge": charge[keep],
                "vx": vertex[0],
                "vy": vertex[1],
                "vz": vertex[2],
            }
        )
        remaining -= len(per_event)
        if advance is not None:
            advance(len(per_event))
    count = np.concatenate(counts)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return PileupPool(
        offsets=np.concatenate([[0], np.cumsum(count)]).astype(np.int64),
        pt=arrays["pt"].astype(np.float32),
        eta=arrays["eta"].astype(np.float32),
        phi=arrays["phi"].astype(np.float32),
        mass=arrays["mass"].astype(np.float32),
        pdg_id=arrays["pdg_id"].astype(np.int32),
        charge=arrays["charge"].astype(np.int8),
        vx=arrays["vx"].astype(np.float32),
        vy=arrays["vy"].astype(np.float32),
        vz=arrays["vz"].astype(np.float32),
    )


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def pool_paths(out_dir: str | Path) -> tuple[Path, Path]:
    """Where the pile-up pool of an output folder lies: its arrays and its record.

    Parameters
    ----------
    out_dir : str or Path
        The generator's output folder.

    Returns
    -------
    pool : Path
        ``pileup/pool.npz`` under ``out_dir``: the arrays.
    record : Path
        ``pileup/pool.json`` under ``out_dir``: the key it was made with and its SHA-256.
    """
    return under(out_dir, POOL_FOLDER, POOL_FILE), under(out_dir, POOL_FOLDER, POOL_RECORD)


def ensure_pool(
    out_dir: str | Path,
    settings: PileupSettings,
    seed: int,
    ecm: float,
    say: Callable[[str], None] = print,
    advance: Callable[[int], None] | None = None,
) -> tuple[Path, str]:
    """The pool of ``out_dir`` (path, SHA-256), reused when its record matches ``settings`` and its digest.

    Made (atomically: arrays, then record) otherwise.

    Parameters
    ----------
    out_dir : str or Path
        The generator's output folder (the pool goes into its ``pileup/``).
    settings : PileupSettings
        The pool's settings.
    seed : int
        The run's seed.
    ecm : float
        The centre-of-mass energy, GeV.
    say : callable, default print
        Called with a message when an existing pool cannot be reused and is made again.
    advance : callable or None, optional
        Given to ``generate_pool``: called with the interactions made.

    Returns
    -------
    path : Path
        The pool's ``pool.npz``.
    sha256 : str
        Its SHA-256 digest (hexadecimal), as recorded.

    Raises
    ------
    PileupError
        If ``pileup`` in ``out_dir`` exists and is not a folder.
    """
    path, record = pool_paths(out_dir)
    if os.path.lexists(path.parent) and not path.parent.is_dir():  # before minutes of generation
        raise PileupError(f"{path.parent} is not a folder: the pile-up pool goes there; move it away")
    key = settings.pool_key(seed, ecm)
    why = _unusable(path, record, key)
    if why is None:
        return path, read_json(record, "pile-up pool record")["sha256"]
    if why != "no pool yet":
        say(f"pile-up pool {path}: {why}; making it again")
    pool = generate_pool(settings, seed, ecm, advance)
    path.parent.mkdir(parents=True, exist_ok=True)
    if record.exists() or record.is_symlink():
        record.unlink()  # the arrays change first: never a record beside arrays it does not describe
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{k: getattr(pool, k) for k in POOL_ARRAYS})
    digest = _digest(path)
    write_json(
        record,
        {
            "key": key,
            "sha256": digest,
            "bytes": path.stat().st_size,
            "interactions": pool.size,
            "particles": int(pool.offsets[-1]),
        },
    )
    return path, digest


def _unusable(path: Path, record: Path, key: dict) -> str | None:
    """Why the pool at ``path`` cannot be reused for ``key`` (None: it can)."""
    if not record.exists() and not path.exists():
        return "no pool yet"
    try:
        data = read_json(record, "pile-up pool record")
        check_regular(path, "pile-up pool")
    except (ValueError, OSError) as err:
        return f"unreadable ({err})"
    if not isinstance(data, dict) or data.get("key") != key:
        return "made with other settings"
    if data.get("bytes") != path.stat().st_size:  # before hashing: a huge (sparse) file costs nothing here
        return "its size differs from its record (truncated, edited or replaced)"
    if data.get("sha256") != _digest(path):
        return "its contents differ from its record (truncated or edited)"
    return None


def load_pool(path: str | os.PathLike, sha256: str) -> PileupPool:
    """The pool at ``path``, whose digest must be ``sha256`` (what the run made or checked).

    A ``PileupError`` naming the file otherwise. Arrays only (``allow_pickle=False``: nothing in the file runs).

    Parameters
    ----------
    path : str or os.PathLike
        The pool's ``pool.npz``.
    sha256 : str
        The SHA-256 digest (hexadecimal) it must have.

    Returns
    -------
    PileupPool
        The pool's arrays, as written.

    Raises
    ------
    PileupError
        If the file is larger than ``MAX_POOL_BYTES``, has another digest, cannot be read, or has arrays that
        disagree in length or non-finite kinematics or production points.
    NotRegularFileError
        If ``path`` is not a regular file (``FileNotFoundError`` if it is absent).
    """
    path = Path(path)
    size = check_regular(path, "pile-up pool").st_size
    if size > MAX_POOL_BYTES:
        raise PileupError(f"pile-up pool {path}: {size} bytes, more than any pool ({MAX_POOL_BYTES})")
    if _digest(path) != sha256:
        raise PileupError(f"pile-up pool {path}: changed since the run checked it (SHA-256 differs)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in POOL_ARRAYS}
    except (KeyError, ValueError, OSError) as err:
        raise PileupError(f"pile-up pool {path}: unreadable ({err})") from None
    offsets = arrays["offsets"]
    n = int(offsets[-1]) if len(offsets) else -1
    if (
        len(offsets) < 2
        or offsets[0] != 0
        or np.any(np.diff(offsets) < 0)
        or any(len(arrays[k]) != n for k in POOL_ARRAYS[1:])
    ):
        raise PileupError(f"pile-up pool {path}: its arrays disagree in length")
    for k in ("pt", "eta", "phi", "mass", "vx", "vy", "vz"):
        if not np.isfinite(arrays[k]).all():
            raise PileupError(f"pile-up pool {path}: non-finite values in {k!r}")
    return PileupPool(**arrays)
