"""Jet tables -> training batches, read lazily: a dataset larger than memory trains.

* Split: deterministic by event identity, a 64-bit hash of (run, luminosityBlock, event) modulo 10:
  0-5 train (60 %), 6-7 validation (20 %), 8-9 test (20 %). The same jet lands in the same split in every run,
  whatever the file layout or chunking.
* Reading: parquet row groups (a few MB) from up to 8 open files at a time, round robin, into a shuffle buffer
  of at least ``buffer_jets`` jets (filled by whole rounds); the buffer is shuffled with a seeded generator and cut into
  mini-batches. Classes mix even when each file holds one class.
* Selection: optionally only jets inside the mSD window (``in_msd_window``), and optionally only signal jets that
  contain their generated boson (``gen_boson_contained``, Pythia truth; background jets all kept).
* Weights: the table's ``weight`` (genWeight), times per-class factors that give both classes the same summed
  weight in the training split (``class_balance``).
* Tables: exactly those the processing report lists (``xaugcol.processing.table_fileset.listed_tables``), each
  checked against it; a processing that did not finish or is being written is refused, naming it.
Inputs containing NaN or inf stop training with a message naming the column and file (``TrainingDataError``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import ArrayLike

from xaugcol.errors import InputDataError
from xaugcol.features.kinds import InputKind
from xaugcol.processing.table_fileset import REPORT, check_table, listed_tables, table_labels
from xaugcol.processing.table_io import column_array, field_shape, stored_columns
from xaugcol.training.pt_spectrum import PtWeights

if TYPE_CHECKING:
    from xaugcol.features.scaler import InputScalers
    from xaugcol.models.registry import ModelConfig

SPLITS = {"train": (0, 1, 2, 3, 4, 5), "val": (6, 7), "test": (8, 9)}


class TrainingDataError(InputDataError):
    """Jet tables a tagger cannot be trained on: a column it reads is missing, a value is NaN, a class or a split
    is empty. Names the folder or file."""


def identity_hash(run: ArrayLike, lumi: ArrayLike, event: ArrayLike) -> np.ndarray:
    """Hash an event identity to uint64 with splitmix64 (uint64 arithmetic wraps, as intended).

    The hash is the same for a jet whatever file or chunk it is read from.

    Parameters
    ----------
    run : array_like
        The run numbers (``run``), one per jet; cast to uint64.
    lumi : array_like
        The luminosity blocks (``luminosityBlock``), broadcast against ``run``.
    event : array_like
        The event numbers (``event``), broadcast against ``run``.

    Returns
    -------
    numpy.ndarray
        The uint64 hash of each (run, lumi, event).
    """
    with np.errstate(over="ignore"):
        x = (
            np.asarray(event).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            ^ np.asarray(lumi).astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
            ^ np.asarray(run).astype(np.uint64) * np.uint64(0x94D049BB133111EB)
        )
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def split_index(run: ArrayLike, lumi: ArrayLike, event: ArrayLike) -> np.ndarray:
    """Give each event identity its split index, 0..9, from its hash: which split the event's jets belong to.

    Parameters
    ----------
    run : array_like
        The run numbers, one per jet.
    lumi : array_like
        The luminosity blocks, broadcast against ``run``.
    event : array_like
        The event numbers, broadcast against ``run``.

    Returns
    -------
    numpy.ndarray
        int64 in 0..9, ``identity_hash`` modulo 10: 0-5 train, 6-7 validation, 8-9 test (``SPLITS``).
    """
    return (identity_hash(run, lumi, event) % np.uint64(10)).astype(np.int64)


@dataclass(frozen=True)
class DataSpec:
    """What a tagger reads from the jet tables.

    Its input kinds, the training selection (mSD window, matched signal, pT range), the pT reweighting of the
    background and the features masked (``of``: from its ``ModelConfig`` and training settings).

    Parameters
    ----------
    kinds : tuple of InputKind
        The tagger's input kinds, in forward order.
    msd_window : bool, default False
        Keep only jets inside the mSD window (the ``in_msd_window`` column).
    matched_signal : bool, default False
        Keep as signal only the label-1 jets containing their generated boson (``gen_boson_contained``, Pythia
        truth); background jets are all kept.
    pt_range : tuple of (float, float), optional
        Keep only jets with ``low <= pt < high`` (GeV); None: every pT.
    pt_weights : PtWeights, optional
        Background reweighted to the signal's pT spectrum (the factors multiply ``weight``); None: no reweighting.
    masked : tuple of str, default ()
        Input features held at zero after scaling (``ModelConfig.masked``, occlusion group names).
    """

    kinds: tuple[InputKind, ...]  # the tagger's input kinds, in forward order
    msd_window: bool = False
    matched_signal: bool = False  # signal = only label-1 jets containing their generated boson (Pythia truth)
    pt_range: tuple[float, float] | None = None  # jets with low <= pt < high (GeV)
    pt_weights: PtWeights | None = None  # background reweighted to the signal's pT spectrum
    masked: tuple[str, ...] = ()  # input features held at zero after scaling (``ModelConfig.masked``)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names of the input kinds, in forward order."""
        return tuple(k.name for k in self.kinds)

    @property
    def reads_pt(self) -> bool:
        """Whether the selection or the weights need the jets' pT."""
        return self.pt_range is not None or self.pt_weights is not None

    @classmethod
    def of(
        cls,
        config: ModelConfig,
        msd_window: bool = False,
        matched_signal: bool = False,
        pt_range: Sequence[float] | None = None,
        pt_weights: PtWeights | None = None,
    ) -> DataSpec:
        """Build the data a tagger (``ModelConfig``) reads, with its training selection and weights.

        Parameters
        ----------
        config : ModelConfig
            The tagger: its input kinds (``input_kinds()``) and masked features (``masked``).
        msd_window : bool, default False
            Keep only jets inside the mSD window.
        matched_signal : bool, default False
            Keep as signal only the jets containing their generated boson.
        pt_range : sequence of float, optional
            ``(low, high)`` in GeV: keep jets with ``low <= pt < high``; None: every pT.
        pt_weights : PtWeights, optional
            The background's pT reweighting; None: none.

        Returns
        -------
        DataSpec
            The spec, with the flags as bool and ``pt_range`` as a tuple of two floats.
        """
        return cls(
            config.input_kinds(),
            bool(msd_window),
            bool(matched_signal),
            None if pt_range is None else (float(pt_range[0]), float(pt_range[1])),
            pt_weights,
            tuple(config.masked),
        )


class JetTables:
    """The jet tables of a processing output folder (or its ``jets/``), as its report lists them.

    They are checked once for the columns a tagger needs: each table against the report
    (``xaugcol.processing.table_fileset.check_table``), then every non-empty one for the columns ``spec`` reads.

    Parameters
    ----------
    folder : str or Path
        A processing output folder, or its ``jets/`` folder; an unfinished processing is refused.
    spec : DataSpec
        What the tagger reads: its input kinds and training selection fix the columns needed.

    Raises
    ------
    TrainingDataError
        If every listed table is empty, or a table lacks a column the tagger needs.
    """

    def __init__(self, folder: str | Path, spec: DataSpec):
        self.folder, report, listed = listed_tables(folder)
        self.spec = spec
        labels = table_labels(report)
        for name, path, rows in listed:
            check_table(path, rows, self.folder / REPORT, labels.get(name.split("/")[0]))
        self.files = [path for _, path, rows in listed if rows > 0]
        if not self.files:
            raise TrainingDataError(
                f"{self.folder}: no jets (its processing report lists {len(listed)} table(s), all empty)"
            )
        self.columns = ["run", "luminosityBlock", "event", "label", "weight"]
        self.columns += [c for kind in spec.kinds for c in kind.columns() if c not in self.columns]
        if spec.msd_window:
            self.columns.append("in_msd_window")
        if spec.matched_signal:
            self.columns.append("gen_boson_contained")
        # the jet pT travels with every batch (test predictions are kept with it, for efficiencies in pT bins)
        if "pt" not in self.columns and (spec.reads_pt or "pt" in pq.ParquetFile(self.files[0]).schema_arrow.names):
            self.columns.append("pt")
        for f in self.files:
            present = set(pq.ParquetFile(f).schema_arrow.names)
            missing = [c for c in self.columns if c not in present]
            if missing:
                raise TrainingDataError(
                    f"jet table {f}: missing column(s) {missing} needed by the tagger (inputs {list(spec.inputs)})"
                )

    def present(self, columns: Iterable[str]) -> list[str]:
        """Keep the ``columns`` every table holds (the kinematics always; stored-layout tables lack some XAUG ones).

        Parameters
        ----------
        columns : iterable of str
            The column names asked for.

        Returns
        -------
        list of str
            Those of ``columns`` present in every non-empty table, in the order given.
        """
        names = [set(pq.ParquetFile(f).schema_arrow.names) for f in self.files]
        return [c for c in columns if all(c in n for n in names)]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Read the per-jet shape of each input kind with an array column, from the first file's schema.

        Returns
        -------
        dict of str to tuple of int
            Input kind name to the per-jet shape of its ``table_column`` (kinds of scalar columns left out).
        """
        schema = pq.ParquetFile(self.files[0]).schema_arrow
        return {
            kind.name: field_shape(schema.field(kind.table_column))
            for kind in self.spec.kinds
            if kind.table_column is not None
        }

    # -- reading --------------------------------------------------------------------------------------------
    def _rounds(self, split: str, columns: list[str], order: list[Path], max_open: int = 8, need_labels: bool = True):
        """Row groups, reduced to the split (and the mSD window), one from each of up to ``max_open`` open files
        per round: a round mixes files (and so classes, when files hold one class each). Training needs labels;
        drawing examples does not (real data)."""
        pending = list(order)
        readers: list[tuple[Path, Iterator[pa.RecordBatch]]] = []  # each open file's row groups
        while readers or pending:
            while pending and len(readers) < max_open:
                path = pending.pop(0)
                parquet = pq.ParquetFile(path)
                stored = stored_columns(parquet.schema_arrow, columns)  # a sparse column with its positions
                readers.append((path, parquet.iter_batches(batch_size=4096, columns=stored)))
            round_, alive = [], []
            for path, it in readers:
                batch = next(it, None)
                if batch is None:
                    continue
                alive.append((path, it))
                block = {name: column_array(batch, name) for name in columns}
                _check_finite(block, path)  # every row read, whatever its split: bad input stops the run early
                if need_labels:
                    _check_labelled(block, path)
                keep = select_jets(block, self.spec, split)
                if self.spec.pt_weights is not None and "weight" in block:
                    block["weight"] = block["weight"] * self.spec.pt_weights.factors(block["pt"], block["label"])
                if keep.any():
                    round_.append({"__file__": str(path), **{k: v[keep] for k, v in block.items()}})
            readers = alive
            if round_:
                yield round_

    def blocks(self, split: str, columns: list[str]) -> Iterator[dict[str, Any]]:
        """Stream the split's jets block by block (files in name order), with ``columns``: to stream array columns.

        Each block maps the columns to arrays, and ``"__file__"`` to the path of the table it comes from.

        Parameters
        ----------
        split : str
            ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (every split).
        columns : list of str
            The columns wanted; the columns the selection reads (event identity, label, ...) come with them.

        Yields
        ------
        dict of str to Any
            One block: column name to a numpy.ndarray of the jets of one row group that are in the split and pass
            the tagger's selection (``weight`` already pT-reweighted when the spec reweights), and ``"__file__"``
            to the table's path as str.
        """
        for round_ in self._rounds(split, self._with_selection(columns), self.files):
            yield from round_

    def scan(self, split: str, columns: list[str]) -> dict[str, np.ndarray]:
        """Read small per-jet columns of a whole split into memory (e.g. to fit the XAUG scaler, the class weights).

        Parameters
        ----------
        split : str
            ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        columns : list of str
            The columns to read.

        Returns
        -------
        dict of str to numpy.ndarray
            Each of ``columns`` for every selected jet of the split, the blocks concatenated.

        Raises
        ------
        TrainingDataError
            If the split holds no selected jet.
        """
        parts = list(self.blocks(split, columns))
        if not parts:
            raise TrainingDataError(f"the {split} split of {self.folder} is empty")
        return {c: np.concatenate([p[c] for p in parts]) for c in columns}

    def examples(self, split: str, columns: list[str], per_class: int) -> dict[str, np.ndarray]:
        """Take the first ``per_class`` jets of each class of a split (files in name order), with ``columns``.

        The classes are signal, background and, in tables of real data, jets without truth (label -1). Reading
        stops once both signal and background, or the jets without truth, have ``per_class`` jets.

        Parameters
        ----------
        split : str
            ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        columns : list of str
            The columns wanted; the columns the selection reads come with them.
        per_class : int
            The number of jets to take of each class, at most.

        Returns
        -------
        dict of str to numpy.ndarray
            Each column for the jets taken: signal first, then background, then jets without truth.

        Raises
        ------
        TrainingDataError
            If the split holds no selected jet.
        """
        needed = self._with_selection(columns)
        found: dict[int, list[dict]] = {1: [], 0: [], -1: []}  # -1: jets of datasets without truth (real data)
        have = dict.fromkeys(found, 0)
        for round_ in self._rounds(split, needed, self.files, need_labels=False):
            for block in round_:
                for k in found:
                    sel = np.flatnonzero(block["label"] == k)[: max(per_class - have[k], 0)]
                    if len(sel):
                        found[k].append({c: block[c][sel] for c in needed})
                        have[k] += len(sel)
            if min(have[0], have[1]) >= per_class or have[-1] >= per_class:
                break
        parts = found[1] + found[0] + found[-1]
        if not parts:
            raise TrainingDataError(f"the {split} split of {self.folder} is empty")
        return {c: np.concatenate([p[c] for p in parts]) for c in needed}

    def _with_selection(self, columns) -> list[str]:
        """``columns`` and what choosing a split's jets reads (event identity, label, the training selection)."""
        return sorted(
            set(columns)
            | {"run", "luminosityBlock", "event", "label"}
            | ({"pt", "weight"} if self.spec.reads_pt else set())
            | ({"in_msd_window"} if self.spec.msd_window else set())
            | ({"gen_boson_contained"} if self.spec.matched_signal else set())
        )

    def batches(
        self,
        split: str,
        batch_size: int,
        seed: int | None = None,
        buffer_jets: int = 20_000,
        scalers: InputScalers | None = None,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Stream mini-batches ``{input name: array, "label", "weight"}`` of a split.

        Files are read in a seeded random order and every shuffle buffer is permuted when ``seed`` is given; in file
        order, unshuffled, otherwise.

        Parameters
        ----------
        split : str
            ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        batch_size : int
            Jets per batch; the last batch of the split may be smaller.
        seed : int, optional
            The random-number seed of the file order and the shuffle; None: no shuffling.
        buffer_jets : int, default 20000
            The least number of jets buffered (whole rounds of row groups) before batches are cut from the buffer.
        scalers : InputScalers, optional
            The tagger's scalers (``InputScalers``); None: inputs unscaled.

        Yields
        ------
        dict of str to numpy.ndarray
            One batch: the tagger's inputs by kind name (float32 tensors, shape (jets, ...)), ``"label"``
            (float32), ``"weight"`` (float64) and, where the tables have it, ``"pt"`` (GeV).
        """
        rng = np.random.default_rng(seed) if seed is not None else None
        order = list(self.files) if rng is None else [self.files[i] for i in rng.permutation(len(self.files))]
        buffer: list[dict] = []
        n_buffered = 0
        for round_ in self._rounds(split, self.columns, order):
            for block in round_:
                buffer.append(block)
                n_buffered += len(block["label"])
            if n_buffered >= buffer_jets:
                yield from self._emit(buffer, batch_size, rng, scalers, final=False)
                buffer = [b for b in buffer if len(b["label"])]
                n_buffered = sum(len(b["label"]) for b in buffer)
        yield from self._emit(buffer, batch_size, rng, scalers, final=True)

    def _emit(self, buffer, batch_size, rng, scalers, final):
        merged = {k: np.concatenate([b[k] for b in buffer]) for k in buffer[0] if k != "__file__"} if buffer else {}
        buffer.clear()
        if not merged:
            return
        n = len(merged["label"])
        index = rng.permutation(n) if rng is not None else np.arange(n)
        stop = n if final else n - n % batch_size
        for start in range(0, stop, batch_size):
            sel = index[start : start + batch_size]
            yield self._inputs({k: v[sel] for k, v in merged.items()}, scalers)
        if stop < n:  # keep the remainder for the next round
            buffer.append({k: v[index[stop:]] for k, v in merged.items()})

    def _inputs(self, rows: dict[str, np.ndarray], scalers) -> dict[str, np.ndarray]:
        out = model_inputs(rows, self.spec, scalers)
        if "pt" in rows:
            out["pt"] = rows["pt"]
        return out


def select_jets(rows: dict[str, np.ndarray], spec: DataSpec, split: str) -> np.ndarray:
    """Select the jets of a split that pass the tagger's selection (mSD window, matched signal, pT range).

    One definition for training and for explaining.

    Parameters
    ----------
    rows : dict of str to numpy.ndarray
        Jet-table columns: ``label``, the event identity (``run``, ``luminosityBlock``, ``event``; not read for
        ``"all"``) and what the selection needs (``in_msd_window``, ``gen_boson_contained``, ``pt``).
    spec : DataSpec
        The tagger's selection.
    split : str
        ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (every split).

    Returns
    -------
    numpy.ndarray
        Bool, shape (jets,): True for the jets kept.
    """
    keep = (
        np.ones(len(rows["label"]), dtype=bool)
        if split == "all"
        else np.isin(split_index(rows["run"], rows["luminosityBlock"], rows["event"]), SPLITS[split])
    )
    if spec.msd_window:
        keep &= rows["in_msd_window"].astype(bool)
    if spec.matched_signal:
        keep &= (rows["label"] == 0) | rows["gen_boson_contained"].astype(bool)
    if spec.pt_range is not None:
        keep &= (rows["pt"] >= spec.pt_range[0]) & (rows["pt"] < spec.pt_range[1])
    return keep


def model_inputs(
    rows: dict[str, np.ndarray], spec: DataSpec, scalers: InputScalers | None = None
) -> dict[str, np.ndarray]:
    """Turn jet-table rows into the tagger's inputs, plus label and weight.

    The one place inputs are built, for training and for explaining: each kind's tensor, ``scaled`` kinds through
    the tagger's scaler for them (from ``scalers``), with the ``masked`` features of ``spec`` set to zero after
    scaling.

    Parameters
    ----------
    rows : dict of str to numpy.ndarray
        Jet-table columns: ``label``, ``weight`` and every input kind's ``columns``.
    spec : DataSpec
        The tagger's input kinds and masked features.
    scalers : InputScalers, optional
        The tagger's scalers; None: every input unscaled.

    Returns
    -------
    dict of str to numpy.ndarray
        ``"label"`` (float32), ``"weight"`` (float64) and each kind's tensor by kind name (float32,
        shape (jets, ...)).

    Raises
    ------
    ValueError
        If ``scalers`` is given but has no scaler for a scaled kind.
    """
    out: dict[str, np.ndarray] = {
        "label": rows["label"].astype(np.float32),
        "weight": rows["weight"].astype(np.float64),
    }
    for kind in spec.kinds:
        scaler = scalers.get(kind.name) if (scalers is not None and kind.scaled) else None
        if kind.scaled and scalers is not None and scaler is None:
            raise ValueError(f"no scaler for the tagger's {kind.name} inputs")
        out[kind.name] = kind.tensor(rows, scaler)
        masked = set(spec.masked).intersection(kind.occlusion_groups())
        if masked:  # held at zero after scaling, as an occlusion masks them
            out[kind.name] = out[kind.name] * ~kind.occlusion_mask(masked)
    return out


def _check_labelled(block: dict, path) -> None:
    unlabelled = int((block["label"] < 0).sum())
    if unlabelled:
        raise TrainingDataError(
            f"jet table {path}: {unlabelled} jet(s) without a label (a dataset without 'label' in its "
            f"fileset metadata, such as real data): training needs signal (1) and background (0) jets; "
            f"explain them instead, or train on labelled datasets only"
        )


def _check_finite(block: dict, path) -> None:
    for name, values in block.items():
        if values.dtype.kind not in "fc":
            continue
        bad = ~np.isfinite(values)
        if bad.any():
            raise TrainingDataError(
                f"jet table {path}: column {name!r} has {int(bad.sum())} NaN/inf value(s); "
                f"fix the input or process it again"
            )
