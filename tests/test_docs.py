"""Every Python example of the documentation runs: each ```python block of docs/**/*.md and README.md is one test
(its id: file:line), executed in a fresh temporary folder in a Python process of its own. A block that cannot run
here (a Dask cluster, a GPU, a file the user brings, a long study) is marked right above it with an HTML comment,
``<!-- not run: the reason -->``; it must then compile, and its imports (the top-level ``import`` and ``from ...
import`` statements) must run: a name that moved to another module fails either way."""

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->$")
TIMEOUT = 300  # seconds per example; each takes a few


def pages() -> list[Path]:
    docs = ROOT / "docs"
    found = [p for p in docs.rglob("*.md") if "_build" not in p.relative_to(docs).parts]
    return sorted(found) + [ROOT / "README.md"]


def fenced_blocks(text: str):
    """(line of the opening fence, info string, code, the nearest non-blank line above) of every fenced block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [line[indent:] if line[:indent].strip() == "" else line for line in lines[i + 1 : end]]
        above = i - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        yield (
            i + 1,
            m.group("info").strip(),
            textwrap.dedent("\n".join(body)),
            lines[above].strip() if above >= 0 else "",
        )
        i = end + 1


def python_examples():
    """pytest parameters: (code, reason it is not run or None), with the id file:line."""
    params = []
    for page in pages():
        name = page.relative_to(ROOT).as_posix()
        for line, info, code, above in fenced_blocks(page.read_text(encoding="utf-8")):
            language = info.split()[0].lower() if info else ""
            if language not in ("python", "py"):
                continue
            marker = NOT_RUN.match(above)
            params.append(pytest.param(code, marker.group("reason") if marker else None, id=f"{name}:{line}"))
    return params


EXAMPLES = python_examples()


def test_examples_were_found():
    """The collector sees the examples (a change of the fence syntax must not silence every doc test)."""
    assert len(EXAMPLES) >= 10
    assert any(p.values[1] is None for p in EXAMPLES) and any(p.values[1] is not None for p in EXAMPLES)


def test_every_marker_precedes_an_example():
    """A ``not run`` comment stands right above a python block: one left behind when an example moved would
    otherwise silently stop nothing, or mark the wrong block."""
    for page in pages():
        text = page.read_text(encoding="utf-8")
        lines = text.splitlines()
        blocks = {line: info for line, info, _, _ in fenced_blocks(text)}
        inside = set()
        for line, _, code, _ in fenced_blocks(text):
            inside.update(range(line, line + code.count("\n") + 3))
        for number, line in enumerate(lines, 1):
            if not NOT_RUN.match(line.strip()) or number in inside:
                continue
            following = next((n for n in range(number + 1, len(lines) + 1) if lines[n - 1].strip()), None)
            info = blocks.get(following, "")
            assert info.split()[:1] in (["python"], ["py"]), (
                f"{page.relative_to(ROOT)}:{number}: a 'not run' comment must stand right above a python block"
            )


def imports_of(code: str) -> str:
    """The example's top-level imports, as a script."""
    tree = ast.parse(code)
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


@pytest.mark.parametrize(("code", "not_run"), EXAMPLES)
def test_example(code, not_run, tmp_path):
    if not_run is not None:
        compile(code, "<example>", "exec")  # it cannot run here, but it must be Python, importing what exists
        code = imports_of(code)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    if done.returncode != 0:
        pytest.fail(f"the example failed (exit {done.returncode}):\n{done.stderr[-4000:]}", pytrace=False)
