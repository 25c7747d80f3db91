"""The XAUG study as a list of stages: generate -> process -> train -> XAUG gain -> explain -> reduced sets ->
retrainings after occlusion -> guided search onto EFPs -> figures.

Layout of ``out``::

    generated/            NanoAOD-style ROOT files + fileset.json
    processed/            jet tables, histograms.root, report.json
    taggers/<name>/       one ensemble per tagger (seed_<k>/ members, metrics.json)
    relevance/            relevance.root, relevance.json
    gain/                 xaug_gain.json: each tagger with XAUG against the same tagger without, in pT bins
    reduced/              top<k>/ ensembles of the XAUG DNN on the k most relevant variables, reduced.json
    interpret/            retrainings of one tagger after occlusion, interpret.json (``interpret_stage``)
    mapping/              the guided search onto EFPs, guided.json (``mapping_stage``)
    figures/              PNG and PDF, figures.json

Each stage brings its own figures and report section; a study of another kind composes its own list from the
same pieces (``stages.StudyStage``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xaugcol.coffea_runs import run_processing, run_relevance
from xaugcol.console import say
from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.explain_tables import RELEVANCE_JSON
from xaugcol.models.folder import folder_digest
from xaugcol.output_folder import LOCK_NAME, prepare_output_dir
from xaugcol.paths import read_json, under
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.report import html
from xaugcol.report.figures import draw_figures, input_jobs, performance_jobs, relevance_jobs
from xaugcol.sources.output import FILESET_NAME
from xaugcol.sources.process_card import load_processes
from xaugcol.training.domain import describe as describe_outside
from xaugcol.training.reduced import REDUCED_JSON, train_reduced_sets
from xaugcol.training.train import train_ensemble
from xaugcol.workflow.interpret_stage import interpret_record, interpret_stage
from xaugcol.workflow.mapping_stage import mapping_record, mapping_stage
from xaugcol.workflow.stages import Stage, StageFolderError, StudyContext, StudyStage, drop_stage_folder

if TYPE_CHECKING:
    from xaugcol.workflow.config import Workflow

GAIN_JSON = "xaug_gain.json"


def study_stages(wf: Workflow, out: Path) -> dict[str, Stage]:
    """Every stage record of ``wf`` with the settings its result depends on; ``train/<tagger>`` per tagger.

    The source's record holds the process card's content and, for a fileset, its content and the size and
    modification time of every local file it lists; the explain record holds the digests of every member of the
    trained taggers given to the study.

    Parameters
    ----------
    wf : Workflow
        The study.
    out : Path
        The study's output folder (the records' folders lie in it, checked by ``paths.under``).

    Returns
    -------
    dict of str to Stage
        The records by name, in the order the stages run: ``generate``, ``process``, ``train/<tagger>``,
        ``gain``, ``explain``, then ``reduced``, ``interpret`` and ``mapping`` where configured, and
        ``figures`` (which reads every other).
    """
    source = wf.source.model_dump()
    if wf.source.process_card:  # the card's content, not only its name
        source["process_card"] = {name: asdict(p) for name, p in load_processes(wf.source.process_card).items()}
    if wf.fileset is not None:  # the fileset's content and the size and time of each file it lists
        source["fileset"] = _fileset_identity(wf.fileset)
    generate = Stage("generate", under(out, "generated"), source)
    process = Stage(
        "process",
        under(out, "processed"),
        {
            "config": wf.processing.as_dict(),
            "chunksize": wf.processing_run.chunksize,
            "skip_bad_files": wf.skip_bad_files,
        },
        (generate,),
    )
    common = {"training": wf.training.model_dump(), "seeds": list(wf.seeds)}
    taggers = {
        name: Stage(f"train/{name}", under(out, "taggers", name), {"model": config.as_dict(), **common}, (process,))
        for name, config in zip(wf.tagger_names(), wf.taggers)
    }
    given = {
        t.label: {f"seed_{seed}": folder_digest(folder) for seed, folder in Ensemble.load(t.folder).members}
        for t in wf.trained
    }  # taggers the study explains as they are: every file of every member
    explain = Stage(
        "explain",
        under(out, "relevance"),
        {
            **wf.explain.model_dump(),
            "examples": None,
            "chunksize": wf.explain_run.chunksize,
            "skip_bad_files": wf.skip_bad_files,
            "trained": given,
        },
        (process, *taggers.values()),
    )
    stages = {
        "generate": generate,
        "process": process,
        **{s.name: s for s in taggers.values()},
        "gain": Stage("gain", under(out, "gain"), wf.gain.model_dump(), tuple(taggers.values())),
        "explain": explain,
    }
    if wf.reduced is not None:
        base = wf.taggers[wf.tagger_names().index(wf.reduced.tagger)]
        stages["reduced"] = Stage(
            "reduced",
            under(out, "reduced"),
            {"reduced": wf.reduced.model_dump(), "model": base.as_dict(), **common},
            (process, explain),
        )
    if wf.interpret is not None:
        stages["interpret"] = interpret_record(wf, out, (process, explain, taggers[wf.interpret.tagger]))
    if wf.mapping is not None:
        black_box = (taggers[wf.mapping.black_box],) if wf.mapping.black_box in taggers else ()
        stages["mapping"] = mapping_record(wf, out, (process, *black_box), given)
    stages["figures"] = Stage(
        "figures",
        under(out, "figures"),
        {"examples": wf.explain.examples, "source": source, **wf.figures.model_dump()},
        tuple(stages.values()),
    )
    return stages


def xaug_study(wf: Workflow, out: Path) -> list[StudyStage]:
    """The stages of the XAUG study ``wf`` into ``out`` (the module docstring), in the order they run.

    Parameters
    ----------
    wf : Workflow
        The study.
    out : Path
        The study's output folder.

    Returns
    -------
    list of StudyStage
        generate, process, train, gain, explain, reduced, interpret, mapping, figures; a stage the study does not
        configure (or, for the gain, has no tagger pair for) only removes the folder an earlier run left.
    """
    records = study_stages(wf, out)
    generated, processed, relevance_dir = out / "generated", out / "processed", out / "relevance"
    trained_here = {name: out / "taggers" / name for name in wf.tagger_names()}
    taggers = {**trained_here, **{t.label: Path(t.folder) for t in wf.trained}}  # every tagger explained
    configs = dict(zip(wf.tagger_names(), wf.taggers))
    prun, erun = wf.processing_run, wf.explain_run
    fileset = wf.fileset or generated / FILESET_NAME

    def process(ctx: StudyContext, record: Stage, resume: bool) -> None:
        files = load_fileset(fileset)
        if wf.fileset is None:
            _refuse_foreign_files(files, generated)
        run_processing(
            files,
            processed,
            prun.executor,
            prun.workers,
            prun.chunksize,
            wf.processing,
            wf.skip_bad_files,
            ctx.progress,
            resume=resume,
            client=ctx.client,
        )

    def drop_stale_taggers(ctx: StudyContext) -> None:
        for stale in (out / "taggers").glob("*"):  # taggers no longer in the study, if the study trained them
            if stale.name not in trained_here and stale.name != LOCK_NAME:
                drop_stage_folder(stale, f"train/{stale.name}")

    def train(ctx: StudyContext, record: Stage, resume: bool) -> None:
        name = record.name.removeprefix("train/")
        train_ensemble(
            str(processed / "jets"),
            configs[name],
            wf.training,
            list(wf.seeds),
            str(trained_here[name]),
            ctx.mapper,
            progress=ctx.progress,
        )

    def explain(ctx: StudyContext, record: Stage, resume: bool) -> None:
        ensembles = [Ensemble.load(folder, name) for name, folder in taggers.items()]  # named as the study names them
        run_relevance(
            processed,
            ensembles,
            relevance_dir,
            wf.explain,  # an ExplainOptions (with the report's examples and the run's settings beside)
            executor=erun.executor,
            workers=erun.workers,
            chunksize=erun.chunksize,
            skip_bad_files=wf.skip_bad_files,
            progress=ctx.progress,
            resume=resume,
            client=ctx.client,
        )

    def read_relevance(ctx: StudyContext) -> None:
        ctx.results["relevance"] = read_json(relevance_dir / RELEVANCE_JSON, "a relevance output's relevance.json")
        for tagger, fractions in ctx.results["relevance"].get("outside_training_range", {}).items():
            warning = describe_outside(tagger, fractions)
            if warning:
                say(warning)

    stages = [
        StudyStage(
            "generate",
            f"generating {wf.source.kind} events" if wf.fileset is None else f"reading the fileset {wf.fileset}",
            (records["generate"],),
            lambda ctx, record, resume: _generate(wf, generated, ctx.progress),
        ),
        StudyStage(
            "process",
            "processing: XAUG variables, images, particle lists",
            (records["process"],),
            process,
            figures=lambda ctx: input_jobs(processed, sample_label(wf)),
        ),
        StudyStage(
            "train",
            f"training {len(trained_here)} taggers x {len(wf.seeds)} seeds"
            if trained_here
            else f"training: none (explaining {len(taggers)} trained tagger(s))",
            tuple(records[f"train/{n}"] for n in trained_here),
            train,
            before=drop_stale_taggers,
            figures=lambda ctx: performance_jobs(taggers, sample_label(wf)),
            # the report's body: the summary and one section per topic, figures first (every stage has run)
            report=lambda ctx: html.report_sections(
                ctx.results.get("figures") or {}, taggers, ctx.results.get("relevance"), ctx.results.get("gain")
            ),
        ),
        _gain_stage(wf, out, records, trained_here),
        StudyStage(
            "explain",
            f"LRP ({', '.join(wf.explain.method_names)}) of every member into relevance histograms",
            (records["explain"],),
            explain,
            after=read_relevance,
            figures=lambda ctx: relevance_jobs(relevance_dir, taggers, sample_label(wf), wf.explain.examples),
        ),
    ]
    stages.append(
        _reduced_stage(wf, out, records, processed)
        if wf.reduced is not None
        else StudyStage(
            "reduced", "reduced sets: not configured", before=lambda ctx: drop_stage_folder(out / "reduced", "reduced")
        )
    )
    stages.append(
        interpret_stage(wf, out, records["interpret"], processed, sample_label(wf))
        if wf.interpret is not None
        else StudyStage(
            "interpret",
            "retrainings after occlusion: not configured",
            before=lambda ctx: drop_stage_folder(out / "interpret", "interpret"),
        )
    )
    stages.append(
        mapping_stage(wf, out, records["mapping"], processed, sample_label(wf))
        if wf.mapping is not None
        else StudyStage(
            "mapping",
            "guided search onto EFPs: not configured",
            before=lambda ctx: drop_stage_folder(out / "mapping", "mapping"),
        )
    )
    stages.append(
        StudyStage(
            "figures",
            "figures",
            (records["figures"],),
            lambda ctx, record, resume: _figures(ctx, stages, out),
            after=lambda ctx: ctx.results.__setitem__(
                "figures", read_json(out / "figures" / "figures.json", "the study's figures.json")
            ),
        )
    )
    return stages


def xaug_pairs(names: list[str]) -> dict[str, tuple[str, str]]:
    """Taggers trained both with and without the XAUG variables.

    Parameters
    ----------
    names : list of str
        Tagger names (``tagger_name``: ``<model>``, ``<model>_xaug``).

    Returns
    -------
    dict of str to tuple of (str, str)
        {model: (name without, name with)} for every ``<model>`` whose ``<model>_xaug`` is also in ``names``.
    """
    return {n: (n, f"{n}_xaug") for n in names if f"{n}_xaug" in names}


def _gain_stage(wf: Workflow, out: Path, records: dict[str, Stage], trained: dict[str, Path]) -> StudyStage:
    pairs = xaug_pairs(list(trained))
    g = wf.gain

    def work(ctx: StudyContext, record: Stage, resume: bool) -> None:
        from xaugcol.atomic import write_json
        from xaugcol.training.gain import xaug_gain

        members: dict[str, list[str | Path]] = {
            name: [f for _, f in Ensemble.load(trained[name]).members] for pair in pairs.values() for name in pair
        }
        gains = {
            model: {
                "base": a,
                "xaug": b,
                **xaug_gain(members[a], members[b], g.pt_bins, g.background_efficiencies, g.bootstrap, g.seed),
            }
            for model, (a, b) in pairs.items()
        }
        write_json(out / "gain" / GAIN_JSON, {"config": g.model_dump(), "gains": gains})

    def read(ctx: StudyContext) -> None:
        ctx.results["gain"] = read_json(out / "gain" / GAIN_JSON, f"the XAUG gain's {GAIN_JSON}")

    if not pairs:
        return StudyStage(
            "gain",
            "XAUG gain: no tagger trained both with and without XAUG",
            before=lambda ctx: drop_stage_folder(out / "gain", "gain"),
        )
    return StudyStage(
        "gain",
        f"XAUG gain of {', '.join(pairs)} (signal efficiency at fixed background)",
        (records["gain"],),
        work,
        after=read,
    )


def _reduced_stage(wf: Workflow, out: Path, records: dict[str, Stage], processed: Path) -> StudyStage:
    r = wf.reduced
    assert r is not None  # a study with a reduced section has this stage
    base = wf.taggers[wf.tagger_names().index(r.tagger)]

    def work(ctx: StudyContext, record: Stage, resume: bool) -> None:
        ranking = ctx.results["relevance"]["relevance"][r.tagger][r.rule]["xaug_ranking"]
        train_reduced_sets(
            processed / "jets",
            ranking,
            base,
            wf.training,
            list(wf.seeds),
            out / "reduced",
            list(r.k) if r.k else None,
            ctx.mapper,
            progress=ctx.progress,
        )

    def read(ctx: StudyContext) -> None:
        ctx.results["reduced"] = read_json(out / "reduced" / REDUCED_JSON, "the reduced sets' table")["rows"]

    return StudyStage(
        "reduced",
        f"retraining {r.tagger} on its top-k XAUG variables ({r.rule} ranking)",
        (records["reduced"],),
        work,
        after=read,
        report=lambda ctx: html.reduced_section(r.tagger, r.rule, ctx.results["reduced"]),
    )


def _refuse_foreign_files(fileset: dict, generated: Path) -> None:
    """The study's own events lie in its ``generated/``: a fileset there that lists files elsewhere (a study folder
    copied from another keeps the absolute paths of the original's files) would process another study's events."""
    home = generated.resolve()
    for entry in fileset.values():
        for f in entry["files"]:
            if "://" in f or not Path(f).resolve().is_relative_to(home):
                raise StageFolderError(
                    f"{generated / FILESET_NAME} lists {f}, which lies outside {generated} (a "
                    "study folder copied from another keeps the original's paths): run the study "
                    "with --overwrite to generate its events again"
                )


def _fileset_identity(path: Path) -> dict[str, Any]:
    """A fileset's content and the size and modification time of every local file it lists: a resume reuses the
    processing only for the same files (the run itself screens them again, by UUID too)."""
    fileset = load_fileset(path)
    files = {}
    for entry in fileset.values():
        for f in entry["files"]:
            if "://" not in f:
                st = Path(f).stat()
                files[f] = [st.st_size, st.st_mtime_ns]
    return {"path": str(path), "content": fileset, "files": files}


def _generate(wf: Workflow, out: Path, progress: bool) -> None:
    s = wf.source
    prepare_output_dir(out, overwrite=True)
    if s.kind == "fileset":  # nothing to generate: the stage records which fileset the study read
        return
    assert s.events is not None  # required by the generators (``Source``)
    if s.kind == "toy":
        from xaugcol.sources.toy import ToyConfig, run_toy

        run_toy(out, s.events, s.seed, ToyConfig.from_dict(s.toy), progress=progress)
    else:
        from xaugcol.sources.pythia import run_pythia

        known = load_processes(s.process_card)  # the study configuration checked the names
        run_pythia(
            out,
            [known[n] for n in s.processes],
            s.events,
            s.seed,
            s.workers,
            s.pthat_min,
            s.flat_pthat,
            progress=progress,
            pileup=s.pileup,
            pileup_pool=s.pileup_pool,
            tracker=s.tracker,
        )


def sample_label(wf: Workflow) -> str:
    """The sample written above the study's figures: the fileset, or the generator and its processes.

    Parameters
    ----------
    wf : Workflow
        The study.

    Returns
    -------
    str
        ``fileset <file name>``, ``toy jets``, or ``Pythia 8: <process> vs <process>, 13 TeV``.
    """
    if wf.fileset is not None:
        return f"fileset {wf.fileset.name}"
    return "toy jets" if wf.source.kind == "toy" else f"Pythia 8: {' vs '.join(wf.source.processes)}, 13 TeV"


def _figures(ctx: StudyContext, stages: list[StudyStage], out: Path) -> None:
    """Every stage's figures into ``figures/``, drawn in parallel processes; figures.json lists them by section."""
    jobs = [job for stage in stages if stage.figures is not None for job in stage.figures(ctx)]
    draw_figures(jobs, out / "figures", out, workers=max(ctx.wf.processing_run.workers, 2), pdf=ctx.wf.figures.pdf)
