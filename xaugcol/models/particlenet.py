"""ParticleNet (Qu and Gouskos, arXiv:1902.08570), the graph network CMS trains with weaver-core, on the particle
list.

Each EdgeConv block builds a k-nearest-neighbour graph of the jet's real particles (the first in (delta eta,
delta phi) to the jet axis, the later ones in the previous block's features), and for every particle i and neighbour
j applies a shared stack of 1 x 1 convolutions (with batch norm and ReLU) to the edge feature [x_i, x_j - x_i]; the
mean over the real neighbours, plus a shortcut (a 1 x 1 convolution of x_i), through a ReLU, is the particle's new
feature. The blocks' outputs are fused by a 1 x 1 convolution, averaged over the real particles and handed to the
dense head (with the XAUG variables joined before it, as in every tagger here).

Padding carries nothing: a padded slot is never a neighbour (``xaugcol.layers.KNearest``), every block's output is
zero there, and the mean is over real neighbours and real particles only, so a jet gives the same logit whatever
its padding (tests/test_particlenet.py). As the other taggers, every layer but the last is bias-free by default
(``biases``; the batch norms then only scale: a shift is a bias), and LRP sees the kNN selection as fixed routing
(Mokhtar et al., arXiv:2211.09912): relevance flows through the edge functions and the aggregation, never into the
choice of neighbours.

Defaults: ParticleNet-Lite's blocks (k = 7; 32 and 64 channels), fusion 128, one hidden layer of 128.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from xaugcol.features.particles import FEATURE_INDEX
from xaugcol.layers import KNearest, MaskedBatchNorm1d, MaskedReLU, RealParticles, neighbour_mask
from xaugcol.models.taggers import Tagger, batch_norm

COORDINATES = (FEATURE_INDEX["deta_jet"], FEATURE_INDEX["dphi_jet"])  # the first graph's space


class EdgeConvBlock(nn.Module):
    """One EdgeConv block: kNN in ``points``, the edge MLP on [x_i, x_j - x_i] (1 x 1 convolutions over the edges,
    with masked batch norms counting real edges only), the mean over real neighbours, a shortcut, a ReLU; zero on
    padded particles and on edges to padded slots, at every layer."""

    def __init__(self, k: int, c_in: int, widths: Sequence[int], batch_norms: bool, biases: bool):
        super().__init__()
        self.neighbours = KNearest(k)
        options = {} if biases else {"centre": False}  # bias-free: the norms only scale
        layers: list[nn.Module] = []
        c = 2 * c_in
        for width in widths:
            layers.append(nn.Conv1d(c, width, kernel_size=1, bias=biases))
            if batch_norms:
                layers.append(batch_norm(MaskedBatchNorm1d, width, **options))
            layers.append(MaskedReLU(channel_axis=1))
            c = width
        self.edge = nn.ModuleList(layers)
        self.shortcut = nn.Conv1d(c_in, c, kernel_size=1, bias=biases)
        self.shortcut_norm = batch_norm(MaskedBatchNorm1d, c, **options) if batch_norms else None
        self.activation = MaskedReLU(channel_axis=1)

    def forward(self, x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, channels, particles), ``points``: (batch, coordinates, particles), ``mask``: (batch,
        particles); returns (batch, width, particles)."""
        batch, channels, n = x.shape
        index = self.neighbours(points, mask)  # (batch, particles, k)
        k = index.shape[-1]
        valid = neighbour_mask(mask, index).reshape(batch, 1, n * k)  # the real edges
        flat = index.reshape(batch, 1, n * k).expand(batch, channels, n * k)
        x_j = torch.gather(x, 2, flat)  # (batch, channels, particles * k), particle-major
        x_i = x.unsqueeze(-1).expand(batch, channels, n, k).reshape(batch, channels, n * k)
        h = torch.cat([x_i, x_j - x_i], dim=1)
        for layer in self.edge:
            h = layer(h, valid) if isinstance(layer, (MaskedBatchNorm1d, MaskedReLU)) else layer(h)
        width = h.shape[1]
        count = valid.reshape(batch, 1, n, k).sum(-1).clamp(min=1.0)  # real neighbours per particle
        h = h.reshape(batch, width, n, k).sum(-1) / count  # the mean over real neighbours
        shortcut = self.shortcut(x)
        if self.shortcut_norm is not None:
            shortcut = self.shortcut_norm(shortcut, mask.unsqueeze(1))
        return self.activation(h + shortcut, mask.unsqueeze(1))


class ParticleNet(Tagger):
    """ParticleNet on the particle list (module docstring). ``neighbours``: k of every block; ``blocks``: the edge
    MLP's widths per block; ``fusion``: the width of the fusion convolution; ``hidden``: the dense head."""

    input_kinds = ("particles",)
    body: nn.ModuleList
    trimmable_inputs = (0,)  # a padded particle is never a neighbour and carries nothing (models.batching)

    def __init__(
        self,
        n_features: int = 17,
        n_xaug: int = 0,
        use_xaug: bool = False,
        neighbours: int = 7,
        blocks: Sequence[Sequence[int]] = ((32, 32, 32), (64, 64, 64)),
        fusion: int = 128,
        hidden: Sequence[int] = (128,),
        dropout: float = 0.0,
        batch_norms: bool = True,
        biases: bool = False,
    ):
        edge_convs = []
        c, widest = n_features, 0
        for widths in blocks:
            edge_convs.append(EdgeConvBlock(neighbours, c, widths, batch_norms, biases))
            widest = max(widest, 2 * c, *widths)  # the widest edge tensor: its input [x_i, x_j - x_i] or a layer
            c = widths[-1]
        body = nn.ModuleList(edge_convs)
        super().__init__(body, fusion, n_xaug, use_xaug, list(hidden), dropout, biases)
        self.real = RealParticles()
        self.fusion = nn.Conv1d(sum(w[-1] for w in blocks), fusion, kernel_size=1, bias=biases)
        norm = {} if biases else {"centre": False}
        self.fusion_norm = batch_norm(MaskedBatchNorm1d, fusion, **norm) if batch_norms else None
        self.fusion_activation = MaskedReLU(channel_axis=1)
        self.k = neighbours
        self.widest = widest

    def batch_elements(self, longest: torch.Tensor) -> torch.Tensor:
        """Activation elements per jet of the largest tensors (the edge features, the kNN distances) in a batch
        whose longest jet has ``longest`` (rows, 1) particles."""
        n = longest[:, 0]
        edges = n * torch.clamp(n, max=self.k)
        return torch.maximum(edges * self.widest, n * n).clamp(min=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.real(x)  # (batch, particles)
        h = x.transpose(1, 2)  # (batch, features, particles)
        points = h[:, list(COORDINATES)]
        outputs = []
        for block in self.body:
            h = block(h, points, mask)
            outputs.append(h)
            points = h
        fused = self.fusion(torch.cat(outputs, dim=1))
        if self.fusion_norm is not None:
            fused = self.fusion_norm(fused, mask.unsqueeze(1))
        fused = self.fusion_activation(fused, mask.unsqueeze(1))
        count = mask.sum(-1, keepdim=True).clamp(min=1.0)
        return fused.sum(-1) / count  # the mean over real particles
