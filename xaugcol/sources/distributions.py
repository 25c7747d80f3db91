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

    Parameters
    ----------
    kind : str
        ``"normal"`` or ``"exponential"`` (``KINDS``).
    scale : float
        The normal's standard deviation or the exponential's decay length; > 0.
    loc : float, default 0.0
        The normal's mean (unused by the exponential).
    low : float, default 0.0
        The lower truncation bound.
    high : float, default math.inf
        The upper truncation bound; above ``low``.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, a number field is not a number (or NaN), ``scale`` is not positive or ``high`` is
        not above ``low``.
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
        """The scipy frozen distribution.

        Returns
        -------
        scipy.stats.rv_continuous_frozen
            ``scipy.stats.truncnorm`` (normal) or ``scipy.stats.truncexpon`` (exponential), truncated to
            [``low``, ``high``].
        """
        if self.kind == "normal":
            a = (self.low - self.loc) / self.scale
            b = (self.high - self.loc) / self.scale
            return stats.truncnorm(a, b, loc=self.loc, scale=self.scale)
        return stats.truncexpon((self.high - self.low) / self.scale, loc=self.low, scale=self.scale)

    def sample(self, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """``size`` values drawn from the distribution with ``rng``.

        Parameters
        ----------
        size : int or tuple of int
            The number, or the shape, of the values to draw.
        rng : numpy.random.Generator
            The random stream to draw them with.

        Returns
        -------
        numpy.ndarray
            The values, of shape ``size``, float64.
        """
        return self.frozen().rvs(size=size, random_state=rng)

    def to_dict(self) -> dict:
        """The parameters as a mapping (the fields).

        Returns
        -------
        dict
            ``{"kind", "scale", "loc", "low", "high"}`` to their values.
        """
        return asdict(self)
