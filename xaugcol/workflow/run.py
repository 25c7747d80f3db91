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

With ``resume`` a stage whose final output exists is reused (each stage writes it last, atomically).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from xaugcol.atomic import atomic_path
from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.run import RELEVANCE_JSON, run_relevance
from xaugcol.processing.executors import dask_client, dask_map
from xaugcol.processing.run import HISTOGRAMS, REPORT, load_fileset, run_processing
from xaugcol.sources.output import FILESET_NAME, prepare_output_dir
from xaugcol.training.reduced import REDUCED_JSON, train_reduced_sets
from xaugcol.training.study import tagger_name
from xaugcol.training.train import train_ensemble
from xaugcol.workflow.config import Workflow

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
    """Run every stage into ``out``; with ``wf.dask`` all of them share one Dask client."""
    if wf.dask is None:
        return _run_stages(wf, Path(out), overwrite, resume, progress, None)
    with dask_client(wf.dask.scheduler, wf.dask.workers) as client:
        return _run_stages(wf, Path(out), overwrite, resume, progress, client)


def _run_stages(wf: Workflow, out: Path, overwrite: bool, resume: bool, progress: bool, client) -> dict:
    mapper = map if client is None else dask_map(client)
    if not resume:
        prepare_output_dir(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "study.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(wf.raw, sort_keys=False))
    timings = {}
    p = Progress(progress)

    def stage(name, done: Path, work, text):
        p.step(text + (" (reused)" if resume and done.exists() else ""))
        started = time.perf_counter()
        if not (resume and done.exists()):
            work()
        timings[name] = round(time.perf_counter() - started, 1)

    generated, processed = out / "generated", out / "processed"
    stage("generate", generated / FILESET_NAME, lambda: _generate(wf, generated, progress),
          f"generating {wf.source.kind} events")
    fileset = load_fileset(generated / FILESET_NAME)
    run = wf.processing_run
    stage("process", processed / REPORT,
          lambda: run_processing(fileset, processed, run.executor, run.workers, run.chunksize, wf.processing,
                                 wf.skip_bad_files, progress, resume=resume, client=client),
          "processing: XAUG variables, images, particle lists")
    taggers = {name: out / "taggers" / name for name in wf.tagger_names()}

    def train():
        for config in wf.taggers:
            folder = taggers[tagger_name(config)]
            if not (resume and (folder / "metrics.json").exists()):
                train_ensemble(str(processed / "jets"), config, wf.training, list(wf.seeds), str(folder),
                               mapper, progress=progress)
    stage("train", out / "taggers" / "done.json", lambda: (train(), _mark(out / "taggers" / "done.json")),
          f"training {len(taggers)} taggers x {len(wf.seeds)} seeds")
    erun = wf.explain_run
    relevance_dir = out / "relevance"
    stage("explain", relevance_dir / RELEVANCE_JSON,
          lambda: run_relevance(fileset, list(taggers.values()), relevance_dir, wf.explain.rules, wf.explain.split,
                                wf.processing, erun.executor, erun.workers, erun.chunksize, wf.skip_bad_files,
                                wf.explain.batch_size, progress=progress, resume=resume, client=client),
          f"LRP ({', '.join(wf.explain.rules)}) of every member into relevance histograms")
    relevance = json.loads((relevance_dir / RELEVANCE_JSON).read_text())
    reduced_rows = None
    if wf.reduced is not None:
        r = wf.reduced
        ranking = relevance["relevance"][r.tagger][r.rule]["xaug_ranking"]
        base = wf.taggers[wf.tagger_names().index(r.tagger)]
        stage("reduced", out / "reduced" / REDUCED_JSON,
              lambda: train_reduced_sets(processed / "jets", ranking, base, wf.training, list(wf.seeds),
                                         out / "reduced", list(r.k) if r.k else None, mapper, progress=progress),
              f"retraining {r.tagger} on its top-k XAUG variables ({r.rule} ranking)")
        reduced_rows = json.loads((out / "reduced" / REDUCED_JSON).read_text())["rows"]
    else:
        p.step("reduced sets: not configured")
    figures: dict = {}
    stage("figures", out / "figures" / "figures.json",
          lambda: _figures(wf, out, taggers, processed, relevance_dir, figures), "figures")
    figures = json.loads((out / "figures" / "figures.json").read_text())
    from xaugcol.report.html import write_report

    p.step("report")
    report = write_report(out, wf, taggers, relevance, reduced_rows, figures, timings)
    if progress:
        print(f"report: {report}", flush=True)
    return {"report": str(report), "timings": timings, "relevance": relevance, "reduced": reduced_rows}


def _mark(path: Path) -> None:
    from xaugcol.atomic import write_json

    write_json(path, {"done": True})


def _generate(wf: Workflow, out: Path, progress: bool) -> None:
    s = wf.source
    prepare_output_dir(out, overwrite=True)
    if s.kind == "toy":
        from xaugcol.sources.toy import ToyConfig, run_toy

        run_toy(out, s.events, s.seed, ToyConfig.from_dict(s.toy), progress=progress)
    else:
        from xaugcol.sources.processes import load_processes
        from xaugcol.sources.pythia import run_pythia

        known = load_processes(s.process_card)
        unknown = [n for n in s.processes if n not in known]
        if unknown:
            raise ValueError(f"unknown process(es) {unknown}; known: {sorted(known)}")
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
