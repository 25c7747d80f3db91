"""Layer-wise relevance propagation for the taggers (and any model built from the supported layers).

from xaugcol.explain.lrp import LRP, Composite, Epsilon, Gamma, ZBox, preset
result = LRP(model, "epsilon")(image, xaug)       # relevance of each input + per-jet conservation report
"""

from xaugcol.explain.lrp.composite import PRESETS, Composite, preset
from xaugcol.explain.lrp.engine import LRP, Conservation, Explanation
from xaugcol.explain.lrp.graph import LRPUnsupportedError
from xaugcol.explain.lrp.lstm import SignalTakeAll
from xaugcol.explain.lrp.rules import (
    RULES,
    AlphaBeta,
    Epsilon,
    Flat,
    Gamma,
    Rule,
    WSquare,
    Z,
    ZBox,
    ZPlus,
    rule_from_spec,
)

__all__ = [
    "LRP",
    "Explanation",
    "Conservation",
    "Composite",
    "preset",
    "PRESETS",
    "LRPUnsupportedError",
    "SignalTakeAll",
    "Rule",
    "RULES",
    "rule_from_spec",
    "Z",
    "Epsilon",
    "Gamma",
    "AlphaBeta",
    "ZPlus",
    "ZBox",
    "Flat",
    "WSquare",
]
