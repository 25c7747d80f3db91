"""Reduced sets (seed: "a set of XAUG variables can replace long lists of particle-level information"): retrain
the XAUG DNN on the k most relevant variables, k = 1..n, each as an ensemble, and tabulate performance against k."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xaugcol.atomic import write_json
from xaugcol.models.registry import ModelConfig
from xaugcol.training.train import TrainConfig, train_ensemble

if TYPE_CHECKING:
    from xaugcol.processing.executors import Mapper

REDUCED_JSON = "reduced.json"
METRICS = ("auc", "sig_eff_at_bkg_0.01", "sig_eff_at_bkg_0.1")


def train_reduced_sets(
    data: str | Path,
    ranking: list[str],
    base: ModelConfig,
    training: TrainConfig,
    seeds: list[int],
    out: str | Path,
    ks: list[int] | None = None,
    mapper: Mapper = map,
    progress: bool = False,
) -> list[dict]:
    """One ensemble per k in ``out/top<k>``; returns (and writes to ``out/reduced.json``) one row per k:
    {"k", "variables", metric: {"mean", "std", "values"}}."""
    if base.inputs() != ("xaug",):
        raise ValueError(
            f"reduced sets retrain the XAUG DNN (or another tagger of the XAUG variables alone), got "
            f"model {base.model!r} taking {', '.join(base.inputs())}"
        )
    if not ranking:
        raise ValueError("reduced sets need a non-empty ranking of XAUG variables")
    ks = list(ks) if ks is not None else list(range(1, len(ranking) + 1))
    bad = [k for k in ks if not (isinstance(k, int) and 1 <= k <= len(ranking))]
    if bad:
        raise ValueError(f"reduced-set sizes must be in 1..{len(ranking)} (the ranked variables), got {bad}")
    out = Path(out)
    rows = []
    for k in ks:
        config = base.replaced(xaug_columns=list(ranking[:k]))
        result = train_ensemble(str(data), config, training, list(seeds), str(out / f"top{k:02d}"), mapper, progress)
        rows.append({"k": k, "variables": list(ranking[:k]), **{m: result["summary"][m] for m in METRICS}})
    write_json(out / REDUCED_JSON, {"ranking": list(ranking), "seeds": list(seeds), "rows": rows})
    return rows
