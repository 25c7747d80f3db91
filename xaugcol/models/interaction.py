"""The Interaction Network tagger as Roy and Neubauer use it (after Moreno et al., arXiv:1909.12285): tracks and
secondary vertices of a jet as a graph.

    f_R on every ordered track pair (i, j), i != j        -> E_ij (De)   summed over senders j -> Ebar_pp,i
    f_V on every (track i, vertex k) pair                 -> E_ik (De)   summed over vertices k -> Ebar_pv,i
    f_O on [x_i; Ebar_pp,i; Ebar_pv,i] for each track i    -> O_i (Do)    summed over tracks i  -> O (Do)
    [Join with the XAUG variables]                        -> classifier (dense head) -> one logit

f_R, f_V and f_O are ``depth`` dense layers (``width`` wide, the last De / Do wide), each followed by a ReLU; their
first layer on a pair is ``PairwiseLinear`` (receiver and sender weights applied per object and broadcast, the same
map as on the concatenated pair). Padding is masked: a pair counts only when both its objects are real and a track
only when it is real (every ReLU is a ``MaskedReLU`` with the mask of real pairs or tracks), so empty slots give no
activation and no relevance. Bias-free like the other taggers (``biases``: every layer but the classifier's last).

Defaults as theirs: 60 tracks x 30 features, 5 vertices x 14 features, hidden width 60, De = 20, Do = 24, the
classifier one linear layer (``hidden`` = []).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from xaugcol.layers import MaskedReLU, PairwiseLinear, RealParticles
from xaugcol.models.taggers import Tagger


def _mlp(first: nn.Module, width: int, n_out: int, depth: int, biases: bool) -> nn.ModuleList:
    """``first`` (n_in -> width), then depth - 1 dense layers to ``n_out``; a ReLU after each (applied in forward)."""
    layers = [first]
    for k in range(1, depth):
        layers.append(nn.Linear(width, n_out if k == depth - 1 else width, bias=biases))
    return nn.ModuleList(layers)


def _run(layers: nn.ModuleList, activations: nn.ModuleList, mask: torch.Tensor, *inputs: torch.Tensor) -> torch.Tensor:
    """The layers, each followed by its masked ReLU: every pair or object that is not real holds exactly zero."""
    h = activations[0](layers[0](*inputs), mask)
    for layer, activation in zip(layers[1:], activations[1:]):
        h = activation(layer(h), mask)
    return h


class InteractionNetwork(Tagger):
    """The Interaction Network (module docstring): tracks and secondary vertices as a graph.

    Its arguments are the list shapes, the interaction functions' ``width``, ``depth``, ``de`` and ``do``, and the
    head's. Its inputs are the ``tracks`` (batch, n_tracks, n_track_features) and the ``vertices``
    (batch, n_vertices, n_vertex_features) [, the XAUG vector (batch, n_xaug)].

    Parameters
    ----------
    n_tracks : int, default 60
        The track slots per jet (recorded as ``n_tracks``; the layers do not depend on it).
    n_track_features : int, default 30
        The features per track (P).
    n_vertices : int, default 5
        The secondary-vertex slots per jet (not used by the layers).
    n_vertex_features : int, default 14
        The features per secondary vertex (S).
    n_xaug : int, default 0
        The number of XAUG variables (0 without them).
    use_xaug : bool, default False
        Join the XAUG vector (batch, n_xaug) to the summed track outputs O before the classifier; it is then
        ``forward``'s last input.
    width : int, default 60
        The width of the hidden layers of f_R, f_V and f_O.
    depth : int, default 3
        The number of layers of each interaction function (at least ``MIN_DEPTH``, 2).
    de : int, default 20
        De: the width of the interaction effects E_ij and E_ik (the last layer of f_R and f_V).
    do : int, default 24
        Do: the width of a track's output O_i (the last layer of f_O), the body's output width.
    hidden : sequence of int, default ()
        The widths of the classifier's hidden layers (empty: one linear layer).
    dropout : float, default 0.0
        The dropout probability after each hidden layer of the classifier.
    biases : bool, default False
        Give every layer but the classifier's last a bias.

    Raises
    ------
    ValueError
        ``depth`` below 2.
    """

    input_kinds = ("tracks", "vertices")
    body: nn.ModuleDict
    trimmable_inputs = (0, 1)  # a padded track or vertex is masked out of every pair and sum (models.batching)
    MIN_DEPTH = 2  # the interaction functions' first layer acts on pairs, the last gives De / Do

    def __init__(
        self,
        n_tracks: int = 60,
        n_track_features: int = 30,
        n_vertices: int = 5,
        n_vertex_features: int = 14,
        n_xaug: int = 0,
        use_xaug: bool = False,
        width: int = 60,
        depth: int = 3,
        de: int = 20,
        do: int = 24,
        hidden: Sequence[int] = (),
        dropout: float = 0.0,
        biases: bool = False,
    ):
        if depth < self.MIN_DEPTH:
            raise ValueError(f"the interaction functions need at least two layers (depth >= 2), got {depth}")
        P, S = n_track_features, n_vertex_features
        body = nn.ModuleDict(
            {
                "track_track": _mlp(PairwiseLinear(P, P, width, biases), width, de, depth, biases),
                "track_vertex": _mlp(PairwiseLinear(P, S, width, biases), width, de, depth, biases),
                "track": _mlp(nn.Linear(P + 2 * de, width, bias=biases), width, do, depth, biases),
            }
        )
        super().__init__(body, do, n_xaug, use_xaug, list(hidden), dropout, biases)
        # the activations as modules (no parameters: the weights' names are those of the folders written before)
        self.activations = nn.ModuleDict({name: nn.ModuleList(MaskedReLU(-1) for _ in range(depth)) for name in body})
        self.real = RealParticles()
        self.n_tracks = n_tracks
        self.widest = max(width, de, do, P + 2 * de)

    def batch_elements(self, longest: torch.Tensor) -> torch.Tensor:
        """Activation elements per jet of the largest tensor (the track pairs') in a batch of a given longest jet.

        Parameters
        ----------
        longest : torch.Tensor
            Shape (rows, 2): per row, the tracks and vertices of the longest jet of a batch (``models.batching``).

        Returns
        -------
        torch.Tensor
            Shape (rows,): the larger of tracks x tracks and tracks x vertices (at least 1), times the widest
            layer's width.
        """
        tracks, vertices = longest[:, 0], longest[:, 1]
        return torch.maximum(tracks * tracks, tracks * vertices).clamp(min=1) * self.widest

    def features(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The summed object features of the jet's ``tracks`` and ``vertices`` (the two inputs, in this order).

        Parameters
        ----------
        *inputs : torch.Tensor
            The tracks (batch, tracks, n_track_features) and the vertices (batch, vertices, n_vertex_features);
            padded slots are all zeros.

        Returns
        -------
        torch.Tensor
            O, the sum of f_O over the real tracks, shape (batch, do).
        """
        tracks, vertices = inputs
        real_t, real_v = self.real(tracks), self.real(vertices)  # (batch, tracks), (batch, vertices)
        distinct = 1.0 - torch.eye(tracks.shape[1], dtype=tracks.dtype, device=tracks.device)
        pairs = (real_t[:, :, None] * real_t[:, None, :] * distinct)[..., None]  # real ordered pairs, i != j
        with_vertex = (real_t[:, :, None] * real_v[:, None, :])[..., None]
        e_pp = _run(*self._function("track_track"), pairs, tracks, tracks).sum(dim=2)
        e_pv = _run(*self._function("track_vertex"), with_vertex, tracks, vertices).sum(dim=2)
        objects = _run(*self._function("track"), real_t[..., None], torch.cat([tracks, e_pp, e_pv], dim=2))
        return objects.sum(dim=1)

    def _function(self, name: str) -> tuple[nn.ModuleList, nn.ModuleList]:
        """An interaction function's layers and their activations (``_mlp`` and ``__init__`` build ModuleLists)."""
        return cast(nn.ModuleList, self.body[name]), cast(nn.ModuleList, self.activations[name])
