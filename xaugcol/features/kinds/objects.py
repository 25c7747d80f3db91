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
    """(jets, objects) True for a real object, False for a padded slot (all zeros; a real particle, track or vertex
    never is: its pT fraction is not zero), for numpy arrays and torch tensors alike: the taggers' ``RealParticles``."""
    return (objects != 0).any(-1)


@dataclass(frozen=True)
class ObjectListInput(InputKind):
    """A per-object input kind (module docstring): ``n_objects`` slots of ``n_features`` features per jet (0: the
    class's defaults), scaled as ``scaling`` says."""

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
        # (objects, features): checked by shape_settings when the configuration was read
        shape = cast(tuple[int, int], config.shape_of(cls.name, (cls.DEFAULT_OBJECTS, len(cls.FEATURES))))
        return cls(*shape, config.scaling_of(cls.name, cls.SCALINGS[0]))

    def fit_scaler(self, tables: TableBlocks, scan: dict) -> ObjectScaler:
        column = self.table_column
        blocks = tables.blocks("train", [column])
        return ObjectScaler.fit(self.FEATURES, ((b[column], real_objects(b[column])) for b in blocks), self.scaling)

    def check_scaler(self, scaler: object, where: str) -> None:
        if not isinstance(scaler, ObjectScaler) or scaler.features != self.FEATURES or scaler.mode != self.scaling:
            raise ValueError(
                f"{where}: the {self.name} scaler does not fit the tagger's {self.name} features "
                f"({', '.join(self.FEATURES)})"
            )

    @classmethod
    def shape_settings(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or shape[0] < 1 or shape[1] != len(cls.FEATURES):
            raise ValueError(
                f"a list of {cls.name} is ({cls.name}, {len(cls.FEATURES)} features): got shape {list(shape)}"
            )
        return shape

    @property
    def table_column(self) -> str:
        return self.name

    def columns(self) -> tuple[str, ...]:
        return (self.table_column,)

    def extra_columns(self) -> tuple[str, ...]:
        return (f"{self.table_column}_mask",)

    def tensor(self, rows: dict, scaler: ObjectScaler | None = None) -> np.ndarray:
        objects = rows[self.table_column]
        if scaler is None:
            return objects.astype(np.float32)
        return scaler.transform(objects, real_objects(objects))

    def model_arguments(self) -> dict:
        return {self.COUNT_ARGUMENT: self.n_objects, self.FEATURES_ARGUMENT: self.n_features}

    def feature_names(self) -> list[str]:
        return [self.PREFIX + f for f in self.FEATURES]

    def feature_sums(self, relevance: np.ndarray, signed: bool = False) -> np.ndarray:
        return (relevance if signed else np.abs(relevance)).sum(axis=1)

    def binning(self, feature: str) -> tuple[int, float, float, str]:
        if not feature.startswith(self.PREFIX):
            raise KeyError(feature)
        return self.BINNING[feature.removeprefix(self.PREFIX)]

    def profile_entries(self, rows: dict, relevance: np.ndarray) -> list[ProfileEntries]:
        """One entry per real (unpadded) object and feature."""
        mask = rows[f"{self.table_column}_mask"].astype(bool)
        jet = np.nonzero(mask)[0]
        values, r = rows[self.table_column][mask], relevance[mask]  # (real objects, features)
        return [ProfileEntries(self.PREFIX + f, values[:, k], r[:, k], jet) for k, f in enumerate(self.FEATURES)]

    def object_positions(self, rows: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(delta eta, delta phi) to the jet axis, marker size growing with the pT fraction."""
        objects = rows[self.table_column]
        x, y, size = (objects[..., self.FEATURES.index(f)] for f in self.POSITION_FEATURES)
        return x, y, self.marker_size(size), rows[f"{self.table_column}_mask"].astype(bool)

    @staticmethod
    def marker_size(pt_fraction: np.ndarray) -> np.ndarray:
        return 400 * np.sqrt(np.abs(pt_fraction))

    def unit_relevance(self, relevance: torch.Tensor) -> torch.Tensor:
        return relevance.sum(dim=2)  # an object: all its features

    def present_units(self, x: torch.Tensor) -> torch.Tensor:
        return real_objects(x)

    def without_units(self, x: torch.Tensor, removed: torch.Tensor, baseline: torch.Tensor | float) -> torch.Tensor:
        """A removed object becomes a padded slot (all zeros), which the masked taggers do not read."""
        return x * (~removed).unsqueeze(2).to(x.dtype)
