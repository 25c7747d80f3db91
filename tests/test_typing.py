"""Every public function and method of xaugcol, processors and condor is annotated (issue 40, part 2): each
parameter (``self`` and ``cls`` aside, ``*args`` and ``**kwargs`` included) and the return.

Public: a name that does not start with ``_``, at module level or in a class body (a public method of a private
class counts too). Nested functions (defined inside another function: callbacks, closures) are exempt: they are
no part of the interface, and mypy infers what it needs from their context.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("xaugcol", "processors", "condor")

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(tree: ast.Module) -> Iterator[Function]:
    """Functions at module level and in class bodies (classes nested in classes too), not inside a function."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield child  # its body is not walked: what it defines is nested
            elif isinstance(child, ast.ClassDef) or not isinstance(child, (ast.Lambda, ast.expr)):
                todo.append(child)  # class bodies, and statements such as `if TYPE_CHECKING:` or `try:`


def _missing(function: Function) -> list[str]:
    """What of ``function`` lacks an annotation: parameter names, and ``return``."""
    args = function.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    params = [a for a in params if a.arg not in ("self", "cls")]
    params += [a for a in (args.vararg, args.kwarg) if a is not None]
    out = [a.arg for a in params if a.annotation is None]
    if function.returns is None:
        out.append("return")
    return out


def unannotated() -> list[str]:
    """``path:line name (missing, ...)`` for every public function or method that lacks an annotation."""
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for function in _functions(tree):
                missing = _missing(function)
                if not function.name.startswith("_") and missing:
                    where = path.relative_to(ROOT)
                    out.append(f"{where}:{function.lineno} {function.name} ({', '.join(missing)})")
    return out


def test_walker_sees_methods_and_skips_nested_functions() -> None:
    tree = ast.parse(
        "def f(a, b: int) -> None:\n"
        "    def inner(x): return x\n"
        "class C:\n"
        "    def m(self, y: int): ...\n"
        "    @classmethod\n"
        "    def k(cls, *args: int, **kwargs) -> None: ...\n"
        "if True:\n"
        "    def g() -> int: return 1\n"
    )
    found = {f.name: _missing(f) for f in _functions(tree)}
    assert found == {"f": ["a"], "m": ["return"], "k": ["kwargs"], "g": []}


def test_public_functions_are_annotated() -> None:
    missing = unannotated()
    assert not missing, f"{len(missing)} public functions lack type hints:\n" + "\n".join(missing)
