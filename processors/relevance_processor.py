"""The relevance processor: per chunk, the jet table (as the XAUG processor builds it), then every ensemble member
and explanation method, into relevance histograms.

Thin by design: the jet table comes from ``xaugcol.processing.jet_table``, the explanation and the fills from
``xaugcol.explain.relevance``. Models are loaded once per worker process (not pickled with the processor).
Torch runs with a fixed number of threads, so a chunk gives bit-identical relevance in every executor.
"""

from __future__ import annotations

import warnings

import torch
from coffea import processor

from xaugcol.explain.relevance import explain_rows, explainers
from xaugcol.processing.jet_table import ProcessingConfig, chunk_jet_table

warnings.filterwarnings("ignore", message="Missing cross-reference index", category=RuntimeWarning)


class RelevanceProcessor(processor.ProcessorABC):
    def __init__(self, ensembles: list, labels: dict[str, int], config: ProcessingConfig, methods: tuple,
                 split: str = "test", batch_size: int = 512, threads: int = 1):
        self.ensembles = list(ensembles)
        self.labels = dict(labels)
        self.config = config
        self.methods = tuple(methods)  # MethodSpec: plain data, the attributors are built on the worker
        self.split = split
        self.batch_size = batch_size
        self.threads = threads
        self._members = None

    def __getstate__(self):
        return {**self.__dict__, "_members": None}  # weights are read on the worker, not shipped

    def process(self, events):
        dataset = events.metadata["dataset"]
        table, _, _ = chunk_jet_table(events, self.labels, self.config)
        threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            if self._members is None:
                self._members = [explainers(e, self.methods) for e in self.ensembles]
            hists, counts = {}, {}
            for ensemble, members in zip(self.ensembles, self._members):
                h, c = explain_rows(table, ensemble, members, self.methods, self.split, self.config,
                                    self.batch_size)
                hists.update(h)
                counts[ensemble.name] = {dataset: {**c, "chunks": 1, "jets_in_table": len(table["label"])}}
        finally:
            torch.set_num_threads(threads)
        return {"histograms": hists, "counts": counts}

    def postprocess(self, accumulator):
        return accumulator
