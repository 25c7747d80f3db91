"""Every figure of a report, drawn from outputs on disk (a processing folder, tagger ensembles, a relevance folder),
in parallel processes.

A figure is a ``FigureJob``: its report section, file name, caption, and the name of a ``draw_*`` function below
with plain arguments (paths, names, numbers), so a job pickles to a worker process, which reads what it needs from
disk once (``functools.cache``) and draws. ``figure_jobs`` lists the jobs the outputs allow; ``draw_figures`` runs
them (``workers`` spawned processes) and writes ``figures.json``. ``xaugcol report`` and the studies' figures stage
both use them, so a chain run by hand ends in the same figures as ``xaugcol demo``.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import gc
import multiprocessing as mp
from dataclasses import dataclass, field
from pathlib import Path

from xaugcol.atomic import write_json
from xaugcol.explain.agreement import comparison_rule
from xaugcol.features.kinds import kind_class
from xaugcol.limits import MAX_EXAMPLES, check_size
from xaugcol.paths import read_json
from xaugcol.report.captions import CAPTIONS

FIGURES_JSON = "figures.json"
# what the figures read, as messages name it (every read refuses a FIFO: xaugcol.paths.read_json)
RELEVANCE, GUIDED, INTERPRET = (
    "a relevance output's relevance.json",
    "a guided search's guided.json",
    "an interpretation's interpret.json",
)
# rough drawing time of a figure by section (relative), to hand the longest tasks out first
COST = {
    "inputs": 5.0,
    "examples": 2.0,
    "profiles": 1.5,
    "heatmaps": 1.0,
    "relevance": 1.0,
    "pairs": 0.7,
    "performance": 1.0,
    "faithfulness": 0.5,
    "occlusion": 0.7,
    "activations": 0.7,
    "edges": 0.5,
}


IRREGULAR_PLURALS = {"vertex": "vertices", "matrix": "matrices"}


def plural(unit: str) -> str:
    """``unit`` (one word or several, the last the noun) in the plural: "secondary vertex" -> "secondary vertices".

    Parameters
    ----------
    unit : str
        A removal unit in the singular (``kind.removal_unit``).

    Returns
    -------
    str
        Its last word in the plural (``IRREGULAR_PLURALS``, else with an ``s``).
    """
    head, _, noun = unit.rpartition(" ")
    return f"{head} {IRREGULAR_PLURALS.get(noun, noun + 's')}".lstrip()


@dataclass(frozen=True)
class ReportInputs:
    """What a report is drawn from; any part may be missing (its figures are then left out).

    Parameters
    ----------
    processed : Path, optional
        A processing output: histograms.root, jets/, report.json.
    taggers : dict of str to Path, optional
        Tagger name -> ensemble folder (metrics.json, seed_k/).
    relevance : Path, optional
        An explain output: relevance.json, relevance.root.
    sample : str, default ""
        The sample, written above every figure.
    examples : int, default 2
        Example jets per class drawn with their relevance (0: none).

    Raises
    ------
    ValueError
        When ``examples`` is not an integer from 0 to ``MAX_EXAMPLES``.
    """

    processed: Path | None = None  # a processing output: histograms.root, jets/, report.json
    taggers: dict = field(default_factory=dict)  # name -> ensemble folder (metrics.json, seed_k/)
    relevance: Path | None = None  # an explain output: relevance.json, relevance.root
    sample: str = ""  # the sample, written above every figure
    examples: int = 2  # example jets per class drawn with their relevance (0: none)

    def __post_init__(self):
        check_size(self.examples, "examples (jets per class drawn with their relevance)", MAX_EXAMPLES, minimum=0)


@dataclass(frozen=True)
class FigureJob:
    """One figure to draw: a ``draw_*`` function of this module and its plain (picklable) arguments.

    Parameters
    ----------
    section : str
        The report section it belongs to (``inputs``, ``performance``, ``relevance``, ...; ``COST``).
    name : str
        The file stem under the figures folder.
    caption : str
        What it shows and how to read it (``captions.CAPTIONS``).
    draw : str
        The name of a ``draw_*`` function of this module, called as ``draw(stem, **kwargs)``.
    kwargs : dict
        The function's other arguments: paths, names and numbers.
    """

    section: str
    name: str  # file stem under the figures folder
    caption: str
    draw: str  # a draw_* function of this module
    kwargs: dict


def figure_jobs(inputs: ReportInputs) -> list[FigureJob]:
    """Every figure the outputs in ``inputs`` allow, in report order.

    Parameters
    ----------
    inputs : ReportInputs
        What the report is drawn from.

    Returns
    -------
    list of FigureJob
        The input distributions, the ROC curves, then the relevance output's figures.
    """
    return [
        *input_jobs(inputs.processed, inputs.sample),
        *performance_jobs(inputs.taggers, inputs.sample),
        *relevance_jobs(inputs.relevance, inputs.taggers, inputs.sample, inputs.examples),
    ]


def input_jobs(processed: str | Path | None, sample: str) -> list[FigureJob]:
    """The input distributions of a processing output.

    Parameters
    ----------
    processed : str or Path or None
        The processing output folder; None: none.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of FigureJob
        One job; none without a processing output or its ``histograms.root``.
    """
    if processed is None or not (Path(processed) / "histograms.root").exists():
        return []
    return [
        FigureJob(
            "inputs", "inputs", CAPTIONS["inputs"], "draw_inputs", {"processed": str(processed), "sample": sample}
        )
    ]


def performance_jobs(taggers: dict, sample: str) -> list[FigureJob]:
    """The ROC curves of tagger ensembles (those trained and tested on labelled jets).

    Parameters
    ----------
    taggers : dict
        Tagger name -> ensemble folder; those whose ``metrics.json`` has a ``summary`` are drawn.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of FigureJob
        One job for all of them; none without such an ensemble.
    """
    with_roc = {n: str(f) for n, f in taggers.items() if _has_roc(f)}
    return (
        [FigureJob("performance", "roc", CAPTIONS["roc"], "draw_rocs", {"taggers": with_roc, "sample": sample})]
        if with_roc
        else []
    )


def relevance_jobs(
    relevance_folder: str | Path | None, taggers: dict, sample: str, examples: int = 2
) -> list[FigureJob]:
    """The figures of a relevance output.

    Per tagger and explanation method: bars, profiles, pair maps, heat maps; per tagger, the input-perturbation
    curves, the occlusion ranking, the kNN edges' relevance and the activation patterns where the run made them;
    and where the jet tables are there and ``examples`` > 0, example jets (``examples`` per class, explained by
    the first method; for a graph tagger also with their edges).

    Parameters
    ----------
    relevance_folder : str or Path or None
        The relevance output folder; None: none.
    taggers : dict
        Tagger name -> ensemble folder, for the example jets; a tagger missing there is read from the folder
        the relevance output records.
    sample : str
        The sample's label above the figures.
    examples : int, default 2
        Example jets per class (0: none).

    Returns
    -------
    list of FigureJob
        The jobs; none without a relevance output or its ``relevance.json``.
    """
    if relevance_folder is None or not (Path(relevance_folder) / "relevance.json").exists():
        return []
    relevance = read_json(Path(relevance_folder) / "relevance.json", RELEVANCE)
    jobs = []
    for name in relevance["taggers"]:
        for rule in relevance["config"]["rules"]:
            common = {"relevance": str(relevance_folder), "tagger": name, "rule": rule, "sample": sample}
            for section, stem, draw in (
                ("relevance", "relevance", "draw_feature_relevance"),
                ("profiles", "profiles", "draw_profiles"),
                ("pairs", "pair", "draw_pair"),
                ("heatmaps", "heatmap", "draw_heatmaps"),
            ):
                jobs.append(
                    FigureJob(
                        section, f"{stem}_{name}_{rule}", CAPTIONS[section].format(tagger=name, rule=rule), draw, common
                    )
                )
    for name, _curves in (relevance.get("faithfulness") or {}).items():
        units = ", ".join(plural(kind_class(k).removal_unit) for k in relevance["taggers"][name]["inputs"])
        jobs.append(
            FigureJob(
                "faithfulness",
                f"faithfulness_{name}",
                CAPTIONS["faithfulness"].format(tagger=name, units=units),
                "draw_faithfulness",
                {"relevance": str(relevance_folder), "tagger": name, "sample": sample, "units": units},
            )
        )
    common = {"relevance": str(relevance_folder), "sample": sample}
    for name in relevance.get("occlusion") or {}:
        rule = comparison_rule(relevance["config"]["rules"])
        jobs.append(
            FigureJob(
                "occlusion",
                f"occlusion_{name}",
                CAPTIONS["occlusion"].format(tagger=name, rule=rule),
                "draw_occlusion",
                {**common, "tagger": name, "rule": rule},
            )
        )
    for name, per_method in (relevance.get("edges") or {}).items():
        rule = next((r for r in relevance["config"]["rules"] if r in per_method), None)
        if rule is not None:
            jobs.append(
                FigureJob(
                    "edges",
                    f"edges_{name}_{rule}",
                    CAPTIONS["edges"].format(tagger=name, rule=rule),
                    "draw_edges",
                    {**common, "tagger": name, "rule": rule},
                )
            )
    for name in relevance.get("activations") or {}:
        jobs.append(
            FigureJob(
                "activations",
                f"activations_{name}",
                CAPTIONS["activations"].format(tagger=name),
                "draw_activations",
                {**common, "tagger": name},
            )
        )
    method = _example_method(relevance)
    jets = Path(relevance["config"]["jets"]) / "jets"
    if examples and jets.is_dir():
        for name, per_method in (relevance.get("edges") or {}).items():
            described = next((d for d in relevance["config"]["methods"] if d["name"] in per_method), None)
            if described is not None:
                rule = {"name": described["name"], "method": described["method"], **described["options"]}
                jobs.append(
                    FigureJob(
                        "edges",
                        f"edge_examples_{name}",
                        CAPTIONS["edge_examples"].format(tagger=name, rule=rule["name"]),
                        "draw_edge_examples",
                        {
                            "ensemble": str(taggers.get(name) or _ensemble_folder(relevance, name)),
                            "jets": str(jets),
                            "method": rule,
                            "sample": sample,
                            "per_class": examples,
                            "split": relevance["config"]["split"],
                        },
                    )
                )
        for name in relevance["taggers"]:
            folder = taggers.get(name) or _ensemble_folder(relevance, name)
            jobs.append(
                FigureJob(
                    "examples",
                    f"examples_{name}",
                    CAPTIONS["examples"].format(tagger=name, rule=method["name"]),
                    "draw_examples",
                    {
                        "ensemble": str(folder),
                        "jets": str(jets),
                        "method": method,
                        "sample": sample,
                        "per_class": examples,
                        "processing": relevance["config"]["processing"],
                        "split": relevance["config"]["split"],
                    },
                )
            )
    return jobs


def draw_figures(
    jobs: list[FigureJob], folder: str | Path, root: str | Path, workers: int = 2, pdf: bool = False
) -> dict:
    """Draw ``jobs`` into ``folder`` as PNG (and PDF with ``pdf``) and write ``figures.json``.

    The jobs of one tagger run in one task (they read its histograms once), the example jets in another, the
    longest tasks first, in ``workers`` spawned processes.

    Parameters
    ----------
    jobs : list of FigureJob
        The figures to draw.
    folder : str or Path
        The figures' folder.
    root : str or Path
        The folder the stems in ``figures.json`` are relative to (the report's); ``folder`` must lie inside it.
    workers : int, default 2
        Processes drawing the figures; 1 (or a single task): in this process.
    pdf : bool, default False
        Also write every figure as PDF.

    Returns
    -------
    dict
        What ``figures.json`` holds: section -> [{``stem`` (relative to ``root``), ``caption``, ``formats``}] for
        every figure drawn (a job with nothing to draw, such as heat maps of a tagger without an image, is left
        out).
    """
    formats = ("png", "pdf") if pdf else ("png",)
    folder, root = Path(folder), Path(root)
    # one task per tagger (its figures read its histograms once, in one worker), one for the example jets (torch
    # is imported by one worker only), one per other figure
    tasks: dict = {}
    for k, job in enumerate(jobs):
        key = "examples" if job.section == "examples" else job.kwargs.get("tagger")
        tasks.setdefault(key, []).append(k)
    groups = [ks for key, ks in tasks.items() if key is not None] + [[k] for k in tasks.get(None, [])]
    groups.sort(key=lambda ks: -sum(COST.get(jobs[k].section, 1.0) for k in ks))  # longest first: finish together
    if workers > 1 and len(groups) > 1:
        pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_worker_start
        )
        try:
            results = list(
                pool.map(
                    _run_group,
                    [[jobs[k] for k in ks] for ks in groups],
                    [str(folder)] * len(groups),
                    [formats] * len(groups),
                )
            )
        finally:  # every figure is written: the workers' exit (torch's teardown, a second or two) need not be waited
            pool.shutdown(wait=False, cancel_futures=True)
    else:
        results = [_run_group([jobs[k] for k in ks], str(folder), formats) for ks in groups]
    drawn = [False] * len(jobs)
    for ks, oks in zip(groups, results):
        for k, ok in zip(ks, oks):
            drawn[k] = ok
    figures: dict = {}
    for job, ok in zip(jobs, drawn):
        if ok:
            figures.setdefault(job.section, []).append(
                {"stem": str((folder / job.name).relative_to(root)), "caption": job.caption, "formats": list(formats)}
            )
    write_json(folder / FIGURES_JSON, figures)
    return figures


_IN_WORKER = False


def _worker_start() -> None:
    import signal

    global _IN_WORKER
    _IN_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: no trace per worker


def _run_group(group: list[FigureJob], folder: str, formats=("png",)) -> list[bool]:
    from xaugcol.plotting.style import output_formats

    with output_formats(formats):
        return [_run(job, folder) for job in group]


def _run(job: FigureJob, folder: str) -> bool:
    from xaugcol.console import quiet_library_warnings

    quiet_library_warnings()
    if _IN_WORKER:
        # matplotlib makes many short-lived cyclic objects, and each full collection rescans the hundreds of
        # thousands that torch, the plotting libraries and the cached histograms keep: frozen, those are skipped
        # (15-20 % of drawing time). Only in the pool's own processes: freezing is for the life of a process.
        gc.collect()
        gc.freeze()
    return bool(globals()[job.draw](Path(folder) / job.name, **job.kwargs))


# ---- what the workers read, once per process


@functools.cache
def _relevance(folder: str, tagger: str | None = None):
    """(relevance histograms of ``tagger``, or all, relevance.json) of a relevance output."""
    from xaugcol.explain.relevance_file import read_relevance_histograms

    return read_relevance_histograms(folder, tagger), json_of(folder)


@functools.cache
def json_of(folder: str) -> dict:
    """relevance.json of a relevance output, without its histograms."""
    return read_json(Path(folder) / "relevance.json", RELEVANCE)


def _kind_groups(relevance: dict, tagger: str) -> list[list[str]]:
    """A joined tagger's features in two groups, its own kind's and the XAUG variables: their relevance differs
    by orders of magnitude (a summed image against single variables), so each gets its own scale."""
    info = relevance["taggers"][tagger]
    xaug = list(info.get("xaug_columns") or [])
    ranked = relevance["relevance"][tagger][next(iter(relevance["relevance"][tagger]))]["ranking"]
    if not xaug or set(info["inputs"]) <= {"xaug"}:
        return [ranked]
    return [[f for f in ranked if f not in xaug], xaug]


def _has_roc(folder) -> bool:
    metrics = Path(folder) / "metrics.json"
    return metrics.exists() and "summary" in read_json(metrics, "an ensemble's metrics.json")


def _ensemble_folder(relevance: dict, tagger: str) -> Path:
    return explained_folder(relevance["taggers"][tagger]["members"][0]["folder"])


def explained_folder(member: str | Path) -> Path:
    """The folder a relevance run was given for a tagger, from one of its members' folders.

    Parameters
    ----------
    member : str or Path
        A member folder as ``relevance.json`` records it.

    Returns
    -------
    Path
        The members' ensemble (``seed_*`` members, as training writes them), or the member itself: a tagger folder
        explained alone (as ``xaugcol import-weaver`` writes one).
    """
    member = Path(member)
    return member.parent if member.name.startswith("seed_") else member


def _example_method(relevance: dict) -> dict:
    """The first explanation method of a relevance run as an entry ``method_spec`` takes (checked where it is
    drawn: listing the figures imports no torch)."""
    described = relevance["config"].get("methods") or [
        {"name": r, "method": "lrp", "options": {"composite": r}} for r in relevance["config"]["rules"][:1]
    ]
    return {"name": described[0]["name"], "method": described[0]["method"], **described[0]["options"]}


# ---- the figures


def draw_inputs(stem: str, processed: str, sample: str) -> list[Path] | None:
    """Draw the input distributions of a processing output (``plotting.inputs.plot_inputs``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    processed : str
        The processing output folder (its ``histograms.root``).
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written (never None: this figure is always drawn).
    """
    from xaugcol.plotting import inputs

    return inputs.plot_inputs(Path(processed) / "histograms.root", stem, sample)


def draw_rocs(stem: str, taggers: dict[str, str | Path], sample: str) -> list[Path] | None:
    """Draw the ROC curves of tagger ensembles (``plotting.performance.plot_rocs``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    taggers : dict of str to str or Path
        The ensemble folders by tagger name.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written (never None: this figure is always drawn).
    """
    from xaugcol.plotting import performance

    return performance.plot_rocs(taggers, stem, sample)


def draw_feature_relevance(stem: str, relevance: str, tagger: str, rule: str, sample: str) -> list[Path] | None:
    """Draw the mean normalised relevance per feature (``plotting.relevance.plot_feature_relevance``).

    A joined tagger's own kind and its XAUG variables are drawn in panels of their own scale.

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    relevance : str
        The relevance output folder.
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's name.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written (never None: this figure is always drawn).
    """
    from xaugcol.plotting import relevance as plots

    hists, full = _relevance(relevance, tagger)
    return plots.plot_feature_relevance(full["relevance"], tagger, rule, stem, sample, _kind_groups(full, tagger))


def draw_profiles(stem: str, relevance: str, tagger: str, rule: str, sample: str) -> list[Path] | None:
    """Draw the relevance profiles of the most relevant features (``plotting.relevance.plot_profiles``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    relevance : str
        The relevance output folder.
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's name.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None for a tagger without profiled features.
    """
    from xaugcol.plotting import relevance as plots

    hists, full = _relevance(relevance, tagger)
    return plots.plot_profiles(hists, full["relevance"], tagger, rule, stem, sample)


def draw_pair(stem: str, relevance: str, tagger: str, rule: str, sample: str) -> list[Path] | None:
    """Draw the relevance map of the top XAUG pair (``plotting.relevance.plot_pair``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    relevance : str
        The relevance output folder.
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's name.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None without a top pair.
    """
    from xaugcol.plotting import relevance as plots

    hists, full = _relevance(relevance, tagger)
    return plots.plot_pair(hists, full["relevance"], tagger, rule, stem, sample)


def draw_heatmaps(stem: str, relevance: str, tagger: str, rule: str, sample: str) -> list[Path] | None:
    """Draw the average input map and relevance per pixel (``plotting.relevance.plot_heatmaps``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    relevance : str
        The relevance output folder.
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's name.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None when the tagger reads no map.
    """
    from xaugcol.plotting import relevance as plots

    hists, _ = _relevance(relevance, tagger)
    return plots.plot_heatmaps(hists, tagger, rule, stem, sample)


def draw_faithfulness(stem: str, relevance: str, tagger: str, sample: str, units: str) -> list[Path] | None:
    """Draw a tagger's input-perturbation curves (``plotting.faithfulness.plot_faithfulness``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    relevance : str
        The relevance output folder.
    tagger : str
        The tagger's name.
    sample : str
        The sample's label above the figure.
    units : str
        What is removed from a jet (e.g. ``pixels, particles``), for the x axis label.

    Returns
    -------
    list of Path or None
        The files written; None without curves.
    """
    from xaugcol.plotting.faithfulness import plot_faithfulness

    _, full = _relevance(relevance, tagger)
    return plot_faithfulness(full["faithfulness"].get(tagger), tagger, stem, sample, units)


def draw_occlusion(stem: str, relevance: str, tagger: str, rule: str, sample: str) -> list[Path] | None:
    """Draw a tagger's occlusion ranking beside its relevance (``plotting.interpretation.plot_occlusion``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    relevance : str
        The relevance output folder.
    tagger : str
        The tagger's name.
    rule : str
        The relevance method compared with the occlusion (``comparison_rule``).
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None without an occlusion table.
    """
    from xaugcol.plotting.interpretation import plot_occlusion

    full = json_of(relevance)
    return plot_occlusion(full["occlusion"].get(tagger), full["relevance"].get(tagger), rule, tagger, stem, sample)


def draw_edges(stem: str, relevance: str, tagger: str, rule: str, sample: str) -> list[Path] | None:
    """Draw the relevance of a graph tagger's kNN edges (``plotting.edges.plot_edges``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    relevance : str
        The relevance output folder.
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's name.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None without edge relevance for ``rule``.
    """
    from xaugcol.plotting.edges import plot_edges

    return plot_edges((json_of(relevance).get("edges") or {}).get(tagger, {}).get(rule), tagger, rule, stem, sample)


def draw_edge_examples(
    stem: str, ensemble: str, jets: str, method: dict, sample: str, per_class: int, split: str = "test"
) -> list[Path] | None:
    """Draw example jets with their most relevant kNN edges (``plotting.edges.plot_edge_examples``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    ensemble : str
        The tagger's ensemble folder.
    jets : str
        The jet tables' folder.
    method : dict
        The LRP method as ``method_spec`` reads it (``name``, ``method`` and its options).
    sample : str
        The sample's label above the figure.
    per_class : int
        Jets per class.
    split : str, default "test"
        The split the jets come from.

    Returns
    -------
    list of Path or None
        The files written; None if the method is not LRP or the tagger has no kNN edges.
    """
    from xaugcol.explain.ensemble import Ensemble
    from xaugcol.plotting.edges import plot_edge_examples

    return plot_edge_examples(Ensemble.load(ensemble), jets, method, stem, sample, per_class, split)


def draw_activations(stem: str, relevance: str, tagger: str, sample: str) -> list[Path] | None:
    """Draw a tagger's neuron-activation patterns (``plotting.interpretation.plot_activations``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    relevance : str
        The relevance output folder.
    tagger : str
        The tagger's name.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None without patterns of both classes.
    """
    from xaugcol.plotting.interpretation import plot_activations

    return plot_activations(json_of(relevance)["activations"].get(tagger), tagger, stem, sample)


def interpret_jobs(interpret_folder: str | Path, tagger: str, sample: str) -> list[FigureJob]:
    """The squeezed model's activation patterns, beside the baseline's (the retrainings after occlusion).

    Parameters
    ----------
    interpret_folder : str or Path
        The interpret stage's folder (its ``interpret.json``).
    tagger : str
        The retrained tagger's name.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of FigureJob
        One job; none without ``interpret.json`` or a squeezed model's activation patterns.
    """
    path = Path(interpret_folder) / "interpret.json"
    if not path.exists() or not (read_json(path, INTERPRET).get("squeezed") or {}).get("activations"):
        return []
    return [
        FigureJob(
            "activations",
            f"activations_{tagger}_squeezed",
            CAPTIONS["activations"].format(tagger=f"{tagger}, squeezed"),
            "draw_squeezed_activations",
            {"interpret": str(path), "tagger": f"{tagger} squeezed", "sample": sample},
        )
    ]


def mapping_jobs(mapping_folder: str | Path, sample: str) -> list[FigureJob]:
    """The guided search step by step, and a picture of every EFP graph it chose.

    The report's table shows the graphs beside their rows.

    Parameters
    ----------
    mapping_folder : str or Path
        The mapping stage's folder (its ``guided.json``).
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of FigureJob
        The search's figure, then one per distinct graph added; none without ``guided.json``.
    """
    path = Path(mapping_folder) / "guided.json"
    if not path.exists():
        return []
    result = read_json(path, GUIDED)
    jobs = [
        FigureJob(
            "mapping", "guided_search", CAPTIONS["guided"], "draw_guided", {"guided": str(path), "sample": sample}
        )
    ]
    for graph in dict.fromkeys(r["graph"] for r in result["rows"] if r["graph"]):
        jobs.append(
            FigureJob("efp_graphs", f"efp_graph_{graph}", f"EFP graph {graph}", "draw_efp_graph", {"graph": graph})
        )
    return jobs


def draw_guided(stem: str, guided: str, sample: str) -> list[Path] | None:
    """Draw the guided search step by step (``plotting.mapping.plot_guided``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    guided : str
        The search's ``guided.json``.
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written (never None: this figure is always drawn).
    """
    from xaugcol.plotting.mapping import plot_guided

    return plot_guided(read_json(guided, GUIDED), stem, sample)


def draw_efp_graph(stem: str, graph: str) -> list[Path] | None:
    """Draw one EFP graph (``plotting.efp_graphs.plot_graphs``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    graph : str
        The graph's name (``draw_graph``).

    Returns
    -------
    list of Path or None
        The files written (never None: this figure is always drawn).
    """
    from xaugcol.plotting.efp_graphs import plot_graphs

    return plot_graphs([graph], stem)


def draw_squeezed_activations(stem: str, interpret: str, tagger: str, sample: str) -> list[Path] | None:
    """Draw the squeezed model's activation patterns (``plotting.interpretation.plot_activations``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    interpret : str
        The interpretation's ``interpret.json`` (its ``squeezed.activations``).
    tagger : str
        The name in the titles (``<tagger> squeezed``).
    sample : str
        The sample's label above the figure.

    Returns
    -------
    list of Path or None
        The files written; None without patterns of both classes.
    """
    from xaugcol.plotting.interpretation import plot_activations

    return plot_activations(read_json(interpret, INTERPRET)["squeezed"]["activations"], tagger, stem, sample)


def draw_examples(
    stem: str,
    ensemble: str,
    jets: str,
    method: dict | str,
    sample: str,
    per_class: int,
    processing: dict,
    split: str = "test",
) -> list[Path] | None:
    """Draw the relevance of a few example jets (``plotting.examples.plot_examples``).

    Parameters
    ----------
    stem : str or Path
        The figure's path without suffix (``<figures folder>/<job name>``).
    ensemble : str
        The tagger's ensemble folder; its first member is explained.
    jets : str
        The jet tables' folder.
    method : dict or str
        The explanation method as ``method_spec`` reads it.
    sample : str
        The sample's label above the figure.
    per_class : int
        Jets per class.
    processing : dict
        The jet tables' processing settings, as relevance.json records them (``ProcessingConfig.from_dict``).
    split : str, default "test"
        The split the jets come from.

    Returns
    -------
    list of Path or None
        The files written; None when ``method`` cannot be rebuilt from its record (a composite given as a
        Python object).
    """
    from xaugcol.explain.ensemble import Ensemble
    from xaugcol.explain.methods import method_spec
    from xaugcol.plotting import examples
    from xaugcol.processing.settings import ProcessingConfig

    try:
        method_spec(method)
    except (ValueError, TypeError):  # a composite given as a Python object: its record is only text
        return None
    return examples.plot_examples(
        Ensemble.load(ensemble),
        jets,
        method,
        stem,
        sample,
        per_class,
        ProcessingConfig.from_dict(processing, "relevance.json: processing"),
        split,
    )
