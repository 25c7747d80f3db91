"""Atomic outputs: write under a temporary name in the same folder, rename when complete.

An interrupted run therefore never leaves a half-written file under the final name. A write that fails (no space,
a read-only folder, no permission) raises ``OutputError``: an output fault, never mistaken for bad input.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path


class OutputError(OSError):
    """An output could not be written: it names the path and the reason. Not bad input: a run stops on it (even
    with --skip-bad-files) and keeps its checkpoints for a resume."""

    def __init__(self, path, reason: str):
        self.path, self.reason = str(path), str(reason)
        super().__init__(f"cannot write {self.path}: {self.reason}")

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"

    def __reduce__(self):  # raised in futures / Dask workers: arrives as itself
        return (type(self), (self.path, self.reason))


def _reason(err: OSError) -> str:
    return os.strerror(err.errno) if err.errno else str(err) or type(err).__name__


@contextlib.contextmanager
def writing(path: str | os.PathLike):
    """Turn an OSError raised while writing ``path`` into an ``OutputError`` naming it, also when a library
    reports it as another error whose cause is the OSError (pyarrow's writer does: 'file metadata is only
    available after writer close', caused by 'File too large')."""
    try:
        yield
    except OutputError:
        raise
    except Exception as err:
        cause = _os_error(err)
        if cause is None:
            raise
        raise OutputError(path, _reason(cause)) from err


def _os_error(err: BaseException | None) -> OSError | None:
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def remove(path: str | os.PathLike) -> None:
    """Remove a file, a symbolic link (never what it points to) or a folder tree; nothing if absent."""
    path = Path(path)
    with writing(path):
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)


def make_dirs(path: str | os.PathLike) -> Path:
    """``mkdir -p``; a folder that cannot be created is an ``OutputError``."""
    path = Path(path)
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike):
    """Yield a temporary path next to ``final``; rename it to ``final`` only if the block succeeds."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        with writing(final):
            yield tmp
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(final: str | os.PathLike):
    """Yield a temporary folder next to ``final``; it replaces ``final`` only if the block succeeds. A failed
    block leaves nothing under the final name (and an earlier ``final`` untouched)."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    make_dirs(tmp)
    try:
        yield tmp
        remove(final)
        with writing(final):
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(final: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(final) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")
