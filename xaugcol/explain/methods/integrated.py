"""Integrated gradients (Sundararajan, Taly, Yan 2017) through captum.

Relevance = (x - x0) * the average gradient on the straight path from a baseline x0 to x. Complete by construction:
the relevance sums to f(x) - f(x0), so ``absorbed`` is the tagger's output at the baseline plus the path integral's
numerical error.

The baseline is zero for every input: an empty jet image, a particle list of padded slots only (no particles),
the XAUG variables at the lower end of their scaled range. The model runs in inference mode.

captum is installed without its dependencies (``pip install --no-deps captum``: a plain install can pull a CUDA
torch); it is imported only when this method runs.
"""

from __future__ import annotations

import torch

from xaugcol.explain.methods.base import Attribution, explained_output, in_batches
from xaugcol.quoting import quoted

DEFAULT_STEPS = 32


def check_steps(steps: object) -> int:
    """``steps`` if it is a valid number of integration steps (a whole number >= 2); else a ``ValueError``.

    Parameters
    ----------
    steps : object
        The value a user gave (a bool or a float is refused).

    Returns
    -------
    int
        ``steps`` itself.

    Raises
    ------
    ValueError
        Where ``steps`` is not an ``int`` of at least 2.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"integrated gradients: 'steps' must be a whole number >= 2, got {quoted(steps)}")
    return steps


class IntegratedGradients:
    """Integrated gradients as an attributor (``base.Attributor``; module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        The tagger.
    steps : int, default ``DEFAULT_STEPS`` (32)
        Points on the path from the baseline to the input (Gauss-Legendre, captum's default), at least 2
        (``check_steps``).
    target : int, optional
        The class index explained for a model with several outputs (None: its single output).
    """

    def __init__(self, model: torch.nn.Module, steps: int = DEFAULT_STEPS, target: int | None = None):
        self.model = model
        self.steps = check_steps(steps)
        self.target = target

    def __call__(self, *inputs: torch.Tensor, batch_size: int | None = None) -> Attribution:
        if not inputs:
            raise ValueError("integrated gradients: no inputs given")
        return in_batches(self._batch, tuple(inputs), batch_size, self.model)

    def _batch(self, inputs: tuple[torch.Tensor, ...]) -> Attribution:
        try:
            from captum.attr import IntegratedGradients as CaptumIG
        except ImportError as err:
            raise ImportError(
                "integrated gradients needs captum: pip install --no-deps captum (its other "
                "requirements come with xaugcol)"
            ) from err
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                output = explained_output(self.model(*inputs), self.target)
            ig = CaptumIG(lambda *x: explained_output(self.model(*x), self.target))
            baselines = tuple(torch.zeros_like(x) for x in inputs)
            with torch.enable_grad():
                attributions = ig.attribute(
                    tuple(inputs),
                    baselines=baselines,
                    n_steps=self.steps,
                    method="gausslegendre",
                    internal_batch_size=len(inputs[0]),
                )
        finally:
            self.model.train(was_training)
        relevance = tuple(a.detach() for a in attributions)
        for k, r in enumerate(relevance):
            if not bool(torch.isfinite(r).all()):
                raise FloatingPointError(f"integrated gradients produced non-finite relevance for input {k}")
        total = torch.stack([r.reshape(r.shape[0], -1).double().sum(1) for r in relevance]).sum(0)
        return Attribution(relevance, output.detach(), output.detach().double() - total)
