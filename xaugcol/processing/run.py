"""Run the XAUG processor over a coffea fileset with coffea's Runner; write tables, histograms and a report.

Outputs in ``out_dir``:
* ``jets/<dataset>/<chunk>.parquet``: the jet table, one file per chunk (written atomically);
* ``histograms.root``: every histogram as TH1D ``<variable>/<dataset>_label<k>`` (uproot);
* ``report.json``: configuration, files processed and skipped (with the reason), chunks skipped (file, entry range,
  error), jet counts per dataset (seen, kept, skipped by reason), columns a layout could not provide, versions.

Bad files are found before processing (opened with uproot: readable, tree present, entries known): by default the
first one stops the run with a message that names it; with ``skip_bad_files`` they are skipped and listed, and so
is any chunk whose processing fails (``chunk_guard``).

Every chunk's output is checkpointed while the run goes (``checkpoints``): an interrupted run continues with
``resume`` and counts no chunk twice.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path

import hist
import numpy as np
import uproot

from xaugcol.atomic import atomic_path, write_json
from xaugcol.jets.constituents import MissingBranchError
from xaugcol.processing.checkpoints import (CHECKPOINTS, MANIFEST, CheckpointError, ChunkCheckpointer,
                                            close_checkpoints, open_checkpoints)
from xaugcol.processing.chunk_guard import SkipBadChunks, skipped_chunks
from xaugcol.processing.executors import check_executor, coffea_executor
from xaugcol.processing.histograms import empty_histograms
from xaugcol.processing.jet_table import SKIP_REASONS, ProcessingConfig
from xaugcol.processing.table_io import JETS_DIR

REPORT = "report.json"
HISTOGRAMS = "histograms.root"


class BadFileError(RuntimeError):
    """An input file cannot be processed; names the file and why."""


class FilesetError(ValueError):
    """The fileset JSON is unreadable or malformed."""


@dataclass
class RunResult:
    histograms: dict
    counts: dict
    unavailable: dict
    skipped_files: list = field(default_factory=list)
    report: dict = field(default_factory=dict)
    skipped_chunks: list = field(default_factory=list)


def load_fileset(path: str | Path) -> dict:
    """A coffea fileset from JSON, validated: {dataset: {"files": {path: tree} or [paths], "metadata": {"label"}}}.
    Relative file paths are taken relative to the JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise FilesetError(f"fileset {path}: cannot read it as JSON: {err}") from None
    if not isinstance(data, dict) or not data:
        raise FilesetError(f"fileset {path}: expected a non-empty mapping of dataset names")
    fileset = {}
    for name, entry in data.items():
        where = f"fileset {path}: dataset {name!r}"
        if not isinstance(entry, dict) or "files" not in entry:
            raise FilesetError(f"{where}: expected a mapping with 'files'")
        files = entry["files"]
        if isinstance(files, list):
            files = {f: "Events" for f in files}
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise FilesetError(f"{where}: 'files' must map file paths to tree names (or list file paths)")
        meta = dict(entry.get("metadata") or {})
        if meta.get("label") not in (0, 1):
            raise FilesetError(f"{where}: metadata 'label' must be 0 or 1, got {meta.get('label')!r}")
        resolved = {}
        for f, tree in files.items():
            is_remote = "://" in f
            resolved[f if is_remote or Path(f).is_absolute() else str((path.parent / f).resolve())] = tree
        fileset[name] = {"files": resolved, "metadata": meta}
    return fileset


def check_file(path: str, tree: str) -> int:
    """Number of entries of ``tree`` in ``path``; BadFileError naming the file when it cannot be read.

    Reads metadata only: the file opens, the tree exists, and every basket of every branch lies inside the file
    (a truncated copy opens fine but its last baskets point past the end).
    """
    try:
        with uproot.open(path) as f:
            if tree not in f:
                present = sorted(set(k.split(";")[0] for k in f.keys()))
                raise BadFileError(f"{path}: no tree {tree!r} (has: {', '.join(present) or 'nothing'})")
            t = f[tree]
            size = getattr(f.file.source, "num_bytes", None)
            if size is not None:
                for branch in t.itervalues(recursive=True):
                    n = branch.num_baskets
                    if n == 0:
                        continue
                    ends = np.asarray(branch.member("fBasketSeek")[:n]) + np.asarray(branch.member("fBasketBytes")[:n])
                    if ends.max() > size:
                        raise BadFileError(f"{path}: truncated: branch {branch.name!r} has data up to byte "
                                           f"{int(ends.max())} but the file has {size} bytes")
            return int(t.num_entries)
    except BadFileError:
        raise
    except FileNotFoundError:
        raise BadFileError(f"{path}: file not found") from None
    except Exception as err:  # uproot raises many types on truncated / corrupt files
        raise BadFileError(f"{path}: cannot read it as ROOT ({type(err).__name__}: {err})") from None


def screen_fileset(fileset: dict, skip_bad_files: bool) -> tuple[dict, list, dict]:
    """Check every file (``check_file``) before processing. Returns (the fileset of readable, non-empty files,
    skipped files with the reason, entries per file). The first bad file raises unless ``skip_bad_files``."""
    good, skipped, entries = {}, [], {}
    for name, entry in fileset.items():
        files = {}
        for path, tree in entry["files"].items():
            try:
                entries[path] = check_file(path, tree)
                files[path] = tree
            except BadFileError as err:
                if not skip_bad_files:
                    raise
                skipped.append({"dataset": name, "file": path, "reason": str(err)})
        # files with zero entries have no chunk: keep them out of the Runner, count them as processed
        nonempty = {p: t for p, t in files.items() if entries[p] > 0}
        if nonempty:
            good[name] = {"files": nonempty, "metadata": entry["metadata"]}
    return good, skipped, entries


def run_coffea(fileset: dict, processor_instance, executor: str = "iterative", workers: int = 1,
               chunksize: int = 100_000, progress: bool = False, scheduler: str | None = None,
               checkpoints: str | Path | None = None, skip_bad_chunks: bool = False, client=None) -> dict:
    """Run a processor over NanoAOD-style files with coffea's Runner and the named executor (``executors``).

    ``checkpoints``: a folder where every chunk's output is saved as it completes and loaded instead of computed
    on a rerun (``checkpoints.ChunkCheckpointer``). ``skip_bad_chunks``: a chunk that raises is recorded under
    ``skipped_chunks`` in the output instead of stopping the run. Otherwise a missing branch comes back
    unwrapped. Chunks are retried on error (3 times) and, on Dask, rerun elsewhere when their worker dies."""
    from coffea import processor
    from coffea.nanoevents import NanoAODSchema

    if client is None:
        check_executor(executor, scheduler)
    if not fileset:
        return {}
    if skip_bad_chunks:
        processor_instance = SkipBadChunks(processor_instance)
    checkpointer = ChunkCheckpointer(checkpoints) if checkpoints is not None else None
    with coffea_executor(executor, workers, scheduler, progress, client) as ex:
        runner = processor.Runner(executor=ex, schema=NanoAODSchema, chunksize=chunksize, checkpointer=checkpointer)
        try:
            return runner(fileset, processor_instance=processor_instance, treename="Events") or {}
        except Exception as err:
            # coffea wraps a chunk's error; a missing branch is the user's to fix: give it back unwrapped
            cause = _find_cause(err, MissingBranchError)
            if cause is not None:
                raise cause from None
            raise


def run_processing(fileset: dict, out_dir: str | Path, executor: str = "iterative", workers: int = 1,
                   chunksize: int = 100_000, config: ProcessingConfig = ProcessingConfig(),
                   skip_bad_files: bool = False, progress: bool = False, scheduler: str | None = None,
                   resume: bool = False, client=None) -> RunResult:
    """Process ``fileset`` into ``out_dir``. ``resume``: continue a run that was interrupted (same settings):
    chunks it finished are loaded from its checkpoints, the rest are processed."""
    from processors.xaug_processor import XAUGProcessor

    if client is None:
        check_executor(executor, scheduler)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    good, skipped, entries = screen_fileset(fileset, skip_bad_files)
    labels = {name: int(entry["metadata"]["label"]) for name, entry in fileset.items()}
    manifest = {"run": "processing", "config": config.as_dict(), "chunksize": chunksize, "labels": labels,
                "files": {p: n for p, n in entries.items()}}
    _refuse_earlier_tables(out_dir, resume)
    folder, resumed = open_checkpoints(out_dir, manifest, resume)
    output = run_coffea(good, XAUGProcessor(str(out_dir / JETS_DIR), labels, config), executor, workers,
                        chunksize, progress, scheduler, folder, skip_bad_files, client)

    hists = output.get("histograms") or empty_histograms()
    zero = {"jets_seen": 0, "jets_kept": 0, **{f"skipped_{r}": 0 for r in SKIP_REASONS}, "chunks": 0, "events": 0}
    counts = {name: {**zero, **output.get("counts", {}).get(name, {})} for name in fileset}
    unavailable = {name: sorted(output.get("unavailable", {}).get(name, set())) for name in fileset}
    bad_chunks = skipped_chunks(output)
    write_histograms(out_dir / HISTOGRAMS, hists)
    report = {
        "config": config.as_dict(),
        "executor": executor,
        "workers": workers,
        "chunksize": chunksize,
        "files": {p: {"entries": n} for p, n in entries.items()},
        "skipped_files": skipped,
        "skipped_chunks": bad_chunks,
        "chunks_from_checkpoints": resumed,
        "counts": counts,
        "unavailable_columns": unavailable,
        "outputs": {"jets": JETS_DIR, "histograms": HISTOGRAMS},
        "versions": versions(),
    }
    write_json(out_dir / REPORT, report)
    close_checkpoints(folder)
    return RunResult(hists, counts, unavailable, skipped, report, bad_chunks)


def _refuse_earlier_tables(out_dir: Path, resume: bool) -> None:
    """Jet tables of another run in ``out_dir`` would be read together with this run's: refuse, unless this run
    resumes that one (its checkpoints prove the same settings, so every table is overwritten or reused)."""
    jets = out_dir / JETS_DIR
    if not any(jets.rglob("*.parquet")):
        return
    if not (resume and (out_dir / CHECKPOINTS / MANIFEST).exists()):
        what = "a finished run" if (out_dir / REPORT).exists() else "an earlier run"
        raise CheckpointError(f"{jets} holds the jet tables of {what}; write to a new folder"
                              + ("" if resume else " (or --resume an interrupted run)"))


def _find_cause(err: BaseException, kind: type):
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, kind):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def write_histograms(path: Path, hists: dict) -> None:
    """Each (variable, dataset, label) slice as a TH1D ``variable/dataset_label<k>``, atomically."""
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as f:
            for name, h in hists.items():
                for dataset in h.axes["dataset"]:
                    for label in (0, 1):
                        f[f"{name}/{dataset}_label{label}"] = h[{"dataset": dataset, "label": hist.loc(label)}]


def versions() -> dict:
    import awkward
    import coffea
    import fastjet

    import xaugcol

    return {"python": platform.python_version(), "xaugcol": xaugcol.__version__, "coffea": coffea.__version__,
            "awkward": awkward.__version__, "uproot": uproot.__version__, "fastjet": fastjet.__version__}
