"""Jet tables on disk: one parquet file per processed chunk, written atomically; read back lazily."""

from __future__ import annotations

import hashlib
from pathlib import Path

import awkward as ak
import numpy as np

from xaugcol.atomic import OutputError, atomic_path, make_dirs
from xaugcol.paths import safe_component, under

JETS_DIR = "jets"
# rows per parquet row group: readers (training) stream row group by row group, so keep them a few MB each
ROW_GROUP_ROWS = 4096


def chunk_key(metadata: dict) -> str:
    """A name that identifies the chunk: source file, entry range. Stable across executors and reruns."""
    source = str(metadata.get("fileuuid") or metadata["filename"])
    tag = hashlib.sha1(f"{metadata['filename']}|{source}".encode()).hexdigest()[:12]
    stem = Path(str(metadata["filename"])).stem
    return f"{stem}-{tag}-{metadata['entrystart']:010d}-{metadata['entrystop']:010d}"


def chunk_name(metadata: dict) -> str:
    """The chunk's jet-table file name."""
    return chunk_key(metadata) + ".parquet"


def table_name(metadata: dict) -> str:
    """A chunk's table relative to the jet-table folder: ``<dataset as a safe name>/<chunk>.parquet``."""
    return f"{safe_component(metadata['dataset'])}/{chunk_name(metadata)}"


def table_path(jets_dir: str | Path, metadata: dict) -> Path:
    """Where a chunk's jet table goes, checked to stay inside the output folder that holds ``jets_dir``, whatever
    the dataset is called and even if a link was planted as the jet-table folder."""
    jets = Path(jets_dir).absolute()
    return under(jets.parent, jets.name, table_name(metadata))


def reconcile_tables(jets_dir: str | Path, expected: dict[str, int]) -> list[str]:
    """Leave ``jets_dir`` holding exactly the ``expected`` tables ({path relative to it: rows}). Tables the run
    did not write (an interrupted run's chunks of inputs since changed) are removed and returned; an expected
    table that is missing or has another row count is an ``OutputError``."""
    import pyarrow.parquet as pq

    folder = Path(jets_dir)
    present = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*.parquet")} if folder.is_dir() else {}
    for name, rows in expected.items():
        if name not in present or pq.read_metadata(present[name]).num_rows != rows:
            raise OutputError(folder / name, f"the jet table this run wrote is {'gone' if name not in present else 'altered'}"
                              f" (expected {rows} rows)")
    stale = sorted(set(present) - set(expected))
    for name in stale:
        present[name].unlink()
    return stale


def write_table(path: str | Path, table: dict[str, np.ndarray]) -> Path:
    """Write a jet table (dict of equal-length arrays, some multi-dimensional) to parquet, atomically."""
    path = Path(path)
    make_dirs(path.parent)
    array = ak.zip({name: _column(values) for name, values in table.items()}, depth_limit=1)
    with atomic_path(path) as tmp:
        ak.to_parquet(array, tmp, row_group_size=ROW_GROUP_ROWS)
    return path


def read_tables(folder: str | Path, columns: list[str] | None = None) -> ak.Array:
    """All chunk files under ``folder`` (sorted by name, so the row order is reproducible), concatenated."""
    files = sorted(Path(folder).rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no jet-table parquet files under {folder}")
    return ak.concatenate([ak.from_parquet(f, columns=columns) for f in files])


def _column(values: np.ndarray):
    values = np.asarray(values)
    if values.dtype == object:
        return ak.from_numpy(values.astype(str))
    return ak.from_numpy(values, regulararray=True)
