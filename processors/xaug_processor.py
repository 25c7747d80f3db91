"""The XAUG processor: per chunk, the jet table (written as one parquet file) and weighted histograms.

Thin by design: the physics lives in ``xaugcol.processing.jet_table``; this class names the output file after
the chunk (the same chunk always gives the same file, whatever the executor) and returns coffea accumulators,
among them the table it wrote with its row count (the run's report lists exactly these).
Picklable and free of global state, so the Runner can ship it to futures or Dask workers.
"""

from __future__ import annotations

from coffea import processor

from xaugcol.console import quiet_library_warnings
from xaugcol.jets import backend
from xaugcol.processing.histograms import empty_histograms, fill_histograms
from xaugcol.processing.jet_table import ProcessingConfig, chunk_jet_table
from xaugcol.processing.table_io import table_name, table_path, write_table

# coffea's schema notes (cross-references our generated files do not carry, ...), once per worker otherwise
quiet_library_warnings()


class XAUGProcessor(processor.ProcessorABC):
    def __init__(self, out_dir: str, labels: dict[str, int], config: ProcessingConfig = ProcessingConfig()):
        self.out_dir = str(out_dir)
        self.labels = dict(labels)
        self.config = config

    def process(self, events):
        meta = events.metadata
        dataset = meta["dataset"]
        table, counts, unavailable = chunk_jet_table(events, self.labels, self.config)
        path = table_path(self.out_dir, meta)
        write_table(path, table)
        hists = empty_histograms(table)  # the variables this table has (jets or leptons)
        fill_histograms(hists, table, dataset)
        return {
            "histograms": hists,
            "counts": {dataset: {**counts, "chunks": 1, "events": len(events)}},
            "unavailable": {dataset: set(unavailable)},
            "tables": {table_name(meta): len(table["label"])},
            "substructure": {backend.active()},  # which code computed it, per worker (the report lists them)
        }

    def postprocess(self, accumulator):
        return accumulator
