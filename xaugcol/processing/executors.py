"""coffea executors by name: in this process, a local process pool, or Dask.

* ``iterative``: chunks one after another in this process;
* ``futures``: a pool of ``workers`` processes on this machine;
* ``dask``: an existing dask.distributed cluster at ``scheduler`` (``tcp://HOST:PORT``);
* ``dask-local``: a dask.distributed cluster of ``workers`` single-threaded worker processes started for the run.

A Dask client opened once (``dask_client``) can serve several stages: pass it as ``client`` to the coffea runs
and ``dask_map(client)`` as the ``mapper`` of ensemble training, so members and chunks share the same workers.
"""

from __future__ import annotations

import contextlib

EXECUTORS = ("iterative", "futures", "dask", "dask-local")
DASK_EXECUTORS = ("dask", "dask-local")


def check_executor(executor: str, scheduler: str | None = None) -> None:
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if executor == "dask" and not scheduler:
        raise ValueError("executor 'dask' needs the scheduler address (--scheduler tcp://HOST:PORT)")
    if executor != "dask" and scheduler:
        raise ValueError(f"a scheduler address is only used by executor 'dask', not {executor!r}")


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 1):
    """A dask.distributed client: of the cluster at ``scheduler``, or of a local cluster of ``workers``
    single-threaded processes (one core each, as the chunks and members are single-threaded)."""
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        yield client


def dask_map(client):
    """A ``map`` that runs each call as a Dask task on ``client``'s workers; results in input order.
    A task whose worker dies is rerun by the scheduler elsewhere."""
    def mapper(function, items):
        return client.gather(client.map(function, list(items), pure=False))
    return mapper


@contextlib.contextmanager
def coffea_executor(executor: str, workers: int = 1, scheduler: str | None = None, progress: bool = False,
                    client=None):
    """The coffea executor; a Dask client (and a local cluster) opened here live as long as the block.
    ``client``: an open Dask client to use instead (executors ``dask`` / ``dask-local`` only)."""
    from coffea import processor

    if client is not None:
        if executor not in DASK_EXECUTORS:
            raise ValueError(f"a Dask client is only used by executors {DASK_EXECUTORS}, not {executor!r}")
        yield processor.DaskExecutor(client=client, status=progress)
        return
    check_executor(executor, scheduler)
    if executor == "iterative":
        yield processor.IterativeExecutor(status=progress)
    elif executor == "futures":
        yield processor.FuturesExecutor(status=progress, workers=workers)
    else:
        with dask_client(scheduler if executor == "dask" else None, workers) as own:
            yield processor.DaskExecutor(client=own, status=progress)
