"""Run the XAUG processor over a coffea fileset with coffea's Runner; write tables, histograms and a report.

Outputs in ``out_dir``:
* ``jets/<dataset>/<chunk>.parquet``: the jet table, one file per chunk (written atomically);
* ``histograms.root``: every histogram as TH1D ``<variable>/<dataset>_label<k>`` (uproot);
* ``report.json``: configuration, files processed and skipped (with the reason), chunks skipped (file, entry range,
  error), jet counts per dataset (seen, kept, skipped by reason), columns a layout could not provide, versions and
  the substructure backend(s) the workers used (``xaugcol.jets.backend``).

Bad files are found before processing (opened with uproot: readable, tree present, entries known): by default the
first one stops the run with a message that names it; with ``skip_bad_files`` they are skipped and listed, and so
is any chunk whose processing fails (``chunk_guard``).

Every chunk's output is checkpointed while the run goes (``checkpoints``): an interrupted run continues with
``resume`` and counts no chunk twice. ``overwrite`` replaces an earlier run's outputs; like the cleanup at the end
of a run it removes only what a processing run provably wrote there (``outputs``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import hist
import uproot

from xaugcol.atomic import atomic_path, write_json
from xaugcol.jets import backend
from xaugcol.output_folder import output_lock, read_lock
from xaugcol.paths import refuse_inputs_inside, safe_component
from xaugcol.processing.checkpoints import CHECKPOINTS, MANIFEST, CheckpointError, open_checkpoints, remove_checkpoints
from xaugcol.processing.chunk_guard import skipped_chunks
from xaugcol.processing.coffea_runner import Execution, dataset_label, run_coffea, screen_fileset, versions
from xaugcol.processing.histograms import empty_histograms
from xaugcol.processing.jet_table import SKIP_REASONS, ProcessingConfig
from xaugcol.processing.outputs import (
    HISTOGRAMS,
    REPORT,
    OwnedTables,
    earlier_records,
    present_tables,
    reconcile_tables,
    remove_earlier_outputs,
)
from xaugcol.processing.table_io import JETS_DIR


@dataclass
class RunResult:
    """What a processing run returns: its histograms, counts and report.

    Parameters
    ----------
    histograms : dict
        The histograms by variable (``dict of str to hist.Hist``, axes dataset, label and the variable).
    counts : dict
        Per dataset, the jet and chunk counts: ``jets_seen``, ``jets_kept``, ``skipped_<reason>``, ``chunks``,
        ``events``.
    unavailable : dict
        Per dataset, the sorted list of columns its layout could not provide.
    skipped_files : list, default []
        The files skipped before processing (``dataset``, ``file``, ``reason``).
    report : dict, default {}
        The report written to ``report.json``.
    skipped_chunks : list, default []
        The chunks skipped on an error (``chunk_guard.skipped_chunks``).
    """

    histograms: dict
    counts: dict
    unavailable: dict
    skipped_files: list = field(default_factory=list)
    report: dict = field(default_factory=dict)
    skipped_chunks: list = field(default_factory=list)


def process_fileset(
    processor_class: type,
    fileset: dict,
    out_dir: str | Path,
    config: ProcessingConfig = ProcessingConfig(),
    execution: Execution = Execution(),
    resume: bool = False,
    overwrite: bool = False,
) -> RunResult:
    """Process ``fileset`` into ``out_dir`` (locked while the run writes).

    Input files inside ``out_dir`` are refused before anything is touched; the input files' folders are held
    with read locks while the run reads them. At the end the jet tables of processing runs in ``out_dir`` are
    exactly the ones this run's report lists, and the checkpoints are removed.

    Parameters
    ----------
    processor_class : type
        The processor, built as ``processor_class(jets folder, labels, config)`` (the XAUG processor, handed in by
        ``xaugcol.coffea_runs``).
    fileset : dict
        The datasets, as ``coffea_runner.load_fileset`` returns them.
    out_dir : str or Path
        The output folder (resolved to an absolute path).
    config : ProcessingConfig, default ProcessingConfig()
        The jet selection and table settings.
    execution : Execution, default Execution()
        How the run executes (executor, workers, chunk size, skipping bad files, timeouts).
    resume : bool, default False
        Continue a run that was interrupted (same settings and input files): chunks it finished are loaded from
        its checkpoints, the rest are processed.
    overwrite : bool, default False
        Replace an earlier run's outputs.

    Returns
    -------
    RunResult
        The histograms, counts, unavailable columns, skipped files and chunks, and the report written.

    Raises
    ------
    CheckpointError
        ``out_dir`` holds jet tables of another run (without ``overwrite`` or an interrupted run's checkpoints),
        or checkpoints that cannot be resumed (``checkpoints.open_checkpoints``).
    """
    out_dir = Path(out_dir).resolve()  # chunks run in other processes, perhaps in another working directory
    e = execution
    refuse_inputs_inside(
        out_dir, [(f"input file of dataset {name!r}", f) for name, entry in fileset.items() for f in entry["files"]]
    )
    # the input files' folders are held as readers: a generator writing into one (``--overwrite``) is refused
    # while the run reads it, and the run is refused while a generator writes there
    inputs = {Path(f).resolve().parent for entry in fileset.values() for f in entry["files"] if "://" not in f}
    with contextlib.ExitStack() as reading, output_lock(out_dir):
        for folder in sorted(inputs):
            reading.enter_context(read_lock(folder))
        earlier = earlier_records(out_dir)  # read before this run's manifest replaces an interrupted run's
        if overwrite:
            remove_earlier_outputs(out_dir, earlier)
        good, skipped, identities = screen_fileset(fileset, e.skip_bad_files, e.timeouts.remote)
        labels = {name: dataset_label(entry) for name, entry in fileset.items()}
        # the substructure backend is a setting: a resume does not mix tables of the extension and the fallback
        manifest = {
            "run": "processing",
            "config": config.as_dict(),
            "chunksize": e.chunksize,
            "labels": labels,
            "files": identities,
            "substructure": backend.active(),
        }
        _refuse_earlier_tables(out_dir, overwrite)
        with e.session() as e:
            folder, resumed = open_checkpoints(out_dir, manifest, resume)
            output = run_coffea(good, processor_class(str(out_dir / JETS_DIR), labels, config), e, folder)
        tables = dict(sorted(output.get("tables", {}).items()))
        stale, unlisted = reconcile_tables(out_dir, tables, OwnedTables([*earlier, manifest]))

        hists = output.get("histograms") or empty_histograms()
        zero = {"jets_seen": 0, "jets_kept": 0, **{f"skipped_{r}": 0 for r in SKIP_REASONS}, "chunks": 0, "events": 0}
        counts = {name: {**zero, **output.get("counts", {}).get(name, {})} for name in fileset}
        unavailable = {name: sorted(output.get("unavailable", {}).get(name, set())) for name in fileset}
        bad_chunks = skipped_chunks(output)
        write_histograms(out_dir / HISTOGRAMS, hists)
        report = {
            "config": config.as_dict(),
            **e.describe(),
            "files": identities,
            "skipped_files": skipped,
            "skipped_chunks": bad_chunks,
            "chunks_from_checkpoints": resumed,
            "counts": counts,
            "labels": labels,
            "unavailable_columns": unavailable,
            "tables": tables,
            "removed_stale_tables": stale,
            "unlisted_tables": unlisted,
            "outputs": {"jets": JETS_DIR, "histograms": HISTOGRAMS},
            "versions": versions(),
            "substructure_backends": sorted(output.get("substructure", set())),
        }
        write_json(out_dir / REPORT, report)
        remove_checkpoints(out_dir)
    return RunResult(hists, counts, unavailable, skipped, report, bad_chunks)


def _refuse_earlier_tables(out_dir: Path, overwrite: bool) -> None:
    """Jet tables of another run in ``out_dir`` (a finished run's, or tables no record explains) are refused
    unless ``overwrite`` (which removed the earlier run's own), or an interrupted run left them (its checkpoint
    manifest is there): those are reused when the resume proves the same settings and inputs, replaced, or
    removed as stale at the end."""
    if overwrite or (out_dir / CHECKPOINTS / MANIFEST).exists() or not present_tables(out_dir):
        return
    what = "a finished run" if (out_dir / REPORT).exists() else "an earlier run"
    raise CheckpointError(
        f"{out_dir / JETS_DIR} holds the jet tables of {what}; write to a new folder or start again with --overwrite"
    )


def write_histograms(path: Path, hists: dict) -> None:
    """Write each (variable, dataset, label) slice as a TH1D ``variable/<dataset>_label<k>``, atomically.

    The dataset is written as its safe file-name component (a '/' would open a ROOT sub-folder); label -1 (no
    truth) only where it holds entries.

    Parameters
    ----------
    path : Path
        The ROOT file to write.
    hists : dict
        The histograms by variable (``dict of str to hist.Hist``, axes dataset, label and the variable).

    Raises
    ------
    RuntimeError
        Two slices would be written under the same key.
    """
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as f:
            written = set()
            for name, h in hists.items():
                for dataset in h.axes["dataset"]:
                    for label in (0, 1, -1):
                        part = h[{"dataset": dataset, "label": hist.loc(label)}]
                        if label >= 0 or part.sum().value > 0:  # label -1 (no truth) only where there is data
                            key = f"{name}/{safe_component(dataset)}_label{label}"
                            if key in written:  # a second write would shadow the first (a ROOT cycle)
                                raise RuntimeError(f"histogram key {key!r} written twice")
                            written.add(key)
                            f[key] = part
