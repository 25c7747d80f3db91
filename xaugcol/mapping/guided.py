"""The guided search of Faucett, Thaler and Whiteson: which human-readable observables reproduce a black-box
tagger's decisions?

Start from a base set of high-level observables (the XAUG variables by default) and repeat:

1. train a high-level model on the base set plus the EFPs chosen so far: the XAUG DNN as an ensemble over the
   study's seeds (``train_ensemble``: model folders, metrics), or a gradient-boosted classifier per seed
   (scikit-learn's histogram GBDT, scored by its raw log-odds, never hard labels, which would tie most pairs);
2. score it and the black box on the test split: AUC (mean and spread over the seeds) and ADO[black box];
3. stop when its AUC reaches the black box's within the black box's ensemble spread, or after ``steps`` additions;
4. else, on the selection split (validation: jets neither model trained on), take the signal x background pairs
   on which it and the black box order differently (``Disagreement``) and add the EFP whose ordering agrees best
   with the black box's on them (the highest ADO, exact over all those pairs).

The black box is any tagger ensemble folder; its score is the mean logit of its members (``mapping.scores``). The
result (``guided.json``) is Faucett, Thaler and Whiteson's (arXiv:2010.11998) table: one row per step with the EFP added
(graph, kappa, beta), the AUC, the ADO to the black box, the share of pairs still ordered differently, and the best
candidates of the step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xaugcol.atomic import make_dirs, write_json
from xaugcol.console import say
from xaugcol.explain.ensemble import Ensemble
from xaugcol.features.efp.anchored import PREFIX as ANCHORED_PREFIX
from xaugcol.features.efp.anchored import parse_anchored_column
from xaugcol.features.efp.columns import parse_column
from xaugcol.mapping.decision_ordering import Disagreement, ado
from xaugcol.mapping.scores import SplitJets, split_jets
from xaugcol.models.registry import ModelConfig
from xaugcol.output_folder import output_lock
from xaugcol.quoting import quoted
from xaugcol.training.data import DataSpec, JetTables
from xaugcol.training.metrics import performance
from xaugcol.training.train import TrainConfig, train_ensemble, training_tables

if TYPE_CHECKING:
    from xaugcol.processing.executors import Mapper

GUIDED_JSON = "guided.json"
HIGH_LEVEL = ("dnn", "gbdt")
TOP_CANDIDATES = 5  # candidates per step kept in the table (with their ADO on the disagreement pairs)


@dataclass(frozen=True)
class GuidedSearch:
    """What the search needs: jet tables with the base and candidate columns, the black box's folder.

    Parameters
    ----------
    jets : Path
        The processing output folder (or its ``jets/``) whose jet tables hold the base and candidate columns.
    black_box : Path
        The black box's ensemble folder.
    base : tuple of str
        The base set of high-level observables (jet-table columns), e.g. the XAUG variables.
    candidates : tuple of str
        The candidate EFP columns (plain or anchored); none of them in ``base``.
    training : TrainConfig
        How the high-level models train; its jet selection (mSD window, matched signal, pT range, pT matching)
        must be the black box's.
    seeds : tuple of int
        One high-level model per seed (the DNN ensemble's members, or one GBDT each).
    steps : int, default 5
        The most EFPs added.
    high_level : str, default "dnn"
        The high-level model: ``"dnn"`` (an XAUG DNN ensemble) or ``"gbdt"`` (scikit-learn's histogram GBDT).
    architecture : dict, optional
        Keyword arguments of the high-level DNN class (``hidden``, ...); empty (the default): its defaults.
    select_split : str, default "val"
        The split on which the next EFP is chosen.

    Raises
    ------
    ValueError
        On an unknown ``high_level``, no ``candidates``, or a column both in ``base`` and among the candidates.
    """

    jets: Path
    black_box: Path
    base: tuple[str, ...]
    candidates: tuple[str, ...]
    training: TrainConfig
    seeds: tuple[int, ...]
    steps: int = 5
    high_level: str = "dnn"
    architecture: dict = field(default_factory=dict)  # of the high-level DNN
    select_split: str = "val"

    def __post_init__(self):
        if self.high_level not in HIGH_LEVEL:
            raise ValueError(
                f"guided search: high_level must be one of {', '.join(HIGH_LEVEL)}, got {quoted(self.high_level)}"
            )
        if not self.candidates:
            raise ValueError("guided search: no candidate EFP columns (give the processing an 'efp' section)")
        both = set(self.base) & set(self.candidates)
        if both:
            raise ValueError(f"guided search: {sorted(both)} are in the base set and among the candidates")

    def model_config(self, columns: Iterable[str]) -> ModelConfig:
        """The high-level tagger on ``columns``: an XAUG DNN with the search's architecture.

        Parameters
        ----------
        columns : iterable of str
            The jet-table columns the tagger reads.

        Returns
        -------
        ModelConfig
            A ``dnn`` model with ``xaug=True``, ``xaug_columns`` the ``columns`` and the search's architecture.
        """
        return ModelConfig(model="dnn", xaug=True, xaug_columns=tuple(columns), architecture=dict(self.architecture))

    def spec(self, columns: Iterable[str]) -> DataSpec:
        """What the high-level tagger on ``columns`` reads, with the search's training selection.

        Parameters
        ----------
        columns : iterable of str
            The jet-table columns the tagger reads.

        Returns
        -------
        DataSpec
            The inputs of ``model_config(columns)``, with the training's mSD window, matched-signal and pT range.
        """
        t = self.training
        return DataSpec.of(self.model_config(columns), t.msd_window, t.matched_signal, t.pt_range)


def run_guided_search(search: GuidedSearch, out: str | Path, mapper: Mapper = map, progress: bool = False) -> dict:
    """Run the search into ``out`` (``step_<k>/``: the high-level ensemble of step k; ``guided.json``).

    ``out`` is locked meanwhile.

    Parameters
    ----------
    search : GuidedSearch
        The search's inputs and settings.
    out : str or Path
        The output folder.
    mapper : callable, default map
        Dispatches the DNN ensemble's members for training (builtin ``map``, a pool's or a Dask client's map).
    progress : bool, default False
        Whether to print a line per step (AUC, ADO[black box]).

    Returns
    -------
    dict
        The table written to ``guided.json``: the black box (folder, name, AUC over its members), the base set,
        the high-level model, the seeds, the selection split, the number of candidates, ``"rows"`` (one per step:
        the EFP added with its graph, kappa and beta, the columns, the AUC, the ADO to the black box and, where a
        next EFP was chosen, the disagreement fraction and the best candidates) and why the search ``"stopped"``.

    Raises
    ------
    ValueError
        When the black box was trained on another jet selection, or the models share no jets.
    """
    with output_lock(out):
        return _search(search, Path(out), mapper, progress)


def _search(search: GuidedSearch, out: Path, mapper, progress: bool) -> dict:
    black_box = Ensemble.load(search.black_box)
    _check_selection(black_box.spec, search, search.black_box)
    members = black_box.load_members()
    bb_tables = JetTables(search.jets, black_box.spec)
    bb = {split: split_jets(bb_tables, split, [], members) for split in ("test", search.select_split)}
    bb_auc = _auc_summary(bb["test"], bb["test"].values["logits"])
    candidates = split_jets(
        JetTables(search.jets, search.spec(search.candidates)), search.select_split, list(search.candidates)
    )
    chosen: list[str] = []
    rows = []
    stopped = f"after {search.steps} additions"
    for step in range(search.steps + 1):
        columns = [*search.base, *chosen]
        hl = _high_level(search, columns, out / f"step_{step}", mapper, progress)
        auc = _auc_summary(hl["test"], hl["test"].values["logits"])
        row = {
            "step": step,
            "added": chosen[-1] if chosen else None,
            **_parameters(chosen[-1] if chosen else None),
            "columns": columns,
            "auc": auc,
            "ado_black_box": _ado(hl["test"], bb["test"]),
        }
        rows.append(row)
        if progress:
            say(
                f"guided search step {step}: {row['added'] or 'base'}: AUC {auc['mean']:.4f} +- {auc['std']:.4f} "
                f"(black box {bb_auc['mean']:.4f} +- {bb_auc['std']:.4f}), ADO[black box] {row['ado_black_box']:.4f}"
            )
        if auc["mean"] >= bb_auc["mean"] - bb_auc["std"]:
            stopped = "the AUC reached the black box's within its ensemble spread"
            break
        if step == search.steps:
            break
        pick = _next_observable(hl[search.select_split], bb[search.select_split], candidates, chosen)
        if pick is None:
            stopped = "every candidate was chosen"
            break
        row.update(pick["row"])
        chosen.append(pick["best"])
    result = {
        "black_box": {"folder": str(search.black_box), "name": black_box.name, "auc": bb_auc},
        "base": list(search.base),
        "high_level": search.high_level,
        "seeds": list(search.seeds),
        "select_split": search.select_split,
        "candidates": len(search.candidates),
        "rows": rows,
        "stopped": stopped,
    }
    write_json(out / GUIDED_JSON, result)
    return result


def _check_selection(black_box: DataSpec, search: GuidedSearch, folder: Path) -> None:
    """The black box's AUC and the high-level model's are compared: both must select and weight the same jets."""
    own = search.spec(search.base)
    differ = {n: (getattr(black_box, n), getattr(own, n)) for n in ("msd_window", "matched_signal", "pt_range")}
    differ["match_pt"] = (black_box.pt_weights is not None, bool(search.training.match_pt))
    listed = ", ".join(f"{n}: {theirs} against {mine}" for n, (theirs, mine) in differ.items() if theirs != mine)
    if listed:
        raise ValueError(
            f"guided search: the black box {folder} was trained on another jet selection than the "
            f"search's training settings ({listed})"
        )


def _parameters(column: str | None) -> dict:
    if column is None:
        return {"graph": None, "kappa": None, "beta": None}
    parse = parse_anchored_column if column.startswith(ANCHORED_PREFIX) else parse_column
    graph, kappa, beta = parse(column)
    return {"graph": graph, "kappa": kappa, "beta": beta}


def _auc_summary(jets: SplitJets, logits: np.ndarray) -> dict:
    values = [performance(jets.label, m, jets.weight)["auc"] for m in logits]
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1 if len(values) > 1 else 0)),
        "values": [float(v) for v in values],
    }


def _by_class(a: SplitJets, b: SplitJets, a_values: np.ndarray, b_values: np.ndarray):
    """(a signal, b signal, a background, b background) on the jets both hold."""
    i, j = a.aligned(b)
    if not len(i):
        raise ValueError("guided search: the high-level model and the black box share no jets")
    signal = a.label[i] == 1
    return a_values[i][signal], b_values[j][signal], a_values[i][~signal], b_values[j][~signal]


def _ado(hl: SplitJets, bb: SplitJets) -> float:
    h_s, t_s, h_b, t_b = _by_class(hl, bb, hl.values["score"], bb.values["score"])
    return ado(h_s, t_s, h_b, t_b)


def _next_observable(hl: SplitJets, bb: SplitJets, candidates: SplitJets, chosen: list[str]) -> dict | None:
    """The candidate with the highest ADO[black box] on the pairs the high-level model orders differently; None
    when every candidate is chosen."""
    i, j = hl.aligned(bb)
    common_keys = hl.keys[i]
    k = np.searchsorted(candidates.keys, common_keys)
    k = np.minimum(k, len(candidates.keys) - 1)
    held = candidates.keys[k] == common_keys
    if not held.all():
        raise ValueError(f"guided search: {int((~held).sum())} jet(s) of the selection split have no candidate values")
    signal = hl.label[i] == 1
    h, t = hl.values["score"][i], bb.values["score"][j]
    disagreement = Disagreement(h[signal], t[signal], h[~signal], t[~signal])
    scored = []
    for name in candidates.values:
        if name in chosen:
            continue
        e = candidates.values[name][k]
        scored.append((disagreement.ado(e[signal], e[~signal]), name))
    if not scored:
        return None
    scored.sort(reverse=True)
    best = scored[0][1]
    return {
        "best": best,
        "row": {
            "disagreement_fraction": disagreement.fraction,
            "next_candidates": [{"column": n, "ado": v} for v, n in scored[:TOP_CANDIDATES]],
        },
    }


def _high_level(search: GuidedSearch, columns: list[str], folder: Path, mapper, progress) -> dict[str, SplitJets]:
    """The high-level model of one step on the test and selection splits (values: per-seed "logits" and their
    mean "score")."""
    splits = ("test", search.select_split)
    if search.high_level == "dnn":
        train_ensemble(
            str(search.jets),
            search.model_config(columns),
            search.training,
            list(search.seeds),
            str(folder),
            mapper,
            progress=False,
        )
        ensemble = Ensemble.load(folder)  # its spec carries the selection and pT weights training used
        members = ensemble.load_members()
        return {split: split_jets(JetTables(search.jets, ensemble.spec), split, [], members) for split in splits}
    # selected and weighted as a training of the same columns would be, so that its AUC counts jets as the DNN's
    tables = training_tables(search.jets, search.model_config(columns), search.training)
    return _gbdt(search, tables, columns, folder, splits)


def _gbdt(search: GuidedSearch, tables: JetTables, columns: list[str], folder: Path, splits) -> dict:
    """One histogram GBDT per seed on the training split (class-balanced weights, as the DNN's), scored with
    its raw log-odds (``decision_function``: they order jets as the probabilities do, and no clipping ties the
    saturated ones)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = split_jets(tables, "train", columns)
    x = np.stack([train.values[c] for c in columns], 1)
    weight = train.weight.copy()
    if search.training.class_balance:
        sums = np.array([weight[train.label == c].sum() for c in (0, 1)])
        weight *= (sums.sum() / (2 * sums))[train.label]
    evaluated = {split: split_jets(tables, split, columns) for split in splits}
    logits: dict[str, list[np.ndarray]] = {split: [] for split in splits}
    for seed in search.seeds:
        model = HistGradientBoostingClassifier(
            max_iter=300, early_stopping=True, validation_fraction=0.2, random_state=seed
        )
        model.fit(x, train.label, sample_weight=weight)
        for split, jets in evaluated.items():
            # the raw log-odds: unclipped, so no saturated jets tie
            logits[split].append(model.decision_function(np.stack([jets.values[c] for c in columns], 1)))
    out = {}
    for split, jets in evaluated.items():
        stacked = np.stack(logits[split])
        out[split] = SplitJets(jets.keys, jets.label, jets.weight, {"logits": stacked, "score": stacked.mean(0)})
    make_dirs(folder)
    write_json(
        folder / "gbdt.json",
        {
            "columns": columns,
            "seeds": list(search.seeds),
            "auc": _auc_summary(out["test"], out["test"].values["logits"]),
        },
    )
    return out
