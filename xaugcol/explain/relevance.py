"""Explain one chunk of jets with every member of an ensemble and every explanation method, into relevance
histograms.

Library code, free of coffea: the relevance processor reads a chunk of the jet tables and calls ``explain_rows``.
Inputs are built by ``xaugcol.training.data.model_inputs``, the function training uses, with each member's own
scalers, so the tagger sees exactly what it was trained on. Methods come as ``MethodSpec``s
(``xaugcol.explain.methods``); nothing here names a method or an input kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from xaugcol.explain import activations, edges, faithfulness, occlusion
from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.histograms import (
    CLASSES,
    fill_input_maps,
    fill_relevance,
    fill_score_shares,
    quantise,
    tagger_histograms,
)
from xaugcol.explain.methods import MethodSpec
from xaugcol.explain.options import ExplainOptions
from xaugcol.explain.statistics import feature_names, feature_sums, normalise_per_jet, score_shares
from xaugcol.features.scaler import InputScalers
from xaugcol.models import batching
from xaugcol.processing.settings import ProcessingConfig
from xaugcol.training.data import model_inputs
from xaugcol.training.domain import outside_counts


@dataclass
class Explainer:
    """One ensemble member, ready to explain: its model, the scalers of its inputs and one attributor per method.

    Parameters
    ----------
    seed : int
        The member's training seed (its ``member`` bin in the histograms).
    model : torch.nn.Module
        The member's tagger, in eval mode.
    scalers : InputScalers
        The scalers of its scaled inputs, as saved with the member.
    attributors : dict
        Method name -> the method bound to ``model`` (an ``Attributor``, ``MethodSpec.attributor``).
    """

    seed: int
    model: torch.nn.Module
    scalers: InputScalers
    attributors: dict  # method name -> attributor


def explainers(ensemble: Ensemble, methods: tuple[MethodSpec, ...], device: str = "cpu") -> list[Explainer]:
    """Every member of ``ensemble``, loaded on ``device``, with one attributor per method of ``methods``.

    Parameters
    ----------
    ensemble : Ensemble
        The tagger to explain (``Ensemble.load_members`` reads the weights).
    methods : tuple of MethodSpec
        The explanation methods; each member gets one attributor per method, under its name.
    device : str, default "cpu"
        The torch device the models are put on.

    Returns
    -------
    list of Explainer
        One per member, in seed order.
    """
    return [
        Explainer(seed, model, scalers, {m.name: m.attributor(model) for m in methods})
        for seed, model, scalers in ensemble.load_members(device)
    ]


def empty_counts(rules: Iterable[str]) -> dict:
    """The counters of a relevance run, at zero: jets selected and skipped, and per rule the jets with zero relevance
    and the summed |output| and |absorbed| relevance.

    Parameters
    ----------
    rules : iterable of str
        The method labels (``MethodSpec.name``).

    Returns
    -------
    dict
        ``jets_selected`` and ``skipped_nonfinite_input`` at 0, and per rule ``r`` ``zero_relevance_r`` at 0 and
        ``abs_output_r`` and ``abs_absorbed_r`` at 0.0.
    """
    return {
        "jets_selected": 0,
        "skipped_nonfinite_input": 0,
        **{f"zero_relevance_{r}": 0 for r in rules},
        **{f"abs_output_{r}": 0.0 for r in rules},
        **{f"abs_absorbed_{r}": 0.0 for r in rules},
    }


def explain_rows(
    rows: dict,
    ensemble: Ensemble,
    members: list[Explainer],
    methods: tuple[MethodSpec, ...],
    processing: ProcessingConfig,
    options: ExplainOptions = ExplainOptions(),
    classes: Sequence[int] = CLASSES,
) -> tuple[dict, dict, list]:
    """Histograms (``xaugcol.explain.histograms``) and counts for the jets of ``rows`` that the ensemble is
    explained on (``options``: the split, the batch, and which extra analyses run); ``processing``: the
    configuration of the jet tables. Counts: jets selected, jets skipped for
    NaN/inf inputs, per method the member-jets whose relevance is zero everywhere (left out of every histogram),
    and the summed |output| and |absorbed| (what the method did not attribute), summed over members; the jets
    outside the range the tagger was trained on (``xaugcol.training.domain``). With ``faithfulness_steps`` > 0,
    every member and method's input-perturbation curves too, on the ``faithfulness_fraction`` of the jets
    (``xaugcol.explain.faithfulness``). With ``occlusion_fraction`` > 0, every member's logits with each input
    feature occluded on that fraction of the jets (``xaugcol.explain.occlusion``); with ``activations``,
    every member's neuron activations on all of them (``xaugcol.explain.activations``), recorded in one plain
    forward pass, whose logits the occlusion starts from.

    Parameters
    ----------
    rows : dict
        The jet-table columns of a chunk (column name -> numpy.ndarray, one entry per jet).
    ensemble : Ensemble
        The tagger explained: its name, input kinds, split and training selection.
    members : list of Explainer
        The ensemble's members, loaded (``explainers``).
    methods : tuple of MethodSpec
        The explanation methods, whose names fill the ``rule`` axes.
    processing : ProcessingConfig
        The processing configuration of the jet tables (map geometry).
    options : ExplainOptions, optional
        The split, the batch size and which extra analyses run; default: the command line's defaults.
    classes : sequence of int, default CLASSES
        The true classes of the jets explained (``WITH_DATA`` when some dataset has no truth).

    Returns
    -------
    hists : dict
        Histogram key -> ``hist.Hist``: ``tagger_histograms``, plus the faithfulness, edge and activation
        histograms of the analyses that run.
    counts : dict
        The counters of ``empty_counts``, filled, and the ``outside_*`` counts of ``xaugcol.training.domain``.
    records : list of dict
        One occlusion record per member (``occlusion.record``); empty without occlusion.
    """
    kinds, name = ensemble.spec.kinds, ensemble.name
    split, batch_size = options.split, options.batch_size
    faithfulness_steps, record_activations = options.faithfulness_steps, options.activations
    features = feature_names(kinds)
    names = [m.name for m in methods]
    hists = tagger_histograms(name, kinds, names, processing, classes)
    if faithfulness_steps:
        hists.update(faithfulness.histograms(name, names, faithfulness_steps, classes))
    with_edges = [m for m in names if options.edges and _edge_method(members, m)]
    if with_edges:
        hists.update(edges.histograms(name, with_edges, classes))
    counts = empty_counts(names)
    keep = ensemble.selection(rows, split)
    finite = np.logical_and.reduce([kind.finite(rows) for kind in kinds])
    counts["skipped_nonfinite_input"] = int((keep & ~finite).sum())
    keep &= finite
    counts["jets_selected"] = int(keep.sum())
    if not keep.any():
        return hists, counts, []
    rows = {k: v[keep] for k, v in rows.items()}
    counts.update(outside_counts(rows, ensemble.training_range))
    fill_input_maps(hists, name, kinds, rows, processing)
    keys = faithfulness.jet_keys(rows)
    perturbed = faithfulness.subsample(keys, options.faithfulness_fraction) if faithfulness_steps else None
    occluded = faithfulness.subsample(keys, options.occlusion_fraction) if options.occlusion_fraction else None
    labels = rows["label"].astype(np.int64)
    records: list[dict] = []
    for member in members:
        inputs = model_inputs(rows, ensemble.spec, member.scalers)
        tensors = tuple(torch.from_numpy(inputs[k.name]) for k in kinds)
        if record_activations or occluded is not None:
            _plain_pass(
                hists, records, name, member, kinds, tensors, labels, occluded, record_activations, batch_size, classes
            )
        baselines = [k.removal_baseline(member.scalers.get(k.name)) for k in kinds]
        for method in names:
            if method in with_edges:  # one LRP pass gives the inputs' relevance and the edges'
                lrp = member.attributors[method].lrp  # an LRPAttributor (_edge_method)
                found, attribution = edges.explain_edges(member.model, lrp, tensors, batch_size)
                edges.fill(hists, name, method, member.seed, found, rows["particles"], labels)
            else:
                attribution = member.attributors[method](*tensors, batch_size=batch_size)
            if perturbed is not None and perturbed.any():
                chosen = torch.from_numpy(perturbed)
                logits = faithfulness.removal_logits(
                    member.model,
                    kinds,
                    tuple(t[chosen] for t in tensors),
                    tuple(r[chosen] for r in attribution.relevance),
                    attribution.output[chosen],
                    baselines,
                    keys[perturbed],
                    faithfulness_steps,
                    batch_size,
                )
                faithfulness.fill(hists, name, method, member.seed, rows["label"][perturbed].astype(np.int64), logits)
            relevance = {k.name: r.detach().cpu().numpy() for k, r in zip(kinds, attribution.relevance)}
            normalised, kept = normalise_per_jet(relevance)
            counts[f"zero_relevance_{method}"] += int((~kept).sum())
            output = attribution.output.detach().cpu().double().numpy()
            absorbed = attribution.absorbed.detach().cpu().double().numpy()
            counts[f"abs_output_{method}"] += float(quantise(np.abs(output)).sum())
            counts[f"abs_absorbed_{method}"] += float(quantise(np.abs(absorbed)).sum())
            explained = rows if kept.all() else {k: v[kept] for k, v in rows.items()}
            fill_relevance(
                hists,
                name,
                method,
                member.seed,
                kinds,
                explained,
                normalised,
                feature_sums(normalised, kinds),
                processing,
            )
            fill_score_shares(
                hists, name, method, member.seed, features, labels, *score_shares(relevance, output, kinds)
            )
    return hists, counts, records


def _edge_method(members: list[Explainer], method: str) -> bool:
    """Whether the members are graph networks (EdgeConv blocks) and ``method`` is LRP: their edges get relevance."""
    from xaugcol.explain.methods.lrp import LRPAttributor

    return bool(members) and all(
        isinstance(m.attributors[method], LRPAttributor) and edges.edge_blocks(m.model) for m in members
    )


def _plain_pass(hists, records, tagger, member, kinds, tensors, labels, occluded, record, batch_size, classes) -> None:
    """With ``record``, one forward pass of the member on every jet with its activations recorded; the occlusion's
    logits on the ``occluded`` jets (None: no occlusion), starting from that pass's where there was one, appended
    to ``records``."""
    logits = None
    if record:
        batches = batching.plan(member.model, tensors, batch_size)
        recorder = activations.ActivationRecorder(member.model)
        with recorder:
            logits = faithfulness.batch_logits(member.model, tensors, batches)
        if recorder.sites:
            recorded = recorder.per_jet(batches)
            if not any(k.startswith(f"nap/{tagger}/") for k in hists):
                hists.update(activations.histograms(tagger, recorded, classes))
            activations.fill(hists, tagger, member.seed, labels, recorded)
    if occluded is not None and occluded.any():
        chosen = torch.from_numpy(occluded)
        per_group = occlusion.occlusion_logits(
            member.model,
            kinds,
            tuple(t[chosen] for t in tensors),
            batch_size,
            unmasked=None if logits is None else logits[occluded],
        )
        records.append(occlusion.record(member.seed, labels[occluded], per_group, kinds))
