"""The runs of the toolkit, each with the coffea processor it uses.

This is the layer that chooses processors and hands them to the library (``xaugcol.processing.process_fileset``,
``xaugcol.explain.explain_tables``), which never imports them.

    from xaugcol.coffea_runs import run_processing, run_relevance
    run_processing(fileset, "out/proc", executor="futures", workers=2)
    run_relevance("out/proc", ["out/taggers/dnn"], "out/rel", ExplainOptions(rules=("epsilon", "gradient_x_input")))

How a run executes is one ``Execution`` (executor, workers, chunk size, scheduler, ...): passed whole as
``execution=``, or field by field as keywords, never both::

    on_two = Execution("futures", workers=2)
    run_processing(fileset, "out/proc", execution=on_two)
    run_relevance("out/proc", ["out/taggers/dnn"], "out/rel", execution=on_two)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from xaugcol.errors import UsageError
from xaugcol.explain.explain_tables import RelevanceResult, explain_tables
from xaugcol.explain.options import ExplainOptions

if TYPE_CHECKING:
    from distributed import Client

    from xaugcol.explain.ensemble import Ensemble
from xaugcol.processing.coffea_runner import DEFAULT_CHUNKSIZE, Execution
from xaugcol.processing.executors import Timeouts
from xaugcol.processing.process_fileset import RunResult, process_fileset
from xaugcol.processing.settings import ProcessingConfig
from xaugcol.processors.relevance_processor import RelevanceProcessor
from xaugcol.processors.xaug_processor import XAUGProcessor


def run_processing(
    fileset: dict,
    out_dir: str | Path,
    executor: str = "iterative",
    workers: int = 1,
    chunksize: int = DEFAULT_CHUNKSIZE,
    config: ProcessingConfig = ProcessingConfig(),
    skip_bad_files: bool = False,
    progress: bool = False,
    scheduler: str | None = None,
    resume: bool = False,
    client: Client | None = None,
    timeouts: Timeouts = Timeouts(),
    overwrite: bool = False,
    execution: Execution | None = None,
) -> RunResult:
    """Run the XAUG processor over ``fileset`` into jet tables, histograms and a report in ``out_dir``.

    The work is done by ``xaugcol.processing.process_fileset.process_fileset``; a chunk size whose table would not
    fit (``ProcessingConfig.check_chunk``) is refused before anything is read.

    Parameters
    ----------
    fileset : dict
        The NanoAOD-style ROOT files, as ``load_fileset`` returns them.
    out_dir : str or Path
        The processing output folder.
    executor : str, default "iterative"
        ``iterative``, ``futures``, ``dask`` (an existing cluster at ``scheduler``) or ``dask-local``
        (``xaugcol.processing.executors``).
    workers : int, default 1
        Processes (``futures``) or Dask workers (``dask-local``).
    chunksize : int, default ``DEFAULT_CHUNKSIZE``
        Events per chunk.
    config : ProcessingConfig, default ``ProcessingConfig()``
        What the jet tables hold (inputs, selections, EFP columns).
    skip_bad_files : bool, default False
        Skip unreadable files and failing chunks (listed in the report) instead of stopping.
    progress : bool, default False
        Show a progress bar.
    scheduler : str, optional
        The address of the Dask scheduler (``executor="dask"``).
    resume : bool, default False
        Continue an interrupted run in ``out_dir`` from its checkpoints.
    client : dask.distributed.Client, optional
        An open Dask client to run on (shared by stages).
    timeouts : Timeouts, default ``Timeouts()``
        Seconds before giving up on a remote file, a Dask scheduler, a cluster without workers.
    overwrite : bool, default False
        Replace an existing output in ``out_dir``.
    execution : Execution, optional
        How the run executes, whole; given, the keywords ``executor`` ... ``timeouts`` stay at their defaults.

    Returns
    -------
    RunResult
        The histograms, the counts per dataset, the unavailable branches, the skipped files and chunks, the report.

    Raises
    ------
    UsageError
        A setting that cannot be (an executor, a chunk size whose table would not fit).
    InputDataError
        An input file that cannot be processed (unless ``skip_bad_files``).
    OutputFolderError
        ``out_dir`` holds another run or is locked by one.
    ClusterError
        The Dask cluster failed the run.
    """
    loose = Execution(executor, workers, chunksize, scheduler, skip_bad_files, progress, timeouts, client)
    execution = _one_execution(execution, loose)
    config.check_chunk(execution.chunksize)
    return process_fileset(XAUGProcessor, fileset, out_dir, config, execution, resume, overwrite)


def run_relevance(
    jets: str | Path,
    taggers: Iterable[str | Path | Ensemble],
    out_dir: str | Path,
    options: ExplainOptions = ExplainOptions(),
    *,
    executor: str = "iterative",
    workers: int = 1,
    chunksize: int = DEFAULT_CHUNKSIZE,
    skip_bad_files: bool = False,
    progress: bool = False,
    scheduler: str | None = None,
    resume: bool = False,
    client: Client | None = None,
    timeouts: Timeouts = Timeouts(),
    execution: Execution | None = None,
) -> RelevanceResult:
    """Run the relevance processor over the jet tables of a processing output, explaining ``taggers``.

    The work is done by ``xaugcol.explain.explain_tables.explain_tables``; the keywords say how the run is
    executed, none of them changes what it computes.

    Parameters
    ----------
    jets : str or Path
        The processing output (or its ``jets/``).
    taggers : iterable of str, Path or Ensemble
        The tagger ensembles to explain (their folders, or loaded).
    out_dir : str or Path
        The relevance output folder.
    options : ExplainOptions, default ``ExplainOptions()``
        The methods, the split, the batch size and the extra analyses.
    executor : str, default "iterative"
        ``iterative``, ``futures``, ``dask`` (an existing cluster at ``scheduler``) or ``dask-local``
        (``xaugcol.processing.executors``).
    workers : int, default 1
        Processes (``futures``) or Dask workers (``dask-local``).
    chunksize : int, default ``DEFAULT_CHUNKSIZE``
        Jets per chunk.
    skip_bad_files : bool, default False
        Skip unreadable files and failing chunks (listed in the report) instead of stopping.
    progress : bool, default False
        Show a progress bar.
    scheduler : str, optional
        The address of the Dask scheduler (``executor="dask"``).
    resume : bool, default False
        Continue an interrupted run in ``out_dir`` from its checkpoints.
    client : dask.distributed.Client, optional
        An open Dask client to run on (shared by stages).
    timeouts : Timeouts, default ``Timeouts()``
        Seconds before giving up on a remote file, a Dask scheduler, a cluster without workers.
    execution : Execution, optional
        How the run executes, whole; given, the keywords ``executor`` ... ``timeouts`` stay at their defaults.

    Returns
    -------
    RelevanceResult
        The relevance histograms, the counts and the summary per tagger and method.

    Raises
    ------
    UsageError
        A setting that cannot be (a method, an executor).
    InputDataError
        Jet tables that are unreadable or do not match the taggers.
    ModelFilesError
        A tagger's files are missing, changed or unreadable.
    OutputFolderError
        ``out_dir`` holds another run or is locked by one.
    ClusterError
        The Dask cluster failed the run.
    """
    loose = Execution(executor, workers, chunksize, scheduler, skip_bad_files, progress, timeouts, client)
    execution = _one_execution(execution, loose)
    return explain_tables(RelevanceProcessor, jets, taggers, out_dir, options, execution, resume)


def _one_execution(execution: Execution | None, loose: Execution) -> Execution:
    """``execution`` where given (the keywords then at their defaults), else the one the keywords make."""
    if execution is None:
        return loose
    if loose != Execution() or loose.client is not None:
        raise UsageError("give the execution settings either whole (execution=) or as keywords, not both")
    return execution
