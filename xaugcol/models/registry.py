"""One registry builds any tagger from a validated configuration (``build_model(config)``).

A tagger class declares the input kinds its body reads (``input_kinds``) and whether the XAUG variables may be
joined before its head (``xaug_join``); the configuration reads both from the class. Adding a tagger on existing
kinds is its class (``taggers``) and one line in ``MODELS``.

The architecture options are checked when the configuration is read (``xaugcol.models.architecture``: type, sign
and size of each, and the tagger's parameter count), so a bad one is refused in one line, naming the tagger, the
option and the value.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import Field, ValidationError, model_validator
from torch import nn

from xaugcol.config_models import ConfigModel, describe
from xaugcol.features.kinds import KINDS, InputKind, input_kind, kind_class
from xaugcol.features.kinds.xaug import DEFAULT_COLUMNS
from xaugcol.models.architecture import check_architecture, check_parameter_count
from xaugcol.models.deep_sets import EFN, PFN
from xaugcol.models.interaction import InteractionNetwork
from xaugcol.models.particlenet import ParticleNet, WeaverParticleNet, WeaverParticleNetTagger
from xaugcol.models.taggers import CNN1D, CNN2D, XAUGDNN, CaloCNN, LSTMTagger, Tagger
from xaugcol.quoting import quoted

MODELS: dict[str, type[Tagger]] = {
    "cnn2d": CNN2D,
    "cnn1d": CNN1D,
    "lstm": LSTMTagger,
    "dnn": XAUGDNN,
    "in": InteractionNetwork,
    "calo_cnn": CaloCNN,
    "efn": EFN,
    "pfn": PFN,
    "particlenet": ParticleNet,
    "weaver-particlenet": WeaverParticleNet,
    "weaver-particlenet-tagger": WeaverParticleNetTagger,
}

DEFAULT_XAUG = DEFAULT_COLUMNS
# the configuration's shapes of the particle list and image before version 0.2 (read, converted to ``shapes``)
_OLD_SHAPE_FIELDS = {"n_pixels", "n_particles", "n_features"}


class ModelConfig(ConfigModel):
    """A tagger's validated configuration: which tagger (``MODELS``), its inputs and its architecture. Written to
    a tagger folder's config.yaml (``as_dict``) and read back (``from_dict``, which also reads the folders of
    earlier versions); every field is checked when the object is made, the parameter count included.

    Parameters
    ----------
    model : str
        The tagger's name, a key of ``MODELS`` (``cnn2d``, ``cnn1d``, ``lstm``, ``dnn``, ``in``, ...).
    xaug : bool
        Join the XAUG variables before the head (a tagger reading only them needs it true).
    xaug_columns : tuple of str
        The XAUG variables, in order.
    architecture : dict
        Keyword arguments of the tagger class (``channels``, ``hidden``, ...; ``xaugcol.models.architecture``).
    shapes : dict
        Per input kind, the per-jet shape of its jet-table column; a kind without an entry takes its default.
    input_scaling : dict
        Per input kind, how its inputs are scaled (one of the kind's ``SCALINGS``).
    masked : tuple of str
        Occlusion groups held at zero after scaling in every jet (a tagger trained without them).
    input_options : dict
        Per input kind, its options (the inputs of a model imported from weaver-core, ``weaver_particles``).
    """

    model: str
    xaug: bool = False  # join the XAUG variables before the head (a tagger reading only them needs it true)
    xaug_columns: tuple[str, ...] = DEFAULT_XAUG
    architecture: dict[str, Any] = Field(default_factory=dict)  # keyword arguments of the tagger class
    # per input kind, the per-jet shape of its jet-table column (image [37, 37], particles [50, 17]): taken from
    # the data when training; a kind without an entry takes its default
    shapes: dict[str, tuple[int, ...]] = Field(default_factory=dict)
    # per input kind, how its inputs are scaled (one of the kind's SCALINGS; recorded for every input)
    input_scaling: dict[str, str] = Field(default_factory=dict)
    # occlusion groups (``InputKind.occlusion_groups``: XAUG variables, track / vertex / particle features, image
    # blocks) held at zero after scaling in every jet: a tagger trained without them (their first-layer weights
    # multiply zero), Roy and Neubauer's (ICHEP 2022) retraining on a reduced feature set
    masked: tuple[str, ...] = ()
    # per input kind, its options (``InputKind.check_options``): the inputs of an imported weaver-core model
    input_options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def __init__(self, model: str | None = None, /, **data: Any):
        """``ModelConfig("cnn2d", xaug=True)``: the tagger's name may come first."""
        super().__init__(**({"model": model} if model is not None else {}), **data)

    @model_validator(mode="before")
    @classmethod
    def _normalised(cls, data: Any) -> Any:
        """The fields as given, checked and completed: the architecture with the options whose default changed
        recorded (``LEGACY_ARCHITECTURE``), the shapes in each kind's form, a scaling for every input."""
        data = cls.check_known(data)
        if isinstance(data, cls):
            return data
        if "model" not in data:
            raise ValueError(f"'model' is required (one of {', '.join(MODELS)})")
        model, xaug = data["model"], data.get("xaug", False)
        if not isinstance(model, str) or model not in MODELS:
            raise ValueError(f"unknown model {quoted(model)}; known: {', '.join(MODELS)}")
        if not isinstance(xaug, bool):
            raise ValueError(f"'xaug' must be true or false, got {quoted(xaug)}")
        tagger = MODELS[model]
        if "xaug" in tagger.input_kinds and not xaug:
            raise ValueError(f"model {quoted(model)} uses the XAUG variables only: it needs xaug = true")
        if xaug and "xaug" not in tagger.input_kinds and not tagger.xaug_join:
            raise ValueError(f"model {quoted(model)} cannot join the XAUG variables")
        columns = data.get("xaug_columns", DEFAULT_XAUG)
        if not (isinstance(columns, (list, tuple)) and all(isinstance(c, str) for c in columns) and columns):
            raise ValueError("'xaug_columns' must be a non-empty list of jet-table column names")
        architecture = data.get("architecture", {})
        if not isinstance(architecture, dict):
            raise ValueError("'architecture' must be a mapping of the tagger's options")
        allowed = set(inspect.signature(tagger).parameters) - cls._shape_arguments()
        unknown = set(architecture) - allowed
        if unknown:
            raise ValueError(
                f"architecture of {quoted(model)}: unknown option(s) {quoted(sorted(unknown))}; "
                f"known: {sorted(allowed)}"
            )
        check_architecture(model, tagger, architecture)
        # the options whose default changed are recorded explicitly, so a folder says which architecture its
        # weights belong to (``legacy_architecture``)
        signature = inspect.signature(tagger).parameters
        recorded = {k: signature[k].default for k in LEGACY_ARCHITECTURE if k in signature}
        shapes = data.get("shapes", {})
        if not isinstance(shapes, dict):
            raise ValueError("'shapes' must map input kinds to the per-jet shape of their table column")
        checked = {}
        for name, shape in shapes.items():
            if not (isinstance(shape, (list, tuple)) and all(isinstance(s, int) for s in shape)):
                raise ValueError(f"shapes.{name}: expected a list of integers, got {quoted(shape)}")
            try:
                checked[name] = kind_class(name).shape_settings(tuple(shape))
            except ValueError as err:
                raise ValueError(f"shapes.{name}: {err}") from None
        masked = data.get("masked", ())
        if not (isinstance(masked, (list, tuple)) and all(isinstance(g, str) for g in masked)):
            raise ValueError("'masked' must be a list of input feature names")
        options = data.get("input_options", {})
        if tagger.imported_only and not options:
            raise ValueError(
                f"{quoted(model)} is a model imported from elsewhere (xaugcol import-weaver writes its "
                "configuration): it is not trained here, and its input_options name its inputs"
            )
        if not (isinstance(options, dict) and all(isinstance(v, dict) for v in options.values())):
            raise ValueError("'input_options' must map input kinds to their options")
        unused = set(options) - set(_inputs(tagger, xaug))
        if unused:
            raise ValueError(f"input_options: {sorted(unused)} not among the tagger's inputs")
        checked_options = {}
        for name, kind_options in options.items():
            try:
                checked_options[name] = kind_class(name).check_options(kind_options)
            except ValueError as err:
                raise ValueError(f"input_options.{name}: {err}") from None
        return {
            **data,
            "input_options": checked_options,
            "xaug_columns": tuple(columns),
            "architecture": {**recorded, **architecture},
            "shapes": checked,
            "input_scaling": _checked_scaling(data.get("input_scaling", {}), _inputs(tagger, xaug)),
            "masked": tuple(dict.fromkeys(masked)),
        }

    @model_validator(mode="after")
    def _checked(self) -> ModelConfig:
        known = [g for kind in self.input_kinds() for g in kind.occlusion_groups()]
        unknown = [g for g in self.masked if g not in known]
        if unknown:
            raise ValueError(f"masked: {unknown} not among the tagger's input features ({', '.join(known)})")
        if self.masked and set(known) <= set(self.masked):
            raise ValueError("masked: every input feature of the tagger is masked")
        check_parameter_count(self.model, lambda: build_model(self))
        return self

    def scaling_of(self, kind: str, default: str) -> str:
        """How the inputs of an input kind are scaled.

        Parameters
        ----------
        kind : str
            The input kind (``image``, ``particles``, ``xaug``, ...).
        default : str
            The scaling where the configuration records none for ``kind``.

        Returns
        -------
        str
            The scaling's name.
        """
        return self.input_scaling.get(kind, default)

    def options_of(self, kind: str) -> dict[str, Any]:
        """The options of an input kind.

        Parameters
        ----------
        kind : str
            The input kind.

        Returns
        -------
        dict
            Its options (empty where the configuration gives none).
        """
        return dict(self.input_options.get(kind, {}))

    @staticmethod
    def _shape_arguments() -> set[str]:
        """Keyword arguments of tagger classes that come from the data, not from ``architecture``."""
        return {"use_xaug", *(arg for cls in KINDS.values() for arg in cls().model_arguments())}

    def inputs(self) -> tuple[str, ...]:
        """The input kinds the tagger takes, in ``forward`` order.

        Returns
        -------
        tuple of str
            The kinds' names.
        """
        return _inputs(MODELS[self.model], self.xaug)

    def input_kinds(self) -> tuple[InputKind, ...]:
        """The input kinds, in ``forward`` order, with this tagger's settings (shapes, XAUG columns).

        Returns
        -------
        tuple of InputKind
            One per input of ``forward``.
        """
        return tuple(input_kind(name, self) for name in self.inputs())

    @property
    def joins_xaug(self) -> bool:
        """The XAUG variables join a body of another input kind (the "+XAUG" variant of a tagger)."""
        return self.xaug and "xaug" not in MODELS[self.model].input_kinds

    def shape_of(self, kind: str, default: tuple[int, ...]) -> tuple[int, ...]:
        """The per-jet shape of the inputs of an input kind.

        Parameters
        ----------
        kind : str
            The input kind.
        default : tuple of int
            The shape where the configuration records none for ``kind``.

        Returns
        -------
        tuple of int
            The shape.
        """
        return tuple(self.shapes.get(kind, default))

    def with_shapes(self, shapes: dict) -> ModelConfig:
        """This configuration with the table shapes of its input kinds.

        Parameters
        ----------
        shapes : dict
            ``{kind: shape}``, from the data; they replace the recorded shapes of those kinds.

        Returns
        -------
        ModelConfig
            A new, validated configuration.
        """
        return ModelConfig.from_dict({**self.as_dict(), "shapes": {**self.shapes, **shapes}})

    def as_dict(self) -> dict:
        """The configuration as plain YAML-ready values (lists, not tuples), as a tagger folder's config.yaml holds
        it (``from_dict`` reads it back); ``masked`` is left out when empty, as in folders written before it.

        Returns
        -------
        dict
            The fields.
        """
        d = self.model_dump()
        d["xaug_columns"] = list(self.xaug_columns)
        d["shapes"] = {k: list(v) for k, v in self.shapes.items()}
        d["input_scaling"] = dict(self.input_scaling)
        d["masked"] = list(self.masked)
        if not self.masked:  # as folders and study records written before masking existed
            del d["masked"]
        if not self.input_options:  # as every tagger trained here: records as before options existed
            del d["input_options"]
        return d

    def replaced(self, **changes: Any) -> ModelConfig:
        """This configuration with some fields changed, validated again.

        Parameters
        ----------
        **changes
            Fields and their new values.

        Returns
        -------
        ModelConfig
            A new configuration.

        Raises
        ------
        pydantic.ValidationError
            A change that makes the configuration invalid.
        """
        return ModelConfig.model_validate({**self.as_dict(), **changes})

    @classmethod
    def from_dict(cls, data: Any, where: str | None = "model config") -> ModelConfig:
        """From a mapping (a model folder's config.yaml, a study's tagger entry, the configurations of earlier
        versions converted).

        Parameters
        ----------
        data : Any
            The mapping.
        where : str, optional
            What the error message starts with (None: nothing).

        Returns
        -------
        ModelConfig
            The validated configuration.

        Raises
        ------
        ValueError
            An invalid configuration; the message starts with ``where``.
        """
        if isinstance(data, dict):
            data = _converted(data)
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ValueError(f"{where}: {describe(err)}" if where else describe(err)) from None


# architecture options whose default changed, with the value of tagger folders written before they were recorded:
# padding unmasked (before version 0.4), batch norms in the 1D CNN and biases in every layer (before 0.5)
LEGACY_ARCHITECTURE = {"mask_padding": False, "batch_norms": True, "biases": True, "centred_norms": True}


def _checked_scaling(scaling: Any, inputs: tuple[str, ...]) -> dict[str, str]:
    """How each input kind is scaled: as ``scaling`` gives it, or its kind's first (default) scaling."""
    if not isinstance(scaling, dict):
        raise ValueError("'input_scaling' must map input kinds to their scaling")
    unknown = set(scaling) - set(inputs)
    if unknown:
        raise ValueError(f"input_scaling: {sorted(unknown)} not among the tagger's inputs {list(inputs)}")
    out = {}
    for name in inputs:
        allowed = kind_class(name).SCALINGS
        value = scaling.get(name, allowed[0])
        if value not in allowed:
            raise ValueError(f"input_scaling.{name}: one of {', '.join(allowed)}, got {quoted(value)}")
        out[name] = value
    return out


def legacy_architecture(data: dict) -> dict:
    """A tagger folder's model section as the version that wrote it meant it.

    An architecture option it does not name (``LEGACY_ARCHITECTURE``) takes its value from before it was recorded,
    and without ``input_scaling`` the inputs were scaled as then (each kind's ``LEGACY_SCALING``: XAUG min-max,
    particles unscaled).

    Parameters
    ----------
    data : dict
        The ``model`` section of a tagger folder's ``config.yaml``, as read.

    Returns
    -------
    dict
        A new mapping with those options and scalings filled in; ``data`` itself where its ``model`` is not a
        known tagger or its ``architecture`` not a mapping (``ModelConfig.from_dict`` then refuses it).
    """
    name = data.get("model") if isinstance(data, dict) else None
    cls = MODELS.get(name) if isinstance(name, str) else None
    architecture = data.get("architecture") if isinstance(data, dict) else None
    if cls is None or (architecture is not None and not isinstance(architecture, dict)):
        return data  # refused with a clear message by ``ModelConfig.from_dict``
    signature = inspect.signature(cls).parameters
    old = {k: v for k, v in LEGACY_ARCHITECTURE.items() if k in signature and k not in (architecture or {})}
    out = {**data, "architecture": {**(architecture or {}), **old}}
    if "input_scaling" not in data:
        out["input_scaling"] = {
            name: kind_class(name).LEGACY_SCALING for name in _inputs(cls, data.get("xaug")) if name in KINDS
        }
    return out


def _inputs(cls, xaug) -> tuple[str, ...]:
    """The input kinds a tagger class takes, in ``forward`` order, with or without the XAUG join."""
    return tuple(cls.input_kinds) + (("xaug",) if xaug and "xaug" not in cls.input_kinds else ())


def _converted(data: dict) -> dict:
    """A configuration written before input kinds held their shapes: ``n_pixels``, ``n_particles`` and
    ``n_features`` become ``shapes`` entries."""
    old = {k: data[k] for k in _OLD_SHAPE_FIELDS if k in data}
    if not old:
        return data
    shapes = dict(data.get("shapes") or {})
    if "n_pixels" in old:
        shapes.setdefault("image", [old["n_pixels"]] * 2)
    if "n_particles" in old or "n_features" in old:
        shapes.setdefault("particles", [old.get("n_particles", 50), old.get("n_features", 17)])
    return {**{k: v for k, v in data.items() if k not in old}, "shapes": shapes}


def trainable_models() -> list[str]:
    """The taggers ``xaugcol train`` builds: every registered one but those only imported (``imported_only``).

    Returns
    -------
    list of str
        Their names, in registration order.
    """
    return [name for name, cls in MODELS.items() if not cls.imported_only]


def build_model(config: ModelConfig) -> nn.Module:
    """Build the tagger described by a configuration.

    Parameters
    ----------
    config : ModelConfig
        The tagger's configuration, with the shapes of its inputs.

    Returns
    -------
    torch.nn.Module
        The tagger, its weights freshly initialised from torch's current RNG state.
    """
    cls = MODELS[config.model]
    shapes: dict[str, Any] = {"use_xaug": config.joins_xaug}
    for kind in config.input_kinds():
        shapes.update(kind.model_arguments())
    params = set(inspect.signature(cls).parameters)
    kwargs = {k: v for k, v in shapes.items() if k in params}
    kwargs.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in config.architecture.items()})
    return cls(**kwargs)
