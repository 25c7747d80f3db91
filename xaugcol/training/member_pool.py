"""Ensemble members trained side by side in processes of this machine (``training: {processes: N}``).

One process trains one member at a time with ``threads`` torch threads (default: the cores shared evenly among
the processes), so two processes of one thread keep two cores busy where one process of two threads waits on
its small operations. The processes start once (torch imported once) and serve every ensemble of the run; their
progress bars are drawn by the process that started them, one line per member.

A member's weights depend on its seed and its thread count only (the convolution taggers' reductions depend on
the thread count, the dense ones' do not): trained here, a member is identical bit for bit to the same member
trained alone with the same number of threads (``tests/test_member_pool.py``).
"""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
from collections.abc import Callable, Iterable
from typing import Any

from xaugcol.console import relay_progress_to, show_relayed


def threads_per_process(processes: int, threads: int | None) -> int:
    """Choose the torch threads of each of ``processes``: as given, or this machine's cores shared evenly.

    Parameters
    ----------
    processes : int
        The number of member processes.
    threads : int or None
        The torch threads per process asked for; None: ``os.cpu_count() // processes``, at least 1.

    Returns
    -------
    int
        The torch threads of each process.
    """
    return threads if threads is not None else max(1, (os.cpu_count() or 1) // processes)


class MemberPool:
    """A pool of ``processes`` spawned processes, each computing with ``threads`` torch threads; ``map`` trains members.

    The processes relay their progress bars through a queue to the process that started them.

    Parameters
    ----------
    processes : int
        The number of worker processes (started with the ``spawn`` method).
    threads : int
        The torch threads of each process (``torch.set_num_threads``).
    """

    def __init__(self, processes: int, threads: int):
        context = multiprocessing.get_context("spawn")  # no forked torch thread pools, as on every platform
        self.queue = context.Queue()
        self.executor = concurrent.futures.ProcessPoolExecutor(
            processes, mp_context=context, initializer=_start_member_process, initargs=(threads, self.queue)
        )

    def map(self, function: Callable[[Any], Any], items: Iterable[Any], progress: bool = False) -> list:
        """Call ``function`` on every item in the processes, their progress bars drawn here.

        Parameters
        ----------
        function : callable
            What to compute for one item (a picklable, module-level function, e.g. training one member).
        items : iterable
            The items, e.g. one per member.
        progress : bool, default False
            Draw the processes' ``batches`` progress bars, one line per member.

        Returns
        -------
        list
            The results, in the items' order.
        """
        with show_relayed(self.queue, "batches", progress):
            return list(self.executor.map(function, items))


@functools.cache
def member_pool(processes: int, threads: int) -> MemberPool:
    """Give the run's pool of this size (started on first use, reused by every ensemble after it).

    Parameters
    ----------
    processes : int
        The number of worker processes.
    threads : int
        The torch threads of each process.

    Returns
    -------
    MemberPool
        The pool, cached per ``(processes, threads)``.
    """
    return MemberPool(processes, threads)


def discard_pool(processes: int, threads: int) -> None:
    """Forget a pool whose processes died (a member killed, out of memory): the next ensemble starts a new one.

    The cache of ``member_pool`` is cleared (every size) and the pool is shut down without waiting, its pending
    work cancelled.

    Parameters
    ----------
    processes : int
        The number of worker processes of the pool.
    threads : int
        The torch threads of each of its processes.
    """
    pool = member_pool(processes, threads)
    member_pool.cache_clear()
    pool.executor.shutdown(wait=False, cancel_futures=True)


def _start_member_process(threads: int, queue) -> None:
    import torch

    torch.set_num_threads(threads)
    relay_progress_to(queue)
