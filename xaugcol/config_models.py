"""Configuration files validated by pydantic models, with messages that name the file and the field.

Every configuration a user writes (study, training study, toy source, process card, HTCondor submit file, LRP
composite) is read by a ``ConfigModel``: unknown fields are refused with the list of known ones, values are not
coerced (a quoted "3" is not a count, ``yes`` is not a number), and ``validated`` turns pydantic's errors into one
``ValueError`` such as ``submit config jobs.yaml: resources: memory must be a size like 4GB, got 'lots'``.

Field types with their own wording (``PositiveInt``, ``NonNegativeInt``, ``Bool``, ``Number``, ``PositiveNumber``,
``Strings``) raise "must be ..." messages, which follow the field's path ("files_per_job must be a positive
integer"); any other message follows it after a colon. A message quotes a value at most ``QUOTE_LIMIT`` characters
long (``xaugcol.quoting``) and lists the first ``MAX_ERRORS`` errors.

Every YAML file the toolkit reads (these configurations, a tagger folder's ``config.yaml``, a methods file) goes
through ``read_yaml``: a regular file of at most ``MAX_YAML_BYTES``, parsed safely (no code from the file runs),
whose aliases expand to at most ``MAX_YAML_NODES`` nodes and ``MAX_YAML_CHARACTERS`` characters of text. Aliases
may repeat a node without making the file longer (a "billion laughs": nine levels of nine aliases are 9**9
strings from 400 bytes), so the document is measured with its aliases followed before any Python object is built;
a normal file, anchors and ``<<:`` merges included, is far below the limits. A mapping that lists a key twice
(``training: {epochs: 1, epochs: 3}``) is refused with both places: PyYAML would keep the last one silently. A key
given next to a ``<<:`` merge replaces the merged one, as YAML defines: that is no duplicate.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from xaugcol.limits import number
from xaugcol.paths import read_text
from xaugcol.quoting import quoted, shortened

MAX_ERRORS = 10  # errors of one file a message lists
MAX_YAML_BYTES = 1 << 20  # 1 MiB: a configuration is a few KB
MAX_YAML_NODES = 100_000  # scalars, lists and mappings, with every alias followed
MAX_YAML_CHARACTERS = 2_000_000  # text of the scalars, with every alias followed

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigModel(BaseModel):
    """A section of a configuration file: known fields only, frozen once read."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        return cls.check_known(data)

    @classmethod
    def check_known(cls, data: Any) -> Any:
        """A mapping of known fields only.

        A subclass's own ``mode="before"`` validator runs before this one, so it calls this first.

        Parameters
        ----------
        data : Any
            The section as read: a ``dict`` of field names (or aliases) to values, or an instance of the model.

        Returns
        -------
        Any
            ``data`` itself, unchanged.

        Raises
        ------
        ValueError
            Where ``data`` is not a mapping, or names a field the model does not have (the known ones listed).
        """
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping, got {quoted(data)}")
        known = {f.alias or name for name, f in cls.model_fields.items()}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown field(s) {quoted(sorted(map(str, unknown)))}; known: {sorted(known)}")
        return data

    def given(self) -> dict[str, Any]:
        """The fields the file set (the rest keep the defaults of the object built from it).

        Returns
        -------
        dict of str to Any
            Each field set explicitly (``model_fields_set``), by its Python name, with its validated value.
        """
        return {name: getattr(self, name) for name in self.model_fields_set}


def at_most(value: Any, limit: int) -> Any:
    """For a field validator: ``value`` if it is at most ``limit``; a ``ValueError`` saying so otherwise.

    Parameters
    ----------
    value : Any
        None (not given: always accepted) or a number.
    limit : int
        The largest value allowed, one of ``xaugcol.limits``.

    Returns
    -------
    Any
        ``value`` itself.

    Raises
    ------
    ValueError
        Where ``value`` is larger than ``limit``.
    """
    if value is not None and value > limit:
        raise ValueError(f"must be at most {number(limit)} (xaugcol.limits), got {value}")
    return value


def integer_in(value: Any, minimum: int, maximum: int) -> int:
    """For a field validator: ``value`` if it is an integer from ``minimum`` to ``maximum``.

    Meant for ``mode="before"``, on the value as given: a bool or a float such as 64.0 is no integer.

    Parameters
    ----------
    value : Any
        The value as the file gives it.
    minimum : int
        The smallest value allowed, inclusive.
    maximum : int
        The largest value allowed, inclusive.

    Returns
    -------
    int
        ``value`` itself.

    Raises
    ------
    ValueError
        Where ``value`` is no integer or lies outside ``minimum..maximum``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"must be an integer {minimum}..{number(maximum)}, got {quoted(value)}")
    return value


def one_of(value: Any, choices: Collection[str]) -> Any:
    """For a field validator: ``value`` if it is one of ``choices``.

    Parameters
    ----------
    value : Any
        The value as the file gives it.
    choices : collection of str
        The values allowed, listed in the message in their order.

    Returns
    -------
    Any
        ``value`` itself.

    Raises
    ------
    ValueError
        Where ``value`` is not in ``choices``.
    """
    if value not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}, got {quoted(value)}")
    return value


def validated(model: type[ModelT], data: Any, where: str, sep: str = ": ") -> ModelT:
    """``model`` read from ``data``; a ``ValueError`` naming ``where`` (the file) and the field otherwise.

    Parameters
    ----------
    model : type of BaseModel
        The pydantic model to validate ``data`` with.
    data : Any
        The configuration as read (plain Python values).
    where : str
        The file or section, for the message.
    sep : str, default ": "
        Joins the parts of a field's path (``resources: memory``, or with ``"."`` ``signal.z`` where a file's
        documentation writes paths so).

    Returns
    -------
    ModelT
        The validated model.

    Raises
    ------
    ValueError
        Where pydantic refuses ``data``: ``"<where>: <describe(err, sep)>"``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ValueError(f"{where}: {describe(err, sep)}") from None


def describe(err: ValidationError, sep: str = ": ") -> str:
    """pydantic's errors as sentences: the path of the field, then what is wrong with it.

    Parameters
    ----------
    err : pydantic.ValidationError
        The errors of one validation.
    sep : str, default ": "
        Joins the parts of a field's path, as in ``validated``.

    Returns
    -------
    str
        The first ``MAX_ERRORS`` errors' sentences joined by ``"; "``, then how many more there are.
    """
    errors = err.errors(include_url=False)
    more = f"; and {len(errors) - MAX_ERRORS} more error(s)" if len(errors) > MAX_ERRORS else ""
    return "; ".join(_sentence(e, sep) for e in errors[:MAX_ERRORS]) + more


def _sentence(error: ErrorDetails, sep: str) -> str:
    path = _path(error["loc"], sep)
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        name = f"'{error['loc'][-1]}'"
        parent = _path(error["loc"][:-1], sep)
        return f"{parent}: {name} is required" if parent else f"{name} is required"
    if kind in ("value_error", "assertion_error"):
        message = str(error.get("ctx", {}).get("error", message))
    else:
        message = f"{message} (got {quoted(error.get('input'))})"
    if not path:
        return message
    return f"{path} {message}" if message.startswith("must ") else f"{path}: {message}"


def _path(loc: tuple[int | str, ...], sep: str) -> str:
    text = ""
    for part in loc:
        name = shortened(str(part))  # a mapping's keys are the user's too
        text += f"[{name}]" if isinstance(part, int) else (f"{sep}{name}" if text else name)
    return text


def read_yaml(path: str | Path, what: str) -> Any:
    """A YAML file read within the limits above, as plain Python values.

    Parsed safely (a ``yaml.SafeLoader``), at most ``MAX_YAML_BYTES`` of a regular file, its aliases expanding to at
    most ``MAX_YAML_NODES`` nodes and ``MAX_YAML_CHARACTERS`` characters, no mapping listing a key twice.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    what : str
        Its role, for the messages (e.g. ``"study config"``).

    Returns
    -------
    Any
        The document: mappings as ``dict``, sequences as ``list``, scalars as Python values; None for an empty file.

    Raises
    ------
    ValueError
        Naming ``what`` and the file, where it cannot be read, is not a regular file, is too large, is not YAML,
        exceeds the limits, lists a key twice or is nested too deeply.
    """
    try:
        size = Path(path).stat().st_size
        if size > MAX_YAML_BYTES:
            raise ValueError(f"{size} bytes, more than the {MAX_YAML_BYTES} a YAML file may have")
        return yaml.load(read_text(path, what), Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ValueError(f"{what} {path}: cannot read it: {err}") from None
    except RecursionError:
        raise ValueError(f"{what} {path}: cannot read it: nested too deeply") from None


def with_settings(raw: Any, settings: Sequence[str], what: str) -> Any:
    """``raw`` with each ``KEY=VALUE`` of ``settings`` set.

    KEY is a dotted path of mapping keys (``source.tracker``); missing mappings on the path are created. VALUE is
    read as YAML (``{v0_decays: true}``, ``25``, ``cms_like``). A copy: ``raw`` is not changed.

    Parameters
    ----------
    raw : Any
        A configuration read from YAML (normally a ``dict``).
    settings : sequence of str
        The ``KEY=VALUE`` settings (``--set``), applied in order.
    what : str
        The configuration's role, for the messages.

    Returns
    -------
    Any
        A deep copy of ``raw`` with the settings applied.

    Raises
    ------
    ValueError
        Naming the setting, when it is not ``KEY=VALUE``, its value is not YAML, or a key on the path is not a
        mapping.
    """
    raw = copy.deepcopy(raw)
    for setting in settings:
        key, sep, text = setting.partition("=")
        path = [part.strip() for part in key.split(".")]
        if not sep or not all(path):
            raise ValueError(f"--set {quoted(setting)}: expected KEY=VALUE, KEY a dotted path such as source.events")
        try:
            value = yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader
        except yaml.YAMLError as err:
            raise ValueError(f"--set {quoted(setting)}: the value is not YAML: {err}") from None
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ValueError(f"--set {quoted(setting)}: {'.'.join(path[:-1])} of the {what} is not a mapping")
        node[path[-1]] = value
    return raw


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that measures and checks the composed document before building it.

    It measures the document with ``expanded_size`` and refuses a mapping listing a key twice
    (``refuse_duplicate_keys``).
    """

    def construct_document(self, node: yaml.Node) -> Any:
        """The document ``node`` as Python values, once it is measured and its mappings checked."""
        expanded_size(node)
        refuse_duplicate_keys(node, self.construct_object)
        return super().construct_document(node)


MERGE_TAG = "tag:yaml.org,2002:merge"  # the ``<<`` key


def refuse_duplicate_keys(root: yaml.Node, construct: Callable[[yaml.Node], Any]) -> None:
    """Refuse a mapping of the composed document ``root`` that lists one key twice.

    Keys are compared as ``construct`` builds them: ``1`` and ``0x1`` are one key. Checked on the mappings as
    written, before the constructor folds ``<<:`` merges into them, so a key that overrides a merged one is not a
    duplicate. Each node is visited once (aliases share theirs), without recursion.

    Parameters
    ----------
    root : yaml.Node
        The composed document's root node.
    construct : callable
        Builds a key node's Python value (the loader's ``construct_object``).

    Raises
    ------
    yaml.YAMLError
        Naming the key and both places (line, column).
    """
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            _check_keys(node, construct)
        stack.extend(_children(node))


def _check_keys(node: yaml.MappingNode, construct: Callable[[yaml.Node], Any]) -> None:
    first: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = construct(key_node)
        if key in first:
            raise yaml.YAMLError(
                f"the key {quoted(key)} appears twice in one mapping, at {_place(first[key])} and "
                f"at {_place(key_node)}; a mapping may list a key once"
            )
        first[key] = key_node


def expanded_size(root: yaml.Node) -> tuple[int, int]:
    """The size of a composed YAML document with every alias followed.

    Each node is counted once (aliases share their node), without recursion: the work grows with the file, not with
    what its aliases expand to.

    Parameters
    ----------
    root : yaml.Node
        The composed document's root node.

    Returns
    -------
    nodes : int
        Scalars, sequences and mappings, keys included, with every alias expanded.
    characters : int
        The characters of scalar text, with every alias expanded.

    Raises
    ------
    yaml.YAMLError
        Beyond ``MAX_YAML_NODES`` or ``MAX_YAML_CHARACTERS``, or for a node holding an alias of itself (it expands
        without end).
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> its expanded size
    open_nodes: set[int] = set()  # the nodes whose children are being counted: the path from the root
    stack = [(root, False)]
    while stack:
        node, children_counted = stack.pop()
        if children_counted:
            open_nodes.discard(id(node))
            nodes, characters = 1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0
            for child in _children(node):
                nodes, characters = nodes + sizes[id(child)][0], characters + sizes[id(child)][1]
            _check_expansion(nodes, characters, node)
            sizes[id(node)] = nodes, characters
        elif id(node) not in sizes:
            if id(node) in open_nodes:
                raise yaml.YAMLError(f"the value at {_place(node)} holds an alias of itself: it expands without end")
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(nodes: int, characters: int, node: yaml.Node) -> None:
    for size, limit, unit in ((nodes, MAX_YAML_NODES, "nodes"), (characters, MAX_YAML_CHARACTERS, "characters")):
        if size > limit:
            raise yaml.YAMLError(
                f"the value at {_place(node)} expands to more than {limit} {unit} with its aliases "
                "followed (a YAML bomb?)"
            )


def _place(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


# ---- field types that say what they want


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a positive integer, got {quoted(value)}")
    return value


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be an integer >= 0, got {quoted(value)}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {quoted(value)}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"must be a number, got {quoted(value)}")
    return float(value)


def _positive_number(value: Any) -> float:
    if _number(value) <= 0 or math.isinf(value):
        raise ValueError(f"must be a finite number > 0, got {quoted(value)}")
    return float(value)


def _non_negative_number(value: Any) -> float:
    if _number(value) < 0 or math.isinf(value):
        raise ValueError(f"must be a finite number >= 0, got {quoted(value)}")
    return float(value)


def _strings(value: Any) -> tuple[str, ...]:
    if not (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
        raise ValueError(f"must be a list of strings, got {quoted(value)}")
    return tuple(value)


PositiveInt = Annotated[int, BeforeValidator(_positive_int)]
# a positive integer whose default is None (not given): a null written in a file is refused, as by PositiveInt
PositiveIntOrUnset = Annotated[int | None, BeforeValidator(_positive_int)]
NonNegativeInt = Annotated[int, BeforeValidator(_non_negative_int)]
Bool = Annotated[bool, BeforeValidator(_bool)]
Number = Annotated[float, BeforeValidator(_number)]
PositiveNumber = Annotated[float, BeforeValidator(_positive_number)]
NonNegativeNumber = Annotated[float, BeforeValidator(_non_negative_number)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
