"""Packed jet-table columns (xaugcol.features.packed): object lists without padding, images without empty pixels.

The padded arrays they stand for are rebuilt here independently (awkward's pad_none / fill_none, numpy's add.at),
and every reader (read_table, the training reader, the relevance processor through coffea) must see them."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xaugcol.errors import InputDataError
from xaugcol.features.packed import PackedArray
from xaugcol.processing.table_io import (
    INDEX_SUFFIX,
    LAYOUT_KEY,
    SHAPE_KEY,
    column_array,
    read_table,
    stored_columns,
    table_writer,
    write_table,
)


def _ragged(rng, jets: int, slots: int, features: int):
    """Random object lists: counts 0..slots (both ends included), nonzero features."""
    counts = rng.integers(0, slots + 1, size=jets)
    counts[:2] = (0, slots)[: min(jets, 2)]
    values = rng.uniform(0.5, 2.0, size=(int(counts.sum()), features)).astype(np.float32)
    return values, counts


def _padded_reference(values, counts, slots):
    lists = ak.unflatten(values, counts)
    return ak.to_numpy(ak.fill_none(ak.pad_none(lists, slots, axis=1, clip=True), np.zeros(values.shape[1], "f4")))


def _image_reference(index, values, counts, shape):
    out = np.zeros((len(counts), int(np.prod(shape))), dtype=values.dtype)
    np.add.at(out, (np.repeat(np.arange(len(counts)), counts), index), values)
    return out.reshape(len(counts), *shape)


def _sparse(rng, jets: int, shape):
    size = int(np.prod(shape))
    counts = rng.integers(0, 6, size=jets)
    counts[:1] = 0
    index = np.concatenate([np.sort(rng.choice(size, c, replace=False)) for c in counts] + [np.zeros(0)])
    index = index.astype(np.int32)
    values = rng.uniform(0.1, 1.0, size=len(index)).astype(np.float32)
    return index, values, counts


def test_object_lists_pad_select_and_scatter_as_the_padded_array():
    rng = np.random.default_rng(1)
    values, counts = _ragged(rng, 40, 6, 3)
    packed = PackedArray.objects(values, counts, 6)
    dense = _padded_reference(values, counts, 6)
    np.testing.assert_array_equal(packed.dense(), dense)
    np.testing.assert_array_equal(np.asarray(packed), dense)
    np.testing.assert_array_equal(np.asarray(packed.mask()), np.arange(6) < counts[:, None])
    keep = rng.random(40) < 0.5
    np.testing.assert_array_equal(np.asarray(packed[keep]), dense[keep])
    order = np.array([5, 1, 1, 39, 0])
    np.testing.assert_array_equal(np.asarray(packed[order]), dense[order])
    where = np.zeros(70, dtype=bool)
    where[rng.choice(70, 40, replace=False)] = True
    scattered = np.asarray(packed.scattered(where))
    np.testing.assert_array_equal(scattered[where], dense)
    assert not scattered[~where].any()


def test_sparse_images_pad_and_select_as_the_padded_array():
    rng = np.random.default_rng(2)
    index, values, counts = _sparse(rng, 30, (5, 5))
    packed = PackedArray.sparse(index, values, counts, (5, 5))
    dense = _image_reference(index, values, counts, (5, 5))
    np.testing.assert_array_equal(np.asarray(packed), dense)
    keep = rng.random(30) < 0.5
    np.testing.assert_array_equal(np.asarray(packed[keep]), dense[keep])
    # every pixel lit, listed backwards: the positions place them, not their order
    full = PackedArray.sparse(np.arange(4)[::-1], np.arange(1.0, 5.0), [4], (2, 2))
    np.testing.assert_array_equal(np.asarray(full), [[[4.0, 3.0], [2.0, 1.0]]])


def test_packed_arrays_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="more than the 2"):
        PackedArray.objects(np.ones((3, 2)), [3], 2)
    with pytest.raises(ValueError, match="values for"):
        PackedArray.objects(np.ones((3, 2)), [1, 1], 4)
    with pytest.raises(IndexError):
        PackedArray.objects(np.ones((2, 2)), [1, 1], 4)[np.array([True])]


def _table(rng, jets=50):
    values, counts = _ragged(rng, jets, 8, 4)
    tracks = PackedArray.objects(values, counts, 8)
    index, pixels, lit = _sparse(rng, jets, (6, 6))
    return {
        "label": np.arange(jets, dtype=np.int32) % 2,
        "tracks": tracks,
        "tracks_mask": tracks.mask(),
        "image": PackedArray.sparse(index, pixels, lit, (6, 6)),
        "dense_list": rng.normal(size=(jets, 3, 2)).astype(np.float32),
    }


def test_packed_columns_are_stored_packed_and_read_back_padded(tmp_path):
    rng = np.random.default_rng(3)
    table = _table(rng)
    path = write_table(tmp_path / "t.parquet", table)
    stored = pq.read_table(path)
    # only the objects and the lit pixels are stored
    assert len(stored.column("tracks").combine_chunks().flatten()) == 4 * table["tracks"].counts.sum()
    assert len(stored.column("image").combine_chunks().flatten()) == len(table["image"].values)
    assert stored.schema.field("image").metadata[LAYOUT_KEY] == b"sparse"
    back = read_table(path)
    assert set(back) == set(table)  # the positions column is read with its image, not as a column
    for name, values in table.items():
        np.testing.assert_array_equal(back[name], np.asarray(values), err_msg=name)
    # a selection of columns brings a sparse column's positions along
    np.testing.assert_array_equal(read_table(path, ["image"])["image"], np.asarray(table["image"]))
    assert stored_columns(stored.schema, ["image", "label"]) == ["image", "image" + INDEX_SUFFIX, "label"]


def test_a_file_written_in_blocks_reads_as_one_table_with_record_batches_too(tmp_path):
    rng = np.random.default_rng(4)
    blocks = [_table(rng, 30), _table(rng, 0), _table(rng, 25)]
    with table_writer(tmp_path / "t.parquet") as write:
        for block in blocks:
            write(block)
    back = read_table(tmp_path / "t.parquet")
    for name in ("tracks", "tracks_mask", "image", "dense_list"):
        expected = np.concatenate([np.asarray(b[name]) for b in blocks])
        np.testing.assert_array_equal(back[name], expected, err_msg=name)
    # the training reader's way: record batches that cut through the row groups
    parquet = pq.ParquetFile(tmp_path / "t.parquet")
    read = [column_array(b, "image") for b in parquet.iter_batches(batch_size=7, columns=["image", "image__index"])]
    np.testing.assert_array_equal(np.concatenate(read), np.concatenate([np.asarray(b["image"]) for b in blocks]))


def test_padded_tables_of_earlier_versions_read_as_before(tmp_path):
    rng = np.random.default_rng(5)
    table = _table(rng)
    padded = {name: np.asarray(values) for name, values in table.items()}
    back = read_table(write_table(tmp_path / "t.parquet", padded))
    assert pq.read_schema(tmp_path / "t.parquet").field("tracks").metadata.get(LAYOUT_KEY) is None
    for name, values in padded.items():
        np.testing.assert_array_equal(back[name], values)


def _write_raw(path, name, rows, layout, index_rows=None):
    meta = {SHAPE_KEY: b"[2, 3]", LAYOUT_KEY: layout}
    array = pa.array(rows, type=pa.list_(pa.float32()))
    fields, arrays = [pa.field(name, array.type, metadata=meta)], [array]
    if index_rows is not None:
        index = pa.array(index_rows, type=pa.list_(pa.int32()))
        fields.append(pa.field(name + INDEX_SUFFIX, index.type))
        arrays.append(index)
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), path)


def test_malformed_packed_columns_name_the_column(tmp_path):
    _write_raw(tmp_path / "long.parquet", "tracks", [[1.0] * 7], b"prefix")  # 7 numbers for 6 places
    with pytest.raises(InputDataError, match="'tracks'"):
        read_table(tmp_path / "long.parquet")
    _write_raw(tmp_path / "far.parquet", "image", [[1.0, 2.0]], b"sparse", [[0, 6]])  # position 6 of 0..5
    with pytest.raises(InputDataError, match="'image'"):
        read_table(tmp_path / "far.parquet")
    table = pq.read_table(tmp_path / "far.parquet", columns=["image"])
    with pytest.raises(InputDataError, match="image__index"):
        column_array(table, "image")


def test_values_without_jets_are_a_clear_error():
    """Values with no jet to hold them: the column's error, not numpy's (a maximum of no lengths)."""
    from xaugcol.errors import InputDataError
    from xaugcol.features.packed import unpack

    with pytest.raises(InputDataError, match="3 values .* do not fit 0 jets"):
        unpack(np.zeros(3), np.zeros(0, dtype=np.int64), (2,))
