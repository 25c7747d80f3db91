"""What a model's graph proves about each dense, convolution and pair layer, so its rule can skip run-time checks.

Those checks would otherwise run on every batch (each a pass over the layer's largest tensors: the IN's pair
tensors).

* ``nonnegative_input``: the layer reads the output of a ReLU (directly, or through reshapes, concatenations, sums
  and means of such outputs), so its input has no negative entry and need not be split by sign;
* ``positive_outputs_only``: the layer's output feeds only ReLUs, and the relevance that reaches those ReLUs is zero
  wherever they output zero, because everything above shares relevance in proportion to the values it reads (dense
  and convolution layers under a proportional rule, sums, means, additions, batch norms; reshapes, selections and
  ReLUs hand it on); so no relevance reaches an output z <= 0, and a rule that treats z > 0 and z < 0 apart
  (gamma) needs no mask.

Anything not listed (an input-free rule such as flat, an LSTM, a max along a dimension) makes the fact unproven,
and the rule checks at run time as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from xaugcol.layers import MaskedReLU, PairwiseLinear


@dataclass(frozen=True)
class LayerFacts:
    """What the graph proves about one layer (module docstring); ``UNKNOWN``: nothing proven.

    Parameters
    ----------
    nonnegative_input : bool, default False
        Proven: the layer's input has no negative entry (it reads ReLU outputs), so it need not be split by sign.
    positive_outputs_only : bool, default False
        Proven: no relevance reaches an output z <= 0 of the layer, so a rule needs no mask by output sign.
    """

    nonnegative_input: bool = False
    positive_outputs_only: bool = False


UNKNOWN = LayerFacts()

# activations that output zero for every input <= 0 (MaskedReLU's mask is a 0/1 indicator)
_ZEROING_MODULES = (nn.ReLU, nn.ReLU6, MaskedReLU)
_ZEROING_FUNCTIONS = frozenset({torch.relu, F.relu, F.relu6})
# a nonnegative input gives a nonnegative output (sums, means, average and max pooling, concatenation, reordering)
_KEEPS_SIGN = ("reshape", "identity", "route", "norm")
# hand relevance to their inputs as the input's value times a finite factor
_PROPORTIONAL = ("norm", "add", "batchnorm")
# hand their output's relevance on to inputs that hold the same values (or values zero where the output is zero)
_PASS_ON = ("reshape", "identity", "route", "scale", "gate")
# take no relevance
_SILENT = ("indicator", "constant", "output")


def _zeroing(step) -> bool:
    node = step.node
    if step.kind != "pass":
        return False
    if node.op == "call_module":
        return isinstance(step.module, _ZEROING_MODULES)
    if node.op == "call_function":
        return node.target in _ZEROING_FUNCTIONS
    return node.op == "call_method" and node.target == "relu"


def layer_facts(steps: list, rules: dict) -> dict[str, LayerFacts]:
    """The facts of every linear step, by step name.

    Parameters
    ----------
    steps : list of operations.Step
        The program's steps in topological order (the type is not imported here: the operations import the rules,
        which import these facts).
    rules : dict of str to Rule
        Each linear step's rule, by step name (its ``proportional`` flag counts).

    Returns
    -------
    dict of str to LayerFacts
        One entry per step of kind ``linear``.
    """
    by_node = {s.node: s for s in steps}
    nonnegative: set[fx.Node] = set()
    for s in steps:
        inputs = s.node.all_input_nodes
        if _zeroing(s) or (s.kind in _KEEPS_SIGN and inputs and all(n in nonnegative for n in inputs)):
            nonnegative.add(s.node)

    vanishing: set[fx.Node] = set()  # nodes whose relevance is zero wherever their value is zero

    def proportional_user(user) -> bool:
        if user.kind in _SILENT or user.kind in _PROPORTIONAL:
            return True
        if user.kind == "linear":
            return bool(getattr(rules.get(user.name), "proportional", False))
        if user.kind in _PASS_ON or (user.kind == "pass" and _zeroing(user)):
            return user.node in vanishing
        return False

    for s in reversed(steps):  # users before the nodes they read
        users = [by_node[u] for u in s.node.users]
        if users and all(proportional_user(u) for u in users):
            vanishing.add(s.node)

    facts = {}
    for s in steps:
        if s.kind != "linear":
            continue
        reads = s.node.args[:2] if isinstance(s.module, PairwiseLinear) else s.node.args[:1]
        users = [by_node[u] for u in s.node.users]
        facts[s.name] = LayerFacts(
            nonnegative_input=all(a in nonnegative for a in reads),
            positive_outputs_only=bool(users)
            and all(_zeroing(u) and u.node.args[0] is s.node and u.node in vanishing for u in users),
        )
    return facts
