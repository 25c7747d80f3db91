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
from coffea.processor import ProcessorABC

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

        with Client(address, timeout=60) as client:  # connecting retries until the scheduler is up
            client.wait_for_workers(2, timeout=60)
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


def test_ensemble_members_and_relevance_over_one_client(dask_cluster, tmp_path):
    """Training members and relevance chunks go to the cluster's workers through one client, and give the same
    models (same seed, one thread) and the same relevance histograms as in this process."""
    import torch
    from distributed import Client, get_task_stream

    from xaugcol.explain.run import run_relevance
    from xaugcol.models.registry import ModelConfig
    from xaugcol.processing.executors import dask_map
    from xaugcol.training.train import TrainConfig, train_ensemble

    run_toy(tmp_path / "gen", 300, seed=8)
    fileset = load_fileset(tmp_path / "gen" / "fileset.json")
    run_processing(fileset, tmp_path / "proc", chunksize=150)
    jets = str(tmp_path / "proc" / "jets")
    dnn = ModelConfig("dnn", xaug=True, architecture={"hidden": [16, 8]})
    training = TrainConfig(epochs=2, batch_size=64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as on the workers (OMP_NUM_THREADS=1): the same arithmetic, bit for bit
    try:
        train_ensemble(jets, dnn, training, [0, 1], str(tmp_path / "local"))
    finally:
        torch.set_num_threads(threads)
    with Client(dask_cluster) as client:
        with get_task_stream(client) as stream:
            train_ensemble(jets, dnn, training, [0, 1], str(tmp_path / "remote"), mapper=dask_map(client))
        assert len({t["worker"] for t in stream.data}) >= 1 and len(stream.data) >= 2
        remote = run_relevance(fileset, [tmp_path / "remote"], tmp_path / "rel_dask", ("epsilon",),
                               executor="dask", chunksize=150, client=client)
    for seed in (0, 1):
        a = torch.load(tmp_path / "local" / f"seed_{seed}" / "model.pt", weights_only=True)
        b = torch.load(tmp_path / "remote" / f"seed_{seed}" / "model.pt", weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), seed
    local = run_relevance(fileset, [tmp_path / "remote"], tmp_path / "rel_local", ("epsilon",), chunksize=150)
    assert remote.histograms.keys() == local.histograms.keys()
    for key, h in local.histograms.items():
        assert np.array_equal(h.view(flow=True), remote.histograms[key].view(flow=True)), key
    assert remote.counts == local.counts


class _DiesOnce(ProcessorABC):
    """Wraps a processor; the first chunk starting at ``entrystart`` kills its worker process (os._exit, as an
    out-of-memory kill or a lost node would), once: a marker file records that it happened."""

    def __init__(self, inner, marker, entrystart):
        self.inner, self.marker, self.entrystart = inner, str(marker), entrystart

    def process(self, events):
        if events.metadata["entrystart"] == self.entrystart:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
                os._exit(1)
            except FileExistsError:
                pass
        return self.inner.process(events)

    def postprocess(self, accumulator):
        return accumulator


def test_worker_killed_mid_run_finishes_with_clean_totals(dask_cluster, tmp_path):
    import cloudpickle
    from distributed import Client

    from processors.xaug_processor import XAUGProcessor
    from xaugcol.processing.jet_table import ProcessingConfig
    from xaugcol.processing.run import run_coffea

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    run_toy(tmp_path / "gen", 400, seed=22)
    fileset = load_fileset(tmp_path / "gen" / "fileset.json")
    clean = run_processing(fileset, tmp_path / "clean", chunksize=100)
    labels = {name: entry["metadata"]["label"] for name, entry in fileset.items()}
    marker = tmp_path / "killed"
    inner = XAUGProcessor(str(tmp_path / "faulty" / "jets"), labels, ProcessingConfig())
    output = run_coffea(fileset, _DiesOnce(inner, marker, 200), "dask", chunksize=100, scheduler=dask_cluster)
    assert marker.exists()  # a worker did die in the middle of the run
    counts = {d: {k: v for k, v in c.items()} for d, c in output["counts"].items()}
    assert counts == clean.counts
    for name, h in clean.histograms.items():
        for d in fileset:
            assert np.array_equal(h[{"dataset": d}].view(flow=True),
                                  output["histograms"][name][{"dataset": d}].view(flow=True)), name
    a, b = read_tables(tmp_path / "clean" / "jets"), read_tables(tmp_path / "faulty" / "jets")
    assert len(a) == len(b) == 800
    for field in ("event", "msd", "tau21", "particles"):
        assert np.array_equal(np.asarray(a[field].to_numpy()), np.asarray(b[field].to_numpy())), field
    deadline = time.time() + 60  # leave the cluster as found: the nanny restarts the dead worker
    with Client(dask_cluster) as client:
        while len(client.scheduler_info()["workers"]) < 2 and time.time() < deadline:
            time.sleep(0.5)
