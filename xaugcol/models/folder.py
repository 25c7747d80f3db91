"""Tagger folders (docs/design.md): ``config.yaml``, ``model.pt`` (state_dict only), ``scaler.json``, ``metrics.json``
and ``model.onnx``. Written atomically; loaded with ``torch.load(..., weights_only=True)``: a file carrying
anything but tensors (e.g. a pickled code payload) is refused, never executed. ``scaler.json`` holds one scaler
per scaled input kind (XAUG variables, particle features), each with plausible numbers for exactly the tagger's
columns or features and its scaling. ``folder_digest`` fingerprints every file of a folder, so a run
that resumes can prove it explains the same models. Every file is read only when it is a regular file
(``xaugcol.paths``: a FIFO would block), ``config.yaml`` within the limits of ``xaugcol.config_models.read_yaml``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml

from xaugcol.atomic import atomic_path, write_json
from xaugcol.config_models import read_yaml
from xaugcol.console import VERBOSE, quiet_library_warnings, verbosity
from xaugcol.features.scaler import InputScalers
from xaugcol.models.errors import ModelFileError
from xaugcol.models.registry import ModelConfig, build_model, legacy_architecture
from xaugcol.paths import check_regular

CONFIG, WEIGHTS, SCALER, METRICS, ONNX = "config.yaml", "model.pt", "scaler.json", "metrics.json", "model.onnx"
TEST_PREDICTIONS = "test_predictions.npz"  # score, label, weight, pt of every test jet, in the tables' order
MEMBER_FILES = (CONFIG, WEIGHTS, SCALER, METRICS, ONNX, TEST_PREDICTIONS)  # everything training writes in a member


def save_model(
    folder: str | Path,
    model: torch.nn.Module,
    config: ModelConfig,
    scalers: InputScalers,
    metrics: dict,
    extra_config: dict | None = None,
) -> Path:
    """Write a tagger folder (each file atomically): the weights, the scalers, ``config.yaml`` and ``metrics.json``.

    Parameters
    ----------
    folder : str or Path
        The tagger folder (made if needed).
    model : torch.nn.Module
        The tagger; its weights (``state_dict``) are saved on the CPU, in ``model.pt``.
    config : ModelConfig
        Its model configuration (``config.yaml``'s ``model`` section).
    scalers : InputScalers
        The scalers of its inputs (``scaler.json``; not written when empty).
    metrics : dict
        Its performance (``metrics.json``).
    extra_config : dict, optional
        More top-level sections of ``config.yaml`` (training settings, data, seed, training range...); None: none.

    Returns
    -------
    Path
        ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / WEIGHTS) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    if scalers:
        scalers.save(folder / SCALER)
    with atomic_path(folder / CONFIG) as tmp:
        tmp.write_text(yaml.safe_dump({"model": config.as_dict(), **(extra_config or {})}, sort_keys=False))
    write_json(folder / METRICS, metrics)
    return folder


def save_test_predictions(
    folder: str | Path, scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, pt: np.ndarray
) -> None:
    """Write the member's score of every test jet with its label, weight (as the metrics used it) and pT.

    What efficiencies in pT bins and bootstraps of the test set are computed from (``xaugcol.training.gain``):
    ``test_predictions.npz`` in ``folder``, written atomically.

    Parameters
    ----------
    folder : str or Path
        The member's tagger folder.
    scores : numpy.ndarray
        Shape (jets,): the tagger's score (sigmoid of the logit) of every test jet, in the tables' order; stored
        as float64.
    labels : numpy.ndarray
        Shape (jets,): the true class (1 signal, 0 background); stored as int8.
    weights : numpy.ndarray
        Shape (jets,): the jets' weights as the metrics used them; stored as float64.
    pt : numpy.ndarray
        Shape (jets,): the jets' pT in GeV; stored as float64.
    """
    with atomic_path(Path(folder) / TEST_PREDICTIONS) as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                score=np.asarray(scores, np.float64),
                label=np.asarray(labels, np.int8),
                weight=np.asarray(weights, np.float64),
                pt=np.asarray(pt, np.float64),
            )


def load_test_predictions(folder: str | Path) -> dict[str, np.ndarray]:
    """A member's ``test_predictions.npz`` (plain arrays only: pickled objects are refused).

    Parameters
    ----------
    folder : str or Path
        The member's tagger folder.

    Returns
    -------
    dict of str to numpy.ndarray
        ``score``, ``label``, ``weight`` and ``pt``, one entry per test jet each (``save_test_predictions``).

    Raises
    ------
    ModelFileError
        A file that is missing, not a regular file, unreadable, lacking an array, or with arrays of different
        lengths.
    """
    path = Path(folder) / TEST_PREDICTIONS
    try:
        check_regular(path, "a member's test predictions")
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in ("score", "label", "weight", "pt")}
    except (OSError, ValueError, KeyError) as err:
        raise ModelFileError(f"{path}: cannot read the test predictions: {err}") from None
    if len({len(v) for v in out.values()}) != 1:
        raise ModelFileError(f"{path}: arrays of different lengths")
    return out


def read_config(folder: str | Path) -> tuple[ModelConfig, dict]:
    """A tagger folder's validated model configuration and the whole ``config.yaml`` mapping (training, seed, data).

    Parameters
    ----------
    folder : str or Path
        The tagger folder.

    Returns
    -------
    config : ModelConfig
        The ``model`` section, validated as the version that wrote it meant it (``legacy_architecture``).
    raw : dict
        The whole ``config.yaml`` mapping.

    Raises
    ------
    ModelFileError
        A ``config.yaml`` that cannot be read, has no ``model`` section or holds an invalid configuration.
    """
    folder = Path(folder)
    try:
        raw = read_yaml(folder / CONFIG, "a tagger's config.yaml")
    except ValueError as err:
        raise ModelFileError(str(err)) from None
    if not isinstance(raw, dict) or "model" not in raw:
        raise ModelFileError(f"{folder / CONFIG}: no 'model' section")
    try:
        return ModelConfig.from_dict(legacy_architecture(raw["model"]), str(folder / CONFIG)), raw
    except ValueError as err:
        raise ModelFileError(str(err)) from None


def load_model(folder: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, ModelConfig, InputScalers]:
    """Rebuild a tagger from its folder, in eval mode, with the scalers of its inputs.

    Parameters
    ----------
    folder : str or Path
        The tagger folder.
    device : str, default "cpu"
        The torch device the model is moved to.

    Returns
    -------
    model : torch.nn.Module
        The tagger with its weights, in eval mode, on ``device``.
    config : ModelConfig
        Its model configuration (``read_config``).
    scalers : InputScalers
        The scalers of its inputs (``load_scalers``).

    Raises
    ------
    ModelFileError
        A configuration, weights file or scaler file that cannot be read, or weights that do not fit the
        architecture.
    """
    folder = Path(folder)
    config, _ = read_config(folder)
    state = load_state_dict(folder / WEIGHTS)
    model = build_model(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ModelFileError(f"{folder / WEIGHTS}: weights do not fit the architecture in {CONFIG}: {err}") from None
    return model.to(device).eval(), config, load_scalers(folder, config)


def load_scalers(folder: Path, config: ModelConfig) -> InputScalers:
    """The folder's scalers, exactly one for each scaled input kind of the tagger, each fitting its kind.

    Parameters
    ----------
    folder : Path
        The tagger folder.
    config : ModelConfig
        Its model configuration: which input kinds are scaled.

    Returns
    -------
    InputScalers
        The scalers of ``scaler.json``; empty where the folder has none and the tagger scales no input.

    Raises
    ------
    ModelFileError
        A missing ``scaler.json`` for a tagger that scales inputs, or one that lacks a scaler for a scaled kind,
        holds one that does not fit its kind, or holds scalers for kinds the tagger does not scale.
    """
    scaled = [kind for kind in config.input_kinds() if kind.scaled]
    path = folder / SCALER
    if not path.exists():
        if scaled:
            raise ModelFileError(
                f"{folder}: the tagger scales its {', '.join(k.name for k in scaled)} inputs but {SCALER} is missing"
            )
        return InputScalers()
    try:
        scalers = InputScalers.load(path)
        for kind in scaled:
            if kind.name not in scalers.kinds():
                raise ValueError(f"scaler {path}: no scaler for the tagger's {kind.name} inputs")
            kind.check_scaler(scalers.get(kind.name), f"scaler {path}")
        extra = set(scalers.kinds()) - {k.name for k in scaled}
        if extra:
            raise ValueError(f"scaler {path}: scalers for {sorted(extra)}, which the tagger's {CONFIG} does not scale")
    except ValueError as err:
        raise ModelFileError(str(err)) from None
    return scalers


def folder_digest(folder: str | Path) -> dict[str, str]:
    """The SHA-256 of every member file of a tagger folder (``MEMBER_FILES``: what loading and explaining it read).

    Anything else there (a sub-folder, notes, a notebook's checkpoints) changes no result and is left out; a member
    file that is not a regular file (a FIFO, a folder) is refused, naming it.

    Parameters
    ----------
    folder : str or Path
        The tagger folder.

    Returns
    -------
    dict of str to str
        File name to hexadecimal SHA-256 digest, for the member files present.

    Raises
    ------
    NotRegularFileError
        A member file that is not a regular file.
    """
    folder = Path(folder)
    digests = {}
    for name in MEMBER_FILES:
        path = folder / name
        if path.exists() or path.is_symlink():
            check_regular(path, "a file of a tagger folder")
            digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def is_member_folder(path: str | Path) -> bool:
    """Whether ``path`` is a tagger member folder as training writes it.

    That is a real folder (not a link) holding its ``config.yaml`` and nothing but member files (``MEMBER_FILES``),
    each a regular file. Only such folders are replaced.

    Parameters
    ----------
    path : str or Path
        The folder.

    Returns
    -------
    bool
        True for such a folder.
    """
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    entries = list(path.iterdir())
    return (path / CONFIG) in entries and all(
        e.name in MEMBER_FILES and not e.is_symlink() and e.is_file() for e in entries
    )


def load_state_dict(path: Path) -> dict:
    """A state_dict saved by ``torch.save`` (its zip format), loaded with ``weights_only=True``.

    A file of another format, or one holding more than tensors, is a ``ModelFileError`` that says what the file is.

    Parameters
    ----------
    path : Path
        The weights file (a tagger folder's ``model.pt``).

    Returns
    -------
    dict
        Parameter and buffer names to tensors, on the CPU.

    Raises
    ------
    ModelFileError
        A file that cannot be read, is not a torch zip archive, holds objects other than tensors, or is not a
        mapping of names to tensors.
    """
    try:
        check_regular(path, "a tagger's weights")
        kind = _not_a_torch_file(path)
    except OSError as err:
        raise ModelFileError(f"{path}: cannot read it: {err}") from None
    if kind:
        raise ModelFileError(
            f"{path}: not a torch state_dict (torch.save writes a zip archive with a data.pkl): {kind}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ModelFileError(
            f"{path}: refused: it holds objects other than tensors{_unsupported(err)}; only "
            "state_dicts (parameter names mapped to tensors) are loaded, never code"
        ) from None
    except Exception as err:  # torch reports a damaged archive in many ways (RuntimeError, KeyError, EOFError...)
        raise ModelFileError(f"{path}: cannot read it as a torch state_dict ({type(err).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path}: not a state_dict (a mapping of parameter names to tensors)")
    return state


def _not_a_torch_file(path: Path) -> str:
    """'' for a zip archive holding a ``<name>/data.pkl`` (torch.save's format), else what the file looks like."""
    import zipfile

    with open(path, "rb") as f:
        head = f.read(8)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any(n.count("/") == 1 and n.endswith("/data.pkl") for n in names):
            return ""
        return (
            "a zip archive without data.pkl (e.g. numpy's .npz)"
            if any(n.endswith(".npy") for n in names)
            else "a zip archive without data.pkl"
        )
    if not head:
        return "an empty file"
    if head[:1] == b"\x80":
        return "a plain pickle (torch's old format or another program's): not loaded, it could run code"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (e.g. a Keras model)"
    if head[:1] == b"\x08":
        return "probably an ONNX model (model.onnx is the exported copy; model.pt holds the weights)"
    try:
        head.decode("ascii")
        return "a text file"
    except UnicodeDecodeError:
        return "a file of unknown format"


def _unsupported(err: pickle.UnpicklingError) -> str:
    """The class or function torch's safe loader refused, from its message (without its advice to load unsafely)."""
    import re

    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
    return f" ({found.group(1)})" if found else ""


# Which torch exporter writes model.onnx. "torchscript" (the default) is deprecated by torch but takes 0.1-0.2 s per
# tagger here; "dynamo", the supported one (needs onnxscript), takes 2-7 s: minutes for an ensemble study. Both are
# checked against torch on a batch of another size than the traced one.
EXPORTER_ENV = "XAUGCOL_ONNX_EXPORTER"
EXPORTERS = ("torchscript", "dynamo")


def onnx_exporter() -> str:
    """The ONNX exporter ``export_onnx`` uses: ``XAUGCOL_ONNX_EXPORTER`` (``torchscript``, the default, or ``dynamo``).

    Returns
    -------
    str
        ``torchscript`` or ``dynamo`` (the variable's value, stripped and lower-cased; unset or empty: the default).

    Raises
    ------
    ValueError
        Another value of the variable.
    """
    name = os.environ.get(EXPORTER_ENV, "torchscript").strip().lower() or "torchscript"
    if name not in EXPORTERS:
        raise ValueError(f"{EXPORTER_ENV}={name!r}: expected one of {', '.join(EXPORTERS)}")
    return name


def export_onnx(
    folder: str | Path,
    model: torch.nn.Module,
    example: tuple[torch.Tensor, ...],
    names: tuple[str, ...],
    rtol: float = 1e-3,
    atol: float = 1e-3,
) -> float:
    """Write ``model.onnx`` (dynamic batch size, ``onnx_exporter()``) and check it against torch with onnxruntime.

    The check runs on ``example`` and on a batch of another size (``example`` and its first half again).

    Parameters
    ----------
    folder : str or Path
        The tagger folder ``model.onnx`` is written to (atomically).
    model : torch.nn.Module
        The tagger; moved to the CPU and put in eval mode.
    example : tuple of torch.Tensor
        One batch of its inputs, in ``forward`` order, on the CPU: what the export traces.
    names : tuple of str
        The ONNX names of the inputs, in the same order (the output is named ``logit``).
    rtol : float, default 1e-3
        The relative tolerance of the comparison (``numpy.allclose``).
    atol : float, default 1e-3
        The absolute tolerance of the comparison.

    Returns
    -------
    float
        The largest absolute difference between the ONNX and the torch logits over both batches.

    Raises
    ------
    RuntimeError
        Where they disagree by more than float32 rounding can explain (a wrong operator gives differences of
        order one; a batch norm of sparse pixels with a tiny variance amplifies rounding to ~1e-4 in the logit).
    """
    import onnxruntime

    folder = Path(folder)
    model = model.cpu().eval()
    exporter = onnx_exporter()
    with atomic_path(folder / ONNX) as tmp, warnings.catch_warnings(), _quiet_exporter():
        quiet_library_warnings()  # torch's tracing notes on its own LSTM and conv modules, the deprecation notice
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1)
            torch.onnx.export(
                model,
                example,
                str(tmp),
                input_names=list(names),
                output_names=["logit"],
                dynamic_shapes=(tuple({0: batch} for _ in names),),
                opset_version=18,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        else:
            torch.onnx.export(
                model,
                example,
                str(tmp),
                input_names=list(names),
                output_names=["logit"],
                dynamic_axes={**{n: {0: "batch"} for n in names}, "logit": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        diff = 0.0
        for inputs in (example, tuple(torch.cat([t, t[: max(1, len(t) // 2)]]) for t in example)):
            got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0]
            with torch.no_grad():
                want = model(*inputs).numpy()
            diff = max(diff, float(np.max(np.abs(got - want))) if want.size else 0.0)
            if not np.allclose(got, want, rtol=rtol, atol=atol):
                raise RuntimeError(
                    f"ONNX export ({exporter}) of {folder} disagrees with torch on a batch of "
                    f"{len(want)} (max |diff| = {diff:.3g})"
                )
    return diff


@contextlib.contextmanager
def _quiet_exporter():
    """The dynamo exporter prints its steps and logs the torchvision operators it skips: not in normal runs."""
    if verbosity() >= VERBOSE:
        yield
        return
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
