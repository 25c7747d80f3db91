"""The study stage after the explanations: Roy and Neubauer's (ICHEP 2022) retrainings of one tagger
(``xaugcol.training.pruning``), driven by its occlusion table and flagged features in relevance.json.

Layout of ``out/interpret``::

    reduced_scratch/, reduced_preloaded/   the tagger on the features whose dAUC lies above ``prune_below``
    without_bias_like/                     the tagger without the features flagged as acting like a bias
    squeezed/                              the squeezed architecture, all features
    interpret.json                         every comparison with the baseline
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xaugcol.atomic import write_json
from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.explain_tables import RELEVANCE_JSON
from xaugcol.paths import read_json, under
from xaugcol.workflow.stages import Stage, StudyStage

if TYPE_CHECKING:
    from xaugcol.workflow.config import Interpret, Workflow

INTERPRET_JSON = "interpret.json"


def _interpret(wf: Workflow) -> Interpret:
    """The study's interpret section: the interpret stage exists only where the study has one."""
    if wf.interpret is None:
        raise ValueError("the study has no interpret section")
    return wf.interpret


def interpret_record(wf: Workflow, out: Path, upstream: tuple[Stage, ...]) -> Stage:
    """The completion record of the interpret stage: its settings, the tagger's model, the training and seeds.

    Parameters
    ----------
    wf : Workflow
        The study; it must have an ``interpret`` section.
    out : Path
        The study's output folder; the stage writes ``out/interpret``.
    upstream : tuple of Stage
        The stages it reads (the processing, the explanation, the tagger's training).

    Returns
    -------
    Stage
        The record ``interpret``.

    Raises
    ------
    ValueError
        When the study has no interpret section.
    """
    base = wf.taggers[wf.tagger_names().index(_interpret(wf).tagger)]
    return Stage(
        "interpret",
        under(out, "interpret"),
        {
            "interpret": _interpret(wf).model_dump(),
            "model": base.as_dict(),
            "training": wf.training.model_dump(),
            "seeds": list(wf.seeds),
        },
        upstream,
    )


def interpret_stage(wf: Workflow, out: Path, record: Stage, processed: Path, sample: str) -> StudyStage:
    """The interpret stage: the retrainings of one tagger after occlusion, their figures and report section.

    The work retrains the tagger on the features whose dAUC is at least ``prune_below`` (from scratch and, with
    ``preload``, from the baseline's weights; only when some features are dropped and some kept), without the
    bias-like features (``bias_like``) and squeezed (``squeezed``), and writes ``interpret.json``.

    Parameters
    ----------
    wf : Workflow
        The study; it must have an ``interpret`` section.
    out : Path
        The study's output folder (``taggers/<tagger>`` the baseline, ``relevance/`` its occlusion table).
    record : Stage
        The stage's record (``interpret_record``).
    processed : Path
        The processing output folder whose ``jets/`` the retrainings read.
    sample : str
        The sample written above the figures (``xaug_study.sample_label``).

    Returns
    -------
    StudyStage
        The stage, its results read into ``ctx.results["interpret"]``.

    Raises
    ------
    ValueError
        When the study has no interpret section.
    """
    i = _interpret(wf)
    base = wf.taggers[wf.tagger_names().index(i.tagger)]
    folder, baseline = out / "interpret", out / "taggers" / i.tagger

    def work(ctx, record, resume):
        from xaugcol.explain.activations import ensemble_patterns
        from xaugcol.training.pruning import inference_ratio, parameter_count, retrain

        relevance = read_json(out / "relevance" / RELEVANCE_JSON, "a relevance output's relevance.json")
        table = relevance.get("occlusion", {}).get(i.tagger)
        if not table:
            raise ValueError(f"interpret: the relevance run has no occlusion table for {i.tagger}")
        jets = processed / "jets"
        common = {
            "data": jets,
            "base": base,
            "baseline": baseline,
            "training": wf.training,
            "seeds": list(wf.seeds),
            "mapper": ctx.mapper,
            "progress": ctx.progress,
        }
        kept = [r["feature"] for r in table["features"] if r["dauc"]["mean"] >= i.prune_below]
        dropped = [r["feature"] for r in table["features"] if r["dauc"]["mean"] < i.prune_below]
        runs = {}
        if dropped and kept:
            runs["reduced_scratch"] = retrain(out=folder / "reduced_scratch", masked=dropped, **common)
            if i.preload:
                runs["reduced_preloaded"] = retrain(
                    out=folder / "reduced_preloaded", masked=dropped, preload=True, **common
                )
        flagged = sorted({f["feature"] for fs in (table.get("bias_like") or {}).values() for f in fs})
        if i.bias_like and flagged:
            runs["without_bias_like"] = retrain(
                out=folder / "without_bias_like", masked=flagged, preload=True, **common
            )
        squeezed = None
        if i.squeezed is not None:
            runs["squeezed"] = retrain(out=folder / "squeezed", architecture=i.squeezed, **common)
            squeezed = {
                "inference_time_ratio": inference_ratio(baseline, folder / "squeezed", jets),
                "activations": ensemble_patterns(Ensemble.load(folder / "squeezed"), jets),
                "baseline_activations": relevance.get("activations", {}).get(i.tagger),
            }
        baseline_metrics = read_json(baseline / "metrics.json", "an ensemble's metrics.json")["summary"]
        write_json(
            folder / INTERPRET_JSON,
            {
                "tagger": i.tagger,
                "prune_below": i.prune_below,
                "kept": kept,
                "dropped": dropped,
                "flagged": flagged,
                "baseline": {"auc": baseline_metrics["auc"], "parameters": parameter_count(baseline)},
                "runs": runs,
                "squeezed": squeezed,
            },
        )

    def read(ctx):
        ctx.results["interpret"] = read_json(folder / INTERPRET_JSON, "an interpretation's interpret.json")

    def report(ctx):
        from xaugcol.report.html import interpret_section

        return interpret_section(ctx.results["interpret"])

    def figures(ctx):
        from xaugcol.report.figures import interpret_jobs

        return interpret_jobs(folder, i.tagger, sample)

    return StudyStage(
        "interpret",
        f"retraining {i.tagger}: reduced features (from scratch and preloaded), "
        "without the bias-like features, squeezed",
        (record,),
        work,
        after=read,
        figures=figures,
        report=report,
    )
