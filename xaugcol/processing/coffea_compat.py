"""Where coffea itself fails on inputs xaugcol must take, the smallest change that makes it work.

* Non-ASCII text: coffea hashes the (dataset, file name, tree) of every work item with ``bytes(text, "ascii")``
  (``coffea.util._hash``), so a dataset or a folder named with an accent (``café/``, ``Zürich``) stops every run
  with a UnicodeEncodeError. ``use_utf8_hashes`` replaces that hash with one of the UTF-8 bytes (with
  ``surrogateescape``, so any file name the OS hands over is text): for ASCII text the bytes, and so every hash,
  are exactly coffea's. It is applied when this module is imported, in the main process and in every worker:
  the process pool runs ``worker_setup`` when each worker starts, and Dask workers through ``WorkerSetup``, a
  worker plugin (also on workers that join later).
* Ctrl-C: a terminal sends SIGINT to every process of the group, so each pool worker would print a traceback of
  its own. Workers ignore it (``worker_setup``); the main process stops the run and the pool.
"""

from __future__ import annotations

import hashlib
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed.diagnostics.plugin import WorkerPlugin


def _utf8_hash(items) -> int:
    digest = hashlib.md5(";".join(str(x) for x in items).encode("utf-8", "surrogateescape"))
    return int(digest.hexdigest()[:16], base=16)


def use_utf8_hashes() -> None:
    """Replace coffea's ASCII-only work-item hash with one of the UTF-8 bytes (the same for ASCII text).

    Patches ``coffea.util._hash`` and the name ``coffea.processor.executor`` bound at import.
    """
    import coffea.processor.executor as executor
    import coffea.util

    coffea.util._hash = _utf8_hash
    executor._hash = _utf8_hash  # bound by name at coffea's import


def worker_setup() -> None:
    """Run in each pool worker as it starts.

    Applies coffea's hashes of UTF-8 text, and leaves SIGINT to the main process (the worker ignores it).
    """
    use_utf8_hashes()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def dask_worker_setup() -> WorkerPlugin:
    """A Dask worker plugin that applies ``use_utf8_hashes`` on every worker of a cluster, present and future.

    Returns
    -------
    distributed.diagnostics.plugin.WorkerPlugin
        The plugin (named ``xaugcol-coffea-compat``), to register with the Dask client.
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    class WorkerSetup(WorkerPlugin):
        name = "xaugcol-coffea-compat"

        def setup(self, worker):
            use_utf8_hashes()

    return WorkerSetup()


use_utf8_hashes()
