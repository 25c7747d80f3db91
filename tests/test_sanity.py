"""Model-parameter randomisation (Adebayo et al. 2018) on trained toy taggers: explanations must follow the weights."""

import numpy as np
import pytest
import torch

from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.sanity import _mean_spearman, cascading_randomisation, parametrised_layers
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.runner import load_fileset
from xaugcol.runs import run_processing
from xaugcol.sources.toy import run_toy
from xaugcol.training.data import JetTables, model_inputs
from xaugcol.training.study import tagger_name
from xaugcol.training.train import TrainConfig, train_ensemble


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("sanity")
    run_toy(out / "gen", 600, seed=7)
    run_processing(load_fileset(out / "gen" / "fileset.json"), out / "proc", chunksize=600)
    taggers = {}
    for config in (ModelConfig("dnn", xaug=True),
                   ModelConfig("cnn2d", architecture={"channels": [4, 4], "hidden": [16]})):
        folder = out / "taggers" / tagger_name(config)
        train_ensemble(str(out / "proc" / "jets"), config, TrainConfig(epochs=4, batch_size=64), [0], str(folder))
        ensemble = Ensemble.load(folder)
        rows = JetTables(out / "proc" / "jets", ensemble.spec).examples("test", JetTables(
            out / "proc" / "jets", ensemble.spec).columns, 40)
        _, model, scaler = ensemble.load_members()[0]
        inputs = model_inputs(rows, ensemble.spec, scaler.transform if scaler is not None else None)
        taggers[tagger_name(config)] = (model, [torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs])
    return taggers


@pytest.mark.parametrize("method", ["epsilon", "gradient_x_input"])
def test_explanations_change_as_the_layers_are_randomised(trained, method):
    for name, (model, inputs) in trained.items():
        before = {k: v.clone() for k, v in model.state_dict().items()}
        state = torch.random.get_rng_state()
        steps = cascading_randomisation(model, inputs, method, seed=1)
        layers = parametrised_layers(model)
        assert [s.layers[-1] for s in steps] == layers[::-1]  # output side first, one more layer each step
        assert len(layers) >= 3
        # the trained model and the caller's random stream are untouched
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert torch.equal(torch.random.get_rng_state(), state)
        rho, rho_abs = [s.spearman for s in steps], [s.spearman_abs for s in steps]
        assert all(r < 0.95 for r in rho + rho_abs), (name, method, rho, rho_abs)  # every step changes the map
        assert rho[-1] < 0.5 and rho_abs[-1] < 0.8, (name, method, rho, rho_abs)  # random weights: another map
        # same seed, same steps
        again = cascading_randomisation(model, inputs, method, seed=1)
        assert [s.spearman for s in again] == rho


def test_rank_correlation():
    a = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]])
    assert _mean_spearman(a, a) == pytest.approx(0.5)  # a constant row has no ranking: 0
    assert _mean_spearman(a[:1], a[:1] ** 3) == pytest.approx(1.0)  # ranks only
    assert _mean_spearman(a[:1], -a[:1]) == pytest.approx(-1.0)
    # over the entries that are present only: ties among absent ones do not count
    b = np.array([[0.0, 0.0, 0.0, 5.0, 1.0]])
    c = np.array([[0.0, 0.0, 0.0, 1.0, 5.0]])
    assert _mean_spearman(b, c) > 0.5 and _mean_spearman(b, c, b != 0) == pytest.approx(-1.0)
