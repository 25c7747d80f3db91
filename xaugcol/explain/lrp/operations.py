"""Every operation LRP knows, in one table.

The table says how a graph node is recognised, what its forward pass keeps, and how relevance passes back through
it. The engine (``engine``) only walks the graph and asks this table; a new operation (the gathers and scatter-sums
of a graph network, say) is one ``Operation`` subclass and one entry in ``OPERATIONS``.

Each operation:
* ``claim(node, modules, known)``: the ``Step`` for a node it handles (None otherwise); the first operation that
  claims a node, in table order, handles it;
* ``forward(ctx, step, env)``: the node's value; what the backward pass needs goes into ``ctx.state[node]``;
* ``backward(ctx, step, r, env, give)``: hands relevance ``r`` to the node's inputs with ``give(source, r)`` (or
  to one element of a tuple-valued input with ``give.item(parent, index, r)``) and returns the per-jet relevance
  absorbed (bias, stabiliser; either may be None), or None.

``ctx`` is the running ``LRP`` (its rules, composite, merged weights and ``call`` of a node).
"""

from __future__ import annotations

import builtins
import operator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from xaugcol.errors import UsageError
from xaugcol.explain.lrp import lstm as lstm_lrp
from xaugcol.explain.lrp.composite import Composite
from xaugcol.explain.lrp.facts import LayerFacts
from xaugcol.explain.lrp.rules import Rule, per_jet, share
from xaugcol.layers import (
    AtLastReal,
    EnergyWeighting,
    Join,
    KNearest,
    MaskedReLU,
    PairOfInputs,
    PairwiseLinear,
    RealParticles,
    SoftestFirst,
    WeightedLayer,
    batch_norm_affine,
)

# the values of the forward pass, per graph node (a node's args are typed as any fx Argument: looked up as Any)
Env = dict[Any, Any]
# what a backward pass absorbed per jet: (bias, stabiliser), either None; or None for neither
Absorbed = tuple[torch.Tensor | None, torch.Tensor | None] | None


class Context(Protocol):
    """What an operation reads of the running LRP (``engine.LRP``).

    Its composite, rules and graph facts, the state its forward passes keep for the backward pass, and how a node
    runs. A type for checkers, never instantiated itself.
    """

    composite: Composite
    rules: dict[str, Rule]
    facts: dict[str, LayerFacts]
    state: dict[fx.Node, Any]

    def call(self, node: fx.Node, env: dict[Any, Any], override: dict[fx.Node, torch.Tensor] | None = None) -> Any:
        """Run one node on the values in ``env`` (``engine.LRP.call``).

        Parameters
        ----------
        node : torch.fx.Node
            The node.
        env : dict
            The value of every node run so far.
        override : dict of torch.fx.Node to torch.Tensor, optional
            Other values for some of its inputs.

        Returns
        -------
        Any
            The node's output.
        """
        ...

    def next_input(self, node: fx.Node) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The model input a placeholder reads (all remaining ones for ``*inputs``; ``engine.LRP.next_input``).

        Parameters
        ----------
        node : torch.fx.Node
            The placeholder.

        Returns
        -------
        torch.Tensor or tuple of torch.Tensor
            Its input.
        """
        ...

    def merged_weights(self, step: Step) -> WeightedLayer[Any]:
        """The layer of a linear step as the rules see it, batch norms merged (``engine.LRP.merged_weights``).

        Parameters
        ----------
        step : Step
            A step of kind ``linear``.

        Returns
        -------
        WeightedLayer
            A ``LinearLayer`` or a ``PairLayer``.
        """
        ...


class Give(Protocol):
    """How an operation hands relevance on (the engine's flow).

    Calling it hands relevance to a node (a non-node argument takes none, its relevance is dropped), added to what
    the node has received already; ``item`` hands it to one element of a tuple-valued node. A type for checkers,
    never instantiated itself.
    """

    def __call__(self, node: object, r: Any) -> None: ...

    def item(self, parent: fx.Node, index: Any, r: Any) -> None:
        """Hand relevance to one element of a tuple-valued node (collected per element).

        Parameters
        ----------
        parent : torch.fx.Node
            The node that returned the tuple.
        index : Any
            The element's index (an ``int``; a nested tuple's elements are collected in a nested dict).
        r : Any
            The element's relevance, added to what it has received already.
        """
        ...


class LRPUnsupportedError(UsageError):
    """The model holds an operation LRP has no rule for."""


def target_name(node: fx.Node) -> str:
    """The target of a placeholder, module or method node: a name.

    torch.fx types every target as a name or a function; only a function call's is a function.

    Parameters
    ----------
    node : torch.fx.Node
        A placeholder (``*inputs`` for a starred argument), ``call_module`` or ``call_method`` node.

    Returns
    -------
    str
        The placeholder's argument name, the module's qualified name or the method's name.

    Raises
    ------
    TypeError
        For a node whose target is a function.
    """
    target = node.target
    if not isinstance(target, str):
        raise TypeError(f"graph node {node.name!r} ({node.op}) calls a function, not a name")
    return target


@dataclass
class Step:
    """A node of the traced graph as LRP handles it.

    Which operation handles it (``kind``), the module it calls, and what the graph analysis found (merged batch
    norms, first layer).

    Parameters
    ----------
    node : torch.fx.Node
        The graph node.
    kind : str
        The ``OPERATIONS`` key of the operation that handles it.
    module : torch.nn.Module, optional
        The module a ``call_module`` node calls; None for functions and methods.
    name : str, default ""
        The module's qualified name, or the node name for functions (the name composites and ``record`` use).
    bn_after : torch.nn.BatchNorm1d or torch.nn.BatchNorm2d, optional
        A batch norm merged into this layer (layer -> bn).
    bn_before : torch.nn.BatchNorm1d, optional
        A batch norm merged into this dense layer (bn -> layer).
    is_first : bool, default False
        Whether this layer is fed directly by a model input (the composite's ``first`` rule applies).
    sign : int, default 1
        For ``add``: +1 for an addition, -1 for a subtraction.
    extra : dict, optional
        Further facts of the operation (``two_tensors`` for a product of two tensors, ``merged_into`` for a
        merged batch norm); default: empty.
    """

    node: fx.Node
    kind: str  # the OPERATIONS key
    module: nn.Module | None = None
    name: str = ""  # module name, or the node name for functions
    bn_after: nn.BatchNorm1d | nn.BatchNorm2d | None = None  # batch norm merged into this layer (layer -> bn)
    bn_before: nn.BatchNorm1d | None = None  # batch norm merged into this dense layer (bn -> layer)
    is_first: bool = False
    sign: int = 1  # for add/sub
    extra: dict = field(default_factory=dict)


class Operation:
    """Recognises nodes by module type, by function or by tensor-method name."""

    kind = ""
    modules: tuple[type[nn.Module], ...] = ()
    functions: frozenset = frozenset()
    methods: frozenset = frozenset()

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of a node that calls one of ``modules``, ``functions`` or ``methods``; None otherwise.

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step of this ``kind``, or None where the node is not one of this operation's.
        """
        if node.op == "call_module" and isinstance(modules[target_name(node)], self.modules):
            return Step(node, self.kind, modules[target_name(node)], target_name(node))
        if (node.op == "call_function" and node.target in self.functions) or (
            node.op == "call_method" and node.target in self.methods
        ):
            return Step(node, self.kind, name=node.name)
        return None

    def forward(self, ctx: Context, step: Step, env: Env) -> Any:
        """The node's value: the node run as the model runs it.

        Parameters
        ----------
        ctx : Context
            The running LRP; ``ctx.state[step.node]`` keeps what the backward pass needs.
        step : Step
            The node's step.
        env : dict
            The value of every node run so far.

        Returns
        -------
        Any
            The node's output.
        """
        return ctx.call(step.node, env)

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Hand ``r`` on to the node's inputs with ``give``; each operation defines how.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            The per-jet relevance absorbed, (bias, stabiliser), either may be None; or None for neither.
        """
        raise NotImplementedError


def _source(node: fx.Node) -> fx.Node:
    return next(a for a in node.args if isinstance(a, fx.Node))


class Input(Operation):
    """A model input (a placeholder): keeps the relevance it receives, the result."""

    kind = "input"

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of a placeholder (a model input).

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step for a placeholder node, else None.
        """
        return Step(node, self.kind, name=node.name) if node.op == "placeholder" else None

    def forward(self, ctx: Context, step: Step, env: Env) -> Any:
        """The model input the placeholder reads.

        Parameters
        ----------
        ctx : Context
            The running LRP; ``ctx.state[step.node]`` keeps what the backward pass needs.
        step : Step
            The node's step.
        env : dict
            The value of every node run so far.

        Returns
        -------
        Any
            The input tensor (a tuple of all remaining inputs for ``*inputs``).
        """
        return ctx.next_input(step.node)

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Keep ``r``: handed to the placeholder itself, it is the input's relevance.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        give(step.node, r)  # kept: the relevance of a model input
        return None


class Output(Operation):
    """The graph's output node: the explained output, where relevance starts."""

    kind = "output"

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of the graph's output node, named ``output``.

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step for the output node, else None.
        """
        return Step(node, self.kind, name="output") if node.op == "output" else None

    def forward(self, ctx: Context, step: Step, env: Env) -> Any:
        """Nothing: the engine reads the explained output from the output node's argument.

        Parameters
        ----------
        ctx : Context
            The running LRP; ``ctx.state[step.node]`` keeps what the backward pass needs.
        step : Step
            The node's step.
        env : dict
            The value of every node run so far.

        Returns
        -------
        Any
            None.
        """
        return None

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Nothing to hand on: the engine starts the backward pass at the output node's argument.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        return None


class Indicator(Operation):
    """A mask computed from an input (``RealParticles``), or any function of masks and constants alone (the mask
    of real track pairs, the pairs i != j): piecewise constant, so it takes no relevance; the products with it
    (``Scale``) are selections."""

    kind = "indicator"
    modules = (RealParticles, KNearest)  # KNearest: ParticleNet's neighbours, fixed routing for LRP

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of a mask module, or of a function or method of indicators and constants alone.

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step of kind ``indicator``, else None.
        """
        step = super().claim(node, modules, known)
        if (
            step is None
            and node.op in ("call_function", "call_method")
            and node.all_input_nodes
            and all(known[n].kind in ("indicator", "constant") for n in node.all_input_nodes)
        ):
            return Step(node, self.kind, name=node.name)
        return step

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Take no relevance: a piecewise-constant mask has none.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        return None


class Constant(Operation):
    """Parameters and buffers read directly, a tensor's shape, dtype and device, and tensors made from those alone
    (``torch.eye(n)``): they carry no relevance."""

    kind = "constant"
    METADATA = frozenset({"shape", "dtype", "device"})
    FACTORIES = frozenset({torch.eye, torch.ones, torch.zeros, torch.arange, torch.full})

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of a parameter or buffer read, a tensor's metadata, or a tensor made from constants alone.

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step of kind ``constant``, else None.
        """
        if (
            node.op == "get_attr"
            or (node.op == "call_function" and node.target is builtins.getattr and node.args[1] in self.METADATA)
            or (node.op == "call_method" and node.target in ("size", "dim"))
        ):
            return Step(node, self.kind, name=node.name)
        if (
            node.op == "call_function"
            and (node.target in self.FACTORIES or node.target is operator.getitem)
            and all(known[n].kind == "constant" for n in node.all_input_nodes)
        ):
            return Step(node, self.kind, name=node.name)  # shape[1], eye(shape[1]); a plain getitem of a constant
        return None

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Take no relevance: a constant carries none.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        return None


class Linear(Operation):
    """Dense and convolution layers (batch norms merged in), and the pair layer of the Interaction Network (a dense
    layer on every concatenated pair of two object lists): the composite's rule for this layer."""

    kind = "linear"
    modules = (nn.Linear, nn.Conv1d, nn.Conv2d, PairwiseLinear)

    def forward(self, ctx: Context, step: Step, env: Env) -> Any:
        """The layer's output with its merged weights, the merged layer kept for the backward pass.

        Parameters
        ----------
        ctx : Context
            The running LRP; ``ctx.state[step.node]`` keeps what the backward pass needs.
        step : Step
            The node's step.
        env : dict
            The value of every node run so far.

        Returns
        -------
        Any
            The output, a tensor of shape (batch, ...).
        """
        layer = ctx.merged_weights(step)
        x = self._input(step, env)
        if step.bn_before is not None and x.dim() != 2:
            raise ValueError(
                f"LRP: batch norm before {step.name!r} sees {x.dim()}-d input; only (batch, "
                f"features) can be merged into a dense layer"
            )
        ctx.state[step.node] = layer
        return layer.forward(x, layer.weight, layer.bias)

    @staticmethod
    def _input(step, env):
        if isinstance(step.module, PairwiseLinear):
            return PairOfInputs(*(env[a] for a in step.node.args[:2]))
        return env[step.node.args[0]]

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Share ``r`` among the layer's input(s) with the composite's rule for this layer.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            The rule's per-jet (bias, stabiliser) shares.
        """
        node = step.node
        shares = ctx.rules[step.name].apply(ctx.state[node], self._input(step, env), env[node], r, ctx.facts[step.name])
        if isinstance(shares.relevance, PairOfInputs):  # receivers and senders (the same list for track pairs)
            give(node.args[0], shares.relevance.receivers)
            give(node.args[1], shares.relevance.senders)
        else:
            give(node.args[0], shares.relevance)
        return shares.bias, shares.stabiliser


class BatchNorm(Operation):
    """A batch norm that could not be merged into a neighbouring layer: an affine map, epsilon rule."""

    kind = "batchnorm"
    modules = (nn.BatchNorm1d, nn.BatchNorm2d)

    def forward(self, ctx: Context, step: Step, env: Env) -> Any:
        """The batch norm as an affine map with its running statistics (inference mode).

        Parameters
        ----------
        ctx : Context
            The running LRP; ``ctx.state[step.node]`` keeps what the backward pass needs.
        step : Step
            The node's step.
        env : dict
            The value of every node run so far.

        Returns
        -------
        Any
            ``x * scale + shift`` per channel, shaped like the input.
        """
        scale, shift = _channel_view(batch_norm_affine(_batch_norm(step)), env[step.node.args[0]])
        return env[step.node.args[0]] * scale + shift

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Share ``r`` with the epsilon rule (the composite's stabiliser): ``x * scale * r / z`` to the input.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            The shift's share as the bias, and the stabiliser's share, per jet.
        """
        x, z = env[step.node.args[0]], env[step.node]
        scale, shift = _channel_view(batch_norm_affine(_batch_norm(step)), x)
        s, kept = share(r, z, ctx.composite.stabiliser)
        give(step.node.args[0], x * scale * s)
        return per_jet(s * shift.expand_as(s)), kept


class LSTM(Operation):
    """An ``nn.LSTM`` (unidirectional, unprojected): the composite's LSTM rule (``lstm.SignalTakeAll``)."""

    kind = "lstm"

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of an ``nn.LSTM`` module called on its input alone.

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step of kind ``lstm``, else None.

        Raises
        ------
        ValueError
            For a bidirectional or projected LSTM.
        LRPUnsupportedError
            For an LSTM called with an initial state or keywords.
        """
        if node.op != "call_module" or not isinstance(module := modules[target_name(node)], nn.LSTM):
            return None
        lstm_lrp.check_supported(module, target_name(node))
        if len(node.args) != 1 or node.kwargs:
            raise LRPUnsupportedError(
                f"LRP: LSTM {node.target!r} must be called on its input alone (a zero initial state)"
            )
        return Step(node, self.kind, module, target_name(node))

    def forward(self, ctx: Context, step: Step, env: Env) -> Any:
        """The LSTM run by ``lstm.forward`` (zero initial state), its per-layer traces kept for the backward pass.

        Parameters
        ----------
        ctx : Context
            The running LRP; ``ctx.state[step.node]`` keeps what the backward pass needs.
        step : Step
            The node's step.
        env : dict
            The value of every node run so far.

        Returns
        -------
        Any
            ``(out, (h_n, c_n))`` as torch returns them.
        """
        out, ctx.state[step.node] = lstm_lrp.forward(cast(nn.LSTM, step.module), env[step.node.args[0]])
        return out

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Hand the relevance of the output sequence and the final states to the input with the composite's LSTM rule.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            The rule's per-jet (bias, stabiliser) shares.
        """
        struct = r if isinstance(r, dict) else {0: r}
        states = struct.get(1, {})
        r_x, bias, kept = lstm_lrp.relevance(
            cast(nn.LSTM, step.module),
            ctx.state[step.node],
            struct.get(0),
            states.get(0),
            states.get(1),
            ctx.composite.lstm,
        )
        give(step.node.args[0], r_x)
        return bias, kept


class Item(Operation):
    """An element of a tuple a node returned (the LSTM's (output, (h_n, c_n)), ``forward(*inputs)``, the
    (values, indices) of ``max(dim)``): relevance collects per element in the parent's structure."""

    kind = "item"
    TUPLE_KINDS = ("lstm", "input", "select", "item")

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of an element (``getitem``, or ``getattr`` such as ``.values``) of a tuple-valued node.

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step of kind ``item`` where the parent returns a tuple (an LSTM, ``*inputs``, ``max(dim)``, an
            LSTM's state pair), else None.
        """
        if (
            node.op != "call_function"
            or node.target not in (operator.getitem, builtins.getattr)
            or not isinstance(node.args[0], fx.Node)
        ):
            return None
        parent = known[node.args[0]]
        yields_tuple = (
            parent.kind in ("lstm", "select")
            or (parent.kind == "input" and target_name(parent.node).startswith("*"))
            or (
                parent.kind == "item"
                and parent.node.args[1] == 1
                and known[cast(fx.Node, parent.node.args[0])].kind == "lstm"
            )
        )
        return Step(node, self.kind, name=node.name) if yields_tuple else None

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Hand ``r`` to the parent's element (``values`` is element 0).

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        parent, index = step.node.args
        give.item(cast(fx.Node, parent), 0 if index == "values" else index, r)  # claim: a node's element
        return None


class Identity(Operation):
    """Modules that leave their input as it is in inference mode (identity, dropout): relevance passes through."""

    kind = "identity"
    modules = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)

    def forward(self, ctx: Context, step: Step, env: Env) -> Any:
        """The input itself (identity and dropout in inference mode).

        Parameters
        ----------
        ctx : Context
            The running LRP; ``ctx.state[step.node]`` keeps what the backward pass needs.
        step : Step
            The node's step.
        env : dict
            The value of every node run so far.

        Returns
        -------
        Any
            The input's value.
        """
        return env[step.node.args[0]]

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Hand ``r`` to the input unchanged.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        give(step.node.args[0], r)
        return None


class Pass(Operation):
    """Elementwise activations: relevance passes unchanged (it is zero wherever the output is zero)."""

    kind = "pass"
    modules = (
        nn.ReLU,
        MaskedReLU,
        nn.ReLU6,
        nn.LeakyReLU,
        nn.PReLU,
        nn.ELU,
        nn.CELU,
        nn.SELU,
        nn.GELU,
        nn.SiLU,
        nn.Softplus,
        nn.Mish,
        nn.Hardswish,
    )
    functions = frozenset({torch.relu, F.relu, F.relu6, F.leaky_relu, F.elu, F.gelu, F.silu, F.softplus})
    methods = frozenset({"relu"})

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Hand ``r`` unchanged to the activation's (first tensor) input.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        give(_source(step.node), r)
        return None


class Gate(Operation):
    """``EnergyWeighting``: Phi times a gate z computed from the input; the relevance goes to Phi (signal-take-all)."""

    kind = "gate"
    modules = (EnergyWeighting,)

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Hand ``r`` to Phi (the first argument); the gate z gets none.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        give(step.node.args[0], r)
        return None


class Reshape(Operation):
    """Flatten, reshape, view, squeeze and their kind: relevance is reshaped back to the input's shape."""

    kind = "reshape"
    modules = (nn.Flatten, nn.Unflatten)
    functions = frozenset({torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze})
    methods = frozenset({"view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous"})

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Hand ``r``, reshaped to the input's shape, to the input.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        source = step.node.args[0]
        give(source, r.reshape(env[source].shape))
        return None


class Taped(Operation):
    """Runs with autograd on, keeping its graph: the vector-Jacobian product routes relevance later without
    running the node again."""

    def forward(self, ctx: Context, step: Step, env: Env) -> Any:
        """The node run with autograd on its floating-point tensor inputs, the tape kept for the backward pass.

        Parameters
        ----------
        ctx : Context
            The running LRP; ``ctx.state[step.node]`` keeps what the backward pass needs.
        step : Step
            The node's step.
        env : dict
            The value of every node run so far.

        Returns
        -------
        Any
            The node's output, detached (``detached``).
        """
        node = step.node
        sources = [n for n in node.all_input_nodes if isinstance(env[n], torch.Tensor)]
        with torch.enable_grad():  # integer inputs (indices) are not differentiable: taken as they are
            leaves = {n: env[n].detach().requires_grad_(env[n].is_floating_point()) for n in sources}
            out = ctx.call(node, env, leaves)
        taped = self.taped_tensor(out)
        ctx.state[node] = (taped, sources, [leaves[n] for n in sources])
        return self.detached(out)

    @staticmethod
    def taped_tensor(out: Any) -> torch.Tensor:
        """The tensor of a node's output whose vector-Jacobian product routes relevance.

        Parameters
        ----------
        out : Any
            The node's output, computed with autograd on.

        Returns
        -------
        torch.Tensor
            ``out`` itself.
        """
        return out

    @staticmethod
    def detached(out: Any) -> Any:
        """A node's output as the forward pass hands it on: without its autograd graph.

        Parameters
        ----------
        out : Any
            The node's output, computed with autograd on.

        Returns
        -------
        Any
            ``out.detach()``.
        """
        return out.detach()


class Route(Taped):
    """Selections and permutations (per-jet ones too: gathers, the particle taggers' reordering), max pooling and
    global maxima (winner takes all), concatenation and ``where`` / ``masked_fill``: relevance follows the
    elements, which is what the vector-Jacobian product of these maps does."""

    kind = "route"
    modules = (nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, Join, SoftestFirst, AtLastReal)
    functions = frozenset(
        {
            torch.cat,
            torch.concat,
            torch.stack,
            torch.flip,
            torch.transpose,
            torch.permute,
            torch.narrow,
            torch.movedim,
            operator.getitem,
            F.max_pool1d,
            F.max_pool2d,
            F.adaptive_max_pool1d,
            F.adaptive_max_pool2d,
            torch.amax,
            torch.amin,
            torch.where,
            torch.masked_fill,
            torch.gather,
            torch.take_along_dim,
            torch.index_select,
        }
    )
    methods = frozenset(
        {
            "transpose",
            "permute",
            "flip",
            "narrow",
            "movedim",
            "t",
            "__getitem__",
            "amax",
            "amin",
            "masked_fill",
            "gather",
            "take_along_dim",
            "index_select",
            "expand",  # a copy per neighbour (EdgeConv's x_i): relevance sums back over the copies
            "expand_as",
        }
    )

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of a global max / min (one argument), or of one of ``modules``, ``functions`` or ``methods``.

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step of kind ``route``, else None.
        """
        if (
            node.op in ("call_function", "call_method")
            and node.target in (torch.max, torch.min, "max", "min")
            and len(node.args) == 1
            and not node.kwargs
        ):
            return Step(node, self.kind, name=node.name)  # global max / min: a tensor
        return super().claim(node, modules, known)

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Route ``r`` to the input elements it came from: the vector-Jacobian product of the taped node.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        for source, g in _vjp(ctx.state[step.node], r):
            give(source, g)
        return None


class Select(Taped):
    """``max`` / ``min`` along a dimension, which return (values, indices): the values route relevance to the
    elements chosen (winner takes all), the indices carry none."""

    kind = "select"

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of ``max`` / ``min`` along a dimension.

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step of kind ``select``, else None.
        """
        if (
            node.op in ("call_function", "call_method")
            and node.target in (torch.max, torch.min, "max", "min")
            and _has_dim(node)
        ):
            return Step(node, self.kind, name=node.name)
        return None

    @staticmethod
    def taped_tensor(out: Any) -> torch.Tensor:
        """The values of a (values, indices) result: they route relevance.

        Parameters
        ----------
        out : Any
            The ``torch.return_types.max`` / ``min`` of the node.

        Returns
        -------
        torch.Tensor
            ``out.values``.
        """
        return out.values

    @staticmethod
    def detached(out: Any) -> Any:
        """The (values, indices) result with its values detached.

        Parameters
        ----------
        out : Any
            The ``torch.return_types.max`` / ``min`` of the node.

        Returns
        -------
        Any
            A result of the same type, values detached, indices as they are.
        """
        return type(out)((out.values.detach(), out.indices))

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Route the values' relevance (element 0) to the chosen input elements; the indices carry none.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        r = r.get(0) if isinstance(r, dict) else r
        if r is not None:
            for source, g in _vjp(ctx.state[step.node], r):
                give(source, g)
        return None


class Norm(Taped):
    """Parameter-free linear maps (average pooling, sums and means over particles): epsilon rule with the
    composite's stabiliser."""

    kind = "norm"
    modules = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
    functions = frozenset(
        {torch.sum, torch.mean, F.avg_pool1d, F.avg_pool2d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d}
    )
    methods = frozenset({"sum", "mean"})

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Share ``r`` with the epsilon rule (the composite's stabiliser) through the map's transpose.

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            ``(None, stabiliser share)``: the map has no bias.
        """
        s, kept = share(r, env[step.node], ctx.composite.stabiliser)
        for source, g in _vjp(ctx.state[step.node], s):
            give(source, env[source] * g)
        return None, kept


class Add(Operation):
    """``z = a + b`` (or ``a - b``): every term gets its share of the relevance; constant terms act as a bias."""

    kind = "add"
    SIGNS = {operator.add: 1, torch.add: 1, operator.sub: -1, torch.sub: -1, "add": 1, "sub": -1}

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of an addition or subtraction without ``alpha``, its ``sign`` set.

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step of kind ``add``, else None.
        """
        if node.op in ("call_function", "call_method") and node.target in self.SIGNS and "alpha" not in node.kwargs:
            return Step(node, self.kind, name=node.name, sign=self.SIGNS[node.target])
        return None

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Share ``r`` among the two terms in proportion to their values (epsilon rule, the composite's stabiliser).

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            The constant terms' share as the bias, and the stabiliser's share, per jet.
        """
        node = step.node
        terms: list[tuple[fx.node.Argument, Any]] = []
        for k, a in enumerate(node.args[:2]):
            value: Any = env[a] if isinstance(a, fx.Node) else a
            terms.append((a, value if k == 0 or step.sign > 0 else -value))
        s, kept = share(r, env[node], ctx.composite.stabiliser)
        bias = r.new_zeros(r.shape[0])
        for source, value in terms:
            contribution = s * value
            if isinstance(source, fx.Node):
                give(source, contribution.sum_to_size(env[source].shape))
            else:
                bias = bias + per_jet(contribution)
        return bias, kept


class Scale(Operation):
    """``c * x``, ``x * c``, ``x / c``, ``-x`` with a constant c: relevance passes to x unchanged. Two tensors:
    ``x / d`` treats the denominator as a normaliser (the count of a masked mean: relevance to the numerator, as
    for any mean), and ``x * m`` with a factor whose values are all 0 or 1 is a mask, a selection (relevance to
    the other factor); a product of two signals is refused when it runs."""

    kind = "scale"
    FUNCTIONS = {operator.mul, torch.mul, operator.truediv, torch.div, operator.neg, torch.neg, "mul", "div", "neg"}

    def claim(self, node: fx.Node, modules: dict[str, nn.Module], known: dict[fx.Node, Step]) -> Step | None:
        """The step of a product, quotient or negation with a constant, or of a product or quotient of two tensors.

        Parameters
        ----------
        node : torch.fx.Node
            The graph node.
        modules : dict of str to torch.nn.Module
            The model's modules by qualified name.
        known : dict of torch.fx.Node to Step
            The steps of the nodes classified so far (every input of ``node``).

        Returns
        -------
        Step or None
            A step of kind ``scale`` (``extra['two_tensors']`` for two tensors), else None (``c / x``).
        """
        if node.op not in ("call_function", "call_method") or node.target not in self.FUNCTIONS:
            return None
        tensors = [a for a in node.args if isinstance(a, fx.Node)]
        if len(tensors) == 1 and (
            node.target not in (operator.truediv, torch.div, "div") or isinstance(node.args[0], fx.Node)
        ):
            return Step(node, self.kind, name=node.name)  # not c / x, which is not linear
        if len(tensors) == 2 and not node.kwargs:
            return Step(node, self.kind, name=node.name, extra={"two_tensors": True})
        return None

    def forward(self, ctx: Context, step: Step, env: Env) -> Any:
        """The node's value; for two tensors, which one is the signal is kept for the backward pass.

        Parameters
        ----------
        ctx : Context
            The running LRP; ``ctx.state[step.node]`` keeps what the backward pass needs.
        step : Step
            The node's step.
        env : dict
            The value of every node run so far.

        Returns
        -------
        Any
            The node's output.

        Raises
        ------
        ValueError
            For a product of two tensors where both or neither are 0/1 masks.
        """
        out = ctx.call(step.node, env)
        if step.extra.get("two_tensors"):
            ctx.state[step.node] = self._signal(step, env)
        return out

    def _signal(self, step, env) -> fx.Node:
        a, b = step.node.args[:2]
        if step.node.target in (operator.truediv, torch.div, "div"):
            return a
        masks = [_is_mask(env[n]) for n in (a, b)]
        if masks[0] == masks[1]:
            raise ValueError(
                f"LRP: {step.name!r} multiplies two tensors, "
                + ("both 0/1 masks" if masks[0] else "neither a 0/1 mask")
                + ": only a product with a mask (a "
                "selection) has a rule"
            )
        return b if masks[0] else a

    def backward(self, ctx: Context, step: Step, r: Any, env: Env, give: Give) -> Absorbed:
        """Hand ``r`` unchanged to the signal (summed to its shape where it was broadcast).

        Parameters
        ----------
        ctx : Context
            The running LRP.
        step : Step
            The node's step.
        r : Any
            The relevance at the node's output, shaped like it (a dict by element for a tuple-valued node).
        env : dict
            The value of every node of the forward pass.
        give : Give
            Hands relevance on to the node's inputs.

        Returns
        -------
        tuple of (torch.Tensor or None, torch.Tensor or None), or None
            None: nothing absorbed.
        """
        source = ctx.state[step.node] if step.extra.get("two_tensors") else _source(step.node)
        give(source, r.sum_to_size(env[source].shape))
        return None


def _batch_norm(step: Step) -> nn.BatchNorm1d | nn.BatchNorm2d:
    return cast(nn.BatchNorm1d | nn.BatchNorm2d, step.module)  # claimed by module type: BatchNorm.modules


def _is_mask(t) -> bool:
    return isinstance(t, torch.Tensor) and (t.dtype == torch.bool or bool(((t == 0) | (t == 1)).all()))


def _has_dim(node: fx.Node) -> bool:
    """``max(x, dim)`` (values and indices), not ``max(x, y)`` (elementwise, two tensors)."""
    return (len(node.args) >= 2 and isinstance(node.args[1], int)) or "dim" in node.kwargs


def _vjp(tape, r):
    """Input gradients of ``<r, output>`` on a taped node: exactly where selections, permutations and max pooling
    took their elements from (and the transposed map of a linear pooling)."""
    out, sources, leaves = tape
    # integer inputs (a gather's indices) are no leaves of the tape: they take no relevance
    signal = [(n, leaf) for n, leaf in zip(sources, leaves) if leaf.requires_grad]
    grads = torch.autograd.grad(out, [leaf for _, leaf in signal], r, allow_unused=True, retain_graph=False)
    return [(n, g) for (n, _), g in zip(signal, grads) if g is not None]


def _channel_view(affine, x):
    scale, shift = affine
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return scale.view(shape), shift.view(shape)


# in claiming order: the first operation that claims a node handles it
OPERATIONS: dict[str, Operation] = {
    op.kind: op
    for op in (
        Input(),
        Output(),
        Constant(),
        Indicator(),
        Linear(),
        BatchNorm(),
        LSTM(),
        Item(),
        Identity(),
        Pass(),
        Gate(),
        Reshape(),
        Select(),
        Route(),
        Norm(),
        Add(),
        Scale(),
    )
}
