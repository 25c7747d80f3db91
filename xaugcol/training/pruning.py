"""Roy and Neubauer's (ICHEP 2022) retrainings after occlusion: a tagger retrained on a reduced feature set, from
scratch and with its weights preloaded from the baseline, without the features that act like a bias, and a squeezed
version of it.

A reduced feature set keeps the tagger's architecture and holds the dropped features at zero after scaling
(``ModelConfig.masked``): their first-layer weights multiply zero, which is the network without those input
columns. Preloading starts every member from the baseline member of the same seed (all its weights: the kept
features' first-layer weights and every later layer). The comparison, per retraining:

* AUC and signal efficiencies on the test split (mean and spread over the members);
* epochs and training seconds until the validation AUC first reaches the baseline's (within ``tolerance``), per
  member (None where it never does); Roy and Neubauer report preloading about three times faster;
* fidelity, F = 1 - mean |y_baseline - y_retrained| over the test jets (y the sigmoid scores, member by member):
  how closely the retrained tagger reproduces the baseline's decisions, not only its AUC.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from xaugcol.models.folder import load_test_predictions
from xaugcol.models.registry import ModelConfig
from xaugcol.paths import read_json
from xaugcol.training.metrics import summarise
from xaugcol.training.train import TrainConfig, train_ensemble

if TYPE_CHECKING:
    from xaugcol.processing.executors import Mapper

TOLERANCE = 0.001  # of the AUC: "reaching the baseline" within a tenth of a percent


def _member(folder: Path):
    """(seed, model, its data spec with its training selection, its scalers) of one member folder."""
    from xaugcol.models.folder import load_model, read_config
    from xaugcol.training.data import DataSpec
    from xaugcol.training.pt_spectrum import PtWeights

    config, raw = read_config(folder)
    t = raw.get("training") or {}
    # the pT weights it was trained with (match_pt): its validation AUC is weighted as training's history is
    weights = raw.get("pt_weights")
    pt_weights = None if weights is None else PtWeights.from_dict(weights, str(folder / "config.yaml"))
    spec = DataSpec.of(
        config, t.get("msd_window", False), t.get("matched_signal", False), t.get("pt_range"), pt_weights
    )
    model, _, scalers = load_model(folder)
    return int(raw.get("seed", folder.name.removeprefix("seed_"))), model, spec, scalers


def baseline_validation_auc(folder: Path, data: str | Path) -> dict[int, float]:
    """Evaluate, per member seed, the validation AUC of the trained baseline on the jet tables ``data``.

    Evaluated anew, with each member's own training selection and scalers: folders written before the training
    history recorded it qualify too.

    Parameters
    ----------
    folder : Path
        The baseline's ensemble folder (its ``seed_*`` members).
    data : str or Path
        The processing output folder (or its ``jets/``) of the jet tables.

    Returns
    -------
    dict of int to float
        Member seed to its weighted AUC on the validation split.
    """
    from sklearn.metrics import roc_auc_score

    from xaugcol.training.data import JetTables
    from xaugcol.training.train import evaluate

    out = {}
    for member in sorted(Path(folder).glob("seed_*")):
        seed, model, spec, scalers = _member(member)
        scores, labels, weights, _ = evaluate(model, JetTables(data, spec), "val", spec.inputs, "cpu", scalers)
        out[seed] = float(roc_auc_score(labels, scores, sample_weight=weights))
    return out


def reach(history: list[dict], target: float) -> tuple[int | None, float | None]:
    """Find the epochs and training seconds until the validation AUC first reaches ``target``.

    Parameters
    ----------
    history : list of dict
        A member's training history (``metrics.json``): per epoch ``epoch`` (from 0), ``train_seconds`` and
        ``val_auc``.
    target : float
        The validation AUC to reach (NaN: never reached).

    Returns
    -------
    epochs : int or None
        The number of epochs run until the AUC first reaches ``target``; None if never.
    seconds : float or None
        The optimisation seconds summed over those epochs; None if never.
    """
    seconds = 0.0
    for record in history:
        seconds += record["train_seconds"]
        if record.get("val_auc", -1.0) >= target:
            return record["epoch"] + 1, seconds
    return None, None


def fidelity(baseline: Path, retrained: Path) -> float:
    """Compute the fidelity, 1 - mean |y_baseline - y_retrained|, over the test jets of one member each.

    The two members' test predictions must be of the same jets, in the same order (both evaluated the same split
    of the same tables); only their number is checked.

    Parameters
    ----------
    baseline : Path
        The baseline's member folder (its ``test_predictions.npz``).
    retrained : Path
        The retrained member's folder.

    Returns
    -------
    float
        The fidelity: 1 where the sigmoid scores agree on every jet.

    Raises
    ------
    ValueError
        If the two were tested on different numbers of jets.
    """
    a, b = load_test_predictions(baseline)["score"], load_test_predictions(retrained)["score"]
    if a.shape != b.shape:
        raise ValueError(f"fidelity: {baseline} and {retrained} were tested on different jets")
    return float(1.0 - np.abs(a - b).mean())


def retrain(
    data: str | Path,
    base: ModelConfig,
    baseline: Path,
    training: TrainConfig,
    seeds: list[int],
    out: Path,
    masked: Iterable[str] = (),
    architecture: dict | None = None,
    preload: bool = False,
    mapper: Mapper = map,
    progress: bool = False,
) -> dict:
    """Retrain the baseline once into ``out`` and compare the retraining with the baseline.

    The retraining holds the ``masked`` features at zero, changes the ``architecture`` options (a squeezed model),
    and has its weights preloaded from the baseline or not.

    Parameters
    ----------
    data : str or Path
        The processing output folder (or its ``jets/``) of the jet tables.
    base : ModelConfig
        The baseline's configuration.
    baseline : Path
        The baseline's ensemble folder.
    training : TrainConfig
        The training settings.
    seeds : list of int
        One random-number seed per member (preloading starts each from the baseline member of the same seed).
    out : Path
        The retraining's ensemble folder.
    masked : iterable of str, default ()
        The features held at zero after scaling (``ModelConfig.masked``).
    architecture : dict, optional
        Architecture options that replace the baseline's (a squeezed model); None: the baseline's.
    preload : bool, default False
        Start every member from the baseline's weights instead of a fresh initialisation.
    mapper : Mapper, default ``map``
        Dispatches the members (``train_ensemble``).
    progress : bool, default False
        Show progress bars.

    Returns
    -------
    dict
        ``masked``, ``architecture``, ``preloaded``, ``parameters`` (``parameter_count``), ``wall_seconds``, per
        member its seed, baseline validation AUC, epochs and seconds to reach it, epochs run and fidelity
        (``members``), the test metrics (``summary``), the ``fidelity`` over the members, ``reached_baseline`` (how
        many members reached it) and ``epochs_to_baseline`` and ``seconds_to_baseline`` over those (None if none
        did).
    """
    # validated again: the masked names, the architecture options
    config = base.replaced(masked=list(masked), architecture={**base.architecture, **(architecture or {})})
    started = time.perf_counter()
    summary = train_ensemble(
        str(data),
        config,
        training,
        list(seeds),
        str(out),
        mapper,
        progress,
        init_from=str(baseline) if preload else None,
    )
    wall = time.perf_counter() - started
    targets = baseline_validation_auc(baseline, data)
    members = []
    for member in summary["members"]:
        seed = int(member.removeprefix("seed_"))
        metrics = _metrics(out / member)
        epochs, seconds = reach(metrics["history"], targets.get(seed, np.nan) - TOLERANCE)
        members.append(
            {
                "seed": seed,
                "baseline_val_auc": targets.get(seed),
                "epochs_to_baseline": epochs,
                "seconds_to_baseline": seconds,
                "epochs_run": metrics["epochs_run"],
                "fidelity": fidelity(baseline / f"seed_{seed}", out / member),
            }
        )
    reached = [m for m in members if m["epochs_to_baseline"] is not None]
    return {
        "masked": list(masked),
        "architecture": architecture or {},
        "preloaded": preload,
        "parameters": parameter_count(out),
        "wall_seconds": wall,
        "members": members,
        "summary": {k: summary["summary"][k] for k in ("auc", "sig_eff_at_bkg_0.01", "sig_eff_at_bkg_0.1")},
        "fidelity": summarise([{"f": m["fidelity"]} for m in members])["f"],
        "reached_baseline": len(reached),
        "epochs_to_baseline": summarise([{"e": m["epochs_to_baseline"]} for m in reached])["e"] if reached else None,
        "seconds_to_baseline": summarise([{"s": m["seconds_to_baseline"]} for m in reached])["s"] if reached else None,
    }


def inference_ratio(baseline: Path, other: Path, data: str | Path, jets: int = 512, repeats: int = 5) -> float:
    """Measure the inference time of ``other``'s first member over ``baseline``'s on the same test jets of ``data``.

    Each runs with its own scalers, measured in this process (best of ``repeats``, after a warm-up): the squeezed
    model's speed-up as a ratio, which a noisy machine keeps.

    Parameters
    ----------
    baseline : Path
        The baseline's ensemble folder.
    other : Path
        The other ensemble folder (e.g. a squeezed retraining).
    data : str or Path
        The processing output folder (or its ``jets/``) of the jet tables.
    jets : int, default 512
        The number of test jets in the one batch timed.
    repeats : int, default 5
        Timed passes per model; the fastest counts.

    Returns
    -------
    float
        ``other``'s time over ``baseline``'s (below 1: ``other`` is faster).
    """
    from xaugcol.training.data import JetTables

    timings = []
    for folder in (baseline, other):
        _, model, spec, scalers = _member(sorted(Path(folder).glob("seed_*"))[0])
        batch = next(JetTables(data, spec).batches("test", jets, seed=None, scalers=scalers))
        inputs = tuple(torch.from_numpy(batch[k]) for k in spec.inputs)
        with torch.no_grad():
            model(*inputs)  # warm-up
            best = np.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                model(*inputs)
                best = min(best, time.perf_counter() - t0)
        timings.append(best)
    return timings[1] / timings[0]


def _metrics(folder: Path) -> dict:
    from xaugcol.models.folder import METRICS

    return read_json(folder / METRICS, "an ensemble's metrics.json")


def parameter_count(folder: Path) -> int:
    """Count the parameters of an ensemble's (first) member.

    Parameters
    ----------
    folder : Path
        The ensemble folder.

    Returns
    -------
    int
        The number of parameters (every entry of ``model.parameters()``, trainable or not) of its first ``seed_*``
        member, by name.
    """
    from xaugcol.models.folder import load_model

    model, _, _ = load_model(sorted(Path(folder).glob("seed_*"))[0])
    return int(sum(p.numel() for p in model.parameters()))
