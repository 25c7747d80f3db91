"""Deep sets over the calorimeter cells around a lepton (Komiske, Metodiev, Thaler, "Energy flow networks"):

    PFN:  F( sum_i Phi(z_i, Delta eta_i, Delta phi_i, HAD_i, Delta R_i) )    every feature of a cell into Phi
    EFN:  F( sum_i z_i Phi(Delta eta_i, Delta phi_i, HAD_i) )                 IRC-safe: linear in the energies

Phi is ``depth`` per-cell dense layers, each followed by a masked ReLU (padded cells give exactly zero, so the sum
runs over real cells only); F is the dense head. Bias-free like the other taggers but for the last layer; the
sums over cells are LRP's parameter-free linear maps and the EFN's weighting an ``EnergyWeighting`` gate. The cells
are the ``cells`` input kind (z first; the EFN's Phi reads the angular features and the layer flag).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from xaugcol.layers import EnergyWeighting, MaskedReLU, RealParticles
from xaugcol.models.taggers import Tagger

ENERGY = 0  # z: the first cell feature


class _CellSet(Tagger):
    input_kinds = ("cells",)
    body: nn.ModuleList
    first_feature = 0  # the features Phi reads: [first_feature:]
    MIN_DEPTH = 1  # Phi's layers

    def __init__(
        self,
        n_cells: int = 64,
        n_cell_features: int = 5,
        n_xaug: int = 0,
        use_xaug: bool = False,
        width: int = 64,
        latent: int = 32,
        depth: int = 3,
        hidden: Sequence[int] = (64, 64),
        dropout: float = 0.0,
        biases: bool = False,
    ):
        if depth < self.MIN_DEPTH:
            raise ValueError(f"Phi needs at least one layer (depth >= 1), got {depth}")
        sizes = [n_cell_features - self.first_feature] + [width] * (depth - 1) + [latent]
        phi = nn.ModuleList(nn.Linear(a, b, bias=biases) for a, b in zip(sizes[:-1], sizes[1:]))
        super().__init__(phi, latent, n_xaug, use_xaug, list(hidden), dropout, biases)
        self.activations = nn.ModuleList(MaskedReLU(-1) for _ in range(depth))
        self.real = RealParticles()
        self.n_cells = n_cells

    def per_cell(self, cells: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Phi of every cell, (batch, cells, latent), zero on padded cells."""
        h = cells[:, :, self.first_feature :]
        for layer, activation in zip(self.body, self.activations):
            h = activation(layer(h), mask)
        return h


class PFN(_CellSet):
    """Particle-Flow Network over the cells: Phi of every feature of each cell, summed over the real cells.

    Its input is the ``cells`` list, (batch, n_cells, n_cell_features).

    Parameters
    ----------
    n_cells : int, default 64
        The cell slots per lepton (recorded as ``n_cells``; the layers do not depend on it).
    n_cell_features : int, default 5
        The features per cell (z first).
    n_xaug : int, default 0
        The number of XAUG variables (0 without them).
    use_xaug : bool, default False
        Join the XAUG vector (batch, n_xaug) to the sum over cells before the head; it is then ``forward``'s last
        input.
    width : int, default 64
        The width of Phi's hidden layers.
    latent : int, default 32
        The width of Phi's last layer: the latent space summed over cells.
    depth : int, default 3
        The number of Phi's layers (at least ``MIN_DEPTH``, 1).
    hidden : sequence of int, default (64, 64)
        The widths of F's hidden layers (the head).
    dropout : float, default 0.0
        The dropout probability after each hidden layer of the head.
    biases : bool, default False
        Give Phi's layers and the head's hidden layers a bias.

    Raises
    ------
    ValueError
        ``depth`` below 1.
    """

    def features(self, cells: torch.Tensor) -> torch.Tensor:
        """The sum of Phi over the real cells.

        Parameters
        ----------
        cells : torch.Tensor
            The cells, shape (batch, n_cells, n_cell_features); padded cells are all zeros.

        Returns
        -------
        torch.Tensor
            Shape (batch, latent).
        """
        mask = self.real(cells)[..., None]
        return self.per_cell(cells, mask).sum(dim=1)


class EFN(_CellSet):
    """Energy-Flow Network over the cells: Phi of the cell's position, weighted by its energy fraction.

    Its input is the ``cells`` list, (batch, n_cells, n_cell_features); Phi reads every feature but z.

    Parameters
    ----------
    n_cells : int, default 64
        The cell slots per lepton (recorded as ``n_cells``; the layers do not depend on it).
    n_cell_features : int, default 5
        The features per cell (z first).
    n_xaug : int, default 0
        The number of XAUG variables (0 without them).
    use_xaug : bool, default False
        Join the XAUG vector (batch, n_xaug) to the sum over cells before the head; it is then ``forward``'s last
        input.
    width : int, default 64
        The width of Phi's hidden layers.
    latent : int, default 32
        The width of Phi's last layer: the latent space summed over cells.
    depth : int, default 3
        The number of Phi's layers (at least ``MIN_DEPTH``, 1).
    hidden : sequence of int, default (64, 64)
        The widths of F's hidden layers (the head).
    dropout : float, default 0.0
        The dropout probability after each hidden layer of the head.
    biases : bool, default True
        Give Phi's layers and the head's hidden layers a bias (on by default: a bias-free Phi of the position
        vanishes at the lepton, where an electron's core lies).

    Raises
    ------
    ValueError
        ``depth`` below 1.
    """

    first_feature = 1

    def __init__(
        self,
        n_cells: int = 64,
        n_cell_features: int = 5,
        n_xaug: int = 0,
        use_xaug: bool = False,
        width: int = 64,
        latent: int = 32,
        depth: int = 3,
        hidden: Sequence[int] = (64, 64),
        dropout: float = 0.0,
        biases: bool = True,
    ):
        # biases on by default: a bias-free Phi of the position vanishes at the lepton, where an electron's core
        # lies (LRP books what the biases carry as absorbed)
        super().__init__(n_cells, n_cell_features, n_xaug, use_xaug, width, latent, depth, hidden, dropout, biases)
        self.weighting = EnergyWeighting()

    def features(self, cells: torch.Tensor) -> torch.Tensor:
        """The sum over the real cells of Phi of each cell's position, weighted by its energy fraction z.

        Parameters
        ----------
        cells : torch.Tensor
            The cells, shape (batch, n_cells, n_cell_features), z first; padded cells are all zeros.

        Returns
        -------
        torch.Tensor
            Shape (batch, latent).
        """
        mask = self.real(cells)[..., None]
        return self.weighting(self.per_cell(cells, mask), cells[:, :, ENERGY]).sum(dim=1)
