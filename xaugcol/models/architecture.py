"""The architecture options of the taggers (``ModelConfig.architecture``), checked when a configuration is read, so
that a bad one is a one-line error naming the tagger, the option and the value, never a traceback from torch:

* layer lists, ``channels`` and ``hidden``: lists of integers 1..4 096 (``MAX_LAYER_WIDTH``), at most 32 entries
  (``MAX_LAYERS``; an empty list: no such layer);
* layer widths, ``width``, ``de``, ``do``, ``latent``, ``hidden_size``: integers 1..4 096;
* ``depth``: an integer from the tagger's ``MIN_DEPTH`` (2 for the Interaction Network, 1 for the deep sets) to 32;
* ``dropout``: a number in [0, 1);
* switches, ``biases``, ``mask_padding``, ``batch_norms``, ``weaver``, ``centred_norms``: true or false;
* ParticleNet's ``coordinates``: a list of input channel indices; ``node_features``: a channel count (0: all).

Every option a tagger class takes has one of these kinds (tests/test_integrity_limits.py checks it, so a new option
is not left unchecked). The whole tagger is then counted on torch's meta device (no memory is allocated) and refused
above 50 million parameters (``MAX_PARAMETERS``, 200 MB of float32 weights, gradients and two Adam moments four
times that), which per-option limits alone allow (4 096 channels over 2 000 particles into 4 096 units).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from xaugcol.limits import MAX_LAYER_WIDTH, MAX_LAYERS, MAX_PARAMETERS, check_size, is_integer, number
from xaugcol.quoting import quoted

LAYER_LISTS = ("channels", "hidden")
WIDTHS = ("width", "de", "do", "latent", "hidden_size", "fusion", "embedding")
FRACTIONS = ("dropout",)
SWITCHES = ("biases", "mask_padding", "batch_norms", "weaver", "centred_norms")
DEPTHS = ("depth",)
NEIGHBOURS = ("neighbours",)  # ParticleNet's k, 1..64
BLOCK_LISTS = ("blocks",)  # ParticleNet's EdgeConv blocks: a layer list each, at most 8
CHANNEL_LISTS = ("coordinates", "vertex_coordinates")  # input channels of the first graph, 0..4 095, at most 32
COUNTS = ("node_features", "vertex_node_features")  # a number of input channels, 0 (all) .. 4 096
OPTION_KINDS = {
    **dict.fromkeys(LAYER_LISTS, "layer list"),
    **dict.fromkeys(WIDTHS, "width"),
    **dict.fromkeys(FRACTIONS, "fraction"),
    **dict.fromkeys(SWITCHES, "switch"),
    **dict.fromkeys(DEPTHS, "depth"),
    **dict.fromkeys(NEIGHBOURS, "neighbours"),
    **dict.fromkeys(BLOCK_LISTS, "block list"),
    **dict.fromkeys(CHANNEL_LISTS, "channel list"),
    **dict.fromkeys(COUNTS, "count"),
}
MAX_NEIGHBOURS = 64
MAX_BLOCKS = 8


def check_architecture(model: str, cls: type, options: dict) -> None:
    """Refuse an option of ``options`` whose type, sign or size is wrong, naming the tagger, the option and its value.

    Parameters
    ----------
    model : str
        The tagger's name (a key of ``MODELS``), for the error message.
    cls : type
        The tagger class; its ``MIN_DEPTH`` (default 1) is the smallest ``depth`` allowed.
    options : dict
        The architecture (``ModelConfig.architecture``): option names to values. A name of no known kind
        (``OPTION_KINDS``) is not checked here.

    Raises
    ------
    ValueError
        An option of the wrong type, sign or size; the message starts with ``architecture of 'model':``.
    """
    for name, value in options.items():
        try:
            _check_option(name, value, getattr(cls, "MIN_DEPTH", 1))
        except ValueError as err:
            raise ValueError(f"architecture of {model!r}: {err}") from None


def _check_option(name: str, value, min_depth: int) -> None:
    kind = OPTION_KINDS.get(name)
    if kind == "layer list":
        if not (
            isinstance(value, (list, tuple))
            and len(value) <= MAX_LAYERS
            and all(is_integer(v) and 1 <= v <= MAX_LAYER_WIDTH for v in value)
        ):
            raise ValueError(
                f"{name} must be a list of at most {MAX_LAYERS} integers 1..{number(MAX_LAYER_WIDTH)}, "
                f"got {quoted(value)}"
            )
    elif kind == "width":
        check_size(value, name, MAX_LAYER_WIDTH)
    elif kind == "neighbours":
        check_size(value, name, MAX_NEIGHBOURS)
    elif kind == "block list":
        if not (isinstance(value, (list, tuple)) and 1 <= len(value) <= MAX_BLOCKS):
            raise ValueError(f"{name} must be a list of 1..{MAX_BLOCKS} layer lists, got {quoted(value)}")
        for block in value:
            if not (isinstance(block, (list, tuple)) and block):
                raise ValueError(f"{name}: every block must be a non-empty list of widths, got {quoted(block)}")
            _check_option("channels", block, min_depth)
    elif kind == "channel list":
        if not (
            value is None
            or isinstance(value, (list, tuple))
            and 1 <= len(value) <= MAX_LAYERS
            and all(is_integer(v) and 0 <= v < MAX_LAYER_WIDTH for v in value)
        ):
            raise ValueError(
                f"{name} must be a list of 1..{MAX_LAYERS} channel indices 0..{MAX_LAYER_WIDTH - 1}, "
                f"got {quoted(value)}"
            )
    elif kind == "count":
        if not (is_integer(value) and 0 <= value <= MAX_LAYER_WIDTH):
            raise ValueError(f"{name} must be an integer 0..{number(MAX_LAYER_WIDTH)}, got {quoted(value)}")
    elif kind == "depth":
        check_size(value, name, MAX_LAYERS, minimum=min_depth)
    elif kind == "fraction":
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1):
            raise ValueError(f"{name} must be a number in [0, 1), got {quoted(value)}")
    elif kind == "switch":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {quoted(value)}")


def check_parameter_count(model: str, build: Callable[[], torch.nn.Module]) -> None:
    """Refuse a tagger of more than ``MAX_PARAMETERS`` trainable parameters.

    ``build()`` makes it on the meta device: shapes only, nothing allocated.

    Parameters
    ----------
    model : str
        The tagger's name, for the error message.
    build : callable
        Takes no argument and returns the tagger (a ``torch.nn.Module``); called under ``torch.device("meta")``.

    Raises
    ------
    ValueError
        A tagger of more than ``MAX_PARAMETERS`` parameters that require a gradient.
    """
    with torch.device("meta"):
        tagger = build()
    count = sum(math.prod(p.shape) for p in tagger.parameters() if p.requires_grad)
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"architecture of {model!r}: {number(count)} parameters, more than {number(MAX_PARAMETERS)} "
            f"({count * 4 / 2**30:.1f} GiB of float32 weights): make its layers narrower or fewer"
        )
