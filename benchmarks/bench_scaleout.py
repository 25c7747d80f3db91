"""Scale-out: processing throughput with 2 Dask workers on localhost divided by 1 worker, in the same run.

A scheduler and single-threaded worker processes are started as on a cluster (``dask scheduler`` /
``dask worker`` commands), first with one worker, then with two; the same toy fileset is processed on each
(``run_processing(executor="dask")``) after a warm-up run that loads the libraries in the workers. Goal on a
2-core machine: ratio >= 1.7.

    python benchmarks/bench_scaleout.py [--jets 20000] [--chunksize 2000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from distributed import Client

from xaugcol.processing.coffea_runner import load_fileset

from xaugcol.coffea_runs import run_processing
from xaugcol.sources.toy import run_toy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def cluster(n_workers: int, logs: Path):
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0"], stdout=open(logs / f"s{n_workers}.log", "w"),
                              stderr=subprocess.STDOUT, env=env)]
    for k in range(n_workers):
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard",
                                       "--local-directory", str(logs / f"w{n_workers}_{k}")],
                                      stdout=open(logs / f"w{n_workers}_{k}.log", "w"), stderr=subprocess.STDOUT,
                                      env=env))
    try:
        with Client(address, timeout=60) as client:  # connecting retries until the scheduler is up
            client.wait_for_workers(n_workers, timeout=60)
        yield address
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def seconds(fileset: dict, out: Path, address: str, chunksize: int) -> float:
    start = time.perf_counter()
    run_processing(fileset, out, executor="dask", scheduler=address, chunksize=chunksize)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=20_000, help="toy jets per class")
    parser.add_argument("--chunksize", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per cluster size (the best is kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_toy(tmp / "toy", args.jets, seed=3)
        fileset = load_fileset(tmp / "toy" / "fileset.json")
        best = {}
        for n in (1, 2):
            with cluster(n, tmp) as address:
                seconds(fileset, tmp / f"warm{n}", address, args.chunksize)
                best[n] = min(seconds(fileset, tmp / f"run{n}_{k}", address, args.chunksize)
                              for k in range(args.repeat))
        jets = 2 * args.jets
        for n, t in best.items():
            print(f"{n} worker(s): {t:.1f} s, {jets / t:,.0f} jets/s")
        print(f"throughput 2 workers / 1 worker = {best[1] / best[2]:.2f}  (goal >= 1.7 on 2 cores)")


if __name__ == "__main__":
    main()
