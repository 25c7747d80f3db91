"""The model's actual forward graph (torch.fx), classified for LRP.

Each node is claimed by one operation of ``operations.OPERATIONS`` (the table that also holds how each operation
runs forward and passes relevance back); batch norms are merged into the dense or convolution layer they really
follow in the graph (not the one before them in module order), or into the dense layer they feed; layers fed
directly by a model input are marked ``first`` (for z-box / flat on the input layer).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.fx as fx
from torch import nn

from xaugcol.explain.lrp.operations import OPERATIONS, LRPUnsupportedError, Step, target_name
from xaugcol.layers import LEAF_MODULES, PairwiseLinear


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, LEAF_MODULES) or super().is_leaf_module(m, qualname)


@dataclass
class Program:
    """A traced model as LRP runs it.

    Parameters
    ----------
    steps : list of Step
        Every graph node classified, in topological order (batch norms merged, first layers marked).
    modules : dict of str to torch.nn.Module
        The model's modules by qualified name (``named_modules``).
    placeholders : list of torch.fx.Node
        The input nodes, in ``forward``'s order.
    n_inputs : int
        How many tensors ``forward`` reads (each item of ``*inputs`` counted).
    """

    steps: list[Step]
    modules: dict[str, nn.Module]
    placeholders: list[fx.Node]
    n_inputs: int  # how many tensors forward reads

    def linear_steps(self) -> list[Step]:
        """The steps of the dense, convolution and pair layers.

        Returns
        -------
        list of Step
            The steps of kind ``linear``, in topological order.
        """
        return [s for s in self.steps if s.kind == "linear"]


def _describe(node: fx.Node, modules) -> str:
    if node.op == "call_module":
        return f"module {node.target!r} ({type(modules[node.target]).__name__})"
    if node.op == "call_function":
        return f"function {getattr(node.target, '__name__', node.target)!r}"
    return f"{node.op} {node.target!r}"


def _classify(node: fx.Node, modules: dict[str, nn.Module], known: dict) -> Step:
    for operation in OPERATIONS.values():
        step = operation.claim(node, modules, known)
        if step is not None:
            return step
    raise LRPUnsupportedError(
        f"LRP has no rule for {_describe(node, modules)} at graph node {node.name!r}; "
        f"supported: dense, Conv1d/2d, batch norm, ReLU-family activations, max/average/adaptive "
        f"pooling, global max/min and max/min along a dimension, LSTM, reshapes, concatenation, "
        f"indexing, where/masked_fill, sums and means (masked too), additions, scaling"
    )


def trace(model: nn.Module) -> Program:
    """Trace ``model`` and classify its nodes.

    The modules of ``xaugcol.layers.LEAF_MODULES`` are kept as single nodes.

    Parameters
    ----------
    model : torch.nn.Module
        The model to explain.

    Returns
    -------
    Program
        Its steps, modules, input nodes and number of inputs.

    Raises
    ------
    LRPUnsupportedError
        Where torch.fx cannot trace the model, or naming the first node without a rule.
    """
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # fx reports data-dependent control flow etc.
        raise LRPUnsupportedError(f"LRP could not trace {type(model).__name__}: {err}") from err
    modules = dict(model.named_modules())
    by_node: dict[fx.Node, Step] = {}
    steps = []
    for node in graph.nodes:  # topological order: a node's inputs are classified before it
        steps.append(_classify(node, modules, by_node))
        by_node[node] = steps[-1]
    _merge_batch_norms(steps, by_node)
    _mark_first_layers(steps, by_node)
    placeholders = [s.node for s in steps if s.kind == "input"]
    n_inputs = len(placeholders)
    if placeholders and target_name(placeholders[-1]).startswith("*"):  # forward(*inputs): count the items read
        read = [_item_index(s.node) for s in steps if s.kind == "item" and s.node.args[0] is placeholders[-1]]
        n_inputs += max(read, default=-1)
    return Program(steps, modules, placeholders, n_inputs)


def _item_index(node: fx.Node) -> int:
    """Which of the ``*inputs`` an item node reads (``inputs[k]``)."""
    index = node.args[1]
    if not isinstance(index, int):
        raise LRPUnsupportedError(f"LRP reads forward(*inputs) by integer index only, not {index!r} ({node.name!r})")
    return index


def _merge_batch_norms(steps: list[Step], by_node: dict) -> None:
    for s in steps:
        if s.kind != "batchnorm":
            continue
        parent = s.node.all_input_nodes[0]  # the batch norm module's input
        before = by_node.get(parent)
        if (
            before is not None
            and before.kind == "linear"
            and not isinstance(before.module, PairwiseLinear)
            and before.bn_after is None
            and len(parent.users) == 1
        ):
            before.bn_after = s.module  # layer -> bn: the layer computes the normalised output directly
            s.kind = "identity"
            continue
        users = list(s.node.users)
        if len(users) == 1:
            after = by_node[users[0]]
            if (
                after.kind == "linear"
                and isinstance(after.module, nn.Linear)
                and after.bn_before is None
                and isinstance(s.module, nn.BatchNorm1d)
                and after.module.in_features == s.module.num_features
            ):
                after.bn_before = s.module  # bn -> dense: the dense layer takes the raw input
                s.kind = "identity"
                s.extra["merged_into"] = after.name


def _mark_first_layers(steps: list[Step], by_node: dict) -> None:
    raw = set()  # nodes that hold model inputs, possibly reshaped or selected
    for s in steps:
        inputs = s.node.all_input_nodes
        if s.kind == "input" or (
            s.kind in ("reshape", "route", "identity", "item") and inputs and all(n in raw for n in inputs)
        ):
            raw.add(s.node)
        elif s.kind == "linear" and s.node.args[0] in raw:
            s.is_first = True
