"""Ensemble members trained side by side in processes (xaugcol.training.member_pool): the same members bit for bit
as trained one after the other with the same threads, their bars drawn by the parent, their errors raised there."""

from __future__ import annotations

import multiprocessing

import pytest
import torch

from xaugcol.console import progress_bar, relay_progress_to, set_verbosity, show_relayed
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.sources.toy import run_toy
from xaugcol.training.member_pool import member_pool
from xaugcol.training.train import DivergedError, TrainConfig, train_ensemble


@pytest.fixture(scope="module")
def jets(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    run_toy(out / "gen", 400, seed=8)
    run_processing(load_fileset(out / "gen" / "fileset.json"), out / "proc")
    return out / "proc" / "jets"


def _weights(folder, seed):
    return torch.load(folder / f"seed_{seed}" / "model.pt", weights_only=True)


@pytest.mark.parametrize("model", [ModelConfig("cnn2d", xaug=True), ModelConfig("dnn", xaug=True)],
                         ids=["cnn2d", "dnn"])
def test_members_in_processes_equal_members_trained_one_after_the_other(jets, tmp_path, model):
    one_by_one = train_ensemble(str(jets), model, TrainConfig(epochs=2, batch_size=64, threads=1), [0, 1, 2],
                                str(tmp_path / "sequential"))
    side_by_side = train_ensemble(str(jets), model, TrainConfig(epochs=2, batch_size=64, threads=1, processes=2),
                                  [0, 1, 2], str(tmp_path / "parallel"))
    pool = member_pool(2, 1)  # the run's pool: its two processes trained the members
    assert member_pool.cache_info().hits >= 1 and len(pool.executor._processes) == 2
    for seed in (0, 1, 2):
        a, b = _weights(tmp_path / "sequential", seed), _weights(tmp_path / "parallel", seed)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), f"seed {seed}: the weights differ"
    assert one_by_one["summary"]["auc"]["values"] == side_by_side["summary"]["auc"]["values"]
    # three different members, not one thrice: their weights differ (their AUCs on 80 test jets may tie)
    first = [_weights(tmp_path / "parallel", seed) for seed in (0, 1, 2)]
    name = next(k for k in first[0] if k.endswith("weight"))
    assert not any(torch.equal(first[i][name], first[j][name]) for i, j in ((0, 1), (0, 2), (1, 2)))


def test_a_members_error_reaches_the_caller_and_leaves_no_ensemble(jets, tmp_path):
    config = TrainConfig(epochs=2, batch_size=64, learning_rate=1e30, processes=2, threads=1)
    with pytest.raises(DivergedError, match="diverged"):
        train_ensemble(str(jets), ModelConfig("dnn", xaug=True), config, [0, 1], str(tmp_path / "bad"))
    assert not list((tmp_path / "bad").glob("seed_*"))


def _relaying_member(queue, name):
    set_verbosity(1)
    relay_progress_to(queue)
    with progress_bar("batches") as bars:
        task = bars.add_task(f"{name} epoch 1/1", total=4, status="")
        for _ in range(4):
            bars.update(task, advance=1, status="loss 0.5")


def test_bars_of_member_processes_are_drawn_by_the_parent(capsys):
    set_verbosity(1)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    with show_relayed(queue, "batches"):
        children = [context.Process(target=_relaying_member, args=(queue, f"member {k}")) for k in range(2)]
        for child in children:
            child.start()
        for child in children:
            child.join()
            assert child.exitcode == 0
    shown = capsys.readouterr().out
    assert "member 0 epoch 1/1" in shown and "member 1 epoch 1/1" in shown
    assert shown.count("4/4") == 2  # each member's own line, complete
