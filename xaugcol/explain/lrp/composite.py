"""Composites: which rule explains which layer, and the named presets.

A layer's rule is chosen by its module name, by its being the first layer, or by its layer type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Annotated, Any

from pydantic import BeforeValidator, model_validator
from torch import nn

from xaugcol.config_models import Bool, ConfigModel, PositiveNumber, validated
from xaugcol.explain.lrp.lstm import SignalTakeAll
from xaugcol.explain.lrp.rules import AlphaBeta, Epsilon, Flat, Gamma, Rule, Z, ZBox, ZPlus, rule_from_spec
from xaugcol.layers import PairwiseLinear
from xaugcol.quoting import quoted

LAYER_TYPES: dict[str, tuple[type[nn.Module], ...]] = {
    "linear": (nn.Linear, PairwiseLinear),  # the pair layer is a dense layer on every concatenated pair
    "pair": (PairwiseLinear,),
    "conv": (nn.Conv1d, nn.Conv2d),
    "conv1d": (nn.Conv1d,),
    "conv2d": (nn.Conv2d,),
}


@dataclass
class Composite:
    """Rules for dense and convolution layers, and the rules of the other layers.

    A dense or convolution layer's rule is chosen in this order: the first ``names`` pattern (fnmatch on the module
    name, e.g. ``"head.*"``) that matches; ``first`` for layers fed directly by a model input (through reshapes
    only); the first ``layers`` entry whose type matches (``linear``, ``conv``, ``conv1d``, ``conv2d``, ``pair``);
    ``default``. ``lstm`` is the recurrent rule; ``stabiliser`` serves the parameter-free layers (average pooling,
    sums and means over particles, additions, a batch norm that could not be merged).

    Parameters
    ----------
    default : Rule, default ``Epsilon()``
        The rule of layers nothing else matches.
    layers : dict of str to Rule, optional
        Layer type (a key of ``LAYER_TYPES``: ``linear``, ``pair``, ``conv``, ``conv1d``, ``conv2d``) -> rule.
    names : dict of str to Rule, optional
        Module-name pattern (fnmatch) -> rule.
    first : Rule, optional
        The rule of layers fed directly by a model input; None: such layers are matched as the others.
    lstm : SignalTakeAll, default ``SignalTakeAll()``
        The recurrent rule.
    stabiliser : float, default 1e-6
        The stabiliser of the parameter-free layers, > 0.

    Raises
    ------
    ValueError
        Where a rule is not a ``Rule``, a layer type is unknown, ``lstm`` is not a ``SignalTakeAll`` or
        ``stabiliser`` is not > 0.
    """

    default: Rule = field(default_factory=Epsilon)
    layers: dict[str, Rule] = field(default_factory=dict)
    names: dict[str, Rule] = field(default_factory=dict)
    first: Rule | None = None
    lstm: SignalTakeAll = field(default_factory=SignalTakeAll)
    stabiliser: float = 1e-6

    def __post_init__(self):
        for where, rule in [
            ("default", self.default),
            ("first", self.first),
            *self.layers.items(),
            *self.names.items(),
        ]:
            if rule is not None and not isinstance(rule, Rule):
                raise ValueError(f"{quoted(where)} must be an LRP rule, got {quoted(rule)}")
        unknown = set(self.layers) - set(LAYER_TYPES)
        if unknown:
            raise ValueError(f"unknown layer type(s) {sorted(unknown)}; known: {', '.join(LAYER_TYPES)}")
        if not isinstance(self.lstm, SignalTakeAll):
            raise ValueError("'lstm' must be a SignalTakeAll rule")
        if not self.stabiliser > 0:
            raise ValueError(f"stabiliser must be > 0, got {quoted(self.stabiliser)}")

    def rule_for(self, name: str, module: nn.Module | None, is_first: bool) -> Rule:
        """The rule that explains one dense or convolution layer, chosen in the class's order.

        Parameters
        ----------
        name : str
            The layer's module name (matched against the ``names`` patterns).
        module : torch.nn.Module or None
            The layer (its type is matched against ``layers``); None: matched by name and position only.
        is_first : bool
            Whether the layer is fed directly by a model input (``first`` applies).

        Returns
        -------
        Rule
            The first of ``names``, ``first``, ``layers`` that applies, else ``default``.
        """
        for pattern, rule in self.names.items():
            if fnmatchcase(name, pattern):
                return rule
        if is_first and self.first is not None:
            return self.first
        for kind, rule in self.layers.items():
            if isinstance(module, LAYER_TYPES[kind]):
                return rule
        return self.default

    def unmatched_names(self, module_names: list[str]) -> list[str]:
        """The ``names`` patterns that match no layer (almost always a typo).

        Parameters
        ----------
        module_names : list of str
            The names of the model's dense and convolution layers.

        Returns
        -------
        list of str
            The patterns that match none of them.
        """
        return [p for p in self.names if not any(fnmatchcase(n, p) for n in module_names)]

    @classmethod
    def from_spec(cls, spec: Composite | str | dict[str, Any], where: str = "composite") -> Composite:
        """A composite from a configuration entry: a preset name, or a mapping (``CompositeFile``).

        A mapping has an optional ``preset`` (and its options) overridden by ``default``, ``first``, ``layers``,
        ``names``, ``lstm``, ``stabiliser``. Rules are given as names or ``{rule: ..., params}`` mappings.

        Parameters
        ----------
        spec : Composite, str or dict
            The entry (a ``Composite`` is returned as it is).
        where : str, default "composite"
            Where the entry comes from, named in errors.

        Returns
        -------
        Composite
            The composite.

        Raises
        ------
        ValueError
            An unknown preset or rule, or a malformed mapping.
        """
        if isinstance(spec, Composite):
            return spec
        if isinstance(spec, str):
            return preset(spec)
        return validated(CompositeFile, spec, where, sep=".").composite()


def _rule(spec) -> Rule:
    return rule_from_spec(spec, None)


RuleEntry = Annotated[Rule, BeforeValidator(_rule)]


class LSTMFile(ConfigModel):
    """The LSTM rule's options as written (``SignalTakeAll``)."""

    epsilon: PositiveNumber = 1e-6
    redistribute_bias: Bool = False


# the default of a ``CompositeFile`` field: a field left out is not set (``given()`` reads only the fields set) and
# its None default is never validated, while the annotation is the type a value written must have (null refused
# where the annotation does not allow None). No static type says "absent": Any.
NOT_GIVEN: Any = None


class CompositeFile(ConfigModel):
    """A composite as written in Python or YAML: fields not given come from ``preset`` (or the defaults)."""

    preset: str = NOT_GIVEN
    options: dict = NOT_GIVEN
    default: RuleEntry = NOT_GIVEN
    first: RuleEntry | None = None
    layers: dict[str, RuleEntry] = NOT_GIVEN
    names: dict[str, RuleEntry] = NOT_GIVEN
    lstm: LSTMFile = NOT_GIVEN
    stabiliser: PositiveNumber = NOT_GIVEN

    @model_validator(mode="after")
    def _buildable(self):
        self.composite()  # the preset and its options, layer types, ...
        return self

    def composite(self) -> Composite:
        """The composite: the preset's (or the defaults), with the fields given here replacing its own.

        Returns
        -------
        Composite
            A new composite; ``lstm`` given here becomes a ``SignalTakeAll``.

        Raises
        ------
        ValueError
            Where ``options`` are given without a ``preset``, or the preset or the resulting composite is invalid.
        """
        given = self.given()
        if "options" in given and "preset" not in given:
            raise ValueError("'options' are the options of a 'preset': give the preset too")
        base = preset(given.pop("preset"), **given.pop("options", {})) if "preset" in given else Composite()
        given.pop("options", None)
        if "lstm" in given:
            given["lstm"] = SignalTakeAll(**given["lstm"].model_dump())
        return Composite(
            **{**{k: getattr(base, k) for k in ("default", "layers", "names", "first", "lstm", "stabiliser")}, **given}
        )


def _needs_bounds(name):
    def build(low=None, high=None, **options):
        if low is None or high is None:
            raise ValueError(f"preset {quoted(name)} puts z-box on the input layer: give its bounds, low=... high=...")
        return _PRESETS_WITH_BOUNDS[name](low, high, **options)

    return build


_PRESETS_WITH_BOUNDS = {
    "epsilon-gamma-box": lambda low, high, gamma=0.25, epsilon=1e-6: Composite(
        default=Epsilon(epsilon), layers={"conv": Gamma(gamma)}, first=ZBox(low, high)
    ),
}

PRESETS = {
    "z": lambda: Composite(default=Z()),
    "epsilon": lambda epsilon=1e-6: Composite(
        default=Epsilon(epsilon)
    ),  # Agarwal, Rappoccio et al.'s (arXiv:2011.13466) LRP-epsilon
    "gamma": lambda gamma=2.0: Composite(
        default=Gamma(gamma)
    ),  # LRP-gamma, gamma = 2, as Roy and Neubauer (ICHEP 2022) use on the IN
    "alpha1beta0": lambda: Composite(
        default=AlphaBeta(1.0, 0.0)
    ),  # Agarwal, Rappoccio et al.'s (arXiv:2011.13466) LRP-alpha1beta0
    "alpha2beta1": lambda: Composite(default=AlphaBeta(2.0, 1.0)),
    "zplus": lambda: Composite(default=ZPlus()),
    "epsilon-plus": lambda epsilon=1e-6: Composite(default=Epsilon(epsilon), layers={"conv": ZPlus()}),
    "epsilon-alpha2beta1": lambda epsilon=1e-6: Composite(
        default=Epsilon(epsilon), layers={"conv": AlphaBeta(2.0, 1.0)}
    ),
    "epsilon-plus-flat": lambda epsilon=1e-6: Composite(
        default=Epsilon(epsilon), layers={"conv": ZPlus()}, first=Flat()
    ),
    "epsilon-gamma-box": _needs_bounds("epsilon-gamma-box"),
}


def preset(name: str, **options: Any) -> Composite:
    """A named composite, one of ``PRESETS``.

    The presets: ``z``, ``epsilon``, ``gamma``, ``alpha1beta0``, ``alpha2beta1``, ``zplus``, ``epsilon-plus``,
    ``epsilon-alpha2beta1``, ``epsilon-plus-flat``, ``epsilon-gamma-box`` (needs ``low``/``high`` of the input).

    Parameters
    ----------
    name : str
        The preset's name.
    **options : Any
        The preset's own options: ``epsilon`` (``epsilon``, ``epsilon-plus``, ``epsilon-alpha2beta1``,
        ``epsilon-plus-flat``, ``epsilon-gamma-box``), ``gamma`` (``gamma``, ``epsilon-gamma-box``), ``low`` and
        ``high`` (``epsilon-gamma-box``: the bounds of its z-box input layer).

    Returns
    -------
    Composite
        A new composite.

    Raises
    ------
    ValueError
        For an unknown preset, an option it does not take, a missing bound or an invalid value.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown LRP preset {quoted(name)}; known: {', '.join(PRESETS)}")
    try:
        return PRESETS[name](**options)
    except TypeError as err:
        raise ValueError(f"LRP preset {quoted(name)}: bad options: {err}") from None
