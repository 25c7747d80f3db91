"""The model's actual forward graph (torch.fx), classified for LRP.

Each node gets a kind that says how relevance passes through it; batch norms are merged into the dense or
convolution layer they really follow in the graph (not the one before them in module order), or into the dense
layer they feed; layers fed directly by a model input are marked ``first`` (for z-box / flat on the input layer).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from xaugcol.explain.lrp.lstm import check_supported
from xaugcol.explain.lrp.layers import Join


class LRPUnsupportedError(ValueError):
    """The model holds an operation LRP has no rule for."""


LINEAR_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
# elementwise activations: relevance passes through unchanged (it is zero wherever the output is zero)
PASS_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU, nn.Softplus,
                nn.Mish, nn.Hardswish)
PASS_FUNCTIONS = {torch.relu, F.relu, F.relu6, F.leaky_relu, F.elu, F.gelu, F.silu, F.softplus}
PASS_METHODS = {"relu"}
IDENTITY_MODULES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)
# pure reshapes: relevance is reshaped back
RESHAPE_MODULES = (nn.Flatten, nn.Unflatten)
RESHAPE_FUNCTIONS = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze}
RESHAPE_METHODS = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous"}
# selections and permutations (and max pooling, winner takes all): relevance follows the elements, which is exactly
# what the vector-Jacobian product of these maps does
ROUTE_MODULES = (nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, Join)
ROUTE_FUNCTIONS = {torch.cat, torch.concat, torch.stack, torch.flip, torch.transpose, torch.permute, torch.narrow,
                   torch.movedim, operator.getitem, F.max_pool1d, F.max_pool2d, F.adaptive_max_pool1d,
                   F.adaptive_max_pool2d}
ROUTE_METHODS = {"transpose", "permute", "flip", "narrow", "movedim", "t", "__getitem__"}
# parameter-free linear maps (average pooling, sum and mean over particles): epsilon rule
NORM_MODULES = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
NORM_FUNCTIONS = {torch.sum, torch.mean, F.avg_pool1d, F.avg_pool2d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d}
NORM_METHODS = {"sum", "mean"}
ADD_FUNCTIONS = {operator.add: 1, torch.add: 1, operator.sub: -1, torch.sub: -1}
ADD_METHODS = {"add": 1, "sub": -1}
SCALE_FUNCTIONS = {operator.mul, torch.mul, operator.truediv, torch.div, operator.neg, torch.neg}
SCALE_METHODS = {"mul", "div", "neg"}


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, Join) or super().is_leaf_module(m, qualname)


@dataclass
class Step:
    node: fx.Node
    kind: str  # input, linear, batchnorm, identity, pass, reshape, route, norm, add, scale, lstm, item, output
    module: nn.Module | None = None
    name: str = ""  # module name, or the node name for functions
    bn_after: nn.Module | None = None  # batch norm merged into this layer (layer -> bn)
    bn_before: nn.Module | None = None  # batch norm merged into this dense layer (bn -> layer)
    is_first: bool = False
    sign: int = 1  # for add/sub
    extra: dict = field(default_factory=dict)


@dataclass
class Program:
    steps: list[Step]
    modules: dict[str, nn.Module]
    placeholders: list[fx.Node]
    n_inputs: int  # how many tensors forward reads

    def linear_steps(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "linear"]


def _describe(node: fx.Node, modules) -> str:
    if node.op == "call_module":
        return f"module {node.target!r} ({type(modules[node.target]).__name__})"
    if node.op == "call_function":
        return f"function {getattr(node.target, '__name__', node.target)!r}"
    return f"{node.op} {node.target!r}"


def _n_tensor_args(node: fx.Node) -> int:
    return sum(isinstance(a, fx.Node) for a in node.args)


def _classify(node: fx.Node, modules: dict[str, nn.Module]) -> Step:
    if node.op == "placeholder":
        return Step(node, "input", name=node.name)
    if node.op == "output":
        return Step(node, "output", name="output")
    if node.op == "get_attr":
        return Step(node, "constant", name=node.name)
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, LINEAR_MODULES):
            return Step(node, "linear", m, node.target)
        if isinstance(m, BATCH_NORMS):
            return Step(node, "batchnorm", m, node.target)
        if isinstance(m, nn.LSTM):
            check_supported(m, node.target)
            if len(node.args) != 1 or node.kwargs:
                raise LRPUnsupportedError(f"LRP: LSTM {node.target!r} must be called on its input alone (a zero "
                                          f"initial state)")
            return Step(node, "lstm", m, node.target)
        for kind, types in (("pass", PASS_MODULES), ("identity", IDENTITY_MODULES), ("reshape", RESHAPE_MODULES),
                            ("route", ROUTE_MODULES), ("norm", NORM_MODULES)):
            if isinstance(m, types):
                return Step(node, kind, m, node.target)
    elif node.op in ("call_function", "call_method"):
        t = node.target
        fn = node.op == "call_function"
        if (t is operator.getitem) and node.args and isinstance(node.args[0], fx.Node) and \
                node.args[0].op in ("call_module", "placeholder") and _yields_tuple(node.args[0], modules):
            return Step(node, "item", name=node.name)
        for kind, functions, methods in (("pass", PASS_FUNCTIONS, PASS_METHODS),
                                         ("reshape", RESHAPE_FUNCTIONS, RESHAPE_METHODS),
                                         ("route", ROUTE_FUNCTIONS, ROUTE_METHODS),
                                         ("norm", NORM_FUNCTIONS, NORM_METHODS)):
            if (t in functions) if fn else (t in methods):
                return Step(node, kind, name=node.name)
        signs = ADD_FUNCTIONS if fn else ADD_METHODS
        if t in signs and "alpha" not in node.kwargs:
            return Step(node, "add", name=node.name, sign=signs[t])
        if ((t in SCALE_FUNCTIONS) if fn else (t in SCALE_METHODS)) and _n_tensor_args(node) == 1 and \
                _is_scaling(node):
            return Step(node, "scale", name=node.name)
    raise LRPUnsupportedError(f"LRP has no rule for {_describe(node, modules)} at graph node {node.name!r}; "
                              f"supported: dense, Conv1d/2d, batch norm, ReLU-family activations, max/average/adaptive "
                              f"pooling, LSTM, reshapes, concatenation, indexing, sums and means, additions, scaling")


def _is_scaling(node: fx.Node) -> bool:
    """``c * x``, ``x * c``, ``x / c``, ``-x`` with a constant c (not ``c / x``, which is not linear)."""
    if node.target in (operator.truediv, torch.div, "div"):
        return isinstance(node.args[0], fx.Node)
    return True


def _yields_tuple(node: fx.Node, modules) -> bool:
    if node.op == "placeholder":
        return node.target.startswith("*")
    return isinstance(modules.get(node.target), nn.LSTM)


def trace(model: nn.Module) -> Program:
    """Trace ``model`` and classify its nodes; raises ``LRPUnsupportedError`` naming the first node without a rule."""
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # fx reports data-dependent control flow etc.
        raise LRPUnsupportedError(f"LRP could not trace {type(model).__name__}: {err}") from err
    modules = dict(model.named_modules())
    steps = [_classify(node, modules) for node in graph.nodes]
    # getitem on a tuple that is itself an item of a tuple (the LSTM's (h_n, c_n))
    by_node = {s.node: s for s in steps}
    for s in steps:
        if s.kind == "route" and s.node.target is operator.getitem and by_node[s.node.args[0]].kind == "item" \
                and by_node[s.node.args[0]].node.args[1] == 1 and by_node[s.node.args[0].args[0]].kind == "lstm":
            s.kind = "item"
    _merge_batch_norms(steps, by_node)
    _mark_first_layers(steps, by_node)
    placeholders = [s.node for s in steps if s.kind == "input"]
    n_inputs = len(placeholders)
    if placeholders and placeholders[-1].target.startswith("*"):  # forward(*inputs): count the items it reads
        read = [s.node.args[1] for s in steps if s.kind == "item" and s.node.args[0] is placeholders[-1]]
        n_inputs += max(read, default=-1)
    return Program(steps, modules, placeholders, n_inputs)


def _merge_batch_norms(steps: list[Step], by_node: dict) -> None:
    for s in steps:
        if s.kind != "batchnorm":
            continue
        parent = s.node.args[0]
        before = by_node.get(parent)
        if before is not None and before.kind == "linear" and before.bn_after is None and len(parent.users) == 1:
            before.bn_after = s.module  # layer -> bn: the layer computes the normalised output directly
            s.kind = "identity"
            continue
        users = list(s.node.users)
        if len(users) == 1:
            after = by_node[users[0]]
            if after.kind == "linear" and isinstance(after.module, nn.Linear) and after.bn_before is None and \
                    isinstance(s.module, nn.BatchNorm1d) and after.module.in_features == s.module.num_features:
                after.bn_before = s.module  # bn -> dense: the dense layer takes the raw input
                s.kind = "identity"
                s.extra["merged_into"] = after.name


def _mark_first_layers(steps: list[Step], by_node: dict) -> None:
    raw = set()  # nodes that hold model inputs, possibly reshaped or selected
    for s in steps:
        inputs = s.node.all_input_nodes
        if s.kind == "input" or (s.kind in ("reshape", "route", "identity", "item") and inputs
                                 and all(n in raw for n in inputs)):
            raw.add(s.node)
        elif s.kind == "linear" and s.node.args[0] in raw:
            s.is_first = True
