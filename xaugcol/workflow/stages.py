"""What each stage of a study depends on, recorded beside its output, so that a resume reuses only what matches.

Every stage folder holds ``stage.json``: the stage's settings (what changes its result, not how it runs: the
executor and worker count are left out, they give identical outputs) and the fingerprints of the stages it
reads. It is written when the stage starts (incomplete) and again when the stage completes. On a resume a stage
is
* reused when it completed with the same fingerprint;
* continued when it was interrupted with the same fingerprint (processing and LRP resume from their checkpoints,
  the other stages start again);
* cleared and run again otherwise, and the reason is given: the settings that changed, or the stages it reads
  that changed (which reruns everything downstream of a change, and nothing else).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from xaugcol.atomic import make_dirs, remove, write_json
from xaugcol.processing.checkpoints import differences

RECORD = "stage.json"


@dataclass(frozen=True)
class Stage:
    name: str
    folder: Path
    settings: dict
    upstream: tuple[Stage, ...] = field(default=())

    def __post_init__(self):  # as it reads back from stage.json (tuples -> lists, paths -> text)
        object.__setattr__(self, "settings", json.loads(json.dumps(self.settings, default=str)))

    @property
    def fingerprint(self) -> str:
        text = json.dumps({"stage": self.name, "settings": self.settings,
                           "upstream": {u.name: u.fingerprint for u in self.upstream}}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def plan(self, resume: bool) -> tuple[str, str]:
        """("reuse" | "continue" | "run", the reason when a resume cannot reuse the stage)."""
        if not resume:
            return "run", ""
        try:
            record = json.loads((self.folder / RECORD).read_text())
        except (OSError, ValueError):
            record = None
        if not isinstance(record, dict):
            busy = self.folder.is_dir() and any(self.folder.iterdir())
            return "run", "no record of the settings it ran with" if busy else ""
        if record.get("fingerprint") == self.fingerprint:
            return ("reuse", "") if record.get("complete") else ("continue", "")
        changed = differences(record.get("settings"), self.settings)
        if changed:
            return "run", f"settings changed: {', '.join(changed[:6])}"
        before = record.get("upstream") or {}
        moved = [u.name for u in self.upstream if before.get(u.name) != u.fingerprint]
        return "run", f"it reads {', '.join(moved) or 'stages'} that changed"

    def begin(self, clear: bool) -> None:
        """Record the start (after removing an earlier result when ``clear``)."""
        if clear:
            remove(self.folder)
        self._record(False)

    def complete(self) -> None:
        self._record(True)

    def _record(self, complete: bool) -> None:
        make_dirs(self.folder)
        write_json(self.folder / RECORD, {"stage": self.name, "complete": complete, "fingerprint": self.fingerprint,
                                          "settings": self.settings,
                                          "upstream": {u.name: u.fingerprint for u in self.upstream}})
