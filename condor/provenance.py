"""Which code a submission runs: the git commit of the checkout, refused while it has uncommitted changes (the
jobs would not run what the commit says)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from xaugcol.atomic import atomic_path
from xaugcol.errors import UsageError


class WheelBuildError(UsageError, RuntimeError):
    """The checkout given with --repo cannot be built into a wheel (pip's message follows)."""


class DirtyCheckoutError(UsageError, RuntimeError):
    """The checkout has uncommitted changes or is not a git checkout."""


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise DirtyCheckoutError("git is not installed: cannot record the commit of the submitted code") from None
    except subprocess.CalledProcessError as err:
        raise DirtyCheckoutError(
            f"{repo}: not a git checkout ({err.stderr.strip()}); submit from a clone of the xaugcol repository"
        ) from None
    return done.stdout


def clean_commit(repo: str | Path) -> str:
    """The commit hash of ``repo``'s HEAD, refused while the checkout has uncommitted changes.

    Parameters
    ----------
    repo : str or Path
        The git checkout of xaugcol.

    Returns
    -------
    str
        The full hash of HEAD.

    Raises
    ------
    DirtyCheckoutError
        Anything tracked is modified or staged, or a file is untracked (it would be missing from the shipped
        source), naming the files (the first 10); or ``repo`` is not a git checkout, or git is not installed.
    """
    repo = Path(repo)
    status = _git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()
    if status:
        shown = "\n  ".join(status[:10]) + (f"\n  ... ({len(status) - 10} more)" if len(status) > 10 else "")
        raise DirtyCheckoutError(
            f"{repo} has uncommitted changes; commit them (the jobs run a recorded commit):\n  {shown}"
        )
    return _git(repo, "rev-parse", "HEAD").strip()


def build_wheel(repo: str | Path, commit: str, out: str | Path) -> Path:
    """Build xaugcol at ``commit`` as a wheel (``git archive``, then ``pip wheel``).

    Exactly the recorded code, with its compiled extension, for the Python and platform of this machine (the
    workers' must match).

    Parameters
    ----------
    repo : str or Path
        The git checkout of xaugcol.
    commit : str
        The commit to build (``clean_commit``).
    out : str or Path
        Where the wheel is written, atomically (the submission's ``xaugcol.whl``).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    WheelBuildError
        ``pip wheel`` failed (the end of its message follows).
    DirtyCheckoutError
        ``git archive`` failed (``repo`` is not a git checkout, or git is not installed).
    """
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export"
        export.mkdir()
        _git(Path(repo), "archive", "--format=tar", "-o", str(Path(tmp) / "source.tar"), commit)
        with tarfile.open(Path(tmp) / "source.tar") as tar:
            tar.extractall(export, filter="data")
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--no-deps",
                    "--quiet",
                    "-w",
                    str(Path(tmp) / "dist"),
                    str(export),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as err:
            raise WheelBuildError(
                f"building the xaugcol wheel of commit {commit} failed:\n{err.stderr[-3000:]}"
            ) from None
        (wheel,) = (Path(tmp) / "dist").glob("xaugcol-*.whl")
        with atomic_path(out) as part:
            shutil.copyfile(wheel, part)
    return out
