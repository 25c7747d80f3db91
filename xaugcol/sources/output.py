"""The coffea fileset every generator writes next to its files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from xaugcol.atomic import write_json
from xaugcol.sources.nanoaod import TREE

FILESET_NAME = "fileset.json"


def fileset_entry(files: Sequence[str | os.PathLike], metadata: dict) -> dict:
    """One dataset in coffea's fileset form: {"files": {path: "Events"}, "metadata": {...}}.

    Parameters
    ----------
    files : sequence of str or os.PathLike
        The dataset's ROOT files (written as absolute paths).
    metadata : dict
        The dataset's metadata, as it is.

    Returns
    -------
    dict
        ``{"files": {absolute path: "Events", ...}, "metadata": metadata}``.
    """
    return {"files": {str(Path(f).resolve()): TREE for f in files}, "metadata": metadata}


def write_fileset(out: str | os.PathLike, fileset: dict) -> Path:
    """Write ``fileset`` ({dataset: ``fileset_entry``}) as ``fileset.json`` into the folder ``out`` (atomically).

    Parameters
    ----------
    out : str or os.PathLike
        The folder to write into.
    fileset : dict
        Dataset names to their ``fileset_entry``.

    Returns
    -------
    Path
        The path of the ``fileset.json`` written.
    """
    path = Path(out) / FILESET_NAME
    write_json(path, fileset)
    return path
