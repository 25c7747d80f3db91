"""Toy two-prong jets: Agarwal, Rappoccio et al.'s (arXiv:2011.13466) "1 jet of 20 particles divided evenly between 2
subjets".

Each event holds one jet made of two subjets of ``particles_per_subjet`` particles each.

* Jet pT follows a falling power law, dN/dpT proportional to pT^-pt_index above ``pt_min`` (a Pareto
  distribution, the shape of a QCD jet spectrum); eta is uniform in [-eta_max, eta_max], phi uniform.
* The softer subjet carries the momentum fraction ``z`` (in [0, 0.5]) and sits at the angular distance ``theta``
  from the harder one, along a random direction in the (eta, phi) plane; the pT-weighted centroid of the two
  subjet axes is the jet axis.
* Inside each subjet, particles get momentum fractions (drawn, then normalised to the subjet's pT) and angles to
  the subjet axis (drawn; azimuth around the axis uniform).
* Signal draws z and theta from truncated normals, background from truncated exponentials, so the classes are
  separable but overlap. Particle fractions and angles inside the subjets follow the same (normal) distributions
  in both classes by default, so that by construction the jet-level variables (z, theta and the mass they
  imply, m^2 ~ z(1-z) pT^2 theta^2) carry all the information.
* Particle species: charged hadron (+-211), photon (22) or neutral hadron (130) with the given probabilities;
  charged particles get prompt-like impact parameters d0, dz ~ Normal(0, ``impact_sigma_cm``).

Truth is kept: ``FatJet_genPt``, ``FatJet_genZ``, ``FatJet_genTheta`` and ``PFCands_genSubjet`` (0 harder, 1 softer).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import vector
from pydantic import model_validator

from xaugcol.config_models import ConfigModel, Number, PositiveInt, read_yaml, validated
from xaugcol.console import counter
from xaugcol.limits import MAX_TOY_JETS, MAX_TOY_PARTICLES_PER_SUBJET, check_size
from xaugcol.sources.distributions import Dist
from xaugcol.sources.nanoaod import collection, write_events

MASS = {211: 0.13957039, 22: 0.0, 130: 0.497611}
# jets generated and written per chunk, at most CHUNK_JETS and CHUNK_PARTICLES particles (memory stays flat, 0.7 GB,
# for large samples and large jets alike; at the default 20 particles a jet both give 100 000 jets)
CHUNK_JETS = 100_000
CHUNK_PARTICLES = 2_000_000


@dataclass(frozen=True)
class ToyClass:
    """The distributions that define one class of toy jets.

    Parameters
    ----------
    z : Dist
        The softer subjet's momentum fraction (within [0, 0.5]).
    theta : Dist
        The angular distance between the two subjets (within [0, 1]).
    particle_fraction : Dist
        A particle's momentum fraction before the normalisation to its subjet's pT.
    particle_angle : Dist
        A particle's angle to its subjet's axis.
    """

    z: Dist
    theta: Dist
    particle_fraction: Dist
    particle_angle: Dist


def _signal() -> ToyClass:
    return ToyClass(
        z=Dist("normal", loc=0.3, scale=0.1, low=0.0, high=0.5),
        theta=Dist("normal", loc=0.4, scale=0.1, low=0.1, high=0.6),
        particle_fraction=Dist("normal", loc=1.0, scale=0.5, low=0.0),
        particle_angle=Dist("normal", loc=0.05, scale=0.02, low=0.0, high=0.2),
    )


def _background() -> ToyClass:
    # Particles inside the subjets follow the same distributions in both classes: only the jet-level splitting
    # (z, theta) tells the classes apart, Agarwal, Rappoccio et al.'s (arXiv:2011.13466) design goal ("a few jet-level
    # variables carry all the information"). Give the background its own particle_fraction / particle_angle in a config
    # to break that.
    shared = _signal()
    return ToyClass(
        z=Dist("exponential", scale=0.1, low=0.0, high=0.5),
        theta=Dist("exponential", scale=0.2, low=0.1, high=0.6),
        particle_fraction=shared.particle_fraction,
        particle_angle=shared.particle_angle,
    )


@dataclass(frozen=True)
class ToyConfig:
    """Every parameter of the toy source; the defaults are documented in the README.

    Parameters
    ----------
    signal, background : ToyClass
        Each class's distributions (subjet momentum fraction ``z``, opening angle ``theta``, the particles'
        fractions and angles).
    particles_per_subjet : int
        Particles per subjet.
    pt_min : float
        The lowest jet pT (GeV).
    pt_index : float
        The jet-pT spectrum's power, dN/dpT ~ pT^-pt_index (> 2: a finite mean pT).
    eta_max : float
        The largest jet ``|eta|``.
    species_probabilities : dict
        PDG id -> probability of a particle's species (the ids known to the writer; the values sum to 1).
    impact_sigma_cm : float
        The width of the particles' impact parameters (cm).

    Raises
    ------
    ValueError
        A value out of its range (the message names the field).
    """

    signal: ToyClass = field(default_factory=_signal)
    background: ToyClass = field(default_factory=_background)
    particles_per_subjet: int = 10
    pt_min: float = 300.0
    pt_index: float = 5.0
    eta_max: float = 2.0
    species_probabilities: dict = field(default_factory=lambda: {211: 0.6, 22: 0.3, 130: 0.1})
    impact_sigma_cm: float = 0.002

    def __post_init__(self):
        check_size(self.particles_per_subjet, "particles_per_subjet", MAX_TOY_PARTICLES_PER_SUBJET)
        if not self.pt_min > 0:
            raise ValueError(f"pt_min must be > 0, got {self.pt_min}")
        if not self.pt_index > 2:
            raise ValueError(f"pt_index must be > 2 (finite mean pT), got {self.pt_index}")
        if not self.eta_max > 0:
            raise ValueError(f"eta_max must be > 0, got {self.eta_max}")
        if set(self.species_probabilities) - set(MASS):
            raise ValueError(f"species_probabilities: ids must be among {sorted(MASS)}")
        total = sum(self.species_probabilities.values())
        if any(p < 0 for p in self.species_probabilities.values()) or not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"species_probabilities must be >= 0 and sum to 1, got {self.species_probabilities}")
        for name in ("z", "theta"):
            for cls_name in ("signal", "background"):
                dist = getattr(getattr(self, cls_name), name)
                limit = 0.5 if name == "z" else 1.0
                if dist.low < 0 or dist.high > limit:
                    raise ValueError(f"{cls_name}.{name} must be truncated inside [0, {limit}]")

    def pt_distribution(self) -> Any:  # a scipy frozen distribution (scipy has no type hints)
        """The jet-pT distribution as a scipy object (Pareto: dN/dpT ~ pT^-pt_index for pT > pt_min).

        Returns
        -------
        scipy.stats frozen distribution
            ``stats.pareto(pt_index - 1, scale=pt_min)``.
        """
        from scipy import stats

        return stats.pareto(self.pt_index - 1.0, scale=self.pt_min)

    @classmethod
    def load(cls, path: str | Path) -> ToyConfig:
        """Read the toy parameters from a YAML file (an empty file: the defaults).

        Parameters
        ----------
        path : str or Path
            The YAML file, with the fields of ``ToyFile``.

        Returns
        -------
        ToyConfig
            The parameters; those not in the file keep their defaults.
        """
        return cls.from_dict(read_yaml(path, "toy config") or {}, f"toy config {path}")

    @classmethod
    def from_dict(cls, data: dict, where: str = "toy config") -> ToyConfig:
        """Build from a (YAML) mapping (``ToyFile``); fields not given keep their defaults, per class.

        Parameters
        ----------
        data : dict
            The fields of ``ToyFile``.
        where : str
            Where the mapping comes from, named in errors with the field (``signal.z``).

        Returns
        -------
        ToyConfig
            The parameters.

        Raises
        ------
        ValueError
            A field that is unknown, of the wrong type or out of its range.
        """
        f = validated(ToyFile, data, where, sep=".")
        kwargs = f.given()
        for name in ("signal", "background"):
            if name in kwargs:
                base = getattr(cls(), name)
                kwargs[name] = ToyClass(
                    **{
                        **{k: getattr(base, k) for k in ToyClassFile.model_fields},
                        **{k: d.dist for k, d in kwargs[name].given().items()},
                    }
                )
        try:
            return cls(**kwargs)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None


class DistFile(ConfigModel):
    """A distribution as written: ``{kind: normal, loc: 0.3, scale: 0.1, low: 0, high: 0.5}``."""

    kind: str
    scale: Number
    loc: Number = 0.0
    low: Number = 0.0
    high: Number = math.inf

    @property
    def dist(self) -> Dist:
        """The distribution itself (``Dist`` checks it)."""
        return Dist(self.kind, self.scale, self.loc, self.low, self.high)

    @model_validator(mode="after")
    def _valid(self):
        self.dist  # noqa: B018 - Dist checks kind, scale > 0 and low < high
        return self


# the default of a field of the two file models below: a field left out of a file is not set (``given()`` reads
# only the fields set) and its None default is never validated, while the annotation is the type a value written
# in the file must have (null included: refused). No static type says "absent": Any.
NOT_GIVEN: Any = None


class ToyClassFile(ConfigModel):
    """A class's distributions; those left out keep the class's defaults."""

    z: DistFile = NOT_GIVEN
    theta: DistFile = NOT_GIVEN
    particle_fraction: DistFile = NOT_GIVEN
    particle_angle: DistFile = NOT_GIVEN


class ToyFile(ConfigModel):
    """The toy parameters a file (or a study's ``source: toy:``) may set. The defaults live in ``ToyConfig``: a
    field left out is not set here (None, never validated), one written as null is refused."""

    signal: ToyClassFile = NOT_GIVEN
    background: ToyClassFile = NOT_GIVEN
    particles_per_subjet: PositiveInt = NOT_GIVEN
    pt_min: Number = NOT_GIVEN
    pt_index: Number = NOT_GIVEN
    eta_max: Number = NOT_GIVEN
    species_probabilities: dict[int, Number] = NOT_GIVEN
    impact_sigma_cm: Number = NOT_GIVEN


def _wrap_phi(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def generate_chunk(cfg: ToyConfig, label: int, n_jets: int, rng: np.random.Generator, first_event: int) -> dict:
    """Generate ``n_jets`` events of one class; return the branches of the NanoAOD-style writer.

    Parameters
    ----------
    cfg : ToyConfig
        The toy parameters.
    label : int
        The class: 1 signal (``cfg.signal``), anything else background (``cfg.background``).
    n_jets : int
        The events (one jet each) to generate.
    rng : numpy.random.Generator
        The class's random stream.
    first_event : int
        The ``event`` number of the first event (the rest follow consecutively).

    Returns
    -------
    dict
        Branches for ``write_events``: ``run``, ``luminosityBlock``, ``event``, ``genWeight`` (numpy, per event)
        and the ``FatJet``, ``FatJetPFCands`` and ``PFCands`` collections (awkward, one jet and ``2 *
        particles_per_subjet`` candidates per event, the candidates pT-ordered).
    """
    cls = cfg.signal if label == 1 else cfg.background
    k = cfg.particles_per_subjet
    n_part = 2 * k

    # jet level
    pt_jet = cfg.pt_distribution().rvs(size=n_jets, random_state=rng)
    eta_jet = rng.uniform(-cfg.eta_max, cfg.eta_max, n_jets)
    phi_jet = rng.uniform(-np.pi, np.pi, n_jets)
    z = cls.z.sample(n_jets, rng)
    theta = cls.theta.sample(n_jets, rng)
    direction = rng.uniform(0.0, 2 * np.pi, n_jets)

    # subjet axes: harder one (fraction 1-z) at -z*theta, softer one at (1-z)*theta from the jet axis
    offset = np.stack([-z * theta, (1.0 - z) * theta], axis=1)  # (jets, 2)
    sub_eta = eta_jet[:, None] + offset * np.cos(direction)[:, None]
    sub_phi = phi_jet[:, None] + offset * np.sin(direction)[:, None]
    sub_frac = np.stack([1.0 - z, z], axis=1)

    # particles: (jets, 2 subjets, k particles)
    x = cls.particle_fraction.sample((n_jets, 2, k), rng)
    x = x / x.sum(axis=2, keepdims=True)
    r = cls.particle_angle.sample((n_jets, 2, k), rng)
    b = rng.uniform(0.0, 2 * np.pi, (n_jets, 2, k))
    pt = pt_jet[:, None, None] * sub_frac[:, :, None] * x
    eta = sub_eta[:, :, None] + r * np.cos(b)
    phi = _wrap_phi(sub_phi[:, :, None] + r * np.sin(b))
    subjet = np.broadcast_to(np.array([0, 1], dtype=np.int32)[None, :, None], pt.shape)

    species_ids = np.array(list(cfg.species_probabilities), dtype=np.int32)
    species = rng.choice(species_ids, size=pt.shape, p=list(cfg.species_probabilities.values()))
    charge = np.where(species == 211, rng.choice(np.array([-1, 1], dtype=np.int32), size=pt.shape), 0)
    pdg_id = np.where(species == 211, 211 * charge, species).astype(np.int32)
    mass = np.select([species == s for s in MASS], list(MASS.values()))
    d0 = np.where(charge != 0, rng.normal(0.0, cfg.impact_sigma_cm, pt.shape), 0.0)
    dz = np.where(charge != 0, rng.normal(0.0, cfg.impact_sigma_cm, pt.shape), 0.0)

    # candidates pt-ordered inside each jet, as CMS stores them
    flat = lambda a: a.reshape(n_jets, n_part)  # noqa: E731
    order = np.argsort(-flat(pt), axis=1, kind="stable")
    take = lambda a: np.take_along_axis(flat(a), order, axis=1).ravel()  # noqa: E731
    cand = {
        "pt": take(pt).astype(np.float32),
        "eta": take(eta).astype(np.float32),
        "phi": take(phi).astype(np.float32),
        "mass": take(mass).astype(np.float32),
        "charge": take(charge).astype(np.int32),
        "pdgId": take(pdg_id).astype(np.int32),
        "d0": take(d0).astype(np.float32),
        "dz": take(dz).astype(np.float32),
        "puppiWeight": np.ones(n_jets * n_part, dtype=np.float32),
        "genSubjet": take(subjet).astype(np.int32),
    }

    # the jet is the four-vector sum of its (stored, float32) constituents
    p4 = vector.array(
        {
            "pt": cand["pt"].astype(np.float64),
            "eta": cand["eta"].astype(np.float64),
            "phi": cand["phi"].astype(np.float64),
            "mass": cand["mass"].astype(np.float64),
        }
    ).to_xyzt()
    sums = {c: getattr(p4, c).reshape(n_jets, n_part).sum(axis=1) for c in ("x", "y", "z", "t")}
    # vector.array is annotated as returning the base VectorNumpy: momentum components make a MomentumNumpy4D
    jet = cast(
        vector.MomentumNumpy4D, vector.array({"px": sums["x"], "py": sums["y"], "pz": sums["z"], "E": sums["t"]})
    )

    ones = np.ones(n_jets, dtype=np.int64)
    fat_jet = {
        "pt": jet.pt.astype(np.float32),
        "eta": jet.eta.astype(np.float32),
        "phi": jet.phi.astype(np.float32),
        "mass": jet.mass.astype(np.float32),
        "rawFactor": np.zeros(n_jets, dtype=np.float32),
        "nConstituents": np.full(n_jets, n_part, dtype=np.int32),
        "genPt": pt_jet.astype(np.float32),
        "genZ": z.astype(np.float32),
        "genTheta": theta.astype(np.float32),
    }
    link = {
        "jetIdx": np.zeros(n_jets * n_part, dtype=np.int32),
        "pFCandsIdx": np.tile(np.arange(n_part, dtype=np.int32), n_jets),
        "pt": cand["pt"],
    }
    return {
        "run": np.ones(n_jets, dtype=np.uint32),
        "luminosityBlock": np.ones(n_jets, dtype=np.uint32),
        "event": np.arange(first_event, first_event + n_jets, dtype=np.uint64),
        "genWeight": np.ones(n_jets, dtype=np.float32),
        "FatJet": collection(fat_jet, ones),
        "FatJetPFCands": collection(link, ones * n_part),
        "PFCands": collection(cand, ones * n_part),
    }


def class_seed(seed: int, label: int) -> np.random.SeedSequence:
    """Independent random streams for the two classes of one run.

    Parameters
    ----------
    seed : int
        The run's random seed.
    label : int
        The class, 1 signal or 0 background.

    Returns
    -------
    numpy.random.SeedSequence
        The seed sequence of ``(seed, label)``.
    """
    return np.random.SeedSequence([int(seed), int(label)])


def chunk_sizes(n_jets: int, per_chunk: int) -> Iterator[int]:
    """The jets of each chunk, one after another (never listed: their number grows with ``n_jets``).

    One empty chunk for no jets, so that the file still has its branches.

    Parameters
    ----------
    n_jets : int
        The jets to write in all.
    per_chunk : int
        The most jets of a chunk.

    Yields
    ------
    int
        The jets of the next chunk: ``per_chunk``, the last one the remainder (a single 0 when ``n_jets`` is 0).
    """
    if n_jets == 0:
        yield 0
    for start in range(0, n_jets, per_chunk):
        yield min(per_chunk, n_jets - start)


def jets_per_chunk(cfg: ToyConfig) -> int:
    """At most ``CHUNK_JETS`` jets and ``CHUNK_PARTICLES`` particles a chunk (at least one jet).

    Parameters
    ----------
    cfg : ToyConfig
        The toy parameters (its ``particles_per_subjet``).

    Returns
    -------
    int
        The jets per chunk.
    """
    return max(1, min(CHUNK_JETS, CHUNK_PARTICLES // (2 * cfg.particles_per_subjet)))


def write_toy_file(path: str | Path, cfg: ToyConfig, label: int, n_jets: int, seed: int, progress: bool = False) -> int:
    """Generate ``n_jets`` toy jets of one class and write them atomically to ``path``, chunk by chunk.

    Parameters
    ----------
    path : str or Path
        The ROOT file to write.
    cfg : ToyConfig
        The toy parameters.
    label : int
        The class, 1 signal or 0 background.
    n_jets : int
        The jets to generate (one per event).
    seed : int
        The run's random seed; the class's stream is ``class_seed(seed, label)``.
    progress : bool, default False
        Show a progress bar.

    Returns
    -------
    int
        The number of events written.
    """
    rng = np.random.Generator(np.random.PCG64(class_seed(seed, label)))

    with counter(f"toy {'signal' if label else 'background'}", n_jets, "jets", progress) as advance:

        def chunks():
            done = 0
            for n in chunk_sizes(n_jets, jets_per_chunk(cfg)):
                yield generate_chunk(cfg, label, n, rng, first_event=done + 1)
                done += n
                advance(n)

        return write_events(path, chunks())


TOY_DATASETS = {"toy_signal": 1, "toy_background": 0}


def run_toy(out_dir: str | Path, n_jets: int, seed: int, cfg: ToyConfig | None = None, progress: bool = False) -> dict:
    """Write toy jets of both classes and their coffea fileset into ``out_dir`` (locked meanwhile).

    Parameters
    ----------
    out_dir : str or Path
        The output folder: one ROOT file per class and ``fileset.json``.
    n_jets : int
        Jets per class (at most ``MAX_TOY_JETS``).
    seed : int
        The random seed; the same seed writes the same jets.
    cfg : ToyConfig, optional
        The toy parameters; default: ``ToyConfig()``.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        The fileset: dataset name -> its files and metadata (label, process, generator, seed, events).

    Raises
    ------
    OutputFolderError
        ``out_dir`` is locked by another run.
    """
    from xaugcol.output_folder import output_lock
    from xaugcol.sources.output import fileset_entry, write_fileset

    check_size(n_jets, "toy jets per class", MAX_TOY_JETS, minimum=0)
    cfg = cfg or ToyConfig()
    with output_lock(out_dir) as out_dir:
        fileset = {}
        for dataset, label in TOY_DATASETS.items():
            path = out_dir / f"{dataset}.root"
            n = write_toy_file(path, cfg, label, n_jets, seed, progress=progress)
            fileset[dataset] = fileset_entry(
                [path], {"label": label, "process": dataset, "generator": "toy", "seed": seed, "n_events": n}
            )
        write_fileset(out_dir, fileset)
    return fileset
