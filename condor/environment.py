"""Pack a Python environment for jobs that have none: the virtual environment's folder as a tar.gz.

A venv is not relocatable in general (console scripts carry its absolute path), so the job script never uses
them: it runs ``env/bin/python -m xaugcol.cli``, and ``bin/python`` points to the base interpreter by the path
it had here. Workers must therefore run the same OS image (the same container) with that interpreter; sites with
CVMFS can instead set up a software stack (an LCG view, a coffea container) with ``environment.setup`` in the
submit configuration. xaugcol itself is not taken from the environment: the job ships its source at the
recorded commit (``provenance.build_wheel``).

An existing file is replaced only when asked (``overwrite``): the tarball is written under a temporary name and
appears whole or not at all, and without ``overwrite`` it never replaces a file that appeared while it was packed.
"""

from __future__ import annotations

import os
import sys
import tarfile
import tempfile
from pathlib import Path

from xaugcol.atomic import FILE_MODE, writing

SKIP_NAMES = {"__pycache__"}
SKIP_SUFFIXES = (".pyc",)


def pack_environment(out: str | Path, venv: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write a virtual environment into the tar.gz ``out``, members under ``env/``, without byte-code caches.

    Written atomically: under a temporary name, then published whole.

    Parameters
    ----------
    out : str or Path
        The tarball to write; it may not lie inside ``venv``.
    venv : str or Path, optional
        The virtual environment's folder (with a ``pyvenv.cfg``); default: the running one (``sys.prefix``).
    overwrite : bool, default False
        Whether an existing ``out`` is replaced.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ValueError
        ``venv`` is not a virtual environment, or ``out`` lies inside it.
    FileExistsError
        ``out`` exists (before anything is packed) or appeared while packing, without ``overwrite``.
    """
    venv = Path(venv or sys.prefix)
    if not (venv / "pyvenv.cfg").exists():
        raise ValueError(f"{venv} is not a virtual environment (no pyvenv.cfg); give the venv to pack")
    out = Path(out)
    if out.resolve().is_relative_to(venv.resolve()):  # links followed: where the tarball really goes
        raise ValueError(
            f"{out} lies inside the venv {venv} it packs: the tarball would pack itself (and replace "
            "a file of the venv with --overwrite); write it elsewhere"
        )
    if not overwrite:
        _refuse_existing(out)
    with writing(out):  # a new file of this process (O_EXCL): a name planted in advance is never written through
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent)
        os.fchmod(fd, FILE_MODE)
    tmp = Path(name)
    try:
        with writing(out), os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            tar.add(venv, arcname="env", filter=_without_caches)
        _publish(tmp, out, overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _without_caches(info: tarfile.TarInfo):
    name = Path(info.name)
    if SKIP_NAMES & set(name.parts) or name.name.endswith(SKIP_SUFFIXES):
        return None
    return info


def _refuse_existing(out: Path) -> None:
    if os.path.lexists(out):
        raise FileExistsError(f"{out} exists: give another --out, or --overwrite to replace it")


def _publish(tmp: Path, out: Path, overwrite: bool) -> None:
    """``tmp`` under the name ``out``. Without ``overwrite`` by a hard link, which fails on an existing name
    where a rename would replace it (a filesystem without hard links: checked, then renamed)."""
    if not overwrite:
        try:
            os.link(tmp, out)
            return
        except FileExistsError:
            raise FileExistsError(
                f"{out} appeared while the environment was packed: give another --out, or --overwrite to replace it"
            ) from None
        except OSError:
            _refuse_existing(out)
    with writing(out):
        os.replace(tmp, out)
