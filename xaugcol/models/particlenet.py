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
    """One EdgeConv block: kNN in ``points``, the edge MLP on [x_i, x_j - x_i], the mean, a shortcut, a ReLU.

    The edge MLP is 1 x 1 convolutions over the edges, with masked batch norms counting real edges only; the mean
    is over the real neighbours. The block is zero on padded particles and on edges to padded slots, at every layer.

    Parameters
    ----------
    k : int
        The neighbours per particle (``KNearest``).
    c_in : int
        The channels of the block's input x.
    widths : sequence of int
        The output channels of the edge MLP's convolutions, in order (the last is the block's output width).
    batch_norms : bool
        A masked batch norm after every edge convolution and after the shortcut's convolution.
    biases : bool
        Give the convolutions a bias; without, the batch norms only scale.
    weaver : bool, default False
        weaver-core's block: padded slots taken as neighbours count in the mean over all ``k``, and the
        shortcut is the input itself where the width does not change.
    """

    def __init__(self, k: int, c_in: int, widths: Sequence[int], batch_norms: bool, biases: bool, weaver: bool = False):
        super().__init__()
        self.neighbours = KNearest(k)
        self.weaver = weaver
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
        # weaver-core keeps a block's input as its shortcut when the width does not change
        identity = weaver and c_in == c
        self.shortcut = None if identity else nn.Conv1d(c_in, c, kernel_size=1, bias=biases)
        self.shortcut_norm = batch_norm(MaskedBatchNorm1d, c, **options) if batch_norms and not identity else None
        self.activation = MaskedReLU(channel_axis=1)

    def forward(self, x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The block's output for every particle.

        Parameters
        ----------
        x : torch.Tensor
            The particles' features, shape (batch, channels, particles).
        points : torch.Tensor
            The space the neighbours are found in, shape (batch, coordinates, particles).
        mask : torch.Tensor
            1.0 for a real particle, 0.0 for padding, shape (batch, particles).

        Returns
        -------
        torch.Tensor
            Shape (batch, width, particles), ``width`` the last of ``widths``; zero on padded particles.
        """
        batch, channels, n = x.shape
        index = self.neighbours(points, mask)  # (batch, particles, k)
        k = index.shape[-1]
        valid = neighbour_mask(mask, index).reshape(batch, 1, n * k)  # the real edges
        flat = index.reshape(batch, 1, n * k).expand(batch, channels, n * k)
        x_j = torch.gather(x, 2, flat)  # (batch, channels, particles * k), particle-major
        x_i = x.unsqueeze(-1).expand(batch, channels, n, k).reshape(batch, channels, n * k)
        if self.weaver:
            # weaver-core: in a jet of at most k real particles a particle takes padded slots (zero features) as
            # neighbours, and the mean is over all k of them
            x_j = x_j * valid
            edges = mask.unsqueeze(-1).expand(batch, n, k).reshape(batch, 1, n * k)
            count: torch.Tensor | float = float(self.neighbours.k)  # k slots more are padded: every particle has k
        else:
            edges = valid
            count = valid.reshape(batch, 1, n, k).sum(-1).clamp(min=1.0)  # real neighbours per particle
        h = torch.cat([x_i, x_j - x_i], dim=1)
        for layer in self.edge:
            h = layer(h, edges) if isinstance(layer, (MaskedBatchNorm1d, MaskedReLU)) else layer(h)
        width = h.shape[1]
        h = h.reshape(batch, width, n, k).sum(-1) / count  # the mean over the neighbours
        if self.shortcut is None:
            shortcut = x
        else:
            shortcut = self.shortcut(x)
            if self.shortcut_norm is not None:
                shortcut = self.shortcut_norm(shortcut, mask.unsqueeze(1))
        return self.activation(h + shortcut, mask.unsqueeze(1))


class ParticleNet(Tagger):
    """ParticleNet on the particle list (module docstring).

    Its input is the particle list, (batch, particles, n_features) [, the XAUG vector (batch, n_xaug)].

    Parameters
    ----------
    n_features : int, default 17
        The input channels per particle.
    n_xaug : int, default 0
        The number of XAUG variables (0 without them).
    use_xaug : bool, default False
        Join the XAUG vector (batch, n_xaug) to the pooled features before the head; it is then ``forward``'s last
        input.
    neighbours : int, default 7
        k of every EdgeConv block.
    blocks : sequence of sequence of int, default ((32, 32, 32), (64, 64, 64))
        The edge MLP's widths per block, one ``EdgeConvBlock`` each.
    fusion : int, default 128
        The width of the fusion convolution on the blocks' outputs, the body's output width.
    hidden : sequence of int, default (128,)
        The widths of the dense head's hidden layers.
    dropout : float, default 0.0
        The dropout probability after each hidden layer of the head.
    batch_norms : bool, default True
        Masked batch norms after the edge, shortcut and fusion convolutions.
    biases : bool, default False
        Give every layer but the head's last a bias; without, the batch norms only scale.
    weaver : bool, default False
        weaver-core's layers (``EdgeConvBlock``'s ``weaver``, a batch norm of the input features, k padded
        slots more); needs ``biases`` and ``batch_norms``.
    coordinates : sequence of int, optional
        The input channels of the first graph's coordinates; None: the class's ``default_coordinates``, (delta
        eta, delta phi) to the jet axis (``COORDINATES``) for the particle list.
    node_features : int, default 0
        How many leading input channels are the particles' features (0: all ``n_features``).

    Raises
    ------
    ValueError
        ``node_features`` above ``n_features``, a coordinate that is not an input channel or no coordinate, or
        ``weaver`` without ``biases`` and ``batch_norms``.
    """

    input_kinds: tuple[str, ...] = ("particles",)
    default_coordinates: tuple[int, ...] = COORDINATES  # the first graph's input channels, unless given
    body: nn.ModuleList
    # a padded particle is never a neighbour and carries nothing (models.batching)
    trimmable_inputs: tuple[int, ...] = (0,)

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
        weaver: bool = False,
        coordinates: Sequence[int] | None = None,
        node_features: int = 0,
    ):
        nodes = node_features or n_features
        coordinates = tuple(self.default_coordinates if coordinates is None else coordinates)
        if nodes > n_features or any(not 0 <= c < n_features for c in coordinates) or not coordinates:
            raise ValueError(
                f"ParticleNet: {n_features} input channels cannot hold {nodes} node features and coordinates "
                f"{list(coordinates)}"
            )
        if weaver and not (biases and batch_norms):
            raise ValueError("ParticleNet: weaver = true needs biases = true and batch_norms = true (weaver-core's)")
        edge_convs = []
        c, widest = nodes, 0
        for widths in blocks:
            edge_convs.append(EdgeConvBlock(neighbours, c, widths, batch_norms, biases, weaver))
            widest = max(widest, 2 * c, *widths)  # the widest edge tensor: its input [x_i, x_j - x_i] or a layer
            c = widths[-1]
        body = nn.ModuleList(edge_convs)
        super().__init__(body, fusion, n_xaug, use_xaug, list(hidden), dropout, biases)
        self.real = RealParticles()
        # weaver-core's batch norm of the input features (``use_fts_bn``); ours are standardised beforehand
        self.input_norm = MaskedBatchNorm1d(nodes) if weaver else None
        self.fusion = nn.Conv1d(sum(w[-1] for w in blocks), fusion, kernel_size=1, bias=biases)
        norm = {} if biases else {"centre": False}
        self.fusion_norm = batch_norm(MaskedBatchNorm1d, fusion, **norm) if batch_norms else None
        self.fusion_activation = MaskedReLU(channel_axis=1)
        self.k = neighbours
        self.widest = widest
        self.weaver = weaver
        self.coordinates = coordinates
        self.nodes = nodes

    def batch_elements(self, longest: torch.Tensor) -> torch.Tensor:
        """Activation elements per jet of the largest tensors (the edge features, the kNN distances) in a batch.

        Parameters
        ----------
        longest : torch.Tensor
            Shape (rows, 1): per row, the particles of the longest jet of a batch (``models.batching``); with
            ``weaver``, k padded slots are counted too.

        Returns
        -------
        torch.Tensor
            Shape (rows,): the larger of the edges times the widest edge tensor's channels and the particles
            squared (at least 1).
        """
        n = longest[:, 0] + (self.k if self.weaver else 0)  # weaver-core's layers pad k slots more (``graph``)
        edges = n * torch.clamp(n, max=self.k)
        return torch.maximum(edges * self.widest, n * n).clamp(min=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The fused block outputs averaged over the real particles.

        Parameters
        ----------
        x : torch.Tensor
            The particle list, shape (batch, particles, n_features); padded slots are all zeros.

        Returns
        -------
        torch.Tensor
            Shape (batch, fusion).
        """
        mask = self.real(x)  # (batch, particles)
        h = x.transpose(1, 2)  # (batch, channels, particles)
        return self.graph(h[:, : self.nodes], h[:, list(self.coordinates)], mask)

    def graph(self, h: torch.Tensor, points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The EdgeConv blocks, the fusion and the mean over the real points of a point set.

        Parameters
        ----------
        h : torch.Tensor
            The points' features, shape (batch, channels, points); zero on padded points.
        points : torch.Tensor
            The first graph's coordinates, shape (batch, coordinates, points).
        mask : torch.Tensor
            Shape (batch, points): 1.0 for a real point, 0.0 for a padded one.

        Returns
        -------
        torch.Tensor
            Shape (batch, fusion).
        """
        if self.weaver:
            # k padded slots more: every point finds k neighbours, padded ones among them in a set of at most k
            # points, as in weaver-core's fixed-length inputs (always k: a traced model has no shape branches)
            # (zeros made from the inputs, which LRP's graph knows: it routes no relevance through a product by 0)
            h = torch.cat([h, h[:, :, :1].expand(-1, -1, self.k) * 0.0], dim=2)
            points = torch.cat([points, points[:, :, :1].expand(-1, -1, self.k) * 0.0], dim=2)
            mask = torch.cat([mask, mask[:, :1].expand(-1, self.k) * 0.0], dim=1)
        if self.input_norm is not None:
            h = self.input_norm(h, mask.unsqueeze(1)) * mask.unsqueeze(1)
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
        return fused.sum(-1) / count  # the mean over real points


class WeaverParticleNet(ParticleNet):
    """A ParticleNet imported from weaver-core (``xaugcol.models.weaver``): ParticleNet built layer for layer as
    weaver-core's (``weaver = True``), reading the particle list as the model's data configuration names it (the
    ``weaver_particles`` input kind), without the XAUG variables. ``import_weaver`` writes every option (the
    weights' widths, k, ``weaver``, ``biases``, ``batch_norms``, the coordinates' channels), so the constructor is
    ``ParticleNet``'s.
    """

    input_kinds = ("weaver_particles",)
    default_coordinates = (0, 1)
    xaug_join = False
    imported_only = True  # its inputs and weights come from weaver-core (``xaugcol import-weaver``)


def feature_embedding(channels_in: int, channels_out: int) -> nn.Sequential:
    """weaver-core's ``FeatureConv``: a batch norm of the inputs, a 1 x 1 convolution without bias, a batch norm and
    a ReLU.

    Parameters
    ----------
    channels_in : int
        The input features per object.
    channels_out : int
        The embedding's width (32 in weaver-core's ParticleNetTagger).

    Returns
    -------
    torch.nn.Sequential
        The four layers, in weaver-core's order (its state dict's ``conv.0`` .. ``conv.3``).
    """
    return nn.Sequential(
        nn.BatchNorm1d(channels_in),
        nn.Conv1d(channels_in, channels_out, kernel_size=1, bias=False),
        nn.BatchNorm1d(channels_out),
        nn.ReLU(),
    )


class WeaverParticleNetTagger(ParticleNet):
    """weaver-core's ParticleNetTagger, imported (``xaugcol.models.weaver``): the particle list and the
    secondary-vertex list, each embedded in 32 features (``feature_embedding``), joined into one point set (the
    particles' and the vertices' coordinates side by side), through ParticleNet's blocks built as weaver-core's.

    Parameters
    ----------
    n_features : int, default 17
        The particle inputs' channels: the model's particle features, then the coordinates not among them.
    n_vertex_features : int, default 14
        The vertex inputs' channels, in the same layout.
    n_xaug : int, default 0
        Unused (no XAUG variables join).
    use_xaug : bool, default False
        Unused.
    neighbours : int, default 7
        k of every EdgeConv block.
    blocks : sequence of sequence of int
        The edge network widths of each block.
    fusion : int, default 128
        The fusion convolution's width.
    hidden : sequence of int
        The dense head's hidden widths.
    dropout : float, default 0.0
        Dropout after each hidden layer (inactive when explaining).
    batch_norms : bool, default True
        Must be true (weaver-core's).
    biases : bool, default True
        Must be true (weaver-core's).
    weaver : bool, default True
        Must be true: weaver-core's layers.
    coordinates : sequence of int, optional
        The particle input channels of the first graph's coordinates.
    node_features : int, default 0
        How many leading particle input channels are the features (0: all).
    vertex_coordinates : sequence of int, optional
        The vertex input channels of the first graph's coordinates.
    vertex_node_features : int, default 0
        How many leading vertex input channels are the features (0: all).
    embedding : int, default 32
        The width both lists are embedded in.
    """

    input_kinds = ("weaver_particles", "weaver_vertices")
    xaug_join = False
    imported_only = True
    graph_of_particles = False  # its graph joins the vertices to the particles (``explain.edges.edge_blocks``)
    trimmable_inputs = (0, 1)  # both lists: a padded slot is never a neighbour and carries nothing

    def __init__(
        self,
        n_features: int = 17,
        n_vertex_features: int = 14,
        n_xaug: int = 0,
        use_xaug: bool = False,
        neighbours: int = 7,
        blocks: Sequence[Sequence[int]] = ((32, 32, 32), (64, 64, 64)),
        fusion: int = 128,
        hidden: Sequence[int] = (128,),
        dropout: float = 0.0,
        batch_norms: bool = True,
        biases: bool = True,
        weaver: bool = True,
        coordinates: Sequence[int] | None = None,
        node_features: int = 0,
        vertex_coordinates: Sequence[int] | None = None,
        vertex_node_features: int = 0,
        embedding: int = 32,
    ):
        if not weaver:
            raise ValueError("weaver-particlenet-tagger: weaver must be true")
        # the graph reads the embedded objects: their coordinates come from the inputs (``features``)
        super().__init__(
            embedding, n_xaug, use_xaug, neighbours, blocks, fusion, hidden, dropout, batch_norms, biases, weaver, (0,)
        )
        layouts = []
        for what, channels, points, nodes in (
            ("particle", n_features, coordinates, node_features),
            ("vertex", n_vertex_features, vertex_coordinates, vertex_node_features),
        ):
            points = tuple((0, 1) if points is None else points)
            nodes = nodes or channels
            if nodes > channels or len(points) != 2 or any(not 0 <= c < channels for c in points):
                raise ValueError(
                    f"weaver-particlenet-tagger: {channels} {what} input channels cannot hold {nodes} features and "
                    f"the coordinates {list(points)} (two, as the other list's)"
                )
            layouts.append((points, nodes))
        (self.particle_points, self.particle_nodes), (self.vertex_points, self.vertex_nodes) = layouts
        self.particle_embedding = feature_embedding(self.particle_nodes, embedding)
        self.vertex_embedding = feature_embedding(self.vertex_nodes, embedding)
        self.real_vertices = RealParticles()

    def batch_elements(self, longest: torch.Tensor) -> torch.Tensor:
        """Activation elements per jet of the largest tensors, for a batch whose longest lists have ``longest``.

        Parameters
        ----------
        longest : torch.Tensor
            Shape (rows, 2): the longest particle and vertex lists of the batch.

        Returns
        -------
        torch.Tensor
            Shape (rows,): the elements per jet, at least 1.
        """
        return super().batch_elements(longest.sum(dim=1, keepdim=True))  # one point set, k padded slots added

    def features(self, particles: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Both lists embedded, joined into one point set, through the blocks and averaged over the real points.

        Parameters
        ----------
        particles : torch.Tensor
            Shape (batch, particles, n_features); padded slots are all zeros.
        vertices : torch.Tensor
            Shape (batch, vertices, n_vertex_features); padded slots are all zeros.

        Returns
        -------
        torch.Tensor
            Shape (batch, fusion).
        """
        parts, points, masks = [], [], []
        for x, real, coordinates, nodes, embed in (
            (particles, self.real, self.particle_points, self.particle_nodes, self.particle_embedding),
            (vertices, self.real_vertices, self.vertex_points, self.vertex_nodes, self.vertex_embedding),
        ):
            mask = real(x)  # (batch, objects)
            h = x.transpose(1, 2)
            parts.append(embed(h[:, :nodes]) * mask.unsqueeze(1))
            points.append(h[:, list(coordinates)])
            masks.append(mask)
        return self.graph(torch.cat(parts, dim=2), torch.cat(points, dim=2), torch.cat(masks, dim=1))
