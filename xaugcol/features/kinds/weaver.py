"""Object lists as a model trained by weaver-core reads them: the inputs its data configuration names
(``part_pt_log``, ``pfcand_etarel``, ``sv_d3dsig``...), each computed from a list of the jet table and standardised
as the configuration says (``(x - center) * scale``, clipped to ``[min, max]``; as they are where it gives no
center). ``weaver_particles`` reads the particle list (a ParticleNet's points, features and mask),
``weaver_vertices`` the secondary-vertex list (a ParticleNetTagger's second group).

A weaver-core model is trained on its own ntuples, whose branches are computed there; here each input is taken from
a feature of ``xaugcol.features.particles`` or ``xaugcol.features.vertices`` by name (``KNOWN_INPUTS`` and
``KNOWN_VERTEX_INPUTS``: the names of weaver-core's JetClass and top-tagging configurations and of CMS's PF-candidate
and secondary-vertex inputs), or by a mapping the user gives, so the same jets can be explained with every tagger of
the toolkit. Inputs the lists do not hold (track errors, hit counts, impact parameters in other units) are refused
by name when the model is imported, never filled with zeros.

Relevance lands on these standardised inputs (what the network reads), named ``weaver:<input>``; the relevance
profiles bin the value before standardisation, from the feature it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from xaugcol.features.kinds.base import ProfileEntries
from xaugcol.features.kinds.objects import ObjectListInput, real_objects
from xaugcol.features.kinds.particles import BINNING as PARTICLE_BINNING
from xaugcol.features.kinds.vertices import BINNING as VERTEX_BINNING
from xaugcol.features.particles import FEATURE_INDEX, FEATURES
from xaugcol.features.vertices import FEATURES as VERTEX_FEATURES

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
# logarithms of the vertex list's features, as CMS's inputs take them
VERTEX_DERIVED = {"log_pt": "pt", "log_ptrel": "ptrel", "log_erel": "erel"}
VERTEX_SOURCES = (*VERTEX_FEATURES, *VERTEX_DERIVED)
# weaver-core input name: the secondary-vertex feature it is (CMS's ParticleNet and DeepAK8 inputs)
KNOWN_VERTEX_INPUTS = {
    **{f"sv_{name}": name for name in VERTEX_FEATURES},
    **dict.fromkeys(("sv_pt_log", "sv_logpt"), "log_pt"),
    **dict.fromkeys(("sv_ptrel_log", "sv_logptrel"), "log_ptrel"),
    **dict.fromkeys(("sv_erel_log", "sv_logerel"), "log_erel"),
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
    def from_list(cls, entry: Any, sources: tuple[str, ...] = SOURCES) -> WeaverVariable:
        """Read a variable as ``as_list`` writes it.

        Parameters
        ----------
        entry : list
            ``[name, source, center, scale, low, high]``.
        sources : tuple of str, default SOURCES
            The features a variable may be made from (the particle list's by default).

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
        if source not in sources:
            raise ValueError(f"weaver input {name!r}: unknown feature {source!r}; known: {', '.join(sources)}")
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
class WeaverObjectsInput(ObjectListInput):
    """An object list as a weaver-core model reads it (module docstring): what the particle and vertex kinds share.

    Parameters
    ----------
    n_objects : int, default 0
        Object slots per jet (the jet table's; 0: the kind's default).
    n_features : int, default 0
        Features per object in the jet table (0: all of the list's).
    scaling : str, default "none"
        Always "none": the data configuration's standardisation is part of the inputs.
    variables : tuple of WeaverVariable
        The model's inputs from this list, in its order: its features, then the coordinates not among them.
    """

    SCALINGS: ClassVar[tuple[str, ...]] = ("none",)
    PREFIX = PREFIX
    SOURCES: ClassVar[tuple[str, ...]] = ()  # the features (and derived quantities) a variable may be made from
    scaling: str = "none"
    variables: tuple[WeaverVariable, ...] = ()

    @classmethod
    def from_config(cls, config: TaggerSettings) -> WeaverObjectsInput:
        """The kind as an imported tagger reads it.

        Parameters
        ----------
        config : TaggerSettings
            The tagger's configuration: the kind's shape and its ``input_options``' ``variables``.

        Returns
        -------
        WeaverObjectsInput
            The kind with the tagger's inputs.
        """
        shape = config.shape_of(cls.name, (cls.DEFAULT_OBJECTS, len(cls.FEATURES)))
        options = config.options_of(cls.name)
        variables = tuple(WeaverVariable.from_list(v, cls.SOURCES) for v in options.get("variables", ()))
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
        variables = [WeaverVariable.from_list(v, cls.SOURCES) for v in options.get("variables", ())]
        if not variables:
            raise ValueError("'variables' must list the model's inputs")
        names = [v.name for v in variables]
        if len(set(names)) != len(names):
            raise ValueError(f"variables: a name given twice in {names}")
        return {"variables": [v.as_list() for v in variables]}

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
            (jets, objects, variables) float32; zero in padded slots.
        """
        objects = rows[self.table_column]
        real = real_objects(objects)
        out = np.zeros((*objects.shape[:2], len(self.variables)), dtype=np.float32)
        for k, variable in enumerate(self.variables):
            out[..., k] = np.where(real, variable.transform(self.source_values(rows, variable.source)), 0.0)
        return out

    def source_values(self, rows: dict, source: str) -> np.ndarray:
        """A source feature's values for every object slot.

        Parameters
        ----------
        rows : dict
            The jet-table columns of ``columns``.
        source : str
            One of the kind's ``SOURCES``.

        Returns
        -------
        numpy.ndarray
            (jets, objects) float64.
        """
        return rows[self.table_column][..., self.FEATURES.index(source)].astype(np.float64)

    def model_arguments(self) -> dict:
        """The tagger's input width for this list: one channel per variable.

        Returns
        -------
        dict
            ``{FEATURES_ARGUMENT: number of variables}`` (0 for the kind without variables).
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

    def source_binning(self, source: str) -> tuple[int, float, float, str]:
        """The binning of a source feature, for the profiles.

        Parameters
        ----------
        source : str
            One of the kind's ``SOURCES``.

        Returns
        -------
        tuple
            (bins, low, high, axis label).
        """
        return self.BINNING[source]

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
                bins, low, high, label = self.source_binning(v.source)
                return bins, low, high, f"{v.name}: {label}"
        raise KeyError(feature)

    def profile_entries(self, rows: dict, relevance: np.ndarray) -> list[ProfileEntries]:
        """One entry per real object and input, valued before standardisation.

        Parameters
        ----------
        rows : dict
            The jet-table columns, the list's ``_mask`` among them.
        relevance : numpy.ndarray
            (jets, objects, variables) relevance of the inputs.

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


@dataclass(frozen=True)
class WeaverParticlesInput(WeaverObjectsInput):
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
    FEATURES = FEATURES  # the jet table's particle features the inputs are made from
    SOURCES = SOURCES
    BINNING = PARTICLE_BINNING
    DEFAULT_OBJECTS = 50
    COUNT_ARGUMENT, FEATURES_ARGUMENT = "n_particles", "n_features"
    removal_unit = "particle"
    POSITION_FEATURES = ("deta_jet", "dphi_jet", "log_pt_rel")

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
        if source == LOG_E_REL:
            log_e = rows[self.table_column][..., FEATURE_INDEX["log_e"]].astype(np.float64)
            return log_e - np.log(jet_energy(rows))[:, None]
        return super().source_values(rows, source)

    def source_binning(self, source: str) -> tuple[int, float, float, str]:
        """The binning of a source feature, for the profiles.

        Parameters
        ----------
        source : str
            One of ``SOURCES``.

        Returns
        -------
        tuple
            (bins, low, high, axis label).
        """
        if source == LOG_E_REL:
            return 40, -10.0, 0.0, r"$\log(E / E^{jet})$"
        return PARTICLE_BINNING[source]


@dataclass(frozen=True)
class WeaverVerticesInput(WeaverObjectsInput):
    """The secondary-vertex list as a weaver-core model reads it (a ParticleNetTagger's second group).

    Parameters
    ----------
    n_objects : int, default 0
        Vertex slots per jet (the jet table's; 0: the default, 5).
    n_features : int, default 0
        Features per vertex in the jet table (0: the vertex list's 14).
    scaling : str, default "none"
        Always "none": the data configuration's standardisation is part of the inputs.
    variables : tuple of WeaverVariable
        The model's vertex inputs, in its order: its features, then the coordinates that are not among them.
    """

    name = "weaver_vertices"
    FEATURES = VERTEX_FEATURES
    SOURCES = VERTEX_SOURCES
    BINNING = VERTEX_BINNING
    DEFAULT_OBJECTS = 5
    COUNT_ARGUMENT, FEATURES_ARGUMENT = "n_vertices", "n_vertex_features"
    removal_unit = "secondary vertex"
    POSITION_FEATURES = ("etarel", "phirel", "ptrel")

    @property
    def table_column(self) -> str:
        """The jet-table column of the secondary-vertex list."""
        return "vertices"

    def source_values(self, rows: dict, source: str) -> np.ndarray:
        """A source feature's values for every vertex slot (a logarithm where the source says so).

        Parameters
        ----------
        rows : dict
            The jet-table columns of ``columns``.
        source : str
            One of ``VERTEX_SOURCES``.

        Returns
        -------
        numpy.ndarray
            (jets, vertices) float64; the logarithms are 0 in padded slots (never read).
        """
        if source in VERTEX_DERIVED:
            values = super().source_values(rows, VERTEX_DERIVED[source])
            with np.errstate(divide="ignore"):
                return np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), 0.0)
        return super().source_values(rows, source)

    def source_binning(self, source: str) -> tuple[int, float, float, str]:
        """The binning of a source feature, for the profiles.

        Parameters
        ----------
        source : str
            One of ``VERTEX_SOURCES``.

        Returns
        -------
        tuple
            (bins, low, high, axis label).
        """
        if source in VERTEX_DERIVED:
            return 40, -6.0, 7.0, f"log {VERTEX_BINNING[VERTEX_DERIVED[source]][3]}"
        return VERTEX_BINNING[source]
