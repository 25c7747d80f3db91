"""Run LRP on a traced model: one forward pass that keeps every node's value, one backward pass that hands relevance
from each node to its inputs, and per jet the bookkeeping of what biases and stabilisers absorbed.

    lrp = LRP(model, "epsilon")                       # or a Composite, or a preset with options
    result = lrp(image, xaug)                         # relevance of every input, same shapes
    result.relevance[0], result.conservation.residual  # per jet: output - inputs - bias - stabiliser
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.fx as fx
from torch import nn

from xaugcol.explain.lrp import lstm as lstm_lrp
from xaugcol.explain.lrp.composite import Composite
from xaugcol.explain.lrp.graph import Program, Step, trace
from xaugcol.explain.lrp.layers import LinearLayer, batch_norm_affine, merge_batch_norm_after, merge_batch_norm_before
from xaugcol.explain.lrp.rules import Rule, per_jet, share


@dataclass
class Conservation:
    """Per jet: the explained output, the relevance summed over each input, and what biases and stabilisers
    absorbed on the way. ``output = sum(inputs) + bias + stabiliser`` up to rounding."""

    output: torch.Tensor
    inputs: tuple[torch.Tensor, ...]
    bias: torch.Tensor
    stabiliser: torch.Tensor

    @property
    def input_total(self) -> torch.Tensor:
        return torch.stack(self.inputs).sum(0)

    @property
    def residual(self) -> torch.Tensor:
        return self.output - self.input_total - self.bias - self.stabiliser

    def relative_residual(self) -> torch.Tensor:
        """|residual| over the scale of the terms (the output, or the inputs' total where that is larger)."""
        scale = torch.maximum(self.output.abs(), self.input_total.abs()).clamp(min=torch.finfo(self.output.dtype).tiny)
        return self.residual.abs() / scale

    def summary(self) -> dict:
        """Means over jets, for logs and JSON reports."""
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
    relevance: tuple[torch.Tensor, ...]  # one per model input, shaped like it
    output: torch.Tensor  # (batch,) the explained output (e.g. the logit)
    conservation: Conservation
    layers: dict[str, torch.Tensor] = field(default_factory=dict)  # relevance at recorded layer outputs


class LRP:
    """Layer-wise relevance propagation for a model built from supported layers (see ``graph``), with the rules of
    a ``Composite`` (or a preset name). Explains the model in inference mode: running batch-norm statistics, no
    dropout. Works on the device and dtype of the inputs (the model must be on the same device)."""

    def __init__(self, model: nn.Module, composite: Composite | str | dict = "epsilon"):
        self.model = model
        self.composite = Composite.from_spec(composite)
        self.program: Program = trace(model)
        linear = self.program.linear_steps()
        unmatched = self.composite.unmatched_names([s.name for s in linear])
        if unmatched:
            raise ValueError(f"composite: name pattern(s) {unmatched} match no dense or convolution layer; layers: "
                             f"{', '.join(s.name for s in linear)}")
        self.rules: dict[str, Rule] = {s.name: self.composite.rule_for(s.name, s.module, s.is_first) for s in linear}
        self._layers: dict[str, tuple] = {}

    def __call__(self, *inputs: torch.Tensor, target: int | None = None, batch_size: int | None = None,
                 record: tuple[str, ...] = ()) -> Explanation:
        return self.explain(*inputs, target=target, batch_size=batch_size, record=record)

    def explain(self, *inputs: torch.Tensor, target: int | None = None, batch_size: int | None = None,
                record: tuple[str, ...] = ()) -> Explanation:
        """Relevance of every input for the model output (``target``: the class index for multi-output models),
        in batches of ``batch_size`` jets; ``record`` names layers (module or node names) whose output relevance is
        returned too."""
        _check_inputs(inputs)
        if len(inputs) != self.program.n_inputs:
            raise ValueError(f"LRP: {type(self.model).__name__} takes {self.program.n_inputs} input(s), "
                             f"{len(inputs)} given")
        n = inputs[0].shape[0]
        if batch_size is None or n <= batch_size:
            return self._explain_batch(inputs, target, tuple(record))
        parts = [self._explain_batch(tuple(x[i:i + batch_size] for x in inputs), target, tuple(record))
                 for i in range(0, n, batch_size)]
        return _concatenate(parts)

    # -- one batch ----------------------------------------------------------------------------------------------
    def _explain_batch(self, inputs, target, record) -> Explanation:
        known = {s.name for s in self.program.steps} | {s.node.name for s in self.program.steps}
        missing = [r for r in record if r not in known]
        if missing:
            raise ValueError(f"record: no layer named {missing}")
        with torch.no_grad():
            env, layers, traces = self._forward(inputs)
            output_node = self.program.steps[-1].node.args[0]
            out = env[output_node]
            r0 = _initial_relevance(out, target)
            relevance, bias, kept, recorded = self._backward(env, layers, traces, r0, output_node, record)
        per_input = self._input_relevance(relevance, inputs)
        for k, r in enumerate(per_input):
            if not bool(torch.isfinite(r).all()):
                raise FloatingPointError(f"LRP produced non-finite relevance for input {k}: check the model output "
                                         f"and the rule parameters")
        output = per_jet(r0)
        conservation = Conservation(output, tuple(per_jet(r) for r in per_input), bias, kept)
        return Explanation(per_input, output, conservation, recorded)

    def _merged_weights(self, step: Step) -> LinearLayer:
        """The layer with its batch norms folded in; cached until a parameter or statistic changes (in place, by
        loading, or by moving the model)."""
        tensors = [t for m in (step.module, step.bn_after, step.bn_before) if m is not None
                   for t in (*m.parameters(recurse=False), *m.buffers(recurse=False))]
        key = tuple((t.data_ptr(), t._version, t.dtype) for t in tensors)
        cached = self._layers.get(step.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        m = step.module
        w, b = m.weight, m.bias
        if step.bn_after is not None:
            w, b = merge_batch_norm_after(w, b, step.bn_after)
        if step.bn_before is not None:
            w, b = merge_batch_norm_before(w, b, step.bn_before)
        layer = LinearLayer(m, w.detach(), None if b is None else b.detach())
        self._layers[step.name] = (key, layer)
        return layer

    def _forward(self, inputs):
        env: dict[fx.Node, object] = {}
        layers: dict[fx.Node, LinearLayer] = {}
        traces: dict[fx.Node, list] = {}
        pending = list(inputs)
        for step in self.program.steps:
            node = step.node
            kind = step.kind
            if kind == "input":
                if node.target.startswith("*"):
                    env[node], pending = tuple(pending), []
                else:
                    env[node] = pending.pop(0)
            elif kind == "output":
                pass
            elif kind == "linear":
                layer = self._merged_weights(step)
                x = env[node.args[0]]
                if step.bn_before is not None and x.dim() != 2:
                    raise ValueError(f"LRP: batch norm before {step.name!r} sees {x.dim()}-d input; only (batch, "
                                     f"features) can be merged into a dense layer")
                layers[node] = layer
                env[node] = layer.forward(x, layer.weight, layer.bias)
            elif kind == "identity":
                env[node] = env[node.args[0]]
            elif kind == "batchnorm":
                env[node] = _affine(step.module, env[node.args[0]])
            elif kind == "lstm":
                env[node], traces[node] = lstm_lrp.forward(step.module, env[node.args[0]])
            elif kind in ("route", "norm"):
                env[node], traces[node] = self._taped(node, env)
            else:
                env[node] = self._call(node, env)
        return env, layers, traces

    def _taped(self, node: fx.Node, env):
        """Run a selection / pooling / sum node with autograd on, keeping its graph: its vector-Jacobian product
        routes relevance later without running it again."""
        sources = [n for n in node.all_input_nodes if isinstance(env[n], torch.Tensor)]
        with torch.enable_grad():
            leaves = {n: env[n].detach().requires_grad_(True) for n in sources}
            out = self._call(node, env, leaves)
        return out.detach(), (out, sources, [leaves[n] for n in sources])

    def _call(self, node: fx.Node, env, override: dict | None = None):
        def value(n):
            return override[n] if override and n in override else env[n]
        args = fx.node.map_arg(node.args, value)
        kwargs = fx.node.map_arg(node.kwargs, value)
        if node.op == "call_module":
            return self.program.modules[node.target](*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        return getattr(args[0], node.target)(*args[1:], **kwargs)

    def _backward(self, env, layers, traces, r0, output_node, record):
        relevance: dict[fx.Node, object] = {output_node: r0}
        batch = r0.shape[0]
        bias = r0.new_zeros(batch)
        kept = r0.new_zeros(batch)
        recorded = {}
        stab = self.composite.stabiliser
        for step in reversed(self.program.steps):
            node = step.node
            r = relevance.pop(node, None)
            if r is None or step.kind in ("input", "output", "constant"):
                if r is not None:
                    relevance[node] = r  # keep input relevance
                continue
            if step.name in record or node.name in record:
                recorded[step.name if step.name in record else node.name] = r
            kind = step.kind
            if kind == "linear":
                x = env[node.args[0]]
                shares = self.rules[step.name].apply(layers[node], x, env[node], r)
                _give(relevance, node.args[0], shares.relevance)
                bias, kept = bias + shares.bias, kept + shares.stabiliser
            elif kind in ("identity", "pass", "scale"):
                source = next(a for a in node.args if isinstance(a, fx.Node))
                _give(relevance, source, r)
            elif kind == "reshape":
                source = node.args[0]
                _give(relevance, source, r.reshape(env[source].shape))
            elif kind == "route":
                for source, g in _vjp(traces[node], r):
                    _give(relevance, source, g)
            elif kind == "batchnorm":
                x, z = env[node.args[0]], env[node]
                scale, shift = _channel_view(batch_norm_affine(step.module), x)
                s, k = share(r, z, stab)
                _give(relevance, node.args[0], x * scale * s)
                bias, kept = bias + per_jet(s * shift.expand_as(s)), kept + k
            elif kind == "norm":
                s, k = share(r, env[node], stab)
                for source, g in _vjp(traces[node], s):
                    _give(relevance, source, env[source] * g)
                kept = kept + k
            elif kind == "add":
                b, k = self._add(node, env, r, step.sign, relevance)
                bias, kept = bias + b, kept + k
            elif kind == "lstm":
                struct = r if isinstance(r, dict) else {0: r}
                states = struct.get(1, {})
                r_x, b, k = lstm_lrp.relevance(step.module, traces[node], struct.get(0), states.get(0),
                                               states.get(1), self.composite.lstm)
                _give(relevance, node.args[0], r_x)
                bias, kept = bias + b, kept + k
            elif kind == "item":
                parent, index = node.args
                struct = relevance.setdefault(parent, {})
                struct[index] = struct[index] + r if index in struct else r
        return relevance, bias, kept, recorded

    def _add(self, node, env, r, sign, relevance):
        """``z = a + b`` (or ``a - b``): every term gets its share of the relevance; constant terms act as a
        bias."""
        terms = []
        for k, a in enumerate(node.args[:2]):
            value = env[a] if isinstance(a, fx.Node) else a
            terms.append((a, value if k == 0 or sign > 0 else -value))
        z = env[node]
        s, kept = share(r, z, self.composite.stabiliser)
        bias = r.new_zeros(r.shape[0])
        for source, value in terms:
            contribution = s * value
            if isinstance(source, fx.Node):
                _give(relevance, source, contribution.sum_to_size(env[source].shape))
            else:
                bias = bias + per_jet(contribution)
        return bias, kept

    def _input_relevance(self, relevance, inputs):
        out = []
        for node in self.program.placeholders:
            r = relevance.get(node)
            if node.target.startswith("*"):
                struct = r or {}
                out += [struct.get(k, torch.zeros_like(x)) for k, x in enumerate(inputs[len(out):])]
            else:
                out.append(r if r is not None else torch.zeros_like(inputs[len(out)]))
        return tuple(out)


def _vjp(tape, r):
    """Input gradients of ``<r, output>`` on a taped node: exactly where selections, permutations and max pooling
    took their elements from (and the transposed map of a linear pooling)."""
    out, sources, leaves = tape
    grads = torch.autograd.grad(out, leaves, r, allow_unused=True, retain_graph=False)
    return [(n, g) for n, g in zip(sources, grads) if g is not None]


def _give(relevance: dict, node, r) -> None:
    if not isinstance(node, fx.Node):
        return
    relevance[node] = relevance[node] + r if node in relevance else r


def _channel_view(affine, x):
    scale, shift = affine
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return scale.view(shape), shift.view(shape)


def _affine(bn, x):
    scale, shift = _channel_view(batch_norm_affine(bn), x)
    return x * scale + shift


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


def _concatenate(parts: list[Explanation]) -> Explanation:
    def cat(ts):
        return torch.cat(list(ts))
    first = parts[0]
    n_in = len(first.relevance)
    cons = Conservation(cat(p.conservation.output for p in parts),
                        tuple(cat(p.conservation.inputs[k] for p in parts) for k in range(n_in)),
                        cat(p.conservation.bias for p in parts), cat(p.conservation.stabiliser for p in parts))
    return Explanation(tuple(cat(p.relevance[k] for p in parts) for k in range(n_in)), cat(p.output for p in parts),
                       cons, {name: cat(p.layers[name] for p in parts) for name in first.layers})

