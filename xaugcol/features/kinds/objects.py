"""What the per-object input kinds share (particle lists, tracks, secondary vertices): a (jets, objects, features)
table column, pT-ordered and zero-padded, with a ``<column>_mask`` column of the real objects; each feature
standardised over the training split's real objects (padding stays exactly zero), relevance summed over the objects
per feature, profiled per real object, and removed (for the perturbation curves) one object at a time.

A subclass names its column and features, the tagger arguments its shape fixes, its binning and removal unit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast, overload

import numpy as np

from xaugcol.features.kinds.base import InputKind, ProfileEntries
from xaugcol.features.scaler import ObjectScaler

if TYPE_CHECKING:
    import torch

    from xaugcol.features.kinds.base import TableBlocks, TaggerSettings


@overload
def real_objects(objects: np.ndarray) -> np.ndarray: ...
@overload
def real_objects(objects: torch.Tensor) -> torch.Tensor: ...
def real_objects(objects: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """(jets, objects) True for a real object, False for a padded slot.

    A padded slot is all zeros; a real particle, track or vertex never is: its pT fraction is not zero. For numpy
    arrays and torch tensors alike: the taggers' ``RealParticles``.

    Parameters
    ----------
    objects : numpy.ndarray or torch.Tensor
        Shape (jets, objects, features): an object list.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape (jets, objects), bool, of the type of ``objects``: True where any feature is nonzero.
    """
    return (objects != 0).any(-1)


@dataclass(frozen=True)
class ObjectListInput(InputKind):
    """A per-object input kind (module docstring): ``n_objects`` slots of ``n_features`` features per jet.

    Parameters
    ----------
    n_objects : int, default 0
        The object slots per jet; 0: the class's ``DEFAULT_OBJECTS``.
    n_features : int, default 0
        The features per object; 0: ``len(FEATURES)``, the only number accepted.
    scaling : str, default "standard"
        How the features are scaled, one of ``SCALINGS`` (``standard``, ``none``, ``robust``: ``ObjectScaler``).

    Raises
    ------
    ValueError
        For a number of features other than ``len(FEATURES)``.
    """

    SCALINGS: ClassVar[tuple[str, ...]] = ("standard", "none", "robust")
    FEATURES: ClassVar[tuple[str, ...]] = ()
    BINNING: ClassVar[dict] = {}  # feature (without prefix): (bins, low, high, label)
    PREFIX: ClassVar[str] = ""
    DEFAULT_OBJECTS: ClassVar[int] = 1
    COUNT_ARGUMENT: ClassVar[str] = ""  # the tagger's keyword argument for the number of objects...
    FEATURES_ARGUMENT: ClassVar[str] = ""  # ...and for the features per object
    # the features that place an object in example-jet figures (delta eta, delta phi to the axis) and size its
    # marker (a pT fraction, ``marker_size``)
    POSITION_FEATURES: ClassVar[tuple[str, str, str]] = ("etarel", "phirel", "ptrel")
    n_objects: int = 0  # 0: DEFAULT_OBJECTS
    n_features: int = 0  # 0: len(FEATURES)
    scaling: str = "standard"

    def __post_init__(self):
        object.__setattr__(self, "n_objects", self.n_objects or self.DEFAULT_OBJECTS)
        object.__setattr__(self, "n_features", self.n_features or len(self.FEATURES))
        if self.n_features != len(self.FEATURES):
            raise ValueError(
                f"{self.name} carry {len(self.FEATURES)} features each ({', '.join(self.FEATURES)}), "
                f"got {self.n_features}"
            )

    @classmethod
    def from_config(cls, config: TaggerSettings) -> ObjectListInput:
        """The kind with the shape and scaling the tagger's configuration gives (defaults: the class's).

        Parameters
        ----------
        config : TaggerSettings
            The tagger's configuration: its ``shapes`` entry (objects, features) and scaling for this kind.

        Returns
        -------
        ObjectListInput
            The kind, of this class.
        """
        # (objects, features): checked by shape_settings when the configuration was read
        shape = cast(tuple[int, int], config.shape_of(cls.name, (cls.DEFAULT_OBJECTS, len(cls.FEATURES))))
        return cls(*shape, config.scaling_of(cls.name, cls.SCALINGS[0]))

    def fit_scaler(self, tables: TableBlocks, scan: dict) -> ObjectScaler:
        """An ``ObjectScaler`` fitted on the real objects of the training split, streamed block by block.

        Parameters
        ----------
        tables : TableBlocks
            The jet tables; the kind's column of the ``train`` split is read from them.
        scan : dict
            The per-jet columns read for every kind (not used).

        Returns
        -------
        ObjectScaler
            The scaler of ``FEATURES`` in the kind's ``scaling`` mode.
        """
        column = self.table_column
        blocks = tables.blocks("train", [column])
        return ObjectScaler.fit(self.FEATURES, ((b[column], real_objects(b[column])) for b in blocks), self.scaling)

    def check_scaler(self, scaler: object, where: str) -> None:
        """Refuse a loaded scaler that is not an ``ObjectScaler`` of the kind's features and scaling.

        Parameters
        ----------
        scaler : object
            The scaler loaded for this kind (None where the file has none).
        where : str
            Names the scaler file in the error.

        Raises
        ------
        ValueError
            Where ``scaler`` is not an ``ObjectScaler`` of ``FEATURES`` in the kind's ``scaling`` mode.
        """
        if not isinstance(scaler, ObjectScaler) or scaler.features != self.FEATURES or scaler.mode != self.scaling:
            raise ValueError(
                f"{where}: the {self.name} scaler does not fit the tagger's {self.name} features "
                f"({', '.join(self.FEATURES)})"
            )

    @classmethod
    def shape_settings(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-jet shape (objects, features) of the kind's table column, checked.

        Parameters
        ----------
        shape : tuple of int
            The shape as configured or found in the data.

        Returns
        -------
        tuple of int
            (objects, features), as integers.

        Raises
        ------
        ValueError
            Unless the shape is (n, ``len(FEATURES)``) with n >= 1.
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or shape[0] < 1 or shape[1] != len(cls.FEATURES):
            raise ValueError(
                f"a list of {cls.name} is ({cls.name}, {len(cls.FEATURES)} features): got shape {list(shape)}"
            )
        return shape

    @property
    def table_column(self) -> str:
        """The kind's table column: the kind's ``name`` (``particles``, ``tracks``, ...)."""
        return self.name

    def columns(self) -> tuple[str, ...]:
        """The jet-table columns the kind's tensor is built from: its ``table_column``.

        Returns
        -------
        tuple of str
            ``(table_column,)``.
        """
        return (self.table_column,)

    def extra_columns(self) -> tuple[str, ...]:
        """The mask column of the real objects, which the relevance profiles read.

        Returns
        -------
        tuple of str
            ``("<table_column>_mask",)``.
        """
        return (f"{self.table_column}_mask",)

    def tensor(self, rows: dict, scaler: ObjectScaler | None = None) -> np.ndarray:
        """(jets, objects, features) float32 batch tensor, scaled over the real objects.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of jet-table rows with the kind's ``table_column``, shape (jets, objects, features).
        scaler : ObjectScaler, optional
            The tagger's scaler for this kind; None: the values as stored. The padded slots (all zeros) stay zero.

        Returns
        -------
        numpy.ndarray
            Shape (jets, objects, features), float32.
        """
        objects = rows[self.table_column]
        if scaler is None:
            return objects.astype(np.float32)
        return scaler.transform(objects, real_objects(objects))

    def model_arguments(self) -> dict:
        """The tagger's keyword arguments for the number of objects and of features per object.

        Returns
        -------
        dict of str to int
            ``COUNT_ARGUMENT``: ``n_objects`` and ``FEATURES_ARGUMENT``: ``n_features``.
        """
        return {self.COUNT_ARGUMENT: self.n_objects, self.FEATURES_ARGUMENT: self.n_features}

    def feature_names(self) -> list[str]:
        """The object features, each with the kind's prefix (``particle:log_pt``, ``track:ptrel``, ...).

        Returns
        -------
        list of str
            ``PREFIX`` + each of ``FEATURES``, in order.
        """
        return [self.PREFIX + f for f in self.FEATURES]

    def feature_sums(self, relevance: np.ndarray, signed: bool = False) -> np.ndarray:
        """(jets, features): |relevance| summed over the objects, per feature.

        Parameters
        ----------
        relevance : numpy.ndarray
            Shape (jets, objects, features): the relevance, normalised per jet.
        signed : bool, default False
            Sum the relevance itself instead of its absolute value.

        Returns
        -------
        numpy.ndarray
            Shape (jets, features).
        """
        return (relevance if signed else np.abs(relevance)).sum(axis=1)

    def binning(self, feature: str) -> tuple[int, float, float, str]:
        """(bins, low, high, axis label) of an object feature's input value, from ``BINNING``.

        Parameters
        ----------
        feature : str
            A feature name with the kind's prefix.

        Returns
        -------
        tuple of (int, float, float, str)
            The number of bins, the lower and upper edges, and the axis label.

        Raises
        ------
        KeyError
            For a feature without the kind's prefix or not in ``BINNING``.
        """
        if not feature.startswith(self.PREFIX):
            raise KeyError(feature)
        return self.BINNING[feature.removeprefix(self.PREFIX)]

    def profile_entries(self, rows: dict, relevance: np.ndarray) -> list[ProfileEntries]:
        """One entry per real (unpadded) object and feature.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            The explained jets' rows: the kind's ``table_column`` and its ``_mask`` column.
        relevance : numpy.ndarray
            Shape (jets, objects, features): their relevance, normalised per jet.

        Returns
        -------
        list of ProfileEntries
            One per feature of ``FEATURES``, with one entry per real object and its jet's index (``jet``).
        """
        mask = rows[f"{self.table_column}_mask"].astype(bool)
        jet = np.nonzero(mask)[0]
        values, r = rows[self.table_column][mask], relevance[mask]  # (real objects, features)
        return [ProfileEntries(self.PREFIX + f, values[:, k], r[:, k], jet) for k, f in enumerate(self.FEATURES)]

    def object_positions(self, rows: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(delta eta, delta phi) to the jet axis, marker size growing with the pT fraction.

        The features are those of ``POSITION_FEATURES``; the marker size is ``marker_size`` of the third.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of jet-table rows: the kind's ``table_column`` and its ``_mask`` column.

        Returns
        -------
        x : numpy.ndarray
            Shape (jets, objects): each object's delta eta to the axis.
        y : numpy.ndarray
            Shape (jets, objects): each object's delta phi to the axis.
        size : numpy.ndarray
            Shape (jets, objects): the marker size (matplotlib's ``s``, points squared).
        mask : numpy.ndarray
            Shape (jets, objects), bool: True for the real objects.
        """
        objects = rows[self.table_column]
        x, y, size = (objects[..., self.FEATURES.index(f)] for f in self.POSITION_FEATURES)
        return x, y, self.marker_size(size), rows[f"{self.table_column}_mask"].astype(bool)

    @staticmethod
    def marker_size(pt_fraction: np.ndarray) -> np.ndarray:
        """The marker size of objects of the given pT fraction: 400 * sqrt(|pt_fraction|).

        Parameters
        ----------
        pt_fraction : numpy.ndarray
            The objects' pT / pT_jet (the third of ``POSITION_FEATURES``), any shape.

        Returns
        -------
        numpy.ndarray
            The marker sizes (points squared), of the shape of ``pt_fraction``.
        """
        return 400 * np.sqrt(np.abs(pt_fraction))

    def unit_relevance(self, relevance: torch.Tensor) -> torch.Tensor:
        """(jets, objects): the relevance of each object, summed over its features.

        Parameters
        ----------
        relevance : torch.Tensor
            Shape (jets, objects, features).

        Returns
        -------
        torch.Tensor
            Shape (jets, objects).
        """
        return relevance.sum(dim=2)  # an object: all its features

    def present_units(self, x: torch.Tensor) -> torch.Tensor:
        """(jets, objects) bool: the real objects (a padded slot cannot be removed).

        Parameters
        ----------
        x : torch.Tensor
            Shape (jets, objects, features): the kind's input tensor.

        Returns
        -------
        torch.Tensor
            Shape (jets, objects), bool: True where any feature is nonzero (``real_objects``).
        """
        return real_objects(x)

    def without_units(self, x: torch.Tensor, removed: torch.Tensor, baseline: torch.Tensor | float) -> torch.Tensor:
        """A removed object becomes a padded slot (all zeros), which the masked taggers do not read.

        Parameters
        ----------
        x : torch.Tensor
            Shape (jets, objects, features): the kind's input tensor.
        removed : torch.Tensor
            Shape (jets, objects), bool: the objects to remove.
        baseline : torch.Tensor or float
            Not used: a removed object is always all zeros.

        Returns
        -------
        torch.Tensor
            ``x`` with the removed objects zeroed.
        """
        return x * (~removed).unsqueeze(2).to(x.dtype)
