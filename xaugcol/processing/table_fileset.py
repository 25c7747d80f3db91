"""The jet tables of a processing run, as its report lists them: for training (``listed_tables``) and as a coffea
fileset (parquet, ``table_fileset``), so a later run (the relevance processor) reads them with coffea's Runner
instead of the raw events: nothing is recomputed.

Every reader takes exactly the tables the run's ``report.json`` lists, each checked against it (present, a
regular file, the row count it wrote): a stray copy or a table of an unfinished run is never read. A folder whose
processing did not finish (an interrupted run's checkpoints are there) or is being written now (its lock is held)
is refused, naming it. In the fileset the tables of one dataset form one entry, whose metadata carries the
dataset names the tables' ``dataset_index`` points into. Each table's identity (rows, size, modification time)
goes into a resumed run's manifest, so a resume proves it reads the same tables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xaugcol.errors import InputDataError
from xaugcol.output_folder import lock_holder
from xaugcol.paths import NotRegularFileError, check_regular, read_json, safe_component, under
from xaugcol.processing.checkpoints import CHECKPOINTS, MANIFEST
from xaugcol.processing.settings import ProcessingConfig
from xaugcol.processing.table_io import JETS_DIR, field_shape, table_datasets
from xaugcol.quoting import quoted

REPORT = "report.json"


class TableError(InputDataError, RuntimeError):
    """Jet tables that cannot be read as their processing wrote them (a listed table missing, altered or
    unreadable; a processing that did not finish or is being written); names the file or folder."""


def processed_folder(path: str | Path) -> Path:
    """The processing output folder given it or its ``jets/`` folder.

    Parameters
    ----------
    path : str or Path
        A processing output folder, or its ``jets/`` folder.

    Returns
    -------
    Path
        The folder that holds the ``report.json`` (not resolved).

    Raises
    ------
    TableError
        Not a processing output (no ``report.json``).
    """
    path = Path(path)
    if path.name == JETS_DIR and (path.parent / REPORT).is_file():
        return path.parent
    if not (path / REPORT).is_file():
        raise TableError(
            f"{path}: not a processing output (no {REPORT}): run 'xaugcol process' first and give its output folder"
        )
    return path


def refuse_unfinished(folder: Path) -> None:
    """Refuse a processing output that is being written now, or was interrupted.

    Parameters
    ----------
    folder : Path
        The processing output folder.

    Raises
    ------
    TableError
        Its lock is held by a run, or an interrupted run left its checkpoint manifest.
    """
    holder = lock_holder(folder)
    if holder is not None:
        raise TableError(f"{folder} is being written by an xaugcol run ({holder}): wait for it to finish")
    if (folder / CHECKPOINTS / MANIFEST).exists():
        raise TableError(
            f"{folder}: its processing did not finish (an interrupted run left {CHECKPOINTS}/): "
            "continue it with 'xaugcol process ... --resume' (or run it again) first"
        )


def listed_tables(path: str | Path) -> tuple[Path, dict, list[tuple[str, Path, int]]]:
    """The tables a processing output's report lists, the processing checked finished and not being written.

    The tables themselves are checked by ``check_table`` where they are read.

    Parameters
    ----------
    path : str or Path
        The processing output folder (or its ``jets/``).

    Returns
    -------
    folder : Path
        The processing output folder, resolved.
    report : dict
        Its ``report.json``.
    tables : list of tuple of (str, Path, int)
        ``(name, path, rows)`` of each listed table, sorted by name; the path checked to stay inside the folder.

    Raises
    ------
    TableError
        An unfinished processing, an unreadable report, a malformed ``tables`` entry, a table name that is not
        ``<dataset>/<chunk>.parquet``, or one table listed twice (under two names of one file).
    """
    folder = processed_folder(path).resolve()
    refuse_unfinished(folder)
    report = read_report(folder)
    tables = report["tables"]
    if not isinstance(tables, dict) or not all(
        isinstance(n, str) and isinstance(r, int) and not isinstance(r, bool) for n, r in tables.items()
    ):
        raise TableError(f"{folder / REPORT}: 'tables' must map table names to row counts")
    listed: list[tuple[str, Path, int]] = []
    seen: dict[tuple[int, int] | str, str] = {}
    for name, rows in sorted(tables.items()):
        if not _canonical(name):
            raise TableError(
                f"{folder / REPORT}: table name {quoted(name)} is not <dataset>/<chunk>.parquet as processing writes it"
            )
        path = under(folder, JETS_DIR, name)
        first = seen.setdefault(_file_identity(path), name)
        if first != name:  # two names of one file (a hard link, or a link) would read it twice
            raise TableError(f"{folder / REPORT}: lists one table twice ({quoted(first)} and {quoted(name)})")
        listed.append((name, path, rows))
    return folder, report, listed


def _file_identity(path: Path) -> tuple[int, int] | str:
    """(device, inode) of the file ``path`` names (links followed), or the path itself where there is none yet."""
    try:
        info = os.stat(path)
    except OSError:
        return str(path)
    return info.st_dev, info.st_ino


def _canonical(name: str) -> bool:
    """``<dataset>/<chunk>.parquet``: two plain components (no '.', '..' or empty ones), as ``table_io`` names."""
    parts = name.split("/")
    return len(parts) == 2 and all(p and p not in (".", "..") for p in parts) and parts[1].endswith(".parquet")


def table_labels(report: dict) -> dict[str, int]:
    """The label of each table folder (``<dataset>/``) as the processing report records it.

    Parameters
    ----------
    report : dict
        A processing report.

    Returns
    -------
    dict of str to int
        ``{dataset as a safe folder name: label}`` for the integer labels (a ``"truth"`` label, each jet's own, is
        left out); empty for a report written before processing recorded labels.
    """
    labels = report.get("labels")
    if not isinstance(labels, dict):
        return {}
    return {
        safe_component(dataset): label
        for dataset, label in labels.items()
        if isinstance(label, int) and not isinstance(label, bool)
    }


def check_table(table: Path, rows: int, report: Path, label: int | None = None) -> Any:
    """The parquet metadata of a listed ``table``, checked; ``TableError`` naming it otherwise.

    Parameters
    ----------
    table : Path
        The jet table (a parquet file), which must be a regular file.
    rows : int
        The row count its processing report lists for it.
    report : Path
        The processing report, for the messages.
    label : int, optional
        Its dataset's label in the report: then every row must hold it.

    Returns
    -------
    pyarrow.parquet.FileMetaData
        The table's parquet metadata.
    """
    import pyarrow.parquet as pq

    try:
        check_regular(table, "a jet table")
        meta = pq.read_metadata(table)
    except NotRegularFileError as err:
        raise TableError(str(err)) from None
    except FileNotFoundError:
        raise TableError(f"{table}: the jet table {report} lists is missing; process again") from None
    except (OSError, ValueError) as err:  # pyarrow's errors are OSError / ValueError subclasses
        raise TableError(f"{table}: cannot read it as a jet table ({type(err).__name__}: {err})") from None
    if meta.num_rows != rows:
        raise TableError(
            f"{table}: {meta.num_rows} rows, but {report} lists {rows}: the table changed since "
            "processing; process again"
        )
    if label is not None and rows:
        try:
            found = set(pq.read_table(table, columns=["label"]).column("label").unique().to_pylist())
        except (OSError, ValueError, KeyError) as err:
            raise TableError(f"{table}: cannot read its label column ({type(err).__name__}: {err})") from None
        if found != {label}:
            raise TableError(
                f"{table}: holds label(s) {sorted(found, key=str)} but its dataset has label {label} in "
                f"{report}: the table changed since processing; process again"
            )
    return meta


def read_report(folder: Path) -> dict[str, Any]:
    """The report.json of the processing output ``folder``.

    Parameters
    ----------
    folder : Path
        The processing output folder.

    Returns
    -------
    dict of str to Any
        The report, which lists ``tables`` and ``config``.

    Raises
    ------
    TableError
        The report cannot be read, or lacks ``tables`` or ``config``.
    """
    try:
        report = read_json(folder / REPORT, "a processing output's report.json")
        report["tables"], report["config"]  # noqa: B018 - both must be there
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TableError(
            f"{folder / REPORT}: cannot read the processing report ({type(err).__name__}: {err})"
        ) from None
    return report


def table_fileset(
    path: str | Path, skip_bad_files: bool = False
) -> tuple[
    dict[str, dict[str, Any]],
    dict[str, dict[str, int]],
    list[dict[str, str]],
    ProcessingConfig,
    dict[str, tuple[int, ...]],
    set[int],
]:
    """The coffea fileset of the jet tables of the processing output at ``path``, with what a run over it needs.

    A table that is missing, not a regular file, or has another row count than its report says raises
    ``TableError``, or with ``skip_bad_files`` is skipped and listed.

    Parameters
    ----------
    path : str or Path
        The processing output (or its ``jets/`` folder).
    skip_bad_files : bool
        Skip and list bad tables instead of raising.

    Returns
    -------
    tuple
        (fileset, identities of the tables, skipped tables with the reason, processing configuration,
        per-column shapes, the labels present).
    """
    import pyarrow.parquet as pq

    folder, report, tables = listed_tables(path)
    config = ProcessingConfig.from_dict(report["config"], str(folder / REPORT))
    expected = table_labels(report)
    fileset: dict[str, dict[str, Any]] = {}
    identities: dict[str, dict[str, int]] = {}
    skipped: list[dict[str, str]] = []
    shapes: dict[str, tuple[int, ...]] = {}
    labels: set[int] = set()
    for name, table, rows in tables:
        try:
            label = expected.get(name.split("/")[0])
            check_table(table, rows, folder / REPORT, label)  # with a label: every row checked to hold it
            schema = pq.read_schema(table)
            labels |= (
                {label}
                if label is not None and rows
                else set(pq.read_table(table, columns=["label"]).column("label").unique().to_pylist())
            )
        except (OSError, ValueError, TableError) as err:  # pyarrow's errors are OSError / ValueError subclasses
            reason = (
                str(err)
                if isinstance(err, TableError)
                else f"{table}: cannot read it as a jet table ({type(err).__name__}: {err})"
            )
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
