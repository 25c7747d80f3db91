"""Pythia generation speed of xaugcol against bare Pythia, in one process.

Figures (ratios, since this machine is noisy):
* per core: events/s of ``run_job`` (nextBatch, fastjet clustering, truth matching, the simplified tracker and
  vertex finder, ROOT writing) divided by the events/s of a bare ``pythia.next()`` loop with the same settings
  (goal >= 0.9), Pythia's initialisation timed on both sides; the same for ``nextBatch`` alone (the ceiling of
  ``run_job``, which reads its events as awkward arrays); the share of ``run_job``'s time the tracker, b-tagging
  variables and vertex finder take;
* scale-out: wall-clock speed-up of ``run_pythia`` with 2 workers over 1 worker (same total events, start-up of
  the worker interpreters included), next to the machine's own ceiling: the summed rate of two bare Pythia loops
  in two processes over one.

With ``--tracker cms_like --pileup 25`` the jets are seen with the CMS-like tracker and 25 overlaid interactions
(``xaugcol.sources.jet_detector``): the detector share then includes the overlay, charged-hadron subtraction,
efficiency and fake tracks (``seen_particles``); the pool's generation is not timed.

    python benchmarks/bench_generate.py [--events 1000] [--scaleout-events 2000] [--process qcd|hbb|zz]
        [--tracker simple|cms_like] [--pileup MU]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

from xaugcol.sources import pythia_events
from xaugcol.sources.jet_detector import PRESETS
from xaugcol.sources.pileup import PileupSettings, ensure_pool
from xaugcol.sources.processes import BUILTIN
from xaugcol.sources.pythia import PythiaJob, make_pythia, pythia_settings, run_job, run_pythia, worker_seeds


def bare_rate(job: PythiaJob) -> float:
    """Events/s of a bare ``next()`` loop, Pythia's initialisation included (as in ``run_job``)."""
    start = time.perf_counter()
    pythia = make_pythia(pythia_settings(job))
    n = 0
    while n < job.n_events:
        n += bool(pythia.next())
    return n / (time.perf_counter() - start)


def batch_rate(job: PythiaJob) -> float:
    """Events/s of ``nextBatch`` alone (the events as awkward arrays, what ``run_job`` reads), initialisation
    included: the ceiling of anything built on it."""
    start = time.perf_counter()
    pythia = make_pythia(pythia_settings(job))
    n = 0
    while n < job.n_events:
        n += len(pythia.nextBatch(min(200, job.n_events - n)))
    return n / (time.perf_counter() - start)


DETECTOR = ("seen_particles", "measured_candidates", "link_btag_variables", "secondary_vertices")


def xaugcol_rate(job: PythiaJob) -> tuple[float, float]:
    """(events/s, share of the time in the detector simulation: tracker, b-tagging variables, vertex finder)."""
    spent = [0.0]
    originals = {name: getattr(pythia_events, name) for name in DETECTOR}

    def timed(function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
        return wrapper

    for name, function in originals.items():
        setattr(pythia_events, name, timed(function))
    try:
        start = time.perf_counter()
        stats = run_job(job)
        total = time.perf_counter() - start
    finally:
        for name, function in originals.items():
            setattr(pythia_events, name, function)
    return stats["n_tried"] / total, spent[0] / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--scaleout-events", type=int, default=2000)
    parser.add_argument("--process", default="qcd", choices=sorted(BUILTIN))
    parser.add_argument("--tracker", default="simple", choices=sorted(PRESETS))
    parser.add_argument("--pileup", type=float, default=0.0)
    args = parser.parse_args()
    process = BUILTIN[args.process]
    seed = worker_seeds(1, process.name, 1)[0]

    with tempfile.TemporaryDirectory() as tmp:
        overlay = PileupSettings(mu=args.pileup)
        pool = ensure_pool(tmp, overlay, 1, 13000.0) if args.pileup > 0 else None
        seen_with = {"tracker": PRESETS[args.tracker], "pileup": overlay, "pool": pool}
        job = PythiaJob(process, args.events, seed, 0, str(Path(tmp) / "bench.root"), **seen_with)
        xaugcol_rate(PythiaJob(process, 20, seed, 0, str(Path(tmp) / "warm.root"), **seen_with))  # imports, banner
        bare = bare_rate(job)
        batched = batch_rate(job)
        ours, detector = xaugcol_rate(job)
        print(f"[{args.process}] bare pythia.next(): {bare:.1f} evt/s; nextBatch alone {batched:.1f} evt/s; "
              f"xaugcol run_job: {ours:.1f} evt/s (events tried, incl. filter; initialisation included in all three)")
        print(f"per-core ratio xaugcol / bare = {ours / bare:.3f}  (goal >= 0.9); nextBatch alone / bare = "
              f"{batched / bare:.3f}; xaugcol / nextBatch = {ours / batched:.3f}")
        print(f"[tracker {args.tracker}, pile-up {args.pileup:g}] overlay + tracker + b-tagging variables + vertex "
              f"finder: {detector:.3f} of run_job's time")

        n = args.scaleout_events
        times = {}
        for workers in (1, 2):
            start = time.perf_counter()
            run_pythia(Path(tmp) / f"w{workers}", [process], n, seed=1, workers=workers)
            times[workers] = time.perf_counter() - start
        print(f"run_pythia {n} events: 1 worker {times[1]:.1f} s, 2 workers {times[2]:.1f} s")
        print(f"speed-up 2 workers / 1 worker = {times[1] / times[2]:.2f}")
        half = PythiaJob(process, n // 4, seed, 0, "")
        with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
            pair = sum(pool.map(bare_rate, [half, half]))
        print(f"machine ceiling: 2 bare Pythia processes / 1 = {pair / bare:.2f}")


if __name__ == "__main__":
    main()
