"""ParticleNet models trained by weaver-core (Qu and Gouskos, arXiv:1902.08570; the framework CMS trains its
ParticleNet taggers with) as xaugcol taggers, layer for layer, so that every explanation method runs on them.

weaver-core saves a model as a state dict (``torch.save(model.state_dict())``) of its ``ParticleNet`` class
(``weaver.nn.model.ParticleNet``), usually inside a wrapper that names it ``mod``. The architecture is read from the
weight shapes (the EdgeConv widths, the fusion width, the dense head, the number of inputs and classes); only k, the
number of neighbours, is not stored and has to be given. The weights are copied into ``xaugcol.models.particlenet.
ParticleNet`` built with ``weaver = True`` (weaver-core's input batch norm, identity shortcuts, padded neighbours in
small jets). Its class scores become one logit: the signal class's minus the background class's, whose sigmoid is
the softmax probability of signal among the two, so LRP explains the discriminant a two-class analysis cuts on.

Only weaver-core's ``ParticleNet`` (one input group: points, features and a mask) is read; its ``ParticleNetTagger``
(particles and secondary vertices, with feature embeddings) is refused by name. Nothing here imports weaver-core:
tests compare against its class where it is installed (``pip install xaugcol[weaver]``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import Field

from xaugcol.config_models import ConfigModel, read_yaml
from xaugcol.errors import InputDataError
from xaugcol.features.kinds.weaver import KNOWN_INPUTS, SOURCES, WeaverVariable
from xaugcol.features.scaler import InputScalers
from xaugcol.models.errors import ModelFileError
from xaugcol.models.folder import load_state_dict, save_model
from xaugcol.models.particlenet import EdgeConvBlock, ParticleNet
from xaugcol.models.registry import ModelConfig, build_model


@dataclass(frozen=True)
class WeaverArchitecture:
    """The architecture of a weaver-core ``ParticleNet`` as its state dict shows it.

    Parameters
    ----------
    inputs : int
        Input features per particle (``input_dims``).
    blocks : tuple of tuple of int
        The widths of each EdgeConv block's edge network (``conv_params``' channels).
    fusion : int
        The width of the fusion convolution; 0: no fusion block (``use_fusion = False``).
    hidden : tuple of int
        The widths of the hidden dense layers (``fc_params``).
    classes : int
        The number of output classes.
    """

    inputs: int
    blocks: tuple[tuple[int, ...], ...]
    fusion: int
    hidden: tuple[int, ...]
    classes: int


def particlenet_state(state: Mapping[str, object], where: str) -> dict[str, torch.Tensor]:
    """The weights of weaver-core's ``ParticleNet`` in a saved state dict, with the wrapper's prefix removed.

    Parameters
    ----------
    state : mapping of str to torch.Tensor
        What ``torch.load(..., weights_only=True)`` read from the file.
    where : str
        The file, for messages.

    Returns
    -------
    dict of str to torch.Tensor
        The state dict with keys as ``ParticleNet.state_dict()`` writes them (``edge_convs.0.convs.0.weight``...).

    Raises
    ------
    ModelFileError
        The file holds no ParticleNet weights, or a ``ParticleNetTagger`` (particles and secondary vertices).
    """
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{where}: not a state dict (a mapping of names to tensors)")
    keys = [k for k in state if isinstance(k, str)]
    if any(re.search(r"(^|\.)(pf_conv|sv_conv)\.", k) for k in keys):
        raise ModelFileError(
            f"{where}: a weaver-core ParticleNetTagger (particles and secondary vertices): only ParticleNet, "
            "one particle list, can be read"
        )
    anchors = [k[: -len("edge_convs.0.convs.0.weight")] for k in keys if k.endswith("edge_convs.0.convs.0.weight")]
    if len(anchors) != 1:
        raise ModelFileError(f"{where}: no weaver-core ParticleNet weights (no 'edge_convs.0.convs.0.weight')")
    prefix = anchors[0]
    return {k[len(prefix) :]: v for k, v in state.items() if isinstance(k, str) and k.startswith(prefix)}  # type: ignore[misc]


def read_architecture(state: Mapping[str, torch.Tensor], where: str) -> WeaverArchitecture:
    """Read the architecture of a weaver-core ``ParticleNet`` from its weight shapes.

    Parameters
    ----------
    state : mapping of str to torch.Tensor
        The model's state dict, as ``particlenet_state`` returns it.
    where : str
        The file, for messages.

    Returns
    -------
    WeaverArchitecture
        The input count, block widths, fusion width, dense head and class count.

    Raises
    ------
    ModelFileError
        Weights missing or of shapes no weaver-core ParticleNet has.
    """

    def weight(name: str) -> torch.Tensor:
        if name not in state:
            raise ModelFileError(f"{where}: weaver-core ParticleNet weight {name!r} missing")
        return state[name]

    if "bn_fts.weight" not in state:
        raise ModelFileError(f"{where}: the model has no input batch norm (use_fts_bn = False): not supported")
    blocks: list[tuple[int, ...]] = []
    while f"edge_convs.{len(blocks)}.convs.0.weight" in state:
        b = len(blocks)
        widths: list[int] = []
        while f"edge_convs.{b}.convs.{len(widths)}.weight" in state:
            widths.append(int(weight(f"edge_convs.{b}.convs.{len(widths)}.weight").shape[0]))
        blocks.append(tuple(widths))
    inputs = int(weight("bn_fts.weight").shape[0])
    if int(weight("edge_convs.0.convs.0.weight").shape[1]) != 2 * inputs:
        raise ModelFileError(f"{where}: the first EdgeConv block does not read 2 x {inputs} edge features")
    fusion = int(weight("fusion_block.0.weight").shape[0]) if "fusion_block.0.weight" in state else 0
    dense = sorted({int(m.group(1)) for k in state if (m := re.match(r"fc\.(\d+)\.", k))})
    if not dense:
        raise ModelFileError(f"{where}: the model has no dense head ('fc.*')")
    hidden = tuple(int(weight(f"fc.{j}.0.weight").shape[0]) for j in dense[:-1])
    classes = int(weight(f"fc.{dense[-1]}.weight").shape[0])
    return WeaverArchitecture(inputs, tuple(blocks), fusion, hidden, classes)


def _copy(target: torch.Tensor, source: torch.Tensor, name: str, where: str) -> None:
    if target.numel() != source.numel():
        raise ModelFileError(f"{where}: weight {name!r} has shape {list(source.shape)}, expected {list(target.shape)}")
    with torch.no_grad():
        target.copy_(source.reshape(target.shape).to(target.dtype))


def _weight(state: Mapping[str, torch.Tensor], name: str, where: str) -> torch.Tensor:
    if name not in state:
        raise ModelFileError(f"{where}: weaver-core ParticleNet weight {name!r} missing")
    return state[name]


def _copy_norm(norm: torch.nn.Module | None, state: Mapping[str, torch.Tensor], prefix: str, where: str) -> None:
    assert isinstance(norm, torch.nn.BatchNorm1d)  # built with batch_norms and weaver: every norm is there
    for part in ("weight", "bias", "running_mean", "running_var"):
        _copy(getattr(norm, part), _weight(state, f"{prefix}.{part}", where), f"{prefix}.{part}", where)
    norm.eps = 1e-5  # torch's default, as weaver-core's BatchNorm layers


def load_weaver_weights(
    model: ParticleNet, state: Mapping[str, torch.Tensor], signal: int, background: int, where: str
) -> None:
    """Copy a weaver-core ``ParticleNet``'s weights into an xaugcol ``ParticleNet`` built with ``weaver = True``.

    Parameters
    ----------
    model : xaugcol.models.particlenet.ParticleNet
        Built from ``read_architecture``'s widths, without the XAUG variables; changed in place.
    state : mapping of str to torch.Tensor
        The weaver-core model's state dict (``particlenet_state``).
    signal : int
        The class whose score is the signal's.
    background : int
        The class the signal is told from: the logit is the signal's output minus this one's.
    where : str
        The file, for messages.

    Raises
    ------
    ModelFileError
        A weight missing or of another shape, or a class index outside the model's classes.
    """
    architecture = read_architecture(state, where)
    for c in (signal, background):
        if not 0 <= c < architecture.classes or signal == background:
            raise ModelFileError(
                f"{where}: signal and background must be two different classes of 0..{architecture.classes - 1}, "
                f"got {signal} and {background}"
            )
    _copy_norm(model.input_norm, state, "bn_fts", where)
    for index, block in enumerate(model.body):
        assert isinstance(block, EdgeConvBlock)
        prefix = f"edge_convs.{index}"
        convs = [m for m in block.edge if isinstance(m, torch.nn.Conv1d)]
        norms = [m for m in block.edge if isinstance(m, torch.nn.BatchNorm1d)]
        for layer, (conv, norm) in enumerate(zip(convs, norms, strict=True)):
            name = f"{prefix}.convs.{layer}.weight"
            _copy(conv.weight, _weight(state, name, where), name, where)
            if conv.bias is not None:
                conv.bias.data.zero_()  # weaver-core's edge convolutions have none: the batch norm shifts
            _copy_norm(norm, state, f"{prefix}.bns.{layer}", where)
        if block.shortcut is not None:
            _copy(block.shortcut.weight, _weight(state, f"{prefix}.sc.weight", where), f"{prefix}.sc.weight", where)
            if block.shortcut.bias is not None:
                block.shortcut.bias.data.zero_()
            _copy_norm(block.shortcut_norm, state, f"{prefix}.sc_bn", where)
    _copy(model.fusion.weight, _weight(state, "fusion_block.0.weight", where), "fusion_block.0.weight", where)
    if model.fusion.bias is not None:
        model.fusion.bias.data.zero_()
    _copy_norm(model.fusion_norm, state, "fusion_block.1", where)
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    dense = sorted({int(m.group(1)) for k in state if (m := re.match(r"fc\.(\d+)\.", k))})
    for linear, j in zip(linears[:-1], dense[:-1], strict=True):
        _copy(linear.weight, _weight(state, f"fc.{j}.0.weight", where), f"fc.{j}.0.weight", where)
        _copy(linear.bias, _weight(state, f"fc.{j}.0.bias", where), f"fc.{j}.0.bias", where)
    last = dense[-1]
    weight, bias = _weight(state, f"fc.{last}.weight", where), _weight(state, f"fc.{last}.bias", where)
    _copy(linears[-1].weight, weight[signal] - weight[background], f"fc.{last}.weight", where)
    _copy(linears[-1].bias, (bias[signal] - bias[background]).reshape(1), f"fc.{last}.bias", where)


def particlenet_options(architecture: WeaverArchitecture, neighbours: int) -> dict[str, object]:
    """The ``ParticleNet`` keyword arguments that rebuild a weaver-core model.

    Parameters
    ----------
    architecture : WeaverArchitecture
        What ``read_architecture`` found.
    neighbours : int
        k of every EdgeConv block (weaver-core's ``conv_params``; not stored in the weights).

    Returns
    -------
    dict of str to object
        ``neighbours``, ``blocks``, ``fusion``, ``hidden``, ``biases``, ``batch_norms`` and ``weaver``.

    Raises
    ------
    ModelFileError
        A model without a fusion block (``use_fusion = False``), which xaugcol's ParticleNet always has.
    """
    if not architecture.fusion:
        raise ModelFileError("a weaver-core ParticleNet without fusion block (use_fusion = False): not supported")
    return {
        "neighbours": neighbours,
        "blocks": [list(b) for b in architecture.blocks],
        "fusion": architecture.fusion,
        "hidden": list(architecture.hidden),
        "biases": True,
        "batch_norms": True,
        "weaver": True,
    }


class WeaverImport(ConfigModel):
    """What ``import_weaver`` reads and writes: the weaver-core files, the settings its weights do not hold, and
    the tagger folder to write."""

    state: Path  # the weights weaver-core saved (``model_state.pt`` / ``*_best_epoch_state.pt``)
    data_config: Path  # the data configuration it was trained with; the ``.auto.yaml`` holds the standardisation
    neighbours: int = Field(gt=0, le=64)  # k of every EdgeConv block (``conv_params``; not in the weights)
    signal: str  # the label (``labels.value`` of the data configuration) whose score is the signal's
    background: str  # the label it is told from: the logit is the signal's output minus this one's
    inputs: dict[str, str] = Field(default_factory=dict)  # model input: particle feature, beside KNOWN_INPUTS
    particles: int = Field(default=50, gt=0, le=4096)  # particle slots per jet of the jet tables to explain
    out: Path  # the tagger folder to write


@dataclass(frozen=True)
class DataConfig:
    """The part of a weaver-core data configuration a ParticleNet needs.

    Parameters
    ----------
    points : tuple of WeaverVariable
        The first graph's coordinates (the ``*_points`` group), not yet mapped to particle features.
    features : tuple of WeaverVariable
        The particle features (the ``*_features`` group), in the model's order.
    labels : tuple of str
        The class labels, in the model's output order.
    """

    points: tuple[WeaverVariable, ...]
    features: tuple[WeaverVariable, ...]
    labels: tuple[str, ...]


def _number(value: Any, name: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputDataError(f"{where}: input {name!r}: expected a number or null, got {value!r}")
    return float(value)


def read_data_config(path: str | Path) -> DataConfig:
    """Read a weaver-core data configuration (YAML, read safely; nothing in it is evaluated).

    Parameters
    ----------
    path : str or Path
        The data configuration; weaver-core's ``.auto.yaml`` (written beside a training) carries the
        standardisation of every input, which a configuration with ``auto`` centres lacks.

    Returns
    -------
    DataConfig
        The points, features and labels, each input with its standardisation (``source`` left empty).

    Raises
    ------
    InputDataError
        Not one points, one features and one mask group (a second particle or vertex group included), an
        input without its standardisation, or labels that are not a simple list.
    """
    where = str(path)
    try:
        raw = read_yaml(path, "a weaver-core data configuration")
    except ValueError as err:
        raise InputDataError(str(err)) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("inputs"), dict):
        raise InputDataError(f"{where}: no 'inputs' section: not a weaver-core data configuration")
    groups = raw["inputs"]
    params = ((raw.get("preprocess") or {}).get("params")) or {}
    chosen: dict[str, str] = {}
    for suffix in ("points", "features", "mask"):
        names = [g for g in groups if str(g).endswith(f"_{suffix}")]
        if len(names) != 1:
            raise InputDataError(
                f"{where}: a ParticleNet reads one '*_{suffix}' input group, found {names or 'none'} "
                f"(groups: {', '.join(map(str, groups))}); ParticleNetTagger's particles and vertices are not supported"
            )
        chosen[suffix] = names[0]
    unused = [g for g in groups if g not in chosen.values() and not str(g).endswith("_vectors")]
    if unused:
        raise InputDataError(f"{where}: input groups {unused} that ParticleNet does not read")

    def variables(group: str) -> tuple[WeaverVariable, ...]:
        out = []
        for entry in groups[group].get("vars") or []:
            entry = entry if isinstance(entry, list) else [entry]
            name = str(entry[0])
            given = params.get(name)
            if isinstance(given, dict):
                center, scale = given.get("center"), given.get("scale", 1)
                low, high = given.get("min", -5), given.get("max", 5)
            else:
                center = entry[1] if len(entry) > 1 else None
                scale, low, high = (entry[i] if len(entry) > i else d for i, d in ((2, 1), (3, -5), (4, 5)))
            if center == "auto":
                raise InputDataError(
                    f"{where}: input {name!r} has center 'auto' and no standardisation: give the .auto.yaml that "
                    "weaver-core wrote beside the training"
                )
            center_value = _number(center, name, where)
            numbers = [_number(v, name, where) for v in (scale, low, high)]
            if any(v is None for v in numbers):
                raise InputDataError(f"{where}: input {name!r}: scale, min and max must be numbers")
            out.append(WeaverVariable(name, "", center_value, *numbers))  # type: ignore[arg-type]
        if not out:
            raise InputDataError(f"{where}: input group {group!r} lists no variables")
        return tuple(out)

    labels = raw.get("labels") or {}
    if labels.get("type") != "simple" or not isinstance(labels.get("value"), list):
        raise InputDataError(f"{where}: labels must be of type 'simple' with a list of label names")
    return DataConfig(variables(chosen["points"]), variables(chosen["features"]), tuple(map(str, labels["value"])))


def mapped_variables(
    config: DataConfig, inputs: Mapping[str, str], where: str
) -> tuple[list[WeaverVariable], list[int]]:
    """The model's inputs with the particle feature each is made of, and the channels of the coordinates.

    Parameters
    ----------
    config : DataConfig
        The data configuration.
    inputs : mapping of str to str
        The user's mapping, model input name to particle feature (``SOURCES``), beside ``KNOWN_INPUTS``.
    where : str
        The data configuration's file, for messages.

    Returns
    -------
    variables : list of WeaverVariable
        The features, then the coordinates that are not among them (same name and standardisation).
    coordinates : list of int
        The channels of ``variables`` that are the first graph's coordinates.

    Raises
    ------
    InputDataError
        Inputs the particle list lacks (all of them named), or a mapping onto an unknown feature.
    """
    bad = {k: v for k, v in inputs.items() if v not in SOURCES}
    if bad:
        raise InputDataError(f"--inputs: {bad} are no particle features; known: {', '.join(SOURCES)}")
    names = {**KNOWN_INPUTS, **inputs}
    needed = [v.name for v in (*config.features, *config.points)]
    missing = list(dict.fromkeys(n for n in needed if n not in names))
    if missing:
        raise InputDataError(
            f"{where}: the model reads {len(missing)} input(s) the jet table's particle list does not hold: "
            f"{', '.join(missing)}. Map one onto a particle feature that is the same quantity with "
            f"--inputs NAME=FEATURE (features: {', '.join(SOURCES)})"
        )
    variables = [WeaverVariable(**{**v.__dict__, "source": names[v.name]}) for v in config.features]
    coordinates = []
    for point in config.points:
        same = [k for k, v in enumerate(variables) if v.name == point.name and v.center == point.center]
        if same and variables[same[0]].scale == point.scale:
            coordinates.append(same[0])
        else:
            variables.append(WeaverVariable(**{**point.__dict__, "source": names[point.name]}))
            coordinates.append(len(variables) - 1)
    return variables, coordinates


def import_weaver(options: WeaverImport) -> Path:
    """Write a tagger folder holding a weaver-core ParticleNet, ready for ``xaugcol explain``.

    Parameters
    ----------
    options : WeaverImport
        The weaver-core files, k, the signal and background labels, the input mapping and the folder.

    Returns
    -------
    Path
        The tagger folder (``config.yaml``, ``model.pt``, ``metrics.json``).

    Raises
    ------
    ModelFileError
        Weights that are no weaver-core ParticleNet, or that do not fit the data configuration.
    InputDataError
        A data configuration that cannot be read, or inputs the particle list lacks.
    """
    model, config, source = weaver_tagger(options)
    return save_model(options.out, model, config, InputScalers(), {"imported_from": "weaver-core"}, source)


def weaver_tagger(options: WeaverImport) -> tuple[torch.nn.Module, ModelConfig, dict[str, Any]]:
    """Read a weaver-core ParticleNet into an xaugcol tagger, writing nothing.

    Parameters
    ----------
    options : WeaverImport
        The weaver-core files, k, the signal and background labels and the input mapping (``out`` unused).

    Returns
    -------
    model : torch.nn.Module
        The tagger (``WeaverParticleNet``) with the model's weights, in eval mode.
    config : ModelConfig
        Its configuration, the inputs' names and standardisation among its ``input_options``.
    source : dict
        ``{"weaver": ...}``: the files read (the weights' SHA-256), the labels, the signal and the background.

    Raises
    ------
    ModelFileError
        Weights that are no weaver-core ParticleNet, or that do not fit the data configuration.
    InputDataError
        A data configuration that cannot be read, or inputs the particle list lacks.
    """
    where = str(options.state)
    state = particlenet_state(load_state_dict(options.state), where)
    architecture = read_architecture(state, where)
    data = read_data_config(options.data_config)
    if len(data.features) != architecture.inputs:
        raise ModelFileError(
            f"{where}: the model reads {architecture.inputs} features per particle, the data configuration "
            f"{options.data_config} lists {len(data.features)}"
        )
    if len(data.labels) != architecture.classes:
        raise ModelFileError(
            f"{where}: the model has {architecture.classes} outputs, the data configuration "
            f"{len(data.labels)} labels ({', '.join(data.labels)})"
        )
    for label in (options.signal, options.background):
        if label not in data.labels:
            raise InputDataError(f"{options.data_config}: no label {label!r}; labels: {', '.join(data.labels)}")
    variables, coordinates = mapped_variables(data, options.inputs, str(options.data_config))
    architecture_options = {
        **particlenet_options(architecture, options.neighbours),
        "coordinates": coordinates,
        "node_features": len(data.features),
    }
    config = ModelConfig(
        "weaver-particlenet",
        architecture=architecture_options,
        shapes={"weaver_particles": (options.particles, len(SOURCES) - 1)},
        input_options={"weaver_particles": {"variables": [v.as_list() for v in variables]}},
    )
    model = build_model(config).eval()
    assert isinstance(model, ParticleNet)  # the weaver-particlenet tagger
    load_weaver_weights(model, state, data.labels.index(options.signal), data.labels.index(options.background), where)
    source = {
        "weaver": {
            "state": str(options.state),
            "state_sha256": hashlib.sha256(Path(options.state).read_bytes()).hexdigest(),
            "data_config": str(options.data_config),
            "signal": options.signal,
            "background": options.background,
            "labels": list(data.labels),
        }
    }
    return model, config, source


__all__: Sequence[str] = (
    "WeaverImport",
    "DataConfig",
    "read_data_config",
    "mapped_variables",
    "import_weaver",
    "weaver_tagger",
    "WeaverArchitecture",
    "particlenet_state",
    "read_architecture",
    "load_weaver_weights",
    "particlenet_options",
)
