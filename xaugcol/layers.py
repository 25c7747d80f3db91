"""The LRP layers module: layers as LRP sees them. Linear-like layers (dense, 1D and 2D convolution) as the rules
see them, a forward map with any weights and its adjoint (the transposed map, which carries relevance shares back
to the inputs), plus batch-norm merging; and the modules taggers build from that LRP must see whole (leaves of the
traced graph): ``Join`` (the XAUG join) and the padding-aware pieces of the particle taggers (``RealParticles``,
``MaskedBatchNorm1d``, ``MaskedReLU``, ``SoftestFirst``, ``AtLastReal``) and the pair layer of the Interaction
Network (``PairwiseLinear``). It imports nothing but torch and sits below both the taggers and the LRP engine, so the
models never import ``explain``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.grad import conv1d_input, conv2d_input


class Join(nn.Module):
    """Concatenate a tagger's body output and the XAUG vector along the feature axis.

    A module (a leaf of the traced graph), so LRP routes relevance exactly between the two branches.
    """

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        """Concatenate ``parts`` along axis 1.

        Parameters
        ----------
        *parts : torch.Tensor
            Each shape (batch, features): the body's output, then the XAUG vector.

        Returns
        -------
        torch.Tensor
            Shape (batch, summed features), the parts side by side in the order given.
        """
        return torch.cat(parts, dim=1)


class PairwiseLinear(nn.Module):
    """The first layer of an interaction function on every (receiver, sender) pair of two object lists.

    ``W [x_i; y_j] = W_r x_i + W_s y_j``, computed per object and broadcast to (batch, receivers, senders, width):
    the same linear map as on the concatenated pair without building the (pairs, features) tensor (several times
    slower on CPU). The receivers' layer holds the bias, if any.

    Parameters
    ----------
    n_receiver : int
        Features per receiver object (``x_i``).
    n_sender : int
        Features per sender object (``y_j``).
    width : int
        Output features per pair.
    bias : bool, default False
        Give the map a bias (held by the receivers' layer).
    """

    def __init__(self, n_receiver: int, n_sender: int, width: int, bias: bool = False):
        super().__init__()
        self.receiver = nn.Linear(n_receiver, width, bias=bias)
        self.sender = nn.Linear(n_sender, width, bias=False)

    def forward(self, receivers: torch.Tensor, senders: torch.Tensor) -> torch.Tensor:
        """Apply the layer to every (receiver, sender) pair.

        Parameters
        ----------
        receivers : torch.Tensor
            Shape (batch, receivers, n_receiver).
        senders : torch.Tensor
            Shape (batch, senders, n_sender).

        Returns
        -------
        torch.Tensor
            Shape (batch, receivers, senders, width): ``W_r x_i + b + W_s y_j`` for every pair.
        """
        return self.receiver(receivers)[:, :, None, :] + self.sender(senders)[:, None, :, :]


class MaskedReLU(nn.Module):
    """A ReLU whose output is zero on padded slots, ``relu(x) * mask``.

    What a forward hook sees is then the activation of real objects only (the neuron-activation patterns of
    ``xaugcol.explain.activations``). For LRP a ReLU (relevance passes to x).

    Parameters
    ----------
    channel_axis : int, default -1
        The axis of its neurons (-1 for per-object dense layers, 1 for convolutions); read by
        ``xaugcol.explain.activations``, not by ``forward``.
    """

    def __init__(self, channel_axis: int = -1):
        super().__init__()
        self.channel_axis = channel_axis

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the ReLU and zero the padded slots.

        Parameters
        ----------
        x : torch.Tensor
            The pre-activations, e.g. (batch, channels, particles) after a convolution.
        mask : torch.Tensor, optional
            1.0 for a real slot, 0.0 for a padded one, broadcasting against ``x`` (e.g. (batch, 1, particles));
            None: every slot real.

        Returns
        -------
        torch.Tensor
            ``relu(x) * mask``, shaped like ``x``.
        """
        h = torch.relu(x)
        return h if mask is None else h * mask


class EnergyWeighting(nn.Module):
    """The Energy-Flow Network's weighting of each object's angular map by its energy fraction.

    Phi (batch, objects, width) times z (batch, objects), broadcast over the width (the sum over objects follows).
    For LRP a gate: the product's relevance goes to Phi whole (the "signal-take-all" rule of multiplicative gates,
    Arras et al. 2017); z takes none directly, as the network is linear in it and its share is already in Phi's
    terms.
    """

    def forward(self, phi: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Weight each object's angular map by its energy fraction.

        Parameters
        ----------
        phi : torch.Tensor
            The per-object angular maps, shape (batch, objects, width).
        z : torch.Tensor
            The objects' energy fractions, shape (batch, objects).

        Returns
        -------
        torch.Tensor
            ``phi * z``, shape (batch, objects, width).
        """
        return phi * z.unsqueeze(-1)


class RealParticles(nn.Module):
    """Mark the real particles of a (batch, particles, features) list: 1.0 for a real particle, 0.0 for padding.

    Padding is all zeros (``xaugcol.features.particles``); a real particle never is (its pT fraction, |eta| and
    distance to the axis are not all exactly zero). An indicator: piecewise constant in the input, so it carries no
    relevance and no gradient.
    """

    def forward(self, particles: torch.Tensor) -> torch.Tensor:
        """Mark the slots holding a real particle.

        Parameters
        ----------
        particles : torch.Tensor
            The particle list, shape (batch, particles, features), padded slots all zeros.

        Returns
        -------
        torch.Tensor
            Shape (batch, particles), in ``particles``' dtype: 1.0 where any feature is non-zero, else 0.0.
        """
        return (particles != 0).any(dim=-1).to(particles.dtype)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch norm over (batch, channels, particles) whose training statistics count real particles only.

    Padded slots would pull the mean towards the layer's bias. In inference mode it is the plain batch norm
    (running statistics), which LRP merges into the convolution before it.

    Parameters
    ----------
    channels : int
        The number of channels (axis 1 of the input).
    momentum : float or None, default 0.1
        The running statistics' update factor, as in ``torch.nn.BatchNorm1d``; None: a cumulative average.
    centre : bool, default True
        False: a norm that only scales, each channel divided by its root mean square (no mean taken off, no shift
        added, no ``bias`` parameter): a linear map without bias, for bias-free taggers.
    """

    def __init__(self, channels: int, momentum: float | None = 0.1, centre: bool = True):
        super().__init__(channels, momentum=momentum)
        self.centre = centre
        if not centre:
            self.register_parameter("bias", None)  # running_mean stays 0: inference is x * weight / rms

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalise ``x`` per channel; in training mode with statistics over the real particles only.

        Parameters
        ----------
        x : torch.Tensor
            Shape (batch, channels, particles).
        mask : torch.Tensor, optional
            Shape (batch, 1, particles): 1.0 for a real particle, 0.0 for a padded slot; None: every slot. Read in
            training mode only.

        Returns
        -------
        torch.Tensor
            The normalised ``x``, same shape; padded slots are not zeroed (the masked ReLU after it does that).

        Raises
        ------
        ValueError
            If a training batch holds fewer than two real particles.
        """
        if not self.training or (mask is None and self.centre):
            return super().forward(x)
        if mask is None:
            mask = x.new_ones(x.shape[0], 1, x.shape[2])
        count = mask.sum() * 1.0
        if count < 2:
            raise ValueError("masked batch norm: a training batch needs at least two real particles")
        mean = (x * mask).sum(dim=(0, 2)) / count if self.centre else x.new_zeros(x.shape[1])
        var = (((x - mean[None, :, None]) ** 2) * mask).sum(dim=(0, 2)) / count
        # the running statistics always exist here (track_running_stats is never turned off)
        tracked, running_mean, running_var = self.num_batches_tracked, self.running_mean, self.running_var
        assert tracked is not None and running_mean is not None and running_var is not None
        with torch.no_grad():
            tracked.add_(1)
            factor = 1.0 / float(tracked) if self.momentum is None else self.momentum
            if self.centre:
                running_mean.mul_(1 - factor).add_(factor * mean)
                var_estimate = var * count / (count - 1)  # unbiased, as torch
            else:
                var_estimate = var  # a mean square about zero: nothing estimated, nothing to correct
            running_var.mul_(1 - factor).add_(factor * var_estimate)
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight
        shift = -mean * scale + (self.bias if self.bias is not None else 0)
        return x * scale[None, :, None] + shift[None, :, None]


class ScaleBatchNorm2d(nn.BatchNorm2d):
    """A batch norm over images that only scales: each channel divided by its root mean square (no mean taken off,
    no shift added), a linear map without bias, for bias-free image taggers (``MaskedBatchNorm1d`` with
    ``centre=False`` for images).

    In inference mode it is the plain batch norm with a running mean of 0 and no bias, which LRP merges into the
    convolution before it.

    Parameters
    ----------
    channels : int
        The image channels normalised.
    momentum : float or None, default None
        The running statistics' momentum; None: the cumulative average over all training batches.
    """

    def __init__(self, channels: int, momentum: float | None = None):
        super().__init__(channels, momentum=momentum)
        self.register_parameter("bias", None)  # running_mean stays 0: inference is x * weight / rms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel by its weight over its root mean square.

        Parameters
        ----------
        x : torch.Tensor
            Shape (batch, channels, height, width).

        Returns
        -------
        torch.Tensor
            The same shape.
        """
        if not self.training:
            return super().forward(x)
        var = (x * x).mean(dim=(0, 2, 3))  # a mean square about zero: nothing estimated, nothing to correct
        tracked, running_var = self.num_batches_tracked, self.running_var
        assert tracked is not None and running_var is not None
        with torch.no_grad():
            tracked.add_(1)
            factor = 1.0 / float(tracked) if self.momentum is None else self.momentum
            running_var.mul_(1 - factor).add_(factor * var)
        scale = torch.rsqrt(var + self.eps) * self.weight
        return x * scale[None, :, None, None]


class SoftestFirst(nn.Module):
    """Reorder a pT-ordered particle list (hardest first) per jet: real particles first, softest first, then padding.

    A recurrence then reads the real particles only, ending on the hardest. A per-jet permutation (LRP routes
    relevance back along it).
    """

    def forward(self, particles: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Reorder each jet's particles: the real ones in reverse order, then the padded slots in order.

        Parameters
        ----------
        particles : torch.Tensor
            Shape (batch, particles, features), hardest first.
        mask : torch.Tensor
            Shape (batch, particles): 1 for a real particle, 0 for a padded slot.

        Returns
        -------
        torch.Tensor
            The reordered list, shape (batch, particles, features).
        """
        # each slot's place in the new order, from running counts (no sort: ONNX exports scatters, not stable sorts)
        real = mask.long()
        count = real.sum(dim=1, keepdim=True)
        rank_real = real.cumsum(dim=1) - 1  # among real particles, hardest = 0
        rank_pad = (1 - real).cumsum(dim=1) - 1
        place = torch.where(real > 0, count - 1 - rank_real, count + rank_pad)
        index = place.unsqueeze(-1).expand(-1, -1, particles.shape[2])
        return torch.zeros_like(particles).scatter(1, index, particles)


class AtLastReal(nn.Module):
    """Take, per jet, a sequence output at the step of its last real particle.

    That step is the count of real particles minus one, as ``SoftestFirst`` orders them; a jet without particles
    gives step 0.
    """

    def forward(self, sequence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pick each jet's output at its last real step.

        Parameters
        ----------
        sequence : torch.Tensor
            A recurrence's output, shape (batch, steps, hidden).
        mask : torch.Tensor
            Shape (batch, steps): 1 for a real particle, 0 for a padded slot.

        Returns
        -------
        torch.Tensor
            Shape (batch, hidden).
        """
        last = (mask.sum(dim=1).long() - 1).clamp(min=0)
        return torch.gather(sequence, 1, last.view(-1, 1, 1).expand(-1, 1, sequence.shape[2])).squeeze(1)


class KNearest(nn.Module):
    """Find the ``k`` nearest neighbours of every real point of a (batch, coordinates, points) set.

    In Euclidean distance over the coordinates: (batch, points, k) indices, the nearest first, never the point
    itself and never a padded point. A jet of fewer than k + 1 real points fills the rest with the index of a padded
    or any point; ``neighbour_mask`` gives which neighbours are real. For LRP an indicator (the dynamic graph of
    ParticleNet's EdgeConv, Qu and Gouskos arXiv:1902.08570): the selection is fixed routing for the backward pass,
    as Mokhtar et al. (arXiv:2211.09912) take it, so it carries no relevance.

    Parameters
    ----------
    k : int
        The number of neighbours per point (at most the number of points is returned).
    """

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Find each point's nearest neighbours (without gradient).

        Parameters
        ----------
        points : torch.Tensor
            Shape (batch, coordinates, points).
        mask : torch.Tensor
            Shape (batch, points), floating point: 1.0 for a real point, 0.0 for a padded one.

        Returns
        -------
        torch.Tensor
            int64 indices into the points, shape (batch, points, min(k, points)), the nearest first; rows of
            padded points are computed too.
        """
        with torch.no_grad():
            x = points.transpose(1, 2)  # (batch, points, coordinates)
            distance = torch.cdist(x, x)
            n = distance.shape[-1]
            # a padded candidate and the point itself come last, whatever their distance
            far = (1.0 - mask)[:, None, :] + torch.eye(n, dtype=distance.dtype, device=distance.device)[None]
            distance = distance + far * torch.finfo(distance.dtype).max / 4
            k = min(self.k, n)
            return distance.topk(k, dim=-1, largest=False, sorted=True).indices


def neighbour_mask(mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Mark the real edges of a neighbour list: the neighbour is a real point other than the point itself.

    Parameters
    ----------
    mask : torch.Tensor
        Shape (batch, points): 1.0 for a real point, 0.0 for a padded one.
    index : torch.Tensor
        The neighbours' indices (``KNearest``), int64, shape (batch, points, k).

    Returns
    -------
    torch.Tensor
        Shape (batch, points, k), in ``mask``'s dtype: 1.0 where the neighbour ``index`` names is a real point other
        than the point itself, and the point is real; else 0.0.
    """
    batch, points, k = index.shape
    neighbour = torch.gather(mask, 1, index.reshape(batch, points * k)).reshape(batch, points, k)
    itself = index == torch.arange(points, device=index.device)[None, :, None]
    return neighbour * mask[:, :, None] * (~itself).to(mask.dtype)


LEAF_MODULES = (
    Join,
    RealParticles,
    MaskedBatchNorm1d,
    ScaleBatchNorm2d,
    SoftestFirst,
    AtLastReal,
    PairwiseLinear,
    MaskedReLU,
    EnergyWeighting,
    KNearest,
)  # traced whole, never into


X = TypeVar("X")  # what a weighted layer reads: a tensor, or for a pair layer a ``PairOfInputs``


class WeightedLayer(Generic[X]):
    """A layer as the LRP rules see it: a linear map ``z = W x + b``, and its adjoint.

    Its weights (BN already merged) are held apart from the module, so a rule can evaluate the same map with
    modified weights (W+, W + gamma W+, W**2, ones...). ``X``: the type of its input (``LinearLayer``: a tensor;
    ``PairLayer``: the two object lists of a ``PairOfInputs``, on which the rules act as on a tensor). The
    subclasses set ``module``, ``weight``, ``bias``, ``kind`` and the empty cache of ``modified``.
    """

    module: nn.Module
    weight: torch.Tensor
    bias: torch.Tensor | None
    kind: str
    _modified: dict

    def modified(self, key: Any, make: Callable[[torch.Tensor, torch.Tensor | None], Any]) -> Any:
        """Give the weights modified by a rule (W+, W + gamma W+, ...), made once per set of weights.

        This object is rebuilt whenever the model's parameters change.

        Parameters
        ----------
        key : hashable
            What identifies the modification (a rule's name and parameters).
        make : callable
            ``make(weight, bias)``: the modified weights (and bias), called the first time ``key`` is asked for.

        Returns
        -------
        Any
            What ``make`` returned for ``key``.
        """
        if key not in self._modified:
            self._modified[key] = make(self.weight, self.bias)
        return self._modified[key]

    def forward(self, x: X, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the map with weights ``weight`` and ``bias`` to the input ``x``.

        Parameters
        ----------
        x : X
            The layer's input (a tensor, or a ``PairOfInputs``).
        weight : torch.Tensor
            The weights, shaped like ``self.weight``.
        bias : torch.Tensor, optional
            The bias, one per output feature or channel; None: no bias.

        Returns
        -------
        torch.Tensor
            The output ``W x + b``.
        """
        raise NotImplementedError

    def signed_forward(
        self, x_pos: X, x_neg: X, w_pos: torch.Tensor, w_neg: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Compute ``W_pos x+ + b + W_neg x-``: the modified output of a rule that weighs the input's signs apart.

        Parameters
        ----------
        x_pos : X
            The input's positive part ``x+``.
        x_neg : X
            The input's negative part ``x-``.
        w_pos : torch.Tensor
            The weights applied to ``x+``, shaped like ``self.weight``.
        w_neg : torch.Tensor
            The weights applied to ``x-``, shaped like ``self.weight``.
        bias : torch.Tensor, optional
            The bias; None: no bias.

        Returns
        -------
        torch.Tensor
            The output, shaped like ``forward``'s.
        """
        raise NotImplementedError

    def adjoints(self, s: torch.Tensor, weights: Iterable[torch.Tensor], input_shape: Any = None) -> tuple[X, ...]:
        """Apply ``adjoint(s, w)`` for each of ``weights``.

        Parameters
        ----------
        s : torch.Tensor
            The relevance shares at the outputs, shaped like the output.
        weights : iterable of torch.Tensor
            The weights, each shaped like ``self.weight``.
        input_shape : Any, optional
            The input's shape (a ``torch.Size``), as ``adjoint`` takes it.

        Returns
        -------
        tuple of X
            One adjoint per weight, each shaped like the input.
        """
        return tuple(self.adjoint(s, w, input_shape) for w in weights)

    def adjoint(self, s: torch.Tensor, weight: torch.Tensor, input_shape: Any = None) -> X:
        """Apply the transposed map to ``s`` (the relevance shares at the outputs), onto the input.

        Parameters
        ----------
        s : torch.Tensor
            The relevance shares at the outputs, shaped like the output.
        weight : torch.Tensor
            The weights of the map, shaped like ``self.weight``.
        input_shape : Any, optional
            The input's shape (a ``torch.Size``), where the map needs it.

        Returns
        -------
        X
            ``W^T s``, shaped like the input.
        """
        raise NotImplementedError

    def bias_share(self, s: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Compute per jet ``sum(s * b)`` over all outputs: the relevance the bias absorbs.

        Parameters
        ----------
        s : torch.Tensor
            The relevance shares at the outputs, shaped like the output.
        bias : torch.Tensor
            The bias, one per output feature or channel.

        Returns
        -------
        torch.Tensor
            Shape (batch,).
        """
        raise NotImplementedError


class LinearLayer(WeightedLayer[torch.Tensor]):
    """``z = W x + b`` for a dense or convolution layer, with the weights (BN already merged) held apart from the
    module so a rule can evaluate the same map with modified weights (W+, W + gamma W+, W**2, ones...).

    Parameters
    ----------
    module : torch.nn.Module
        The layer: ``nn.Linear``, ``nn.Conv1d`` or ``nn.Conv2d`` (zero padding only).
    weight : torch.Tensor
        Its weights, batch norms merged in (``merge_batch_norm_after``, ``merge_batch_norm_before``), shaped like
        ``module.weight``.
    bias : torch.Tensor or None
        Its bias, batch norms merged in; None: no bias.

    Raises
    ------
    ValueError
        If a convolution pads other than with zeros, or pads ``"same"`` asymmetrically (an even kernel).
    TypeError
        If ``module`` is not a dense or convolution layer.
    """

    conv: nn.Conv1d | nn.Conv2d  # the module when it is a convolution
    padding: tuple[int, ...]  # a convolution's padding, as numbers

    def __init__(self, module: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None):
        self.module = module
        self.weight = weight
        self.bias = bias
        self._modified = {}
        if isinstance(module, nn.Linear):
            self.kind = "linear"
        elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
            if module.padding_mode != "zeros":
                raise ValueError(
                    f"LRP: {type(module).__name__} with padding_mode={module.padding_mode!r} is not "
                    f"supported (only zero padding is a linear map)"
                )
            self.kind = "conv1d" if isinstance(module, nn.Conv1d) else "conv2d"
            self.conv = module
            self.padding = _numeric_padding(module)
        else:
            raise TypeError(f"not a linear-like layer: {type(module).__name__}")

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the dense or convolution map with weights ``weight`` and ``bias`` to ``x``.

        The convolution keeps the module's stride, padding, dilation and groups.

        Parameters
        ----------
        x : torch.Tensor
            The input: (batch, ..., in_features) for a dense layer, (batch, channels, length) or (batch, channels,
            height, width) for a convolution.
        weight : torch.Tensor
            The weights, shaped like ``self.weight``.
        bias : torch.Tensor, optional
            The bias, one per output feature or channel; None: no bias.

        Returns
        -------
        torch.Tensor
            The output ``W x + b``.
        """
        if self.kind == "linear":
            return F.linear(x, weight, bias)
        m = self.conv
        conv = F.conv1d if self.kind == "conv1d" else F.conv2d
        return conv(x, weight, bias, m.stride, self.padding, m.dilation, m.groups)

    def signed_forward(
        self,
        x_pos: torch.Tensor,
        x_neg: torch.Tensor,
        w_pos: torch.Tensor,
        w_neg: torch.Tensor,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Compute ``W_pos x+ + b + W_neg x-``: the modified output of a rule that weighs the input's signs apart.

        Parameters
        ----------
        x_pos : torch.Tensor
            The input's positive part ``x+``.
        x_neg : torch.Tensor
            The input's negative part ``x-``, shaped like ``x_pos``.
        w_pos : torch.Tensor
            The weights applied to ``x+``, shaped like ``self.weight``.
        w_neg : torch.Tensor
            The weights applied to ``x-``, shaped like ``self.weight``.
        bias : torch.Tensor, optional
            The bias; None: no bias.

        Returns
        -------
        torch.Tensor
            The output, shaped like ``forward``'s.
        """
        return self.forward(x_pos, w_pos, bias).add_(self.forward(x_neg, w_neg))

    def adjoint(self, s: torch.Tensor, weight: torch.Tensor, input_shape: Any = None) -> torch.Tensor:
        """Apply the transposed map to ``s`` (the input gradient of ``<s, W x>``), for inputs of ``input_shape``.

        Parameters
        ----------
        s : torch.Tensor
            The relevance shares at the outputs, shaped like the output.
        weight : torch.Tensor
            The weights of the map, shaped like ``self.weight``.
        input_shape : Any, optional
            The input's shape (a ``torch.Size``; needed by convolutions only); a batch-1 shape is broadcast to the
            batch of ``s``.

        Returns
        -------
        torch.Tensor
            ``W^T s``, shaped like the input (with the batch of ``s``).
        """
        if self.kind == "linear":
            return s @ weight
        m = self.conv
        shape = (s.shape[0],) + tuple(input_shape[1:])
        grad = conv1d_input if self.kind == "conv1d" else conv2d_input
        return grad(shape, weight, s, m.stride, self.padding, m.dilation, m.groups)

    def bias_share(self, s: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Compute per jet ``sum(s * b)`` over all outputs: ``s`` summed per output channel, then one product with b.

        Parameters
        ----------
        s : torch.Tensor
            The relevance shares at the outputs: (batch, ..., out_features) for a dense layer, (batch, channels,
            ...) for a convolution.
        bias : torch.Tensor
            The bias, one per output feature or channel.

        Returns
        -------
        torch.Tensor
            Shape (batch,).
        """
        if self.kind == "linear":
            return (s if s.dim() == 2 else s.reshape(s.shape[0], -1, s.shape[-1]).sum(1)) @ bias
        return s.flatten(2).sum(2) @ bias


class PairOfInputs:
    """The two object lists a pair layer reads (receivers, senders), as one layer input for the LRP rules.

    The elementwise operations a rule applies to its input (sign splits, products with the adjoint, sums, scaling)
    act on both lists. Together they stand for the concatenated pair [x_i; y_j] without building it: every pair of a
    receiver holds the same receiver features, so a relevance ``x * W^T s`` summed over the pairs is ``x_i`` times
    the adjoint of ``s`` summed over the senders (and likewise for the senders).

    Parameters
    ----------
    receivers : torch.Tensor
        The receiver objects, shape (batch, receivers, n_receiver).
    senders : torch.Tensor
        The sender objects, shape (batch, senders, n_sender).
    """

    __slots__ = ("receivers", "senders")

    def __init__(self, receivers: torch.Tensor, senders: torch.Tensor):
        self.receivers, self.senders = receivers, senders

    @property
    def shape(self) -> torch.Size:
        """The receivers' shape: the rules read the batch size from it."""
        return self.receivers.shape  # the rules read the batch size from it

    def _map(self, other, op):
        if isinstance(other, PairOfInputs):
            return PairOfInputs(op(self.receivers, other.receivers), op(self.senders, other.senders))
        return PairOfInputs(op(self.receivers, other), op(self.senders, other))

    def __mul__(self, other):
        return self._map(other, lambda a, b: a * b)

    __rmul__ = __mul__

    def __add__(self, other):
        return self._map(other, lambda a, b: a + b)

    def __lt__(self, other):
        return self._map(other, lambda a, b: a < b)

    def any(self) -> bool:
        """Tell whether any entry of either list is non-zero (or True).

        Returns
        -------
        bool
            True if an entry of the receivers or of the senders is non-zero.
        """
        return bool(self.receivers.any()) or bool(self.senders.any())

    def clamp(self, **bounds: Any) -> PairOfInputs:
        """Clamp both lists, as ``torch.Tensor.clamp``.

        Parameters
        ----------
        **bounds : Any
            ``min`` and/or ``max``, passed to ``torch.Tensor.clamp``.

        Returns
        -------
        PairOfInputs
            Both lists clamped.
        """
        return PairOfInputs(self.receivers.clamp(**bounds), self.senders.clamp(**bounds))

    def new_zeros(self, *size: Any, **kwargs: Any) -> torch.Tensor:
        """Make a tensor of zeros with the receivers' dtype and device, as ``torch.Tensor.new_zeros``.

        Parameters
        ----------
        *size : Any
            The shape of the new tensor (e.g. the batch size, for a per-jet sum).
        **kwargs : Any
            Passed to ``torch.Tensor.new_zeros``.

        Returns
        -------
        torch.Tensor
            A tensor of zeros (one tensor, not a pair).
        """
        return self.receivers.new_zeros(*size, **kwargs)


class PairLayer(WeightedLayer[PairOfInputs]):
    """``PairwiseLinear`` as the LRP rules see it: the dense layer on every concatenated pair, ``W [x_i; y_j] + b``
    with ``W = [W_r, W_s]`` (so a rule's modified weights, W+ or W + gamma W+, act on the concatenated pair as in
    the IN paper's (Moreno et al., arXiv:1909.12285) interaction network), evaluated per object and broadcast; its
    input is a ``PairOfInputs``.

    Parameters
    ----------
    module : PairwiseLinear
        The layer.
    weight : torch.Tensor
        ``[W_r, W_s]``, shape (width, n_receiver + n_sender) (``weights_of``), batch norms merged in.
    bias : torch.Tensor or None
        The bias, shape (width,); None: no bias.
    """

    def __init__(self, module: PairwiseLinear, weight: torch.Tensor, bias: torch.Tensor | None):
        self.module = module
        self.weight, self.bias = weight, bias
        self._modified = {}
        self.kind = "pair"
        self.n_receiver = module.receiver.in_features

    @staticmethod
    def weights_of(module: PairwiseLinear) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Read the weights of a ``PairwiseLinear`` as one dense layer on the concatenated pair.

        Parameters
        ----------
        module : PairwiseLinear
            The layer.

        Returns
        -------
        weight : torch.Tensor
            ``[W_r, W_s]``, shape (width, n_receiver + n_sender).
        bias : torch.Tensor or None
            The receivers' layer's bias, shape (width,); None if it has none.
        """
        return torch.cat([module.receiver.weight, module.sender.weight], dim=1), module.receiver.bias

    def forward(self, x: PairOfInputs, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the map with weights ``weight`` and ``bias`` to every (receiver, sender) pair of ``x``.

        Parameters
        ----------
        x : PairOfInputs
            The receivers and the senders.
        weight : torch.Tensor
            Shape (width, n_receiver + n_sender): the receivers' columns first.
        bias : torch.Tensor, optional
            Shape (width,); None: no bias.

        Returns
        -------
        torch.Tensor
            Shape (batch, receivers, senders, width).
        """
        w_r, w_s = weight[:, : self.n_receiver], weight[:, self.n_receiver :]
        out = F.linear(x.receivers, w_r, bias)[:, :, None, :] + F.linear(x.senders, w_s)[:, None, :, :]
        return out

    def signed_forward(
        self,
        x_pos: PairOfInputs,
        x_neg: PairOfInputs,
        w_pos: torch.Tensor,
        w_neg: torch.Tensor,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Compute ``W_pos x+ + b + W_neg x-`` on every pair: each list's two signed terms added per object.

        The per-object sums are then broadcast to the pairs once.

        Parameters
        ----------
        x_pos : PairOfInputs
            The input's positive parts.
        x_neg : PairOfInputs
            The input's negative parts.
        w_pos : torch.Tensor
            The weights applied to ``x+``, shape (width, n_receiver + n_sender).
        w_neg : torch.Tensor
            The weights applied to ``x-``, shaped like ``w_pos``.
        bias : torch.Tensor, optional
            Shape (width,); None: no bias.

        Returns
        -------
        torch.Tensor
            Shape (batch, receivers, senders, width).
        """
        n = self.n_receiver
        receivers = F.linear(x_pos.receivers, w_pos[:, :n], bias).add_(F.linear(x_neg.receivers, w_neg[:, :n]))
        senders = F.linear(x_pos.senders, w_pos[:, n:]).add_(F.linear(x_neg.senders, w_neg[:, n:]))
        return receivers[:, :, None, :] + senders[:, None, :, :]

    def adjoints(
        self, s: torch.Tensor, weights: Iterable[torch.Tensor], input_shape: Any = None
    ) -> tuple[PairOfInputs, ...]:
        """Apply the transposed map for each of ``weights``, the sums over pairs taken once for all of them.

        Parameters
        ----------
        s : torch.Tensor
            The relevance shares at the outputs, shape (batch, receivers, senders, width).
        weights : iterable of torch.Tensor
            The weights, each shape (width, n_receiver + n_sender).
        input_shape : Any, optional
            Not used (the adjoint's shape follows from ``s``).

        Returns
        -------
        tuple of PairOfInputs
            One per weight: per receiver the adjoint of ``s`` summed over its pairs, shape (batch, receivers,
            n_receiver), and per sender likewise, shape (batch, senders, n_sender).
        """
        per_receiver, per_sender = s.sum(2), s.sum(1)
        n = self.n_receiver
        return tuple(PairOfInputs(per_receiver @ w[:, :n], per_sender @ w[:, n:]) for w in weights)

    def adjoint(self, s: torch.Tensor, weight: torch.Tensor, input_shape: Any = None) -> PairOfInputs:
        """Apply the transposed map onto each list: per receiver the sum over its pairs, per sender over its pairs.

        Parameters
        ----------
        s : torch.Tensor
            The relevance shares at the outputs, shape (batch, receivers, senders, width).
        weight : torch.Tensor
            Shape (width, n_receiver + n_sender).
        input_shape : Any, optional
            Not used.

        Returns
        -------
        PairOfInputs
            Shapes (batch, receivers, n_receiver) and (batch, senders, n_sender).
        """
        return self.adjoints(s, (weight,))[0]

    def bias_share(self, s: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Compute per jet ``sum(s * b)`` over all pairs and outputs.

        Parameters
        ----------
        s : torch.Tensor
            The relevance shares at the outputs, shape (batch, receivers, senders, width).
        bias : torch.Tensor
            Shape (width,).

        Returns
        -------
        torch.Tensor
            Shape (batch,).
        """
        return s.reshape(s.shape[0], -1, s.shape[-1]).sum(1) @ bias


def _numeric_padding(conv: nn.Conv1d | nn.Conv2d) -> tuple[int, ...]:
    if not isinstance(conv.padding, str):
        return tuple(conv.padding)
    if conv.padding == "valid":
        return (0,) * len(conv.kernel_size)
    total = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
    if any(t % 2 for t in total):
        raise ValueError("LRP: padding='same' with an even kernel pads asymmetrically; give explicit padding")
    return tuple(t // 2 for t in total)


def batch_norm_affine(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Write an inference-mode batch norm as ``scale * x + shift`` per channel (running statistics).

    Parameters
    ----------
    bn : torch.nn.BatchNorm1d or torch.nn.BatchNorm2d
        The batch norm (a ``MaskedBatchNorm1d`` too).

    Returns
    -------
    scale : torch.Tensor
        ``weight / sqrt(running_var + eps)`` (``weight`` 1 for a batch norm without one), shape (channels,).
    shift : torch.Tensor
        ``bias - running_mean * scale`` (``bias`` 0 for a batch norm without one), shape (channels,).

    Raises
    ------
    ValueError
        If the batch norm keeps no running statistics.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(
            f"LRP: {type(bn).__name__} without running statistics (track_running_stats=False) has no "
            f"fixed inference map to explain"
        )
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def merge_batch_norm_after(
    weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm1d | nn.BatchNorm2d
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge a batch norm after a layer: the weights of ``bn(layer(x))`` as one layer.

    Each output channel is scaled and shifted.

    Parameters
    ----------
    weight : torch.Tensor
        The layer's weights, output channels first.
    bias : torch.Tensor or None
        The layer's bias, shape (out,); None: no bias.
    bn : torch.nn.BatchNorm1d or torch.nn.BatchNorm2d
        The batch norm over the layer's output channels.

    Returns
    -------
    weight : torch.Tensor
        The merged weights, shaped like ``weight``.
    bias : torch.Tensor
        The merged bias, shape (out,).
    """
    scale, shift = batch_norm_affine(bn)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    merged_bias = shift if bias is None else bias * scale + shift
    return weight * scale.view(shape), merged_bias


def merge_batch_norm_before(
    weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm1d | nn.BatchNorm2d
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge a batch norm before a dense layer: the weights of ``linear(bn(x))`` as one dense layer.

    Exact only for dense layers: a convolution would also scale its zero padding, so convolutions after a batch
    norm keep the batch norm as its own layer.

    Parameters
    ----------
    weight : torch.Tensor
        The dense layer's weights, shape (out, in).
    bias : torch.Tensor or None
        The dense layer's bias, shape (out,); None: no bias.
    bn : torch.nn.BatchNorm1d or torch.nn.BatchNorm2d
        The batch norm over the layer's ``in`` input features.

    Returns
    -------
    weight : torch.Tensor
        The merged weights, shape (out, in).
    bias : torch.Tensor
        The merged bias, shape (out,).
    """
    scale, shift = batch_norm_affine(bn)
    merged_bias = weight @ shift if bias is None else bias + weight @ shift
    return weight * scale, merged_bias
