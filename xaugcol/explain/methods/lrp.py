"""Layer-wise relevance propagation with a composite (``xaugcol.explain.lrp``) as an attributor."""

from __future__ import annotations

import torch

from xaugcol.explain.lrp import LRP
from xaugcol.explain.methods.base import Attribution


class LRPAttributor:
    def __init__(self, model: torch.nn.Module, composite="epsilon"):
        self.lrp = LRP(model, composite)

    def __call__(self, *inputs: torch.Tensor, batch_size: int | None = None) -> Attribution:
        e = self.lrp(*inputs, batch_size=batch_size)
        # in float64, from the float32 totals: the absorbed part is a small difference of large numbers
        return Attribution(e.relevance, e.output, e.output.double() - e.conservation.input_total.double(), e)
