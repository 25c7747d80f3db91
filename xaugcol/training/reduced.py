"""Reduced sets: retrain the XAUG DNN on the k most relevant variables, k = 1..n, each as an ensemble, and tabulate
performance against k.

This tests the claim of Agarwal, Rappoccio et al. (arXiv:2011.13466) that "a set of XAUG variables can replace
long lists of particle-level information".
"""

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
    """Train one ensemble per k on the k most relevant XAUG variables, in ``out/top<k>`` (k two digits: ``top01``).

    Parameters
    ----------
    data : str or Path
        The processing output folder of the jet tables.
    ranking : list of str
        The XAUG variables, the most relevant first.
    base : ModelConfig
        The tagger retrained: one that takes the XAUG variables alone; its ``xaug_columns`` are replaced per k.
    training : TrainConfig
        The training settings.
    seeds : list of int
        One random-number seed per ensemble member.
    out : str or Path
        The folder of the ensembles and of ``reduced.json``.
    ks : list of int, optional
        The set sizes, each in 1..len(ranking); None: every size.
    mapper : Mapper, default ``map``
        How the members of an ensemble are trained (``map``: one after the other).
    progress : bool, default False
        Show progress bars.

    Returns
    -------
    list of dict
        One row per k: ``k``, ``variables`` and per metric of ``METRICS`` its ``mean``, ``std`` and ``values`` over
        the members; also written to ``out/reduced.json`` with the ranking and the seeds.

    Raises
    ------
    ValueError
        If ``base`` takes more than the XAUG variables, ``ranking`` is empty, or a k is out of range.
    """
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
