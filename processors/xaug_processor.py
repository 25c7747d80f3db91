"""The XAUG processor: per chunk, the jet table (written as one parquet file) and weighted histograms.

Thin by design: the physics lives in ``xaugcol.processing.jet_table``; this class names the output file after
the chunk (the same chunk always gives the same file, whatever the executor) and returns coffea accumulators,
among them the table it wrote with its row count (the run's report lists exactly these).
Picklable and free of global state, so the Runner can ship it to futures or Dask workers.
"""

from __future__ import annotations

import awkward as ak
from coffea import processor

from xaugcol.allocator import reuse_freed_memory
from xaugcol.console import quiet_library_warnings
from xaugcol.jets import backend
from xaugcol.processing.histograms import empty_histograms, fill_histograms
from xaugcol.processing.jet_table import ProcessingConfig, chunk_jet_table
from xaugcol.processing.table_io import table_name, table_path, table_writer

# events per block of a chunk: its table (16 kB per jet with the default lists and image) is built and written
# block by block, so a chunk of 100 000 jets holds at most a fifth of its table at once
BLOCK_EVENTS = 20_000

# coffea's schema notes (cross-references our generated files do not carry, ...), once per worker otherwise
quiet_library_warnings()


class XAUGProcessor(processor.ProcessorABC):
    """coffea processor writing each chunk's jet table to parquet and filling the weighted histograms.

    Parameters
    ----------
    out_dir : str
        The jet-table folder (``<output>/jets``) the chunk files go under.
    labels : dict of str to int
        Each dataset's label (``coffea_runner.dataset_label``: 1, 0, -1, or ``"truth"``).
    config : ProcessingConfig, default ProcessingConfig()
        What the jet table holds.
    """

    def __init__(self, out_dir: str, labels: dict[str, int], config: ProcessingConfig = ProcessingConfig()):
        self.out_dir = str(out_dir)
        self.labels = dict(labels)
        self.config = config

    def process(self, events: ak.Array) -> dict:
        """Build one chunk's jet table, block by block of ``BLOCK_EVENTS`` events, into one parquet file.

        Parameters
        ----------
        events : awkward.Array
            The chunk's events (coffea's NanoEvents), with coffea's ``metadata``.

        Returns
        -------
        dict
            ``histograms`` (variable to ``hist.Hist``), ``counts`` (``{dataset: counters}``, with ``chunks`` 1 and
            ``events``), ``unavailable`` (``{dataset: set of column names}``), ``tables`` (``{table name: rows}``,
            the file written) and ``substructure`` (the set holding the substructure backend used).
        """
        reuse_freed_memory()  # this worker's blocks and EFP batches reuse their freed arrays (xaugcol.allocator)
        meta = events.metadata
        dataset = meta["dataset"]
        hists, rows = None, 0
        counts: dict[str, int] = {}
        unavailable: set[str] = set()
        # the chunk's events block by block into one file: the table of a whole chunk is never in memory at once
        with table_writer(table_path(self.out_dir, meta)) as write:
            for start in range(0, max(len(events), 1), BLOCK_EVENTS):
                table, block_counts, block_unavailable = chunk_jet_table(
                    events[start : start + BLOCK_EVENTS], self.labels, self.config
                )
                write(table)
                if hists is None:
                    hists = empty_histograms(table)  # the variables this table has (jets or leptons)
                fill_histograms(hists, table, dataset)
                counts = {k: counts.get(k, 0) + v for k, v in block_counts.items()}
                unavailable |= set(block_unavailable)
                rows += len(table["label"])
        return {
            "histograms": hists,
            "counts": {dataset: {**counts, "chunks": 1, "events": len(events)}},
            "unavailable": {dataset: unavailable},
            "tables": {table_name(meta): rows},
            "substructure": {backend.active()},  # which code computed it, per worker (the report lists them)
        }

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
