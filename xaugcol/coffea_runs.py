"""The runs of the toolkit, each with the coffea processor it uses: the layer that chooses processors and hands
them to the library (``xaugcol.processing.process_fileset``, ``xaugcol.explain.explain_tables``), which never imports
them.

    from xaugcol.coffea_runs import run_processing, run_relevance
    run_processing(fileset, "out/proc", executor="futures", workers=2)
    run_relevance("out/proc", ["out/taggers/dnn"], "out/rel", ExplainOptions(rules=("epsilon", "gradient_x_input")))
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from xaugcol.explain.explain_tables import RelevanceResult, explain_tables
from xaugcol.explain.options import ExplainOptions

if TYPE_CHECKING:
    from distributed import Client

    from xaugcol.explain.ensemble import Ensemble
from xaugcol.processing.coffea_runner import DEFAULT_CHUNKSIZE, Execution
from xaugcol.processing.executors import Timeouts
from xaugcol.processing.jet_table import ProcessingConfig
from xaugcol.processing.process_fileset import RunResult, process_fileset
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
) -> RunResult:
    """The XAUG processor over ``fileset`` (NanoAOD-style ROOT files) into jet tables, histograms and a report in
    ``out_dir`` (``xaugcol.processing.process_fileset.process_fileset``); a chunk size whose table would not fit
    (``ProcessingConfig.check_chunk``) is refused before anything is read."""
    config.check_chunk(chunksize)
    execution = Execution(executor, workers, chunksize, scheduler, skip_bad_files, progress, timeouts, client)
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
) -> RelevanceResult:
    """The relevance processor over the jet tables of the processing output ``jets`` (``chunksize``: jets per
    chunk), explaining ``taggers`` as ``options`` says (``ExplainOptions``: methods, split, batch, the extra
    analyses; ``xaugcol.explain.explain_tables.explain_tables``); the keywords say how the run is executed."""
    execution = Execution(executor, workers, chunksize, scheduler, skip_bad_files, progress, timeouts, client)
    return explain_tables(RelevanceProcessor, jets, taggers, out_dir, options, execution, resume)
