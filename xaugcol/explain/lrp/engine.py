"""Run LRP on a traced model.

One forward pass that keeps every node's value, one backward pass that hands relevance from each node to its
inputs, and per jet the bookkeeping of what biases and stabilisers absorbed. What each operation does forward and
backward lives in one table (``operations.OPERATIONS``); this module only walks the graph.

    lrp = LRP(model, "epsilon")                       # or a Composite, or a preset with options
    result = lrp(image, xaug)                         # relevance of every input, same shapes
    result.relevance[0], result.conservation.residual  # per jet: output - inputs - bias - stabiliser
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from xaugcol.explain.lrp.composite import Composite
from xaugcol.explain.lrp.facts import LayerFacts, layer_facts
from xaugcol.explain.lrp.graph import Program, trace
from xaugcol.explain.lrp.operations import OPERATIONS, Step, target_name
from xaugcol.explain.lrp.rules import Rule, per_jet
from xaugcol.layers import (
    LinearLayer,
    PairLayer,
    PairwiseLinear,
    WeightedLayer,
    merge_batch_norm_after,
    merge_batch_norm_before,
)
from xaugcol.models import batching


@dataclass
class Conservation:
    """Per jet: the explained output, the relevance summed over each input, and what biases and stabilisers absorbed.

    ``output = sum(inputs) + bias + stabiliser`` holds up to rounding.

    Parameters
    ----------
    output : torch.Tensor
        Shape (batch,): the explained output (the relevance LRP starts from).
    inputs : tuple of torch.Tensor
        One per model input, each of shape (batch,): its relevance summed over everything but the jet axis.
    bias : torch.Tensor
        Shape (batch,): the relevance the biases absorbed, over all layers.
    stabiliser : torch.Tensor
        Shape (batch,): the relevance the stabilisers (epsilon) absorbed, over all layers.
    """

    output: torch.Tensor
    inputs: tuple[torch.Tensor, ...]
    bias: torch.Tensor
    stabiliser: torch.Tensor

    @property
    def input_total(self) -> torch.Tensor:
        """(batch,) the relevance summed over every input."""
        return torch.stack(self.inputs).sum(0)

    @property
    def residual(self) -> torch.Tensor:
        """(batch,) output - inputs - bias - stabiliser: zero up to rounding."""
        return self.output - self.input_total - self.bias - self.stabiliser

    def relative_residual(self) -> torch.Tensor:
        """|residual| over the scale of the terms (the output, or the inputs' total where that is larger).

        Returns
        -------
        torch.Tensor
            Shape (batch,); the scale is clamped to the dtype's smallest normal number, so a jet whose terms are
            all zero gives 0, not NaN.
        """
        scale = torch.maximum(self.output.abs(), self.input_total.abs()).clamp(min=torch.finfo(self.output.dtype).tiny)
        return self.residual.abs() / scale

    def summary(self) -> dict:
        """Means over jets, for logs and JSON reports.

        Returns
        -------
        dict
            ``jets`` (int); ``mean_output``; ``mean_input_relevance`` (a list, one per input); ``mean_bias_fraction``
            and ``mean_stabiliser_fraction`` (bias and stabiliser over ``|output|``, itself clamped to >= 1e-30);
            ``max_relative_residual`` (0.0 for no jets). Values are plain floats.
        """
        out = self.output.abs().clamp(min=1e-30)
        return {
            "jets": int(self.output.shape[0]),
            "mean_output": float(self.output.mean()),
            "mean_input_relevance": [float(r.mean()) for r in self.inputs],
            "mean_bias_fraction": float((self.bias / out).mean()),
            "mean_stabiliser_fraction": float((self.stabiliser / out).mean()),
            "max_relative_residual": float(self.relative_residual().max()) if len(self.output) else 0.0,
        }


@dataclass
class Explanation:
    """What ``LRP`` returns: the relevance of every input, the explained output and the conservation bookkeeping.

    Parameters
    ----------
    relevance : tuple of torch.Tensor
        One per model input, shaped like it.
    output : torch.Tensor
        Shape (batch,): the explained output (e.g. the logit).
    conservation : Conservation
        The per-jet bookkeeping of where the output's relevance went.
    layers : dict of str to torch.Tensor, optional
        The relevance at the outputs of the layers asked for (``record``), by the name they were asked by;
        default: none.
    """

    relevance: tuple[torch.Tensor, ...]  # one per model input, shaped like it
    output: torch.Tensor  # (batch,) the explained output (e.g. the logit)
    conservation: Conservation
    layers: dict[str, torch.Tensor] = field(default_factory=dict)  # relevance at recorded layer outputs


class LRP:
    """Layer-wise relevance propagation for a model built from supported layers (see ``graph``).

    With the rules of a ``Composite`` (or a preset name). Explains the model in inference mode: running batch-norm
    statistics, no dropout. Works on the device and dtype of the inputs (the model must be on the same device).

    Calling the object is ``explain``.

    Parameters
    ----------
    model : torch.nn.Module
        The model to explain, built from supported layers.
    composite : Composite, str or dict, default "epsilon"
        The rules: a ``Composite``, a preset's name (``epsilon``, ``alpha1beta0``, ...) or a mapping
        (``Composite.from_spec``).

    Raises
    ------
    ValueError
        A ``names`` pattern of the composite that matches no dense or convolution layer, or a rule that cannot
        explain a pair layer.
    LRPUnsupportedError
        The model cannot be traced, or holds an operation LRP has no rule for.
    """

    def __init__(self, model: nn.Module, composite: Composite | str | dict = "epsilon"):
        self.model = model
        self.composite = Composite.from_spec(composite)
        self.program: Program = trace(model)
        linear = self.program.linear_steps()
        unmatched = self.composite.unmatched_names([s.name for s in linear])
        if unmatched:
            raise ValueError(
                f"composite: name pattern(s) {unmatched} match no dense or convolution layer; layers: "
                f"{', '.join(s.name for s in linear)}"
            )
        self.rules: dict[str, Rule] = {s.name: self.composite.rule_for(s.name, s.module, s.is_first) for s in linear}
        for s in linear:
            if isinstance(s.module, PairwiseLinear) and not self.rules[s.name].on_pairs:
                raise ValueError(
                    f"LRP: rule {self.rules[s.name]!r} cannot explain the pair layer {s.name!r} (it needs "
                    f"one bounded input or ignores the inputs); give that layer another rule, e.g. "
                    f"names: {{'{s.name}': gamma}}"
                )
        self.facts: dict[str, LayerFacts] = layer_facts(self.program.steps, self.rules)
        self._layers: dict[str, tuple] = {}
        self.state: dict[fx.Node, Any] = {}  # per node, what its backward pass needs (during one batch)
        self._pending: list[torch.Tensor] = []  # the model inputs placeholders have not read yet

    def __call__(
        self,
        *inputs: torch.Tensor,
        target: int | None = None,
        batch_size: int | None = None,
        record: tuple[str, ...] = (),
    ) -> Explanation:
        return self.explain(*inputs, target=target, batch_size=batch_size, record=record)

    def explain(
        self,
        *inputs: torch.Tensor,
        target: int | None = None,
        batch_size: int | None = None,
        record: tuple[str, ...] = (),
    ) -> Explanation:
        """The relevance of every input for the model output.

        Parameters
        ----------
        *inputs : torch.Tensor
            The model's inputs, as ``forward`` takes them.
        target : int, optional
            The class index for multi-output models; None (or 0) for a single output.
        batch_size : int, optional
            Jets per batch; None: planned from the model (``xaugcol.models.batching``).
        record : tuple of str, default ()
            Layers (module or node names) whose output relevance is returned too.

        Returns
        -------
        Explanation
            The relevance of every input (shaped like it), the explained output, the conservation bookkeeping per
            jet, and the recorded layers' relevance.

        Raises
        ------
        ValueError
            Inputs the model does not take (their number, shapes or values), a ``target`` its output does not have,
            a ``record`` name of no layer, or a model that does not return one tensor.
        FloatingPointError
            Where the relevance of an input is not finite.
        """
        _check_inputs(inputs)
        if len(inputs) != self.program.n_inputs:
            raise ValueError(
                f"LRP: {type(self.model).__name__} takes {self.program.n_inputs} input(s), {len(inputs)} given"
            )
        record = tuple(record)
        # recorded layers have the shapes of their batch: plain batches, in order, where layers are recorded
        batches = batching.plan(None if record else self.model, inputs, batch_size)
        if len(batches.batches) <= 1 and not batches.reordered:
            return self._explain_batch(inputs, target, record)
        return _reassemble(
            [self._explain_batch(b.take(inputs), target, record) for b in batches.batches], batches, inputs
        )

    # -- one batch ----------------------------------------------------------------------------------------------
    def _explain_batch(self, inputs, target, record) -> Explanation:
        known = {s.name for s in self.program.steps} | {s.node.name for s in self.program.steps}
        missing = [r for r in record if r not in known]
        if missing:
            raise ValueError(f"record: no layer named {missing}")
        with torch.no_grad():
            env = self._forward(inputs)
            output_node = self.program.steps[-1].node.args[0]
            if not isinstance(output_node, fx.Node):  # a tuple, a constant
                raise ValueError("LRP: the model must return one tensor")
            out = env[output_node]
            r0 = _initial_relevance(out, target)
            relevance, bias, kept, recorded = self._backward(env, r0, output_node, record)
            self.state = {}  # the tapes and traces of this batch are not needed any more
        per_input = self._input_relevance(relevance, inputs)
        for k, r in enumerate(per_input):
            if not bool(torch.isfinite(r).all()):
                raise FloatingPointError(
                    f"LRP produced non-finite relevance for input {k}: check the model output and the rule parameters"
                )
        output = per_jet(r0)
        conservation = Conservation(output, tuple(per_jet(r) for r in per_input), bias, kept)
        return Explanation(per_input, output, conservation, recorded)

    def _merged_weights(self, step: Step) -> WeightedLayer[Any]:
        """The layer with its batch norms folded in; cached until a parameter or statistic changes (in place, by
        loading, or by moving the model)."""
        tensors = [
            t
            for m in (step.module, step.bn_after, step.bn_before)
            if m is not None
            for t in (*m.parameters(recurse=False), *m.buffers(recurse=False))
        ]
        key = tuple((t.data_ptr(), t._version, t.dtype) for t in tensors)
        cached = self._layers.get(step.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        m = step.module
        layer: WeightedLayer[Any]
        if isinstance(m, PairwiseLinear):  # never merged with a batch norm (see graph)
            w, b = PairLayer.weights_of(m)
            layer = PairLayer(m, w.detach(), None if b is None else b.detach())
            self._layers[step.name] = (key, layer)
            return layer
        if not isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            raise TypeError(f"not a linear-like layer: {type(m).__name__}")
        w, b = m.weight, m.bias
        if step.bn_after is not None:
            w, b = merge_batch_norm_after(w, b, step.bn_after)
        if step.bn_before is not None:
            w, b = merge_batch_norm_before(w, b, step.bn_before)
        layer = LinearLayer(m, w.detach(), None if b is None else b.detach())
        self._layers[step.name] = (key, layer)
        return layer

    def _forward(self, inputs: tuple[torch.Tensor, ...]) -> dict[fx.Node, Any]:
        env: dict[fx.Node, Any] = {}
        self.state = {}  # per node, what its backward pass needs (merged layer, tape, LSTM trace)
        self._pending = list(inputs)
        for step in self.program.steps:
            env[step.node] = OPERATIONS[step.kind].forward(self, step, env)
        return env

    def next_input(self, node: fx.Node) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The model input a placeholder reads (all remaining ones for ``*inputs``).

        Parameters
        ----------
        node : torch.fx.Node
            The placeholder.

        Returns
        -------
        torch.Tensor or tuple of torch.Tensor
            Its input.
        """
        if target_name(node).startswith("*"):
            out, self._pending = tuple(self._pending), []
            return out
        return self._pending.pop(0)

    def merged_weights(self, step: Step) -> WeightedLayer[Any]:
        """The layer of a linear step as the rules see it, its batch norms folded into its weights (cached).

        Parameters
        ----------
        step : Step
            A step of kind ``linear`` of this model's program.

        Returns
        -------
        WeightedLayer
            A ``LinearLayer`` (dense, convolution) or a ``PairLayer`` (the pair layer of an interaction network).
        """
        return self._merged_weights(step)

    def call(self, node: fx.Node, env: dict[Any, Any], override: dict[fx.Node, torch.Tensor] | None = None) -> Any:
        """Run one node on the values in ``env``.

        Parameters
        ----------
        node : torch.fx.Node
            The node.
        env : dict
            The value of every node run so far.
        override : dict, optional
            Other values for some of its inputs.

        Returns
        -------
        Any
            The node's output.
        """

        def value(n: fx.Node) -> Any:
            return override[n] if override and n in override else env[n]

        args = fx.node.map_arg(node.args, value)
        kwargs = fx.node.map_arg(node.kwargs, value)
        if node.op == "call_module":
            return self.program.modules[target_name(node)](*args, **kwargs)
        function = node.target
        if node.op == "call_function" and callable(function):
            return function(*args, **kwargs)
        return getattr(args[0], target_name(node))(*args[1:], **kwargs)

    def _backward(self, env, r0, output_node, record):
        flow = _Flow({output_node: r0})
        batch = r0.shape[0]
        bias = r0.new_zeros(batch)
        kept = r0.new_zeros(batch)
        recorded = {}
        for step in reversed(self.program.steps):
            r = flow.relevance.pop(step.node, None)
            if r is None:
                continue
            if step.name in record or step.node.name in record:
                recorded[step.name if step.name in record else step.node.name] = r
            absorbed = OPERATIONS[step.kind].backward(self, step, r, env, flow)
            if absorbed is not None:
                b, k = absorbed
                bias = bias if b is None else bias + b
                kept = kept if k is None else kept + k
        return flow.relevance, bias, kept, recorded

    def _input_relevance(self, relevance, inputs):
        out = []
        for node in self.program.placeholders:
            r = relevance.get(node)
            if target_name(node).startswith("*"):
                struct = r or {}
                out += [struct.get(k, torch.zeros_like(x)) for k, x in enumerate(inputs[len(out) :])]
            else:
                out.append(r if r is not None else torch.zeros_like(inputs[len(out)]))
        return tuple(out)


class _Flow:
    """Relevance waiting at each node during the backward pass; operations hand theirs on with ``give``."""

    def __init__(self, relevance: dict):
        self.relevance = relevance

    def __call__(self, node: object, r: Any) -> None:
        if isinstance(node, fx.Node):
            self.relevance[node] = self.relevance[node] + r if node in self.relevance else r

    def item(self, parent: fx.Node, index: Any, r: Any) -> None:
        """Relevance of one element of a tuple-valued node (collected per element)."""
        struct = self.relevance.setdefault(parent, {})
        struct[index] = struct[index] + r if index in struct else r


def _initial_relevance(out: torch.Tensor, target: int | None) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise ValueError("LRP: the model must return one tensor")
    if out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
        if target not in (None, 0):
            raise ValueError(f"LRP: target {target} given but the model has a single output")
        return out.clone()
    if out.dim() != 2:
        raise ValueError(f"LRP: expected an output of shape (batch,) or (batch, classes), got {tuple(out.shape)}")
    if target is None or not 0 <= target < out.shape[1]:
        raise ValueError(f"LRP: the model has {out.shape[1]} outputs: give target = 0..{out.shape[1] - 1}")
    r0 = torch.zeros_like(out)
    r0[:, target] = out[:, target]
    return r0


def _check_inputs(inputs) -> None:
    if not inputs:
        raise ValueError("LRP: no inputs given")
    n = inputs[0].shape[0]
    for k, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"LRP: input {k} is not a tensor")
        if x.shape[0] != n:
            raise ValueError(f"LRP: inputs have different batch sizes ({n} and {x.shape[0]} for input {k})")
        finite = torch.isfinite(x.reshape(n, -1)).all(1)
        if not bool(finite.all()):
            raise ValueError(f"LRP: input {k} has NaN or inf in {int((~finite).sum())} of {n} jets")


def _reassemble(parts: list[Explanation], batches: batching.Plan, inputs) -> Explanation:
    """One explanation from those of the planned batches: per-jet values and relevance in the inputs' order and
    shapes (slots a batch did not run on hold zero relevance, as padding does); recorded layers (plain batches
    only) joined along the jets."""
    n_in = len(inputs)
    cons = Conservation(
        batches.jets([p.conservation.output for p in parts]),
        tuple(batches.jets([p.conservation.inputs[k] for p in parts]) for k in range(n_in)),
        batches.jets([p.conservation.bias for p in parts]),
        batches.jets([p.conservation.stabiliser for p in parts]),
    )
    relevance = tuple(batches.inputs_like([p.relevance[k] for p in parts], k, inputs[k]) for k in range(n_in))
    layers = {name: torch.cat([p.layers[name] for p in parts]) for name in parts[0].layers}
    return Explanation(relevance, batches.jets([p.output for p in parts]), cons, layers)
