"""What a failing chunk means: an input fault may be skipped, anything else stops the run with its own message.

``ChunkGuard`` wraps every processor a run uses. When a chunk raises:
* an input fault (a branch missing from one file, an unreadable basket, any error of the chunk's data) is, with
  ``--skip-bad-files``, recorded with its file, entry range and the error, and the run goes on (coffea's own
  ``skipbadfiles`` only warns; this keeps the record for the run's report). Without it the run stops, naming the
  file and entry range (``ChunkError``) or the missing branch;
* an output fault (``OutputError``: no space, a read-only folder, no permission; ``UnsafePathError``: an output
  path that would leave its folder, through a planted link), a tagger that changed while the run explains it
  (``ModelFileError``) or running out of memory is never skipped: the run stops.

A stopping error is handed back as the chunk's output and raised by the checkpointer (``FAULT``), which coffea
calls outside its own error wrapping: so it arrives as itself, with its one-line message, from every executor
(a process pool does not carry an exception's cause across).
"""

from __future__ import annotations

import awkward as ak
from coffea import processor

from xaugcol.atomic import OutputError
from xaugcol.errors import InputDataError
from xaugcol.jets.constituents import MissingBranchError
from xaugcol.models.errors import ModelFileError
from xaugcol.paths import UnsafePathError
from xaugcol.processing import coffea_compat  # noqa: F401 - non-ASCII names in coffea's hashes

FAULT = "__fault__"


class ChunkError(InputDataError, RuntimeError):
    """A chunk failed on its input data; names the file, the entry range and the error.

    Parameters
    ----------
    file : str
        The input file of the chunk.
    entrystart : int
        The chunk's first entry.
    entrystop : int
        The entry after the chunk's last.
    reason : str
        The error, as ``<type>: <message>``.
    """

    def __init__(self, file: str, entrystart: int, entrystop: int, reason: str):
        self.file, self.entrystart, self.entrystop, self.reason = file, entrystart, entrystop, reason
        super().__init__(f"{file}, entries {entrystart}-{entrystop}: {reason}")

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self):
        return (type(self), (self.file, self.entrystart, self.entrystop, self.reason))


class ChunkGuard(processor.ProcessorABC):
    """A processor wrapper that decides what a failing chunk means (see the module's docstring).

    Parameters
    ----------
    inner : coffea.processor.ProcessorABC
        The processor that does the work.
    skip_bad_chunks : bool, default False
        Whether an input fault is recorded as a skipped chunk and the run goes on (``--skip-bad-files``);
        otherwise it stops the run.
    """

    def __init__(self, inner: processor.ProcessorABC, skip_bad_chunks: bool = False):
        self.inner = inner
        self.skip_bad_chunks = skip_bad_chunks

    def process(self, events: ak.Array) -> dict:
        """Process a chunk with the inner processor, turning a failure into a fault or a skipped chunk.

        Parameters
        ----------
        events : awkward.Array
            The chunk's events (coffea NanoEvents), with coffea's ``metadata`` (dataset, file, entry range).

        Returns
        -------
        dict
            The inner processor's output; on a stopping error ``{FAULT: error}`` (an input fault without
            ``skip_bad_chunks`` as a ``ChunkError``, or the ``MissingBranchError`` itself); on a skipped input fault
            ``{"skipped_chunks": [record]}``, the record holding dataset, file, entry range, events and reason.
        """
        try:
            return self.inner.process(events)
        except (OutputError, UnsafePathError, MemoryError, ModelFileError) as err:
            return {FAULT: err}
        except Exception as err:
            meta = events.metadata
            start, stop = int(meta["entrystart"]), int(meta["entrystop"])
            reason = f"{type(err).__name__}: {err}"
            if not self.skip_bad_chunks:
                return {
                    FAULT: err
                    if isinstance(err, MissingBranchError)
                    else ChunkError(str(meta["filename"]), start, stop, reason)
                }
            return {
                "skipped_chunks": [
                    {
                        "dataset": str(meta["dataset"]),
                        "file": str(meta["filename"]),
                        "entrystart": start,
                        "entrystop": stop,
                        "events": stop - start,
                        "reason": reason,
                    }
                ]
            }

    def postprocess(self, accumulator: dict) -> dict:
        """Postprocess the accumulated output with the inner processor.

        Parameters
        ----------
        accumulator : dict
            The run's accumulated output.

        Returns
        -------
        dict
            What the inner processor's ``postprocess`` returns.
        """
        return self.inner.postprocess(accumulator)


def raise_fault(output: dict) -> None:
    """Raise the stopping error a guarded chunk returned, if any.

    Parameters
    ----------
    output : dict
        A guarded chunk's (or the accumulated) output, which may hold the error under ``FAULT``.

    Raises
    ------
    Exception
        The error under ``FAULT``, as it was.
    """
    fault = output.get(FAULT)
    if fault is not None:
        raise fault


def skipped_chunks(output: dict) -> list[dict]:
    """The skipped chunks of a run's output, in a reproducible order.

    Parameters
    ----------
    output : dict
        The run's accumulated output.

    Returns
    -------
    list of dict
        Its ``skipped_chunks`` records, sorted by dataset, file and first entry; empty if none.
    """
    return sorted(output.get("skipped_chunks", []), key=lambda c: (c["dataset"], c["file"], c["entrystart"]))
