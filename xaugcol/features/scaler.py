"""The scalers of a tagger's inputs, fitted on the training split and saved with the tagger (``scaler.json``), so
that training and application use the same numbers. Loading validates the file; nothing in it is executed.

* ``XAUGScaler``: the XAUG variables, outliers set to mean +- 3 std first (as Agarwal, Rappoccio et al. do), then
  either min-max scaled to [0, 1] (``minmax``, Agarwal, Rappoccio et al.'s (arXiv:2011.13466) choice) or
  standardised, (x - mean) / std (``standard``: centred, so that a zero input is the average jet, the point a
  bias-free tagger's explanation is relative to).
* ``ObjectScaler``: per-object features (particles, tracks, vertices), standardised (or, ``robust``, centred on
  the median, scaled by the 16-84 % width and squashed by asinh) over the real objects only; padded slots stay
  exactly zero, so the taggers still tell them apart.
* ``InputScalers``: one scaler per scaled input kind, the content of ``scaler.json``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from xaugcol.atomic import write_json
from xaugcol.paths import read_json
from xaugcol.quoting import quoted

N_STD = 3.0
# no input feature (GeV-scale kinematics, ratios, counts, log pT) comes near this: a scaler beyond it is corrupt, and
# its arithmetic (mean +- 3 std, high - low) would overflow to inf and scale every jet to 0 without a word
MAX_ABS = 1e15
# a feature whose spread is below this is constant (a flag no training particle has): centred, not divided
MIN_STD = 1e-12
XAUG_MODES = {"minmax": "xaug_minmax_3std", "standard": "xaug_standard_3std"}


@dataclass(frozen=True)
class XAUGScaler:
    """The XAUG variables' scaler: each column clipped at mean +- 3 std (``N_STD``), then min-max scaled to [0, 1]
    (``minmax``, as Agarwal, Rappoccio et al. do) or standardised (``standard``). ``fit`` on the training split,
    ``transform`` a batch; saved with the tagger (``to_dict`` / ``from_dict``).

    Parameters
    ----------
    columns : tuple of str
        The XAUG columns, in the order of the transformed array's columns.
    mean, std : tuple of float
        Per column, the (weighted) mean and standard deviation of the training jets.
    low, high : tuple of float
        Per column, the range of the clipped training values (the min-max range).
    mode : {"minmax", "standard"}, default "minmax"
        ``minmax`` or ``standard``.

    Raises
    ------
    ValueError
        For a ``mode`` other than those of ``XAUG_MODES``.
    """

    columns: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    low: tuple[float, ...]  # after clipping: the min-max range
    high: tuple[float, ...]
    mode: str = "minmax"

    def __post_init__(self):
        if self.mode not in XAUG_MODES:
            raise ValueError(f"XAUG scaling must be one of {', '.join(XAUG_MODES)}, got {quoted(self.mode)}")

    @classmethod
    def fit(
        cls,
        table: Mapping[str, np.ndarray],
        columns: Sequence[str],
        weights: np.ndarray | None = None,
        mode: str = "minmax",
    ) -> XAUGScaler:
        """Fit on ``table`` (mapping column -> 1-d array, the training split), the jets weighted by ``weights``.

        NaN or inf refuse the fit.

        Parameters
        ----------
        table : mapping of str to numpy.ndarray
            The training split's columns, each of shape (jets,).
        columns : sequence of str
            The XAUG columns to scale, in the order of the transformed array's columns.
        weights : numpy.ndarray, optional
            Shape (jets,): the jets' weights in the mean and standard deviation; None: equal weights.
        mode : {"minmax", "standard"}, default "minmax"
            Min-max scaling to [0, 1] or standardisation, after the clipping.

        Returns
        -------
        XAUGScaler
            The fitted scaler.

        Raises
        ------
        ValueError
            Where a column is empty or holds NaN or inf values, or for an unknown ``mode``.
        """
        mean, std, low, high = [], [], [], []
        for name in columns:
            x = np.asarray(table[name], dtype=np.float64)
            if x.size == 0:
                raise ValueError(f"cannot fit the XAUG scaler: column {name!r} is empty")
            bad = ~np.isfinite(x)
            if bad.any():
                raise ValueError(f"cannot fit the XAUG scaler: column {name!r} has {int(bad.sum())} NaN/inf values")
            w = None if weights is None else np.asarray(weights, dtype=np.float64)
            m = float(np.average(x, weights=w))
            s = float(math.sqrt(np.average((x - m) ** 2, weights=w)))
            clipped = np.clip(x, m - N_STD * s, m + N_STD * s)
            mean.append(m)
            std.append(s)
            low.append(float(clipped.min()))
            high.append(float(clipped.max()))
        return cls(tuple(columns), tuple(mean), tuple(std), tuple(low), tuple(high), mode)

    def transform(self, table: Mapping[str, ArrayLike]) -> np.ndarray:
        """(jets, n_columns) float32: clipped at mean +- 3 std, then min-max to [0, 1] or standardised.

        A constant column gives 0.

        Parameters
        ----------
        table : mapping of str to array_like
            A batch's columns, each of shape (jets,); it needs at least the scaler's ``columns``.

        Returns
        -------
        numpy.ndarray
            Shape (jets, n_columns), float32: the scaled columns, in the order of ``columns``.

        Raises
        ------
        ValueError
            Where a column holds NaN or inf values.
        """
        out = np.empty((len(np.asarray(table[self.columns[0]])), len(self.columns)), dtype=np.float32)
        for k, name in enumerate(self.columns):
            x = np.asarray(table[name], dtype=np.float64)
            bad = ~np.isfinite(x)
            if bad.any():
                raise ValueError(f"XAUG column {name!r} has {int(bad.sum())} NaN/inf values")
            x = np.clip(x, self.mean[k] - N_STD * self.std[k], self.mean[k] + N_STD * self.std[k])
            if self.mode == "standard":
                out[:, k] = (x - self.mean[k]) / self.std[k] if self.std[k] > MIN_STD else 0.0
                continue
            span = self.high[k] - self.low[k]
            out[:, k] = np.clip((x - self.low[k]) / span, 0.0, 1.0) if span > 0 else 0.0
        return out

    def to_dict(self) -> dict:
        """The scaler as JSON-ready values (``from_dict`` reads them back).

        Returns
        -------
        dict
            ``kind`` (``xaug_minmax_3std`` or ``xaug_standard_3std``, from ``mode``), and ``columns``, ``mean``,
            ``std``, ``low``, ``high`` as lists.
        """
        return {
            "kind": XAUG_MODES[self.mode],
            "columns": list(self.columns),
            "mean": list(self.mean),
            "std": list(self.std),
            "low": list(self.low),
            "high": list(self.high),
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "scaler") -> XAUGScaler:
        """The scaler ``to_dict`` wrote, checked (a ``ValueError`` naming ``where``).

        Parameters
        ----------
        data : dict
            What ``to_dict`` wrote (as read back from JSON).
        where : str, default "scaler"
            Names the scaler in the error messages.

        Returns
        -------
        XAUGScaler
            The scaler.

        Raises
        ------
        ValueError
            For another kind, an unknown field, column names that are not a non-empty list of distinct names,
            numbers that are not one finite, plausible number per column, a negative std, or low > high.
        """
        modes = {kind: mode for mode, kind in XAUG_MODES.items()}
        if not isinstance(data, dict) or data.get("kind") not in modes:
            raise ValueError(f"{where}: not an XAUG scaler (expected kind {' or '.join(map(repr, modes))})")
        cols = _names(data, "columns", where)
        _only(data, {"kind", "columns", "mean", "std", "low", "high"}, where)
        values = {key: _numbers(data, key, len(cols), where) for key in ("mean", "std", "low", "high")}
        if any(s < 0 for s in values["std"]) or any(lo > hi for lo, hi in zip(values["low"], values["high"])):
            raise ValueError(f"{where}: needs std >= 0 and low <= high for every column")
        return cls(tuple(cols), **values, mode=modes[data["kind"]])


@dataclass(frozen=True)
class ObjectScaler:
    """Per-object features of a (jets, objects, features) list scaled over real objects, padded slots left at zero.

    The padded slots stay exactly zero. Two modes:

    * ``standard``: (x - mean) / std (a constant feature centred only);
    * ``robust``: asinh((x - median) / width), the width half the 16-84 % range (its larger side), as weaver's
      automatic standardisation (Qu and Gouskos) centres and scales, then squashed by asinh instead of clipped:
      linear within a few widths, logarithmic beyond, order kept. A heavy tail (a V0 daughter's impact parameter
      in cm beside a b-hadron track's 100 um) then no longer sets the scale of every track's (``mean`` holds the
      medians, ``std`` the widths).

    Parameters
    ----------
    features : tuple of str
        The feature names, in the order of the last axis.
    mean : tuple of float
        Per feature, the mean over the training split's real objects (``robust``: the median).
    std : tuple of float
        Per feature, the standard deviation (``robust``: the width); below ``MIN_STD`` the feature is only
        centred.
    mode : {"standard", "robust"}, default "standard"
        The scaling (a key of ``KINDS``).

    Raises
    ------
    ValueError
        For a ``mode`` other than those of ``KINDS``.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    mode: str = "standard"

    KIND = "objects_standard"
    KINDS = {"standard": "objects_standard", "robust": "objects_robust"}
    ROBUST_SAMPLE = 1_000_000  # real objects the percentiles are taken from (every k-th of the training split)

    def __post_init__(self):
        if self.mode not in self.KINDS:
            raise ValueError(f"object scaling must be one of {', '.join(self.KINDS)}, got {quoted(self.mode)}")

    @classmethod
    def fit(
        cls, features: Sequence[str], blocks: Iterable[tuple[ArrayLike, ArrayLike]], mode: str = "standard"
    ) -> ObjectScaler:
        """Fit from ``blocks``, the training split read block by block.

        Sums in float64, never the whole split in memory; ``robust`` keeps a sample of at most about
        2 x ``ROBUST_SAMPLE`` objects (every k-th real object of the split) for the percentiles.

        Parameters
        ----------
        features : sequence of str
            The feature names, in the order of the values' last axis.
        blocks : iterable of tuple of (array_like, array_like)
            Pairs of values, shape (jets, objects, features), and real-object mask, shape (jets, objects).
        mode : {"standard", "robust"}, default "standard"
            Mean and standard deviation, or median and half the 16-84 % range.

        Returns
        -------
        ObjectScaler
            The fitted scaler.

        Raises
        ------
        ValueError
            Where a block has another number of features, the split has no real objects, or for an unknown
            ``mode``.
        """
        n_features = len(features)
        count, total, squares = 0, np.zeros(n_features), np.zeros(n_features)
        sample, kept, stride = [], 0, 1  # robust: every stride-th object of the whole split, in order
        for values, mask in blocks:
            real = np.asarray(values, dtype=np.float64)[np.asarray(mask, dtype=bool)]
            if real.shape[-1] != n_features:
                raise ValueError(f"cannot fit the object scaler: {real.shape[-1]} features, expected {n_features}")
            if mode == "robust":
                taken = real[(-count) % stride :: stride]
                sample.append(taken)
                kept += len(taken)
                if kept > 2 * cls.ROBUST_SAMPLE:  # double the stride: every other object of the sample so far
                    sample, stride = [np.concatenate(sample)[::2]], 2 * stride
                    kept = len(sample[0])
            count += len(real)
            total += real.sum(axis=0)
            squares += (real**2).sum(axis=0)
        if count == 0:
            raise ValueError("cannot fit the object scaler: the training split has no real objects")
        if mode == "robust":
            low, centre, high = np.percentile(np.concatenate(sample), [16, 50, 84], axis=0)
            width = np.maximum(high - centre, centre - low)
            return cls(tuple(features), tuple(float(c) for c in centre), tuple(float(w) for w in width), mode)
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
        return cls(tuple(features), tuple(float(m) for m in mean), tuple(float(s) for s in std), mode)

    def transform(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(jets, objects, features) float32: ``values`` scaled, the slots ``mask`` (jets, objects) leaves out zero.

        Parameters
        ----------
        values : numpy.ndarray
            Shape (jets, objects, features): the object list.
        mask : numpy.ndarray
            Shape (jets, objects), bool: True for the real objects.

        Returns
        -------
        numpy.ndarray
            Shape (jets, objects, features), float32: the scaled features, exactly 0 in the padded slots.
        """
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        scale = np.where(std > MIN_STD, 1.0 / np.where(std > MIN_STD, std, 1.0), 1.0)
        out = (np.asarray(values, dtype=np.float64) - mean) * scale
        if self.mode == "robust":
            out = np.arcsinh(out)
        return (out * np.asarray(mask, dtype=bool)[..., None]).astype(np.float32)

    def to_dict(self) -> dict:
        """The scaler as JSON-ready values (``from_dict`` reads them back).

        Returns
        -------
        dict
            ``kind`` (``objects_standard`` or ``objects_robust``, from ``mode``), and ``features``, ``mean``,
            ``std`` as lists.
        """
        return {
            "kind": self.KINDS[self.mode],
            "features": list(self.features),
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "scaler") -> ObjectScaler:
        """The scaler ``to_dict`` wrote, checked (a ``ValueError`` naming ``where``).

        Parameters
        ----------
        data : dict
            What ``to_dict`` wrote (as read back from JSON).
        where : str, default "scaler"
            Names the scaler in the error messages.

        Returns
        -------
        ObjectScaler
            The scaler.

        Raises
        ------
        ValueError
            For another kind, an unknown field, feature names that are not a non-empty list of distinct names,
            numbers that are not one finite, plausible number per feature, or a negative std.
        """
        modes = {kind: mode for mode, kind in cls.KINDS.items()}
        if not isinstance(data, dict) or data.get("kind") not in modes:
            raise ValueError(f"{where}: not an object scaler (expected kind {' or '.join(map(repr, modes))})")
        features = _names(data, "features", where)
        _only(data, {"kind", "features", "mean", "std"}, where)
        mean, std = (_numbers(data, key, len(features), where) for key in ("mean", "std"))
        if any(s < 0 for s in std):
            raise ValueError(f"{where}: needs std >= 0 for every feature")
        return cls(tuple(features), mean, std, modes[data["kind"]])


Scaler = XAUGScaler | ObjectScaler  # the scaler of one input kind


@dataclass(frozen=True)
class InputScalers:
    """The scaler of each scaled input kind of a tagger ({kind name: scaler}); empty for a tagger without.

    False (``bool``) when it holds no scaler.

    Parameters
    ----------
    scalers : tuple of tuple of (str, XAUGScaler or ObjectScaler), default ()
        (kind name, scaler) pairs, sorted by name when built by ``of``.
    """

    scalers: tuple[tuple[str, Scaler], ...] = ()

    KIND = "input_scalers"

    @classmethod
    def of(cls, mapping: Mapping[str, Scaler]) -> InputScalers:
        """From a mapping {kind name: scaler}.

        Parameters
        ----------
        mapping : mapping of str to XAUGScaler or ObjectScaler
            The scaler of each input kind, by the kind's name.

        Returns
        -------
        InputScalers
            The scalers, sorted by kind name.
        """
        return cls(tuple(sorted(mapping.items())))

    def get(self, kind: str) -> Scaler | None:
        """The scaler of the input kind named ``kind``; None if the tagger has none for it.

        Parameters
        ----------
        kind : str
            The input kind's name (``xaug``, ``particles``, ...).

        Returns
        -------
        XAUGScaler or ObjectScaler or None
            Its scaler, or None.
        """
        return dict(self.scalers).get(kind)

    def kinds(self) -> tuple[str, ...]:
        """The names of the input kinds that have a scaler.

        Returns
        -------
        tuple of str
            The kind names, in the order of ``scalers``.
        """
        return tuple(k for k, _ in self.scalers)

    def __bool__(self) -> bool:
        return bool(self.scalers)

    def to_dict(self) -> dict:
        """Every scaler as JSON-ready values (``from_dict`` reads them back).

        Returns
        -------
        dict
            ``kind`` (``input_scalers``) and ``scalers``, each kind's name to its scaler's ``to_dict``.
        """
        return {"kind": self.KIND, "scalers": {k: s.to_dict() for k, s in self.scalers}}

    def save(self, path: str | Path) -> None:
        """Write ``to_dict`` as JSON to ``path`` (atomically).

        Parameters
        ----------
        path : str or Path
            The file to write (``scaler.json`` of a tagger).
        """
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: object, where: str = "scaler") -> InputScalers:
        """The scalers ``to_dict`` wrote, checked (a ``ValueError`` naming ``where``).

        Also reads the files written before the particles were scaled: one XAUG scaler, the whole file (read as the
        ``xaug`` kind's).

        Parameters
        ----------
        data : object
            What ``to_dict`` (or an older version's XAUG scaler) wrote, as read back from JSON.
        where : str, default "scaler"
            Names the file in the error messages.

        Returns
        -------
        InputScalers
            The scalers.

        Raises
        ------
        ValueError
            For another kind, an unknown field, a ``scalers`` entry that is not a mapping of kind names, or a scaler
            its own ``from_dict`` refuses.
        """
        if isinstance(data, dict) and data.get("kind") in XAUG_MODES.values():
            return cls.of({"xaug": XAUGScaler.from_dict(data, where)})
        if not isinstance(data, dict) or data.get("kind") != cls.KIND:
            raise ValueError(f"{where}: not a scaler file (expected kind {cls.KIND!r})")
        _only(data, {"kind", "scalers"}, where)
        scalers = data.get("scalers")
        if not isinstance(scalers, dict) or not all(isinstance(k, str) for k in scalers):
            raise ValueError(f"{where}: 'scalers' must map input kinds to their scaler")
        out = {}
        for kind, entry in scalers.items():
            is_objects = isinstance(entry, dict) and entry.get("kind") in ObjectScaler.KINDS.values()
            reader = ObjectScaler if is_objects else XAUGScaler
            out[kind] = reader.from_dict(entry, f"{where}, {kind}")
        return cls.of(out)

    @classmethod
    def load(cls, path: str | Path) -> InputScalers:
        """Read what ``save`` wrote (or an older file: ``from_dict``); a ``ValueError`` names the file.

        Parameters
        ----------
        path : str or Path
            The scaler file (``scaler.json``).

        Returns
        -------
        InputScalers
            The scalers.

        Raises
        ------
        ValueError
            Where the file cannot be read, is not JSON, or does not hold valid scalers.
        """
        try:
            data = read_json(path, "a scaler")
        except (OSError, ValueError) as err:
            raise ValueError(f"scaler {path}: cannot read it: {err}") from None
        return cls.from_dict(data, f"scaler {path}")


def _names(data: dict, key: str, where: str) -> list[str]:
    names = data.get(key)
    if not (isinstance(names, list) and names and all(isinstance(c, str) for c in names)):
        raise ValueError(f"{where}: {key!r} must be a non-empty list of names")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: {key!r} lists a name twice")
    return names


def _only(data: dict, known: set, where: str) -> None:
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")


def _numbers(data: dict, key: str, n: int, where: str) -> tuple[float, ...]:
    v = data.get(key)
    if not (isinstance(v, list) and len(v) == n and all(_plausible(x) for x in v)):
        raise ValueError(f"{where}: {key!r} must be {n} finite numbers of magnitude at most {MAX_ABS:g}")
    return tuple(float(x) for x in v)


def _plausible(x) -> bool:
    """A JSON number usable as a scaler parameter (huge integers compared exactly, never converted)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    return abs(x) <= MAX_ABS if isinstance(x, int) else math.isfinite(x) and abs(x) <= MAX_ABS
