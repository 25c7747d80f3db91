"""Names that become file names, paths that must stay under an output folder, and inputs that must be files.

* ``safe_component``: a user's name (a fileset's dataset, often a CMS DAS path with '/') mapped onto one file-name
  component, injectively: plain names are kept, anything else is cleaned and given a hash of the original. A
  plain name that itself ends like a hash (``-`` and 10 hex digits) is hashed too, so no kept name can equal a
  cleaned one and two names never share a folder or a histogram key. The original stays in the data (the
  ``dataset`` column, reports).
* ``plain_name``: our own names (processes, taggers, members) must already be plain file names; others are refused.
* ``under``: an output path built from parts, refused when it would resolve outside its root (``..``, an absolute
  part) or pass through a symbolic link below the root (a link planted in the output, wherever it points: a
  command never writes or deletes through one).
* ``refuse_inputs_inside``: a command's inputs may not lie inside its output folder: an ``--overwrite``, a cleanup
  of stale outputs or a stage run again could otherwise remove them.
* ``check_regular``, ``read_text``, ``read_json``: every file a command reads (configurations, filesets, the JSON,
  parquet, ROOT and npz files of the folders a user hands over) is read only when it is a regular file: opening
  a FIFO blocks until something writes into it, a device may never end. Refused with ``NotRegularFileError``.
* ``read_text`` and ``read_json`` read at most ``xaugcol.limits.MAX_INPUT_BYTES`` (checked with ``stat`` before
  reading, and the read itself bounded); ``read_json`` refuses a mapping that lists a key twice (json keeps the
  last one silently: a fileset naming a dataset twice lost one) and JSON nested deeper than Python's recursion
  limit. Each a one-line ``UnreadableInputError`` (a ``ValueError``, as json's own errors) naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable

# json's pure-Python scanner: undocumented, and left out of typeshed's stubs
from json.decoder import JSONObject  # type: ignore[attr-defined]
from json.scanner import py_make_scanner  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from xaugcol.errors import InputDataError, UsageError
from xaugcol.limits import MAX_INPUT_BYTES, number
from xaugcol.quoting import quoted

PLAIN = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,99}$")
NOT_SAFE = re.compile(r"[^A-Za-z0-9._+-]")
HASH_SUFFIX = re.compile(r"-[0-9a-f]{10}$")  # what ``safe_component`` appends to the names it cleans


class UnsafePathError(UsageError):
    """A name or path that would place an output outside its folder."""


class NotRegularFileError(InputDataError, OSError):
    """An input that is not a regular file (a FIFO, a device, a folder): reading it could block or mislead."""


class UnreadableInputError(InputDataError):
    """A file whose content cannot be taken as it is.

    Larger than ``MAX_INPUT_BYTES``, not JSON, JSON nested too deeply, or a JSON mapping listing one key twice. A
    ``ValueError``, as json's own errors are.
    """


def safe_component(name: object) -> str:
    """``name`` as one file-name component, injectively.

    Itself when plain (and not ending like a hash), else cleaned plus a hash of the original (its UTF-8 bytes: any
    text, accents included).

    Parameters
    ----------
    name : object
        A user's name, e.g. a fileset's dataset (often a CMS DAS path with '/'); taken as ``str(name)``.

    Returns
    -------
    str
        ``name`` itself when it matches ``PLAIN`` and does not end like ``HASH_SUFFIX``; else its first 60 characters
        with every character outside ``[A-Za-z0-9._+-]`` replaced by ``_`` and leading dots removed (``_`` if
        nothing is left), followed by ``-`` and the first 10 hex digits of the name's SHA-1.
    """
    text = str(name)
    if PLAIN.match(text) and not HASH_SUFFIX.search(text):
        return text
    cleaned = NOT_SAFE.sub("_", text).lstrip(".")[:60] or "_"
    digest = hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{cleaned}-{digest}"


def plain_name(name: object, what: str) -> str:
    """``name`` unchanged if it is a plain file name; else UnsafePathError naming ``what``.

    A plain name has 1 to 100 letters, digits and '._+-', and does not start with '.'.

    Parameters
    ----------
    name : object
        One of our own names (a process, a tagger, a member).
    what : str
        What the name is, for the message (e.g. ``"tagger"``).

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    UnsafePathError
        Where ``name`` is not a ``str`` or not plain.
    """
    if not (isinstance(name, str) and PLAIN.match(name)):
        raise UnsafePathError(
            f"{what} {quoted(name)} is not a plain name (letters, digits and '._+-', at most 100, "
            "not starting with '.'): it becomes a file name"
        )
    return name


def under(root: str | os.PathLike, *parts: object) -> Path:
    """``root / parts``, checked to resolve inside ``root`` and to pass through no symbolic link below it.

    The root itself may be a symbolic link: the user named it.

    Parameters
    ----------
    root : str or os.PathLike
        The output folder.
    *parts : object
        Path components below ``root``, each taken as ``str``.

    Returns
    -------
    Path
        ``root`` (resolved) joined with ``parts``, not itself resolved.

    Raises
    ------
    UnsafePathError
        Where the path would resolve outside ``root`` (``..``, an absolute part) or passes through a symbolic link
        below it.
    """
    base = Path(root).resolve()
    path = base.joinpath(*[str(p) for p in parts])
    link = _first_link(base, path)
    resolved = path.resolve()
    if resolved != base and not resolved.is_relative_to(base):
        through = f" (through the symbolic link {link})" if link else ""
        raise UnsafePathError(f"{path} would lie outside the output folder {base}{through}")
    if link is not None:
        raise UnsafePathError(
            f"{link} is a symbolic link inside the output folder {base}: xaugcol writes and "
            "deletes only real files and folders there; remove the link or choose another "
            "output folder"
        )
    return path


def _first_link(base: Path, path: Path) -> Path | None:
    """The first component of ``path`` below ``base`` that is a symbolic link (None for a path not below it)."""
    if not path.is_relative_to(base):
        return None
    step = base
    for part in path.relative_to(base).parts:
        step = step / part
        if step.is_symlink():
            return step
    return None


def refuse_inputs_inside(out: str | os.PathLike, inputs: Iterable[tuple[str, str | os.PathLike | None]]) -> None:
    """UnsafePathError when any of ``inputs`` lies inside the output folder ``out``.

    Called before anything is written there. Links are followed: where the data really is counts.

    Parameters
    ----------
    out : str or os.PathLike
        The command's output folder.
    inputs : iterable of tuple of (str, str or os.PathLike or None)
        ``(what, path)`` pairs: what the input is, for the message, and its path. A None path and a remote URL
        (containing ``://``) are skipped.

    Raises
    ------
    UnsafePathError
        For the first input that is ``out`` itself or lies inside it.
    """
    base = Path(out).resolve()
    for what, path in inputs:
        if path is None or "://" in str(path):
            continue
        real = Path(path).resolve()
        if real == base or real.is_relative_to(base):
            raise UnsafePathError(
                f"{what} {path} lies inside the output folder {out}: a run could replace or remove "
                "it there; write to another folder, or move the input out of it"
            )


def check_regular(path: str | os.PathLike, what: str = "input") -> os.stat_result:
    """``path``'s ``os.stat`` if it is a regular file (or a link to one).

    Parameters
    ----------
    path : str or os.PathLike
        The input file.
    what : str, default "input"
        What the file is, for the message.

    Returns
    -------
    os.stat_result
        ``os.stat(path)`` (links followed).

    Raises
    ------
    NotRegularFileError
        Where ``path`` is a FIFO, a folder, a device, a socket or anything else but a regular file.
    FileNotFoundError
        Where ``path`` is absent.
    """
    status = os.stat(path)
    mode = status.st_mode
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a folder"
            if stat.S_ISDIR(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise NotRegularFileError(f"{path}: {what} is {kind}, not a regular file")
    return status


def read_text(path: str | os.PathLike, what: str = "input", limit: int = MAX_INPUT_BYTES) -> str:
    """The text of a regular file (configs, filesets) of at most ``limit`` bytes.

    The size is checked before the file is read, and a file growing meanwhile is read no further than the limit.

    Parameters
    ----------
    path : str or os.PathLike
        The input file.
    what : str, default "input"
        What the file is, for the messages.
    limit : int, default ``MAX_INPUT_BYTES``
        The most bytes the file may have (checked again, as characters, on the text read).

    Returns
    -------
    str
        The file's text, decoded with the locale's encoding (``open``'s default).

    Raises
    ------
    NotRegularFileError
        For FIFOs, devices and folders (``check_regular``).
    UnreadableInputError
        For a file larger than ``limit``.
    """
    size = check_regular(path, what).st_size
    if size > limit:
        raise _too_large(path, what, size, limit)
    with open(path) as f:
        text = f.read(limit + 1)
    if len(text) > limit:
        raise _too_large(path, what, len(text), limit)
    return text


def _too_large(path, what: str, size: int, limit: int) -> UnreadableInputError:
    return UnreadableInputError(
        f"{path}: {what} has {number(size)} bytes, more than the {number(limit)} an input "
        "file may have (xaugcol.limits.MAX_INPUT_BYTES)"
    )


def read_json(path: str | os.PathLike, what: str = "input") -> Any:
    """A JSON file read as ``read_text`` reads (regular files, at most ``MAX_INPUT_BYTES``).

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file.
    what : str, default "input"
        What the file is, for the messages.

    Returns
    -------
    Any
        The decoded JSON value (``dict``, ``list``, ``str``, number, bool or None).

    Raises
    ------
    NotRegularFileError
        Where ``path`` is not a regular file.
    UnreadableInputError
        For a file larger than ``MAX_INPUT_BYTES``, invalid JSON, JSON nested deeper than the recursion limit, or
        a mapping listing a key twice (the message names the key and its lines).
    """
    text = read_text(path, what)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        raise UnreadableInputError(f"{path}: {what} is not valid JSON: {err}") from None
    except RecursionError:
        raise UnreadableInputError(f"{path}: {what} is nested too deeply to be read as JSON") from None
    except _DuplicateKey:
        raise UnreadableInputError(f"{path}: {what}: {_duplicate_key(text)}") from None


class _DuplicateKey(Exception):
    """A JSON mapping listing one key twice (raised while decoding; ``_duplicate_key`` then finds where)."""


def _unique_keys(pairs: list) -> dict:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise _DuplicateKey
    return mapping


def _duplicate_key(text: str) -> str:
    """Which key of ``text`` (JSON known to list a key twice in one mapping) is repeated, and on which lines: the
    text decoded again by json's Python scanner, which tells where each value starts (the fast one does not)."""
    decoder = json.JSONDecoder()

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        starts = []  # where each value of this mapping starts, in the order of its pairs

        def scan_value(s, end):
            starts.append(end)
            return scan_once(s, end)

        def check(pairs):
            first = {}
            for (key, _), start in zip(pairs, starts):
                if key in first:
                    a, b = (text.count("\n", 0, at) + 1 for at in (first[key], start))
                    where = f"both on line {a}" if a == b else f"lines {a} and {b}"
                    raise _DuplicateKey(
                        f"the key {quoted(key)} appears twice in one mapping ({where}); a mapping may list a key once"
                    )
                first[key] = start
            return dict(pairs)

        return JSONObject(s_and_end, strict, scan_value, object_hook, check, memo)

    decoder.parse_object = parse_object  # type: ignore[attr-defined]  # undocumented: not in typeshed's stubs
    decoder.scan_once = py_make_scanner(decoder)  # type: ignore[attr-defined]  # undocumented: not in typeshed's
    try:
        decoder.decode(text)
    except _DuplicateKey as found:
        return str(found)
    except RecursionError:  # deeper than the Python scanner reaches: the key is still a duplicate
        pass
    return "a mapping lists a key twice; a mapping may list a key once"
