"""Faucett, Thaler and Whiteson's (arXiv:2010.11998) comparison table of methods against one black box: every trained
tagger of a study (AUC with its ensemble spread, ADO[black box]) and single observables used as a score on their own (an
isolation cone: the muon paper's "one cone" row), on the test split, with the black box's selection and weights.

A single observable's direction is chosen on the selection split (its AUC there at least 1/2: a large isolation
sum means background), then kept for the test split, so the sign is not fitted on the jets it is scored on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xaugcol.atomic import write_json
from xaugcol.explain.ensemble import Ensemble
from xaugcol.mapping.decision_ordering import ado
from xaugcol.mapping.scores import SplitJets, split_jets
from xaugcol.models.registry import ModelConfig
from xaugcol.training.data import DataSpec, JetTables
from xaugcol.training.metrics import performance

METHODS_JSON = "methods.json"


def _aligned_classes(a: SplitJets, b: SplitJets, a_values, b_values):
    i, j = a.aligned(b)
    if not len(i):
        raise ValueError("methods table: a tagger and the black box share no jets")
    signal = b.label[j] == 1
    return a_values[i][signal], b_values[j][signal], a_values[i][~signal], b_values[j][~signal]


def _summary(values) -> dict:
    values = [float(v) for v in values]
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1 if len(values) > 1 else 0)),
        "values": values,
    }


def methods_table(
    jets: Path, black_box: Path, taggers: dict[str, Path], observables: tuple[str, ...], select_split: str = "val"
) -> dict:
    """Score every tagger and single observable against the black box on the test split: AUC and ADO[black box].

    The jets are those the black box selects, with its weights. An observable's direction is chosen on
    ``select_split`` and kept for the test split (module docstring).

    Parameters
    ----------
    jets : Path
        The processing output folder (or its ``jets/``) holding the jet tables.
    black_box : Path
        The black box's ensemble folder; its score is the mean logit of its members.
    taggers : dict of str to Path
        The other taggers, by row name: their ensemble folders.
    observables : tuple of str
        Jet-table columns scored as a tagger on their own (e.g. an isolation cone); may be empty.
    select_split : str, default "val"
        The split on which an observable's sign is chosen.

    Returns
    -------
    dict
        ``{"black_box": {"name", "auc"}, "rows": [{"method", "kind", "auc", "ado_black_box"}]}``: ``kind`` is
        ``"observable"`` or ``"tagger"``, an AUC is ``{"mean", "std", "values"}`` over the ensemble members (one
        value for an observable), ``ado_black_box`` the folded ADO to the black box; an observable used with its
        sign flipped is named ``-<column>``.
    """
    ensemble = Ensemble.load(black_box)
    members = ensemble.load_members()
    bb = {split: split_jets(JetTables(jets, ensemble.spec), split, [], members) for split in ("test", select_split)}
    rows = []
    if observables:
        spec = DataSpec.of(
            ModelConfig(model="dnn", xaug=True, xaug_columns=tuple(observables)),
            ensemble.spec.msd_window,
            ensemble.spec.matched_signal,
            ensemble.spec.pt_range,
        )
        values = {split: split_jets(JetTables(jets, spec), split, list(observables)) for split in bb}
        for name in observables:
            sign = _direction(values[select_split], bb[select_split], name)
            test, ref = values["test"], bb["test"]
            i, j = test.aligned(ref)
            score = sign * test.values[name][i]
            auc = performance(ref.label[j], score, ref.weight[j])["auc"]
            h_s, t_s, h_b, t_b = _aligned_classes(test, ref, sign * test.values[name], ref.values["score"])
            rows.append(
                {
                    "method": name if sign > 0 else f"-{name}",
                    "kind": "observable",
                    "auc": _summary([auc]),
                    "ado_black_box": ado(h_s, t_s, h_b, t_b),
                }
            )
    for name, folder in taggers.items():
        other = Ensemble.load(folder)
        jets_of = split_jets(JetTables(jets, other.spec), "test", [], other.load_members())
        i, j = jets_of.aligned(bb["test"])
        aucs = [performance(bb["test"].label[j], m[i], bb["test"].weight[j])["auc"] for m in jets_of.values["logits"]]
        h_s, t_s, h_b, t_b = _aligned_classes(jets_of, bb["test"], jets_of.values["score"], bb["test"].values["score"])
        rows.append({"method": name, "kind": "tagger", "auc": _summary(aucs), "ado_black_box": ado(h_s, t_s, h_b, t_b)})
    bb_auc = [performance(bb["test"].label, m, bb["test"].weight)["auc"] for m in bb["test"].values["logits"]]
    return {"black_box": {"name": ensemble.name, "auc": _summary(bb_auc)}, "rows": rows}


def _direction(values: SplitJets, ref: SplitJets, name: str) -> int:
    i, j = values.aligned(ref)
    auc = performance(ref.label[j], values.values[name][i], ref.weight[j])["auc"]
    return 1 if auc >= 0.5 else -1


def write_methods_table(out: Path, *args: Any, **kwargs: Any) -> dict:
    """Compute ``methods_table(*args, **kwargs)`` and write it as JSON (``methods.json``) into the folder ``out``.

    Parameters
    ----------
    out : Path
        The existing folder the table is written into.
    *args : Any
        Positional arguments of ``methods_table``.
    **kwargs : Any
        Keyword arguments of ``methods_table``.

    Returns
    -------
    dict
        The table, as ``methods_table`` returns it.
    """
    table = methods_table(*args, **kwargs)
    write_json(Path(out) / METHODS_JSON, table)
    return table
