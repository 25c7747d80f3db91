"""coffea executors by name: in this process, a local process pool, or Dask.

* ``iterative``: chunks one after another in this process;
* ``futures``: a pool of ``workers`` processes on this machine;
* ``dask``: an existing dask.distributed cluster at ``scheduler`` (``tcp://HOST:PORT``);
* ``dask-local``: a dask.distributed cluster of ``workers`` single-threaded worker processes started for the run.

A Dask client opened once (``dask_client``) can serve several stages: pass it as ``client`` to the coffea runs
and ``dask_map(client)`` as the ``mapper`` of ensemble training, so members and chunks share the same workers.

Nothing waits forever: a scheduler that does not answer within ``Timeouts.connect`` seconds is a ``ClusterError``
before anything is written, and a cluster left without a single worker for ``Timeouts.workers`` seconds stops
the run with a ``ClusterError`` (the chunks finished so far stay checkpointed). "Answer" means distributed's
handshake (``check_scheduler``): ``Client(address, timeout=...)`` bounds the TCP connection only, and waited
forever on an address that accepts connections but never writes (a firewall, another service, a hung scheduler).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xaugcol.errors import ClusterError
from xaugcol.quoting import quoted

if TYPE_CHECKING:
    from coffea.processor.executor import ExecutorBase
    from distributed import Client

EXECUTORS = ("iterative", "futures", "dask", "dask-local")
DEFAULT_CHUNKSIZE = 100_000  # events (or jet-table rows) per chunk, for every coffea run
DASK_EXECUTORS = ("dask", "dask-local")


@dataclass(frozen=True)
class Timeouts:
    """Seconds before giving up on a remote file, a Dask scheduler or a cluster without workers.

    Parameters
    ----------
    remote : float, default 30.0
        Seconds for a remote (root://, https://) file to answer.
    connect : float, default 10.0
        Seconds for a Dask scheduler to complete distributed's handshake.
    workers : float, default 300.0
        Seconds a Dask cluster may be without any worker before the run stops.

    Raises
    ------
    ValueError
        A timeout that is not a number of seconds > 0.
    """

    remote: float = 30.0
    connect: float = 10.0
    workers: float = 300.0

    def __post_init__(self):
        for name in ("remote", "connect", "workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"timeout '{name}' must be a number of seconds > 0, got {quoted(value)}")


def check_executor(executor: str, scheduler: str | None = None) -> None:
    """Check an executor's name and that a scheduler address is given with ``dask`` and only with it.

    Parameters
    ----------
    executor : str
        One of ``EXECUTORS``: ``iterative``, ``futures``, ``dask``, ``dask-local``.
    scheduler : str, optional
        The Dask scheduler's address (``tcp://HOST:PORT``), for executor ``dask``.

    Raises
    ------
    ValueError
        An unknown executor, ``dask`` without a scheduler, or a scheduler with another executor.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {quoted(executor)}; choose from {', '.join(EXECUTORS)}")
    if executor == "dask" and not scheduler:
        raise ValueError("executor 'dask' needs the scheduler address (--scheduler tcp://HOST:PORT)")
    if executor != "dask" and scheduler:
        raise ValueError(f"a scheduler address is only used by executor 'dask', not {quoted(executor)}")


def check_scheduler(address: str | None, timeout: float) -> None:
    """Check that the Dask scheduler at ``address`` completes distributed's handshake within ``timeout`` seconds.

    distributed's ``connect`` bounds its TCP connection only, so the whole of it is bounded here; it runs in a
    thread of its own, whose event loop nothing else uses (the caller may be inside one, as in a notebook).

    Parameters
    ----------
    address : str or None
        The scheduler's address (``tcp://HOST:PORT``); None or empty: nothing to check.
    timeout : float
        Seconds the handshake may take.

    Raises
    ------
    ClusterError
        Nothing at ``address`` completed the handshake in time.
    """
    if not address:
        return
    outcome: dict = {}

    def probe():
        try:
            asyncio.run(asyncio.wait_for(_handshake(address, timeout), timeout))
        except BaseException as err:  # handed to the caller's thread
            outcome["error"] = err

    thread = threading.Thread(target=probe, name="xaugcol-scheduler-probe", daemon=True)
    thread.start()
    thread.join(timeout + 5)  # the probe ends itself at ``timeout``: this is a guard only
    if thread.is_alive() or "error" in outcome:
        raise ClusterError(f"no Dask scheduler answers at {address} ({_no_answer(outcome.get('error'), timeout)})")


async def _handshake(address: str, timeout: float) -> None:
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout, **_connection_args(address))
    await comm.close()


def _connection_args(address: str) -> dict:
    """The security settings a ``Client`` of ``address`` would connect with (TLS certificates from dask's
    configuration or its security loader), so that the check connects as the client will."""
    from distributed.security import Security

    try:
        from distributed.client import _maybe_call_security_loader  # where Client finds them (private)
    except ImportError:
        security = None
    else:
        security = _maybe_call_security_loader(address)
    return (security or Security()).get_connection_args("client")


def _no_answer(err: BaseException | None, timeout: float) -> str:
    if err is None or isinstance(err, asyncio.TimeoutError):
        return f"nothing answered within {timeout:g} s"
    return str(err) or type(err).__name__


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 1, timeouts: Timeouts = Timeouts()) -> Iterator[Client]:
    """A dask.distributed client of the cluster at ``scheduler``, or of a local cluster started here.

    The local cluster has ``workers`` single-threaded processes (one core each, as the chunks and members are
    single-threaded); it and the client are closed when the block ends.

    Parameters
    ----------
    scheduler : str, optional
        The address of an existing cluster's scheduler (``tcp://HOST:PORT``); None: start a local cluster.
    workers : int, default 1
        The local cluster's worker processes (unused with ``scheduler``).
    timeouts : Timeouts, default Timeouts()
        ``timeouts.connect``: seconds the scheduler has to answer.

    Yields
    ------
    distributed.Client
        The open client.

    Raises
    ------
    ClusterError
        The scheduler at ``scheduler`` does not answer within ``timeouts.connect`` seconds (``check_scheduler``).
    """
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler:
            check_scheduler(scheduler, timeouts.connect)
            try:
                client = stack.enter_context(Client(scheduler, timeout=timeouts.connect))
            except OSError as err:  # distributed raises OSError (a timeout) for an address where nothing answers
                raise ClusterError(f"no Dask scheduler answers at {scheduler} ({err})") from None
        else:
            with _sigint_ignored():  # the worker processes inherit it: Ctrl-C is the main process's to handle
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=_worker_log_level(),
                    )
                )
            client = stack.enter_context(Client(cluster))
        yield client


def _worker_log_level() -> int:
    """Local Dask workers log warnings only with -v (their notes on tasks cancelled by a stopped run are noise)."""
    import logging

    from xaugcol.console import VERBOSE, verbosity

    return logging.WARNING if verbosity() >= VERBOSE else logging.ERROR


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored while the block starts processes (an ignored signal stays ignored in a child), so that a
    Ctrl-C reaches only this process; nothing changes outside the main thread, where signals cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def dask_session(
    executor: str, scheduler: str | None, workers: int, client: Client | None = None, timeouts: Timeouts = Timeouts()
) -> Iterator[Client | None]:
    """The Dask client a run uses, open for the block.

    Parameters
    ----------
    executor : str
        The executor's name (``EXECUTORS``).
    scheduler : str or None
        The Dask scheduler's address, for executor ``dask``.
    workers : int
        The local cluster's worker processes, for executor ``dask-local``.
    client : distributed.Client, optional
        An open client to use as it is.
    timeouts : Timeouts, default Timeouts()
        ``timeouts.connect``: seconds the scheduler has to answer.

    Yields
    ------
    distributed.Client or None
        ``client`` when given; for executors ``dask`` / ``dask-local`` one opened here (``dask_client``, so an
        unreachable scheduler fails before the run writes anything) and closed at the end; else None.
    """
    if client is not None or executor not in DASK_EXECUTORS:
        yield client
        return
    with dask_client(scheduler if executor == "dask" else None, workers, timeouts) as own:
        yield own


# a ``map``: builtin map, a Dask client's (``dask_map``), a member pool's; results in the items' order
Mapper = Callable[[Callable[..., Any], Iterable[Any]], Iterable[Any]]


def dask_map(client: Client) -> Callable[[Callable[..., Any], Iterable[Any]], list[Any]]:
    """A ``map`` that runs each call as a Dask task on ``client``'s workers; results in input order.

    A task whose worker dies is rerun by the scheduler elsewhere.

    Parameters
    ----------
    client : distributed.Client
        The open client whose workers run the tasks.

    Returns
    -------
    callable
        ``mapper(function, items)``: the list of ``function(item)`` for each item, gathered from the tasks (not
        pure: each call runs, even for equal arguments).
    """

    def mapper(function, items):
        return client.gather(client.map(function, list(items), pure=False))

    return mapper


class WorkerWatch:
    """Watches a Dask client while a run waits on it, as a context manager (a thread polls the scheduler).

    After ``grace`` seconds without any worker it says so and cancels the client's pending futures, which ends the
    wait; ``fired`` then holds the reason (None until then). A warning is printed to stderr once the cluster has
    been without a worker for ``min(10, grace / 2)`` seconds.

    Parameters
    ----------
    client : distributed.Client
        The client to watch.
    grace : float
        Seconds without any worker before the pending futures are cancelled.
    poll : float, default 1.0
        Seconds between two looks at the scheduler.
    """

    def __init__(self, client, grace: float, poll: float = 1.0):
        self.client, self.grace, self.poll = client, grace, poll
        self.fired: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xaugcol-worker-watch", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from distributed import Future

        since, warned = None, False
        while not self._stop.wait(self.poll):
            try:  # one worker's details are enough to know there is one (a cluster may have hundreds)
                n = len(self.client.scheduler_info(n_workers=1)["workers"])
            except Exception:  # the scheduler itself is gone: as good as no worker
                n = 0
            if n:
                since, warned = None, False
                continue
            since = since or time.monotonic()
            if not warned and time.monotonic() - since >= min(10.0, self.grace / 2):
                print(
                    f"xaugcol: no Dask worker connected to {self.client.scheduler.address}; giving up after "
                    f"{self.grace:g} s without one",
                    file=sys.stderr,
                    flush=True,
                )
                warned = True
            if time.monotonic() - since >= self.grace:
                self.fired = (
                    f"no Dask worker was connected to {self.client.scheduler.address} for {self.grace:g} s "
                    "(every worker died or none started)"
                )
                with contextlib.suppress(Exception):
                    self.client.cancel([Future(key, self.client) for key in list(self.client.futures)])
                return


@contextlib.contextmanager
def _process_pool(workers: int):
    """coffea's process pool (loky), its workers set up by ``coffea_compat.worker_setup``; on an interrupt or an
    error the workers are stopped at once instead of finishing their chunks."""
    from loky import ProcessPoolExecutor

    from xaugcol.processing.coffea_compat import worker_setup

    pool = ProcessPoolExecutor(max_workers=workers, initializer=worker_setup)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, kill_workers=True)
        raise
    pool.shutdown(wait=True)


def _set_up_dask_workers(client) -> None:
    from xaugcol.processing.coffea_compat import dask_worker_setup

    with contextlib.suppress(Exception):  # a worker without xaugcol fails its chunks with a message of its own
        client.register_plugin(dask_worker_setup())


@contextlib.contextmanager
def coffea_executor(
    executor: str,
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool = False,
    client: Client | None = None,
    timeouts: Timeouts = Timeouts(),
) -> Iterator[ExecutorBase]:
    """The coffea executor; a Dask client (and a local cluster) opened here live as long as the block.

    Parameters
    ----------
    executor : str
        ``iterative``, ``futures``, ``dask`` or ``dask-local`` (see the module's docstring).
    workers : int, default 1
        Processes of the ``futures`` pool or of the ``dask-local`` cluster.
    scheduler : str, optional
        The Dask scheduler's address (``tcp://HOST:PORT``), for executor ``dask``.
    progress : bool, default False
        Whether coffea shows its progress bar.
    client : distributed.Client, optional
        An open Dask client to use instead (executors ``dask`` / ``dask-local`` only).
    timeouts : Timeouts, default Timeouts()
        ``connect`` for the scheduler to answer, ``workers`` for a cluster without any worker.

    Yields
    ------
    coffea.processor.executor.ExecutorBase
        An ``IterativeExecutor``, a ``FuturesExecutor`` on a loky process pool, or a ``DaskExecutor``.

    Raises
    ------
    ValueError
        A ``client`` with an executor that is not Dask's, or invalid executor settings (``check_executor``).
    ClusterError
        On Dask, the cluster had no worker for ``timeouts.workers`` seconds (or the scheduler does not answer).
    """
    from coffea import processor

    if client is not None and executor not in DASK_EXECUTORS:
        raise ValueError(f"a Dask client is only used by executors {DASK_EXECUTORS}, not {quoted(executor)}")
    if client is None:
        check_executor(executor, scheduler)
    if executor == "iterative":
        yield processor.IterativeExecutor(status=progress)
    elif executor == "futures":
        with _process_pool(workers) as pool:
            yield processor.FuturesExecutor(status=progress, workers=workers, pool=pool)
    else:
        with (
            dask_session(executor, scheduler, workers, client, timeouts) as dask,
            WorkerWatch(dask, timeouts.workers) as watch,
        ):
            _set_up_dask_workers(dask)
            try:
                yield processor.DaskExecutor(client=dask, status=progress)
            except Exception as err:
                if watch.fired:
                    raise ClusterError(watch.fired) from err
                raise
            if watch.fired:  # cancelled while the run was finishing: its output is not trustworthy
                raise ClusterError(watch.fired)
