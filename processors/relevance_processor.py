"""The relevance processor: per chunk of the jet tables (read by coffea's Runner as parquet), every ensemble member
and explanation method, into relevance histograms.

Thin by design: the rows come from the jet table as processing wrote it (nothing recomputed), the explanation and
the fills from ``xaugcol.explain.relevance``. Models are loaded once per worker process (not pickled with the
processor). Torch runs with a fixed number of threads, so a chunk gives bit-identical relevance in every executor.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import torch
from coffea import processor

from xaugcol.allocator import reuse_freed_memory
from xaugcol.explain.options import ExplainOptions
from xaugcol.explain.relevance import Explainer, explain_rows, explainers
from xaugcol.features.packed import unpack
from xaugcol.jets.constituents import MissingBranchError
from xaugcol.processing.settings import ProcessingConfig
from xaugcol.processing.table_io import INDEX_SUFFIX

IDENTITY = ("run", "luminosityBlock", "event", "fatjet_index", "label", "weight")


class RelevanceProcessor(processor.ProcessorABC):
    """coffea processor explaining tagger ensembles on the jet tables, chunk by chunk, into relevance histograms.

    Picklable: the members' weights are not shipped with it but loaded on each worker, once, at its first chunk.

    Parameters
    ----------
    ensembles : list
        The taggers explained (``xaugcol.explain.ensemble.Ensemble``, pinned to their member files).
    methods : tuple
        The explanation methods (``MethodSpec``: plain data, the attributors are built on the worker).
    processing : ProcessingConfig
        The processing configuration of the jet tables (image and list geometry).
    shapes : dict of str to tuple
        The per-jet shape of every jet-table column (``()`` for one number per jet).
    classes : tuple, default (0, 1)
        The true classes in the tables (-1 too where a dataset has no truth).
    options : ExplainOptions, default ExplainOptions()
        The split, the batch, the torch threads and the extra analyses (``xaugcol.explain.options``).
    """

    def __init__(
        self,
        ensembles: list,
        methods: tuple,
        processing: ProcessingConfig,
        shapes: dict[str, tuple],
        classes: tuple = (0, 1),
        options: ExplainOptions = ExplainOptions(),
    ):
        self.ensembles = list(ensembles)
        self.methods = tuple(methods)  # MethodSpec: plain data, the attributors are built on the worker
        self.processing = processing
        self.shapes = dict(shapes)  # per jet-table column, its per-jet shape
        self.classes = tuple(classes)  # true classes in the tables (-1: a dataset without truth)
        self.options = options  # split, batch, threads, the extra analyses (xaugcol.explain.options)
        self._members: list[list[Explainer]] | None = None

    def __getstate__(self):
        return {**self.__dict__, "_members": None}  # weights are read on the worker, not shipped

    def columns(self) -> list[str]:
        """The jet-table columns the ensembles need: identity, selection, every input kind's.

        Returns
        -------
        list of str
            The column names, each once, in order: identity, then per ensemble its selection columns, its input
            kinds' columns and its training-range columns.
        """
        needed = list(IDENTITY)
        for e in self.ensembles:
            needed += (
                (["in_msd_window"] if e.spec.msd_window else [])
                + (["gen_boson_contained"] if e.spec.matched_signal else [])
                + (["pt"] if e.spec.pt_range else [])
            )
            needed += [c for kind in e.spec.kinds for c in (*kind.columns(), *kind.extra_columns())]
            needed += list(e.training_range)  # to count the jets outside the range it was trained on
        return list(dict.fromkeys(needed))

    def _read_columns(self) -> set[str]:
        """The columns a tagger reads (a missing one stops the run)."""
        return {c for e in self.ensembles for kind in e.spec.kinds for c in (*kind.columns(), *kind.extra_columns())}

    def process(self, events: ak.Array) -> dict:
        """Explain every ensemble on the jets of one chunk of the jet tables.

        Torch runs with ``options.threads`` threads for the chunk (the previous count is restored after).

        Parameters
        ----------
        events : awkward.Array
            The chunk's jet-table rows (coffea's base schema over the parquet tables), with coffea's ``metadata``.

        Returns
        -------
        dict
            ``histograms`` (histogram key to ``hist.Hist``, every ensemble's), ``counts`` (ensemble name to
            ``{dataset: counters}``, with ``chunks`` 1 and ``jets_in_table``) and ``occlusion`` (ensemble name to
            its per-jet occlusion records, only where occlusion ran).

        Raises
        ------
        MissingBranchError
            A column a tagger reads is missing from the table (naming the file).
        """
        meta = events.metadata
        present = set(events.fields)
        rows = {}
        for name in self.columns():
            if name not in present:
                if name == "gen_boson_contained" or name not in self._read_columns():
                    continue  # Ensemble.selection names what is missing; a range column only goes uncounted
                raise MissingBranchError(name, "the taggers' inputs (a jet-table column)", where=str(meta["filename"]))
            rows[name] = _column(events, name, self.shapes.get(name, ()))
        reuse_freed_memory()  # this worker's tagger passes reuse their freed tensors (xaugcol.allocator)
        threads = torch.get_num_threads()
        torch.set_num_threads(self.options.threads)
        try:
            if self._members is None:
                self._members = [explainers(e, self.methods) for e in self.ensembles]
            hists: dict = {}
            counts: dict[str, dict] = {}
            occluded: dict[str, list] = {}
            for ensemble, members in zip(self.ensembles, self._members):
                h, c, o = explain_rows(
                    rows, ensemble, members, self.methods, self.processing, self.options, self.classes
                )
                hists.update(h)
                counts[ensemble.name] = {meta["dataset"]: {**c, "chunks": 1, "jets_in_table": len(rows["label"])}}
                if o:
                    occluded[ensemble.name] = o  # lists of per-jet records: chunks merge by concatenation
        finally:
            torch.set_num_threads(threads)
        return {"histograms": hists, "counts": counts, "occlusion": occluded}

    def postprocess(self, accumulator: dict) -> dict:
        """Return the accumulated output as it is.

        Parameters
        ----------
        accumulator : dict
            The run's accumulated output.

        Returns
        -------
        dict
            ``accumulator``, unchanged.
        """
        return accumulator


def _column(events, name: str, shape: tuple) -> np.ndarray:
    """A jet-table column of the chunk as numpy, in its per-jet shape: list columns hold the values flattened, a
    packed one only its nonempty part (``xaugcol.features.packed``), padded back here."""
    array = events[name]
    if not shape:
        return ak.to_numpy(array)
    positions = name + INDEX_SUFFIX
    index = ak.to_numpy(ak.flatten(events[positions], axis=1)) if positions in events.fields else None
    values = ak.to_numpy(ak.flatten(array, axis=1))
    return unpack(values, ak.to_numpy(ak.num(array, axis=1)), shape, index, where=f"jet-table column {name!r}")
