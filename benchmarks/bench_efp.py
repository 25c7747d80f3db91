"""EFP throughput: xaugcol's engine in jets/s for d <= 5 (102 graphs) and d <= 7 (1000), how its time grows with
the constituent count, and, given a Python with energyflow 1.4.0 (numpy 1), energyflow's rate on the same jets
as the ratio xaugcol / energyflow (the issue's goal: at least 50); each in float64 and with the contractions in
float32 (``EFPConfig.precision``).

    python benchmarks/bench_efp.py [--jets 2000] [--constituents 40] [--energyflow-python /tmp/efvenv/bin/python]

Make the energyflow environment as tests/fixtures/make_energyflow_reference.py says. One core: energyflow runs
with n_jobs=1 and numpy's BLAS is held to one thread here too.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from xaugcol.allocator import reuse_freed_memory  # noqa: E402
from xaugcol.features.efp.columns import FLOAT32_MAX_DEGREE, jets_per_batch  # noqa: E402
from xaugcol.features.efp.evaluate import efps, measure  # noqa: E402
from xaugcol.features.efp.graphs import all_graphs  # noqa: E402

ENERGYFLOW_TIMING = """
import sys, time, numpy as np, energyflow as ef
data = np.load(sys.argv[1])
jets = [np.stack([data["pt"][j], data["eta"][j], data["phi"][j]], 1) for j in range(len(data["pt"]))]
efps = ef.EFPSet("d<=" + sys.argv[2], measure="hadr", beta=1, kappa=1, normed=True, coords="ptyphim")
start = time.perf_counter(); efps.batch_compute(jets, n_jobs=1); print(time.perf_counter() - start)
"""


def jets(n: int, constituents: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    pt = rng.exponential(20.0, (n, constituents)) + 1.0
    return pt, rng.normal(0, 0.3, (n, constituents)), rng.normal(0, 0.3, (n, constituents))


def rate(degree: int, pt, eta, phi, dtype=np.float64) -> float:
    """Jets/s in the batches the jet-table columns use (``columns.jets_per_batch``: the largest factor within a
    fixed budget); ``dtype``: the contractions' precision (``EFPConfig.precision``)."""
    block = int(jets_per_batch(pt.shape[1], degree))
    graphs = all_graphs(degree)
    mask = np.ones(pt.shape, bool)
    start = time.perf_counter()
    for i in range(0, len(pt), block):
        z, theta = measure(pt[i:i + block], eta[i:i + block], phi[i:i + block], mask[i:i + block])
        efps(graphs, z.astype(dtype, copy=False), theta.astype(dtype, copy=False))
    return len(pt) / (time.perf_counter() - start)


def energyflow_rate(python: str, degree: int, pt, eta, phi) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "jets.npz"
        np.savez(path, pt=pt, eta=eta, phi=phi)
        out = subprocess.run([python, "-c", ENERGYFLOW_TIMING, str(path), str(degree)], check=True,
                             capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return len(pt) / float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=2000)
    parser.add_argument("--constituents", type=int, default=40)
    parser.add_argument("--energyflow-python", help="a Python with energyflow 1.4.0 and numpy 1")
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's allocator as it is (the processing commands tune it: xaugcol.allocator)")
    args = parser.parse_args()
    if not args.default_allocator:
        reuse_freed_memory()
    pt, eta, phi = jets(args.jets, args.constituents)
    all_graphs(7)  # enumerate once, outside the timing
    for degree in (5, 7):
        n = args.jets if degree == 5 else max(args.jets // 10, 50)
        ours = rate(degree, pt[:n], eta[:n], phi[:n])
        # float32 is offered up to degree 5 (EFPConfig.precision): measured at 7 too, marked
        single = rate(degree, pt[:n], eta[:n], phi[:n], dtype=np.float32)
        offered = "" if degree <= FLOAT32_MAX_DEGREE else " (not offered: above 1e-6 of float64)"
        line = (f"d <= {degree} ({len(all_graphs(degree))} graphs), {args.constituents} constituents: {ours:.0f} "
                f"jets/s, {single:.0f} in float32{offered}")
        if args.energyflow_python:
            theirs = energyflow_rate(args.energyflow_python, degree, pt[:n], eta[:n], phi[:n])
            line += (f"; energyflow {theirs:.1f} jets/s; xaugcol / energyflow = {ours / theirs:.0f}, in float32 "
                     f"{single / theirs:.0f}")
        print(line)
    base = None
    for constituents in (10, 20, 40, 80):
        p, e, f = jets(400, constituents, seed=1)
        t = 400 / rate(5, p, e, f)
        base = base or t
        print(f"d <= 5, {constituents} constituents: time / time at 10 = {t / base:.1f}")


if __name__ == "__main__":
    main()
