"""The cell set of each lepton: its hardest calorimeter cells as a padded list, as the particle list is for jets.

Features (index: name): 0 z = E_T / p_T of the lepton, 1 deta, 2 dphi (to the lepton), 3 hadronic (1 for a HAD
cell), 4 dr. Padded entries are 0 with mask False. Columnar over a batch's flat cells, grouped by their lepton.
"""

from __future__ import annotations

import numpy as np

CELL_FEATURES = ("z", "deta", "dphi", "hadronic", "dr")


def hardest_first(owner: np.ndarray, key: np.ndarray, n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's slot among its lepton's cells ordered by ``key`` descending, and which are within ``width``."""
    order = np.lexsort((-key, owner))
    counts = np.bincount(owner, minlength=n)
    rank = np.empty(len(owner), dtype=np.int64)
    rank[order] = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return rank, rank < width


def cell_list(
    z: np.ndarray,
    deta: np.ndarray,
    dphi: np.ndarray,
    hadronic: np.ndarray,
    dr: np.ndarray,
    owner: np.ndarray,
    n: int,
    width: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(leptons, width, 5) float32 of the hardest cells and the (leptons, width) mask of real ones."""
    rank, fits = hardest_first(owner, z, n, width)
    out = np.zeros((n, width, len(CELL_FEATURES)), dtype=np.float32)
    values = np.stack([z, deta, dphi, hadronic.astype(np.float64), dr], axis=1)
    out[owner[fits], rank[fits]] = values[fits]
    mask = np.zeros((n, width), dtype=bool)
    mask[owner[fits], rank[fits]] = True
    return out, mask
