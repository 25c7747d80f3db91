"""The jet image (``xaugcol.features.images``) as a tagger input: one channel of pixel pT fractions, one feature
("image": relevance summed over all pixels), and a 2D relevance map."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from xaugcol.features.kinds.base import InputKind
from xaugcol.quoting import quoted

if TYPE_CHECKING:
    import torch

    from xaugcol.features.kinds.base import TableSettings, TaggerSettings


@dataclass(frozen=True)
class ImageInput(InputKind):
    """The jet image (module docstring); ``n_pixels`` per side."""

    name = "image"
    n_pixels: int = 37

    @classmethod
    def from_config(cls, config: TaggerSettings) -> ImageInput:
        return cls(config.shape_of(cls.name, (cls.n_pixels, cls.n_pixels))[0])

    @classmethod
    def shape_settings(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 3:
            raise ValueError(f"an image is square, at least 3x3 pixels: got shape {list(shape)}")
        return shape

    def columns(self) -> tuple[str, ...]:
        return (self.name,)

    @property
    def table_column(self) -> str:
        return self.name  # an image kind's table column carries its name (``image``, the lepton's ``calo``)

    def tensor(self, rows: dict, scaler: None = None) -> np.ndarray:
        return rows["image"][:, None, :, :].astype(np.float32)

    def model_arguments(self) -> dict:
        return {"n_pixels": self.n_pixels}

    def feature_names(self) -> list[str]:
        return ["image"]

    def feature_sums(self, relevance: np.ndarray, signed: bool = False) -> np.ndarray:
        return (relevance if signed else np.abs(relevance)).reshape(len(relevance), -1).sum(1, keepdims=True)

    def profiled_features(self) -> list[str]:
        return []  # the image is one feature without a scalar value: its relevance is drawn as a map instead

    def binning(self, feature: str) -> tuple[int, float, float, str]:
        raise ValueError("the jet image has no value binning: its relevance is a 2D map")

    def label(self, feature: str) -> str:
        if feature != "image":
            raise ValueError(f"not the image feature: {quoted(feature)}")
        return "image"

    # occlusion groups: a 3 x 3 grid of blocks (rows top to bottom, columns left to right; the leading prong sits in
    # the centre block, the second prong below it)
    GRID = 3

    def occlusion_groups(self) -> list[str]:
        return [f"{self.name}:r{r}c{c}" for r in range(self.GRID) for c in range(self.GRID)]

    def occlusion_mask(self, groups: Collection[str]) -> np.ndarray:
        names = self.occlusion_groups()
        block = np.arange(self.n_pixels) * self.GRID // self.n_pixels  # each pixel row's (column's) block
        index = block[:, None] * self.GRID + block[None, :]
        chosen = [names.index(g) for g in self.checked_groups(groups)]
        return np.isin(index, chosen)[None, :, :]  # (1 channel, rows, columns)

    removal_unit = "pixel"

    def present_units(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1) != 0  # a removed pixel is empty (0), as the pixels without particles

    def map_axes(self, processing: TableSettings) -> tuple[int, float, str]:
        return processing.image.n_pixels, processing.image.extent, "prong distances"

    def map_values(self, rows: dict, relevance: np.ndarray | None = None) -> np.ndarray:
        source = rows["image"] if relevance is None else relevance
        return np.asarray(source).reshape(len(source), -1)
