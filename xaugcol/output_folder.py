"""Output folders: one writer at a time, and no run writes into a folder holding another run's outputs.

* ``output_lock``: an advisory lock (``flock``) on ``<folder>/.xaugcol.lock`` while a run writes. The kernel
  releases it when the process ends, however it ends (SIGKILL included), so a crashed run never leaves a stale
  lock. The file itself stays (deleting it would let a waiting run lock a file nobody else sees) and does not
  count as content. Within one process the lock is re-entrant, so a study holding its folder can run stages that
  lock their own. A second run finds the folder locked and stops at once with a message naming the holder.
* ``locked_output``: the folder checked (empty, or ``overwrite``), locked, checked again, created: a refused run
  leaves nothing behind, not even the lock file.
* ``read_lock``: a shared lock held by readers of a folder (training and explaining read processing outputs and
  taggers for minutes): a run that would rewrite it is refused meanwhile (``being read by another xaugcol run``).
* ``lock_holder``: who is writing a folder now, for readers that must not read a half-written output.
The lock file is opened without following links and without blocking, and must be a regular file of its own.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from xaugcol.atomic import OutputError, make_dirs, remove
from xaugcol.errors import OutputFolderError
from xaugcol.paths import UnsafePathError

LOCK_NAME = ".xaugcol.lock"
_held: dict[str, int] = {}  # resolved folder -> depth of nested holds in this process


class OutputLockedError(OutputFolderError, RuntimeError):
    """Another run is writing into the output folder."""


class OutputExistsError(OutputFolderError, ValueError):
    """The output folder holds files and the user did not ask to overwrite them."""


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of ``folder`` (created if needed) for the block.

    An exclusive, non-blocking ``flock`` on ``<folder>/.xaugcol.lock``, whose content is then a note naming this
    process (pid, host, start time, command line). Re-entrant within one process: a nested hold of the same folder
    only counts. On a filesystem that cannot lock files a warning is issued and the block runs unlocked.

    Parameters
    ----------
    folder : str or os.PathLike
        The output folder; created with its parents if missing.

    Yields
    ------
    Path
        ``folder`` as a ``Path``.

    Raises
    ------
    OutputLockedError
        Where another run writes or reads the folder now.
    UnsafePathError
        Where the lock file is a symbolic link, a hard link or not a regular file.
    OutputError
        Where the folder or the lock file cannot be created.
    """
    folder = make_dirs(folder)
    key = str(folder.resolve())
    if key in _held:
        _held[key] += 1
        try:
            yield folder
        finally:
            _held[key] -= 1
        return
    path = folder / LOCK_NAME
    fd = _open_lock_file(path, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputLockedError(
                f"{folder} is {_in_use(fd)}; wait for it to finish or write to another folder"
            ) from None
        except OSError as err:
            if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            warnings.warn(
                f"{folder}: this filesystem cannot lock files ({err.strerror}); nothing stops a second "
                "run from writing into it at the same time",
                stacklevel=2,
            )
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}: "
            f"{' '.join(Path(sys.argv[0]).name if k == 0 else a for k, a in enumerate(sys.argv))}".encode(),
            0,
        )
        _held[key] = 1
        try:
            yield folder
        finally:
            del _held[key]
    finally:
        os.close(fd)  # releases the lock


def _open_lock_file(path: Path, flags: int) -> int:
    """The lock file's descriptor: never through a link (``O_NOFOLLOW``), never blocking on a FIFO, and only a
    regular file of its own (a hard link would let the lock's note overwrite another file)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafePathError(
                f"{path} is a symbolic link: xaugcol writes its lock only into a file of its own; remove the link"
            ) from None
        raise OutputError(path, err.strerror or str(err)) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        what = "a hard link to another file" if stat.S_ISREG(info.st_mode) else "not a regular file"
        raise UnsafePathError(f"{path} is {what}: xaugcol writes its lock only into a file of its own; remove it")
    return fd


def _in_use(fd: int) -> str:
    """Who holds the lock the caller could not take: a writer (its note) or readers (they leave none)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 1000, 0).decode(errors="replace").strip() or "holder unknown"
        return f"being written by another xaugcol run ({holder})"
    fcntl.flock(fd, fcntl.LOCK_UN)
    return "being read by another xaugcol run (a training or an explanation of it)"


@contextlib.contextmanager
def read_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """A shared lock on ``folder`` for the block.

    Readers (training and explaining a processing output, explaining a tagger) hold it together, and a run that
    would rewrite the folder is refused meanwhile. A folder without a lock file (nothing ever wrote it with
    xaugcol) is read without one, as is one on a filesystem that cannot lock files.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder to read.

    Yields
    ------
    Path
        ``folder`` as a ``Path``.

    Raises
    ------
    OutputLockedError
        When a run writes the folder now, this process included.
    UnsafePathError
        Where the lock file is a hard link or not a regular file.
    """
    folder = Path(folder)
    path = folder / LOCK_NAME
    if str(folder.resolve()) in _held:
        raise OutputLockedError(f"{folder} is being written by this run: it cannot be read meanwhile")
    if path.is_symlink() or not path.is_file():
        yield folder
        return
    fd = _open_lock_file(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1000, 0).decode(errors="replace").strip() or "holder unknown"
            raise OutputLockedError(
                f"{folder} is being written by an xaugcol run ({holder}): wait for it to finish"
            ) from None
        except OSError as err:
            if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        yield folder
    finally:
        os.close(fd)


def lock_holder(folder: str | os.PathLike) -> str | None:
    """The run writing ``folder`` now (as its lock file describes it), or None when nobody holds its lock.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder to look at.

    Returns
    -------
    str or None
        The lock file's note (``"pid ... on <host>, since ...: <command>"``, ``"holder unknown"`` if empty), or
        ``"this process, pid <pid>"`` when this process holds it; None when nobody writes the folder, it has no
        lock file (or a link under that name), the file cannot be opened, or the filesystem cannot lock.
    """
    folder = Path(folder)
    if str(folder.resolve()) in _held:
        return f"this process, pid {os.getpid()}"
    path = folder / LOCK_NAME
    if path.is_symlink() or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 1000, 0).decode(errors="replace").strip() or "holder unknown"
        except OSError:  # a filesystem without locks: nobody can be seen writing
            return None
        return None
    finally:
        os.close(fd)  # releases the shared lock taken to look


def is_empty(folder: Path) -> bool:
    """Whether ``folder`` is absent or holds nothing but its lock file.

    The lock file counts only as a regular file: a link or a FIFO under its name is content, and refused when the
    folder is locked.

    Parameters
    ----------
    folder : Path
        The output folder (a ``str`` works too).

    Returns
    -------
    bool
        True where ``folder`` is not a folder (absent, or a file) or holds only its lock file.
    """
    folder = Path(folder)
    return not folder.is_dir() or all(
        p.name == LOCK_NAME and p.is_file() and not p.is_symlink() for p in folder.iterdir()
    )


def empty_locked_folder(folder: str | Path) -> None:
    """Remove everything in ``folder`` but its lock file (links removed, never followed).

    For a run that holds the lock and owns the rest (it found the folder empty, or its records prove the rest its
    own).

    Parameters
    ----------
    folder : str or Path
        The locked output folder; it must exist.

    Raises
    ------
    OutputError
        Where an entry cannot be removed.
    """
    for entry in Path(folder).iterdir():
        if entry.name != LOCK_NAME:
            remove(entry)


def refuse_non_empty(out: str | Path, overwrite: bool, advice: str = "use --overwrite to write into it") -> None:
    """Refuse an output path that is not a folder, or a non-empty folder unless ``overwrite`` is set.

    Parameters
    ----------
    out : str or Path
        The output folder; an absent one is fine.
    overwrite : bool
        Whether a non-empty folder may be written into.
    advice : str, default "use --overwrite to write into it"
        What the message suggests (a command without --overwrite names another remedy).

    Raises
    ------
    OutputExistsError
        Where ``out`` exists and is not a folder, or is not empty (``is_empty``) and ``overwrite`` is not set.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output path {out} exists and is not a folder")
    if not overwrite and not is_empty(out):
        raise OutputExistsError(f"output folder {out} is not empty ({advice})")


def prepare_output_dir(out: str | Path, overwrite: bool) -> Path:
    """Create ``out``; refuse a non-empty folder unless ``overwrite`` is set.

    Nothing in it is removed: with ``overwrite`` the folder is only allowed to hold files.

    Parameters
    ----------
    out : str or Path
        The output folder.
    overwrite : bool
        Whether a non-empty folder may be written into.

    Returns
    -------
    Path
        ``out``, created with its parents.

    Raises
    ------
    OutputExistsError
        As ``refuse_non_empty`` raises.
    """
    refuse_non_empty(out, overwrite)
    return make_dirs(out)


@contextlib.contextmanager
def locked_output(out: str | Path, overwrite: bool) -> Iterator[Path]:
    """``out`` checked, locked for the block, checked again (another run may have written meanwhile), created.

    Parameters
    ----------
    out : str or Path
        The output folder.
    overwrite : bool
        Whether a non-empty folder may be written into (its content is kept; see ``empty_locked_folder``).

    Yields
    ------
    Path
        ``out``, created and locked (``output_lock``) while the block runs.

    Raises
    ------
    OutputExistsError
        Where ``out`` is not a folder, or not empty without ``overwrite``.
    OutputLockedError
        Where another run writes or reads ``out``.
    """
    refuse_non_empty(out, overwrite)
    with output_lock(out):
        yield prepare_output_dir(out, overwrite)
