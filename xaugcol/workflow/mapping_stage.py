"""The study stage that maps a black-box tagger onto EFPs by the guided search (``xaugcol.mapping.guided``).

Layout of ``out/mapping``::

    step_<k>/      the high-level model of step k (an ensemble folder; gbdt.json for the GBDT)
    guided.json    Faucett, Thaler and Whiteson's (arXiv:2010.11998) table: base, additions (graph, kappa,
                   beta), AUC, ADO[black box] per step
    methods.json   the other taggers of the study and each base observable alone: AUC, ADO[black box]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xaugcol.features.kinds.xaug import DEFAULT_COLUMNS
from xaugcol.mapping.guided import GUIDED_JSON, GuidedSearch, run_guided_search
from xaugcol.mapping.methods import METHODS_JSON, write_methods_table
from xaugcol.paths import read_json, under
from xaugcol.workflow.stages import Stage, StudyStage

if TYPE_CHECKING:
    from xaugcol.workflow.config import Mapping, Workflow


def _mapping(wf: Workflow) -> Mapping:
    """The study's mapping section: the mapping stage exists only where the study has one."""
    if wf.mapping is None:
        raise ValueError("the study has no mapping section")
    return wf.mapping


def mapping_record(wf: Workflow, out: Path, upstream: tuple[Stage, ...], given: dict) -> Stage:
    """The completion record of the mapping stage: the mapping section, the training settings and seeds.

    Parameters
    ----------
    wf : Workflow
        The study; it must have a ``mapping`` section.
    out : Path
        The study's output folder; the stage writes ``out/mapping``.
    upstream : tuple of Stage
        The stages it reads (the processing, and the black box's training when the study trains it).
    given : dict
        The digests of trained taggers the study was handed, by name (the black box may be one): its digest is
        recorded.

    Returns
    -------
    Stage
        The record ``mapping``.

    Raises
    ------
    ValueError
        When the study has no mapping section.
    """
    m = _mapping(wf)
    # the default candidate family is left out: studies written before it existed keep their fingerprints
    mapping = m.model_dump(exclude={"candidates"} if tuple(m.candidates) == ("efp",) else set())
    return Stage(
        "mapping",
        under(out, "mapping"),
        {
            "mapping": mapping,
            "training": wf.training.model_dump(),
            "seeds": list(wf.seeds),
            "black_box": given.get(m.black_box),
        },
        upstream,
    )


def black_box_folder(wf: Workflow, out: Path) -> Path:
    """The ensemble folder of the mapping's black box: a trained tagger given to the study, or one it trains.

    Parameters
    ----------
    wf : Workflow
        The study; it must have a ``mapping`` section.
    out : Path
        The study's output folder.

    Returns
    -------
    Path
        The given tagger's folder, else ``out/taggers/<black_box>``.
    """
    given = {t.label: Path(t.folder) for t in wf.trained}
    black_box = _mapping(wf).black_box
    return given.get(black_box, out / "taggers" / black_box)


def mapping_stage(wf: Workflow, out: Path, record: Stage, processed: Path, sample: str) -> StudyStage:
    """The mapping stage: the guided search and the methods table, their figures and report section.

    Parameters
    ----------
    wf : Workflow
        The study; it must have a ``mapping`` section.
    out : Path
        The study's output folder.
    record : Stage
        The stage's record (``mapping_record``).
    processed : Path
        The processing output folder whose ``jets/`` hold the base and candidate columns.
    sample : str
        The sample written above the figures (``xaug_study.sample_label``).

    Returns
    -------
    StudyStage
        The stage, its results read into ``ctx.results["mapping"]`` (with ``"methods"`` where the table exists).

    Raises
    ------
    ValueError
        When the study has no mapping section.
    """
    m = _mapping(wf)
    folder = out / "mapping"

    def work(ctx, record, resume):
        search = GuidedSearch(
            processed / "jets",
            black_box_folder(wf, out),
            tuple(m.base or DEFAULT_COLUMNS),
            m.candidate_columns(wf.processing),
            wf.training,
            tuple(wf.seeds),
            m.steps,
            m.high_level,
            dict(m.architecture),
        )
        run_guided_search(search, folder, ctx.mapper, ctx.progress)
        # Faucett, Thaler and Whiteson's (arXiv:2010.11998) comparison: every other tagger of the study and each base
        # observable alone
        others = {name: out / "taggers" / name for name in wf.tagger_names() if name != m.black_box}
        others.update({t.label: Path(t.folder) for t in wf.trained if t.label != m.black_box})
        write_methods_table(folder, processed / "jets", black_box_folder(wf, out), others, tuple(search.base))

    def read(ctx):
        ctx.results["mapping"] = read_json(folder / GUIDED_JSON, "a guided search's guided.json")
        if (folder / METHODS_JSON).exists():
            ctx.results["mapping"]["methods"] = read_json(folder / METHODS_JSON, "a guided search's methods table")

    def report(ctx):
        from xaugcol.report.html import mapping_section

        return mapping_section(ctx.results["mapping"], ctx.results.get("figures") or {})

    def figures(ctx):
        from xaugcol.report.figures import mapping_jobs

        return mapping_jobs(folder, sample)

    return StudyStage(
        "mapping",
        f"guided search: EFPs that bring a {m.high_level.upper()} on the base set to "
        f"{m.black_box}, up to {m.steps} steps",
        (record,),
        work,
        after=read,
        figures=figures,
        report=report,
    )
