"""The one place a coffea run is set up: filesets (coffea's JSON form, loaded, validated and screened file by
file), the execution settings (``Execution``, in the style of coffea's executor dataclasses), the run itself with
coffea's Runner, and the versions a run records. Processing and relevance both run through ``run_coffea``; the
processor is handed in by the layer that chooses it (``xaugcol.coffea_runs``), so this module never imports one.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import uproot

from xaugcol.atomic import OutputError
from xaugcol.errors import InputDataError, UsageError
from xaugcol.jets.constituents import MissingBranchError
from xaugcol.models.errors import ModelFileError
from xaugcol.paths import NotRegularFileError, UnsafePathError, check_regular, read_json, safe_component
from xaugcol.processing import coffea_compat  # noqa: F401 - non-ASCII names in coffea's hashes
from xaugcol.processing.checkpoints import ChunkCheckpointer
from xaugcol.processing.chunk_guard import ChunkError, ChunkGuard
from xaugcol.processing.executors import (
    DEFAULT_CHUNKSIZE,
    ClusterError,
    Timeouts,
    check_executor,
    coffea_executor,
    dask_session,
)
from xaugcol.processing.opendata_table import TRUTH_LABEL, is_opendata_tree
from xaugcol.quoting import quoted

if TYPE_CHECKING:
    from distributed import Client

EVENT_ID = ("run", "luminosityBlock", "event")
# metadata keys coffea's Runner sets itself (and refuses in a fileset)
COFFEA_RESERVED = {
    "dataset",
    "filename",
    "treename",
    "metadata",
    "entrystart",
    "entrystop",
    "fileuuid",
    "numentries",
    "uuid",
    "clusters",
    "preload",
}


@dataclass(frozen=True)
class Execution:
    """How a coffea run executes; none of it changes what the run computes.

    Parameters
    ----------
    executor : str, default "iterative"
        ``iterative``, ``futures``, ``dask`` (an existing cluster at ``scheduler``) or ``dask-local``
        (``xaugcol.processing.executors``).
    workers : int, default 1
        Processes of the ``futures`` pool or of the ``dask-local`` cluster; a positive integer.
    chunksize : int, default DEFAULT_CHUNKSIZE
        Events (or jet-table rows) per chunk; a positive integer.
    scheduler : str, optional
        The Dask scheduler's address (``tcp://HOST:PORT``), for executor ``dask``.
    skip_bad_files : bool, default False
        Skip unreadable files and failing chunks (listed in the report) instead of stopping.
    progress : bool, default False
        Whether coffea shows its progress bar.
    timeouts : Timeouts, default Timeouts()
        Seconds before giving up on a remote file, a scheduler or a cluster without workers.
    client : distributed.Client, optional
        An open Dask client to run on (shared by stages); with it the executor and scheduler are not checked.

    Raises
    ------
    ValueError
        Invalid executor settings (``check_executor``), or ``workers`` / ``chunksize`` not a positive integer.
    """

    executor: str = "iterative"
    workers: int = 1
    chunksize: int = DEFAULT_CHUNKSIZE
    scheduler: str | None = None
    skip_bad_files: bool = False
    progress: bool = False
    timeouts: Timeouts = field(default_factory=Timeouts)
    client: Client | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.client is None:
            check_executor(self.executor, self.scheduler)
        for name in ("workers", "chunksize"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {quoted(value)}")

    @contextlib.contextmanager
    def session(self) -> Iterator[Execution]:
        """This execution with its Dask client open for the run, so every chunk of the run shares it.

        Yields
        ------
        Execution
            A copy whose ``client`` is started for ``dask-local``, connected for ``dask``, the given one otherwise
            (None for the executors without Dask); a client opened here closes when the block ends.
        """
        with dask_session(self.executor, self.scheduler, self.workers, self.client, self.timeouts) as client:
            yield replace(self, client=client)

    def describe(self) -> dict[str, Any]:
        """The settings a processing report records: executor, workers and chunk size.

        Returns
        -------
        dict of str to Any
            ``{"executor": ..., "workers": ..., "chunksize": ...}``.
        """
        return {"executor": self.executor, "workers": self.workers, "chunksize": self.chunksize}


class BadFileError(InputDataError, RuntimeError):
    """An input file cannot be processed; names the file and why."""


class FilesetError(UsageError):
    """The fileset JSON is unreadable or malformed."""


NO_LABEL = -1  # the jet-table label of a dataset without truth (real data): processed and explained, not trained on
# what coffea.dataset_tools.preprocess records per file
PREPROCESSED = {"object_path", "steps", "num_entries", "uuid", "format", "lfn", "pfn", "num_selected_entries"}


def load_fileset(path: str | Path) -> dict:
    """Read a coffea fileset from JSON and validate it; any of coffea's forms is read:

    * ``{dataset: [paths]}`` or ``{dataset: {"files": [paths] | {path: tree}, "treename": tree, "metadata": {...}}}``;
    * a preprocessed fileset (``coffea.dataset_tools.preprocess``): ``{path: {"object_path": tree, "steps": [...],
      "num_entries": n, "uuid": "..."}}`` per file; the UUID and entry count are checked against the file when it
      is screened (a file changed since it was preprocessed is refused), the steps are not reused (chunks follow
      the chunk size).

    ``metadata.label``: 1 signal, 0 background; a dataset without it (real data) is processed and explained with
    label -1 and refused by training. Relative file paths are taken relative to the JSON file. A file listed twice
    (under another path, through a link, or in two datasets) is refused: it would be counted twice.

    Parameters
    ----------
    path : str or Path
        The fileset's JSON file.

    Returns
    -------
    dict
        dataset name -> ``{"files": {path: tree}, "metadata": {...}, ...}``, with absolute file paths.

    Raises
    ------
    UsageError
        The file is unreadable or malformed (``FilesetError``), or lists a file twice.
    """
    path = Path(path)
    try:
        data = read_json(path, "fileset")
    except (OSError, ValueError) as err:
        raise FilesetError(f"fileset {path}: cannot read it as JSON: {err}") from None
    if not isinstance(data, dict) or not data:
        raise FilesetError(f"fileset {path}: expected a non-empty mapping of dataset names")
    fileset = {}
    for name, entry in data.items():
        where = f"fileset {path}: dataset {quoted(name)}"
        if isinstance(entry, list):  # coffea's shortest form: the files alone
            entry = {"files": entry}
        if not isinstance(entry, dict) or "files" not in entry:
            raise FilesetError(f"{where}: expected a list of files or a mapping with 'files'")
        default_tree = entry.get("treename", "Events")
        if not isinstance(default_tree, str):
            raise FilesetError(f"{where}: 'treename' must be a tree name, got {quoted(default_tree)}")
        files = entry["files"]
        if isinstance(files, list) and all(isinstance(f, str) for f in files):
            files = {f: default_tree for f in files}
        if not isinstance(files, dict) or not all(isinstance(k, str) for k in files):
            raise FilesetError(f"{where}: 'files' must map file paths to tree names (or list file paths)")
        meta = entry.get("metadata")
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise FilesetError(f"{where}: 'metadata' must be a mapping, got {type(meta).__name__}")
        reserved = sorted(set(meta) & COFFEA_RESERVED)
        if reserved:
            raise FilesetError(f"{where}: metadata may not use {', '.join(reserved)}: coffea fills these per chunk")
        if "label" in meta and (meta["label"] not in (0, 1, TRUTH_LABEL) or isinstance(meta["label"], bool)):
            raise FilesetError(
                f"{where}: metadata 'label' must be 0 or 1, 'truth' (each jet's own, the open-data "
                f"H->bb ntuples) or absent for real data, got {quoted(meta['label'])}"
            )
        resolved, expected = {}, {}
        for f, spec in files.items():
            tree, recorded = _file_spec(spec, default_tree, f"{where}: file {quoted(f)}")
            is_remote = "://" in f
            # absolute, not resolved: messages name the paths as listed (links included)
            full = f if is_remote or Path(f).is_absolute() else os.path.abspath(path.parent / f)
            resolved[full] = tree
            if recorded:
                expected[full] = recorded
        fileset[name] = {"files": resolved, "metadata": dict(meta)}
        if expected:
            fileset[name]["preprocessed"] = expected
    _refuse_duplicates(fileset, f"fileset {path}: ")
    _refuse_shared_folders(fileset, f"fileset {path}: ")
    return fileset


def _file_spec(spec: Any, default_tree: str, where: str) -> tuple[str, dict[str, Any]]:
    """(tree name, what a preprocessed fileset recorded about the file: uuid, num_entries)."""
    if isinstance(spec, str):
        return spec, {}
    if spec is None:
        return default_tree, {}
    if not isinstance(spec, dict):
        raise FilesetError(f"{where}: expected a tree name or a mapping with 'object_path', got {quoted(spec)}")
    unknown = sorted(set(spec) - PREPROCESSED)
    if unknown:
        raise FilesetError(f"{where}: unknown key(s) {unknown}; known: {sorted(PREPROCESSED)}")
    if spec.get("format", "root") != "root":
        raise FilesetError(f"{where}: format {quoted(spec['format'])}: NanoAOD-style events are ROOT files")
    tree = spec.get("object_path", default_tree)
    if not isinstance(tree, str):
        raise FilesetError(f"{where}: 'object_path' must be a tree name, got {quoted(tree)}")
    recorded: dict[str, Any] = {}
    if spec.get("uuid") is not None:
        if not isinstance(spec["uuid"], str):
            raise FilesetError(f"{where}: 'uuid' must be a string, got {quoted(spec['uuid'])}")
        recorded["uuid"] = spec["uuid"]
    if spec.get("num_entries") is not None:
        n = spec["num_entries"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise FilesetError(f"{where}: 'num_entries' must be a count, got {quoted(n)}")
        recorded["entries"] = n
    steps = spec.get("steps")
    if steps is not None and not (
        isinstance(steps, list)
        and all(isinstance(st, list) and len(st) == 2 and all(isinstance(v, int) for v in st) for st in steps)
    ):
        raise FilesetError(f"{where}: 'steps' must be a list of [start, stop] entry pairs")
    return tree, recorded


def dataset_label(entry: dict) -> int | str:
    """A dataset's jet-table label.

    Parameters
    ----------
    entry : dict
        The dataset's entry of a loaded fileset, with its ``metadata``.

    Returns
    -------
    int or str
        Its metadata's label (1 signal, 0 background, or ``"truth"``: each jet's own from the file); -1 without
        one (real data).
    """
    label = entry["metadata"].get("label", NO_LABEL)
    return label if label == TRUTH_LABEL else int(label)


def is_labelled(label: int | str) -> bool:
    """Whether a dataset's label gives its jets a class (training needs it).

    Parameters
    ----------
    label : int or str
        A label as ``dataset_label`` returns it.

    Returns
    -------
    bool
        True for 0, 1 and ``"truth"``; False for -1 (real data).
    """
    if isinstance(label, str):
        return label == TRUTH_LABEL
    return label >= 0


def _refuse_duplicates(fileset: dict, where: str) -> None:
    """FilesetError when two listed local paths are one file (the same real path)."""
    seen: dict[str, tuple[str, str]] = {}
    for name, entry in fileset.items():
        for f in entry["files"]:
            if "://" in f:
                continue
            first = seen.setdefault(os.path.realpath(f), (name, f))
            if first != (name, f):
                raise FilesetError(
                    f"{where}{first[1]} (dataset {quoted(first[0])}) and {f} (dataset {quoted(name)}) "
                    "are the same file: list each file once, or its events are counted twice"
                )


def check_file(path: str, tree: str, timeout: float = Timeouts.remote) -> dict:
    """The identity of ``path``, checked to be a readable input file.

    Reads metadata only: the file is a regular file (a FIFO or device would block), it opens, the tree exists with
    the event identity branches, each collection's branches share its counter, and every basket of every branch
    lies inside the file (a truncated copy opens fine but its last baskets point past the end). A remote file
    that does not answer within ``timeout`` seconds is a bad file. The open-data ntuples need no event identity
    branches and their counters are not checked.

    Parameters
    ----------
    path : str
        A local path or a remote URL (``root://``, ``https://``).
    tree : str
        The name of the events tree.
    timeout : float, default Timeouts.remote
        Seconds a remote file has to answer.

    Returns
    -------
    dict
        ``entries`` of ``tree`` and the ROOT file's ``uuid``; for local files also ``size`` (bytes) and
        ``mtime_ns``.

    Raises
    ------
    BadFileError
        The file cannot be read (naming the file and why).
    """
    remote = "://" in path
    try:
        if not remote:
            check_regular(path, "input file")
        with uproot.open(path, **({"timeout": timeout} if remote else {})) as f:
            if tree not in f:
                present = sorted(set(k.split(";")[0] for k in f.keys()))
                raise BadFileError(f"{path}: no tree {quoted(tree)} (has: {', '.join(present) or 'nothing'})")
            t = f[tree]
            if not is_opendata_tree(t):  # the open-data ntuples' identity is derived (``opendata_table``)
                missing = [b for b in EVENT_ID if b not in t]
                if missing:  # coffea's NanoAOD schema cannot even build the events without them
                    raise BadFileError(
                        f"{path}: tree {tree!r} has no {', '.join(missing)}: every jet-table row "
                        "carries the event identity (run, luminosityBlock, event)"
                    )
                _check_counters(path, t)
            size = getattr(f.file.source, "num_bytes", None)
            if size is not None:
                for branch in t.itervalues(recursive=True):
                    n = branch.num_baskets
                    if n == 0:
                        continue
                    ends = np.asarray(branch.member("fBasketSeek")[:n]) + np.asarray(branch.member("fBasketBytes")[:n])
                    if ends.max() > size:
                        raise BadFileError(
                            f"{path}: truncated: branch {branch.name!r} has data up to byte "
                            f"{int(ends.max())} but the file has {size} bytes"
                        )
            identity = {"entries": int(t.num_entries), "uuid": str(f.file.uuid)}
    except BadFileError:
        raise
    except FileNotFoundError:
        raise BadFileError(f"{path}: file not found") from None
    except NotRegularFileError as err:
        raise BadFileError(str(err)) from None
    except TimeoutError:
        raise BadFileError(f"{path}: no answer within {timeout:g} s (remote timeout)") from None
    except Exception as err:  # uproot raises many types on truncated / corrupt files
        raise BadFileError(f"{path}: cannot read it as ROOT ({type(err).__name__}: {err})") from None
    if not remote:
        st = os.stat(path)
        identity.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
    return identity


def _check_counters(path: str, tree: Any) -> None:
    """Every jagged branch ``<Collection>_<field>`` of a collection with a counter ``n<Collection>`` must be
    counted by it: a branch with its own counter (a longer list in one event) would shift its values onto other
    objects of every later event, and NanoAOD's reading would not notice."""
    names = set(tree.keys())
    for branch in tree.itervalues():
        collection, _, field = branch.name.partition("_")
        if not field or f"n{collection}" not in names:
            continue
        counter = getattr(branch, "count_branch", None)
        if counter is not None and counter.name != f"n{collection}":
            raise BadFileError(
                f"{path}: branch {branch.name!r} is counted by {counter.name!r}, not "
                f"'n{collection}': its values would land on the wrong {collection} entries"
            )


def screen_fileset(fileset: dict, skip_bad_files: bool, timeout: float = Timeouts.remote) -> tuple[dict, list, dict]:
    """Check every file (``check_file``) before processing.

    The first bad file raises unless ``skip_bad_files``; two paths to one ROOT file (same UUID) always raise.

    Parameters
    ----------
    fileset : dict
        A fileset as ``load_fileset`` returns it.
    skip_bad_files : bool
        Whether a bad file is skipped (and listed) instead of stopping.
    timeout : float, default Timeouts.remote
        Seconds a remote file has to answer.

    Returns
    -------
    good : dict
        The fileset of readable, non-empty files, with local paths made absolute (a dataset left without any is
        left out).
    skipped : list of dict
        The skipped files: ``dataset``, ``file`` and ``reason``.
    identities : dict of str to dict
        The identity (``check_file``) of every readable file, by path, empty files included.

    Raises
    ------
    BadFileError
        A bad file, without ``skip_bad_files``.
    FilesetError
        Two paths to one ROOT file, or two datasets that would share an output folder.
    """
    _refuse_shared_folders(fileset)
    good: dict[str, Any] = {}
    skipped: list[dict[str, str]] = []
    identities: dict[str, dict[str, Any]] = {}
    owners: dict[str, tuple[str, str]] = {}
    for name, entry in fileset.items():
        files: dict[str, str] = {}
        for path, tree in entry["files"].items():
            path = path if "://" in path else os.path.abspath(path)  # workers may run elsewhere
            try:
                identities[path] = check_file(path, tree, timeout)
                _check_preprocessed(path, identities[path], entry.get("preprocessed", {}))
            except BadFileError as err:
                if not skip_bad_files:
                    raise
                skipped.append({"dataset": name, "file": path, "reason": str(err)})
                continue
            files[path] = tree
            first = owners.setdefault(identities[path]["uuid"], (name, path))
            if first != (name, path):
                raise FilesetError(
                    f"{first[1]} (dataset {quoted(first[0])}) and {path} (dataset {quoted(name)}) are "
                    "the same ROOT file (same UUID): list each file once, or its events are counted "
                    "twice"
                )
        # files with zero entries have no chunk: keep them out of the Runner, count them as processed
        nonempty = {p: t for p, t in files.items() if identities[p]["entries"] > 0}
        if nonempty:
            good[name] = {"files": nonempty, "metadata": entry["metadata"]}
    return good, skipped, identities


def _refuse_shared_folders(fileset: dict, where: str = "") -> None:
    """FilesetError when two dataset names map to one output folder: ``safe_component`` is injective, but a
    case-insensitive filesystem (macOS, Windows) would still merge ``ZZ`` and ``zz``."""
    seen: dict[str, str] = {}
    for name in fileset:
        folder = safe_component(name)
        first = seen.setdefault(folder.casefold(), name)
        if first != name:
            raise FilesetError(
                f"{where}datasets {first!r} and {name!r} would share the output folder {folder!r} (names "
                "that differ only in case): rename one"
            )


def _check_preprocessed(path: str, identity: dict, preprocessed: dict) -> None:
    """A file of a preprocessed fileset must be the one that was preprocessed (same UUID and entry count)."""
    recorded = preprocessed.get(path) or preprocessed.get(os.path.abspath(path)) or {}
    for key, value in recorded.items():
        if identity.get(key) != value:
            raise BadFileError(
                f"{path}: {key} is {identity.get(key)}, but the preprocessed fileset recorded {value}: "
                "the file changed since it was preprocessed; preprocess it again"
            )


def run_coffea(
    fileset: dict,
    processor_instance: Any,
    execution: Execution = Execution(),
    checkpoints: str | Path | None = None,
    format: str = "root",
    schema: type | None = None,
) -> dict:
    """Run a processor over ``fileset`` with coffea's Runner as ``execution`` says.

    Every chunk runs under ``chunk_guard.ChunkGuard``: with ``skip_bad_files`` a chunk failing on its input is
    recorded under ``skipped_chunks`` and the run goes on; otherwise it stops the run (``MissingBranchError`` or
    ``ChunkError``, naming the file). An output fault (``OutputError``) always stops it. Chunks are retried on
    error (3 times) and, on Dask, rerun elsewhere when their worker dies; a cluster without workers for
    ``timeouts.workers`` seconds is a ``ClusterError``.

    Parameters
    ----------
    fileset : dict
        The datasets to run over, in coffea's form (as ``screen_fileset`` returns them): each file names its tree.
    processor_instance : Any
        The coffea processor (``coffea.processor.ProcessorABC``).
    execution : Execution, default Execution()
        How the run executes (executor, workers, chunk size, skipping, timeouts, client).
    checkpoints : str or Path, optional
        A folder where every chunk's output is saved as it completes and loaded instead of computed on a rerun
        (``checkpoints.ChunkCheckpointer``); None: no checkpoints.
    format : str, default "root"
        ``root``: NanoAOD-style ROOT files; ``parquet``: jet tables.
    schema : type, optional
        The NanoEvents schema; default ``InputSchema`` for ``root`` (NanoAOD, or the open-data ntuples' base
        schema), coffea's ``BaseSchema`` for ``parquet``.

    Returns
    -------
    dict
        The processor's accumulated (and postprocessed) output; empty for an empty fileset.
    """
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    from xaugcol.processing.schema import InputSchema

    if not fileset:
        return {}
    e = execution
    guarded = ChunkGuard(processor_instance, e.skip_bad_files)
    schema = schema or (InputSchema if format == "root" else BaseSchema)
    options = {"xrootdtimeout": e.timeouts.remote} if format == "root" else {}
    with (
        coffea_executor(e.executor, e.workers, e.scheduler, e.progress, e.client, e.timeouts) as ex,
        _coffea_tracebacks(),
    ):
        # a cache of this run's own: coffea's default one lives as long as the process and would hand a later
        # run the entry count and UUID of a file since rewritten (the screening above read the file as it is now)
        runner = processor.Runner(
            executor=ex,
            schema=schema,
            chunksize=e.chunksize,
            format=format,
            checkpointer=ChunkCheckpointer(checkpoints),
            metadata_cache={},
            **options,
        )
        # every file of a loaded fileset names its tree ({path: tree}); a treename here would override them all
        return runner(fileset, processor_instance=guarded, treename=None) or {}


@contextlib.contextmanager
def _coffea_tracebacks() -> Iterator[None]:
    """coffea's futures executor prints the traceback of a failing chunk, then raises the error. For the errors
    that carry their own one-line message (a fault we named) that print is noise and is dropped; for anything
    else (a bug) it is the worker's traceback, so it is shown."""
    import coffea.processor.executor as coffea_executor_module

    printed = io.StringIO()
    original = coffea_executor_module.traceback
    coffea_executor_module.traceback = types.SimpleNamespace(
        print_exc=lambda *args, **kwargs: traceback.print_exc(file=printed)
    )
    try:
        yield
    except (OutputError, UnsafePathError, ChunkError, MissingBranchError, ClusterError, ModelFileError):
        raise
    except BaseException:
        sys.stderr.write(printed.getvalue())
        raise
    finally:
        coffea_executor_module.traceback = original


def versions() -> dict[str, str]:
    """The versions of Python, xaugcol and the libraries that shape a processing output (for its report).

    Returns
    -------
    dict of str to str
        Version by name: python, xaugcol, coffea, awkward, uproot, fastjet.
    """
    import awkward
    import coffea
    import fastjet

    import xaugcol

    return {
        "python": platform.python_version(),
        "xaugcol": xaugcol.__version__,
        "coffea": coffea.__version__,
        "awkward": awkward.__version__,
        "uproot": uproot.__version__,
        "fastjet": fastjet.__version__,
    }
