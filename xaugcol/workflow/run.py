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
from xaugcol.output_folder import locked_output
from xaugcol.processing.executors import dask_client, dask_map
from xaugcol.report.html import write_report
from xaugcol.workflow.config import Workflow
from xaugcol.workflow.stages import StudyContext, run_stages
from xaugcol.workflow.xaug_study import study_stages, xaug_study

__all__ = ["run_workflow", "study_stages"]


def run_workflow(wf: Workflow, out: str | Path, overwrite: bool = False, resume: bool = False,
                 progress: bool = True) -> dict:
    """Run every stage into ``out`` (locked meanwhile); with ``wf.dask`` all of them share one Dask client.
    ``resume`` reuses the stages whose recorded settings and inputs match (``stages``) and reruns the others."""
    out = Path(out)
    with locked_output(out, overwrite or resume):
        if wf.dask is None:
            return _run(wf, out, resume, progress, None)
        with dask_client(wf.dask.scheduler, wf.dask.workers) as client:
            return _run(wf, out, resume, progress, client)


def _run(wf: Workflow, out: Path, resume: bool, progress: bool, client) -> dict:
    with atomic_path(out / "study.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(wf.raw, sort_keys=False))
    ctx = StudyContext(wf, out, client, map if client is None else dask_map(client), progress)
    stages = xaug_study(wf, out)
    started = time.perf_counter()
    timings, ran = run_stages(stages, ctx, resume, len(stages) + 1)
    if progress:
        print(f"[{len(stages) + 1}/{len(stages) + 1}] report (t = {time.perf_counter() - started:.0f} s)",
              flush=True)
    report = write_report(out, wf.name, wf.raw, [s.report(ctx) for s in stages if s.report is not None], timings)
    if progress:
        print(f"report: {report}", flush=True)
    return {"report": str(report), "timings": timings, "relevance": ctx.results.get("relevance"),
            "reduced": ctx.results.get("reduced"), "ran": ran}
