"""Pack a Python environment for jobs that have none: the virtual environment's folder as a tar.gz.

A venv is not relocatable in general (console scripts carry its absolute path), so the job script never uses
them: it runs ``env/bin/python -m xaugcol.cli``, and ``bin/python`` points to the base interpreter by the path
it had here. Workers must therefore run the same OS image (the same container) with that interpreter; sites with
CVMFS can instead set up a software stack (an LCG view, a coffea container) with ``environment.setup`` in the
submit configuration. xaugcol itself is not taken from the environment: the job ships its source at the
recorded commit (``provenance.archive_source``).
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

from xaugcol.atomic import atomic_path

SKIP_NAMES = {"__pycache__"}
SKIP_SUFFIXES = (".pyc",)


def pack_environment(out: str | Path, venv: str | Path | None = None) -> Path:
    """Write the venv at ``venv`` (default: the running one) into ``out`` (tar.gz, members under ``env/``),
    without byte-code caches; atomically."""
    venv = Path(venv or sys.prefix)
    if not (venv / "pyvenv.cfg").exists():
        raise ValueError(f"{venv} is not a virtual environment (no pyvenv.cfg); give the venv to pack")

    def keep(info: tarfile.TarInfo):
        name = Path(info.name)
        if SKIP_NAMES & set(name.parts) or name.name.endswith(SKIP_SUFFIXES):
            return None
        return info

    out = Path(out)
    with atomic_path(out) as tmp:
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(venv, arcname="env", filter=keep)
    return out
