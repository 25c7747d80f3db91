"""Jet tables on disk: one parquet file per processed chunk, written atomically; read back lazily.

The files are written in the form coffea's parquet reader takes (numbers and single-level lists of numbers), so
the relevance processor runs over them with coffea's Runner:
* an array column of several values per jet (the image, the particle list) is a list column holding the values
  flattened, with its per-jet shape in the field's metadata (``xaugcol.shape``); ``column_array`` restores it.
  A packed column (``xaugcol.features.packed``) holds only its nonempty part (``xaugcol.layout``): ``prefix``,
  each jet's first values (its objects; the rest are zeros), or ``sparse``, each jet's nonzero values, whose flat
  positions are the list column ``<name>__index``. Readers pad it back: every reader sees the full shape;
* the dataset name is stored as ``dataset_index`` into the list of names in the file's metadata
  (``xaugcol.datasets``; coffea reads no strings); ``read_table(s)`` give it back as the ``dataset`` column.

The tables of a folder (``table_files``) are read only when they are regular files: opening a FIFO planted among
them would block the reader.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import awkward as ak
import numpy as np

from xaugcol.atomic import atomic_path, make_dirs
from xaugcol.errors import InputDataError
from xaugcol.features.packed import PREFIX, SPARSE, PackedArray, unpack
from xaugcol.paths import check_regular, safe_component, under

if TYPE_CHECKING:
    import pyarrow as pa

JETS_DIR = "jets"
SHAPE_KEY = b"xaugcol.shape"
LAYOUT_KEY = b"xaugcol.layout"  # a packed column's layout (absent: padded)
INDEX_SUFFIX = "__index"  # a sparse column's positions: the list column <name>__index
DATASETS_KEY = b"xaugcol.datasets"
DATASET_INDEX = "dataset_index"
# rows per parquet row group: readers (training) stream row group by row group, so keep them a few MB each
ROW_GROUP_ROWS = 4096


CHUNK_KEY = re.compile(r"^(?P<stem>.+)-(?P<tag>[0-9a-f]{12})-[0-9]{10}-[0-9]{10}$")  # as ``chunk_key`` names


def file_tag(filename: str, source: str) -> str:
    """The part of a chunk's name that identifies its file.

    A hash of the path and the ROOT file's UUID (the path again where there is none).

    Parameters
    ----------
    filename : str
        The input file's path or URL, as in the chunk's metadata.
    source : str
        The ROOT file's UUID, or ``filename`` again where there is none.

    Returns
    -------
    str
        The first 12 hexadecimal digits of the SHA-1 of ``filename|source``.
    """
    return hashlib.sha1(f"{filename}|{source}".encode("utf-8", "surrogateescape")).hexdigest()[:12]


def chunk_key(metadata: dict) -> str:
    """A name that identifies the chunk: source file, entry range.

    Stable across executors and reruns.

    Parameters
    ----------
    metadata : dict
        coffea's chunk metadata: ``filename``, ``entrystart``, ``entrystop`` and, if known, ``fileuuid``.

    Returns
    -------
    str
        ``<file stem>-<file_tag>-<entrystart>-<entrystop>``, the entries as 10 zero-padded digits.
    """
    source = str(metadata.get("fileuuid") or metadata["filename"])
    stem = Path(str(metadata["filename"])).stem
    return (
        f"{stem}-{file_tag(str(metadata['filename']), source)}-{metadata['entrystart']:010d}-"
        f"{metadata['entrystop']:010d}"
    )


def chunk_name(metadata: dict) -> str:
    """The chunk's jet-table file name.

    Parameters
    ----------
    metadata : dict
        coffea's chunk metadata (as ``chunk_key`` takes).

    Returns
    -------
    str
        ``chunk_key(metadata)`` with the ``.parquet`` suffix.
    """
    return chunk_key(metadata) + ".parquet"


def table_name(metadata: dict) -> str:
    """A chunk's table relative to the jet-table folder: ``<dataset as a safe name>/<chunk>.parquet``.

    Parameters
    ----------
    metadata : dict
        coffea's chunk metadata, with its ``dataset`` (as ``chunk_key`` takes).

    Returns
    -------
    str
        The relative path, the dataset name made a safe path component.
    """
    return f"{safe_component(metadata['dataset'])}/{chunk_name(metadata)}"


def table_path(jets_dir: str | Path, metadata: dict) -> Path:
    """Where a chunk's jet table goes.

    The path is checked to stay inside the output folder that holds ``jets_dir``, whatever the dataset is called
    and even if a link was planted as the jet-table folder.

    Parameters
    ----------
    jets_dir : str or Path
        The output's jet-table folder (``jets/``).
    metadata : dict
        coffea's chunk metadata, with its ``dataset`` (as ``table_name`` takes).

    Returns
    -------
    Path
        The absolute path of the chunk's parquet file.
    """
    jets = Path(jets_dir).absolute()
    return under(jets.parent, jets.name, table_name(metadata))


def write_table(path: str | Path, table: dict[str, np.ndarray]) -> Path:
    """Write a jet table to parquet, atomically.

    Parameters
    ----------
    path : str or Path
        The parquet file to write; its folder is created.
    table : dict of str to numpy.ndarray
        The columns: equal-length arrays, some multi-dimensional (or ``PackedArray``); ``dataset`` the names.

    Returns
    -------
    Path
        ``path``.
    """
    with table_writer(path) as write:
        write(table)
    return Path(path)


@contextlib.contextmanager
def table_writer(path: str | Path) -> Iterator[Callable[[dict[str, np.ndarray]], None]]:
    """One jet-table file written in parts.

    Yields ``write(table)``, which appends a table of the same columns (as ``write_table`` takes) as further row
    groups; the file appears, whole, only when the block ends without an error. A chunk is built and written block
    by block so that its table is never all in memory at once.

    Parameters
    ----------
    path : str or Path
        The parquet file to write; its folder is created.

    Yields
    ------
    callable
        ``write(table)``, taking a dict of str to numpy.ndarray (as ``write_table`` takes).

    Raises
    ------
    ValueError
        The block ended without any ``write``.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    make_dirs(path.parent)
    state: dict = {}
    with atomic_path(path) as tmp:

        def write(table: dict[str, np.ndarray]) -> None:
            arrow, scalars = _arrow_table(table)
            if "writer" not in state:
                # dictionary encoding and statistics for the one-number columns only: on the lists of floats
                # (tracks, images) the dictionary fails after costing a third of the write, and their statistics
                # serve no reader
                state["writer"] = pq.ParquetWriter(tmp, arrow.schema, use_dictionary=scalars, write_statistics=scalars)
            elif arrow.schema != state["writer"].schema:
                arrow = arrow.cast(state["writer"].schema)  # an empty block's lists, say: the same columns
            state["writer"].write_table(arrow, row_group_size=ROW_GROUP_ROWS)

        try:
            yield write
        finally:
            if "writer" in state:
                state["writer"].close()
        if "writer" not in state:
            raise ValueError(f"jet table {path.name}: nothing was written")


def _arrow_table(table: dict[str, np.ndarray]):
    """(pyarrow table, names of its one-number columns) of a jet table."""
    import pyarrow as pa

    fields, arrays, metadata = [], [], {}
    for name, values in table.items():
        if isinstance(values, PackedArray):
            for field, array in _packed_columns(name, values):
                fields.append(field)
                arrays.append(array)
            continue
        values = np.asarray(values)
        if name == "dataset":
            names, values = np.unique(values.astype(str), return_inverse=True)
            metadata[DATASETS_KEY] = json.dumps(names.tolist()).encode()
            name, values = DATASET_INDEX, values.astype(np.int32).reshape(-1)
        if values.dtype == object:
            raise ValueError(f"jet-table column {name!r}: only numbers are stored (coffea reads no strings)")
        n, shape = len(values), values.shape[1:]
        if shape:
            size = int(np.prod(shape))
            array = pa.ListArray.from_arrays(
                pa.array(np.arange(0, n * size + 1, size, dtype=np.int32)), pa.array(values.reshape(-1))
            )
            fields.append(pa.field(name, array.type, metadata={SHAPE_KEY: json.dumps(list(shape)).encode()}))
        else:
            array = pa.array(values)
            fields.append(pa.field(name, array.type))
        arrays.append(array)
    schema = pa.schema(fields, metadata=metadata)
    scalars = [f.name for f in fields if f.type.num_fields == 0]
    return pa.Table.from_arrays(arrays, schema=schema), scalars


def _packed_columns(name: str, column: PackedArray) -> list:
    """The (field, array) pairs of a packed column: its values, and for a sparse one their positions."""
    import pyarrow as pa

    offsets = pa.array(_value_offsets(column), type=pa.int32())
    meta = {SHAPE_KEY: json.dumps(list(column.shape)).encode(), LAYOUT_KEY: column.layout.encode()}
    values = pa.ListArray.from_arrays(offsets, pa.array(column.values.reshape(-1)))
    out = [(pa.field(name, values.type, metadata=meta), values)]
    if column.layout == SPARSE:
        index = pa.ListArray.from_arrays(offsets, pa.array(column.index))
        out.append((pa.field(name + INDEX_SUFFIX, index.type), index))
    return out


def _value_offsets(column: PackedArray) -> np.ndarray:
    """Where each jet's numbers start in the flattened values of a packed column (jets + 1)."""
    per_entry = int(np.prod(column.shape[1:])) if column.layout == PREFIX else 1
    offsets = column.offsets() * per_entry
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError(f"jet-table column: {offsets[-1]} numbers in one block, more than a list column holds")
    return offsets


def field_shape(field: pa.Field) -> tuple[int, ...]:
    """The per-jet shape of a jet-table column, from its field metadata.

    Parameters
    ----------
    field : pyarrow.Field
        The column's parquet field.

    Returns
    -------
    tuple of int
        The shape of one jet's values; ``()`` for one number per jet.
    """
    meta = field.metadata or {}
    return tuple(json.loads(meta[SHAPE_KEY])) if SHAPE_KEY in meta else ()


def column_array(columns: pa.Table | pa.RecordBatch, name: str) -> np.ndarray:
    """The jet-table column ``name`` of a pyarrow table or record batch as a numpy array of its full shape.

    A packed column is padded back (its ``<name>__index`` must be among ``columns`` if sparse).

    Parameters
    ----------
    columns : pyarrow.Table or pyarrow.RecordBatch
        The columns read from a jet table.
    name : str
        The column to convert.

    Returns
    -------
    numpy.ndarray
        Shape (jets, *per-jet shape).

    Raises
    ------
    InputDataError
        A sparse column without its positions column among ``columns``.
    """
    import pyarrow.compute as pc

    field = columns.schema.field(name)
    column = columns.column(name)
    shape = field_shape(field)
    if not shape:
        return column.to_numpy(zero_copy_only=False)
    if hasattr(column, "combine_chunks"):  # a ChunkedArray (a whole table) rather than one record batch's array
        column = column.combine_chunks()
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    values = column.flatten().to_numpy(zero_copy_only=False)
    index = None
    if field_layout(field) == SPARSE:
        if name + INDEX_SUFFIX not in columns.schema.names:
            raise InputDataError(f"jet-table column {name!r} is sparse: read it with its {name + INDEX_SUFFIX!r}")
        positions = columns.column(name + INDEX_SUFFIX)
        if hasattr(positions, "combine_chunks"):
            positions = positions.combine_chunks()
        index = positions.flatten().to_numpy(zero_copy_only=False)
    return unpack(values, lengths, shape, index, where=f"jet-table column {name!r}")


def field_layout(field: pa.Field) -> str | None:
    """A packed column's layout (``prefix`` or ``sparse``), None for a padded one.

    Parameters
    ----------
    field : pyarrow.Field
        The column's parquet field.

    Returns
    -------
    str or None
        The layout from the field metadata; None for a padded (or one-number) column.
    """
    meta = field.metadata or {}
    return meta[LAYOUT_KEY].decode() if LAYOUT_KEY in meta else None


def stored_columns(schema: pa.Schema, columns: list[str]) -> list[str]:
    """The parquet columns to read for the jet-table ``columns``: each with its positions if it is sparse.

    Parameters
    ----------
    schema : pyarrow.Schema
        The jet table's schema.
    columns : list of str
        The jet-table columns wanted.

    Returns
    -------
    list of str
        ``columns`` in order, each sparse one followed by its ``<name>__index``.
    """
    out = []
    for name in columns:
        out.append(name)
        if name in schema.names and field_layout(schema.field(name)) == SPARSE:
            out.append(name + INDEX_SUFFIX)
    return out


def is_positions(schema: pa.Schema, name: str) -> bool:
    """Whether column ``name`` holds a sparse column's positions (read with it, not a column of its own).

    Parameters
    ----------
    schema : pyarrow.Schema
        The jet table's schema.
    name : str
        A parquet column name.

    Returns
    -------
    bool
        True for ``<name>__index`` where ``<name>`` is a sparse column of ``schema``.
    """
    base = name.removesuffix(INDEX_SUFFIX)
    return base != name and base in schema.names and field_layout(schema.field(base)) == SPARSE


def table_datasets(schema: pa.Schema) -> list[str]:
    """The dataset names a jet table's ``dataset_index`` points into (its file metadata).

    Parameters
    ----------
    schema : pyarrow.Schema
        The jet table's schema.

    Returns
    -------
    list of str
        The names; empty where the metadata has none.
    """
    return json.loads((schema.metadata or {}).get(DATASETS_KEY, b"[]"))


def read_table(path: str | Path, columns: list[str] | None = None) -> dict[str, np.ndarray]:
    """One jet table as {column: numpy array of its full shape}, with ``dataset`` (names) for ``dataset_index``.

    Parameters
    ----------
    path : str or Path
        The jet table's parquet file.
    columns : list of str, optional
        The columns to read (``dataset`` among them is read as ``dataset_index``); default: all.

    Returns
    -------
    dict of str to numpy.ndarray
        Each column in its full shape (packed ones padded back); ``dataset`` an object array of names.
    """
    import pyarrow.parquet as pq

    wanted = None
    if columns is not None:
        wanted = stored_columns(pq.read_schema(path), [DATASET_INDEX if c == "dataset" else c for c in columns])
    table = pq.read_table(path, columns=wanted)
    out = {}
    for f in table.schema:
        if f.name == DATASET_INDEX:
            names = np.asarray(table_datasets(table.schema) or [""], dtype=object)
            out["dataset"] = names[column_array(table, f.name)]
        elif not is_positions(table.schema, f.name):
            out[f.name] = column_array(table, f.name)
    return out


def table_files(folder: str | Path) -> list[Path]:
    """The jet tables under ``folder``, sorted by name (so the row order is reproducible).

    Each is checked to be a regular file (``NotRegularFileError``: opening a FIFO blocks).

    Parameters
    ----------
    folder : str or Path
        The folder searched, recursively, for ``*.parquet`` files.

    Returns
    -------
    list of Path
        The parquet files, sorted.

    Raises
    ------
    NotRegularFileError
        One of them is not a regular file.
    """
    files = sorted(Path(folder).rglob("*.parquet"))
    for path in files:
        check_regular(path, "a jet table")
    return files


def read_tables(folder: str | Path, columns: list[str] | None = None) -> ak.Array:
    """Read all the chunk files under ``folder`` (``table_files``) into one table.

    Parameters
    ----------
    folder : str or Path
        A processing output's ``jets/`` folder (or any folder of its parquet chunk files).
    columns : list of str, optional
        The columns to read; default: all.

    Returns
    -------
    awkward.Array
        The chunks concatenated, with array columns in their full shape and the ``dataset`` column.

    Raises
    ------
    FileNotFoundError
        No jet-table parquet files under ``folder``.
    """
    files = table_files(folder)
    if not files:
        raise FileNotFoundError(f"no jet-table parquet files under {folder}")
    parts = [read_table(f, columns) for f in files]
    merged = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return ak.zip({name: _awkward(values) for name, values in merged.items()}, depth_limit=1)


def _awkward(values: np.ndarray):
    if values.dtype == object:
        return ak.from_numpy(values.astype(str))
    return ak.from_numpy(values, regulararray=True)
