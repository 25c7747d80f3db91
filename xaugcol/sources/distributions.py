"""One-dimensional distributions of the toy source, as data (YAML-friendly) and as scipy objects.

Sampling and testing use the same scipy frozen distribution, so a Kolmogorov-Smirnov test of what was written
checks exactly what was declared.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from xaugcol.quoting import quoted

KINDS = ("normal", "exponential")


@dataclass(frozen=True)
class Dist:
    """A normal or exponential distribution truncated to [low, high].

    normal: ``loc`` is the mean, ``scale`` the standard deviation.
    exponential: density proportional to exp(-(x - low) / scale) for x >= low (``loc`` is unused).
    """

    kind: str
    scale: float
    loc: float = 0.0
    low: float = 0.0
    high: float = math.inf

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"distribution kind {quoted(self.kind)} is not one of {KINDS}")
        for name in ("scale", "loc", "low", "high"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or math.isnan(value):
                raise ValueError(f"distribution field {quoted(name)} must be a number, got {quoted(value)}")
        if not self.scale > 0:
            raise ValueError(f"distribution scale must be > 0, got {self.scale}")
        if not self.high > self.low:
            raise ValueError(f"distribution needs low < high, got [{self.low}, {self.high}]")

    def frozen(self) -> Any:  # a scipy frozen distribution (scipy has no type hints)
        """The scipy frozen distribution."""
        if self.kind == "normal":
            a = (self.low - self.loc) / self.scale
            b = (self.high - self.loc) / self.scale
            return stats.truncnorm(a, b, loc=self.loc, scale=self.scale)
        return stats.truncexpon((self.high - self.low) / self.scale, loc=self.low, scale=self.scale)

    def sample(self, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """``size`` values drawn from the distribution with ``rng``."""
        return self.frozen().rvs(size=size, random_state=rng)

    def to_dict(self) -> dict:
        """The parameters as a mapping (the fields)."""
        return asdict(self)
