"""What a jet table holds: the processing settings (``ProcessingConfig``), validated, recorded in every processing
report and compared by a resume (``as_dict``), and how the command line's and a study's flat options map onto them
(``processing_settings``). Kept apart from the table's builder (``jet_table``) so that the builders of other row
kinds (``opendata_table``, ``lepton_table``) read the settings without importing the builder that calls them."""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationInfo, field_validator

from xaugcol.config_models import ConfigModel, NonNegativeNumber, Number, PositiveInt, integer_in, validated
from xaugcol.features import tracks as track_features
from xaugcol.features import vertices as vertex_features
from xaugcol.features.cells import CELL_FEATURES
from xaugcol.features.efp.columns import EFPConfig
from xaugcol.features.images import ImageConfig
from xaugcol.features.particles import N_FEATURES
from xaugcol.jets.substructure import SubstructureConfig
from xaugcol.limits import MAX_CHUNK_BYTES, MAX_CONSTITUENTS, MAX_EFP_COLUMNS, MAX_LIST_LENGTH, MAX_VERTICES, number
from xaugcol.processing.lepton_table import LeptonConfig

# the array columns of a jet row and of a lepton row (``table_shapes``), for the size of a row
ROW_ARRAYS = {"jet": ("image", "particles", "tracks", "vertices"), "lepton": ("calo", "cells")}
# scalar columns of a row besides the EFPs (identity, kinematics, XAUG variables, flags, truth): at most this many
SCALAR_COLUMNS = 64
# a table's columns by name: numpy arrays, packed (``PackedArray``) for the object lists and the images
Columns = dict[str, Any]
# settings added after studies were recorded: left out of ``as_dict`` at these defaults, so that the fingerprints of
# earlier runs stay the same (a resume reuses them)
LATER_DEFAULTS = {
    ("max_constituents",): MAX_CONSTITUENTS,
    ("efp", "max_columns"): MAX_EFP_COLUMNS,
    ("efp", "precision"): "float64",
    ("lepton", "anchored_efp", "max_columns"): MAX_EFP_COLUMNS,
}


class ProcessingConfig(ConfigModel):
    """What the jet table holds. Sizes are limited (``xaugcol.limits``): ``n_particles`` and ``n_tracks`` 1..2 000
    (``MAX_LIST_LENGTH``), ``n_vertices`` 1..100 (``MAX_VERTICES``), the image 3..256 pixels per side
    (``ImageConfig``); ``max_constituents`` (default 1 000, ``MAX_CONSTITUENTS``) skips and counts the jets with more
    linked candidates (see the module docstring). ``check_chunk`` refuses a chunk size whose table would exceed
    4 GiB (``MAX_CHUNK_BYTES``)."""

    n_particles: int = 50  # slots of the particle list
    n_tracks: int = 60  # slots of the track list
    n_vertices: int = 5  # slots of the secondary-vertex list
    image: ImageConfig = ImageConfig()
    substructure: SubstructureConfig = SubstructureConfig()
    min_pt: NonNegativeNumber = 0.0  # jets below it are skipped and counted (GeV)
    msd_window: tuple[Number, Number] = (50.0, 150.0)  # the softdrop-mass window (GeV) of ``in_msd_window``
    efp: EFPConfig | None = None  # energy-flow polynomials as jet-table columns (``features.efp.columns``)
    lepton: LeptonConfig | None = None  # the lepton table's settings (None: the defaults) for lepton files
    max_constituents: PositiveInt = MAX_CONSTITUENTS  # a jet with more linked candidates is skipped and counted

    @field_validator("n_particles", "n_tracks", "n_vertices", mode="before")
    @classmethod
    def _list_length(cls, value: Any, info: ValidationInfo) -> int:
        return integer_in(value, 1, MAX_VERTICES if info.field_name == "n_vertices" else MAX_LIST_LENGTH)

    @field_validator("msd_window")
    @classmethod
    def _window(cls, window: tuple[float, float]) -> tuple[float, float]:
        lo, hi = window
        if not lo < hi:
            raise ValueError(f"msd_window must be (low, high) with low < high, got {window}")
        return window

    def as_dict(self) -> dict[str, Any]:
        """The settings as a processing report records them (and a resume compares them).

        Returns
        -------
        dict
            The fields, without ``efp`` and ``lepton`` when they are None and without the defaults of fields added
            later, so that the fingerprints of earlier configurations stay the same.
        """
        out = self.model_dump()
        for name in ("efp", "lepton"):  # as configurations without them were recorded: fingerprints stay the same
            if out[name] is None:
                del out[name]
        return _without_later_defaults(out)

    def row_bytes(self) -> int:
        """About the bytes of one table row: the arrays of a jet row or of a lepton row, whichever is larger
        (4-byte values; the masks, a few per cent of that, left out), and 8 per scalar and EFP column.

        Returns
        -------
        int
            Bytes per row.
        """
        shapes = self.table_shapes()
        arrays = {row: sum(4 * math.prod(shapes[name]) for name in names) for row, names in ROW_ARRAYS.items()}
        anchored = self.lepton_settings.anchored_efp
        arrays["lepton"] += 8 * (anchored.n_columns() if anchored else 0)
        return max(arrays.values()) + 8 * (SCALAR_COLUMNS + (self.efp.n_columns() if self.efp else 0))

    def check_chunk(self, chunksize: int) -> None:
        """Refuse a chunk of ``chunksize`` events whose table would exceed ``MAX_CHUNK_BYTES`` (4 GiB), estimated
        with one jet per event (our generators write one; CMS events after NanoAOD's FatJet pT > 170 GeV cut hold
        one or two). One file holds a chunk's table (the XAUG processor builds and writes it in blocks of events,
        so memory holds a block's share of it at a time).

        Parameters
        ----------
        chunksize : int
            Events per chunk.

        Raises
        ------
        ValueError
            The chunk's table would exceed ``MAX_CHUNK_BYTES``; the message says the largest chunk size that fits.
        """
        row = self.row_bytes()
        if chunksize * row > MAX_CHUNK_BYTES:
            raise ValueError(
                f"a chunk of {number(chunksize)} events would hold about {chunksize * row / 2**30:.1f} "
                f"GiB of jet table ({row / 1024:.0f} kB per jet), more than the "
                f"{MAX_CHUNK_BYTES / 2**30:.0f} GiB a chunk may take: lower the chunk size to at most "
                f"{number(MAX_CHUNK_BYTES // row)}, or the image size and list lengths"
            )

    def table_shapes(self) -> dict[str, tuple[int, ...]]:
        """The per-jet shape of every array column this configuration writes.

        Returns
        -------
        dict
            Column name (``image``, ``particles``, ``tracks``, ``vertices``, ``calo``, ``cells``) -> shape.
        """
        return {
            "image": (self.image.n_pixels, self.image.n_pixels),
            "particles": (self.n_particles, N_FEATURES),
            "tracks": (self.n_tracks, track_features.N_FEATURES),
            "vertices": (self.n_vertices, vertex_features.N_FEATURES),
            "calo": (2, self.lepton_settings.window, self.lepton_settings.window),
            "cells": (self.lepton_settings.n_cells, len(CELL_FEATURES)),
        }

    @property
    def lepton_settings(self) -> LeptonConfig:
        """The lepton table's settings: ``lepton``, or the defaults."""
        return self.lepton or LeptonConfig()

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "processing config") -> ProcessingConfig:
        """The inverse of ``as_dict`` (as stored in a processing report), validated.

        Parameters
        ----------
        data : dict
            The settings, as ``as_dict`` writes them.
        where : str
            Where they come from, named in errors.

        Returns
        -------
        ProcessingConfig
            The configuration.

        Raises
        ------
        ValueError
            A field that is unknown, of the wrong type or out of its range; the message names ``where`` and the
            field.
        """
        return validated(cls, data, where)


FLAT_OPTIONS = ("n_particles", "n_tracks", "n_vertices", "min_pt", "max_constituents")


def processing_settings(options: Any) -> dict:  # argparse.Namespace, or a study's processing section
    """The ``ProcessingConfig`` fields of flat options.

    Parameters
    ----------
    options : Any
        The command line's options (``xaugcol process``, an ``argparse.Namespace``) or a study's ``processing``
        section: attributes ``n_particles``, ``n_tracks``, ``n_vertices``, ``min_pt``, ``max_constituents``,
        ``image_pixels`` (the image size) and, optionally, ``efp`` and ``lepton``.

    Returns
    -------
    dict
        The settings, as ``ProcessingConfig`` takes them: the flat fields, ``image`` as ``{"n_pixels": ...}``, and
        ``efp`` and ``lepton`` where given (not None).
    """
    settings = {name: getattr(options, name) for name in FLAT_OPTIONS}
    settings["image"] = {"n_pixels": options.image_pixels}
    for name in ("efp", "lepton"):
        if getattr(options, name, None) is not None:
            settings[name] = getattr(options, name)
    return settings


def _without_later_defaults(out: dict[str, Any]) -> dict[str, Any]:
    """``out`` (``ProcessingConfig.as_dict``) without the ``LATER_DEFAULTS`` settings that hold their default."""
    for path, default in LATER_DEFAULTS.items():
        *sections, name = path
        section = out
        for part in sections:
            section = section.get(part) or {}
        if section.get(name) == default:
            del section[name]
    return out
