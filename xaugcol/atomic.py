"""Atomic outputs: write under a temporary name in the same folder, rename when complete.

An interrupted run therefore never leaves a half-written file under the final name. A write that fails (no space,
a read-only folder, no permission) raises ``OutputError``: an output fault, never mistaken for bad input.

Temporary names are ``.<final name>.tmp-<pid>-<8 random characters>``, made with ``O_EXCL`` (``tempfile``): a name
planted in advance (a symbolic link to someone's file) is never written through. ``remove_temporaries`` removes
the ones an interrupted run left, and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xaugcol.errors import OutputWriteError


class OutputError(OutputWriteError):
    """An output could not be written: it names the path and the reason.

    Not bad input: a run stops on it (even with --skip-bad-files) and keeps its checkpoints for a resume.

    Parameters
    ----------
    path : str or os.PathLike
        The file or folder that could not be written; kept as ``str`` in ``self.path``.
    reason : str
        Why, e.g. ``os.strerror`` of the underlying ``OSError`` ("No space left on device"); kept in ``self.reason``.
    """

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
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError raised while writing ``path`` into an ``OutputError`` naming it.

    Also when a library reports it as another error whose cause is the OSError (pyarrow's writer does: 'file
    metadata is only available after writer close', caused by 'File too large'): the chain of ``__cause__`` /
    ``__context__`` is searched for an ``OSError``. Any other exception, and an ``OutputError``, passes unchanged.

    Parameters
    ----------
    path : str or os.PathLike
        The output being written, named in the ``OutputError``.

    Yields
    ------
    None
        Control to the block that writes ``path``.

    Raises
    ------
    OutputError
        Where the block raised an ``OSError`` or an error caused by one.
    """
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
    """Remove a file, a symbolic link (never what it points to) or a folder tree; nothing if absent.

    Parameters
    ----------
    path : str or os.PathLike
        What to remove.

    Raises
    ------
    OutputError
        Where it cannot be removed.
    """
    path = Path(path)
    with writing(path):
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)


def make_dirs(path: str | os.PathLike) -> Path:
    """``mkdir -p``; a folder that cannot be created is an ``OutputError``.

    Parameters
    ----------
    path : str or os.PathLike
        The folder to create, with its missing parents; an existing folder is fine.

    Returns
    -------
    Path
        ``path`` as a ``Path``.

    Raises
    ------
    OutputError
        Where the folder cannot be created.
    """
    path = Path(path)
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# tempfile makes its files 0600 and folders 0700 (private while written); what they become is published with the
# permissions any new file gets (0666 / 0777 less the umask), so a report on a shared disk is readable by others
UMASK = _umask()
FILE_MODE, FOLDER_MODE = 0o666 & ~UMASK, 0o777 & ~UMASK

TEMPORARY = re.compile(r"^\..+\.tmp-[0-9]+-[a-z0-9_]{8}$")  # the names ``atomic_path`` / ``atomic_folder`` make


def _temporary_prefix(final: Path) -> str:
    return f".{final.name}.tmp-{os.getpid()}-"


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it to ``final`` only if the block succeeds.

    The temporary is a new, empty regular file of this process, created with the permissions ``FILE_MODE``; it is
    removed whatever happens, so a failed block leaves ``final`` as it was.

    Parameters
    ----------
    final : str or os.PathLike
        The file's final name; its folder must exist.

    Yields
    ------
    Path
        The temporary file (``.<final name>.tmp-<pid>-<8 characters>`` in ``final``'s folder) to write.

    Raises
    ------
    OutputError
        Where the temporary cannot be created, written or renamed.
    """
    final = Path(final)
    with writing(final):
        fd, name = tempfile.mkstemp(prefix=_temporary_prefix(final), dir=final.parent)
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
    tmp = Path(name)
    try:
        with writing(final):
            yield tmp
            os.replace(tmp, final)
    finally:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``final``; it replaces ``final`` only if the block succeeds.

    A failed block leaves nothing under the final name (and an earlier ``final`` untouched). ``final``'s parent
    folders are created if missing.

    Parameters
    ----------
    final : str or os.PathLike
        The folder's final name; an existing file or folder there is removed when the block succeeds.

    Yields
    ------
    Path
        The temporary folder (permissions ``FOLDER_MODE``) to fill.

    Raises
    ------
    OutputError
        Where the temporary cannot be created or renamed, or ``final`` cannot be removed.
    """
    final = Path(final)
    make_dirs(final.parent)
    with writing(final):
        tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(final), dir=final.parent))
        tmp.chmod(FOLDER_MODE)
    try:
        yield tmp
        remove(final)
        with writing(final):
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_temporaries(folder: str | os.PathLike, depth: int = 1) -> list[Path]:
    """Remove the temporaries an interrupted write left in ``folder`` and its sub-folders.

    Only names ``atomic_path`` / ``atomic_folder`` make (``TEMPORARY``) are removed; symbolic links are neither
    followed nor removed.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder to clean; nothing happens where it is absent, not a folder or a symbolic link.
    depth : int, default 1
        How many levels to look in: 1 is ``folder`` itself, 2 also its sub-folders, and so on.

    Returns
    -------
    list of Path
        The temporaries removed.
    """
    folder = Path(folder)
    found: list[Path] = []
    if depth < 1 or folder.is_symlink() or not folder.is_dir():
        return found
    for entry in folder.iterdir():
        if TEMPORARY.match(entry.name) and not entry.is_symlink():
            remove(entry)
            found.append(entry)
        elif entry.is_dir() and not entry.is_symlink():
            found += remove_temporaries(entry, depth - 1)
    return found


def write_json(final: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON (keys sorted, a final newline), atomically.

    Parameters
    ----------
    final : str or os.PathLike
        The JSON file to write.
    obj : Any
        A JSON-serialisable object.

    Raises
    ------
    OutputError
        Where the file cannot be written.
    """
    with atomic_path(final) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")
