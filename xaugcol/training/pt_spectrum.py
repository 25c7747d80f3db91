"""Matched jet-pT spectra: background jets reweighted so that their weighted pT distribution is the signal's.

Signal and background come from different processes with different pT spectra, and a tagger learns pT where it
separates them (here a harder signal spectrum would pass for a signal feature). Agarwal, Rappoccio et al.
(arXiv:2011.13466) compare taggers at the same pT: fitted on the training split (``fit``), the per-bin factor
h_signal(pT) / h_background(pT) of the two normalised, weighted pT histograms multiplies every background jet's
weight in training, validation and test (``factors``). Bins without background get factor 0 (no jet to carry the
weight); bins without signal too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

BINS = 20


@dataclass(frozen=True)
class PtWeights:
    """Per-bin factors that reweight the background jets to the signal's pT spectrum (signal jets keep theirs)."""

    edges: tuple[float, ...]  # GeV, increasing
    background: tuple[float, ...]  # factor per bin for background jets (signal: 1)

    @classmethod
    def fit(
        cls,
        pt: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray,
        pt_range: tuple[float, float] | None = None,
        bins: int = BINS,
    ) -> PtWeights:
        """The factors that make the background's weighted pT spectrum the signal's.

        Parameters
        ----------
        pt, labels, weights
            Per training jet: its pT (GeV), class (1 signal, 0 background) and weight.
        pt_range
            (low, high) GeV of the binning; None: the jets' range.
        bins
            Equal-width bins in ``pt_range``.

        Returns
        -------
        PtWeights
            Per bin, the ratio of the normalised signal and background spectra (0 where there is no background).
        """
        pt, labels, weights = np.asarray(pt, float), np.asarray(labels).astype(int), np.asarray(weights, float)
        if pt_range is None:
            pt_range = (float(pt.min()), float(np.nextafter(pt.max(), np.inf)))
        edges = np.linspace(float(pt_range[0]), float(pt_range[1]), bins + 1)
        h = {}
        for k in (0, 1):
            counts = np.histogram(pt[labels == k], edges, weights=weights[labels == k])[0]
            if counts.sum() <= 0:
                raise ValueError(
                    f"cannot match pT spectra: no {'signal' if k else 'background'} jets with "
                    f"positive weight in {pt_range[0]:g}-{pt_range[1]:g} GeV"
                )
            h[k] = counts / counts.sum()
        factors = np.divide(h[1], h[0], out=np.zeros(bins), where=h[0] > 0)
        return cls(tuple(edges.tolist()), tuple(factors.tolist()))

    def factors(self, pt: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Per jet, the factor of its weight: the bin's factor for background (0 outside the range), 1 for signal
        and for jets without truth (real data)."""
        edges = np.asarray(self.edges)
        index = np.searchsorted(edges, np.asarray(pt, float), side="right") - 1
        inside = (index >= 0) & (index < len(self.background))
        bkg = np.where(inside, np.asarray(self.background)[np.clip(index, 0, len(self.background) - 1)], 0.0)
        return np.where(np.asarray(labels) == 0, bkg, 1.0)

    def as_dict(self) -> dict:
        """JSON-ready values (``from_dict`` reads them back)."""
        return {"edges": list(self.edges), "background": list(self.background)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> PtWeights:
        """What ``as_dict`` wrote, checked (a ``ValueError`` naming ``where``)."""
        ok = (
            isinstance(data, dict)
            and set(data) == {"edges", "background"}
            and all(
                isinstance(data[k], list) and all(isinstance(x, (int, float)) and np.isfinite(x) for x in data[k])
                for k in data
            )
            and len(data["edges"]) == len(data["background"]) + 1 >= 2
            and all(b > a for a, b in zip(data["edges"], data["edges"][1:]))
            and min(data["background"]) >= 0
        )
        if not ok:
            raise ValueError(f"{where}: 'pt_weights' must hold increasing 'edges' and one factor >= 0 per bin")
        return cls(tuple(float(x) for x in data["edges"]), tuple(float(x) for x in data["background"]))
