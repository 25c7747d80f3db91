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
from xaugcol.features.kinds.weaver import (
    KNOWN_INPUTS,
    KNOWN_VERTEX_INPUTS,
    SOURCES,
    VERTEX_FEATURES,
    VERTEX_SOURCES,
    WeaverVariable,
)
from xaugcol.features.scaler import InputScalers
from xaugcol.models.errors import ModelFileError
from xaugcol.models.folder import load_state_dict, save_model
from xaugcol.models.particlenet import EdgeConvBlock, ParticleNet, WeaverParticleNetTagger
from xaugcol.models.registry import ModelConfig, build_model
from xaugcol.output_folder import locked_output, refuse_non_empty


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
    vertex_inputs : int, default 0
        Input features per secondary vertex of a ``ParticleNetTagger``; 0: a ``ParticleNet`` (one list).
    embedding : int, default 0
        The width a ``ParticleNetTagger`` embeds both lists in (its ``FeatureConv``); 0: a ``ParticleNet``.
    """

    inputs: int
    blocks: tuple[tuple[int, ...], ...]
    fusion: int
    hidden: tuple[int, ...]
    classes: int
    vertex_inputs: int = 0
    embedding: int = 0

    @property
    def tagger(self) -> bool:
        """A ``ParticleNetTagger``: particles and secondary vertices, each embedded first."""
        return self.vertex_inputs > 0


def particlenet_state(state: Mapping[str, object], where: str) -> dict[str, torch.Tensor]:
    """The weights of weaver-core's ``ParticleNet`` or ``ParticleNetTagger`` in a saved state dict, with the
    wrapper's prefix removed.

    Parameters
    ----------
    state : mapping of str to torch.Tensor
        What ``torch.load(..., weights_only=True)`` read from the file.
    where : str
        The file, for messages.

    Returns
    -------
    dict of str to torch.Tensor
        The state dict with keys as ``ParticleNet.state_dict()`` writes them (``edge_convs.0.convs.0.weight``...);
        a ``ParticleNetTagger``'s embeddings keep their names (``pf_conv.conv.0.weight``, ``sv_conv...``).

    Raises
    ------
    ModelFileError
        The file holds no ParticleNet weights.
    """
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{where}: not a state dict (a mapping of names to tensors)")
    keys = [k for k in state if isinstance(k, str)]
    anchors = [k[: -len("edge_convs.0.convs.0.weight")] for k in keys if k.endswith("edge_convs.0.convs.0.weight")]
    if len(anchors) != 1:
        raise ModelFileError(f"{where}: no weaver-core ParticleNet weights (no 'edge_convs.0.convs.0.weight')")
    prefix = anchors[0]
    out = {k[len(prefix) :]: v for k, v in state.items() if isinstance(k, str) and k.startswith(prefix)}
    if prefix.endswith("pn."):  # a ParticleNetTagger: its ParticleNet is ``pn``, beside the two embeddings
        outer = prefix[: -len("pn.")]
        for k, v in state.items():
            if isinstance(k, str) and k.startswith((f"{outer}pf_conv.", f"{outer}sv_conv.")):
                out[k[len(outer) :]] = v
    return out  # type: ignore[return-value]


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
    vertex_inputs, embedding = 0, 0
    if any(k.startswith(("pf_conv.", "sv_conv.")) for k in state):  # a ParticleNetTagger
        embedding = inputs
        inputs = int(weight("pf_conv.conv.0.weight").shape[0])
        vertex_inputs = int(weight("sv_conv.conv.0.weight").shape[0])
        for group in ("pf_conv", "sv_conv"):
            if int(weight(f"{group}.conv.1.weight").shape[0]) != embedding:
                raise ModelFileError(f"{where}: {group} does not embed in the {embedding} features ParticleNet reads")
    fusion = int(weight("fusion_block.0.weight").shape[0]) if "fusion_block.0.weight" in state else 0
    dense = sorted({int(m.group(1)) for k in state if (m := re.match(r"fc\.(\d+)\.", k))})
    if not dense:
        raise ModelFileError(f"{where}: the model has no dense head ('fc.*')")
    hidden = tuple(int(weight(f"fc.{j}.0.weight").shape[0]) for j in dense[:-1])
    classes = int(weight(f"fc.{dense[-1]}.weight").shape[0])
    return WeaverArchitecture(inputs, tuple(blocks), fusion, hidden, classes, vertex_inputs, embedding)


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
    if architecture.tagger:
        assert isinstance(model, WeaverParticleNetTagger)
        for group, embedding in (("pf_conv", model.particle_embedding), ("sv_conv", model.vertex_embedding)):
            _copy_norm(embedding[0], state, f"{group}.conv.0", where)
            name = f"{group}.conv.1.weight"
            convolution = embedding[1]
            assert isinstance(convolution, torch.nn.Conv1d)
            _copy(convolution.weight, _weight(state, name, where), name, where)
            _copy_norm(embedding[2], state, f"{group}.conv.2", where)
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
        ``neighbours``, ``blocks``, ``fusion``, ``hidden``, ``biases``, ``batch_norms``, ``weaver`` and, for a
        ``ParticleNetTagger``, ``embedding``.

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
        **({"embedding": architecture.embedding} if architecture.tagger else {}),
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
    vertices: int = Field(default=5, gt=0, le=4096)  # secondary-vertex slots per jet (a ParticleNetTagger's)
    out: Path  # the tagger folder to write


@dataclass(frozen=True)
class DataConfig:
    """The part of a weaver-core data configuration a ParticleNet needs.

    Parameters
    ----------
    points : tuple of WeaverVariable
        The first graph's coordinates of the particles (the first ``*_points`` group), not yet mapped.
    features : tuple of WeaverVariable
        The particle features (the first ``*_features`` group), in the model's order.
    labels : tuple of str
        The class labels, in the model's output order.
    vertex_points : tuple of WeaverVariable, default ()
        A ParticleNetTagger's secondary-vertex coordinates (the second ``*_points`` group); empty: one list.
    vertex_features : tuple of WeaverVariable, default ()
        A ParticleNetTagger's secondary-vertex features (the second ``*_features`` group).
    """

    points: tuple[WeaverVariable, ...]
    features: tuple[WeaverVariable, ...]
    labels: tuple[str, ...]
    vertex_points: tuple[WeaverVariable, ...] = ()
    vertex_features: tuple[WeaverVariable, ...] = ()


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
        The points, features and labels, each input with its standardisation (``source`` left empty); the
        second list's (secondary vertices) where there are two.

    Raises
    ------
    InputDataError
        Other than one or two lists of points, features and a mask (in the order ParticleNet and ParticleNetTagger
        read them), an input without its standardisation, or labels that are not a simple list.
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
    names = [str(g) for g in groups]
    # the lists in the order of the inputs: ParticleNet reads one (points, features, mask), the tagger two
    lists = list(dict.fromkeys(g.rsplit("_", 1)[0] for g in names if g.endswith(("_points", "_features", "_mask"))))
    chosen = {(prefix, part): f"{prefix}_{part}" for prefix in lists for part in ("points", "features", "mask")}
    missing = [g for g in chosen.values() if g not in groups]
    if not 1 <= len(lists) <= 2 or missing:
        raise InputDataError(
            f"{where}: ParticleNet reads one list of '<list>_points', '_features' and '_mask' input groups, "
            f"ParticleNetTagger two (particles, then secondary vertices); found {names}"
            + (f", without {missing}" if missing else "")
        )
    unused = [g for g in names if g not in chosen.values() and not g.endswith("_vectors")]
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
    first, *second = lists
    vertex = {}
    if second:
        vertex = {
            "vertex_points": variables(chosen[second[0], "points"]),
            "vertex_features": variables(chosen[second[0], "features"]),
        }
    return DataConfig(
        variables(chosen[first, "points"]),
        variables(chosen[first, "features"]),
        tuple(map(str, labels["value"])),
        **vertex,
    )


def mapped_variables(
    points: Sequence[WeaverVariable],
    features: Sequence[WeaverVariable],
    inputs: Mapping[str, str],
    where: str,
    vertices: bool = False,
) -> tuple[list[WeaverVariable], list[int]]:
    """One list's inputs with the feature each is made of, and the channels of the coordinates.

    Parameters
    ----------
    points : sequence of WeaverVariable
        The list's coordinates, as the data configuration gives them.
    features : sequence of WeaverVariable
        The list's features, in the model's order.
    inputs : mapping of str to str
        The user's mapping, model input name to feature, beside the known names.
    where : str
        The data configuration's file, for messages.
    vertices : bool, default False
        The secondary-vertex list (``KNOWN_VERTEX_INPUTS``, ``VERTEX_SOURCES``) instead of the particle list.

    Returns
    -------
    variables : list of WeaverVariable
        The features, then the coordinates that are not among them (same name and standardisation).
    coordinates : list of int
        The channels of ``variables`` that are the first graph's coordinates.

    Raises
    ------
    InputDataError
        Inputs the list lacks (all of them named), or a mapping onto an unknown feature.
    """
    what = "secondary-vertex" if vertices else "particle"
    sources, known = (VERTEX_SOURCES, KNOWN_VERTEX_INPUTS) if vertices else (SOURCES, KNOWN_INPUTS)
    needed = [v.name for v in (*features, *points)]
    mine = {k: v for k, v in inputs.items() if k in needed}
    bad = {k: v for k, v in mine.items() if v not in sources}
    if bad:
        raise InputDataError(f"--inputs: {bad} are no {what} features; known: {', '.join(sources)}")
    names = {**known, **mine}
    missing = list(dict.fromkeys(n for n in needed if n not in names))
    if missing:
        raise InputDataError(
            f"{where}: the model reads {len(missing)} input(s) the jet table's {what} list does not hold: "
            f"{', '.join(missing)}. Map one onto a {what} feature that is the same quantity with "
            f"--inputs NAME=FEATURE (features: {', '.join(sources)})"
        )
    variables = [WeaverVariable(**{**v.__dict__, "source": names[v.name]}) for v in features]
    coordinates = []
    for point in points:
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
    OutputFolderError
        ``out`` is not a new or empty folder, or another run holds it.
    ModelFileError
        Weights that are no weaver-core ParticleNet, or that do not fit the data configuration.
    InputDataError
        A data configuration that cannot be read, or inputs the particle list lacks.
    """
    refuse_non_empty(options.out, False, "import-weaver writes a new tagger folder: choose a new or empty one")
    model, config, source = weaver_tagger(options)  # everything read and checked before the folder is made
    with locked_output(options.out, overwrite=False):
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
    if architecture.tagger != bool(data.vertex_features) or (
        architecture.tagger and len(data.vertex_features) != architecture.vertex_inputs
    ):
        raise ModelFileError(
            f"{where}: the model reads {architecture.vertex_inputs} features per secondary vertex (0: none), the data "
            f"configuration {options.data_config} lists {len(data.vertex_features)}"
        )
    config_file = str(options.data_config)
    variables, coordinates = mapped_variables(data.points, data.features, options.inputs, config_file)
    architecture_options: dict[str, Any] = {
        **particlenet_options(architecture, options.neighbours),
        "coordinates": coordinates,
        "node_features": len(data.features),
    }
    shapes: dict[str, tuple[int, ...]] = {"weaver_particles": (options.particles, len(SOURCES) - 1)}
    input_options = {"weaver_particles": {"variables": [v.as_list() for v in variables]}}
    if architecture.tagger:
        vertex, vertex_coordinates = mapped_variables(
            data.vertex_points, data.vertex_features, options.inputs, config_file, vertices=True
        )
        architecture_options |= {
            "vertex_coordinates": vertex_coordinates,
            "vertex_node_features": len(data.vertex_features),  # the coordinates not among them come after
        }
        shapes["weaver_vertices"] = (options.vertices, len(VERTEX_FEATURES))
        input_options["weaver_vertices"] = {"variables": [v.as_list() for v in vertex]}
    unknown = set(options.inputs) - {
        v.name for v in (*data.features, *data.points, *data.vertex_features, *data.vertex_points)
    }
    if unknown:
        raise InputDataError(f"--inputs: {sorted(unknown)} are no inputs of the model")
    config = ModelConfig(
        "weaver-particlenet-tagger" if architecture.tagger else "weaver-particlenet",
        architecture=architecture_options,
        shapes=shapes,
        input_options=input_options,
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
