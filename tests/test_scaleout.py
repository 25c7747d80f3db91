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

from xaugcol.explain.options import ExplainOptions
from xaugcol.processing.coffea_runner import load_fileset

from xaugcol.coffea_runs import run_processing
from xaugcol.processing.table_io import read_tables
from xaugcol.sources.toy import run_toy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster_and_logs(tmp_path_factory):
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
        cwd = log / f"w{k}"  # each worker in a working directory of its own, as on a cluster node
        cwd.mkdir()
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                       "--no-dashboard", "--local-directory", str(cwd)], cwd=cwd,
                                      stdout=open(log / f"worker{k}.log", "w"), stderr=subprocess.STDOUT, env=env))
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:  # connecting retries until the scheduler is up
            client.wait_for_workers(2, timeout=60)
        yield address, log
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


@pytest.fixture(scope="module")
def dask_cluster(dask_cluster_and_logs):
    """The scheduler address of a real cluster: a scheduler and two worker processes on localhost."""
    return dask_cluster_and_logs[0]


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

    from xaugcol.coffea_runs import run_relevance
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
        remote = run_relevance(tmp_path / "proc", [tmp_path / "remote"], tmp_path / "rel_dask", ExplainOptions(rules=("epsilon",), faithfulness_steps=10, sanity_jets=50), executor="dask", chunksize=150, client=client)
    for seed in (0, 1):
        a = torch.load(tmp_path / "local" / f"seed_{seed}" / "model.pt", weights_only=True)
        b = torch.load(tmp_path / "remote" / f"seed_{seed}" / "model.pt", weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), seed
    local = run_relevance(tmp_path / "proc", [tmp_path / "remote"], tmp_path / "rel_local", ExplainOptions(rules=("epsilon",), faithfulness_steps=10, sanity_jets=50), chunksize=150)
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

    from xaugcol.processors.xaug_processor import XAUGProcessor
    from xaugcol.processing.jet_table import ProcessingConfig
    from xaugcol.processing.coffea_runner import Execution, run_coffea

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    run_toy(tmp_path / "gen", 400, seed=22)
    fileset = load_fileset(tmp_path / "gen" / "fileset.json")
    clean = run_processing(fileset, tmp_path / "clean", chunksize=100)
    labels = {name: entry["metadata"]["label"] for name, entry in fileset.items()}
    marker = tmp_path / "killed"
    inner = XAUGProcessor(str(tmp_path / "faulty" / "jets"), labels, ProcessingConfig())
    output = run_coffea(fileset, _DiesOnce(inner, marker, 200),
                        Execution("dask", chunksize=100, scheduler=dask_cluster))
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


def test_a_relative_out_is_the_callers_not_the_workers(dask_cluster_and_logs, tmp_path, monkeypatch):
    """The workers run in working directories of their own: a relative --out must still mean the caller's
    folder (before: the tables went under each worker's working directory)."""
    address, logs = dask_cluster_and_logs
    run_toy(tmp_path / "gen", 200, seed=23)
    fileset = load_fileset(tmp_path / "gen" / "fileset.json")
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    result = run_processing(fileset, "relative_out", executor="dask", scheduler=address, chunksize=100)
    tables = read_tables(tmp_path / "here" / "relative_out" / "jets")
    assert len(tables) == 400 == sum(c["jets_kept"] for c in result.counts.values())
    assert not list(logs.rglob("relative_out"))


def _start(args, log, cwd=None):
    return subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=cwd,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


class _AlwaysDies(ProcessorABC):
    """Kills its worker process at the chunk starting at ``entrystart`` of ``dataset``, every time."""

    def __init__(self, inner, dataset, entrystart):
        self.inner, self.dataset, self.entrystart = inner, dataset, entrystart

    def process(self, events):
        if (events.metadata["dataset"], events.metadata["entrystart"]) == (self.dataset, self.entrystart):
            os._exit(1)
        return self.inner.process(events)

    def postprocess(self, accumulator):
        return accumulator


def test_a_cluster_that_lost_every_worker_stops_the_run(tmp_path):
    """The only worker dies and nothing restarts it (no nanny): the run stops after --worker-timeout with a
    message saying so (before: it waited forever without a word), and the finished chunks stay checkpointed."""
    import cloudpickle

    from xaugcol.processors.xaug_processor import XAUGProcessor
    from xaugcol.processing.executors import ClusterError, Timeouts
    from xaugcol.processing.jet_table import ProcessingConfig
    from xaugcol.processing.coffea_runner import Execution, run_coffea

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [_start([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
                    tmp_path / "scheduler.log")]
    procs.append(_start([dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                         "--local-directory", str(tmp_path / "w")], tmp_path / "worker.log"))
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        run_toy(tmp_path / "gen", 400, seed=24)
        fileset = load_fileset(tmp_path / "gen" / "fileset.json")
        labels = {name: entry["metadata"]["label"] for name, entry in fileset.items()}
        inner = XAUGProcessor(str(tmp_path / "out" / "jets"), labels, ProcessingConfig())
        started = time.monotonic()
        with pytest.raises(ClusterError, match=f"no Dask worker was connected to {address} for 5 s"):
            run_coffea(fileset, _AlwaysDies(inner, "toy_signal", 300),
                       Execution("dask", chunksize=100, scheduler=address, timeouts=Timeouts(workers=5)),
                       checkpoints=tmp_path / "out" / "checkpoints")
        assert time.monotonic() - started < 120  # the 5 s grace, the polling and the start-up: not forever
        assert procs[1].wait(timeout=30) != 0  # the worker did die
        assert list((tmp_path / "out" / "checkpoints").rglob("*.npz"))  # what finished stays for a resume
    finally:
        for p in procs[::-1]:
            p.kill()
            p.wait()


def test_an_unreachable_scheduler_fails_fast_and_leaves_nothing(tmp_path, capsys):
    from xaugcol.cli import main

    run_toy(tmp_path / "gen", 50, seed=25)
    out = tmp_path / "out"
    args = ["process", str(tmp_path / "gen" / "fileset.json"), "--out", str(out)]
    started = time.monotonic()
    assert main([*args, "--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{_free_port()}",
                 "--connect-timeout", "2"]) == 1
    assert time.monotonic() - started < 60
    err = capsys.readouterr().err
    assert "no Dask scheduler answers at tcp://127.0.0.1:" in err and err.count("\n") == 1
    assert not (out / "checkpoints").exists()
    assert main(args) == 0  # a plain rerun is not blocked
