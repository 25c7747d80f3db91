"""Explanation methods behind one interface (``base.Attributor``).

LRP composites, gradient x input and integrated gradients.

    from xaugcol.explain.methods import method_specs
    (spec,) = method_specs(["epsilon"])            # or {"name": "mine", "composite": {...}}, "gradient_x_input"
    attribution = spec.attributor(model)(*inputs, batch_size=512)
"""

from xaugcol.explain.methods.base import Attribution, Attributor
from xaugcol.explain.methods.gradient import GradientXInput
from xaugcol.explain.methods.integrated import IntegratedGradients
from xaugcol.explain.methods.lrp import LRPAttributor
from xaugcol.explain.methods.specs import METHODS, MethodSpec, method_spec, method_specs

__all__ = [
    "Attribution",
    "Attributor",
    "GradientXInput",
    "IntegratedGradients",
    "LRPAttributor",
    "METHODS",
    "MethodSpec",
    "method_spec",
    "method_specs",
]
