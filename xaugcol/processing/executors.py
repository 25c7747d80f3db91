"""coffea executors by name: in this process, a local process pool, or Dask.

* ``iterative``: chunks one after another in this process;
* ``futures``: a pool of ``workers`` processes on this machine;
* ``dask``: an existing dask.distributed cluster at ``scheduler`` (``tcp://HOST:PORT``);
* ``dask-local``: a dask.distributed cluster of ``workers`` single-threaded worker processes started for the run.
"""

from __future__ import annotations

import contextlib

EXECUTORS = ("iterative", "futures", "dask", "dask-local")


def check_executor(executor: str, scheduler: str | None = None) -> None:
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if executor == "dask" and not scheduler:
        raise ValueError("executor 'dask' needs the scheduler address (--scheduler tcp://HOST:PORT)")
    if executor != "dask" and scheduler:
        raise ValueError(f"a scheduler address is only used by executor 'dask', not {executor!r}")


@contextlib.contextmanager
def coffea_executor(executor: str, workers: int = 1, scheduler: str | None = None, progress: bool = False):
    """The coffea executor; a Dask client (and a local cluster) live as long as the block."""
    from coffea import processor

    check_executor(executor, scheduler)
    if executor == "iterative":
        yield processor.IterativeExecutor(status=progress)
    elif executor == "futures":
        yield processor.FuturesExecutor(status=progress, workers=workers)
    else:
        from distributed import Client, LocalCluster

        with contextlib.ExitStack() as stack:
            if executor == "dask":
                client = stack.enter_context(Client(scheduler))
            else:
                cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                           dashboard_address=None))
                client = stack.enter_context(Client(cluster))
            yield processor.DaskExecutor(client=client, status=progress)
