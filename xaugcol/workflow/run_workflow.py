"""Run a whole study: its stages (``xaug_study``) in order, then the report from their sections.

Every stage records the settings it depends on (``stages``): with ``resume`` a stage is reused only when it
completed with the same settings and the same upstream stages; an interrupted one continues; any other is run
again, with everything downstream of it, and the progress line says why. ``study.yaml`` (the validated
configuration) and ``index.html`` (the report) sit at the top of ``out``.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from xaugcol.atomic import atomic_path
from xaugcol.output_folder import OutputExistsError, is_empty, locked_output
from xaugcol.paths import refuse_inputs_inside
from xaugcol.processing.executors import dask_client, dask_map
from xaugcol.report.html import write_report
from xaugcol.workflow.config import Workflow
from xaugcol.workflow.stages import StageFolderError, StudyContext, run_stages, stage_may_clear
from xaugcol.workflow.xaug_study import study_stages, xaug_study

__all__ = ["run_workflow", "study_stages"]

STUDY_YAML = "study.yaml"  # written first: the mark of a study's folder


def check_study(wf: Workflow, out: Path) -> None:
    """Refuse, before anything is written, what a study would refuse only after minutes.

    What it reads may not lie inside ``out`` (its fileset and files, trained taggers, process card); every stage
    folder it may clear must be absent, empty or written by that stage (``study_stages`` also refuses a link
    planted anywhere in the layout); the Dask scheduler, if one is named, must answer; Pythia must accept and
    initialise every process.

    Parameters
    ----------
    wf : Workflow
        The study.
    out : Path
        The study's output folder.

    Raises
    ------
    UnsafePathError
        An input lies inside ``out``.
    StageFolderError
        A stage folder holds files no study wrote for that stage.
    ClusterError
        The study's Dask scheduler does not answer.
    GeneratorError
        Pythia refuses or cannot initialise a process.
    """
    inputs = [("the study's process card", wf.source.process_card), ("the study's fileset", wf.fileset)]
    if wf.fileset is not None:
        from xaugcol.processing.coffea_runner import load_fileset

        inputs += [
            ("an input file of the fileset", f) for entry in load_fileset(wf.fileset).values() for f in entry["files"]
        ]
    inputs += [(f"the trained tagger {t.label}", t.folder) for t in wf.trained]
    refuse_inputs_inside(out, inputs)
    for record in study_stages(wf, out).values():
        if (record.folder.exists() or record.folder.is_symlink()) and not stage_may_clear(record):
            raise StageFolderError(
                f"{record.folder} holds files that no xaugcol study wrote for its {record.name} "
                "stage: the study would replace them; move them away or use another output folder"
            )
    if wf.dask is not None and wf.dask.scheduler:  # a silent address fails now, not with OUT made
        from xaugcol.processing.executors import Timeouts, check_scheduler

        check_scheduler(wf.dask.scheduler, Timeouts().connect)
    if wf.source.kind == "pythia":
        from xaugcol.sources.process_card import load_processes
        from xaugcol.sources.pythia import check_processes

        known = load_processes(wf.source.process_card)
        check_processes(
            [known[n] for n in wf.source.processes], wf.source.pthat_min, wf.source.flat_pthat, wf.source.tracker
        )


def run_workflow(
    wf: Workflow, out: str | Path, overwrite: bool = False, resume: bool = False, progress: bool = True
) -> dict:
    """Run every stage of a study into ``out`` (locked meanwhile); with ``wf.dask`` all of them share one Dask client.

    Parameters
    ----------
    wf : Workflow
        The study.
    out : str or Path
        The study's output folder.
    overwrite : bool
        Replace what ``out`` holds.
    resume : bool
        Reuse the stages whose recorded settings and inputs match (``stages``) and rerun the others.
    progress : bool
        Print a line per stage, with progress bars.

    Returns
    -------
    dict
        ``report`` (the page's path), ``timings`` per stage, the ``relevance`` and ``reduced`` results, and the
        stages that ``ran``.

    Raises
    ------
    OutputFolderError
        ``out`` holds another run (or, with ``resume``, no study to resume), or is locked by one.
    UsageError
        A study that cannot run as asked.
    InputDataError
        An input file that cannot be processed.
    ClusterError
        The Dask cluster failed the run.
    """
    out = Path(out)
    if resume and not overwrite and not is_empty(out) and not (out / STUDY_YAML).is_file():
        raise OutputExistsError(
            f"{out} holds no study to resume (no {STUDY_YAML}) but other files: start again "
            "with --overwrite, or write to another folder"
        )
    check_study(wf, out)  # before anything is written or removed there
    with locked_output(out, overwrite or resume):
        if wf.dask is None:
            return _run(wf, out, resume, progress, None)
        with dask_client(wf.dask.scheduler, wf.dask.workers) as client:
            return _run(wf, out, resume, progress, client)


def _run(wf: Workflow, out: Path, resume: bool, progress: bool, client) -> dict:
    with atomic_path(out / STUDY_YAML) as tmp:
        tmp.write_text(yaml.safe_dump(wf.raw, sort_keys=False))
    ctx = StudyContext(wf, out, client, map if client is None else dask_map(client), progress)
    stages = xaug_study(wf, out)
    started = time.perf_counter()
    timings, ran = run_stages(stages, ctx, resume, len(stages) + 1)
    if progress:
        print(f"[{len(stages) + 1}/{len(stages) + 1}] report (t = {time.perf_counter() - started:.0f} s)", flush=True)
    report = write_report(out, wf.name, wf.raw, [s.report(ctx) for s in stages if s.report is not None], timings)
    if progress:
        print(f"report: {report}", flush=True)
    return {
        "report": str(report),
        "timings": timings,
        "relevance": ctx.results.get("relevance"),
        "reduced": ctx.results.get("reduced"),
        "ran": ran,
    }
