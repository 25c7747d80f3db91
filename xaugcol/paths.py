"""Names that become file names, paths that must stay under an output folder, and inputs that must be files.

* ``safe_component``: a user's name (a fileset's dataset, often a CMS DAS path with '/') mapped onto one file-name
  component: plain names are kept, anything else is cleaned and given a hash of the original, so two names never
  share a folder. The original stays in the data (the ``dataset`` column, reports).
* ``plain_name``: our own names (processes, taggers, members) must already be plain file names; others are refused.
* ``under``: an output path built from parts, refused when it would resolve outside its root (``..``, an absolute
  part, a symbolic link planted in the output).
* ``check_regular``, ``read_text``, ``read_json``: every file a command reads (configurations, filesets, the JSON,
  parquet, ROOT and npz files of the folders a user hands over) is read only when it is a regular file: opening
  a FIFO blocks until something writes into it, a device may never end. Refused with ``NotRegularFileError``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path

from xaugcol.quoting import quoted

PLAIN = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,99}$")
NOT_SAFE = re.compile(r"[^A-Za-z0-9._+-]")


class UnsafePathError(ValueError):
    """A name or path that would place an output outside its folder."""


class NotRegularFileError(OSError):
    """An input that is not a regular file (a FIFO, a device, a folder): reading it could block or mislead."""


def safe_component(name) -> str:
    """``name`` as one file-name component: itself when plain, else cleaned plus a hash of the original."""
    text = str(name)
    if PLAIN.match(text):
        return text
    cleaned = NOT_SAFE.sub("_", text).lstrip(".")[:60] or "_"
    return f"{cleaned}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def plain_name(name, what: str) -> str:
    """``name`` unchanged if it is a plain file name (letters, digits, '._+-', not starting with '.'); else
    UnsafePathError naming ``what``."""
    if not (isinstance(name, str) and PLAIN.match(name)):
        raise UnsafePathError(f"{what} {quoted(name)} is not a plain name (letters, digits and '._+-', at most 100, "
                              "not starting with '.'): it becomes a file name")
    return name


def under(root: str | os.PathLike, *parts) -> Path:
    """``root / parts``, checked to resolve inside ``root`` (symbolic links followed)."""
    base = Path(root).resolve()
    path = base.joinpath(*[str(p) for p in parts])
    resolved = path.resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise UnsafePathError(f"{path} would lie outside the output folder {base}")
    return path


def check_regular(path: str | os.PathLike, what: str = "input") -> None:
    """NotRegularFileError unless ``path`` is a regular file (or a link to one); FileNotFoundError if absent."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise NotRegularFileError(f"{path}: {what} is {kind}, not a regular file")


def read_text(path: str | os.PathLike, what: str = "input") -> str:
    """The text of a regular file (configs, filesets); NotRegularFileError for FIFOs, devices and folders."""
    check_regular(path, what)
    return Path(path).read_text()


def read_json(path: str | os.PathLike, what: str = "input"):
    """A JSON file read as ``read_text`` reads (regular files only); its syntax errors are ``ValueError``."""
    return json.loads(read_text(path, what))
