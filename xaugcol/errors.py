"""One error hierarchy. Every error xaugcol raises on purpose is an ``XaugcolError`` of one of a few kinds, which
say whose problem it is and how a command ends (``xaugcol.cli`` maps them by class):

* ``UsageError``: a command, an argument or a configuration asks for something that cannot be (exit 2);
* ``OutputFolderError``: the output folder cannot be used as asked: it holds another run, is locked by one, or its
  checkpoints belong to other settings (exit 2); ``OutputWriteError``: a file could not be written (exit 1, the run
  can be resumed);
* ``InputDataError``: an input file, branch, jet table or sample is unreadable or wrong (exit 1, no traceback);
* ``ModelFilesError``: a saved tagger's files are missing, changed or unreadable (exit 1);
* ``ClusterError``: the Dask cluster failed the run (exit 1, the run can be resumed).

Anything else that escapes a command is a bug: the command line shows its traceback and exits 1.

Each module's own classes (``TrainingDataError``, ``FilesetError``, ...) derive from one of these, and keep the
built-in class they had (``ValueError``, ``OSError``, ...) so that code catching that still does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class XaugcolError(Exception):
    """Any error xaugcol raises on purpose."""


class UsageError(XaugcolError, ValueError):
    """A command, argument or configuration that asks for something that cannot be."""


class OutputFolderError(XaugcolError):
    """The output folder cannot be used as asked."""


class OutputWriteError(OutputFolderError, OSError):
    """A file of the output could not be written."""


class InputDataError(XaugcolError, ValueError):
    """An input file, branch, jet table or sample that is unreadable or wrong."""


class ModelFilesError(InputDataError):
    """A saved tagger's files that are missing, changed or unreadable."""


class ClusterError(XaugcolError, RuntimeError):
    """The Dask cluster (or a batch system) failed the run."""


@contextlib.contextmanager
def as_usage_error(prefix: str = "") -> Iterator[None]:
    """Inside the block a plain ``ValueError`` is a ``UsageError``, its text after ``prefix``.

    A plain ``ValueError`` here is a check of settings or arguments (pydantic's, a size limit's); xaugcol's own
    errors pass as they are. For the code that reads what a user asked for, never around a whole run: there a
    ValueError is a bug and keeps its traceback.

    Parameters
    ----------
    prefix : str, default ""
        Text put before the ``ValueError``'s message, e.g. the name of the file or option being read.

    Yields
    ------
    None
        Control to the block that reads the user's settings.

    Raises
    ------
    UsageError
        Where the block raised a ``ValueError`` that is not an ``XaugcolError`` (its traceback is dropped).
    """
    try:
        yield
    except XaugcolError:
        raise
    except ValueError as err:
        raise UsageError(f"{prefix}{err}") from None
