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

    A frozen dataclass; ``objects``, ``sparse`` and ``empty`` build one. ``len`` is the number of jets, and
    ``np.asarray`` gives the padded array.

    Parameters
    ----------
    values : numpy.ndarray
        ``prefix``: shape (entries, *shape[1:]), the first ``counts[i]`` rows of each jet's array, jet after jet;
        ``sparse``: shape (entries,), the nonzero values of each jet's array, jet after jet, at the flat positions
        ``index``.
    counts : numpy.ndarray
        Shape (jets,): entries per jet (stored as int64).
    shape : tuple of int
        The per-jet shape of the padded array.
    layout : {"prefix", "sparse"}, default "prefix"
        How ``values`` holds each jet's array (``PREFIX`` or ``SPARSE``).
    index : numpy.ndarray, optional
        Shape (entries,): the flat position of each value within its jet's array; required by the ``sparse`` layout
        and None for ``prefix``.

    Raises
    ------
    ValueError
        For an unknown ``layout``, an ``index`` given to a prefix array or missing from a sparse one, a number of
        ``values`` other than ``counts.sum()``, or a jet with more entries than its array has room for.
    """

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
        """Object lists: ``values`` (objects, *features) jet after jet, ``counts`` per jet, ``slots`` per jet.

        Parameters
        ----------
        values : numpy.ndarray
            Shape (objects, *features): every jet's objects, jet after jet.
        counts : numpy.ndarray
            Shape (jets,): the number of objects of each jet.
        slots : int
            The object slots per jet of the padded array.

        Returns
        -------
        PackedArray
            The (jets, slots, *features) array in the prefix layout.
        """
        values = np.asarray(values)
        return cls(values, counts, (slots, *values.shape[1:]))

    @classmethod
    def sparse(cls, index: np.ndarray, values: np.ndarray, counts: np.ndarray, shape: tuple[int, ...]) -> PackedArray:
        """Nonzero ``values`` at flat positions ``index`` within each jet's array of ``shape``.

        Parameters
        ----------
        index : numpy.ndarray
            Shape (entries,): each value's flat position within its jet's array (stored as int32).
        values : numpy.ndarray
            Shape (entries,): the values, jet after jet.
        counts : numpy.ndarray
            Shape (jets,): the number of values of each jet.
        shape : tuple of int
            The per-jet shape of the padded array.

        Returns
        -------
        PackedArray
            The (jets, *shape) array in the sparse layout.
        """
        return cls(np.asarray(values), counts, shape, SPARSE, np.asarray(index, dtype=np.int32))

    @classmethod
    def empty(cls, jets: int, shape: tuple[int, ...], dtype: DTypeLike = np.float32) -> PackedArray:
        """``jets`` all-zero arrays of ``shape`` (a file that has no such objects).

        Parameters
        ----------
        jets : int
            The number of jets.
        shape : tuple of int
            The per-jet shape of the padded array.
        dtype : numpy.dtype or type, default numpy.float32
            The type of the (absent) values.

        Returns
        -------
        PackedArray
            A prefix-layout array with no entries.
        """
        return cls(np.zeros((0, *shape[1:]), dtype=dtype), np.zeros(jets, dtype=np.int64), shape)

    def mask(self) -> PackedArray:
        """The (jets, slots) mask of an object list: True for each jet's objects, packed the same way.

        Returns
        -------
        PackedArray
            The bool mask in the prefix layout, with this array's ``counts``.

        Raises
        ------
        ValueError
            For a sparse array (not an object list).
        """
        if self.layout != PREFIX:
            raise ValueError("only an object list (prefix layout) has a slot mask")
        return PackedArray(np.ones(len(self.values), dtype=bool), self.counts, self.shape[:1])

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def dtype(self) -> np.dtype:
        """The type of the values (``numpy.dtype``)."""
        return self.values.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions of the padded array: 1 (the jets) + ``len(shape)``."""
        return 1 + len(self.shape)

    def offsets(self) -> np.ndarray:
        """Where each jet's entries start in ``values`` (jets + 1 numbers).

        Returns
        -------
        numpy.ndarray
            Shape (jets + 1,), int64: 0, then the cumulative ``counts``; jet ``i``'s entries are
            ``values[out[i]:out[i + 1]]``.
        """
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
        """These jets placed at the True positions of ``where``; the other jets empty (all zero).

        Parameters
        ----------
        where : numpy.ndarray
            Bool, shape (all jets,), with one True per jet of this array, in order.

        Returns
        -------
        PackedArray
            ``len(where)`` jets: this array's at the True positions, no entries elsewhere.
        """
        counts = np.zeros(len(where), dtype=np.int64)
        counts[where] = self.counts
        return PackedArray(self.values, counts, self.shape, self.layout, self.index)

    def dense(self) -> np.ndarray:
        """The padded (jets, *shape) array.

        Returns
        -------
        numpy.ndarray
            Shape (jets, *shape), of the values' dtype: each jet's entries in place, zero (False) elsewhere.
        """
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
    """The padded (jets, *shape) array of flat ``values`` that hold ``lengths`` numbers per jet.

    The values are the first numbers of each jet's flattened array (``index`` None; a padded column has every length
    full), or those at the flat positions ``index``. The rest is zero.

    Parameters
    ----------
    values : numpy.ndarray
        Shape (numbers,): every jet's numbers, flat, jet after jet.
    lengths : numpy.ndarray
        Shape (jets,): the numbers of each jet.
    shape : tuple of int
        The per-jet shape of the padded array.
    index : numpy.ndarray, optional
        Shape (numbers,): each number's flat position within its jet's array; None: the first ``lengths[i]``
        positions.
    where : str, default "a packed column"
        Names the column in the error a malformed one raises.

    Returns
    -------
    numpy.ndarray
        Shape (jets, *shape), of the values' dtype.

    Raises
    ------
    InputDataError
        Where the values, lengths or positions do not fit ``jets`` arrays of ``shape``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    jets, size = len(lengths), math.prod(shape)
    if index is None and len(lengths) and bool((lengths == size).all()):
        return np.asarray(values).reshape(jets, *shape)  # written padded: nothing to place
    if len(values) != int(lengths.sum()) or (len(lengths) and int(lengths.max(initial=0)) > size):
        raise InputDataError(
            f"{where}: {len(values)} values with per-jet lengths up to {int(lengths.max(initial=0))} do "
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
