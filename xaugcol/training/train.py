"""Training: one ensemble member (``train_member``) and ensembles of K seeds (``train_ensemble``).

A member is a pure function of (data folder, model config, training config, seed, output folder): it can run in
this process, in a process pool or as a Dask task (pass the client's ``map`` as ``mapper``). Each writes its
own tagger folder, which appears complete or not at all (written under a temporary name, then renamed); the
ensemble folder holds the members and, written last, the summary (mean and spread over the seeds) that marks it
complete. Before anything is written the data are checked (the listed tables, the tagger's columns, jets of both
classes in the training split), so a training that cannot start leaves no folder behind. Training an ensemble
first removes the summary and the members of an earlier one in that folder: only member folders training
provably wrote (``is_member_folder``); anything else named like a member is refused before anything is removed.
The processing folder is read-locked while an ensemble trains: a run that would rewrite its tables is refused.
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import tempfile
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from xaugcol.allocator import reuse_freed_memory
from xaugcol.atomic import atomic_folder, remove, remove_temporaries, write_json
from xaugcol.config_models import Bool, ConfigModel, PositiveInt, PositiveNumber, validated
from xaugcol.console import progress_bar
from xaugcol.errors import UsageError
from xaugcol.features.scaler import InputScalers
from xaugcol.limits import MAX_SEEDS, MAX_WORKERS
from xaugcol.models import batching
from xaugcol.models.folder import METRICS, export_onnx, is_member_folder, save_model, save_test_predictions
from xaugcol.models.registry import ModelConfig, build_model
from xaugcol.output_folder import OutputExistsError, output_lock, read_lock
from xaugcol.processing.table_fileset import processed_folder
from xaugcol.training.data import DataSpec, JetTables, TrainingDataError
from xaugcol.training.domain import domain_columns, fit_domain
from xaugcol.training.member_pool import discard_pool, member_pool, threads_per_process
from xaugcol.training.metrics import performance, summarise
from xaugcol.training.pt_spectrum import PtWeights

if TYPE_CHECKING:
    from xaugcol.processing.executors import Mapper


class TrainConfig(ConfigModel):
    """How an ensemble member trains (the ``training`` section of a study); validated as a configuration."""

    epochs: PositiveInt = 20
    batch_size: PositiveInt = 256
    learning_rate: PositiveNumber = 1e-3
    patience: PositiveInt = 3  # epochs without a better validation loss before stopping
    msd_window: Bool = False  # train and evaluate on jets inside the mSD window only
    class_balance: Bool = True  # equal summed weight per class in training
    matched_signal: Bool = False  # signal jets must contain their generated boson (needs Pythia truth columns)
    pt_range: tuple[PositiveNumber, PositiveNumber] | None = None  # GeV: jets with low <= pt < high only
    match_pt: Bool = False  # background reweighted to the signal's pT spectrum (xaugcol.training.pt_spectrum)
    buffer_jets: PositiveInt = 20_000  # shuffle buffer
    device: Literal["auto", "cpu", "cuda"] = "auto"  # "auto": CUDA when present, else CPU
    # members trained side by side, each in a process of this machine (xaugcol.training.member_pool; a study on
    # a Dask cluster trains them as tasks there instead)
    processes: PositiveInt = Field(1, le=MAX_WORKERS)
    # torch threads of a member (None: torch's default alone, the cores shared evenly among the processes); a
    # convolution tagger's weights depend on it
    threads: PositiveInt | None = Field(None, le=MAX_WORKERS)

    @model_validator(mode="after")
    def _pt_range_ordered(self):
        if self.pt_range is not None and not self.pt_range[0] < self.pt_range[1]:
            raise ValueError(f"pt_range: the low edge must be below the high one, got {list(self.pt_range)}")
        return self

    @classmethod
    def from_dict(cls, data: dict, where: str = "training config") -> TrainConfig:
        """Read the validated settings of a mapping (YAML); errors name ``where`` and the field.

        Parameters
        ----------
        data : dict
            The ``training`` section as read.
        where : str, default "training config"
            The file or section, named in an error.

        Returns
        -------
        TrainConfig
            The settings, defaults filled in.

        Raises
        ------
        ValueError
            If a field is unknown or invalid, naming ``where`` and the field.
        """
        return validated(cls, data, where)


class DivergedError(UsageError):
    """The loss became NaN or infinite: the settings (a learning rate too large) cannot train this tagger."""


def pick_device(name: str) -> torch.device:
    """Pick the torch device named ``name``.

    Parameters
    ----------
    name : str
        ``cpu``, ``cuda``, ``cuda:1``, ...; ``auto``: a GPU if there is one, else the CPU.

    Returns
    -------
    torch.device
        The device.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _to_tensors(batch: dict, names: tuple[str, ...], device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(batch[n]).to(device) for n in names)


def _class_factors(labels: np.ndarray, weights: np.ndarray, balance: bool) -> np.ndarray:
    """Per-class multipliers: each class sums to half the total weight (or 1, 1 without balancing)."""
    if not balance:
        return np.ones(2)
    sums = np.array([weights[labels == k].sum() for k in (0, 1)])
    if np.any(sums <= 0):
        raise ValueError("the training split needs jets of both classes with positive total weight")
    return sums.sum() / (2 * sums)


def _targets(batch, device, factors) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, per-jet weights with the class factors) of a batch, as tensors."""
    w = batch["weight"] * factors[batch["label"].astype(int)]
    return torch.from_numpy(batch["label"]).to(device), torch.from_numpy(w.astype(np.float32)).to(device)


def _weighted_loss(logits: torch.Tensor, batch, device, factors) -> tuple[torch.Tensor, float]:
    """(weighted mean loss, summed weight) of a batch's logits."""
    target, w = _targets(batch, device, factors)
    per_jet = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (per_jet * w).sum() / w.sum(), float(w.sum())


def learn(
    model: torch.nn.Module,
    batch: dict[str, np.ndarray],
    names: tuple[str, ...],
    device: torch.device,
    factors: np.ndarray,
) -> tuple[torch.Tensor, float]:
    """Compute the weighted mean loss of a training batch, its gradient accumulated into the parameters.

    A tagger that trims padding (``xaugcol.models.batching``) runs the batch in the planned pieces, each cut to its
    longest jet: the same loss and gradient (sums over jets), from tensors that the allocator reuses instead of
    mapping hundreds of MiB per layer; any other runs it whole. The loss is the binary cross entropy of the logits,
    weighted by the jets' weights times their class factors.

    Parameters
    ----------
    model : torch.nn.Module
        The tagger, in training mode; it returns one logit per jet.
    batch : dict of str to numpy.ndarray
        A batch of ``JetTables.batches``: the inputs by name, ``label`` (float32) and ``weight``.
    names : tuple of str
        The tagger's input names, in the order of its ``forward`` arguments.
    device : torch.device
        Where the model is.
    factors : numpy.ndarray
        Per-class weight multipliers, shape (2,): background, signal.

    Returns
    -------
    loss : torch.Tensor
        The weighted mean loss, a detached scalar.
    weight : float
        The batch's summed weight (class factors included).
    """
    tensors = _to_tensors(batch, names, device)
    target, w = _targets(batch, device, factors)
    total, loss = w.sum(), torch.zeros((), device=device)
    for piece in batching.plan(model, tensors, None).batches:
        per_jet = torch.nn.functional.binary_cross_entropy_with_logits(
            model(*piece.take(tensors)), target[piece.rows], reduction="none"
        )
        part = (per_jet * w[piece.rows]).sum() / total
        part.backward()
        loss = loss + part.detach()
    return loss, float(total)


BN_REFRESH_BATCHES = 20


def _refresh_batch_norm(model, tables, names, device, scalers, seed, cfg) -> None:
    """ "Precise batch norm": recompute the running statistics with the epoch's final weights (a cumulative average
    over a few training batches) before the model is evaluated or kept. Statistics accumulated while the weights
    still moved would not describe the model that is saved."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        batches = tables.batches("train", cfg.batch_size, seed=seed + 1, buffer_jets=cfg.buffer_jets, scalers=scalers)
        for k, batch in enumerate(batches):
            if k == BN_REFRESH_BATCHES:
                break
            model(*_to_tensors(batch, names, device))


def evaluate(
    model: torch.nn.Module,
    tables: JetTables,
    split: str,
    names: tuple[str, ...],
    device: torch.device | str,
    scalers: InputScalers | None,
    batch_size: int = 1024,
) -> tuple[np.ndarray, ...]:
    """Score a whole split with the tagger, in a fixed order (unshuffled).

    Parameters
    ----------
    model : torch.nn.Module
        The tagger; it is put in inference mode.
    tables : JetTables
        The jet tables.
    split : str
        ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
    names : tuple of str
        The tagger's input names, in the order of its ``forward`` arguments.
    device : torch.device or str
        Where the model is.
    scalers : InputScalers or None
        The tagger's input scalers; None: inputs unscaled.
    batch_size : int, default 1024
        Jets per batch.

    Returns
    -------
    scores : numpy.ndarray
        The sigmoid of each jet's logit, shape (jets,).
    labels : numpy.ndarray
        The jets' labels (float32).
    weights : numpy.ndarray
        The jets' weights (the tables' ``weight``, pT-reweighted where the tables' spec reweights; no class
        factors).
    pt : numpy.ndarray
        The jets' pT (GeV); NaN where the tables have none.

    Raises
    ------
    ValueError
        If the split is empty.
    """
    scores, labels, weights, pt = [], [], [], []
    model.eval()
    with torch.no_grad():
        for batch in tables.batches(split, batch_size, seed=None, scalers=scalers):
            tensors = _to_tensors(batch, names, device)
            logits = batching.logits(model, tensors, batching.plan(model, tensors, None))
            scores.append(torch.sigmoid(logits).cpu().numpy())
            labels.append(batch["label"])
            weights.append(batch["weight"])
            pt.append(batch.get("pt", np.full(len(batch["label"]), np.nan)))
    if not scores:
        raise ValueError(f"the {split} split is empty")
    return tuple(np.concatenate(v) for v in (scores, labels, weights, pt))


def training_tables(data: str | Path, model_config: ModelConfig, train_config: TrainConfig) -> JetTables:
    """Open the jet tables a training of ``model_config`` reads, with its selection.

    With ``match_pt`` the background is reweighted to the signal's pT spectrum, fitted first on the training split
    (the weights then enter every split's jets).

    Parameters
    ----------
    data : str or Path
        The processing output folder (or its ``jets/``).
    model_config : ModelConfig
        The tagger: its input kinds and masked features.
    train_config : TrainConfig
        The training settings: ``msd_window``, ``matched_signal``, ``pt_range`` and ``match_pt``.

    Returns
    -------
    JetTables
        The tables, their ``spec`` holding the selection and, with ``match_pt``, the fitted ``PtWeights``.
    """
    spec = DataSpec.of(model_config, train_config.msd_window, train_config.matched_signal, train_config.pt_range)
    tables = JetTables(data, spec)
    if not train_config.match_pt:
        return tables
    kinematics = tables.scan("train", ["label", "weight", "pt"])
    pt_weights = PtWeights.fit(kinematics["pt"], kinematics["label"], kinematics["weight"], train_config.pt_range)
    return JetTables(data, replace(spec, pt_weights=pt_weights))


def check_training_data(data: str | Path, model_config: ModelConfig, train_config: TrainConfig) -> None:
    """Check what every member would find out only after minutes.

    The tables are the processing's listed ones and hold the tagger's columns (``JetTables``), and the training
    split has jets of both classes with positive weight.

    Parameters
    ----------
    data : str or Path
        The processing output folder (or its ``jets/``).
    model_config : ModelConfig
        The tagger.
    train_config : TrainConfig
        The training settings (its selection).

    Raises
    ------
    TrainingDataError
        If the tables do not fit the tagger, or the training split lacks a class or its positive total weight.
    """
    tables = training_tables(data, model_config, train_config)
    scan = tables.scan("train", ["label", "weight"])
    counts = {k: int(np.sum(scan["label"] == k)) for k in (1, 0)}
    weights = {k: float(scan["weight"][scan["label"] == k].sum()) for k in (1, 0)}
    if min(counts.values()) == 0 or min(weights.values()) <= 0:
        raise TrainingDataError(
            f"{tables.folder}: the training split has {counts[1]} signal and {counts[0]} "
            "background jet(s) (positive total weight needed in each): training needs both "
            "classes"
        )


def train_member(
    data: str,
    model_config: ModelConfig,
    train_config: TrainConfig,
    seed: int,
    out: str,
    progress: bool = False,
    init_from: str | None = None,
) -> dict:
    """Train one tagger, write its folder ``out`` and return its metrics.

    Training stops early after ``patience`` epochs without a better validation loss, and the epoch of the best
    validation loss is kept. The torch thread count is set to ``train_config.threads`` (if given) meanwhile.

    Parameters
    ----------
    data : str
        The processing output folder (or its ``jets/``).
    model_config : ModelConfig
        The tagger; its input shapes are taken from the data.
    train_config : TrainConfig
        The training settings.
    seed : int
        The random-number seed of the initial weights and of the batches' shuffling.
    out : str
        The member folder to write (complete or not at all).
    progress : bool, default False
        Show a progress bar.
    init_from : str, optional
        A tagger ensemble folder whose member of the same seed (else its first) gives the starting weights instead
        of a fresh initialisation (Roy and Neubauer's (ICHEP 2022) preloading: a retraining on a reduced feature
        set starts from the baseline); None: a fresh initialisation.

    Returns
    -------
    dict
        The test-split metrics (``performance``) with ``seed``, ``best_epoch``, ``best_val_loss``, ``epochs_run``,
        ``history`` (per epoch: losses, validation AUC, seconds), ``device`` and ``onnx_max_abs_diff``.

    Raises
    ------
    DivergedError
        If the loss becomes NaN or infinite.
    """
    reuse_freed_memory()  # the member's passes reuse their freed tensors (xaugcol.allocator)
    threads = torch.get_num_threads()
    if train_config.threads is not None:
        torch.set_num_threads(train_config.threads)
    try:
        return _train_member(data, model_config, train_config, seed, out, progress, init_from)
    finally:
        torch.set_num_threads(threads)


def _train_member(
    data,
    model_config: ModelConfig,
    train_config: TrainConfig,
    seed: int,
    out: str,
    progress: bool,
    init_from: str | None,
) -> dict:
    device = pick_device(train_config.device)
    tables = training_tables(data, model_config, train_config)
    spec, pt_weights = tables.spec, tables.spec.pt_weights
    model_config = model_config.with_shapes(tables.shapes())  # the shapes of the inputs, from the data
    names = model_config.inputs()

    xaug = [c for kind in spec.kinds if kind.jet_scalars for c in kind.columns()]
    ranged = tables.present(domain_columns(xaug))
    scan = tables.scan("train", list(dict.fromkeys(["label", "weight", *xaug, *ranged])))  # one read for all
    domain = fit_domain(scan, ranged)  # where the tagger may be applied without extrapolating
    scalers = InputScalers.of({kind.name: kind.fit_scaler(tables, scan) for kind in spec.kinds if kind.scaled})
    factors = _class_factors(scan["label"].astype(int), scan["weight"], train_config.class_balance)

    torch.manual_seed(seed)
    model = build_model(model_config)
    if init_from is not None:
        _preload(model, Path(init_from), seed)
    model = model.to(device)
    if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        # image convolutions and their batch norms in channels-last memory: the same network, a training step
        # 1.5x faster on CPU (oneDNN's layout; the saved weights load into any layout)
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it
    optimiser = torch.optim.Adam(model.parameters(), lr=train_config.learning_rate)
    best: dict[str, Any] = {"val_loss": np.inf, "epoch": -1, "state": None}
    history: list[dict[str, Any]] = []
    label = f"{model_config.model}{'+xaug' if model_config.joins_xaug else ''} seed {seed}"
    per_epoch = -(-len(scan["label"]) // train_config.batch_size)  # batches: the remainder of a round is kept
    epochs = train_config.epochs
    with progress_bar("batches", progress) as bars:
        task = bars.add_task(f"{label} epoch 1/{epochs}", total=epochs * per_epoch, status="")
        for epoch in range(epochs):
            started = time.perf_counter()
            model.train()
            total, norm = 0.0, 0.0
            batches = tables.batches(
                "train",
                train_config.batch_size,
                seed=seed * 100_003 + epoch,
                buffer_jets=train_config.buffer_jets,
                scalers=scalers,
            )
            last_val = f", val {history[-1]['val_loss']:.4f}" if history else ""
            for batch in batches:
                optimiser.zero_grad()
                loss, wsum = learn(model, batch, names, device, factors)
                if not torch.isfinite(loss):  # every later step would be NaN: stop with the reason
                    raise DivergedError(
                        f"{label}: the training diverged (the loss is {loss.item()} in epoch "
                        f"{epoch + 1}): lower the learning rate ({train_config.learning_rate:g})"
                    )
                optimiser.step()
                total, norm = total + loss.detach().item() * wsum, norm + wsum
                bars.update(
                    task,
                    advance=1,
                    description=f"{label} epoch {epoch + 1}/{epochs}",
                    status=f"loss {total / max(norm, 1e-300):.4f}{last_val}",
                )
            epoch_seconds = time.perf_counter() - started  # the optimisation pass alone
            _refresh_batch_norm(model, tables, names, device, scalers, seed * 100_003 + epoch, train_config)
            model.eval()
            with torch.no_grad():
                v_total, v_norm, v_scores, v_labels, v_weights = 0.0, 0.0, [], [], []
                for batch in tables.batches("val", 1024, seed=None, scalers=scalers):
                    tensors = _to_tensors(batch, names, device)
                    logits = batching.logits(model, tensors, batching.plan(model, tensors, None))
                    loss, wsum = _weighted_loss(logits, batch, device, factors)
                    v_total, v_norm = v_total + loss.item() * wsum, v_norm + wsum
                    v_scores.append(logits.cpu().numpy())
                    v_labels.append(batch["label"])
                    v_weights.append(batch["weight"])
            if v_norm == 0:
                raise ValueError(f"the validation split of {data} is empty")
            if not np.isfinite(v_total):  # the last step of the epoch made the weights NaN
                raise DivergedError(
                    f"{label}: the training diverged (the validation loss is not finite after epoch "
                    f"{epoch + 1}): lower the learning rate ({train_config.learning_rate:g})"
                )
            record = {
                "epoch": epoch,
                "train_loss": total / max(norm, 1e-300),
                "val_loss": v_total / v_norm,
                "val_auc": _auc(v_labels, v_scores, v_weights),
                "train_seconds": epoch_seconds,
            }
            history.append(record)
            bars.update(
                task,
                completed=(epoch + 1) * per_epoch,
                status=f"loss {record['train_loss']:.4f}, val {record['val_loss']:.4f}",
            )
            if record["val_loss"] < best["val_loss"]:
                best = {"val_loss": record["val_loss"], "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
            elif epoch - best["epoch"] >= train_config.patience:
                # early stopping: the best model is kept, and the bar ends where training ended
                bars.update(
                    task,
                    total=(epoch + 1) * per_epoch,
                    description=f"{label} stopped {epoch + 1}/{epochs}",
                    status=f"best epoch {best['epoch'] + 1}, val {best['val_loss']:.4f}",
                )
                break

    model.load_state_dict(best["state"])
    scores, labels, weights, test_pt = evaluate(model, tables, "test", names, device, scalers)
    metrics = performance(labels, scores, weights)
    metrics.update(
        {
            "seed": seed,
            "best_epoch": best["epoch"],
            "best_val_loss": best["val_loss"],
            "epochs_run": len(history),
            "history": history,
            "device": str(device),
        }
    )
    example = next(tables.batches("test", 8, seed=None, scalers=scalers))
    with atomic_folder(out) as folder:
        save_model(
            folder,
            model.cpu(),
            model_config,
            scalers,
            metrics,
            {
                "training": train_config.model_dump(),
                "seed": seed,
                "data": str(Path(data).resolve()),
                "domain": domain,
                "domain_jets": len(scan["label"]),
                **({"pt_weights": pt_weights.as_dict()} if pt_weights is not None else {}),
            },
        )
        save_test_predictions(folder, scores, labels, weights, test_pt)
        metrics["onnx_max_abs_diff"] = export_onnx(folder, model, _to_tensors(example, names, "cpu"), names)
        write_json(folder / METRICS, metrics)
    return metrics


def _preload(model: torch.nn.Module, folder: Path, seed: int) -> None:
    """The weights of ``folder``'s member of ``seed`` (or its first member) into ``model``, which must have the
    same architecture (a masked feature keeps its first-layer weights: they multiply zero)."""
    from xaugcol.models.folder import WEIGHTS, load_state_dict

    members = sorted(folder.glob("seed_*"), key=lambda p: p.name != f"seed_{seed}")
    if not members or not (members[0] / WEIGHTS).is_file():
        raise ValueError(f"preloading: no trained member in {folder}")
    try:
        model.load_state_dict(load_state_dict(members[0] / WEIGHTS))
    except RuntimeError as err:
        raise ValueError(f"preloading from {members[0]}: its weights do not fit the tagger: {err}") from None


def _auc(labels, logits, weights) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.concatenate(labels)
    return (
        float(roc_auc_score(y, np.concatenate(logits), sample_weight=np.concatenate(weights)))
        if len(np.unique(y)) == 2
        else float("nan")
    )


def train_ensemble(
    data: str,
    model_config: ModelConfig,
    train_config: TrainConfig,
    seeds: list[int],
    out: str | Path,
    mapper: Mapper = map,
    progress: bool = False,
    init_from: str | None = None,
) -> dict:
    """Train one member per seed and write ``out/metrics.json`` with every member and the mean / spread over them.

    ``out`` is locked meanwhile, and the data folder read-locked. The members train into a staging folder inside
    ``out``; an earlier ensemble there is replaced only once every new member is complete, so a training that fails
    (diverges, is killed, fills the disk) leaves it as it was.

    Parameters
    ----------
    data : str
        The processing output folder (or its ``jets/``).
    model_config : ModelConfig
        The tagger.
    train_config : TrainConfig
        The training settings; with builtin ``map``, ``processes`` > 1 trains members side by side
        (``xaugcol.training.member_pool``).
    seeds : list of int
        One random-number seed per member, distinct, at most ``MAX_SEEDS``; member folders ``seed_<seed>``.
    out : str or Path
        The ensemble folder.
    mapper : Mapper, default ``map``
        Dispatches the members: builtin ``map``, a pool's or a Dask client's map.
    progress : bool, default False
        Show progress bars.
    init_from : str, optional
        A tagger ensemble folder whose members give the starting weights (``train_member``); None: fresh.

    Returns
    -------
    dict
        The summary written to ``out/metrics.json``: ``model``, ``training``, ``seeds``, ``members`` (folder names)
        and ``summary`` (``summarise`` of each member's ``SUMMARY_KEYS``).

    Raises
    ------
    ValueError
        If the seeds are not distinct, none are given or more than ``MAX_SEEDS``.
    """
    seeds = list(seeds)
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"an ensemble needs distinct seeds, got {seeds}")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"an ensemble has at most {MAX_SEEDS} members (xaugcol.limits), got {len(seeds)}")
    with read_lock(processed_folder(data)):  # no run rewrites the tables while the members read them
        check_training_data(data, model_config, train_config)  # before the output folder is made
        folder = Path(out).resolve()  # members may train in other processes, perhaps in another working directory
        check_replaceable(folder)
        with output_lock(folder):
            remove_temporaries(folder)  # a killed run's staging and temporaries: names only xaugcol makes
            staging = Path(tempfile.mkdtemp(prefix=f".members.tmp-{os.getpid()}-", dir=folder))
            try:
                member = functools.partial(
                    _member_entry,
                    data,
                    model_config,
                    train_config,
                    str(staging),
                    progress,
                    None if init_from is None else str(Path(init_from).resolve()),
                )
                members = _train_members(member, list(seeds), train_config, mapper, progress)
                summary = _ensemble_summary(model_config, train_config, seeds, members)
                clear_ensemble(folder)  # the earlier ensemble goes only now: summary first, then its members
                for seed in seeds:
                    os.replace(staging / f"seed_{seed}", folder / f"seed_{seed}")
                write_json(folder / METRICS, summary)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return summary


def check_replaceable(folder: Path) -> list[Path]:
    """List the members of an earlier ensemble in ``folder``, each a member folder training wrote.

    A ``seed_*`` entry that is not one (a link, a folder holding other files) is refused: training never replaces
    it.

    Parameters
    ----------
    folder : Path
        The ensemble folder.

    Returns
    -------
    list of Path
        Its ``seed_*`` member folders, sorted by name (empty if none).

    Raises
    ------
    OutputExistsError
        If a ``seed_*`` entry is not a member folder xaugcol wrote.
    """
    members = sorted(Path(folder).glob("seed_*"))
    foreign = [m for m in members if not is_member_folder(m)]
    if foreign:
        raise OutputExistsError(
            f"{foreign[0]} is not a tagger member folder xaugcol wrote (a link, or a folder "
            "holding other files): training would replace it; move it away or train into "
            "another folder"
        )
    return members


def clear_ensemble(folder: Path) -> None:
    """Remove an earlier ensemble's summary (first: the folder is then marked incomplete) and members.

    Only what training wrote is removed (``check_replaceable``), with the temporaries of killed member writes
    (``.seed_*.tmp-*``).

    Parameters
    ----------
    folder : Path
        The ensemble folder.

    Raises
    ------
    OutputExistsError
        If a ``seed_*`` entry is not a member folder xaugcol wrote (nothing is removed then).
    """
    members = check_replaceable(folder)
    remove(folder / METRICS)
    for member in [*members, *folder.glob(".seed_*.tmp-*")]:
        remove(member)


def _ensemble_summary(model_config: ModelConfig, train_config: TrainConfig, seeds, members: list[dict]) -> dict:
    return {
        "model": model_config.as_dict(),
        "training": train_config.model_dump(),
        "seeds": list(seeds),
        "members": [f"seed_{s}" for s in seeds],
        "summary": summarise([{k: v for k, v in m.items() if k in SUMMARY_KEYS} for m in members]),
    }


SUMMARY_KEYS = ("auc", "sig_eff_at_bkg_0.01", "sig_eff_at_bkg_0.1", "best_epoch", "epochs_run")


def _train_members(member, seeds: list[int], train_config: TrainConfig, mapper, progress: bool) -> list[dict]:
    """Every seed's member: through ``mapper`` (a Dask client's), or without one side by side in
    ``train_config.processes`` processes of this machine, or one after the other."""
    if mapper is not map or train_config.processes == 1 or len(seeds) == 1:
        return list(mapper(member, seeds))
    shape = (train_config.processes, threads_per_process(train_config.processes, train_config.threads))
    try:
        return member_pool(*shape).map(member, seeds, progress)
    except BrokenProcessPool as err:  # a member process died (killed, out of memory): the next run starts anew
        discard_pool(*shape)
        raise RuntimeError(
            f"a process training ensemble members stopped without an answer ({err}): see the "
            f"system's log (out of memory?) and run again"
        ) from None


def _member_entry(data, model_config, train_config, out, progress, init_from, seed):
    return train_member(data, model_config, train_config, seed, str(Path(out) / f"seed_{seed}"), progress, init_from)
