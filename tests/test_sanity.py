"""Can the explanations be trusted? On trained toy taggers: model-parameter randomisation (Adebayo et al. 2018):
explanations must follow the weights; input perturbation: removing what they call relevant must hurt the tagger
more than removing at random."""

import numpy as np
import pytest
import torch

from xaugcol.explain import faithfulness
from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.methods import method_spec
from xaugcol.explain.sanity import _mean_spearman, cascading_randomisation, parametrised_layers
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.sources.toy import run_toy
from xaugcol.training.data import JetTables, model_inputs
from xaugcol.training.study import tagger_name
from xaugcol.training.train import TrainConfig, train_ensemble


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Per tagger: (model, inputs of 40 test jets per class, every test jet's rows, data spec, scalers)."""
    out = tmp_path_factory.mktemp("sanity")
    run_toy(out / "gen", 600, seed=7)
    run_processing(load_fileset(out / "gen" / "fileset.json"), out / "proc", chunksize=600)
    taggers = {}
    for config in (ModelConfig("dnn", xaug=True),
                   ModelConfig("cnn2d", architecture={"channels": [4, 4], "hidden": [16]}),
                   ModelConfig("cnn1d", xaug=True, architecture={"channels": [8, 8], "hidden": [16]})):
        folder = out / "taggers" / tagger_name(config)
        train_ensemble(str(out / "proc" / "jets"), config, TrainConfig(epochs=4, batch_size=64), [0], str(folder))
        ensemble = Ensemble.load(folder)
        tables = JetTables(out / "proc" / "jets", ensemble.spec)
        extra = [c for kind in ensemble.spec.kinds for c in kind.extra_columns()]
        rows = tables.examples("test", list(dict.fromkeys(tables.columns + extra + ["event", "fatjet_index"])), 10**6)
        _, model, scalers = ensemble.load_members()[0]
        first = np.concatenate([np.nonzero(rows["label"] == c)[0][:40] for c in (0, 1)])
        inputs = model_inputs({k: v[first] for k, v in rows.items()}, ensemble.spec,
                              scalers)
        taggers[tagger_name(config)] = (model, [torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs], rows,
                                        ensemble.spec, scalers)
    return taggers


@pytest.mark.parametrize("method", ["epsilon", "gradient_x_input"])
def test_explanations_change_as_the_layers_are_randomised(trained, method):
    for name, (model, inputs, *_) in trained.items():
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


def _auc(scores, labels):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(labels, scores)


@pytest.mark.parametrize("method", ["epsilon", "gradient_x_input"])
def test_removing_relevant_inputs_first_hurts_the_tagger_most(trained, method):
    """Input-perturbation curves on every test jet. All orders start from the tagger as it is and end at the same,
    fully removed jets. Removing the most relevant units first lowers the decision margin more than removing as
    many at random, and the least relevant first less: for the image CNN along the whole curve (its AUC falls
    faster too); for the XAUG DNN and the particle CNN, whose inputs are redundant (correlated XAUG variables,
    particles that carry the same jet), at the first step, where the top-ranked unit goes."""
    for name, (model, _, rows, spec, scalers) in trained.items():
        kinds = spec.kinds
        inputs = model_inputs(rows, spec, scalers)
        tensors = tuple(torch.from_numpy(inputs[k.name]) for k in kinds)
        attribution = method_spec(method).attributor(model)(*tensors)
        baselines = [k.removal_baseline(scalers.get(k.name)) for k in kinds]
        keys = faithfulness.jet_keys(rows)
        logits = faithfulness.removal_logits(model, kinds, tensors, attribution.relevance, attribution.output,
                                             baselines, keys, steps=5)
        labels = rows["label"]
        with torch.no_grad():
            np.testing.assert_allclose(logits["relevance"][0], model(*tensors).double().numpy(), rtol=1e-6)
        for o in faithfulness.ORDERS:
            np.testing.assert_array_equal(logits[o][0], logits["relevance"][0])
            np.testing.assert_allclose(logits[o][-1], logits["relevance"][-1], rtol=1e-6, atol=1e-6)
        decision = np.sign(logits["relevance"][0])
        margin = {o: (logits[o] * decision).mean(axis=1) for o in faithfulness.ORDERS}
        auc = {o: np.array([_auc(v, labels) for v in logits[o]]) for o in faithfulness.ORDERS}
        assert auc["relevance"][0] > 0.75, name  # a tagger worth explaining
        assert margin["relevance"][1] < 0.9 * margin["random"][1], (name, method, margin)
        assert margin["reverse"][1] > margin["relevance"][1], (name, method, margin)
        if name == "cnn2d":
            middle = slice(1, -1)
            assert (margin["relevance"][middle] < margin["random"][middle]).all(), (method, margin)
            assert (margin["reverse"][middle] > margin["random"][middle]).all(), (method, margin)
            assert (auc["relevance"][middle] < auc["random"][middle]).all(), (method, auc)
        # the random order is the jets' own (their keys), not their place in the batch
        again = faithfulness.removal_logits(model, kinds, tuple(t.flip(0) for t in tensors),
                                            tuple(r.flip(0) for r in attribution.relevance),
                                            attribution.output.flip(0), baselines, keys[::-1].copy(), steps=5)
        np.testing.assert_allclose(again["random"][:, ::-1], logits["random"], rtol=1e-5, atol=1e-6)
