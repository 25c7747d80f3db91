"""A study is a list of stages (``StudyStage``: name, completion markers, work, figures, report section) run by
``run_stages``; the XAUG study's list is ``xaug_study``, and the coming studies compose their own.

What each stage depends on is recorded beside its output, so that a resume reuses only what matches.

Every stage folder holds ``stage.json``: the stage's settings (what changes its result, not how it runs: the
executor and worker count are left out, they give identical outputs) and the fingerprints of the stages it
reads. It is written when the stage starts (incomplete) and again when the stage completes. On a resume a stage
is

* reused when it completed with the same fingerprint and its outputs are as it left them (``outputs_identity``:
  every file's size and modification time), and no stage it reads ran again;
* continued when it was interrupted with the same fingerprint (processing and LRP resume from their checkpoints,
  the other stages start again);
* cleared and run again otherwise, and the reason is given: the settings that changed, or the stages it reads
  that changed (which reruns everything downstream of a change, and nothing else).

A study removes only what it wrote: a stage folder is cleared only when its ``stage.json`` names that stage. A
folder in the study's layout without one (files the user put there) is refused before the stage runs
(``StageFolderError``), and one a study no longer uses is left where it is (``drop_stage_folder``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xaugcol.atomic import make_dirs, remove, write_json
from xaugcol.console import say
from xaugcol.output_folder import LOCK_NAME, OutputExistsError, empty_locked_folder, is_empty, output_lock
from xaugcol.paths import read_json
from xaugcol.processing.checkpoints import differences

if TYPE_CHECKING:
    from distributed import Client

    from xaugcol.processing.executors import Mapper
    from xaugcol.workflow.config import Workflow

RECORD = "stage.json"


class StageFolderError(OutputExistsError):
    """A folder of the study's layout holds files no study wrote for that stage: they are not removed."""


def written_by_stage(folder: Path, name: str) -> bool:
    """Whether ``folder`` (a real folder, not a link) holds the record of the study stage ``name``.

    Parameters
    ----------
    folder : Path
        A stage folder of the study's layout.
    name : str
        The stage's name (e.g. ``process``, ``train/dnn_xaug``).

    Returns
    -------
    bool
        True when ``folder/stage.json`` is a regular file (not a link) whose ``stage`` is ``name``; False when it
        is absent, unreadable or names another stage.
    """
    path = folder / RECORD
    if folder.is_symlink() or path.is_symlink() or not path.is_file():  # a FIFO there would block the read
        return False
    try:
        record = read_json(path, "a stage record")
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("stage") == name


def _ours(folder: Path, name: str) -> bool:
    """Whether the study may remove ``folder``: it holds stage ``name``'s record, or is a real folder holding
    nothing but a lock file."""
    return written_by_stage(folder, name) or (folder.is_dir() and not folder.is_symlink() and is_empty(folder))


def stage_may_clear(stage: Stage) -> bool:
    """Whether the folder of ``stage`` may be cleared when the stage runs again (``clear_stage_folder``).

    Parameters
    ----------
    stage : Stage
        The stage's record.

    Returns
    -------
    bool
        True when its folder holds its record, or is a real folder holding nothing but a lock file.
    """
    return _ours(stage.folder, stage.name)


def clear_stage_folder(folder: Path, name: str) -> None:
    """Remove the earlier output of stage ``name`` before it runs again.

    A folder is emptied but its lock file kept (the stage holds it while it runs); nothing happens where
    ``folder`` is absent.

    Parameters
    ----------
    folder : Path
        The stage's folder.
    name : str
        The stage's name, as its record names it.

    Raises
    ------
    StageFolderError
        When what is there is not provably that stage's (a link, a file, a folder without its record).
    """
    if not (folder.exists() or folder.is_symlink()):
        return
    if not _ours(folder, name):  # checked for every stage before a study starts (workflow.run_workflow.check_study)
        raise StageFolderError(
            f"{folder} holds files that no xaugcol study wrote for its {name} stage (no {RECORD} "
            "naming it): the study would replace them; move them away or use another output "
            "folder"
        )
    if folder.is_dir() and not folder.is_symlink():
        empty_locked_folder(folder)  # the lock file stays: the stage holds it while it runs
    else:
        remove(folder)


def drop_stage_folder(folder: Path, name: str) -> None:
    """Remove the folder of a stage the study no longer has if the study wrote it, else leave it (and name it).

    Parameters
    ----------
    folder : Path
        The folder the stage used.
    name : str
        The stage's name, as its record names it.
    """
    if _ours(folder, name):
        remove(folder)
    elif folder.exists() or folder.is_symlink():
        say(f"left {folder} in place: the study does not use it, and no study stage wrote it")


@dataclass(frozen=True)
class Stage:
    """The completion record of one unit of a study's work (``stage.json`` in ``folder``).

    The settings its result depends on and the stages it reads (``upstream``) decide whether a resume reuses it
    (``plan``).

    Parameters
    ----------
    name : str
        The unit's name (``process``, ``train/<tagger>``, ...), written into its record.
    folder : Path
        The folder the unit writes, where ``stage.json`` lies.
    settings : dict
        What its result depends on; stored as it reads back from JSON (tuples as lists, paths as text).
    upstream : tuple of Stage, optional
        The stages it reads; empty (the default): none.
    """

    name: str
    folder: Path
    settings: dict
    upstream: tuple[Stage, ...] = field(default=())

    def __post_init__(self) -> None:  # as it reads back from stage.json (tuples -> lists, paths -> text)
        object.__setattr__(self, "settings", json.loads(json.dumps(self.settings, default=str)))

    @property
    def fingerprint(self) -> str:
        """A hash of the stage's name, settings and upstream fingerprints: equal records, equal results."""
        text = json.dumps(
            {"stage": self.name, "settings": self.settings, "upstream": {u.name: u.fingerprint for u in self.upstream}},
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def plan(self, resume: bool) -> tuple[str, str]:
        """Decide from the record in the folder whether the stage is reused, continued or run again.

        Parameters
        ----------
        resume : bool
            Whether the study resumes; without it every stage runs.

        Returns
        -------
        action : str
            ``"reuse"`` (completed with the same fingerprint and its outputs unchanged), ``"continue"``
            (interrupted with the same fingerprint) or ``"run"``.
        reason : str
            Why a resume cannot reuse the stage (changed settings, upstream stages or outputs); ``""`` when
            there is nothing to say.
        """
        if not resume:
            return "run", ""
        try:
            record = read_json(self.folder / RECORD, "a stage record")
        except (OSError, ValueError):
            record = None
        if not isinstance(record, dict):
            busy = self.folder.is_dir() and any(self.folder.iterdir())
            return "run", "no record of the settings it ran with" if busy else ""
        if record.get("fingerprint") == self.fingerprint:
            if not record.get("complete"):
                return "continue", ""
            changed = _changed(record.get("outputs"), outputs_identity(self.folder))
            return ("run", f"its outputs changed since it completed ({changed})") if changed else ("reuse", "")
        differ = differences(record.get("settings"), self.settings)
        if differ:
            return "run", f"settings changed: {', '.join(differ[:6])}"
        before = record.get("upstream") or {}
        moved = [u.name for u in self.upstream if before.get(u.name) != u.fingerprint]
        return "run", f"it reads {', '.join(moved) or 'stages'} that changed"

    def begin(self, clear: bool) -> None:
        """Record the start (after removing an earlier result when ``clear``: only this stage's own).

        Parameters
        ----------
        clear : bool
            Whether to clear the folder first (``clear_stage_folder``).
        """
        if clear:
            clear_stage_folder(self.folder, self.name)
        self._record(False)

    def complete(self) -> None:
        """Record the completion, with the identity of the outputs (``outputs_identity``)."""
        self._record(True)

    def _record(self, complete: bool) -> None:
        make_dirs(self.folder)
        outputs = {"outputs": outputs_identity(self.folder)} if complete else {}
        write_json(
            self.folder / RECORD,
            {
                "stage": self.name,
                "complete": complete,
                "fingerprint": self.fingerprint,
                "settings": self.settings,
                "upstream": {u.name: u.fingerprint for u in self.upstream},
                **outputs,
            },
        )


def outputs_identity(folder: Path) -> dict[str, list[int]]:
    """The size and modification time of every file a stage left in ``folder``.

    What a resume checks before it reuses the stage, so that an output replaced by hand (a tagger copied in, a
    table edited) is not taken for the stage's own.

    Parameters
    ----------
    folder : Path
        The stage's folder.

    Returns
    -------
    dict of str to list of int
        {path relative to ``folder``: [size in bytes, modification time in ns]}, sorted by path, its record and
        lock files aside; links are listed, not followed. Empty when ``folder`` is not a real folder.
    """
    if not folder.is_dir() or folder.is_symlink():
        return {}
    out: dict[str, list[int]] = {}
    for path in sorted(folder.rglob("*")):
        if path.name in (RECORD, LOCK_NAME) or not (path.is_symlink() or path.is_file()):
            continue
        info = path.lstat()
        out[path.relative_to(folder).as_posix()] = [info.st_size, info.st_mtime_ns]
    return out


def _changed(recorded: Any, now: dict) -> str:
    """The first output that differs from the record (``''``: none, or a record written before outputs were)."""
    if not isinstance(recorded, dict):
        return ""
    differ = sorted(k for k in set(recorded) | set(now) if recorded.get(k) != now.get(k))
    return differ[0] + (f" and {len(differ) - 1} more" if len(differ) > 1 else "") if differ else ""


@dataclass
class StudyContext:
    """What the stages of one study share.

    The configuration, the output folder, the Dask client and mapper, and what earlier stages produced
    (``results``: e.g. the relevance summary, the figures).

    Parameters
    ----------
    wf : Workflow
        The study.
    out : Path
        The study's output folder.
    client : distributed.Client, optional
        The Dask client every stage shares; None: no cluster.
    mapper : callable, default map
        How ensemble members are dispatched: builtin ``map``, or ``dask_map(client)``.
    progress : bool, default False
        Whether the stages print progress.
    results : dict, optional
        What the stages' ``after`` steps read (``relevance``, ``gain``, ``figures``, ...); empty at first.
    """

    wf: Workflow
    out: Path
    client: Client | None = None
    mapper: Mapper = map
    progress: bool = False
    results: dict = field(default_factory=dict)


@dataclass
class StudyStage:
    """One step of a study: its completion markers, its work, its figures and its report section.

    Parameters
    ----------
    name : str
        The step's name.
    text : str
        What it does, printed in its progress line.
    records : tuple of Stage, optional
        Its completion markers (``Stage``, one ``stage.json`` per unit of work, e.g. per tagger); empty (the
        default): a step with no work (e.g. one not configured).
    work : callable, optional
        ``work(ctx, record, resume)`` runs one unit (``resume``: continue from its checkpoints); needed where
        there are ``records``.
    before : callable, optional
        ``before(ctx)`` runs first whatever the plan (e.g. clearing what the study no longer holds).
    after : callable, optional
        ``after(ctx)`` runs last (reading the stage's result into ``ctx.results``, also when it was reused).
    figures : callable, optional
        ``figures(ctx)`` lists its figures (``xaugcol.report.figures.FigureJob``, drawn by the figures stage in
        parallel processes).
    report : callable, optional
        ``report(ctx)`` gives its HTML section.
    """

    name: str
    text: str
    records: tuple[Stage, ...] = ()
    work: Callable | None = None
    before: Callable | None = None
    after: Callable | None = None
    figures: Callable | None = None
    report: Callable | None = None


def _after_upstream(record: Stage, action: str, reason: str, ran: dict[str, str]) -> tuple[Stage, str, str]:
    """A stage that reads a stage which ran again in this run runs again too (the upstream's settings may be the
    same, its outputs are new)."""
    moved = [u.name for u in record.upstream if u.name in ran]
    if action != "run" and moved:
        return record, "run", f"it reads {', '.join(moved)}, which ran again"
    return record, action, reason


def run_stages(
    stages: list[StudyStage], ctx: StudyContext, resume: bool, steps: int | None = None
) -> tuple[dict, dict]:
    """Run a study's stages in order: each unit is reused, continued or run again as its record says (``Stage``).

    A unit that reads a unit which ran again in this run runs again too. Each unit runs with its folder locked.

    Parameters
    ----------
    stages : list of StudyStage
        The study's stages, in the order they run.
    ctx : StudyContext
        What the stages share.
    resume : bool
        Whether to reuse or continue the units whose records allow it; without it every unit runs.
    steps : int, optional
        The number of progress steps shown (the stages and what follows them); None: the number of stages.

    Returns
    -------
    timings : dict of str to float
        The seconds each stage took, by stage name.
    ran : dict of str to str
        Why each unit that was not reused ran, by record name.
    """
    from xaugcol.processing.checkpoints import CHECKPOINTS, MANIFEST

    started = time.perf_counter()
    timings: dict[str, float] = {}
    ran: dict[str, str] = {}
    for number, stage in enumerate(stages, 1):
        t0 = time.perf_counter()
        plans = [_after_upstream(record, *record.plan(resume), ran) for record in stage.records]
        why = sorted({reason for _, _, reason in plans if reason})
        suffix = (
            ""
            if not plans
            else " (reused)"
            if all(a == "reuse" for _, a, _ in plans)
            else f" (rerun: {'; '.join(why)})"
            if why
            else ""
        )
        if ctx.progress:
            print(f"[{number}/{steps or len(stages)}] {stage.text}{suffix} (t = {t0 - started:.0f} s)", flush=True)
        if stage.before is not None:
            stage.before(ctx)
        for record, action, reason in plans:
            if action == "reuse":
                continue
            # processing and LRP continue from their checkpoints; a unit with none to continue from starts again
            resumable = action == "continue" and (record.folder / CHECKPOINTS / MANIFEST).exists()
            # the stage's folder is locked as any command's output: a run reading it (a training of its jet
            # tables, an explanation of its tagger) makes the study stop here instead of changing it underneath
            assert stage.work is not None, f"stage {stage.name} has records but no work"
            with output_lock(record.folder):
                record.begin(clear=not resumable)
                stage.work(ctx, record, resumable)
                record.complete()
            ran[record.name] = reason or ("continued" if action == "continue" else "run")
        if stage.after is not None:
            stage.after(ctx)
        timings[stage.name] = round(time.perf_counter() - t0, 1)
    return timings, ran
