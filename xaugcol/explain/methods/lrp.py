"""Layer-wise relevance propagation with a composite (``xaugcol.explain.lrp``) as an attributor."""

from __future__ import annotations

import torch

from xaugcol.explain.lrp import LRP, Composite
from xaugcol.explain.methods.base import Attribution


class LRPAttributor:
    """LRP as an attributor (``base.Attributor``).

    Its ``details`` are the LRP ``Explanation`` (the conservation split into biases and stabilisers); ``absorbed``
    is computed in float64 from the output and the summed input relevance.

    Parameters
    ----------
    model : torch.nn.Module
        The tagger (built from layers LRP explains: ``xaugcol.explain.lrp.graph``).
    composite : Composite, str or dict, default "epsilon"
        The rules: a preset name, a ``Composite`` or a composite mapping (``Composite.from_spec``).
    """

    def __init__(self, model: torch.nn.Module, composite: Composite | str | dict = "epsilon"):
        self.lrp = LRP(model, composite)

    def __call__(self, *inputs: torch.Tensor, batch_size: int | None = None) -> Attribution:
        e = self.lrp(*inputs, batch_size=batch_size)
        # in float64, from the float32 totals: the absorbed part is a small difference of large numbers
        return Attribution(e.relevance, e.output, e.output.double() - e.conservation.input_total.double(), e)
