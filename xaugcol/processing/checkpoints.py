"""Resumable coffea runs: each chunk's output is saved as the chunk completes, through coffea's checkpointer hook
(``Runner(checkpointer=...)``); a rerun with ``resume`` loads finished chunks instead of computing them again.

Each chunk has exactly one checkpoint file, named after the chunk (source file and entry range), and the Runner
either loads or computes every chunk once. So a resumed run counts every chunk once, however it was interrupted.

Format: one ``.npz`` per chunk, numpy only, no pickle: the accumulator's structure as JSON, histogram storages
(hist's UHI serialisation) and arrays as npz members. Loading executes nothing from the file (unlike coffea's
``SimpleCheckpointer``, which unpickles) and reads regular files only (a FIFO would block): a checkpoint that is
not one is computed again, a manifest that is not one is refused. Files are written under a temporary name and
renamed.

Layout: ``<out>/checkpoints/manifest.json`` records what the chunk outputs depend on (configuration, chunk size,
files); ``<out>/checkpoints/<dataset>/<chunk>.npz``. A resumed run must have the same manifest. These files are
removed once the run's outputs are written (``remove_checkpoints``: only files named so).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hist
import numpy as np
from coffea.processor.checkpointer import CheckpointerABC
from coffea.processor.executor import WorkItem
from hist import serialization

from xaugcol.atomic import atomic_path, make_dirs, remove, remove_temporaries, write_json
from xaugcol.errors import OutputFolderError
from xaugcol.paths import check_regular, read_json, safe_component, under
from xaugcol.processing.chunk_guard import raise_fault
from xaugcol.processing.table_io import CHUNK_KEY, chunk_key

CHECKPOINTS = "checkpoints"
MANIFEST = "manifest.json"
TREE = "__tree__"


class CheckpointError(OutputFolderError, RuntimeError):
    """Checkpoints that cannot be used: a run left them without ``resume``, or with other settings."""


class ChunkCheckpointer(CheckpointerABC):
    """coffea checkpointer writing ``folder/<dataset>/<chunk>.npz`` (safe format, atomic).

    coffea calls it after every chunk, outside its error wrapping: it also raises the stopping error a guarded
    chunk handed back (``chunk_guard``). With ``folder`` None it only does that.

    Parameters
    ----------
    folder : str or Path or None
        The checkpoint folder (``<out>/checkpoints``), stored as an absolute path; None: no checkpoint files.
    """

    def __init__(self, folder: str | Path | None):
        self.folder = None if folder is None else str(Path(folder).absolute())

    def path(self, metadata: dict[str, Any]) -> Path:
        """The checkpoint file of the chunk ``metadata``.

        The path is checked to stay inside the output folder that holds the checkpoints (a planted link included).

        Parameters
        ----------
        metadata : dict of str to Any
            coffea's chunk metadata: dataset, file, entry range.

        Returns
        -------
        Path
            ``<folder>/<dataset as a safe name>/<chunk key>.npz``.

        Raises
        ------
        ValueError
            The checkpointer has no folder.
        """
        if self.folder is None:
            raise ValueError("a checkpointer without a folder has no checkpoint files")
        folder = Path(self.folder)
        return under(folder.parent, folder.name, safe_component(metadata["dataset"]), chunk_key(metadata) + ".npz")

    def load(self, metadata: dict[str, Any], processor_instance: Any) -> Any:
        """The saved output of the chunk ``metadata``; None when there is none (or it cannot be read).

        Parameters
        ----------
        metadata : dict of str to Any
            coffea's chunk metadata: dataset, file, entry range.
        processor_instance : Any
            The processor the Runner runs (unused: coffea's hook passes it).

        Returns
        -------
        Any
            The chunk's accumulator as ``load_accumulator`` reads it, or None (no folder, no file, or a file that
            cannot be read: a warning says so and the chunk is processed again).
        """
        if self.folder is None:
            return None
        path = self.path(metadata)
        if not path.exists():
            return None
        try:
            return load_accumulator(path)
        except Exception as err:  # computing the chunk again is always safe: its output replaces the file's
            warnings.warn(f"checkpoint {path} cannot be read ({err}); the chunk is processed again", stacklevel=2)
            return None

    def save(self, output: Any, metadata: dict[str, Any], processor_instance: Any) -> None:
        """Save the output of the chunk ``metadata`` (not a failed chunk's).

        Raises the stopping error a guarded chunk handed back in ``output``.

        Parameters
        ----------
        output : Any
            The chunk's output as coffea's Runner holds it: a dict whose ``out`` is the processor's accumulator.
        metadata : dict of str to Any
            coffea's chunk metadata: dataset, file, entry range.
        processor_instance : Any
            The processor the Runner runs (unused: coffea's hook passes it).
        """
        raise_fault(output.get("out", {}))
        if self.folder is None or output.get("out", {}).get("skipped_chunks"):
            return  # a failed chunk is retried by a resumed run, not remembered as done
        save_accumulator(self.path(metadata), output)


def save_accumulator(path: str | Path, obj: Any) -> None:
    """Write an accumulator to the ``.npz`` file ``path``, atomically.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file to write; its folder is created.
    obj : Any
        An accumulator of dicts, sets, lists, tuples, hist histograms, numpy arrays, scalars, bytes and coffea
        work items.

    Raises
    ------
    TypeError
        ``obj`` holds a value of another type.
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays)
    path = Path(path)
    make_dirs(path.parent)
    # the members by name (the arrays' are a0, a1, ..., never one of savez's own keywords)
    members: dict[str, Any] = {TREE: np.array(json.dumps(tree)), **arrays}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **members)  # temporary: speed over size


def load_accumulator(path: str | Path) -> Any:
    """The accumulator ``save_accumulator`` wrote to ``path`` (a regular file; nothing is unpickled).

    Parameters
    ----------
    path : str or Path
        The checkpoint's ``.npz`` file.

    Returns
    -------
    Any
        The accumulator, of the types ``save_accumulator`` stores.

    Raises
    ------
    NotRegularFileError
        ``path`` is not a regular file.
    """
    check_regular(path, "a checkpoint")
    with np.load(path, allow_pickle=False) as data:
        return _decode(json.loads(str(data[TREE])), data)


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if isinstance(obj, hist.Hist):
        uhi = serialization.to_uhi(obj)
        storage = dict(uhi["storage"])
        for name, values in storage.items():
            if isinstance(values, np.ndarray):
                storage[name] = _encode(values, arrays)
        return {"hist": {**uhi, "storage": storage}}
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"array": key}
    if isinstance(obj, np.generic):
        return {"value": obj.item()}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, bytes):
        return {"bytes": obj.hex()}
    if isinstance(obj, dict):
        return {"dict": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (set, frozenset)):
        return {"set" if isinstance(obj, set) else "frozenset": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, (list, tuple)):
        return {type(obj).__name__: [_encode(v, arrays) for v in obj]}
    if isinstance(obj, WorkItem):
        return {"workitem": {f.name: _encode(getattr(obj, f.name), arrays) for f in dataclasses.fields(obj)}}
    raise TypeError(f"checkpoints cannot store a {type(obj).__name__}")


def _decode(node: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
    ((kind, value),) = node.items()
    if kind == "value":
        return value
    if kind == "bytes":
        return bytes.fromhex(value)
    if kind == "array":
        return np.array(arrays[value])
    if kind == "hist":
        storage = {k: _decode(v, arrays) if isinstance(v, dict) else v for k, v in value["storage"].items()}
        return serialization.from_uhi({**value, "storage": storage})
    if kind == "dict":
        return {_decode(k, arrays): _decode(v, arrays) for k, v in value}
    if kind == "workitem":
        return WorkItem(**{k: _decode(v, arrays) for k, v in value.items()})
    return {"set": set, "frozenset": frozenset, "list": list, "tuple": tuple}[kind](_decode(v, arrays) for v in value)


def open_checkpoints(out_dir: str | Path, manifest: dict[str, Any], resume: bool) -> tuple[Path, int]:
    """The checkpoint folder of a run into ``out_dir`` and the number of chunks already done there.

    Without ``resume`` a folder left by an interrupted run is refused (unless that run finished no chunk: then
    nothing is lost by starting again); with it, its manifest must equal this run's, and the settings or input
    files that differ are named. Temporaries an interrupted write left behind are removed. Where there is nothing
    to resume, the folder is created and ``manifest`` written to it.

    Parameters
    ----------
    out_dir : str or Path
        The run's output folder.
    manifest : dict of str to Any
        What the chunk outputs depend on (configuration, chunk size, files), JSON-serialisable.
    resume : bool
        Whether to continue an interrupted run's checkpoints.

    Returns
    -------
    folder : Path
        The checkpoint folder, ``<out_dir>/checkpoints``.
    done : int
        The number of chunk checkpoints (``.npz`` files) already there.

    Raises
    ------
    CheckpointError
        Checkpoints of an interrupted run without ``resume``, or with a manifest that differs from ``manifest``.
    """
    out_dir = Path(out_dir)
    folder = under(out_dir, CHECKPOINTS)  # not through a link planted in the output
    manifest = json.loads(json.dumps(manifest))  # tuples -> lists, as read back
    path = folder / MANIFEST
    done = sum(1 for _ in folder.rglob("*.npz")) if folder.is_dir() else 0
    if path.exists() and done:
        if not resume:
            raise CheckpointError(
                f"{out_dir} holds the checkpoints of an interrupted run: rerun with --resume to "
                "continue it, or start again with --overwrite"
            )
        previous = read_json(path, "a checkpoint manifest")
        differ = differences(previous, manifest)
        if differ:
            shown = ", ".join(differ[:8]) + (f" and {len(differ) - 8} more" if len(differ) > 8 else "")
            raise CheckpointError(
                f"{path}: the interrupted run had other {shown}; resume it with the same inputs "
                "and settings, or start again with --overwrite"
            )
        # what an interrupted write left where runs write (the top, jets/<dataset>/, checkpoints/<dataset>/)
        remove_temporaries(out_dir, depth=3)
    else:
        make_dirs(folder)
        write_json(path, manifest)
    return folder, done


def differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Dotted paths of the entries that differ between two JSON-like values (for messages).

    Parameters
    ----------
    old : Any
        The first value (dicts are compared key by key, anything else as a whole).
    new : Any
        The second value.
    where : str, default ""
        The dotted path of these values inside the whole (used in the recursion).

    Returns
    -------
    list of str
        The dotted paths of the keys present in only one of them or holding different values (``where``, or
        ``value`` at the top, when the values differ as a whole); empty when they are equal.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            name = f"{where}.{key}" if where else str(key)
            if key not in old or key not in new:
                out.append(name)
            else:
                out += differences(old[key], new[key], name)
        return out
    return [] if old == new else [where or "value"]


def remove_checkpoints(out_dir: str | Path) -> None:
    """Remove the checkpoints of ``out_dir``.

    Only what a run writes there goes (the manifest, one ``<dataset>/<chunk>.npz`` per chunk, temporaries of an
    interrupted write), never through a link; anything else stays, with the folders that hold it.

    Parameters
    ----------
    out_dir : str or Path
        The run's output folder, holding ``checkpoints/``.
    """
    folder = under(out_dir, CHECKPOINTS)
    if not folder.is_dir():
        return
    remove(folder / MANIFEST)
    remove_temporaries(folder, depth=2)
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()):
        for path in sub.iterdir():
            if path.name.endswith(".npz") and CHUNK_KEY.match(path.name[:-4]) and not path.is_dir():
                remove(path)
        _remove_if_empty(sub)
    _remove_if_empty(folder)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: something that is not ours stays
        folder.rmdir()
