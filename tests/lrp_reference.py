"""Shared helpers of the LRP tests and benchmark: models with realistic (non-trivial) batch-norm statistics,
single-input equivalents of the multi-input taggers for zennit, and zennit itself behind a torchvision stand-in."""

from __future__ import annotations

import sys
import types

import torch
from torch import nn


def import_zennit():
    """zennit imports torchvision.models.resnet, which does not load with this torch: register a stand-in that
    holds the two names zennit's canonizers look up, then import zennit."""
    if "torchvision" not in sys.modules:
        tv, models, resnet = (types.ModuleType(n) for n in ("torchvision", "torchvision.models",
                                                             "torchvision.models.resnet"))

        class _Block(nn.Module):
            pass

        resnet.BasicBlock, resnet.Bottleneck = _Block, type("Bottleneck", (_Block,), {})
        tv.models, models.resnet = models, resnet
        sys.modules.update({"torchvision": tv, "torchvision.models": models, "torchvision.models.resnet": resnet})
    import zennit.canonizers
    import zennit.composites
    import zennit.rules
    return zennit


def randomise_batch_norms(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Running statistics and affine parameters away from their initial values, so merging errors would show."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=generator) - 0.5)
                m.running_var.copy_(0.5 + 1.5 * torch.rand(m.running_var.shape, generator=generator))
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=generator))
                m.bias.copy_(0.4 * torch.rand(m.bias.shape, generator=generator) - 0.2)
    return model


class SingleInput(nn.Module):
    """The tagger taking one flat tensor (all inputs concatenated), for libraries that explain one input."""

    def __init__(self, tagger: nn.Module, shapes: list[tuple[int, ...]]):
        super().__init__()
        self.tagger = tagger
        self.shapes = shapes
        self.sizes = [int(torch.Size(s).numel()) for s in shapes]

    def forward(self, x):
        parts = torch.split(x, self.sizes, dim=1)
        return self.tagger(*(p.reshape(-1, *s) for p, s in zip(parts, self.shapes)))

    @staticmethod
    def flatten(inputs) -> torch.Tensor:
        return torch.cat([x.reshape(x.shape[0], -1) for x in inputs], dim=1)


def zennit_relevance(model: SingleInput, flat: torch.Tensor, name_map) -> torch.Tensor:
    """zennit's relevance of ``flat`` for the model output (initial relevance = the output), batch norms merged by
    zennit's canonizer. ``name_map``: list of (module names in ``model``, zennit rule)."""
    zennit = import_zennit()
    composite = zennit.composites.NameMapComposite(name_map,
                                                   canonizers=[zennit.canonizers.SequentialMergeBatchNorm()])
    with composite.context(model) as modified:
        x = flat.clone().requires_grad_(True)
        out = modified(x)
        (relevance,) = torch.autograd.grad(out, x, grad_outputs=out.detach())
    return relevance
