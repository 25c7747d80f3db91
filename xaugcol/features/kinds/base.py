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
    """What an input kind reads of a tagger's configuration (``xaugcol.models.registry.ModelConfig``, which
    builds the kinds: they do not import it back)."""

    @property
    def xaug_columns(self) -> tuple[str, ...]: ...

    def shape_of(self, kind: str, default: tuple[int, ...]) -> tuple[int, ...]: ...

    def scaling_of(self, kind: str, default: str) -> str: ...


class TableSettings(Protocol):
    """What a kind's map reads of the jet tables' settings (``xaugcol.processing.settings.ProcessingConfig``)."""

    @property
    def image(self) -> ImageConfig: ...


class TableBlocks(Protocol):
    """What fitting a kind's scaler reads of the jet tables (``xaugcol.training.data.JetTables``)."""

    def blocks(self, split: str, columns: list[str]) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True)
class ProfileEntries:
    """Entries of one feature's relevance profile: one per jet (``jet`` None) or one per object of a jet
    (``jet``: the index of each entry's jet, e.g. of each real particle)."""

    feature: str
    values: np.ndarray
    relevance: np.ndarray
    jet: np.ndarray | None = None


@dataclass(frozen=True)
class InputKind:
    """One kind of tagger input (the jet image, the particle list, the XAUG variables, ...): the contract of the
    module docstring. Subclasses are registered under their ``name`` (``xaugcol.features.kinds.register``)."""

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
        """The kind's scaler fitted on the training split: ``scan`` holds its per-jet columns (the kind's
        ``columns`` of a ``jet_scalars`` kind among them), read once for every kind; array columns are streamed
        from ``tables`` (a ``JetTables``, ``blocks``)."""
        raise NotImplementedError

    def check_scaler(self, scaler: object, where: str) -> None:
        """Refuse (ValueError naming ``where``) a loaded scaler that does not fit this kind."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: TaggerSettings) -> InputKind:
        """The kind as the tagger described by ``config`` (a ``ModelConfig``) reads it."""
        raise NotImplementedError

    @classmethod
    def shape_settings(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-jet shape of the kind's table column, checked (a tagger's ``shapes`` entry)."""
        return tuple(int(s) for s in shape)

    def columns(self) -> tuple[str, ...]:
        """The jet-table columns the kind's tensor is built from."""
        raise NotImplementedError

    def extra_columns(self) -> tuple[str, ...]:
        """More jet-table columns the relevance histograms of the kind need (beside ``columns``)."""
        return ()

    @property
    def table_column(self) -> str | None:
        """The one array column whose per-jet shape the tagger takes from the data (None: scalar columns)."""
        return None

    def tensor(self, rows: dict, scaler: Any = None) -> np.ndarray:
        """(jets, ...) float32 batch tensor; ``scaler``: the tagger's scaler for this kind (``scaled`` kinds; what
        its ``fit_scaler`` returns)."""
        raise NotImplementedError

    def model_arguments(self) -> dict:
        """Keyword arguments of a tagger class that this kind's shape fixes (``n_pixels=37``...)."""
        return {}

    def feature_names(self) -> list[str]:
        """The kind's features, in the order of ``feature_sums``' columns."""
        raise NotImplementedError

    def feature_sums(self, relevance: np.ndarray, signed: bool = False) -> np.ndarray:
        """(jets, features): |relevance| (tensor-shaped, already normalised) summed per feature; ``signed``: the
        relevance itself summed (what the feature adds to the output, for the score-normalised view)."""
        raise NotImplementedError

    def finite(self, rows: dict) -> np.ndarray:
        """(jets,) bool: the jet's inputs of this kind are all finite."""
        n = len(rows["label"])
        ok = np.ones(n, dtype=bool)
        for c in self.columns():
            ok &= np.isfinite(np.asarray(rows[c], dtype=np.float64).reshape(n, -1)).all(axis=1)
        return ok

    def binning(self, feature: str) -> tuple[int, float, float, str]:
        """(bins, low, high, axis label) of the feature's input value."""
        raise NotImplementedError

    def profiled_features(self) -> list[str]:
        """Features with a relevance profile (against their input value)."""
        return self.feature_names()

    def profile_entries(self, rows: dict, relevance: np.ndarray) -> list[ProfileEntries]:
        """The entries of the kind's relevance profiles (input value against relevance, per feature).

        Parameters
        ----------
        rows
            The jet-table rows of the jets explained (``columns`` and ``extra_columns``).
        relevance
            Their relevance, shaped like the kind's tensor (normalised per jet).

        Returns
        -------
        list of ProfileEntries
            One per profiled feature (``profiled_features``); none for a kind without profiles.
        """
        return []

    def map_axes(self, processing: TableSettings) -> tuple[int, float, str] | None:
        """(pixels per side, half-width, unit) of a 2D relevance map (rows top to bottom, columns left to right),
        from the processing configuration of the jet tables; None for kinds without one."""
        return None

    def map_values(self, rows: dict, relevance: np.ndarray | None = None) -> np.ndarray:
        """(jets, pixels) of the map: the input itself, or ``relevance`` flattened."""
        raise NotImplementedError

    def object_positions(self, rows: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """For kinds that list objects per jet (particles, tracks): (x, y, marker size, real-object mask), each
        (jets, objects), to draw example jets; None otherwise."""
        return None

    def label(self, feature: str) -> str:
        """Axis label of a feature in figures."""
        return self.binning(feature)[3]

    # -- removal units, for input-perturbation curves (``xaugcol.explain.faithfulness``) ---------------------------
    # A unit is what one removal step takes out of a jet (a pixel, a particle, an XAUG variable); removing it sets
    # it to the kind's baseline. By default every element of the tensor is a unit, always present, baseline 0.
    removal_unit: ClassVar[str] = "input value"

    def unit_relevance(self, relevance: torch.Tensor) -> torch.Tensor:
        """(jets, units): the relevance of each unit (summed over its elements)."""
        return relevance.reshape(len(relevance), -1)

    def present_units(self, x: torch.Tensor) -> torch.Tensor:
        """(jets, units) bool: the units a jet has (an empty pixel or a padded slot cannot be removed)."""
        import torch  # here, not above: figure workers import the kinds and never torch

        return torch.ones(len(x), self.unit_relevance(x).shape[1], dtype=torch.bool, device=x.device)

    def removal_baseline(self, scaler: Any) -> torch.Tensor | float:
        """The value a removed unit takes: a number, or one per unit (``scaler``: the tagger member's)."""
        return 0.0

    def without_units(self, x: torch.Tensor, removed: torch.Tensor, baseline: torch.Tensor | float) -> torch.Tensor:
        """``x`` with the ``removed`` (jets, units) units set to ``baseline``."""
        import torch

        flat = x.reshape(len(x), -1)
        fill = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(flat)
        return torch.where(removed, fill, flat).reshape(x.shape)

    # -- occlusion groups, for feature occlusion (``xaugcol.explain.occlusion``) ---------------------------------
    # A group is what one occlusion masks in every jet at once, set to zero after scaling (Roy and Neubauer's (ICHEP
    # 2022) masking: the training mean of a standardised feature). By default one feature, the tensor's last axis: an
    # XAUG variable, or one particle, track or vertex feature in all the jet's slots.
    def occlusion_groups(self) -> list[str]:
        """The kind's occlusion groups (above), by name."""
        return self.feature_names()

    def occlusion_mask(self, groups: Collection[str]) -> np.ndarray:
        """bool, broadcasting against the kind's batch tensor: True for the values the ``groups`` mask."""
        return np.isin(np.array(self.occlusion_groups()), self.checked_groups(groups))

    def checked_groups(self, groups: Collection[str]) -> list[str]:
        """``groups`` as a list, each one of the kind's occlusion groups (a ValueError names any other)."""
        names = self.occlusion_groups()
        unknown = sorted(set(groups) - set(names))
        if unknown:
            raise ValueError(f"{self.name}: no occlusion group {unknown}; known: {', '.join(names)}")
        return list(groups)
