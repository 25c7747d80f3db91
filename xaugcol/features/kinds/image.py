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
    """The jet image (module docstring); ``n_pixels`` per side.

    Parameters
    ----------
    n_pixels : int, default 37
        The image's pixels per side.
    """

    name = "image"
    n_pixels: int = 37

    @classmethod
    def from_config(cls, config: TaggerSettings) -> ImageInput:
        """The kind with the image size of the tagger's configuration (default 37 x 37).

        Parameters
        ----------
        config : TaggerSettings
            The tagger's configuration: its ``shapes`` entry for this kind.

        Returns
        -------
        ImageInput
            The kind, of this class.
        """
        return cls(config.shape_of(cls.name, (cls.n_pixels, cls.n_pixels))[0])

    @classmethod
    def shape_settings(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-jet shape (pixels, pixels) of the image column, checked.

        Parameters
        ----------
        shape : tuple of int
            The shape as configured or found in the data.

        Returns
        -------
        tuple of int
            (n, n), as integers.

        Raises
        ------
        ValueError
            Unless the image is square, at least 3 x 3.
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 3:
            raise ValueError(f"an image is square, at least 3x3 pixels: got shape {list(shape)}")
        return shape

    def columns(self) -> tuple[str, ...]:
        """The jet-table column of the image: the kind's ``name``.

        Returns
        -------
        tuple of str
            ``(name,)``.
        """
        return (self.name,)

    @property
    def table_column(self) -> str:
        """The image's table column, which carries the kind's name (``image``, the lepton's ``calo``)."""
        return self.name  # an image kind's table column carries its name (``image``, the lepton's ``calo``)

    def tensor(self, rows: dict, scaler: None = None) -> np.ndarray:
        """(jets, 1, n_pixels, n_pixels) float32: the images with one channel axis; never scaled.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of jet-table rows with ``image``, shape (jets, n_pixels, n_pixels).
        scaler : None, optional
            Not used: the image is not scaled.

        Returns
        -------
        numpy.ndarray
            Shape (jets, 1, n_pixels, n_pixels), float32.
        """
        return rows["image"][:, None, :, :].astype(np.float32)

    def model_arguments(self) -> dict:
        """The tagger's keyword argument the image size fixes.

        Returns
        -------
        dict of str to int
            ``{"n_pixels": n_pixels}``.
        """
        return {"n_pixels": self.n_pixels}

    def feature_names(self) -> list[str]:
        """The image is one feature, ``image``.

        Returns
        -------
        list of str
            ``["image"]``.
        """
        return ["image"]

    def feature_sums(self, relevance: np.ndarray, signed: bool = False) -> np.ndarray:
        """(jets, 1): |relevance| summed over all pixels.

        Parameters
        ----------
        relevance : numpy.ndarray
            Shape (jets, 1, n_pixels, n_pixels): the relevance, normalised per jet.
        signed : bool, default False
            Sum the relevance itself instead of its absolute value.

        Returns
        -------
        numpy.ndarray
            Shape (jets, 1).
        """
        return (relevance if signed else np.abs(relevance)).reshape(len(relevance), -1).sum(1, keepdims=True)

    def profiled_features(self) -> list[str]:
        """None: the image has no scalar value to profile against.

        Returns
        -------
        list of str
            An empty list.
        """
        return []  # the image is one feature without a scalar value: its relevance is drawn as a map instead

    def binning(self, feature: str) -> tuple[int, float, float, str]:
        """Refuse: the jet image has no value binning (its relevance is a 2D map).

        Parameters
        ----------
        feature : str
            Any feature name.

        Raises
        ------
        ValueError
            Always.
        """
        raise ValueError("the jet image has no value binning: its relevance is a 2D map")

    def label(self, feature: str) -> str:
        """Axis label of the image feature.

        Parameters
        ----------
        feature : str
            ``image``.

        Returns
        -------
        str
            ``"image"``.

        Raises
        ------
        ValueError
            For any other feature.
        """
        if feature != "image":
            raise ValueError(f"not the image feature: {quoted(feature)}")
        return "image"

    # occlusion groups: a 3 x 3 grid of blocks (rows top to bottom, columns left to right; the leading prong sits in
    # the centre block, the second prong below it)
    GRID = 3

    def occlusion_groups(self) -> list[str]:
        """The 3 x 3 grid of image blocks, by name.

        Returns
        -------
        list of str
            ``<name>:r<row>c<column>``, rows and columns 0 to 2, row after row.
        """
        return [f"{self.name}:r{r}c{c}" for r in range(self.GRID) for c in range(self.GRID)]

    def occlusion_mask(self, groups: Collection[str]) -> np.ndarray:
        """(1, n_pixels, n_pixels) bool: True for the pixels of the blocks ``groups`` names.

        Parameters
        ----------
        groups : collection of str
            Names of the kind's occlusion groups (``occlusion_groups``).

        Returns
        -------
        numpy.ndarray
            Shape (1, n_pixels, n_pixels), bool: broadcasts against the (jets, 1, n_pixels, n_pixels) tensor.

        Raises
        ------
        ValueError
            For a name that is not one of the kind's occlusion groups.
        """
        names = self.occlusion_groups()
        block = np.arange(self.n_pixels) * self.GRID // self.n_pixels  # each pixel row's (column's) block
        index = block[:, None] * self.GRID + block[None, :]
        chosen = [names.index(g) for g in self.checked_groups(groups)]
        return np.isin(index, chosen)[None, :, :]  # (1 channel, rows, columns)

    removal_unit = "pixel"

    def present_units(self, x: torch.Tensor) -> torch.Tensor:
        """(jets, pixels) bool: the nonempty pixels (an empty pixel cannot be removed).

        Parameters
        ----------
        x : torch.Tensor
            The kind's input tensor, (jets, channels, n_pixels, n_pixels).

        Returns
        -------
        torch.Tensor
            Shape (jets, pixels of all channels), bool: True where the pixel is nonzero.
        """
        return x.reshape(len(x), -1) != 0  # a removed pixel is empty (0), as the pixels without particles

    def map_axes(self, processing: TableSettings) -> tuple[int, float, str]:
        """(pixels per side, half-width, unit) of the relevance map: the jet tables' image geometry.

        Parameters
        ----------
        processing : TableSettings
            The processing configuration of the jet tables: its ``image`` settings.

        Returns
        -------
        tuple of (int, float, str)
            ``image.n_pixels``, ``image.extent`` and ``"prong distances"``.
        """
        return processing.image.n_pixels, processing.image.extent, "prong distances"

    def map_values(self, rows: dict, relevance: np.ndarray | None = None) -> np.ndarray:
        """(jets, pixels) of the map: the image itself, or ``relevance`` flattened.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of jet-table rows with ``image`` (not read when ``relevance`` is given).
        relevance : numpy.ndarray, optional
            Shape (jets, 1, n_pixels, n_pixels): the relevance to map; None: map the image.

        Returns
        -------
        numpy.ndarray
            Shape (jets, n_pixels * n_pixels), row after row.
        """
        source = rows["image"] if relevance is None else relevance
        return np.asarray(source).reshape(len(source), -1)
