"""Progress written to a file or a pipe (CI, nohup, batch jobs) reads as whole lines."""

from __future__ import annotations

import os
import subprocess
import sys

DESCRIPTION = "cnn2d+xaug seed 0 epoch 6/6, a tagger with a long name to describe " * 2

SCRIPT = """
import sys
from xaugcol.console import progress_bar, whole_lines_when_redirected
if sys.argv[1] == "whole":
    whole_lines_when_redirected()
with progress_bar("batches") as bars:
    task = bars.add_task(sys.argv[2], total=180, status="")
    for _ in range(180):
        bars.update(task, advance=1, status="loss 0.4312, val 0.4420")
"""


def _redirected(mode: str) -> str:
    # rich would take a width or a terminal from these
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE",
                                                            "TTY_INTERACTIVE")}
    return subprocess.run([sys.executable, "-c", SCRIPT, mode, DESCRIPTION], capture_output=True, text=True,
                          check=True, env=env).stdout


def test_redirected_progress_reads_as_whole_lines():
    """The CLI's setting (``whole_lines_when_redirected``) gives the bar's line whole, description, count and
    status, without padding; rich's default cuts it at 80 columns (what a redirected demo log held)."""
    lines = [line for line in _redirected("whole").splitlines() if line.strip()]
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith(DESCRIPTION.rstrip()) and "…" not in line
    assert "180/180 batches" in line and line.endswith("loss 0.4312, val 0.4420")
    cut = _redirected("default")
    assert "…" in cut and "loss 0.4312, val 0.4420" not in cut
