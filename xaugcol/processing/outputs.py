"""What a processing run may remove from its output folder: only what it can prove a processing run wrote there.

The proof comes from the folder's own records, the last finished run's ``report.json`` and an interrupted run's
``checkpoints/manifest.json`` (read before a new run replaces them), and this run's manifest:
* a table a report lists (``tables``);
* a table in ``jets/<dataset>/`` named after a chunk of a file a record lists: ``<stem>-<tag>-<start>-<stop>``
  where the tag hashes that file's path and ROOT UUID (``table_io.chunk_key``), and the folder is one of the
  record's datasets. A table the processor wrote but whose chunk was not checkpointed (a kill in between) is so
  proven, whatever the run that follows.
Anything else under ``jets/`` (a user's file, a stray copy of a table under another name) is left in place; the
parquet files among them are listed in the report under ``unlisted_tables`` and never read: readers take only
the tables the report lists (``table_fileset``). Inputs may not lie inside the output folder at all
(``paths.refuse_inputs_inside``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xaugcol.atomic import remove
from xaugcol.paths import check_regular, read_json, safe_component, under
from xaugcol.processing.checkpoints import CHECKPOINTS, MANIFEST, remove_checkpoints
from xaugcol.processing.table_io import CHUNK_KEY, JETS_DIR, file_tag

REPORT = "report.json"
HISTOGRAMS = "histograms.root"


def earlier_records(out_dir: Path) -> list[dict]:
    """The records earlier processing runs left in ``out_dir``: its report and an interrupted run's manifest.

    Parameters
    ----------
    out_dir : Path
        The processing output folder.

    Returns
    -------
    list of dict
        ``report.json`` and ``checkpoints/manifest.json``, those that are regular files (not links) holding a JSON
        mapping; one that cannot be read is left out.
    """
    records = []
    for path in (out_dir / REPORT, out_dir / CHECKPOINTS / MANIFEST):
        try:
            record = read_json(path, "an earlier run's record") if path.is_file() and not path.is_symlink() else None
        except (OSError, ValueError):
            record = None
        if isinstance(record, dict):
            records.append(record)
    return records


class OwnedTables:
    """Which table names (relative to ``jets/``) runs with the given records provably wrote.

    ``name in owned`` is true for a table a record lists (``tables``), or for ``<dataset folder>/<chunk>.parquet``
    whose chunk key names a file a record lists (its stem and tag) and whose folder is one of the record's
    datasets (``labels`` or ``counts``).

    Parameters
    ----------
    records : list of dict
        Reports and checkpoint manifests (``earlier_records``, this run's manifest); malformed entries are ignored.
    """

    def __init__(self, records: list[dict]):
        self.listed: set[str] = set()
        self.chunks: set[tuple[str, str, str]] = set()  # (dataset folder, file stem, file tag)
        for record in records:
            tables = record.get("tables")
            if isinstance(tables, dict):
                self.listed |= {name for name in tables if isinstance(name, str)}
            datasets = [*_keys(record.get("labels")), *_keys(record.get("counts"))]
            for path, identity in (record.get("files") or {}).items():
                uuid = identity.get("uuid") if isinstance(identity, dict) else None
                tag = file_tag(str(path), str(uuid or path))
                self.chunks |= {(safe_component(d), Path(str(path)).stem, tag) for d in datasets}

    def __contains__(self, name: str) -> bool:
        if name in self.listed:
            return True
        parts = name.split("/")
        if len(parts) != 2 or not parts[1].endswith(".parquet"):
            return False
        match = CHUNK_KEY.match(parts[1].removesuffix(".parquet"))
        return match is not None and (parts[0], match["stem"], match["tag"]) in self.chunks


def present_tables(out_dir: Path) -> dict[str, Path]:
    """Every parquet file under ``out_dir/jets``, by name relative to ``jets/``.

    Parameters
    ----------
    out_dir : Path
        The processing output folder; its ``jets`` is checked not to be a planted link.

    Returns
    -------
    dict of str to Path
        ``{name relative to jets/ (posix): path}``; empty when there is no ``jets/`` folder.
    """
    jets = under(out_dir, JETS_DIR)
    if not jets.is_dir():
        return {}
    return {p.relative_to(jets).as_posix(): p for p in jets.rglob("*.parquet")}


def remove_earlier_outputs(out_dir: Path, records: list[dict]) -> list[str]:
    """``--overwrite``: remove what earlier runs provably wrote.

    The report goes first, so the folder no longer reads as finished; then the histograms, their tables, the
    dataset folders left empty and the checkpoints.

    Parameters
    ----------
    out_dir : Path
        The processing output folder.
    records : list of dict
        The earlier runs' records (``earlier_records``); without any, no report or histograms are removed.

    Returns
    -------
    list of str
        The tables removed (names relative to ``jets/``), sorted.
    """
    owned = OwnedTables(records)
    if records:
        remove(under(out_dir, REPORT))
        remove(under(out_dir, HISTOGRAMS))
    removed = sorted(name for name in present_tables(out_dir) if name in owned)
    for name in removed:
        remove(under(out_dir, JETS_DIR, name))
    _remove_empty_folders(out_dir / JETS_DIR)
    remove_checkpoints(out_dir)
    return removed


def reconcile_tables(out_dir: Path, expected: dict[str, int], owned: OwnedTables) -> tuple[list[str], list[str]]:
    """Leave ``jets/`` holding the ``expected`` tables and nothing else a run wrote.

    Parameters
    ----------
    out_dir : Path
        The processing output folder.
    expected : dict of str to int
        What this run wrote: ``{table name relative to jets/: rows}``.
    owned : OwnedTables
        The tables runs provably wrote (earlier records and this run's manifest).

    Returns
    -------
    stale : list of str
        The tables of earlier runs removed.
    unlisted : list of str
        The files left in place because no record proves them ours.

    Raises
    ------
    OutputError
        An expected table that is missing or has another row count.
    """
    import pyarrow.parquet as pq

    from xaugcol.atomic import OutputError

    present = present_tables(out_dir)
    for name, rows in expected.items():
        if name in present:  # on a resume, the interrupted run's table: the folder is the user's to change
            check_regular(present[name], "a jet table")
        if name not in present or pq.read_metadata(present[name]).num_rows != rows:
            raise OutputError(
                out_dir / JETS_DIR / name,
                f"the jet table this run wrote is "
                f"{'gone' if name not in present else 'altered'} (expected {rows} rows)",
            )
    others = sorted(set(present) - set(expected))
    stale = [name for name in others if name in owned]
    for name in stale:
        remove(present[name])
    _remove_empty_folders(out_dir / JETS_DIR)
    return stale, [name for name in others if name not in owned]


def _keys(mapping: Any) -> list[str]:
    """The keys of ``mapping`` as strings; none when it is not a mapping (a report written otherwise)."""
    return [str(k) for k in mapping] if isinstance(mapping, dict) else []


def _remove_empty_folders(folder: Path) -> None:
    """The dataset folders under ``jets/`` that removing tables left empty."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for sub in folder.iterdir():
        if sub.is_dir() and not sub.is_symlink() and not any(sub.iterdir()):
            sub.rmdir()
