"""Explain one chunk of jets with every member of an ensemble and every LRP rule, into relevance histograms.

Library code, free of coffea: the relevance processor builds the jet table of a chunk and calls ``explain_rows``.
Inputs are built by ``xaugcol.training.data.model_inputs``, the function training uses, with each member's own
scaler, so the tagger sees exactly what it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.histograms import fill_input_image, fill_relevance, quantise, tagger_histograms
from xaugcol.explain.lrp import LRP
from xaugcol.explain.statistics import feature_names, feature_sums, normalise_per_jet
from xaugcol.features.images import ImageConfig
from xaugcol.training.data import model_inputs

SPLIT_CHOICES = ("test", "val", "train", "all")


@dataclass
class Explainer:
    """One ensemble member, ready to explain: its model, scaler and one LRP object per rule."""
    seed: int
    model: torch.nn.Module
    scaler: object
    lrp: dict[str, LRP]


def explainers(ensemble: Ensemble, rules, device: str = "cpu") -> list[Explainer]:
    return [Explainer(seed, model, scaler, {rule: LRP(model, rule) for rule in rules})
            for seed, model, scaler in ensemble.load_members(device)]


def empty_counts(rules) -> dict:
    return {"jets_selected": 0, "skipped_nonfinite_input": 0,
            **{f"zero_relevance_{r}": 0 for r in rules},
            **{f"abs_output_{r}": 0.0 for r in rules}, **{f"abs_absorbed_{r}": 0.0 for r in rules}}


def explain_rows(rows: dict, ensemble: Ensemble, members: list[Explainer], rules, split: str, image: ImageConfig,
                 batch_size: int = 512) -> tuple[dict, dict]:
    """Histograms (``xaugcol.explain.histograms``) and counts for the jets of ``rows`` that the ensemble is
    explained on. Counts: jets selected, jets skipped for NaN/inf inputs, per rule the member-jets whose relevance
    is zero everywhere (left out of every histogram), and the summed |output| and |output - input relevance|
    (the part biases and stabilisers absorbed), summed over members."""
    spec, name = ensemble.spec, ensemble.name
    features = feature_names(spec.inputs, spec.xaug_columns)
    hists = tagger_histograms(name, features, rules, spec.inputs, spec.xaug_columns, image)
    counts = empty_counts(rules)
    keep = ensemble.selection(rows, split)
    finite = _finite_inputs(rows, spec)
    counts["skipped_nonfinite_input"] = int((keep & ~finite).sum())
    keep &= finite
    counts["jets_selected"] = int(keep.sum())
    if not keep.any():
        return hists, counts
    rows = {k: v[keep] for k, v in rows.items()}
    if "image" in spec.inputs:
        fill_input_image(hists, name, rows, image)
    for member in members:
        inputs = model_inputs(rows, spec, member.scaler.transform if member.scaler is not None else None)
        tensors = tuple(torch.from_numpy(inputs[k]) for k in spec.inputs)
        for rule in rules:
            explanation = member.lrp[rule](*tensors, batch_size=batch_size)
            relevance = {k: r.detach().cpu().numpy() for k, r in zip(spec.inputs, explanation.relevance)}
            normalised, kept = normalise_per_jet(relevance)
            counts[f"zero_relevance_{rule}"] += int((~kept).sum())
            output = explanation.output.detach().cpu().double().numpy()
            absorbed = output - explanation.conservation.input_total.detach().cpu().double().numpy()
            counts[f"abs_output_{rule}"] += float(quantise(np.abs(output)).sum())
            counts[f"abs_absorbed_{rule}"] += float(quantise(np.abs(absorbed)).sum())
            explained = rows if kept.all() else {k: v[kept] for k, v in rows.items()}
            fill_relevance(hists, name, rule, member.seed, explained, normalised, feature_sums(normalised), features,
                           spec.xaug_columns, image)
    return hists, counts


def _finite_inputs(rows: dict, spec) -> np.ndarray:
    """Jets whose tagger inputs are all finite (a layout without some XAUG variable gives NaN there)."""
    n = len(rows["label"])
    ok = np.ones(n, dtype=bool)
    columns = [c for c in ("image", "particles") if c in spec.inputs]
    columns += list(spec.xaug_columns) if "xaug" in spec.inputs else []
    for c in columns:
        ok &= np.isfinite(np.asarray(rows[c], dtype=np.float64).reshape(n, -1)).all(axis=1)
    return ok
