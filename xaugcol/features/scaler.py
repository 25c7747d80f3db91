"""XAUG preprocessing as in the seed: outliers set to mean +- 3 std, then min-max scaling to [0, 1].

The scaler is fitted on the training split only (optionally on jets inside the mSD window) and saved as JSON with
the model, so that training and application use the same numbers. Loading validates the file; nothing in it is
executed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xaugcol.atomic import write_json
from xaugcol.paths import read_text

N_STD = 3.0
# no XAUG variable (GeV-scale kinematics, ratios, counts) comes near this: a scaler beyond it is corrupt, and its
# arithmetic (mean +- 3 std, high - low) would overflow to inf and scale every jet to 0 without a word
MAX_ABS = 1e15


@dataclass(frozen=True)
class XAUGScaler:
    columns: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    low: tuple[float, ...]  # after clipping: the min-max range
    high: tuple[float, ...]

    @classmethod
    def fit(cls, table, columns, weights=None) -> XAUGScaler:
        """Fit on ``table`` (mapping column -> 1-d array, the training split). NaN or inf refuse the fit."""
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
        return cls(tuple(columns), tuple(mean), tuple(std), tuple(low), tuple(high))

    def transform(self, table) -> np.ndarray:
        """(jets, n_columns) float32 in [0, 1]: clipped at mean +- 3 std, then min-max. A constant column gives 0."""
        out = np.empty((len(np.asarray(table[self.columns[0]])), len(self.columns)), dtype=np.float32)
        for k, name in enumerate(self.columns):
            x = np.asarray(table[name], dtype=np.float64)
            bad = ~np.isfinite(x)
            if bad.any():
                raise ValueError(f"XAUG column {name!r} has {int(bad.sum())} NaN/inf values")
            x = np.clip(x, self.mean[k] - N_STD * self.std[k], self.mean[k] + N_STD * self.std[k])
            span = self.high[k] - self.low[k]
            out[:, k] = np.clip((x - self.low[k]) / span, 0.0, 1.0) if span > 0 else 0.0
        return out

    def to_dict(self) -> dict:
        return {"kind": "xaug_minmax_3std", "columns": list(self.columns), "mean": list(self.mean),
                "std": list(self.std), "low": list(self.low), "high": list(self.high)}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict, where: str = "scaler") -> XAUGScaler:
        if not isinstance(data, dict) or data.get("kind") != "xaug_minmax_3std":
            raise ValueError(f"{where}: not an XAUG scaler (expected kind 'xaug_minmax_3std')")
        cols = data.get("columns")
        if not (isinstance(cols, list) and cols and all(isinstance(c, str) for c in cols)):
            raise ValueError(f"{where}: 'columns' must be a non-empty list of names")
        if len(set(cols)) != len(cols):
            raise ValueError(f"{where}: 'columns' lists a name twice")
        unknown = set(data) - {"kind", "columns", "mean", "std", "low", "high"}
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
        values = {}
        for key in ("mean", "std", "low", "high"):
            v = data.get(key)
            if not (isinstance(v, list) and len(v) == len(cols) and all(_plausible(x) for x in v)):
                raise ValueError(f"{where}: {key!r} must be {len(cols)} finite numbers of magnitude at most "
                                 f"{MAX_ABS:g}")
            values[key] = tuple(float(x) for x in v)
        if any(s < 0 for s in values["std"]) or any(lo > hi for lo, hi in zip(values["low"], values["high"])):
            raise ValueError(f"{where}: needs std >= 0 and low <= high for every column")
        return cls(tuple(cols), **values)

    @classmethod
    def load(cls, path: str | Path) -> XAUGScaler:
        try:
            data = json.loads(read_text(path, "a scaler"))
        except (OSError, ValueError) as err:
            raise ValueError(f"scaler {path}: cannot read it: {err}") from None
        return cls.from_dict(data, f"scaler {path}")


def _plausible(x) -> bool:
    """A JSON number usable as a scaler parameter (huge integers compared exactly, never converted)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    return abs(x) <= MAX_ABS if isinstance(x, int) else math.isfinite(x) and abs(x) <= MAX_ABS
