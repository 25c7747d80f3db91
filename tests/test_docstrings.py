"""Every public function, method and class of xaugcol, processors and condor has a NumPy-style docstring (issue
40, part 2), checked with numpydoc's own validator: a summary line, a ``Parameters`` section naming each parameter
in order (with a type and a description), a ``Returns`` or ``Yields`` section where a value comes back, and only
known sections in their order.

Public: defined in the package's modules under a name that does not start with ``_`` (a public method of a public
class; ``__init__`` is checked through its class's docstring, as NumPy style documents the constructor there).
Pydantic models are the configuration files' schemas: their fields are documented beside each field in the source
and rendered on the configuration reference pages, so their class docstring needs no ``Parameters`` list.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from numpydoc.validate import validate

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("xaugcol", "processors", "condor")

CHECKS = {
    "GL06",  # unknown section
    "GL07",  # sections out of order
    "GL08",  # no docstring
    "SS01",  # no summary
    "PR01",  # parameters not documented
    "PR02",  # documented parameters the signature does not have
    "PR03",  # parameters documented in another order
    "PR04",  # a parameter without a type
    "PR07",  # a parameter without a description
    "PR10",  # "name: type" instead of "name : type"
    "RT01",  # no Returns section
    "RT03",  # a return value without a description
    "YD01",  # no Yields section in a generator
}
# a pydantic model's fields are its parameters: documented beside each field and on the configuration pages; a
# class documents the constructor it defines (NumPy style): one it inherits (a torch module's, a Protocol's, a
# tagger subclass's) is documented where it is written
PARAMETER_CHECKS = {"PR01", "PR02", "PR03", "PR04", "PR07"}


def _modules() -> Iterator[str]:
    for package in PACKAGES:
        yield package
        path = ROOT / package
        for info in pkgutil.walk_packages([str(path)], prefix=f"{package}."):
            yield info.name


def _is_model(obj: object) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return False
    return inspect.isclass(obj) and issubclass(obj, BaseModel)


def _inherited_constructor(obj: object) -> bool:
    """A class that writes no ``__init__`` of its own (a dataclass's generated one counts as its own; the one
    ``typing.Protocol`` puts in a protocol's body does not)."""
    if not inspect.isclass(obj):
        return False
    init = vars(obj).get("__init__")
    return init is None or getattr(init, "__module__", "").split(".")[0] not in PACKAGES


def public_objects() -> Iterator[tuple[str, object]]:
    """``(dotted name, object)`` for every public module, class, function and method defined in the packages."""
    for module_name in _modules():
        module = importlib.import_module(module_name)
        yield module_name, module
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            if inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj
            elif inspect.isclass(obj):
                yield f"{module_name}.{name}", obj
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
                    if inspect.isfunction(function) or isinstance(member, property):
                        yield f"{module_name}.{name}.{attr}", member


def _source_file(obj: object) -> Path | None:
    target = obj.fget if isinstance(obj, property) else obj
    target = inspect.unwrap(getattr(target, "__func__", target))  # classmethods, @contextmanager
    try:
        path = inspect.getsourcefile(target)  # type: ignore[arg-type]
    except TypeError:
        return None
    return Path(path).resolve() if path else None


def problems(under: list[Path] | None = None) -> list[str]:
    """``name: code message`` for every docstring problem; ``under`` keeps the objects defined in those files or
    folders."""
    roots = [p.resolve() for p in under] if under else None
    out = []
    for name, obj in public_objects():
        if roots is not None:
            source = _source_file(obj)
            if source is None or not any(source == r or r in source.parents for r in roots):
                continue
        if inspect.ismodule(obj):  # numpydoc reads a package's source poorly: its docstring is all there is to check
            if not (obj.__doc__ or "").strip():
                out.append(f"{name}: GL08 The module does not have a docstring")
            continue
        checks = CHECKS - PARAMETER_CHECKS if _is_model(obj) or _inherited_constructor(obj) else CHECKS
        try:
            result = validate(name)
        except Exception as err:  # the validator cannot read it: a problem of its own
            out.append(f"{name}: cannot be validated ({type(err).__name__}: {err})")
            continue
        for code, message in result["errors"]:
            if code in checks:
                out.append(f"{name}: {code} {message}")
    return out


def test_public_docstrings_follow_numpy_style() -> None:
    found = problems()
    assert not found, f"{len(found)} docstring problems:\n" + "\n".join(found)


if __name__ == "__main__":  # python tests/test_docstrings.py [FILE_OR_FOLDER ...]: the problems there
    import sys

    sys.path.insert(0, str(ROOT))
    found = problems([Path(a) for a in sys.argv[1:]] or None)
    print("\n".join(found))
    print(f"{len(found)} problems")


def test_the_checks_catch_what_they_are_for(tmp_path, monkeypatch) -> None:
    """A parameter left out, a return not described, a summary missing: each is caught."""
    (tmp_path / "docstring_cases.py").write_text(
        "def left_out(a: int, b: int) -> None:\n"
        '    """Do a thing.\n\n    Parameters\n    ----------\n    a : int\n        The first.\n    """\n\n'
        "def no_returns(a: int) -> int:\n"
        '    """Do a thing.\n\n    Parameters\n    ----------\n    a : int\n        The first.\n    """\n'
        "    return a\n\n"
        "def fine(a: int) -> int:\n"
        '    """Do a thing.\n\n    Parameters\n    ----------\n    a : int\n        The first.\n\n'
        '    Returns\n    -------\n    int\n        The same.\n    """\n'
        "    return a\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = {name: {code for code, _ in validate(f"docstring_cases.{name}")["errors"]} & CHECKS
             for name in ("left_out", "no_returns", "fine")}
    assert found == {"left_out": {"PR01"}, "no_returns": {"RT01"}, "fine": set()}
