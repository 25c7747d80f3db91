"""Scale-out: processing on a real dask.distributed cluster (a scheduler and two worker processes on localhost,
started as on a cluster) gives exactly the jet tables and histograms of the iterative executor."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from xaugcol.processing.run import load_fileset, run_processing
from xaugcol.processing.table_io import read_tables
from xaugcol.sources.toy import run_toy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    if dask is None:
        pytest.fail("the 'dask' command (dask.distributed) is not installed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0"], stdout=open(log / "scheduler.log", "w"),
                              stderr=subprocess.STDOUT, env=env)]
    for k in range(2):
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                       "--no-dashboard", "--local-directory", str(log / f"w{k}")],
                                      stdout=open(log / f"worker{k}.log", "w"), stderr=subprocess.STDOUT, env=env))
    try:
        from distributed import Client

        deadline = time.time() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:
                    if len(client.scheduler_info()["workers"]) == 2:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"the dask cluster did not start; logs in {log}")
            time.sleep(1)
        yield address
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_dask_cluster_processing_equals_iterative(dask_cluster, tmp_path):
    run_toy(tmp_path / "gen", 400, seed=21)
    fileset = load_fileset(tmp_path / "gen" / "fileset.json")
    local = run_processing(fileset, tmp_path / "iterative", chunksize=150)
    remote = run_processing(fileset, tmp_path / "dask", executor="dask", scheduler=dask_cluster, chunksize=150)
    assert remote.counts == local.counts
    for name, h in local.histograms.items():
        other = remote.histograms[name]
        # the dataset axis grows in the order chunks merge: compare dataset by dataset
        assert sorted(h.axes["dataset"]) == sorted(other.axes["dataset"]) == sorted(fileset)
        for d in fileset:
            assert np.array_equal(h[{"dataset": d}].view(flow=True), other[{"dataset": d}].view(flow=True)), name
    a, b = read_tables(tmp_path / "iterative" / "jets"), read_tables(tmp_path / "dask" / "jets")
    assert len(a) == 800 and a.fields == b.fields
    for field in a.fields:
        assert np.array_equal(np.asarray(a[field].to_numpy()), np.asarray(b[field].to_numpy())), field
    assert sorted(p.name for p in (tmp_path / "dask" / "jets").rglob("*.parquet")) == \
        sorted(p.name for p in (tmp_path / "iterative" / "jets").rglob("*.parquet"))


def test_executor_arguments_are_checked(tmp_path):
    fileset = {"d": {"files": {}, "metadata": {"label": 1}}}
    with pytest.raises(ValueError, match="needs the scheduler address"):
        run_processing(fileset, tmp_path, executor="dask")
    with pytest.raises(ValueError, match="only used by executor 'dask'"):
        run_processing(fileset, tmp_path, executor="futures", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="unknown executor"):
        run_processing(fileset, tmp_path, executor="slurm")


def test_dask_local_cluster_from_the_command_line(tmp_path, capsys):
    from xaugcol.cli import main

    run_toy(tmp_path / "gen", 100, seed=5)
    assert main(["process", str(tmp_path / "gen" / "fileset.json"), "--out", str(tmp_path / "out"),
                 "--executor", "dask-local", "--workers", "2", "--chunksize", "50"]) == 0
    assert "100/100 jets kept" in capsys.readouterr().out
    assert len(list((tmp_path / "out" / "jets").rglob("*.parquet"))) == 4
    assert main(["process", str(tmp_path / "gen" / "fileset.json"), "--out", str(tmp_path / "o2"),
                 "--executor", "dask"]) == 2
    assert "needs the scheduler address" in capsys.readouterr().err
