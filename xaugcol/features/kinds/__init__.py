"""The registry of input kinds: every kind of tagger input, declared once (``base.InputKind``).

    from xaugcol.features.kinds import KINDS, input_kind
    KINDS["particles"]                      # the class; ``input_kind("xaug", config)`` the kind a tagger reads

Adding a kind (EFPs, calorimeter cells...) is one module with an ``InputKind`` subclass and one ``register`` line
below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xaugcol.features.kinds.base import InputKind, ProfileEntries
from xaugcol.features.kinds.calorimeter import CaloImageInput, CellsInput
from xaugcol.features.kinds.image import ImageInput
from xaugcol.features.kinds.particles import ParticlesInput
from xaugcol.features.kinds.tracks import TracksInput
from xaugcol.features.kinds.vertices import VerticesInput
from xaugcol.features.kinds.weaver import WeaverParticlesInput, WeaverVerticesInput
from xaugcol.features.kinds.xaug import XAUGInput
from xaugcol.quoting import quoted

if TYPE_CHECKING:
    from xaugcol.features.kinds.base import TaggerSettings

KINDS: dict[str, type[InputKind]] = {}


def register(kind: type[InputKind]) -> type[InputKind]:
    """Make an input kind known under its ``name`` (a tagger class's ``input_kinds`` name kinds).

    Returns the class, so that ``register`` can decorate it. Registering the same class twice does nothing.

    Parameters
    ----------
    kind : type of InputKind
        The input kind's class.

    Returns
    -------
    type of InputKind
        ``kind`` itself.

    Raises
    ------
    ValueError
        For another class under a name already taken.
    """
    if kind.name in KINDS and KINDS[kind.name] is not kind:
        raise ValueError(f"input kind {kind.name!r} is registered twice")
    KINDS[kind.name] = kind
    return kind


register(ImageInput)
register(CaloImageInput)
register(CellsInput)
register(ParticlesInput)
register(TracksInput)
register(VerticesInput)
register(WeaverParticlesInput)
register(WeaverVerticesInput)
register(XAUGInput)


def kind_class(name: str) -> type[InputKind]:
    """The input kind registered as ``name``; an unknown name is a ``ValueError`` listing the known ones.

    Parameters
    ----------
    name : str
        A kind's name (``image``, ``particles``, ``xaug``, ...).

    Returns
    -------
    type of InputKind
        The kind's class.

    Raises
    ------
    ValueError
        For a name no kind is registered under.
    """
    if name not in KINDS:
        raise ValueError(f"unknown tagger input kind {quoted(name)}; known: {', '.join(KINDS)}")
    return KINDS[name]


def input_kind(name: str, config: TaggerSettings) -> InputKind:
    """The kind ``name`` as the tagger described by ``config`` (a ``ModelConfig``) reads it.

    Parameters
    ----------
    name : str
        A registered kind's name.
    config : TaggerSettings
        The tagger's configuration (``xaugcol.models.registry.ModelConfig``).

    Returns
    -------
    InputKind
        The kind, with the shape and scaling the configuration gives (``from_config``).

    Raises
    ------
    ValueError
        For a name no kind is registered under.
    """
    return kind_class(name).from_config(config)


def feature_label(feature: str) -> str:
    """Axis label of a feature, asked of every registered kind (for figures drawn from saved histograms).

    Each kind is asked in its default configuration; the first that knows the feature gives its label.

    Parameters
    ----------
    feature : str
        A feature's name (``msd``, ``particle:log_pt``, ...).

    Returns
    -------
    str
        Its axis label, or ``feature`` itself where no kind knows it.
    """
    for cls in KINDS.values():
        try:
            return cls().label(feature)
        except (KeyError, ValueError, TypeError):
            continue
    return feature


__all__ = ["InputKind", "ProfileEntries", "KINDS", "register", "kind_class", "input_kind", "feature_label"]
