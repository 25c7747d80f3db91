"""Run a whole study: generate -> process -> train -> relevance -> reduced sets -> figures -> report.

Layout of ``out``::

    study.yaml            the validated configuration
    generated/            NanoAOD-style ROOT files + fileset.json
    processed/            jet tables, histograms.root, report.json
    taggers/<name>/       one ensemble per tagger (seed_<k>/ members, metrics.json)
    relevance/            relevance.root, relevance.json
    reduced/              top<k>/ ensembles of the XAUG DNN on the k most relevant variables, reduced.json
    figures/              PNG and PDF
    index.html            the report

Every stage records the settings it depends on (``stages``): with ``resume`` a stage is reused only when it
completed with the same settings and the same upstream stages; an interrupted one continues; any other is run
again, with everything downstream of it, and the progress line says why.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from xaugcol.atomic import atomic_path, remove
from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.run import RELEVANCE_JSON
from xaugcol.runs import run_relevance
from xaugcol.output_folder import locked_output, prepare_output_dir
from xaugcol.processing.checkpoints import CHECKPOINTS, MANIFEST
from xaugcol.processing.executors import dask_client, dask_map
from xaugcol.processing.run import HISTOGRAMS
from xaugcol.processing.runner import load_fileset
from xaugcol.runs import run_processing
from xaugcol.sources.output import FILESET_NAME
from xaugcol.sources.processes import load_processes
from xaugcol.training.reduced import REDUCED_JSON, train_reduced_sets
from xaugcol.training.study import tagger_name
from xaugcol.training.train import train_ensemble
from xaugcol.workflow.config import Workflow
from xaugcol.workflow.stages import Stage

STAGES = ("generate", "process", "train", "explain", "reduced", "figures", "report")


class Progress:
    def __init__(self, enabled: bool):
        self.enabled, self.started, self.stage = enabled, time.perf_counter(), 0

    def step(self, text: str) -> None:
        self.stage += 1
        if self.enabled:
            print(f"[{self.stage}/{len(STAGES)}] {text} (t = {time.perf_counter() - self.started:.0f} s)",
                  flush=True)


def run_workflow(wf: Workflow, out: str | Path, overwrite: bool = False, resume: bool = False,
                 progress: bool = True) -> dict:
    """Run every stage into ``out`` (locked meanwhile); with ``wf.dask`` all of them share one Dask client.
    ``resume`` reuses the stages whose recorded settings and inputs match (``stages``) and reruns the others."""
    out = Path(out)
    with locked_output(out, overwrite or resume):
        if wf.dask is None:
            return _run_stages(wf, out, resume, progress, None)
        with dask_client(wf.dask.scheduler, wf.dask.workers) as client:
            return _run_stages(wf, out, resume, progress, client)


def study_stages(wf: Workflow, out: Path) -> dict[str, Stage]:
    """Every stage of ``wf`` with the settings its result depends on; ``train/<tagger>`` per tagger."""
    source = asdict(wf.source)
    if wf.source.process_card:  # the card's content, not only its name
        source["process_card"] = {name: asdict(p) for name, p in load_processes(wf.source.process_card).items()}
    generate = Stage("generate", out / "generated", source)
    process = Stage("process", out / "processed", {"config": wf.processing.as_dict(),
                                                   "chunksize": wf.processing_run.chunksize,
                                                   "skip_bad_files": wf.skip_bad_files}, (generate,))
    common = {"training": asdict(wf.training), "seeds": list(wf.seeds)}
    taggers = {name: Stage(f"train/{name}", out / "taggers" / name, {"model": config.as_dict(), **common},
                           (process,)) for name, config in zip(wf.tagger_names(), wf.taggers)}
    explain = Stage("explain", out / "relevance", {**asdict(wf.explain), "examples": None,
                                                   "chunksize": wf.explain_run.chunksize,
                                                   "skip_bad_files": wf.skip_bad_files},
                    (process, *taggers.values()))
    stages = {"generate": generate, "process": process, **{s.name: s for s in taggers.values()},
              "explain": explain}
    if wf.reduced is not None:
        base = wf.taggers[wf.tagger_names().index(wf.reduced.tagger)]
        stages["reduced"] = Stage("reduced", out / "reduced", {"reduced": asdict(wf.reduced),
                                                               "model": base.as_dict(), **common}, (process, explain))
    stages["figures"] = Stage("figures", out / "figures", {"examples": wf.explain.examples, "source": source},
                              tuple(stages.values()))
    return stages


def _run_stages(wf: Workflow, out: Path, resume: bool, progress: bool, client) -> dict:
    mapper = map if client is None else dask_map(client)
    with atomic_path(out / "study.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(wf.raw, sort_keys=False))
    stages = study_stages(wf, out)
    timings, ran = {}, {}
    p = Progress(progress)

    def run(stage: Stage, work, text=None):
        """Reuse, continue or (re)run one stage; ``work(resume)`` does it. Returns whether it was reused."""
        action, reason = stage.plan(resume)
        if text is not None:
            p.step(text + (" (reused)" if action == "reuse" else f" (rerun: {reason})" if reason else ""))
        if action == "reuse":
            return True
        # processing and LRP continue from their checkpoints; a stage with none to continue from starts again
        resumable = action == "continue" and (stage.folder / CHECKPOINTS / MANIFEST).exists()
        stage.begin(clear=not resumable)
        work(resumable)
        stage.complete()
        ran[stage.name] = reason or ("continued" if action == "continue" else "run")
        return False

    def timed(name, body):
        started = time.perf_counter()
        body()
        timings[name] = round(time.perf_counter() - started, 1)

    generated, processed = out / "generated", out / "processed"
    timed("generate", lambda: run(stages["generate"], lambda _: _generate(wf, generated, progress),
                                  f"generating {wf.source.kind} events"))
    fileset = load_fileset(generated / FILESET_NAME)
    prun = wf.processing_run
    timed("process", lambda: run(
        stages["process"],
        lambda cont: run_processing(fileset, processed, prun.executor, prun.workers, prun.chunksize, wf.processing,
                                    wf.skip_bad_files, progress, resume=cont, client=client),
        "processing: XAUG variables, images, particle lists"))
    taggers = {name: out / "taggers" / name for name in wf.tagger_names()}

    def train():
        plans = [stages[f"train/{n}"].plan(resume) for n in taggers]
        reused = all(a == "reuse" for a, _ in plans)
        why = sorted({r for _, r in plans if r})
        p.step(f"training {len(taggers)} taggers x {len(wf.seeds)} seeds"
               + (" (reused)" if reused else f" (rerun: {'; '.join(why)})" if why else ""))
        for stale in (out / "taggers").glob("*"):  # taggers no longer in the study
            if stale.is_dir() and stale.name not in taggers:
                remove(stale)
        for config in wf.taggers:
            name = tagger_name(config)
            run(stages[f"train/{name}"], lambda _: train_ensemble(str(processed / "jets"), config, wf.training,
                                                                  list(wf.seeds), str(taggers[name]), mapper,
                                                                  progress=progress))
    timed("train", train)
    erun = wf.explain_run
    relevance_dir = out / "relevance"
    timed("explain", lambda: run(
        stages["explain"],
        lambda cont: run_relevance(processed, list(taggers.values()), relevance_dir, wf.explain.rules,
                                   wf.explain.split, erun.executor, erun.workers, erun.chunksize,
                                   wf.skip_bad_files, wf.explain.batch_size, progress=progress, resume=cont,
                                   client=client),
        f"LRP ({', '.join(map(str, wf.explain.rules))}) of every member into relevance histograms"))
    relevance = json.loads((relevance_dir / RELEVANCE_JSON).read_text())
    reduced_rows = None
    if wf.reduced is not None:
        r = wf.reduced
        ranking = relevance["relevance"][r.tagger][r.rule]["xaug_ranking"]
        base = wf.taggers[wf.tagger_names().index(r.tagger)]
        timed("reduced", lambda: run(
            stages["reduced"],
            lambda _: train_reduced_sets(processed / "jets", ranking, base, wf.training, list(wf.seeds),
                                         out / "reduced", list(r.k) if r.k else None, mapper, progress=progress),
            f"retraining {r.tagger} on its top-k XAUG variables ({r.rule} ranking)"))
        reduced_rows = json.loads((out / "reduced" / REDUCED_JSON).read_text())["rows"]
    else:
        p.step("reduced sets: not configured")
        remove(out / "reduced")
    figures: dict = {}
    timed("figures", lambda: run(stages["figures"],
                                 lambda _: _figures(wf, out, taggers, processed, relevance_dir, figures), "figures"))
    figures = json.loads((out / "figures" / "figures.json").read_text())
    from xaugcol.report.html import write_report

    p.step("report")
    report = write_report(out, wf, taggers, relevance, reduced_rows, figures, timings)
    if progress:
        print(f"report: {report}", flush=True)
    return {"report": str(report), "timings": timings, "relevance": relevance, "reduced": reduced_rows,
            "ran": ran}


def _generate(wf: Workflow, out: Path, progress: bool) -> None:
    s = wf.source
    prepare_output_dir(out, overwrite=True)
    if s.kind == "toy":
        from xaugcol.sources.toy import ToyConfig, run_toy

        run_toy(out, s.events, s.seed, ToyConfig.from_dict(s.toy), progress=progress)
    else:
        from xaugcol.sources.pythia import run_pythia

        known = load_processes(s.process_card)  # the study configuration checked the names
        run_pythia(out, [known[n] for n in s.processes], s.events, s.seed, s.workers, s.pthat_min, s.flat_pthat,
                   progress=progress)


def _figures(wf: Workflow, out: Path, taggers: dict, processed: Path, relevance_dir: Path, figures: dict) -> None:
    """Every figure; ``figures`` collects {section: [{"stem", "caption"}]} and is written to figures.json."""
    from xaugcol.plotting import examples, inputs, performance, relevance
    from xaugcol.atomic import write_json
    from xaugcol.explain.run import read_relevance_histograms

    folder = out / "figures"
    sample = "toy jets" if wf.source.kind == "toy" else f"Pythia 8: {' vs '.join(wf.source.processes)}, 13 TeV"
    hists = read_relevance_histograms(relevance_dir)
    ensembles = {name: Ensemble.load(path) for name, path in taggers.items()}
    summary = json.loads((relevance_dir / RELEVANCE_JSON).read_text())["relevance"]

    def add(section, stem, caption, paths):
        if paths:
            figures.setdefault(section, []).append({"stem": str(Path(stem).relative_to(out)), "caption": caption})

    add("inputs", folder / "inputs", "Input distributions by class (unit area), from the processing histograms.",
        inputs.plot_inputs(processed / HISTOGRAMS, folder / "inputs", sample))
    add("performance", folder / "roc", "ROC curves: mean over the ensemble members, band = one standard deviation. "
        "Solid: with XAUG variables; dashed: without.", performance.plot_rocs(taggers, folder / "roc", sample))
    for name, e in ensembles.items():
        for rule in wf.explain.rules:
            stem = folder / f"relevance_{name}_{rule}"
            add("relevance", stem, f"{name}, LRP {rule}: mean normalised relevance per input, error bars = spread "
                "over the ensemble members.", relevance.plot_feature_relevance(summary, name, rule, stem, sample))
            stem = folder / f"profiles_{name}_{rule}"
            add("profiles", stem, f"{name}, LRP {rule}: mean normalised relevance against the input value for the "
                "most relevant inputs (shaded: input distribution).",
                relevance.plot_profiles(hists, summary, name, rule, stem, sample))
            stem = folder / f"pair_{name}_{rule}"
            add("pairs", stem, f"{name}, LRP {rule}: the two most relevant XAUG variables, colour = mean relevance "
                "of the pair per bin.", relevance.plot_pair(hists, summary, name, rule, stem, sample))
            stem = folder / f"heatmap_{name}_{rule}"
            add("heatmaps", stem, f"{name}, LRP {rule}: average images (top) and mean signed relevance per pixel "
                "(bottom).", relevance.plot_heatmaps(hists, name, rule, stem, sample))
        if wf.explain.examples:
            rule = wf.explain.rules[0]
            stem = folder / f"examples_{name}"
            add("examples", stem, f"{name}, LRP {rule}, first member: relevance of example test jets.",
                examples.plot_examples(e, processed / "jets", rule, stem, sample, wf.explain.examples))
    write_json(folder / "figures.json", figures)
