"""Output folders and coffea filesets shared by every generator."""

from __future__ import annotations

from pathlib import Path

from xaugcol.atomic import write_json
from xaugcol.sources.nanoaod import TREE

FILESET_NAME = "fileset.json"


class OutputExistsError(ValueError):
    """The output folder holds files and the user did not ask to overwrite them."""


def prepare_output_dir(out: str | Path, overwrite: bool) -> Path:
    """Create ``out``; refuse a non-empty folder unless ``overwrite`` is set."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output path {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"output folder {out} is not empty (use --overwrite to write into it)")
    out.mkdir(parents=True, exist_ok=True)
    return out


def fileset_entry(files: list[Path], metadata: dict) -> dict:
    """One dataset in coffea's fileset form: {"files": {path: "Events"}, "metadata": {...}}."""
    return {"files": {str(Path(f).resolve()): TREE for f in files}, "metadata": metadata}


def write_fileset(out: Path, fileset: dict) -> Path:
    path = Path(out) / FILESET_NAME
    write_json(path, fileset)
    return path
