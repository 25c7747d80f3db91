"""The particle list as a model trained by weaver-core reads it: the inputs its data configuration names
(``part_pt_log``, ``pfcand_etarel``...), each computed from the jet table's particle list and standardised as the
configuration says (``(x - center) * scale``, clipped to ``[min, max]``; as they are where it gives no center).

A weaver-core model is trained on its own ntuples, whose branches are computed there; here each input is taken from
a particle feature of ``xaugcol.features.particles`` by name (``KNOWN_INPUTS``: the names of weaver-core's JetClass
and top-tagging configurations and of CMS's ParticleNet inputs), or by a mapping the user gives, so the same jets
can be explained with every tagger of the toolkit. Inputs the particle list does not hold (track errors, hit counts,
impact parameters in other units) are refused by name when the model is imported, never filled with zeros.

Relevance lands on these standardised inputs (what the network reads), named ``weaver:<input>``; the relevance
profiles bin the value before standardisation, from the particle feature it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from xaugcol.features.kinds.base import ProfileEntries
from xaugcol.features.kinds.objects import ObjectListInput, real_objects
from xaugcol.features.kinds.particles import BINNING as PARTICLE_BINNING
from xaugcol.features.particles import FEATURE_INDEX, FEATURES

if TYPE_CHECKING:
    from xaugcol.features.kinds.base import TaggerSettings

PREFIX = "weaver:"
LOG_E_REL = "log_e_rel"  # log(E / E_jet): the one input computed from the particle list and the jet's kinematics
SOURCES = (*FEATURES, LOG_E_REL)
# weaver-core input name: the particle feature it is (JetClass, top tagging, CMS PF candidates)
KNOWN_INPUTS = {
    **dict.fromkeys(("part_deta", "part_etarel", "pfcand_etarel", "jet_pfcand_etarel"), "deta_jet"),
    **dict.fromkeys(("part_dphi", "part_phirel", "pfcand_phirel", "jet_pfcand_phirel"), "dphi_jet"),
    **dict.fromkeys(("part_pt_log", "pfcand_pt_log", "part_logpt"), "log_pt"),
    **dict.fromkeys(("part_e_log", "pfcand_e_log", "part_loge"), "log_e"),
    **dict.fromkeys(("part_logptrel", "part_ptrel_log", "pfcand_ptrel_log", "pfcand_pt_log_nopuppi"), "log_pt_rel"),
    **dict.fromkeys(("part_logerel", "part_erel_log", "pfcand_erel_log"), LOG_E_REL),
    **dict.fromkeys(("part_deltaR", "pfcand_deltaR", "part_dr"), "dr_jet"),
    **dict.fromkeys(("part_abseta", "pfcand_abseta"), "abs_eta"),
    **dict.fromkeys(("part_charge", "pfcand_charge"), "charge"),
    **dict.fromkeys(("part_isChargedHadron", "pfcand_isChargedHad"), "is_charged_hadron"),
    **dict.fromkeys(("part_isNeutralHadron", "pfcand_isNeutralHad"), "is_neutral_hadron"),
    **dict.fromkeys(("part_isPhoton", "pfcand_isGamma"), "is_photon"),
    **dict.fromkeys(("part_isElectron", "pfcand_isEl"), "is_electron"),
    **dict.fromkeys(("part_isMuon", "pfcand_isMu"), "is_muon"),
}


@dataclass(frozen=True)
class WeaverVariable:
    """One input of a weaver-core model and how it is made from the particle list.

    Parameters
    ----------
    name : str
        The input's name in the model's data configuration.
    source : str
        The particle feature it is (one of ``SOURCES``).
    center : float or None
        Subtracted before scaling; None: the input is used as it is (no scaling, no clipping).
    scale : float
        The factor after the centre is subtracted.
    low : float
        The lower clip after standardisation.
    high : float
        The upper clip after standardisation.
    """

    name: str
    source: str
    center: float | None = None
    scale: float = 1.0
    low: float = -5.0
    high: float = 5.0

    def as_list(self) -> list[Any]:
        """The variable as a tagger folder's ``config.yaml`` records it.

        Returns
        -------
        list
            ``[name, source, center, scale, low, high]``.
        """
        return [self.name, self.source, self.center, self.scale, self.low, self.high]

    @classmethod
    def from_list(cls, entry: Any) -> WeaverVariable:
        """Read a variable as ``as_list`` writes it.

        Parameters
        ----------
        entry : list
            ``[name, source, center, scale, low, high]``.

        Returns
        -------
        WeaverVariable
            The checked variable.

        Raises
        ------
        ValueError
            Not six entries, an unknown source, a number that is not finite, or a clip range that is empty.
        """
        if not (isinstance(entry, (list, tuple)) and len(entry) == 6 and isinstance(entry[0], str)):
            raise ValueError(f"a weaver input is [name, source, center, scale, min, max], got {entry!r}")
        name, source, center, scale, low, high = entry
        if source not in SOURCES:
            raise ValueError(f"weaver input {name!r}: unknown particle feature {source!r}; known: {', '.join(SOURCES)}")
        numbers = [scale, low, high] + ([] if center is None else [center])
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in numbers):
            raise ValueError(f"weaver input {name!r}: center, scale, min and max must be finite numbers, got {entry}")
        if not low < high:
            raise ValueError(f"weaver input {name!r}: empty clip range [{low}, {high}]")
        return cls(name, source, None if center is None else float(center), float(scale), float(low), float(high))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardise values as weaver-core does.

        Parameters
        ----------
        values : numpy.ndarray
            The source feature's values.

        Returns
        -------
        numpy.ndarray
            ``clip((values - center) * scale, low, high)``, or ``values`` where ``center`` is None.
        """
        if self.center is None:
            return values
        return np.clip((values - self.center) * self.scale, self.low, self.high)


def jet_energy(rows: dict) -> np.ndarray:
    """The jets' energies from their kinematics.

    Parameters
    ----------
    rows : dict
        Jet-table columns ``pt`` (GeV), ``eta`` and ``mass`` (GeV), one value per jet.

    Returns
    -------
    numpy.ndarray
        (jets,) float64 energy in GeV: sqrt(m^2 + (pT cosh eta)^2).
    """
    pt, eta, mass = (np.asarray(rows[c], dtype=np.float64) for c in ("pt", "eta", "mass"))
    return np.sqrt(mass**2 + (pt * np.cosh(eta)) ** 2)


@dataclass(frozen=True)
class WeaverParticlesInput(ObjectListInput):
    """The particle list as a weaver-core model reads it (module docstring).

    Parameters
    ----------
    n_objects : int, default 0
        Particle slots per jet (the jet table's; 0: the default, 50).
    n_features : int, default 0
        Features per particle in the jet table (0: the particle list's 17).
    scaling : str, default "none"
        Always "none": the data configuration's standardisation is part of the inputs.
    variables : tuple of WeaverVariable
        The model's inputs, in its order: its features, then the coordinates that are not among them.
    """

    name = "weaver_particles"
    SCALINGS: ClassVar[tuple[str, ...]] = ("none",)
    FEATURES = FEATURES  # the jet table's particle features the inputs are made from
    BINNING = PARTICLE_BINNING
    PREFIX = PREFIX
    DEFAULT_OBJECTS = 50
    COUNT_ARGUMENT, FEATURES_ARGUMENT = "n_particles", "n_features"
    removal_unit = "particle"
    POSITION_FEATURES = ("deta_jet", "dphi_jet", "log_pt_rel")
    scaling: str = "none"
    variables: tuple[WeaverVariable, ...] = ()

    @classmethod
    def from_config(cls, config: TaggerSettings) -> WeaverParticlesInput:
        """The kind as an imported tagger reads it.

        Parameters
        ----------
        config : TaggerSettings
            The tagger's configuration: its ``weaver_particles`` shape and its ``input_options``' ``variables``.

        Returns
        -------
        WeaverParticlesInput
            The kind with the tagger's inputs.
        """
        shape = config.shape_of(cls.name, (cls.DEFAULT_OBJECTS, len(FEATURES)))
        options = config.options_of(cls.name)
        variables = tuple(WeaverVariable.from_list(v) for v in options.get("variables", ()))
        return cls(shape[0], shape[1], "none", variables)

    @classmethod
    def check_options(cls, options: dict) -> dict:
        """Check the kind's options as a tagger's ``config.yaml`` holds them.

        Parameters
        ----------
        options : dict
            ``{"variables": [[name, source, center, scale, min, max], ...]}``.

        Returns
        -------
        dict
            The options with every variable checked, as lists.

        Raises
        ------
        ValueError
            Unknown options, no variables, a malformed variable or a name given twice.
        """
        unknown = set(options) - {"variables"}
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}; known: variables")
        variables = [WeaverVariable.from_list(v) for v in options.get("variables", ())]
        if not variables:
            raise ValueError("'variables' must list the model's inputs")
        names = [v.name for v in variables]
        if len(set(names)) != len(names):
            raise ValueError(f"variables: a name given twice in {names}")
        return {"variables": [v.as_list() for v in variables]}

    def columns(self) -> tuple[str, ...]:
        """The jet-table columns the inputs are made from.

        Returns
        -------
        tuple of str
            The particle list, and the jet kinematics where an input needs the jet's energy.
        """
        energy = ("pt", "eta", "mass") if any(v.source == LOG_E_REL for v in self.variables) else ()
        return (self.table_column, *energy)

    @property
    def table_column(self) -> str:
        """The jet-table column of the particle list."""
        return "particles"

    def tensor(self, rows: dict, scaler: Any = None) -> np.ndarray:
        """The model's inputs for a batch of jets.

        Parameters
        ----------
        rows : dict
            The jet-table columns of ``columns``.
        scaler : None
            Unused: the standardisation is the data configuration's.

        Returns
        -------
        numpy.ndarray
            (jets, particles, variables) float32; zero in padded slots.
        """
        particles = rows[self.table_column]
        real = real_objects(particles)
        out = np.zeros((*particles.shape[:2], len(self.variables)), dtype=np.float32)
        for k, variable in enumerate(self.variables):
            values = self.source_values(rows, variable.source)
            out[..., k] = np.where(real, variable.transform(values), 0.0)
        return out

    def source_values(self, rows: dict, source: str) -> np.ndarray:
        """A source feature's values for every particle slot.

        Parameters
        ----------
        rows : dict
            The jet-table columns of ``columns``.
        source : str
            One of ``SOURCES``.

        Returns
        -------
        numpy.ndarray
            (jets, particles) float64.
        """
        particles = rows[self.table_column]
        if source == LOG_E_REL:
            energy = jet_energy(rows)
            log_e = particles[..., FEATURE_INDEX["log_e"]].astype(np.float64)
            return log_e - np.log(energy)[:, None]
        return particles[..., FEATURE_INDEX[source]].astype(np.float64)

    def model_arguments(self) -> dict:
        """The tagger's input width: one channel per variable.

        Returns
        -------
        dict
            ``{"n_features": number of variables}`` (0 for the kind without variables).
        """
        return {self.FEATURES_ARGUMENT: len(self.variables)}

    def feature_names(self) -> list[str]:
        """The inputs' names, ``weaver:<name>``.

        Returns
        -------
        list of str
            In the model's order.
        """
        return [self.PREFIX + v.name for v in self.variables]

    def binning(self, feature: str) -> tuple[int, float, float, str]:
        """The histogram binning of an input, in the units of the feature it is made from.

        Parameters
        ----------
        feature : str
            ``weaver:<name>``.

        Returns
        -------
        tuple
            (bins, low, high, axis label).

        Raises
        ------
        KeyError
            Not an input of this kind.
        """
        for v in self.variables:
            if self.PREFIX + v.name == feature:
                if v.source == LOG_E_REL:
                    return (40, -10.0, 0.0, f"{v.name}: " + r"$\log(E / E^{jet})$")
                bins, low, high, label = PARTICLE_BINNING[v.source]
                return bins, low, high, f"{v.name}: {label}"
        raise KeyError(feature)

    def profile_entries(self, rows: dict, relevance: np.ndarray) -> list[ProfileEntries]:
        """One entry per real particle and input, valued before standardisation.

        Parameters
        ----------
        rows : dict
            The jet-table columns, ``particles_mask`` among them.
        relevance : numpy.ndarray
            (jets, particles, variables) relevance of the inputs.

        Returns
        -------
        list of ProfileEntries
            One per input.
        """
        mask = rows[f"{self.table_column}_mask"].astype(bool)
        jet = np.nonzero(mask)[0]
        return [
            ProfileEntries(self.PREFIX + v.name, self.source_values(rows, v.source)[mask], relevance[mask][:, k], jet)
            for k, v in enumerate(self.variables)
        ]
