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
    """Per-bin factors that reweight the background jets to the signal's pT spectrum (signal jets keep theirs).

    Parameters
    ----------
    edges : tuple of float
        The pT bin edges (GeV), increasing.
    background : tuple of float
        The factor per bin for background jets, one fewer than ``edges`` (signal: 1).
    """

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
        """Fit the factors that make the background's weighted pT spectrum the signal's.

        Parameters
        ----------
        pt : numpy.ndarray
            Per training jet, its pT (GeV), shape (jets,).
        labels : numpy.ndarray
            Per training jet, its class (1 signal, 0 background).
        weights : numpy.ndarray
            Per training jet, its weight.
        pt_range : tuple of (float, float), optional
            (low, high) GeV of the binning; None: the jets' range.
        bins : int, default ``BINS``
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
        """Give each jet the factor of its weight.

        Parameters
        ----------
        pt : numpy.ndarray
            The jets' pT (GeV), shape (jets,).
        labels : numpy.ndarray
            The jets' classes (1 signal, 0 background, -1 without truth), shape (jets,).

        Returns
        -------
        numpy.ndarray
            float64, shape (jets,): the bin's factor for background (0 outside the range), 1 for signal and for
            jets without truth (real data).
        """
        edges = np.asarray(self.edges)
        index = np.searchsorted(edges, np.asarray(pt, float), side="right") - 1
        inside = (index >= 0) & (index < len(self.background))
        bkg = np.where(inside, np.asarray(self.background)[np.clip(index, 0, len(self.background) - 1)], 0.0)
        return np.where(np.asarray(labels) == 0, bkg, 1.0)

    def as_dict(self) -> dict:
        """Give the factors as JSON-ready values (``from_dict`` reads them back).

        Returns
        -------
        dict
            ``edges`` and ``background``, each a list of float.
        """
        return {"edges": list(self.edges), "background": list(self.background)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> PtWeights:
        """Read back what ``as_dict`` wrote, checked.

        Parameters
        ----------
        data : Any
            The loaded JSON value: a dict with exactly ``edges`` (increasing) and ``background`` (one finite
            factor >= 0 per bin).
        where : str
            Where ``data`` comes from (a file), named in the error.

        Returns
        -------
        PtWeights
            The factors.

        Raises
        ------
        ValueError
            If ``data`` is not as ``as_dict`` writes it, naming ``where``.
        """
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
