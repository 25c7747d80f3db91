"""The LRP layers module: layers as LRP sees them. Linear-like layers (dense, 1D and 2D convolution) as the rules
see them, a forward map with any weights and its adjoint (the transposed map, which carries relevance shares back
to the inputs), plus batch-norm merging; and ``Join``, the module taggers build their XAUG join from. It imports
nothing but torch and sits below both the taggers and the LRP engine, so the models never import ``explain``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Join(nn.Module):
    """Concatenate a tagger's body output and the XAUG vector along the feature axis: a module (a leaf of the
    traced graph), so LRP routes relevance exactly between the two branches."""

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        return torch.cat(parts, dim=1)


class LinearLayer:
    """``z = W x + b`` for a dense or convolution layer, with the weights (BN already merged) held apart from the
    module so a rule can evaluate the same map with modified weights (W+, W + gamma W+, W**2, ones...)."""

    def __init__(self, module: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None):
        self.module = module
        self.weight = weight
        self.bias = bias
        self._modified: dict = {}
        if isinstance(module, nn.Linear):
            self.kind = "linear"
        elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
            if module.padding_mode != "zeros":
                raise ValueError(f"LRP: {type(module).__name__} with padding_mode={module.padding_mode!r} is not "
                                 f"supported (only zero padding is a linear map)")
            self.kind = "conv1d" if isinstance(module, nn.Conv1d) else "conv2d"
            self.padding = _numeric_padding(module)
        else:
            raise TypeError(f"not a linear-like layer: {type(module).__name__}")

    def modified(self, key, make):
        """Weights modified by a rule (W+, W + gamma W+, ...), made once per set of weights: this object is rebuilt
        whenever the model's parameters change."""
        if key not in self._modified:
            self._modified[key] = make(self.weight, self.bias)
        return self._modified[key]

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        m = self.module
        if self.kind == "linear":
            return F.linear(x, weight, bias)
        conv = F.conv1d if self.kind == "conv1d" else F.conv2d
        return conv(x, weight, bias, m.stride, self.padding, m.dilation, m.groups)

    def adjoint(self, s: torch.Tensor, weight: torch.Tensor, input_shape: torch.Size) -> torch.Tensor:
        """The transposed map applied to ``s`` (the input gradient of ``<s, W x>``), for inputs of ``input_shape``;
        a batch-1 shape is broadcast to the batch of ``s``."""
        m = self.module
        if self.kind == "linear":
            return s @ weight
        shape = (s.shape[0],) + tuple(input_shape[1:])
        grad = torch.nn.grad.conv1d_input if self.kind == "conv1d" else torch.nn.grad.conv2d_input
        return grad(shape, weight, s, m.stride, self.padding, m.dilation, m.groups)

    def bias_share(self, s: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Per jet ``sum(s * b)`` over all outputs: ``s`` summed per output channel, then one product with b."""
        if self.kind == "linear":
            return (s if s.dim() == 2 else s.reshape(s.shape[0], -1, s.shape[-1]).sum(1)) @ bias
        return s.flatten(2).sum(2) @ bias


def _numeric_padding(conv: nn.Module) -> tuple[int, ...]:
    if not isinstance(conv.padding, str):
        return tuple(conv.padding)
    if conv.padding == "valid":
        return (0,) * len(conv.kernel_size)
    total = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
    if any(t % 2 for t in total):
        raise ValueError("LRP: padding='same' with an even kernel pads asymmetrically; give explicit padding")
    return tuple(t // 2 for t in total)


def batch_norm_affine(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference-mode batch norm as ``scale * x + shift`` per channel (running statistics)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"LRP: {type(bn).__name__} without running statistics (track_running_stats=False) has no "
                         f"fixed inference map to explain")
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def merge_batch_norm_after(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.Module):
    """Weights of ``bn(layer(x))`` as one layer: each output channel scaled and shifted."""
    scale, shift = batch_norm_affine(bn)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    merged_bias = shift if bias is None else bias * scale + shift
    return weight * scale.view(shape), merged_bias


def merge_batch_norm_before(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.Module):
    """Weights of ``linear(bn(x))`` as one dense layer (exact only for dense layers: a convolution would also scale
    its zero padding, so convolutions after a batch norm keep the batch norm as its own layer)."""
    scale, shift = batch_norm_affine(bn)
    merged_bias = weight @ shift if bias is None else bias + weight @ shift
    return weight * scale, merged_bias
