"""Figures stage cost, as ratios measured in one process.

* parallel / serial: ``draw_figures`` with 2 worker processes (what studies and ``xaugcol report`` run) over the
  same figures drawn one after the other in this process (ideal on 2 cores: 0.5; worker start-up, the imports of
  each worker and the longest task keep it above);
* PNG + PDF / PNG: what asking for PDFs (``--pdf``, ``figures: {pdf: true}``) costs.
Also printed: the stage's wall time and the figures per second, which depend on the machine.

    python benchmarks/bench_figures.py [--outputs DEMO_FOLDER]

Without ``--outputs`` a small demo (1000 jets per class, 2 epochs, 2 seeds) is run first into a temporary folder;
with it, the figures of an existing demo or study folder (``processed/``, ``taggers/``, ``relevance/``) are drawn.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from xaugcol.report.build import report_inputs
from xaugcol.report.figures import draw_figures, figure_jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", type=Path, help="a demo or study output folder (default: run a small demo)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outputs = args.outputs or _small_demo(Path(tmp) / "demo")
        taggers = sorted((outputs / "taggers").iterdir())
        jobs = figure_jobs(report_inputs([outputs / "relevance", outputs / "processed", *taggers], "benchmark"))
        timings = {}
        for name, workers, pdf in (("serial", 1, False), ("parallel", 2, False), ("parallel_pdf", 2, True)):
            started = time.perf_counter()
            drawn = draw_figures(jobs, Path(tmp) / name / "figures", Path(tmp) / name, workers, pdf)
            timings[name] = time.perf_counter() - started
        n = sum(len(items) for items in drawn.values())
    print(f"{n} figures of {outputs}")
    print(f"serial (1 process): {timings['serial']:.1f} s; parallel (2 processes): {timings['parallel']:.1f} s "
          f"({n / timings['parallel']:.2f} figures/s); parallel with PDFs: {timings['parallel_pdf']:.1f} s")
    print(f"parallel / serial = {timings['parallel'] / timings['serial']:.2f} (ideal on 2 cores: 0.5)")
    print(f"PNG + PDF / PNG = {timings['parallel_pdf'] / timings['parallel']:.2f}")


def _small_demo(out: Path) -> Path:
    from xaugcol.cli import main as cli

    if cli(["-q", "demo", "--out", str(out), "--jets", "1000", "--epochs", "2", "--seeds", "2", "--top-k", "2"]):
        raise SystemExit("the demo that makes the benchmark's outputs failed")
    return out


if __name__ == "__main__":
    main()
