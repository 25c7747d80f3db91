"""The cell set of each lepton: its hardest calorimeter cells as a padded list, as the particle list is for jets.

Features (index: name): 0 z = E_T / p_T of the lepton, 1 deta, 2 dphi (to the lepton), 3 hadronic (1 for a HAD
cell), 4 dr. Padded entries are 0 with mask False. Columnar over a batch's flat cells, grouped by their lepton.
"""

from __future__ import annotations

import numpy as np

CELL_FEATURES = ("z", "deta", "dphi", "hadronic", "dr")


def hardest_first(owner: np.ndarray, key: np.ndarray, n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's slot among its lepton's cells ordered by ``key`` descending, and which are within ``width``.

    Parameters
    ----------
    owner : numpy.ndarray
        Shape (cells,), int: the index (0 to ``n`` - 1) of each cell's lepton.
    key : numpy.ndarray
        Shape (cells,): the value the cells are ordered by within their lepton (the largest first).
    n : int
        The number of leptons.
    width : int
        The number of slots per lepton.

    Returns
    -------
    rank : numpy.ndarray
        Shape (cells,), int64: each cell's slot among its lepton's cells, 0 for the cell of the largest ``key``.
    fits : numpy.ndarray
        Shape (cells,), bool: True where ``rank`` < ``width``.
    """
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
    """(leptons, width, 5) float32 of the hardest cells and the (leptons, width) mask of real ones.

    All the per-cell arrays are flat, shape (cells,), over a batch's cells of all leptons. The cells are ordered by
    ``z`` descending within each lepton; a lepton's cells beyond its ``width`` hardest are dropped.

    Parameters
    ----------
    z : numpy.ndarray
        Each cell's E_T / p_T of its lepton (feature 0, also the ordering key).
    deta : numpy.ndarray
        Each cell's eta minus the lepton's (feature 1).
    dphi : numpy.ndarray
        Each cell's phi minus the lepton's, wrapped, in radians (feature 2).
    hadronic : numpy.ndarray
        Bool: True for a cell of the hadronic calorimeter (feature 3, as 1.0 or 0.0).
    dr : numpy.ndarray
        Each cell's distance to the lepton in (eta, phi) (feature 4).
    owner : numpy.ndarray
        Int: the index (0 to ``n`` - 1) of each cell's lepton.
    n : int
        The number of leptons.
    width : int
        The number of cell slots per lepton.

    Returns
    -------
    cells : numpy.ndarray
        Shape (leptons, width, 5), float32: the features ``CELL_FEATURES`` of each lepton's hardest cells; 0 in
        the padded slots.
    mask : numpy.ndarray
        Shape (leptons, width), bool: True for the slots that hold a cell.
    """
    rank, fits = hardest_first(owner, z, n, width)
    out = np.zeros((n, width, len(CELL_FEATURES)), dtype=np.float32)
    values = np.stack([z, deta, dphi, hadronic.astype(np.float64), dr], axis=1)
    out[owner[fits], rank[fits]] = values[fits]
    mask = np.zeros((n, width), dtype=bool)
    mask[owner[fits], rank[fits]] = True
    return out, mask
