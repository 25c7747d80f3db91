"""Configuration files validated by pydantic models, with messages that name the file and the field.

Every configuration a user writes (study, training study, toy source, process card, HTCondor submit file, LRP
composite) is read by a ``ConfigModel``: unknown fields are refused with the list of known ones, values are not
coerced (a quoted "3" is not a count, ``yes`` is not a number), and ``validated`` turns pydantic's errors into one
``ValueError`` such as ``submit config jobs.yaml: resources: memory must be a size like 4GB, got 'lots'``.

Field types with their own wording (``PositiveInt``, ``NonNegativeInt``, ``Bool``, ``Number``, ``PositiveNumber``,
``Strings``) raise "must be ..." messages, which follow the field's path ("files_per_job must be a positive
integer"); any other message follows it after a colon.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from xaugcol.paths import read_text


class ConfigModel(BaseModel):
    """A section of a configuration file: known fields only, frozen once read."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        return cls.check_known(data)

    @classmethod
    def check_known(cls, data: Any) -> Any:
        """A mapping of known fields only (a subclass's own ``mode="before"`` validator runs before this one, so
        it calls this first)."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping, got {data!r}")
        known = {f.alias or name for name, f in cls.model_fields.items()}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(map(str, unknown))}; known: {sorted(known)}")
        return data

    def given(self) -> dict:
        """The fields the file set (the rest keep the defaults of the object built from it)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def validated(model: type[BaseModel], data: Any, where: str, sep: str = ": "):
    """``model`` read from ``data``; a ``ValueError`` naming ``where`` (the file) and the field otherwise. ``sep``
    joins the parts of a field's path (``resources: memory``, or with ``"."`` ``signal.z`` where a file's
    documentation writes paths so)."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ValueError(f"{where}: {describe(err, sep)}") from None


def describe(err: ValidationError, sep: str = ": ") -> str:
    """pydantic's errors as sentences: the path of the field, then what is wrong with it."""
    return "; ".join(_sentence(e, sep) for e in err.errors(include_url=False))


def _sentence(error: dict, sep: str) -> str:
    path = _path(error["loc"], sep)
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        name = f"'{error['loc'][-1]}'"
        parent = _path(error["loc"][:-1], sep)
        return f"{parent}: {name} is required" if parent else f"{name} is required"
    if kind in ("value_error", "assertion_error"):
        message = str(error.get("ctx", {}).get("error", message))
    else:
        message = f"{message} (got {error.get('input')!r})"
    if not path:
        return message
    return f"{path} {message}" if message.startswith("must ") else f"{path}: {message}"


def _path(loc: tuple, sep: str) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f"{sep}{part}" if text else str(part))
    return text


def read_yaml(path: str | Path, what: str):
    """A configuration file parsed safely (``yaml.safe_load``: no code from the file runs), from a regular file."""
    try:
        return yaml.safe_load(read_text(path, what))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{what} {path}: cannot read it: {err}") from None


# ---- field types that say what they want

def _positive_int(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a positive integer, got {value!r}")
    return value


def _non_negative_int(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be an integer >= 0, got {value!r}")
    return value


def _bool(value):
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


def _positive_number(value):
    if _number(value) <= 0 or math.isinf(value):
        raise ValueError(f"must be a finite number > 0, got {value!r}")
    return float(value)


def _strings(value):
    if not (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
        raise ValueError(f"must be a list of strings, got {value!r}")
    return tuple(value)


PositiveInt = Annotated[int, BeforeValidator(_positive_int)]
NonNegativeInt = Annotated[int, BeforeValidator(_non_negative_int)]
Bool = Annotated[bool, BeforeValidator(_bool)]
Number = Annotated[float, BeforeValidator(_number)]
PositiveNumber = Annotated[float, BeforeValidator(_positive_number)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
