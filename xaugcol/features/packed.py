"""Array columns of a jet table without their empty part: object lists without padding, images without empty pixels.

A toy jet fills about a fifth of the slots of its particle and track lists, and lights a few dozen of its image's
1 369 pixels. Padded arrays cost twice. Building them touches hundreds of MB of fresh memory per block of jets
(the dense track array alone was 15 % of the processor's time). Writing them, parquet spends a repetition and a
definition level on every padded value (12 % more). So the producers give ``PackedArray`` columns, in one of two
layouts:

* ``prefix`` (object lists and their masks): each jet's first ``count`` slots, jet after jet, as
  ``(objects, *features)`` values; the slots after them are zero (False for a mask);
* ``sparse`` (images): each jet's nonzero values and their flat positions in its per-jet array.

A ``PackedArray`` selects jets as a numpy array does (``column[keep]``) and gives back the padded array
(``dense()``, or ``np.asarray(column)``). The files keep the layout (``xaugcol.processing.table_io``); every
reader pads each jet with zeros to the per-jet shape stored in the field's metadata (``unpack``), so a reader
sees the arrays it always saw, and tables written padded read as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from xaugcol.errors import InputDataError

PREFIX = "prefix"
SPARSE = "sparse"


@dataclass(frozen=True, eq=False)
class PackedArray:
    """The nonempty part of a (jets, *shape) array.

    ``values``: ``prefix``: (entries, *shape[1:]), the first ``counts[i]`` rows of each jet's array, jet after jet;
    ``sparse``: (entries,), the nonzero values of each jet's array, jet after jet, at the flat positions ``index``.
    ``counts``: (jets,) entries per jet. ``shape``: the per-jet shape of the padded array."""

    values: np.ndarray
    counts: np.ndarray
    shape: tuple[int, ...]
    layout: str = PREFIX
    index: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "counts", np.asarray(self.counts, dtype=np.int64))
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if self.layout not in (PREFIX, SPARSE):
            raise ValueError(f"layout must be {PREFIX!r} or {SPARSE!r}, got {self.layout!r}")
        if (self.index is None) != (self.layout == PREFIX):
            raise ValueError("a sparse array needs the positions of its values (index), a prefix array none")
        if len(self.values) != int(self.counts.sum()):
            raise ValueError(f"{len(self.values)} values for {int(self.counts.sum())} entries")
        limit = self.shape[0] if self.layout == PREFIX else math.prod(self.shape)
        if len(self.counts) and int(self.counts.max()) > limit:
            raise ValueError(f"a jet holds {int(self.counts.max())} entries, more than the {limit} it has room for")

    @classmethod
    def objects(cls, values: np.ndarray, counts: np.ndarray, slots: int) -> PackedArray:
        """Object lists: ``values`` (objects, *features) jet after jet, ``counts`` per jet, ``slots`` per jet."""
        values = np.asarray(values)
        return cls(values, counts, (slots, *values.shape[1:]))

    @classmethod
    def sparse(cls, index: np.ndarray, values: np.ndarray, counts: np.ndarray, shape: tuple[int, ...]) -> PackedArray:
        """Nonzero ``values`` at flat positions ``index`` within each jet's array of ``shape``."""
        return cls(np.asarray(values), counts, shape, SPARSE, np.asarray(index, dtype=np.int32))

    @classmethod
    def empty(cls, jets: int, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> PackedArray:
        """``jets`` all-zero arrays of ``shape`` (a file that has no such objects)."""
        return cls(np.zeros((0, *shape[1:]), dtype=dtype), np.zeros(jets, dtype=np.int64), shape)

    def mask(self) -> PackedArray:
        """The (jets, slots) mask of an object list: True for each jet's objects, packed the same way."""
        if self.layout != PREFIX:
            raise ValueError("only an object list (prefix layout) has a slot mask")
        return PackedArray(np.ones(len(self.values), dtype=bool), self.counts, self.shape[:1])

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def ndim(self) -> int:
        return 1 + len(self.shape)

    def offsets(self) -> np.ndarray:
        """Where each jet's entries start in ``values`` (jets + 1 numbers)."""
        out = np.zeros(len(self.counts) + 1, dtype=np.int64)
        np.cumsum(self.counts, out=out[1:])
        return out

    def __getitem__(self, rows) -> PackedArray:
        """The jets ``rows`` (a boolean mask or integer positions), as numpy indexing selects them."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != self.counts.shape:
                raise IndexError(f"boolean index of {rows.shape} for {len(self)} jets")
            rows = np.flatnonzero(rows)
        elif rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise IndexError("a packed column selects jets by a boolean mask or integer positions only")
        counts = self.counts[rows]
        starts = self.offsets()[:-1][rows]
        entries = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        index = None if self.index is None else self.index[entries]
        return PackedArray(self.values[entries], counts, self.shape, self.layout, index)

    def scattered(self, where: np.ndarray) -> PackedArray:
        """These jets placed at the True positions of ``where``; the other jets empty (all zero)."""
        counts = np.zeros(len(where), dtype=np.int64)
        counts[where] = self.counts
        return PackedArray(self.values, counts, self.shape, self.layout, self.index)

    def dense(self) -> np.ndarray:
        """The padded (jets, *shape) array."""
        return unpack(self.values.reshape(-1), self.counts * self._entry_size(), self.shape, self.index)

    def __array__(self, dtype=None, copy=None):
        out = self.dense()
        return out if dtype is None else out.astype(dtype)

    def _entry_size(self) -> int:
        return math.prod(self.shape[1:]) if self.layout == PREFIX else 1


def unpack(
    values: np.ndarray,
    lengths: np.ndarray,
    shape: tuple[int, ...],
    index: np.ndarray | None = None,
    where: str = "a packed column",
) -> np.ndarray:
    """The padded (jets, *shape) array of flat ``values`` that hold ``lengths`` numbers per jet: the first numbers
    of each jet's flattened array (``index`` None; a padded column has every length full), or those at the flat
    positions ``index``. The rest is zero. ``where`` names the column in the error a malformed one raises."""
    lengths = np.asarray(lengths, dtype=np.int64)
    jets, size = len(lengths), math.prod(shape)
    if index is None and len(lengths) and bool((lengths == size).all()):
        return np.asarray(values).reshape(jets, *shape)  # written padded: nothing to place
    if len(values) != int(lengths.sum()) or (len(lengths) and int(lengths.max(initial=0)) > size):
        raise InputDataError(
            f"{where}: {len(values)} values with per-jet lengths up to {int(lengths.max())} do "
            f"not fit {jets} jets of shape {shape}"
        )
    out = np.zeros((jets, size), dtype=values.dtype)
    if index is None:
        out[np.arange(size) < lengths[:, None]] = values
    else:
        index = np.asarray(index)
        if len(index) != len(values) or (len(index) and (int(index.min()) < 0 or int(index.max()) >= size)):
            raise InputDataError(f"{where}: its positions do not fit the per-jet shape {shape}")
        out.reshape(-1)[np.repeat(np.arange(jets) * size, lengths) + index] = values
    return out.reshape(jets, *shape)
