"""What every input kind declares, once: the one contract training, explaining, statistics, histograms and figures
use, so none of them names a kind.

An input kind is a frozen dataclass (picklable: it travels to executor workers inside a tagger's description)
built from a tagger's ``ModelConfig`` by ``from_config``. It says

* which jet-table columns it reads (``columns``) and which more the relevance histograms need (``extra_columns``);
* how a batch tensor is built from table rows (``tensor``; ``scaled`` kinds through the tagger's scaler for them,
  which ``fit_scaler`` fits on the training split; ``scaling`` names how, one of the kind's ``SCALINGS``), the
  per-jet shape of its table column (``shape``) and the tagger's keyword arguments that shape implies
  (``model_arguments``);
* its feature names and how relevance of the tensor's shape is summed into one value per feature per jet
  (``feature_sums``);
* which jets it can take (``finite``);
* the binning of each feature's input value (``binning``) and the (value, relevance) entries of its relevance
  profiles (``profile_entries``); kinds with a 2D map (the jet image) say so with ``map_axes``;
* what one step of the perturbation curves removes (``removal_unit`` and friends) and what one occlusion masks
  (``occlusion_groups``, ``occlusion_mask``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

if TYPE_CHECKING:  # annotations only: figure workers import the kinds and never torch
    import torch

    from xaugcol.features.images import ImageConfig
    from xaugcol.features.scaler import ObjectScaler, XAUGScaler


class TaggerSettings(Protocol):
    """What an input kind reads of a tagger's configuration (``xaugcol.models.registry.ModelConfig``).

    ``ModelConfig`` builds the kinds: they do not import it back.
    """

    @property
    def xaug_columns(self) -> tuple[str, ...]:
        """The jet-table columns the tagger takes as XAUG variables (``tuple`` of ``str``)."""
        ...

    def shape_of(self, kind: str, default: tuple[int, ...]) -> tuple[int, ...]:
        """The per-jet shape of the inputs of an input kind.

        Parameters
        ----------
        kind : str
            The input kind's name.
        default : tuple of int
            The shape where the configuration records none for ``kind``.

        Returns
        -------
        tuple of int
            The per-jet shape of the kind's table column.
        """
        ...

    def scaling_of(self, kind: str, default: str) -> str:
        """How the inputs of an input kind are scaled.

        Parameters
        ----------
        kind : str
            The input kind's name.
        default : str
            The scaling where the configuration records none for ``kind``.

        Returns
        -------
        str
            One of the kind's ``SCALINGS``.
        """
        ...

    def options_of(self, kind: str) -> dict[str, Any]:
        """The options of an input kind (the inputs of an imported weaver-core model).

        Parameters
        ----------
        kind : str
            The input kind's name.

        Returns
        -------
        dict
            Its options; empty where the configuration gives none.
        """
        ...


class TableSettings(Protocol):
    """What a kind's map reads of the jet tables' settings (``xaugcol.processing.settings.ProcessingConfig``)."""

    @property
    def image(self) -> ImageConfig:
        """The jet images' settings (``ImageConfig``: pixels per side, extent)."""
        ...


class TableBlocks(Protocol):
    """What fitting a kind's scaler reads of the jet tables (``xaugcol.training.data.JetTables``)."""

    def blocks(self, split: str, columns: list[str]) -> Iterator[dict[str, Any]]:
        """The rows of one split, block by block.

        Parameters
        ----------
        split : str
            The split (``train``, ...).
        columns : list of str
            The jet-table columns to read.

        Returns
        -------
        Iterator of dict of str to Any
            One dict per block: each column's values (``numpy.ndarray``, shape (jets, ...)) by name.
        """
        ...


@dataclass(frozen=True)
class ProfileEntries:
    """Entries of one feature's relevance profile: one per jet (``jet`` None) or one per object of a jet.

    Parameters
    ----------
    feature : str
        The feature's name (as ``InputKind.feature_names`` gives it).
    values : numpy.ndarray
        Shape (entries,): the feature's input value of each entry.
    relevance : numpy.ndarray
        Shape (entries,): the relevance of each entry's feature (normalised per jet).
    jet : numpy.ndarray, optional
        Shape (entries,), int: the index of each entry's jet among the rows explained, e.g. of each real particle;
        None: one entry per jet, in order.
    """

    feature: str
    values: np.ndarray
    relevance: np.ndarray
    jet: np.ndarray | None = None


@dataclass(frozen=True)
class InputKind:
    """One kind of tagger input (the jet image, the particle list, the XAUG variables, ...).

    The contract of the module docstring. Subclasses are registered under their ``name``
    (``xaugcol.features.kinds.register``). The base class has no fields; a subclass's fields are its shape and
    scaling.
    """

    name: ClassVar[str]
    # one value per feature and jet: pairs of its features get 2D relevance histograms (XAUG variables)
    jet_scalars: ClassVar[bool] = False
    # how the kind's inputs may be scaled (``ModelConfig.input_scaling``): the first is the default, ``LEGACY``
    # what tagger folders written before the scaling was recorded used
    SCALINGS: ClassVar[tuple[str, ...]] = ("none",)
    LEGACY_SCALING: ClassVar[str] = "none"

    @property
    def scaling(self) -> str:
        """How the kind's inputs are scaled, one of ``SCALINGS`` ("none": not scaled)."""
        return "none"

    @property
    def scaled(self) -> bool:
        """Scaled by the tagger's scaler for this kind, fitted on the training split and saved with the tagger."""
        return self.scaling != "none"

    def fit_scaler(self, tables: TableBlocks, scan: dict) -> XAUGScaler | ObjectScaler:
        """The kind's scaler fitted on the training split.

        ``scan`` holds its per-jet columns (the kind's ``columns`` of a ``jet_scalars`` kind among them), read once
        for every kind; array columns are streamed from ``tables`` (a ``JetTables``, ``blocks``).

        Parameters
        ----------
        tables : TableBlocks
            The jet tables (``xaugcol.training.data.JetTables``), for the array columns.
        scan : dict of str to numpy.ndarray
            The training split's per-jet columns, shape (jets,) each.

        Returns
        -------
        XAUGScaler or ObjectScaler
            The fitted scaler.

        Raises
        ------
        NotImplementedError
            In a kind that is not scaled (the base class).
        """
        raise NotImplementedError

    def check_scaler(self, scaler: object, where: str) -> None:
        """Refuse (ValueError naming ``where``) a loaded scaler that does not fit this kind.

        Parameters
        ----------
        scaler : object
            The scaler loaded for this kind (None where the file has none).
        where : str
            Names the scaler file in the error.

        Raises
        ------
        ValueError
            Where ``scaler`` is not of the kind's scaler type, or its columns, features or mode differ.
        NotImplementedError
            In a kind that is not scaled (the base class).
        """
        raise NotImplementedError

    @classmethod
    def check_options(cls, options: dict) -> dict:
        """Check the kind's options as a tagger's configuration gives them (``ModelConfig.input_options``).

        Parameters
        ----------
        options : dict
            The options.

        Returns
        -------
        dict
            The checked options, as the configuration records them.

        Raises
        ------
        ValueError
            Any option: a kind takes none unless it says otherwise.
        """
        if options:
            raise ValueError(f"the {cls.name} inputs take no options, got {sorted(options)}")
        return {}

    @classmethod
    def from_config(cls, config: TaggerSettings) -> InputKind:
        """The kind as the tagger described by ``config`` (a ``ModelConfig``) reads it.

        Parameters
        ----------
        config : TaggerSettings
            The tagger's configuration: its shapes, scalings and XAUG columns.

        Returns
        -------
        InputKind
            The kind, of this class.
        """
        raise NotImplementedError

    @classmethod
    def shape_settings(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-jet shape of the kind's table column, checked (a tagger's ``shapes`` entry).

        Parameters
        ----------
        shape : tuple of int
            The shape as configured or found in the data.

        Returns
        -------
        tuple of int
            The shape, as integers; a subclass refuses (``ValueError``) one its kind cannot have.
        """
        return tuple(int(s) for s in shape)

    def columns(self) -> tuple[str, ...]:
        """The jet-table columns the kind's tensor is built from.

        Returns
        -------
        tuple of str
            The column names.
        """
        raise NotImplementedError

    def extra_columns(self) -> tuple[str, ...]:
        """More jet-table columns the relevance histograms of the kind need (beside ``columns``).

        Returns
        -------
        tuple of str
            The column names; none by default.
        """
        return ()

    @property
    def table_column(self) -> str | None:
        """The one array column whose per-jet shape the tagger takes from the data (None: scalar columns)."""
        return None

    def tensor(self, rows: dict, scaler: Any = None) -> np.ndarray:
        """(jets, ...) float32 batch tensor.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of jet-table rows: at least the kind's ``columns``.
        scaler : Any, optional
            The tagger's scaler for this kind (``scaled`` kinds; what its ``fit_scaler`` returns); None: unscaled.

        Returns
        -------
        numpy.ndarray
            Shape (jets, ...), float32: the tagger's input tensor of this kind.
        """
        raise NotImplementedError

    def model_arguments(self) -> dict:
        """Keyword arguments of a tagger class that this kind's shape fixes (``n_pixels=37``...).

        Returns
        -------
        dict of str to int
            Argument name to value; none by default.
        """
        return {}

    def feature_names(self) -> list[str]:
        """The kind's features, in the order of ``feature_sums``' columns.

        Returns
        -------
        list of str
            The feature names.
        """
        raise NotImplementedError

    def feature_sums(self, relevance: np.ndarray, signed: bool = False) -> np.ndarray:
        """(jets, features): |relevance| (tensor-shaped, already normalised) summed per feature.

        Parameters
        ----------
        relevance : numpy.ndarray
            Shape of the kind's tensor, (jets, ...): the relevance, normalised per jet.
        signed : bool, default False
            Sum the relevance itself instead of its absolute value (what the feature adds to the output, for the
            score-normalised view).

        Returns
        -------
        numpy.ndarray
            Shape (jets, features), in the order of ``feature_names``.
        """
        raise NotImplementedError

    def finite(self, rows: dict) -> np.ndarray:
        """(jets,) bool: the jet's inputs of this kind are all finite.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of jet-table rows: ``label`` and the kind's ``columns``.

        Returns
        -------
        numpy.ndarray
            Shape (jets,), bool: True where every value of every column of the kind is finite.
        """
        n = len(rows["label"])
        ok = np.ones(n, dtype=bool)
        for c in self.columns():
            ok &= np.isfinite(np.asarray(rows[c], dtype=np.float64).reshape(n, -1)).all(axis=1)
        return ok

    def binning(self, feature: str) -> tuple[int, float, float, str]:
        """(bins, low, high, axis label) of the feature's input value.

        Parameters
        ----------
        feature : str
            One of ``feature_names``.

        Returns
        -------
        bins : int
            The number of bins.
        low : float
            The lower edge.
        high : float
            The upper edge.
        label : str
            The axis label (matplotlib mathtext).
        """
        raise NotImplementedError

    def profiled_features(self) -> list[str]:
        """Features with a relevance profile (against their input value).

        Returns
        -------
        list of str
            The feature names; all of ``feature_names`` by default.
        """
        return self.feature_names()

    def profile_entries(self, rows: dict, relevance: np.ndarray) -> list[ProfileEntries]:
        """The entries of the kind's relevance profiles (input value against relevance, per feature).

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            The jet-table rows of the jets explained (``columns`` and ``extra_columns``).
        relevance : numpy.ndarray
            Their relevance, shaped like the kind's tensor (normalised per jet).

        Returns
        -------
        list of ProfileEntries
            One per profiled feature (``profiled_features``); none for a kind without profiles.
        """
        return []

    def map_axes(self, processing: TableSettings) -> tuple[int, float, str] | None:
        """(pixels per side, half-width, unit) of a 2D relevance map (rows top to bottom, columns left to right).

        Parameters
        ----------
        processing : TableSettings
            The processing configuration of the jet tables (``ProcessingConfig``).

        Returns
        -------
        tuple of (int, float, str) or None
            The pixels per side, the half-width of the map and the unit of its axes; None for kinds without a map
            (the default).
        """
        return None

    def map_values(self, rows: dict, relevance: np.ndarray | None = None) -> np.ndarray:
        """(jets, pixels) of the map: the input itself, or ``relevance`` flattened.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of jet-table rows: the kind's ``columns`` (not read when ``relevance`` is given).
        relevance : numpy.ndarray, optional
            Shape of the kind's tensor: the relevance to map; None: map the input.

        Returns
        -------
        numpy.ndarray
            Shape (jets, pixels): the map's values, row after row.
        """
        raise NotImplementedError

    def object_positions(self, rows: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """For kinds that list objects per jet (particles, tracks): where to draw each object of example jets.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of jet-table rows: the kind's ``columns`` and ``extra_columns``.

        Returns
        -------
        tuple of numpy.ndarray or None
            (x, y, marker size, real-object mask), each of shape (jets, objects); None for kinds without objects
            (the default).
        """
        return None

    def label(self, feature: str) -> str:
        """Axis label of a feature in figures.

        Parameters
        ----------
        feature : str
            One of ``feature_names``.

        Returns
        -------
        str
            The label of its ``binning``.
        """
        return self.binning(feature)[3]

    # -- removal units, for input-perturbation curves (``xaugcol.explain.faithfulness``) ---------------------------
    # A unit is what one removal step takes out of a jet (a pixel, a particle, an XAUG variable); removing it sets
    # it to the kind's baseline. By default every element of the tensor is a unit, always present, baseline 0.
    removal_unit: ClassVar[str] = "input value"

    def unit_relevance(self, relevance: torch.Tensor) -> torch.Tensor:
        """(jets, units): the relevance of each unit (summed over its elements).

        Parameters
        ----------
        relevance : torch.Tensor
            Shape of the kind's tensor, (jets, ...).

        Returns
        -------
        torch.Tensor
            Shape (jets, units); by default every element is a unit (the tensor flattened per jet).
        """
        return relevance.reshape(len(relevance), -1)

    def present_units(self, x: torch.Tensor) -> torch.Tensor:
        """(jets, units) bool: the units a jet has (an empty pixel or a padded slot cannot be removed).

        Parameters
        ----------
        x : torch.Tensor
            The kind's input tensor, (jets, ...).

        Returns
        -------
        torch.Tensor
            Shape (jets, units), bool, on the device of ``x``; all True by default.
        """
        import torch  # here, not above: figure workers import the kinds and never torch

        return torch.ones(len(x), self.unit_relevance(x).shape[1], dtype=torch.bool, device=x.device)

    def removal_baseline(self, scaler: Any) -> torch.Tensor | float:
        """The value a removed unit takes: a number, or one per unit (``scaler``: the tagger member's).

        Parameters
        ----------
        scaler : Any
            The tagger member's scaler for this kind, or None.

        Returns
        -------
        torch.Tensor or float
            The baseline: 0.0 by default.
        """
        return 0.0

    def without_units(self, x: torch.Tensor, removed: torch.Tensor, baseline: torch.Tensor | float) -> torch.Tensor:
        """``x`` with the ``removed`` (jets, units) units set to ``baseline``.

        Parameters
        ----------
        x : torch.Tensor
            The kind's input tensor, (jets, ...).
        removed : torch.Tensor
            Shape (jets, units), bool: the units to remove.
        baseline : torch.Tensor or float
            The value a removed unit takes (``removal_baseline``): one number, or one per unit.

        Returns
        -------
        torch.Tensor
            The shape of ``x``: the removed units set to ``baseline``, the others kept.
        """
        import torch

        flat = x.reshape(len(x), -1)
        fill = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(flat)
        return torch.where(removed, fill, flat).reshape(x.shape)

    # -- occlusion groups, for feature occlusion (``xaugcol.explain.occlusion``) ---------------------------------
    # A group is what one occlusion masks in every jet at once, set to zero after scaling (Roy and Neubauer's (ICHEP
    # 2022) masking: the training mean of a standardised feature). By default one feature, the tensor's last axis: an
    # XAUG variable, or one particle, track or vertex feature in all the jet's slots.
    def occlusion_groups(self) -> list[str]:
        """The kind's occlusion groups (above), by name.

        Returns
        -------
        list of str
            The group names; by default the ``feature_names``, one group per feature (the tensor's last axis).
        """
        return self.feature_names()

    def occlusion_mask(self, groups: Collection[str]) -> np.ndarray:
        """bool, broadcasting against the kind's batch tensor: True for the values the ``groups`` mask.

        Parameters
        ----------
        groups : collection of str
            Names of the kind's occlusion groups.

        Returns
        -------
        numpy.ndarray
            Bool, broadcasting against the kind's batch tensor; by default shape (features,), over its last axis.

        Raises
        ------
        ValueError
            For a name that is not one of the kind's occlusion groups.
        """
        return np.isin(np.array(self.occlusion_groups()), self.checked_groups(groups))

    def checked_groups(self, groups: Collection[str]) -> list[str]:
        """``groups`` as a list, each one of the kind's occlusion groups (a ValueError names any other).

        Parameters
        ----------
        groups : collection of str
            Names of occlusion groups.

        Returns
        -------
        list of str
            ``groups``, in their order.

        Raises
        ------
        ValueError
            For a name that is not one of the kind's ``occlusion_groups``.
        """
        names = self.occlusion_groups()
        unknown = sorted(set(groups) - set(names))
        if unknown:
            raise ValueError(f"{self.name}: no occlusion group {unknown}; known: {', '.join(names)}")
        return list(groups)
