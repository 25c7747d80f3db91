"""The lepton table's calorimeter inputs (``xaugcol.processing.lepton_table``) as tagger inputs:

* ``calo``: the (2, n, n) image around the lepton, EM and HAD channels of E_T / p_T; two features (the layers'
  relevance sums) and a 2D relevance map on the cells (both layers summed: where in eta-phi the tagger looks);
* ``cells``: the hardest cells as a set, (cells, 5): z = E_T / p_T, Delta eta, Delta phi to the lepton, HAD flag,
  Delta R; unscaled by default (z is the energy weight of the Energy-Flow Network and must stay a fraction),
  relevance per feature summed over cells, profiled per real cell, removed one cell at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from xaugcol.features.cells import CELL_FEATURES
from xaugcol.features.kinds.image import ImageInput
from xaugcol.features.kinds.objects import ObjectListInput
from xaugcol.quoting import quoted

if TYPE_CHECKING:
    from xaugcol.features.kinds.base import TableSettings, TaggerSettings

LAYERS = ("em", "had")
CELL_SIZE = 0.025  # the EM cell in eta (``sources.calorimeter``): the image's pixel


@dataclass(frozen=True)
class CaloImageInput(ImageInput):
    """The calorimeter image around the lepton, EM and HAD channels (module docstring); ``n_pixels`` per side.

    Parameters
    ----------
    n_pixels : int, default 32
        The image's pixels (cells of ``CELL_SIZE``) per side.
    """

    name = "calo"
    n_pixels: int = 32

    @classmethod
    def from_config(cls, config: TaggerSettings) -> CaloImageInput:
        """The kind with the image size of the tagger's configuration (default 2 x 32 x 32).

        Parameters
        ----------
        config : TaggerSettings
            The tagger's configuration: its ``shapes`` entry for this kind.

        Returns
        -------
        CaloImageInput
            The kind.
        """
        return cls(config.shape_of(cls.name, (len(LAYERS), cls.n_pixels, cls.n_pixels))[1])

    @classmethod
    def shape_settings(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-lepton shape (layers, pixels, pixels) of the ``calo`` column, checked.

        Parameters
        ----------
        shape : tuple of int
            The shape as configured or found in the data.

        Returns
        -------
        tuple of int
            (2, n, n), as integers.

        Raises
        ------
        ValueError
            Unless the shape is (2 layers, n, n) with n >= 3.
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) != 3 or shape[0] != len(LAYERS) or shape[1] != shape[2] or shape[1] < 3:
            raise ValueError(f"a calorimeter image is (2 layers, n, n), n >= 3: got shape {list(shape)}")
        return shape

    def tensor(self, rows: dict, scaler: None = None) -> np.ndarray:
        """(leptons, 2, n_pixels, n_pixels) float32: the EM and HAD images as stored; never scaled.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of lepton-table rows with ``calo``, shape (leptons, 2, n_pixels, n_pixels).
        scaler : None, optional
            Not used: the image is not scaled.

        Returns
        -------
        numpy.ndarray
            Shape (leptons, 2, n_pixels, n_pixels), float32.
        """
        return np.asarray(rows["calo"], dtype=np.float32)

    def model_arguments(self) -> dict:
        """The tagger's keyword arguments the image fixes: its size and its two channels.

        Returns
        -------
        dict of str to int
            ``{"n_pixels": n_pixels, "n_channels": 2}``.
        """
        return {"n_pixels": self.n_pixels, "n_channels": len(LAYERS)}

    def feature_names(self) -> list[str]:
        """One feature per layer.

        Returns
        -------
        list of str
            ``["calo:em", "calo:had"]``.
        """
        return [f"calo:{layer}" for layer in LAYERS]

    def feature_sums(self, relevance: np.ndarray, signed: bool = False) -> np.ndarray:
        """(leptons, 2): |relevance| summed over each layer's pixels.

        Parameters
        ----------
        relevance : numpy.ndarray
            Shape (leptons, 2, n_pixels, n_pixels): the relevance, normalised per lepton.
        signed : bool, default False
            Sum the relevance itself instead of its absolute value.

        Returns
        -------
        numpy.ndarray
            Shape (leptons, 2): the EM and HAD sums.
        """
        r = relevance if signed else np.abs(relevance)
        return r.reshape(len(r), len(LAYERS), -1).sum(2)

    def binning(self, feature: str) -> tuple[int, float, float, str]:
        """Refuse: the calorimeter image has no value binning (its relevance is a 2D map).

        Parameters
        ----------
        feature : str
            Any feature name.

        Raises
        ------
        ValueError
            Always.
        """
        raise ValueError("the calorimeter image has no value binning: its relevance is a 2D map")

    def label(self, feature: str) -> str:
        """Axis label of a layer feature.

        Parameters
        ----------
        feature : str
            ``calo:em`` or ``calo:had``.

        Returns
        -------
        str
            ``"EM layer"`` or ``"HAD layer"``.

        Raises
        ------
        ValueError
            For any other feature.
        """
        if feature not in self.feature_names():
            raise ValueError(f"not a calorimeter-image feature: {quoted(feature)}")
        return {"calo:em": "EM layer", "calo:had": "HAD layer"}[feature]

    removal_unit = "cell"

    def map_axes(self, processing: TableSettings) -> tuple[int, float, str]:
        """(pixels per side, half-width, unit) of the relevance map on the cells around the lepton.

        Parameters
        ----------
        processing : TableSettings
            The processing configuration of the tables (not used: the geometry is the kind's).

        Returns
        -------
        tuple of (int, float, str)
            ``n_pixels``, ``n_pixels`` / 2 * ``CELL_SIZE`` (in eta and phi) and the axis label.
        """
        return self.n_pixels, self.n_pixels / 2 * CELL_SIZE, r"$\Delta\eta$, $\Delta\phi$ to the lepton"

    def map_values(self, rows: dict, relevance: np.ndarray | None = None) -> np.ndarray:
        """(leptons, pixels) of the map: the image or ``relevance``, both layers summed, flattened.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of lepton-table rows with ``calo`` (not read when ``relevance`` is given).
        relevance : numpy.ndarray, optional
            Shape (leptons, 2, n_pixels, n_pixels): the relevance to map; None: map the image.

        Returns
        -------
        numpy.ndarray
            Shape (leptons, n_pixels * n_pixels), row after row.
        """
        source = np.asarray(rows["calo"] if relevance is None else relevance)
        return source.reshape(len(source), len(LAYERS), -1).sum(1)  # both layers on the eta-phi cells


@dataclass(frozen=True)
class CellsInput(ObjectListInput):
    """The hardest calorimeter cells around the lepton as a set (module docstring).

    Parameters
    ----------
    n_objects : int, default 0
        The cell slots per lepton; 0: 64 (``DEFAULT_OBJECTS``).
    n_features : int, default 0
        The features per cell; 0: ``len(FEATURES)`` (5), the only number accepted.
    scaling : str, default "none"
        How the features are scaled, one of ``SCALINGS`` (``none``, ``standard``): unscaled by default, z being the
        Energy-Flow Network's energy weight.
    """

    name = "cells"
    SCALINGS = ("none", "standard")
    FEATURES = CELL_FEATURES
    BINNING = {
        "z": (50, 0.0, 0.5, r"cell $E_T / p_T$"),
        "deta": (40, -0.4, 0.4, r"cell $\Delta\eta$ to the lepton"),
        "dphi": (40, -0.4, 0.4, r"cell $\Delta\phi$ to the lepton"),
        "hadronic": (2, -0.5, 1.5, "HAD cell"),
        "dr": (40, 0.0, 0.6, r"cell $\Delta R$ to the lepton"),
    }
    PREFIX = "cell:"
    DEFAULT_OBJECTS = 64
    COUNT_ARGUMENT, FEATURES_ARGUMENT = "n_cells", "n_cell_features"
    POSITION_FEATURES = ("deta", "dphi", "z")
    scaling: str = "none"
    removal_unit = "cell"


assert tuple(CellsInput.BINNING) == CELL_FEATURES
