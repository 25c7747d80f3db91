"""Gradient x input: relevance = input * d(output)/d(input), the baseline attribution users ask for.

For a ReLU network it equals LRP-0 (the ``z`` preset) exactly (Ancona et al. 2018), and for a network without
biases (positively homogeneous) it is complete: the relevance sums to the output. With biases, ``absorbed`` holds
what the biases contribute. The model runs in inference mode (batch norm statistics, no dropout)."""

from __future__ import annotations

import torch

from xaugcol.explain.methods.base import Attribution, explained_output, in_batches


class GradientXInput:
    """Gradient x input as an attributor (``base.Attributor``; module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        The tagger.
    target : int, optional
        The class index explained for a model with several outputs (None: its single output).
    """

    def __init__(self, model: torch.nn.Module, target: int | None = None):
        self.model = model
        self.target = target

    def __call__(self, *inputs: torch.Tensor, batch_size: int | None = None) -> Attribution:
        if not inputs:
            raise ValueError("gradient x input: no inputs given")
        return in_batches(self._batch, tuple(inputs), batch_size, self.model)

    def _batch(self, inputs: tuple[torch.Tensor, ...]) -> Attribution:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.enable_grad():
                leaves = tuple(x.detach().requires_grad_(True) for x in inputs)
                out = explained_output(self.model(*leaves), self.target)
                grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
        finally:
            self.model.train(was_training)
        relevance = tuple((x * g if g is not None else torch.zeros_like(x)).detach() for x, g in zip(inputs, grads))
        output = out.detach()
        total = torch.stack([r.reshape(r.shape[0], -1).sum(1) for r in relevance]).sum(0)
        for k, r in enumerate(relevance):
            if not bool(torch.isfinite(r).all()):
                raise FloatingPointError(f"gradient x input produced non-finite relevance for input {k}")
        return Attribution(relevance, output, output - total)
