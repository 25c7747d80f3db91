"""Run the relevance processor over the jet tables of a processing run with coffea's Runner; write the histograms
and a JSON summary.

Outputs in ``out_dir``:

* ``relevance.root``: every histogram (uproot), sliced along its category axes (rule, member, label, sign) into
  TH1D/TH2D/TH3D named ``<key>/<axis>_<value>__...``; the ``feature`` axis stays a labelled axis. Of the pairs
  of XAUG variables only the two most relevant (per tagger and rule) are written, with their value axes. A ':' in a
  feature name (``particle:log_pt``) becomes '_' in the ROOT name.
  ``xaugcol.explain.relevance_file.read_relevance_histograms`` rebuilds the full histograms from it (figures
  are drawn from the file).
* ``relevance.json``: configuration, counts per tagger and dataset, files and chunks skipped (and why), and per tagger,
  rule and class the mean normalised relevance of every feature with the spread over the ensemble, the ranking and the
  top pair, and the mean share of the output score each feature carries with its ranking per class (``score``); per
  tagger and rule the input-perturbation curves and faithfulness scores (``faithfulness``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from xaugcol.atomic import write_json
from xaugcol.errors import InputDataError, UsageError
from xaugcol.explain import activations, edges, faithfulness, occlusion
from xaugcol.explain.agreement import bias_like
from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.histograms import CLASSES, WITH_DATA, pair_histograms, pair_key
from xaugcol.explain.methods import method_specs
from xaugcol.explain.occlusion import masking_thresholds
from xaugcol.explain.options import ExplainOptions
from xaugcol.explain.relevance import empty_counts
from xaugcol.explain.relevance_file import RELEVANCE_ROOT, write_relevance_root
from xaugcol.explain.sanity import ensemble_sanity
from xaugcol.explain.summary import mean_normalised_relevance, mean_score_shares, ranking, top_pair
from xaugcol.output_folder import output_lock, read_lock
from xaugcol.paths import refuse_inputs_inside
from xaugcol.processing.checkpoints import open_checkpoints, remove_checkpoints
from xaugcol.processing.chunk_guard import skipped_chunks
from xaugcol.processing.coffea_runner import Execution, run_coffea, versions
from xaugcol.processing.settings import ProcessingConfig
from xaugcol.processing.table_fileset import processed_folder, table_fileset
from xaugcol.training.domain import outside_fractions

RELEVANCE_JSON = "relevance.json"


@dataclass
class RelevanceResult:
    """What a relevance run computed (``explain_tables``), as it wrote it to ``relevance.root`` and ``relevance.json``.

    Parameters
    ----------
    histograms : dict of str to hist.Hist
        The run's merged histograms, the all-pairs histograms replaced by those of the top pairs
        (``with_top_pairs``).
    counts : dict
        Tagger -> dataset -> counters (``relevance.empty_counts``, with ``chunks`` and ``jets_in_table``).
    summary : dict
        Tagger -> rule -> {"classes", "ranking", "xaug_ranking", "top_pair", "score": {"classes", "ranking"}}
        (``summarise``).
    ensembles : list of Ensemble
        The taggers explained, pinned.
    faithfulness : dict, optional
        Tagger -> rule -> input-perturbation curves and scores (``faithfulness.curves``); taggers without curves left
        out.
    occlusion : dict, optional
        Tagger -> ranked dAUC table (``occlusion.table``), with the masking thresholds and the bias-like features once
        ``explain_tables`` adds them.
    activations : dict, optional
        Tagger -> neuron-activation patterns (``activations.patterns``).
    edges : dict, optional
        Tagger -> the relevance of its kNN edges (``edges.patterns``).
    skipped_files : list, optional
        The jet-table files skipped (and why).
    skipped_chunks : list, optional
        The chunks skipped (and why).
    """

    histograms: dict
    counts: dict
    # tagger -> rule -> {"classes", "ranking", "xaug_ranking", "top_pair", "score": {"classes", "ranking"}}
    summary: dict
    ensembles: list
    faithfulness: dict = field(default_factory=dict)  # tagger -> rule -> curves and scores
    occlusion: dict = field(default_factory=dict)  # tagger -> ranked dAUC table, masking thresholds
    activations: dict = field(default_factory=dict)  # tagger -> neuron-activation patterns
    edges: dict = field(default_factory=dict)  # tagger -> the relevance of its kNN edges (explain.edges)
    skipped_files: list = field(default_factory=list)
    skipped_chunks: list = field(default_factory=list)


def explain_tables(
    processor_class: type,
    jets: str | Path,
    taggers: Iterable[str | Path | Ensemble],
    out_dir: str | Path,
    options: ExplainOptions = ExplainOptions(),
    execution: Execution = Execution(),
    resume: bool = False,
) -> RelevanceResult:
    """Explain ``taggers`` on the jet tables of the processing output ``jets`` with ``processor_class`` (the
    relevance processor, handed in by ``xaugcol.coffea_runs``), run by coffea's Runner over the tables (parquet):
    nothing is recomputed from the events. ``taggers``: tagger or ensemble folders (or ``Ensemble`` objects);
    ``options`` (``ExplainOptions``): the explanation methods (LRP preset names, ``gradient_x_input``, mappings with a
    composite: ``xaugcol.explain.methods``), the split, the batch, and the extra analyses: input-perturbation
    curves (``xaugcol.explain.faithfulness``) on a hash-chosen fraction of the jets, the model-randomisation check
    of each ensemble's first member (``xaugcol.explain.sanity``), feature occlusion on a hash-chosen fraction
    (``xaugcol.explain.occlusion``) followed by the multi-feature masking at Roy and Neubauer's (ICHEP 2022)
    thresholds, the neuron-activation patterns (``xaugcol.explain.activations``). ``resume``: continue an
    interrupted run from its checkpoints; it must have the same settings, jet tables and model folders (every
    member file, fingerprinted). The jet tables and the taggers are read-locked meanwhile (a run that would
    rewrite them is refused), and a member whose files change while workers load it is refused
    (``Ensemble.pinned``).

    Parameters
    ----------
    processor_class : type
        The relevance processor class (``processors.relevance_processor.RelevanceProcessor``).
    jets : str or Path
        The processing output whose jet tables are explained.
    taggers : iterable of str, Path or Ensemble
        Tagger or ensemble folders, or ``Ensemble`` objects; their names must be unique.
    out_dir : str or Path
        The output folder (``relevance.root``, ``relevance.json`` and the checkpoints meanwhile); locked while the
        run writes it.
    options : ExplainOptions, optional
        The explanation methods, the split, the batch and the extra analyses; default: ``ExplainOptions()``.
    execution : Execution, optional
        How coffea runs the chunks (executor, workers, chunk size, ...); default: ``Execution()``.
    resume : bool, default False
        Continue an interrupted run from its checkpoints.

    Returns
    -------
    RelevanceResult
        The histograms, counts, summaries and extra analyses written.

    Raises
    ------
    UsageError
        ``options`` is not an ``ExplainOptions``, no taggers, tagger names that repeat, or a tagger that reads
        columns or shapes the jet tables do not have.
    InputDataError
        No jets to explain: every jet table was empty or skipped.
    """
    if not isinstance(options, ExplainOptions):
        raise UsageError(f"options: expected ExplainOptions, got {type(options).__name__}")
    ensembles = [t if isinstance(t, Ensemble) else Ensemble.load(t) for t in taggers]
    if not ensembles:
        raise UsageError("no taggers to explain")
    with contextlib.ExitStack() as reading:  # nothing rewrites the jet tables or the taggers while they are read
        for folder in {
            processed_folder(jets),
            *(p for t in ensembles for _, f in t.members for p in (Path(f), Path(f).parent)),
        }:
            reading.enter_context(read_lock(folder))
        return _explain(processor_class, jets, [t.pinned() for t in ensembles], out_dir, options, execution, resume)


def _explain(processor_class, jets, ensembles, out_dir, options: ExplainOptions, execution, resume):
    """``explain_tables`` once its inputs are held (read locks) and its taggers pinned."""
    names = [e.name for e in ensembles]
    if len(set(names)) != len(names):
        raise UsageError(f"tagger names must be unique, got {names}")
    methods = method_specs(options.rules)  # checked when the options were made
    rules = tuple(m.name for m in methods)
    split, batch_size, threads = options.split, options.batch_size, options.threads
    faithfulness_steps, faithfulness_fraction = options.faithfulness_steps, options.faithfulness_fraction
    sanity_jets, occlusion_fraction = options.sanity_jets, options.occlusion_fraction
    record_activations = options.activations
    e = execution
    refuse_inputs_inside(
        out_dir,
        [
            ("the jet tables", processed_folder(jets)),
            *[(f"the tagger {t.name}", f) for t in ensembles for _, f in t.members],
        ],
    )
    fileset, identities, skipped, processing, shapes, labels = table_fileset(jets, e.skip_bad_files)
    classes = WITH_DATA if any(label < 0 for label in labels) else CLASSES
    for ensemble in ensembles:
        _check_columns(ensemble, shapes, processed_folder(jets))
        _check_shapes(ensemble, processing)
        ensemble.load_members()  # unreadable or unsafe weights fail here, naming the file, before any chunk runs

    out_dir = Path(out_dir).resolve()  # chunks run in other processes, perhaps in another working directory
    with output_lock(out_dir):
        manifest = {
            "run": "relevance",
            "methods": [m.fingerprint() for m in methods],
            "split": split,
            "batch_size": batch_size,
            "threads": threads,
            "chunksize": e.chunksize,
            "faithfulness_steps": faithfulness_steps,
            "faithfulness_fraction": faithfulness_fraction,
            "sanity_jets": sanity_jets,
            "occlusion_fraction": occlusion_fraction,
            "record_activations": record_activations,
            **({"edges": True} if options.edges else {}),  # recorded only when on: earlier runs' resumes hold
            "processing": processing.as_dict(),
            "tables": identities,
            "taggers": {t.name: t.digests() for t in ensembles},
        }
        with e.session() as e:
            folder, resumed = open_checkpoints(out_dir, manifest, resume)
            instance = processor_class(ensembles, methods, processing, shapes, classes, options)
            output = run_coffea(fileset, instance, e, folder, format="parquet")
        if not output.get("histograms"):
            raise InputDataError(
                "no jets to explain: every jet table was empty or skipped"
                + "".join(f"\n  skipped: {c['reason']}" for c in skipped_chunks(output))
            )
        datasets = sorted({d for entry in fileset.values() for d in entry["metadata"]["datasets"]})
        result = _write_outputs(out_dir, output, datasets, ensembles, rules)
        sanity = (
            {
                t.name: ensemble_sanity(t, processed_folder(jets) / "jets", methods, split, sanity_jets)
                for t in ensembles
            }
            if sanity_jets
            else {}
        )
        for t in ensembles:  # the multi-feature masking needs every feature's dAUC first: a pass of its own
            table = result.occlusion.get(t.name)
            if table:
                table["thresholds"] = masking_thresholds(
                    t, processed_folder(jets) / "jets", split, table, batch_size=batch_size
                )
                table["bias_like"] = {
                    rule: bias_like(result.summary[t.name][rule], table, result.histograms, t.name) for rule in rules
                }
        write_json(
            out_dir / RELEVANCE_JSON,
            {
                "config": {
                    "rules": list(rules),
                    "methods": [m.describe() for m in methods],
                    "split": split,
                    **e.describe(),
                    "batch_size": batch_size,
                    "threads": threads,
                    "faithfulness_steps": faithfulness_steps,
                    "faithfulness_fraction": faithfulness_fraction,
                    "sanity_jets": sanity_jets,
                    "occlusion_fraction": occlusion_fraction,
                    "record_activations": record_activations,
                    "edges": options.edges,
                    "jets": str(processed_folder(jets).resolve()),
                    "processing": processing.as_dict(),
                },
                # member folders resolved: a report may run from another working directory
                "taggers": {
                    t.name: {
                        "members": [{"seed": s, "folder": str(Path(f).resolve())} for s, f in t.members],
                        "digests": t.digests(),  # what was explained (``xaugcol report`` checks it)
                        "inputs": list(t.spec.inputs),
                        "xaug_columns": list(t.config.xaug_columns) if t.config.xaug else [],
                        "msd_window": t.spec.msd_window,
                        "matched_signal": t.spec.matched_signal,
                    }
                    for t in ensembles
                },
                "counts": result.counts,
                "absorbed_fraction": {t.name: {r: _ratio(result.counts[t.name], r) for r in rules} for t in ensembles},
                "outside_training_range": {
                    t.name: outside_fractions(_summed(result.counts[t.name]), t.domain_jets)
                    for t in ensembles
                    if t.domain
                },
                "skipped_files": skipped,
                "skipped_chunks": skipped_chunks(output),
                "chunks_from_checkpoints": resumed,
                "relevance": result.summary,
                "faithfulness": result.faithfulness,
                "occlusion": result.occlusion,
                "activations": result.activations,
                "edges": result.edges,
                "sanity": sanity,
                "outputs": {"histograms": RELEVANCE_ROOT},
                "versions": versions(),
            },
        )
        remove_checkpoints(out_dir)
    result.skipped_files = skipped
    return result


def _write_outputs(out_dir: Path, output: dict, datasets: list, ensembles: list, rules) -> RelevanceResult:
    """Counts per tagger and dataset, the summary, and ``relevance.root``."""
    hists = output["histograms"]
    zero = {**empty_counts(rules), "chunks": 0, "jets_in_table": 0}
    counts = {e.name: {d: {**zero, **output["counts"].get(e.name, {}).get(d, {})} for d in datasets} for e in ensembles}
    summary = {e.name: summarise(hists, e, rules) for e in ensembles}
    hists = with_top_pairs(hists, ensembles, summary)
    write_relevance_root(out_dir / RELEVANCE_ROOT, hists, summary)
    curves = {e.name: faithfulness.curves(hists, e.name) for e in ensembles}
    records = output.get("occlusion") or {}
    tables = {e.name: occlusion.table(records.get(e.name, []), e.spec.kinds) for e in ensembles}
    naps = {e.name: activations.patterns(hists, e.name) for e in ensembles}
    graph_edges = {e.name: edges.patterns(hists, e.name) for e in ensembles}
    return RelevanceResult(
        hists,
        counts,
        summary,
        ensembles,
        skipped_chunks=skipped_chunks(output),
        faithfulness={name: c for name, c in curves.items() if c},
        occlusion={name: t for name, t in tables.items() if t},
        activations={name: p for name, p in naps.items() if p},
        edges={name: p for name, p in graph_edges.items() if p},
    )


def with_top_pairs(hists: dict, ensembles: list, summary: dict) -> dict:
    """The histograms with every tagger's all-pairs histograms replaced by those of its top pairs.

    The top pairs' histograms (``pair/T/a__b``, ``pair_jets/T/a__b``) have value axes: what the report and the
    ROOT file keep.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The run's merged histograms, with ``pairs/T`` and ``pairs_jets/T``.
    ensembles : list of Ensemble
        The taggers explained.
    summary : dict
        Tagger -> rule -> summary (``summarise``), whose ``top_pair`` is kept.

    Returns
    -------
    dict of str to hist.Hist
        A new mapping: ``hists`` without ``pairs/`` and ``pairs_jets/``, with every rule's top pair added.
    """
    out = {k: v for k, v in hists.items() if not k.startswith(("pairs/", "pairs_jets/"))}
    for e in ensembles:
        for s in summary[e.name].values():
            if s["top_pair"] and f"pairs/{e.name}" in hists:
                key = pair_key(*s["top_pair"])
                out[f"pair/{e.name}/{key}"], out[f"pair_jets/{e.name}/{key}"] = pair_histograms(
                    hists, e.name, tuple(s["top_pair"]), e.spec.kinds
                )
    return out


def summarise(hists: dict, ensemble: Ensemble, rules: Iterable[str]) -> dict:
    """The relevance summary of one tagger, per explanation method (``relevance`` in ``relevance.json``).

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The run's merged histograms.
    ensemble : Ensemble
        The tagger.
    rules : iterable of str
        The explanation methods' names.

    Returns
    -------
    dict
        Per rule: ``classes`` (``summary.mean_normalised_relevance``), ``ranking`` (all jets), ``xaug_ranking`` (the
        per-jet scalar features only), ``top_pair`` (the two most relevant of them as a list, None for fewer than
        two) and ``score`` (``summary.mean_score_shares``).
    """
    out = {}
    # the top pair: among the per-jet scalar features (the XAUG variables), which have pair histograms
    xaug = [f for kind in ensemble.spec.kinds if kind.jet_scalars for f in kind.feature_names()]
    for rule in rules:
        classes = mean_normalised_relevance(hists, ensemble.name, rule)
        pair = top_pair(classes, xaug) if len(xaug) >= 2 else None
        out[rule] = {
            "classes": classes,
            "ranking": ranking(classes),
            "xaug_ranking": ranking(classes, only=xaug),
            "top_pair": list(pair) if pair else None,
            "score": mean_score_shares(hists, ensemble.name, rule),
        }
    return out


def _summed(per_dataset: dict) -> dict:
    total: dict = {}
    for counts in per_dataset.values():
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return total


def _ratio(counts: dict, rule: str) -> float | None:
    output = sum(c[f"abs_output_{rule}"] for c in counts.values())
    return sum(c[f"abs_absorbed_{rule}"] for c in counts.values()) / output if output > 0 else None


def _check_columns(ensemble: Ensemble, present: dict, folder: Path) -> None:
    """Every column the tagger reads must be in the jet tables (``present``: their columns): a tagger trained on
    tables processed with other settings (EFP columns, another XAUG list) does not fit these."""
    for kind in ensemble.spec.kinds:
        missing = [c for c in (*kind.columns(), *kind.extra_columns()) if c not in present]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            raise UsageError(
                f"tagger {ensemble.name} reads column(s) {shown} ({kind.name} inputs), which the jet "
                f"tables of {folder} do not have: it was trained on tables processed with other "
                "settings; explain it on tables processed as its training data were"
            )


def _check_shapes(ensemble: Ensemble, processing: ProcessingConfig) -> None:
    """Each input kind's shape as the tagger takes it against the shape the processing makes."""
    made = processing.table_shapes()
    for kind in ensemble.spec.kinds:
        column = kind.table_column
        if (
            column is not None
            and column in made
            and tuple(ensemble.config.shape_of(kind.name, made[column])) != tuple(made[column])
        ):
            wanted = "x".join(map(str, ensemble.config.shapes[kind.name]))
            plural = kind.name if kind.name.endswith("s") else kind.name + "s"
            raise UsageError(
                f"tagger {ensemble.name} takes {wanted} {plural}, the processing configuration "
                f"makes {'x'.join(map(str, made[column]))}"
            )
