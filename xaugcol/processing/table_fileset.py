"""The jet tables of a processing run as a coffea fileset (parquet), so a later run (the relevance processor) reads
them with coffea's Runner instead of the raw events: nothing is recomputed.

The tables are the ones the run's ``report.json`` lists, each checked against it (present, a regular file, the
row count it wrote); the tables of one dataset form one fileset entry, whose metadata carries the dataset names
the tables' ``dataset_index`` points into. Each table's identity (rows, size, modification time) goes into a
resumed run's manifest, so a resume proves it reads the same tables.
"""

from __future__ import annotations

import os
from pathlib import Path

from xaugcol.paths import NotRegularFileError, check_regular, read_json, under
from xaugcol.processing.jet_table import ProcessingConfig
from xaugcol.processing.table_io import JETS_DIR, field_shape, table_datasets

REPORT = "report.json"


class TableError(RuntimeError):
    """A jet table listed by its processing report cannot be read as it was written; names the file."""


def processed_folder(path: str | Path) -> Path:
    """The processing output folder given it or its ``jets/`` folder."""
    path = Path(path)
    if path.name == JETS_DIR and (path.parent / REPORT).is_file():
        return path.parent
    if not (path / REPORT).is_file():
        raise FileNotFoundError(f"{path}: not a processing output (no {REPORT}): run 'xaugcol process' first and "
                                f"give its output folder")
    return path


def read_report(folder: Path) -> dict:
    try:
        report = read_json(folder / REPORT, "a processing output's report.json")
        report["tables"], report["config"]  # noqa: B018 - both must be there
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TableError(f"{folder / REPORT}: cannot read the processing report ({type(err).__name__}: {err})") \
            from None
    return report


def table_fileset(path: str | Path, skip_bad_files: bool = False):
    """(fileset, identities, skipped, processing configuration, per-column shapes, the labels present) of the jet
    tables of the processing output at ``path``. A table that is missing, not a regular file, or has another row count than its
    report says raises ``TableError``, or with ``skip_bad_files`` is skipped and listed."""
    import pyarrow.parquet as pq

    folder = processed_folder(path).resolve()
    report = read_report(folder)
    config = ProcessingConfig.from_dict(report["config"], str(folder / REPORT))
    fileset, identities, skipped, shapes, labels = {}, {}, [], {}, set()
    for name, rows in sorted(report["tables"].items()):
        table = under(folder, JETS_DIR, name)
        try:
            check_regular(table, "a jet table")
            meta = pq.read_metadata(table)
            if meta.num_rows != rows:
                raise TableError(f"{table}: {meta.num_rows} rows, but {folder / REPORT} lists {rows}: the table "
                                 "changed since processing; process again")
            schema = pq.read_schema(table)
            labels |= set(pq.read_table(table, columns=["label"]).column("label").unique().to_pylist())
        except (OSError, ValueError, TableError) as err:  # pyarrow's errors are OSError / ValueError subclasses
            reason = str(err) if isinstance(err, (TableError, NotRegularFileError)) else \
                f"{table}: cannot read it as a jet table ({type(err).__name__}: {err})"
            if not skip_bad_files:
                raise TableError(reason) from None
            skipped.append({"file": str(table), "reason": reason})
            continue
        datasets = table_datasets(schema)
        key = datasets[0] if len(datasets) == 1 else "+".join(datasets)
        entry = fileset.setdefault(key, {"files": {}, "metadata": {"datasets": datasets}})
        if rows > 0:
            entry["files"][str(table)] = "Events"
        st = os.stat(table)
        identities[name] = {"rows": rows, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        shapes.update({f.name: field_shape(f) for f in schema})
    fileset = {k: v for k, v in fileset.items() if v["files"]}
    return fileset, identities, skipped, config, shapes, labels
