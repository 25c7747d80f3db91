"""What a run shows on the terminal: progress bars, short messages, and which library warnings reach the user.

One progress library everywhere: rich, the one coffea's own processing bars use. ``progress_bar`` gives a bar with
a description, a counter with its total, elapsed time and an estimate of what remains; the training loop puts
the epoch and its losses into the description.

Verbosity (``xaugcol -q`` / ``-v``): 0 prints errors and the final summary only (no bars); 1, the default, adds
the bars and one line per stage; 2 also lets through the warnings of the libraries underneath (FastJet's banner,
coffea's schema notes, torch's ONNX exporter), which are filtered otherwise. The level travels to worker processes
in the environment (``XAUGCOL_VERBOSITY``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol, Self

ENV = "XAUGCOL_VERBOSITY"
QUIET, NORMAL, VERBOSE = 0, 1, 2

# (message regex, category): warnings of libraries we call that say nothing about the user's data or settings
LIBRARY_WARNINGS = (
    # coffea's NanoAOD schema: cross-references our generated files do not carry, photon mass and charge it fills
    ("Missing cross-reference index", RuntimeWarning),
    ("Branch Photon_(mass|charge) already exists", RuntimeWarning),
    # fastjet's awkward interface warns for every jet definition, the exact C/A one included
    ("dcut and exclusive jets for jet-finders other than kt", UserWarning),
    # coffea's retries of a failing chunk: the run reports the chunk's error itself (skipped, or the run stops), and
    # a worker's late retry note would print after that one-line error
    ("Performed attempt", UserWarning),
    # torch's ONNX exporter (see xaugcol.models.folder.export_onnx)
    ("You are using the legacy TorchScript-based ONNX export", DeprecationWarning),
    ("The feature will be removed. Please remove usage of this function", DeprecationWarning),
    ("Exporting a model to ONNX with a batch_size other than 1", UserWarning),
    ("Converting a tensor to a Python boolean might cause the trace to be incorrect", Warning),
    ("_check_is_size will be removed", Warning),
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", Warning),
    ("# The axis name: .* will not be used", Warning),
    ("The tensor attributes .* were assigned during export", Warning),
)


def verbosity() -> int:
    """The verbosity level that ``XAUGCOL_VERBOSITY`` sets (``NORMAL`` when unset or not a number).

    Returns
    -------
    int
        ``QUIET`` (0), ``NORMAL`` (1) or ``VERBOSE`` (2); the environment's number as it is, unclamped.
    """
    try:
        return int(os.environ.get(ENV, NORMAL))
    except ValueError:
        return NORMAL


def set_verbosity(level: int) -> None:
    """Set the level for this process and the worker processes it starts.

    Also filters the library warnings below ``VERBOSE`` (``quiet_library_warnings``).

    Parameters
    ----------
    level : int
        The verbosity, clamped to ``QUIET..VERBOSE`` (0..2) and written to ``XAUGCOL_VERBOSITY``.
    """
    os.environ[ENV] = str(max(QUIET, min(VERBOSE, level)))
    quiet_library_warnings()


def quiet_library_warnings() -> None:
    """Filter the library warnings above unless the run is verbose (called where work starts, also in workers)."""
    if verbosity() >= VERBOSE:
        return
    for message, category in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


# the columns rich may fill when the output is a file or a pipe (CI, nohup, batch jobs): there it draws each bar
# once, when the bar ends, and cuts the line at 80 columns unless told otherwise ("dnn seed 0 epoch 6/6 ━━ 180/1…")
REDIRECTED_WIDTH = 1000


def whole_lines_when_redirected() -> None:
    """Let rich's bars write whole lines where the output is not a terminal; a terminal keeps its own width.

    Ours and coffea's bars share rich's console, whose width becomes ``REDIRECTED_WIDTH`` columns.
    """
    import rich

    if not rich.get_console().is_terminal:
        rich.reconfigure(width=REDIRECTED_WIDTH)


def say(text: str) -> None:
    """A line for the user (not in quiet runs).

    Parameters
    ----------
    text : str
        The line, printed to standard output and flushed at verbosity ``NORMAL`` or above.
    """
    if verbosity() >= NORMAL:
        print(text, flush=True)


def show_progress(requested: bool = True) -> bool:
    """Whether a run asked to show progress shows it at this verbosity.

    Parameters
    ----------
    requested : bool, default True
        Whether the run asked for progress (e.g. its ``progress`` option).

    Returns
    -------
    bool
        True where ``requested`` and the verbosity is at least ``NORMAL``.
    """
    return requested and verbosity() >= NORMAL


class ProgressBars(Protocol):
    """What ``progress_bar`` returns: rich's ``Progress``, or a stand-in with the same methods.

    A type for checkers, never instantiated itself.
    """

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: Any) -> bool | None: ...

    @property
    def add_task(self) -> Callable[..., int]:
        """``add_task(description, total=..., **fields)``: start a task (a bar); returns the task's id."""
        ...

    @property
    def update(self) -> Callable[..., None]:
        """``update(task id, **fields)``: change a task's fields (its description, total, ``status``)."""
        ...

    @property
    def advance(self) -> Callable[..., None]:
        """``advance(task id, advance=1)``: count ``advance`` more units done for the task."""
        ...


class ProgressQueue(Protocol):
    """A queue between processes (multiprocessing's) carrying relayed progress calls; None ends the relay.

    A type for checkers, never instantiated itself.
    """

    def put(self, item: Any, /) -> None:
        """Put one item on the queue.

        Parameters
        ----------
        item : Any
            A relayed call ``(method name, (pid, task number), args, kwargs)``, or None to end the relay.
        """
        ...

    def get(self) -> Any:
        """Take the next item from the queue, waiting for one.

        Returns
        -------
        Any
            The item, as ``put`` put it.
        """
        ...


def progress_bar(unit: str, requested: bool = True, transient: bool = False) -> ProgressBars:
    """A rich progress display, or a silent stand-in with the same methods.

    Columns: description, bar, done / total ``unit``, elapsed and remaining time, then the task's ``status``
    field (``add_task(..., status="")``). The silent stand-in is returned when progress is not requested or the
    run is quiet (rich's own disabled display still writes a line break when it stops). In a process whose bars
    another process shows (``relay_progress_to``) every call goes there instead.

    Parameters
    ----------
    unit : str
        What the bars count, shown after the counter (e.g. ``"chunks"``, ``"jets"``).
    requested : bool, default True
        Whether the caller asked for progress (``show_progress``).
    transient : bool, default False
        Whether rich removes the bars from the terminal when the display stops.

    Returns
    -------
    ProgressBars
        A ``rich.progress.Progress``, the silent stand-in, or one relaying its calls; use it as a context manager.
    """
    if not show_progress(requested):
        return _Silent()
    if _RELAY is not None:
        return _Relayed(_RELAY)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("<"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        transient=transient,
    )


class _Silent:
    """``progress_bar`` where nothing is shown."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        return False

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass

    def advance(self, *args: Any, **kwargs: Any) -> None:
        pass


# the queue of the process that shows this one's bars (a member process of a training pool)
_RELAY: ProgressQueue | None = None


def relay_progress_to(queue: ProgressQueue) -> None:
    """From now on this process's progress bars are drawn by the process that reads ``queue``.

    That process runs ``show_relayed``: several worker processes, one display, one line per task.

    Parameters
    ----------
    queue : ProgressQueue
        The queue the drawing process reads.
    """
    global _RELAY
    _RELAY = queue


class _Relayed(_Silent):
    """``progress_bar`` in a process whose bars another process draws: each call is put on its queue, the task
    named by this process and its own task number."""

    def __init__(self, queue: ProgressQueue):
        self.queue = queue
        self.tasks = 0

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        self.tasks += 1
        self.queue.put(("add_task", (os.getpid(), self.tasks), args, kwargs))
        return self.tasks

    def update(self, task: int, *args: Any, **kwargs: Any) -> None:
        self.queue.put(("update", (os.getpid(), task), args, kwargs))

    def advance(self, task: int, *args: Any, **kwargs: Any) -> None:
        self.queue.put(("advance", (os.getpid(), task), args, kwargs))


@contextlib.contextmanager
def show_relayed(queue: ProgressQueue, unit: str, requested: bool = True) -> Iterator[None]:
    """While in the block, draw the bars that other processes relay through ``queue`` (one line per task).

    A thread reads the queue until the block ends, when None is put on it.

    Parameters
    ----------
    queue : ProgressQueue
        The queue the worker processes relay to (``relay_progress_to``).
    unit : str
        What the bars count (``progress_bar``).
    requested : bool, default True
        Whether progress is shown (``show_progress``); relayed calls are then read but drawn nowhere.

    Yields
    ------
    None
        Control to the block that runs the worker processes.
    """
    import threading

    def draw(bars):
        tasks = {}
        while (message := queue.get()) is not None:
            kind, key, args, kwargs = message
            if kind == "add_task":
                tasks[key] = bars.add_task(*args, **kwargs)
            elif key in tasks:
                getattr(bars, kind)(tasks[key], *args, **kwargs)

    with progress_bar(unit, requested) as bars:
        reader = threading.Thread(target=draw, args=(bars,), daemon=True)
        reader.start()
        try:
            yield
        finally:
            queue.put(None)
            reader.join()


@contextlib.contextmanager
def counter(description: str, total: int, unit: str, requested: bool = True) -> Iterator[Callable[..., None]]:
    """One bar counting ``total`` ``unit``; yields ``advance(n)``.

    Parameters
    ----------
    description : str
        The bar's description.
    total : int
        How many units make the bar full.
    unit : str
        What the bar counts.
    requested : bool, default True
        Whether progress is shown (``show_progress``); otherwise ``advance`` does nothing visible.

    Yields
    ------
    callable
        ``advance(n=1)``: count ``n`` more units done.
    """
    with progress_bar(unit, requested) as bars:
        task = bars.add_task(description, total=total, status="")
        yield lambda n=1: bars.advance(task, n)


def error(text: str) -> None:
    """Print ``text`` to standard error, at once.

    Parameters
    ----------
    text : str
        The message, printed at every verbosity.
    """
    print(text, file=sys.stderr, flush=True)
