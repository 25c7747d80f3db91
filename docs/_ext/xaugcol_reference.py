"""Reference pages generated from the code: the command line, the configuration files, the public API.

A page asks for a generated part with a fenced block, which this extension replaces by Markdown before MyST reads
the page (Sphinx's ``source-read`` event), so the generated headings, tables and anchors are ordinary Markdown::

    ```{xaugcol-cli}
    ```

    ```{xaugcol-schema} xaugcol.workflow.config.StudyFile
    :level: 2
    ```

    ```{xaugcol-api}
    ```

``xaugcol-cli`` walks ``xaugcol.cli.build_parser()``: every command and subcommand, its usage, arguments, defaults
and help text. ``xaugcol-schema`` walks a pydantic model (or dataclass) field by field: name, type (with the checks
of ``xaugcol.config_models``' validators and pydantic's bounds), default, and the description, taken from the
comments beside and above the field in the source; nested sections follow as sub-sections, and a section that has
a page of its own (``SCHEMA_PAGES``) is linked instead. ``xaugcol-api`` writes an autodoc directive for every name
in ``xaugcol.__all__``. Pages that hold a block are rebuilt on every run (their source is the code).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import io
import os
import re
import textwrap
import tokenize
import types
import typing
from pathlib import Path

BLOCK = re.compile(r"^```\{(xaugcol-cli|xaugcol-schema|xaugcol-api)\}[ \t]*(.*?)\n(.*?)^```[ \t]*$", re.M | re.S)

# configuration models that have a page of their own (docs/reference/config/<page>.md): linked, not repeated
SCHEMA_PAGES = {
    "xaugcol.workflow.config.StudyFile": "study",
    "xaugcol.training.train.TrainConfig": "training",
    "xaugcol.training.study.StudyFile": "training-study",
    "xaugcol.explain.lrp.composite.CompositeFile": "lrp-composite",
    "xaugcol.explain.options.ExplainOptions": "explain-options",
    "xaugcol.sources.toy.ToyFile": "toy",
    "xaugcol.sources.process_card.ProcessEntry": "process-card",
    "xaugcol.sources.jet_detector.TrackerSettings": "tracker",
    "xaugcol.sources.pileup.PileupSettings": "pileup",
    "xaugcol.condor.config.SubmitFile": "condor-submit",
}

# the validators of xaugcol.config_models: what a value must be
VALIDATOR_TEXT = {
    "_positive_int": "integer > 0",
    "_non_negative_int": "integer >= 0",
    "_bool": "true or false",
    "_number": "number",
    "_positive_number": "number > 0",
    "_non_negative_number": "number >= 0",
    "_strings": "list of text",
}
BOUNDS = {"Gt": ">", "Ge": ">=", "Lt": "<", "Le": "<="}
# classes a configuration field holds that are not sections: how a user writes them
CLASS_TEXT = {"Rule": "LRP rule: a name (`epsilon`) or a mapping (`{rule: gamma, gamma: 0.25}`)"}
PLAIN_TYPES = {
    int: "integer",
    float: "number",
    bool: "true or false",
    str: "text",
    dict: "mapping",
    tuple: "list",
    list: "list",
    type(None): "null",
}


# ----------------------------------------------------------------------------------------------------------------
# Markdown helpers


def _cell(text: str) -> str:
    """Text for one table cell: one line; outside `code` no character that Markdown would read as structure,
    inside it only the table's '|' escaped (GFM tables split cells before reading code spans)."""
    text = " ".join(str(text).split())
    parts = re.split(r"(`[^`]+`)", text)
    for i, part in enumerate(parts):
        if i % 2:
            parts[i] = part.replace("|", "\\|")
        else:
            parts[i] = re.sub(r"([|*\[\]<>\\_])", r"\\\1", part)
    return "".join(parts)


def _code(text: str) -> str:
    text = " ".join(str(text).split())
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def _docstring_markdown(doc: str | None) -> str:
    """A docstring as Markdown text (``code`` -> `code`; reST literal blocks after '::' -> fenced blocks)."""
    if not doc:
        return ""
    doc = inspect.cleandoc(doc)
    out, lines, i = [], doc.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1] if not line.rstrip().endswith(" ::") else line.rstrip()[:-3])
            i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            out += ["", "```text", textwrap.dedent("\n".join(block)).strip("\n"), "```", ""]
            continue
        out.append(line)
        i += 1
    text = "\n".join(out)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _heading(level: int, text: str) -> str:
    return f"{'#' * level} {text}"


# ----------------------------------------------------------------------------------------------------------------
# the command line


def _usage(parser: argparse.ArgumentParser) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "110"
    try:
        text = parser.format_usage()
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return text.removeprefix("usage: ").rstrip()


def _help_text(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%" in text:
        params = dict(vars(action), prog=prog)
        for name in list(params):
            if params[name] is argparse.SUPPRESS:
                del params[name]
        params.setdefault("choices", "")
        text = text % params
    return text


def _default_text(action: argparse.Action) -> str:
    default = action.default
    if default is None or default is argparse.SUPPRESS or isinstance(default, bool) or action.nargs == 0:
        return ""
    if isinstance(default, (list, tuple)):
        return " ".join(str(d) for d in default)
    return str(default)


def _option_name(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.metavar or action.dest.upper() if not action.choices else action.dest
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return names
    metavar = action.metavar or action.dest.upper()
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    if action.nargs in ("+", "*"):
        metavar = f"{metavar} [{metavar} ...]"
    elif action.nargs == "?":
        metavar = f"[{metavar}]"
    elif isinstance(action.nargs, int) and action.nargs > 1:
        metavar = " ".join([metavar] * action.nargs)
    return f"{names} {metavar}"


def _anchor(words: list[str]) -> str:
    return "-".join(words).lower()


def _cli_parser(parser: argparse.ArgumentParser, words: list[str], help_text: str, level: int, out: list) -> None:
    prog = " ".join(words)
    out += ["", _heading(level, f"`{prog}`"), ""]
    description = parser.description or help_text
    if description:
        out += [_docstring_markdown(description), ""]
    out += ["```text", _usage(parser), "```", ""]
    rows, children = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                children.append((name, sub, helps.get(name, "")))
            continue
        choices = ""
        if action.choices and not isinstance(action.choices, dict):
            choices = "one of: " + ", ".join(str(c) for c in action.choices)
        required = "required" if (action.required and action.option_strings) else ""
        default = _default_text(action)
        rows.append(
            (_option_name(action), _help_text(action, prog), "; ".join(x for x in (required, choices) if x), default)
        )
    if children:
        out += ["| command | what it does |", "|---|---|"]
        for name, _, text in children:
            out.append(f"| [{_code(prog + ' ' + name)}](#{_anchor(words + [name])}) | {_cell(text)} |")
        out.append("")
    if rows:
        out += ["| argument | what it does | default |", "|---|---|---|"]
        for name, text, extra, default in rows:
            cell = _cell(text) + (f" ({_cell(extra)})" if extra else "")
            out.append(f"| {_code(name)} | {cell} | {_code(default) if default else ''} |")
        out.append("")
    for name, sub, text in children:
        _cli_parser(sub, words + [name], text, level + 1, out)


def cli_markdown(level: int = 2) -> str:
    from xaugcol.cli import build_parser

    out: list[str] = []
    _cli_parser(build_parser(), ["xaugcol"], "", level, out)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# configuration files


def _import(path: str):
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _is_model(tp) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover
        return False
    return inspect.isclass(tp) and (issubclass(tp, BaseModel) or dataclasses.is_dataclass(tp))


def _qualified(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _model_link(cls, page: str | None) -> str:
    """The name of a nested section, linked to where it is described."""
    target = SCHEMA_PAGES.get(_qualified(cls))
    if target is not None and target != page:
        return f"[{cls.__name__}]({target}.md)"
    return f"[{cls.__name__}](#{_model_anchor(cls)})"


def _model_anchor(cls) -> str:
    return cls.__name__.lower()  # MyST's anchor of the heading `Name`


def _constraint_texts(metadata) -> tuple[list[str], list[str]]:
    """(what the value must be, notes) from a field's metadata: xaugcol's validators, pydantic's bounds."""
    kinds, notes = [], []
    for item in metadata or ():
        func = getattr(item, "func", None)
        if func is not None:
            name = getattr(func, "__name__", "")
            if name in VALIDATOR_TEXT:
                kinds.append(VALIDATOR_TEXT[name])
            elif func.__doc__ and name != "<lambda>":
                notes.append(" ".join(inspect.cleandoc(func.__doc__).split()))
            continue
        for bound, sign in BOUNDS.items():
            if type(item).__name__ == bound:
                value = getattr(item, bound.lower())
                kinds.append(f"{sign} {value}")
        for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(item, attr, None)
            if value is not None and type(item).__name__ not in BOUNDS:
                kinds.append(f"{sign} {value}")
    return kinds, notes


def _type_text(tp, metadata=(), page=None, nested=None) -> tuple[str, list[str]]:
    """(a reader's type, notes) of an annotation; nested models are collected into ``nested``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _type_text(args[0], tuple(args[1:]) + tuple(metadata), page, nested)
    kinds, notes = _constraint_texts(metadata)
    if origin in (typing.Union, types.UnionType):
        parts, null = [], False
        for a in args:
            if a is type(None):
                null = True
                continue
            text, more = _type_text(a, (), page, nested)
            parts.append(text)
            notes += more
        text = " or ".join(parts) + (" or null" if null else "")
    elif origin is typing.Literal:
        text = "one of " + ", ".join(repr(a) if isinstance(a, str) else str(a) for a in args)
    elif origin in (tuple, list):
        if not args:
            text = "list"
        elif len(args) == 2 and args[1] is Ellipsis:
            inner, more = _type_text(args[0], (), page, nested)
            text, notes = f"list of {inner}", notes + more
        else:
            inner = [_type_text(a, (), page, nested) for a in args]
            text = "[" + ", ".join(t for t, _ in inner) + "]"
            notes += [n for _, more in inner for n in more]
    elif origin is dict:
        key, _ = _type_text(args[0], (), page, nested)
        value, more = _type_text(args[1], (), page, nested)
        text, notes = f"mapping of {key} to {value}", notes + more
    elif _is_model(tp):
        if nested is not None and tp not in nested:
            nested.append(tp)
        text = "section: " + _model_link(tp, page)
    elif tp in PLAIN_TYPES:
        text = PLAIN_TYPES[tp]
    elif getattr(tp, "__name__", None) in CLASS_TEXT:
        text = CLASS_TEXT[tp.__name__]
    else:
        text = f"`{getattr(tp, '__name__', str(tp))}`"
    if kinds:
        # a validator's kind replaces the plain type it checks; bounds are added
        named = [k for k in kinds if k[0] not in "<>"]
        bounds = [k for k in kinds if k[0] in "<>"]
        if named and text in PLAIN_TYPES.values():
            text = named[0]
        text = text + (" (" + ", ".join(bounds) + ")" if bounds else "")
    return text, notes


def _allows_none(tp) -> bool:
    if typing.get_origin(tp) is typing.Annotated:
        return _allows_none(typing.get_args(tp)[0])
    return tp is type(None) or (
        typing.get_origin(tp) in (typing.Union, types.UnionType) and any(_allows_none(a) for a in typing.get_args(tp))
    )


def _field_comments(cls) -> dict[str, str]:
    """Each field's comment in the source: the comment lines right above it and the one after it."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass.__module__.startswith(("pydantic", "builtins")):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        by_line: dict[int, str] = {}
        code_lines: set[int] = set()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                by_line[tok.start[0]] = tok.string.lstrip("#").strip()
            elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                code_lines.add(tok.start[0])
        tree = ast.parse(source)
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node in body:
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            above, line = [], node.lineno - 1
            while line in by_line and line not in code_lines:
                above.insert(0, by_line[line])
                line -= 1
            after = [by_line[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in by_line]
            text = " ".join(above + after).strip()
            if text:
                comments[node.target.id] = text
    return comments


def _value_text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_value_text(k)}: {_value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and value == float("inf"):
        return "inf"
    if _is_model(type(value)):
        return ""
    return str(value)


def _fields(cls):
    """(name, annotation, metadata, required, default text) of every field of a pydantic model or dataclass."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                yield f.name, hints.get(f.name, f.type), (), False, _value_text(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                yield f.name, hints.get(f.name, f.type), (), False, _value_text(f.default_factory())
            else:
                yield f.name, hints.get(f.name, f.type), (), True, ""
        return
    from pydantic_core import PydanticUndefined

    for name, info in cls.model_fields.items():
        key = info.alias or name
        if info.is_required():
            yield key, info.annotation, info.metadata, True, ""
        elif info.default_factory is not None:
            try:
                value = info.default_factory()
            except TypeError:
                value = None
            yield key, info.annotation, info.metadata, False, _value_text(value) if not _is_model(type(value)) else ""
        else:
            default = info.default
            yield (
                key,
                info.annotation,
                info.metadata,
                False,
                "" if default is PydanticUndefined else _value_text(default),
            )


def _model_markdown(cls, level: int, page: str | None, done: set, out: list, title: str | None = None) -> None:
    done.add(cls)
    nested: list = []
    comments = _field_comments(cls)
    out += ["", _heading(level, title or f"`{cls.__name__}`"), ""]
    out += [f"Defined by `{_qualified(cls)}`.", ""]
    doc = cls.__doc__ if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}(") else ""
    if doc:
        out += [_docstring_markdown(doc), ""]
    module_doc = inspect.getmodule(cls).__doc__ if "module docstring" in (doc or "") else None
    if module_doc:  # the class points to its module's docstring: quoted here
        # a fence longer than the docstring's own code fences (```)
        out += [f"From the docstring of `{cls.__module__}`:", "", "````{admonition} " + cls.__module__, ""]
        out += [_docstring_markdown(module_doc), "````", ""]
    out += ["| field | type | default | description |", "|---|---|---|---|"]
    for name, annotation, metadata, required, default in _fields(cls):
        text, notes = _type_text(annotation, metadata, page, nested)
        description = "; ".join(t for t in [comments.get(name, "")] + notes if t)
        if default == "null" and not _allows_none(annotation):
            default_cell = "not set"  # left out: the file's owner (a preset, ToyConfig, ...) decides
        else:
            default_cell = "**required**" if required else (_code(default) if default else "its defaults")
        out.append(f"| `{name}` | {text} | {default_cell} | {_cell(_docstring_markdown(description))} |")
    out.append("")
    for sub in nested:
        if sub in done or (SCHEMA_PAGES.get(_qualified(sub)) not in (None, page)):
            continue
        _model_markdown(sub, level + 1, page, done, out)


def schema_markdown(path: str, level: int = 2, page: str | None = None) -> str:
    cls = _import(path)
    out: list[str] = []
    _model_markdown(cls, level, page if page is not None else SCHEMA_PAGES.get(path), set(), out)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# the public API


def api_markdown(level: int = 2) -> str:
    import xaugcol

    groups: dict[str, list[str]] = {}
    for name in xaugcol.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(xaugcol, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            kind = "Errors"
        elif inspect.isclass(obj):
            kind = "Classes"
        else:
            kind = "Functions"
        groups.setdefault(kind, []).append(name)
    out = []
    for kind in ("Functions", "Classes", "Errors"):
        out += ["", _heading(level, kind), ""]
        for name in groups.get(kind, []):
            obj = getattr(xaugcol, name)
            directive = {"Functions": "autofunction", "Classes": "autoclass", "Errors": "autoexception"}[kind]
            # autodoc writes reST, which only an eval-rst block reads as such inside a Markdown page
            options = ["   :members:", "   :undoc-members:"] if kind == "Classes" else []
            out += ["```{eval-rst}", f".. {directive}:: xaugcol.{name}", *options, "```", ""]
            where = getattr(obj, "__module__", "")
            if where:
                out += [f"Defined in `{where}`.", ""]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# Sphinx


def _options(text: str) -> dict[str, str]:
    options = {}
    for line in text.splitlines():
        m = re.match(r"\s*:(\w[\w-]*):\s*(.*)$", line)
        if m:
            options[m.group(1)] = m.group(2).strip()
    return options


def expand(text: str, docname: str = "") -> str:
    def replace(m: re.Match) -> str:
        kind, argument, body = m.group(1), m.group(2).strip(), m.group(3)
        options = _options(body)
        level = int(options.get("level", 2))
        if kind == "xaugcol-cli":
            return cli_markdown(level)
        if kind == "xaugcol-schema":
            return schema_markdown(argument, level, Path(docname).name or None)
        return api_markdown(level)

    return BLOCK.sub(replace, text)


def _source_read(app, docname, source):
    if BLOCK.search(source[0]):
        source[0] = expand(source[0], docname)


def _outdated(app, env, added, changed, removed):
    """Pages with a generated part are read again on every build: their source is the code."""
    again = []
    for docname in env.found_docs - added - changed:
        try:
            text = Path(env.doc2path(docname)).read_text(encoding="utf-8")
        except OSError:
            continue
        if BLOCK.search(text):
            again.append(docname)
    return again


def setup(app):
    app.connect("source-read", _source_read)
    app.connect("env-get-outdated", _outdated)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
