"""Skip a chunk that fails, and say so: with ``--skip-bad-files`` a chunk whose processing raises (a branch
missing from one file, an unreadable basket) is recorded with its file, entry range and the error, and the run
goes on. coffea's own ``skipbadfiles`` only warns; this keeps the record for the run's report."""

from __future__ import annotations

from coffea import processor


class SkipBadChunks(processor.ProcessorABC):
    def __init__(self, inner: processor.ProcessorABC):
        self.inner = inner

    def process(self, events):
        try:
            return self.inner.process(events)
        except MemoryError:
            raise  # a resource problem, not bad input
        except Exception as err:
            meta = events.metadata
            return {"skipped_chunks": [{
                "dataset": str(meta["dataset"]), "file": str(meta["filename"]),
                "entrystart": int(meta["entrystart"]), "entrystop": int(meta["entrystop"]),
                "events": int(meta["entrystop"]) - int(meta["entrystart"]),
                "reason": f"{type(err).__name__}: {err}"}]}

    def postprocess(self, accumulator):
        return self.inner.postprocess(accumulator)


def skipped_chunks(output: dict) -> list[dict]:
    """The skipped chunks of a run's output, in a reproducible order."""
    return sorted(output.get("skipped_chunks", []), key=lambda c: (c["dataset"], c["file"], c["entrystart"]))
