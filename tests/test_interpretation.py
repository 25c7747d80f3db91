"""Roy and Neubauer's (ICHEP 2022) interpretation methods as library functions: feature occlusion (dAUC, dAUPRC, multi-feature masking)
and neuron-activation patterns, on taggers whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from xaugcol.explain import activations, occlusion
from xaugcol.features.kinds.image import ImageInput
from xaugcol.features.kinds.tracks import TracksInput
from xaugcol.features.kinds.vertices import VerticesInput
from xaugcol.features.kinds.xaug import XAUGInput
from xaugcol.models.interaction import InteractionNetwork
from xaugcol.models.taggers import XAUGDNN

COLUMNS = ("msd", "tau21", "n2")


def _one_variable_tagger():
    """A linear XAUG tagger that reads msd alone (the other weights exactly zero) and jets where msd separates."""
    model = XAUGDNN(n_xaug=3, hidden=[]).eval()
    with torch.no_grad():
        model.head[0].weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))
        model.head[0].bias.zero_()
    gen = torch.Generator().manual_seed(3)
    labels = (torch.rand(4000, generator=gen) < 0.3).long()
    x = torch.randn(4000, 3, generator=gen) + labels[:, None] * torch.tensor([1.2, 0.8, 0.5])
    return model, (XAUGInput(COLUMNS),), (x,), labels.numpy()


def _table(model, kinds, inputs, labels, members=(0,)):
    half = len(labels) // 2  # two chunks: records concatenate
    records = [occlusion.record(m, labels[part], occlusion.occlusion_logits(
        model, kinds, tuple(x[part] for x in inputs)), kinds) for m in members
        for part in (slice(0, half), slice(half, None))]
    return occlusion.table(records, kinds)


def test_occluding_an_unread_feature_costs_nothing_and_the_only_read_one_everything():
    model, kinds, inputs, labels = _one_variable_tagger()
    table = _table(model, kinds, inputs, labels, members=(0, 1))
    rows = {r["feature"]: r for r in table["features"]}
    assert [r["feature"] for r in table["features"]][0] == "msd"
    assert rows["tau21"]["dauc"]["mean"] == 0.0 and rows["n2"]["dauc"]["mean"] == 0.0  # identical logits
    assert rows["tau21"]["dauprc"]["mean"] == 0.0
    logit = model(inputs[0]).detach().numpy()
    assert table["auc"]["mean"] == pytest.approx(roc_auc_score(labels, logit), abs=1e-12)
    assert table["auprc"]["mean"] == pytest.approx(average_precision_score(labels, logit), abs=1e-12)
    # masked msd: every logit 0, AUC exactly 0.5 and precision the signal fraction at every recall
    assert rows["msd"]["dauc"]["mean"] == pytest.approx((table["auc"]["mean"] - 0.5) * 100, abs=1e-9)
    assert rows["msd"]["dauprc"]["mean"] == pytest.approx((table["auprc"]["mean"] - labels.mean()) * 100, abs=1e-9)
    assert rows["msd"]["kind"] == "xaug" and table["jets"] == len(labels)
    assert rows["msd"]["dauc"]["std"] == 0.0 and len(rows["msd"]["dauc"]["per_member"]) == 2


def test_occlusion_groups_of_each_kind():
    """An object feature is masked in every slot and nothing else; the image blocks tile the image once."""
    tracks = TracksInput(6)
    x = torch.randn(4, 6, len(tracks.FEATURES))
    (masked,) = occlusion.occluded((tracks,), (x,), {"track:dz"})
    k = tracks.FEATURES.index("dz")
    assert float(masked[..., k].abs().max()) == 0.0
    torch.testing.assert_close(masked[..., np.arange(x.shape[-1]) != k], x[..., np.arange(x.shape[-1]) != k])
    image = ImageInput(37)
    masks = np.stack([image.occlusion_mask([g]) for g in image.occlusion_groups()])
    assert masks.shape == (9, 1, 37, 37) and (masks.sum(axis=0) == 1).all()
    assert masks[4, 0, 18, 18]  # the centre block holds the leading prong
    with pytest.raises(ValueError, match="no occlusion group"):
        tracks.occlusion_mask(["track:nonsense"])
    with pytest.raises(ValueError, match="not unique"):
        occlusion.groups_of((tracks, TracksInput(6)))


def test_activation_patterns_follow_their_definition():
    """RNA per neuron against a direct computation of the hidden layer; a neuron that never fires has RNA 0."""
    torch.manual_seed(2)
    model = XAUGDNN(n_xaug=3, hidden=[5]).eval()
    with torch.no_grad():
        model.head[0].weight[4] = -1e3 * torch.ones(3)  # never fires on these inputs
    x = torch.rand(500, 3) + 0.1
    labels = (torch.arange(500) % 3 == 0).long().numpy()
    recorder = activations.ActivationRecorder(model)
    with recorder:
        model(x)
    recorded = recorder.per_jet()
    assert list(recorded) == ["head.1"]
    hists = activations.histograms("t", recorded, (0, 1))
    activations.fill(hists, "t", 7, labels, recorded)
    layer = activations.patterns(hists, "t")["layers"]["head.1"]
    hidden = torch.relu(model.head[0](x)).detach().numpy()
    for name, c in (("signal", 1), ("background", 0)):
        summed = hidden[labels == c].sum(axis=0)
        np.testing.assert_allclose(layer["classes"][name]["rna"], summed / summed.max(), rtol=1e-6)
        fired = (hidden[labels == c] > 0).sum(axis=0)
        np.testing.assert_allclose(layer["classes"][name]["rna_unweighted"], fired / fired.max(), rtol=1e-12)
    assert layer["classes"]["signal"]["rna"][4] == 0.0 and layer["neurons"] == 5
    rna = np.array([layer["classes"][n]["rna"] for n in ("signal", "background")])
    expected_quiet = (rna < 0.2).all(axis=0).mean()  # quiet in both classes
    assert layer["sparsity"] == pytest.approx(expected_quiet)


def test_interaction_network_activations_ignore_padding():
    """The same jets with more padded slots give the same activation sums at every layer: pairs with a padded
    track or vertex do not fire (without the masks, pair (real i, padded j) would fire with W_r x_i)."""
    torch.manual_seed(6)
    model = InteractionNetwork(n_tracks=5, n_track_features=30, n_vertices=2, n_vertex_features=14).eval()
    tracks = torch.randn(3, 5, 30) * (torch.arange(5) < torch.tensor([[5], [3], [1]])).unsqueeze(-1)
    vertices = torch.randn(3, 2, 14) * (torch.arange(2) < torch.tensor([[2], [1], [0]])).unsqueeze(-1)
    sums = []
    for extra_t, extra_v in ((0, 0), (4, 3)):
        t = torch.cat([tracks, torch.zeros(3, extra_t, 30)], dim=1)
        v = torch.cat([vertices, torch.zeros(3, extra_v, 14)], dim=1)
        recorder = activations.ActivationRecorder(model)
        with recorder:
            model(t, v)
        sums.append(recorder.per_jet())
    assert len(sums[0]) == 9  # three layers in each of f_R, f_V and f_O
    for site in sums[0]:
        np.testing.assert_allclose(sums[1][site][0], sums[0][site][0], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(sums[1][site][1], sums[0][site][1])
    assert sums[0]["activations.track_vertex.0"][1][2].sum() == 0  # no vertex: no track-vertex pair fires


def test_masking_thresholds_drop_nested_sets(tmp_path):
    """Multi-feature masking on a trained XAUG DNN: the sets of dropped features grow with the threshold, the
    AUC with nothing masked is each member's exact AUC, and masking every feature leaves AUC 0.5."""
    from xaugcol.explain.ensemble import Ensemble
    from xaugcol.models.registry import ModelConfig
    from xaugcol.coffea_runs import run_processing
    from xaugcol.processing.coffea_runner import load_fileset
    from xaugcol.sources.toy import run_toy
    from xaugcol.training.data import JetTables, model_inputs
    from xaugcol.training.train import TrainConfig, train_ensemble

    run_toy(tmp_path / "gen", 300, seed=2)
    run_processing(load_fileset(tmp_path / "gen" / "fileset.json"), tmp_path / "proc", chunksize=300)
    config = ModelConfig("dnn", xaug=True, architecture={"hidden": [16]})
    train_ensemble(str(tmp_path / "proc" / "jets"), config, TrainConfig(epochs=2, batch_size=64), [0, 1],
                   str(tmp_path / "dnn"))
    ensemble = Ensemble.load(tmp_path / "dnn")
    kinds = ensemble.spec.kinds
    names = occlusion.groups_of(kinds)
    fake = {"features": [{"feature": f, "kind": "xaug", "dauc": {"mean": 10.0 ** (k - 4)}}
                         for k, f in enumerate(names)]}  # 1e-4, 1e-3, 1e-2, ... : a known ranking
    rows = occlusion.masking_thresholds(ensemble, tmp_path / "proc" / "jets", "test", fake,
                                        thresholds=(1e-3, 1e-1, 1e30))
    assert [r["dropped"]["xaug"] for r in rows] == [1, 3, len(names)]
    assert rows[0]["features"] == names[:1] and rows[1]["features"] == names[:3]
    assert rows[2]["auc"]["mean"] == pytest.approx(0.5)
    tables = JetTables(tmp_path / "proc" / "jets", ensemble.spec)
    block = tables.scan("test", tables.columns)
    exact = []
    for _, model, scalers in ensemble.load_members():
        with torch.no_grad():
            logits = model(torch.from_numpy(model_inputs(block, ensemble.spec, scalers)["xaug"])).numpy()
        exact.append(roc_auc_score(block["label"], logits))
    assert rows[0]["auc_none_masked"]["mean"] == pytest.approx(np.mean(exact), abs=1e-12)
    assert VerticesInput(5).occlusion_groups()[0] == "sv:ptrel"


def test_a_constant_input_the_tagger_leans_on_is_flagged_as_bias_like():
    """Roy and Neubauer's (ICHEP 2022) warning case by construction: a linear tagger with a large weight on an input that is (nearly)
    the same for every jet. LRP hands that input a large share (it acts as a bias), occluding it shifts every
    logit alike (no AUC lost), and its distribution is the same in both classes: flagged. The informative input
    is not (occlusion costs AUC), nor is an uninformative input the tagger ignores (LRP ranks it last)."""
    import hist

    from xaugcol.explain.agreement import bias_like, class_distance
    from xaugcol.explain.lrp import LRP

    gen = torch.Generator().manual_seed(9)
    labels = (torch.rand(3000, generator=gen) < 0.4).long()
    x = torch.stack([torch.randn(3000, generator=gen) + 1.5 * labels,  # informative
                     1.0 + 0.001 * torch.randn(3000, generator=gen),  # the same in both classes, leaned on
                     torch.randn(3000, generator=gen)], dim=1)  # the same in both classes, ignored
    model = XAUGDNN(n_xaug=3, hidden=[]).eval()
    with torch.no_grad():
        model.head[0].weight.copy_(torch.tensor([[1.0, 3.0, 0.01]]))
        model.head[0].bias.fill_(-3.0)
    kinds, labels_np = (XAUGInput(COLUMNS),), labels.numpy()
    relevance = LRP(model, "epsilon")(x).relevance[0].detach().numpy()
    normalised = np.abs(relevance) / np.abs(relevance).max(axis=1, keepdims=True)
    summary = {"classes": {name: {f: {"mean": float(normalised[labels_np == c, k].mean())}
                                  for k, f in enumerate(COLUMNS)} for name, c in (("signal", 1), ("background", 0))}}
    table = _table(model, kinds, (x,), labels_np)
    hists = {}
    for k, f in enumerate(COLUMNS):
        h = hist.Hist(hist.axis.StrCategory(["epsilon"], name="rule"), hist.axis.IntCategory([0, 1], name="label"),
                      hist.axis.Regular(40, -4, 6, name=f), hist.axis.Regular(41, -1.025, 1.025, name="relevance"))
        h.fill(rule="epsilon", label=labels_np, **{f: x[:, k].numpy(), "relevance": relevance[:, k] * 0})
        hists[f"profile/t/{f}"] = h
    assert class_distance(hists, "t", "msd") > 0.4 and class_distance(hists, "t", "n2") < 0.1
    flagged = bias_like(summary, table, hists, "t")
    assert [f["feature"] for f in flagged] == ["tau21"]
    assert flagged[0]["dauc"] < 0.01 and flagged[0]["relevance_rank"] == 1
    assert bias_like(summary, table, hists, "t", max_distance=0.0) == []  # each condition is needed
    assert bias_like(summary, table, hists, "t", max_dauc=-1.0) == []


def test_preloading_masking_and_the_comparison_with_the_baseline(tmp_path):
    """A retraining preloaded from the baseline at a vanishing learning rate is the baseline (fidelity 1, the
    baseline's validation AUC after its first epoch); a masked feature never reaches the tagger; from scratch the
    retrained tagger differs from the baseline (fidelity below 1)."""
    from xaugcol.explain.ensemble import Ensemble
    from xaugcol.models.registry import ModelConfig
    from xaugcol.processing.coffea_runner import load_fileset
    from xaugcol.coffea_runs import run_processing
    from xaugcol.sources.toy import run_toy
    from xaugcol.training.data import JetTables, model_inputs
    from xaugcol.training.pruning import reach, retrain
    from xaugcol.training.train import TrainConfig, train_ensemble

    run_toy(tmp_path / "gen", 300, seed=5)
    run_processing(load_fileset(tmp_path / "gen" / "fileset.json"), tmp_path / "proc", chunksize=300)
    jets = tmp_path / "proc" / "jets"
    base = ModelConfig("dnn", xaug=True, architecture={"hidden": [16]})
    training = TrainConfig(epochs=3, batch_size=64)
    train_ensemble(str(jets), base, training, [0, 1], str(tmp_path / "base"))
    frozen = TrainConfig(epochs=1, batch_size=64, learning_rate=1e-12)
    same = retrain(jets, base, tmp_path / "base", frozen, [0, 1], tmp_path / "same", preload=True)
    assert same["fidelity"]["mean"] > 1 - 1e-6 and same["reached_baseline"] == 2
    assert same["epochs_to_baseline"]["mean"] == 1.0 and same["parameters"] == 16 * 16 + 16 + 1
    scratch = retrain(jets, base, tmp_path / "base", frozen, [0, 1], tmp_path / "scratch")
    assert scratch["fidelity"]["mean"] < 0.99 and not scratch["preloaded"]
    masked = retrain(jets, base, tmp_path / "base", training, [0], tmp_path / "masked", masked=["msd", "tau21"],
                     preload=True)
    assert masked["masked"] == ["msd", "tau21"]
    ensemble = Ensemble.load(tmp_path / "masked")
    assert ensemble.config.masked == ("msd", "tau21")
    tables = JetTables(jets, ensemble.spec)
    rows = tables.scan("test", tables.columns)
    (_, model, scalers), = ensemble.load_members()
    x = model_inputs(rows, ensemble.spec, scalers)["xaug"]
    assert float(np.abs(x[:, [0, 5]]).max()) == 0.0 and float(np.abs(x[:, 1]).max()) > 0  # msd, tau21 zero
    with pytest.raises(ValueError, match=r"masked: \['tau99'\] not among"):
        ModelConfig("dnn", xaug=True, masked=("tau99",))
    history = [{"epoch": 0, "val_auc": 0.7, "train_seconds": 2.0}, {"epoch": 1, "val_auc": 0.8, "train_seconds": 3.0}]
    assert reach(history, 0.75) == (2, 5.0) and reach(history, 0.9) == (None, None)


def test_the_baseline_auc_is_weighted_as_its_training_history(tmp_path):
    """A baseline trained with its background reweighted to the signal's pT (match_pt): the validation AUC the
    retrainings must reach is the one training recorded, weighted the same way (before, it was unweighted)."""
    import json

    from xaugcol.coffea_runs import run_processing
    from xaugcol.models.registry import ModelConfig
    from xaugcol.processing.coffea_runner import load_fileset
    from xaugcol.sources.toy import run_toy
    from xaugcol.training.pruning import baseline_validation_auc
    from xaugcol.training.train import TrainConfig, train_ensemble

    run_toy(tmp_path / "gen", 300, seed=6)
    run_processing(load_fileset(tmp_path / "gen" / "fileset.json"), tmp_path / "proc", chunksize=300)
    jets = tmp_path / "proc" / "jets"
    train_ensemble(str(jets), ModelConfig("dnn", xaug=True, architecture={"hidden": [8]}),
                   TrainConfig(epochs=1, batch_size=64, match_pt=True), [0], str(tmp_path / "base"))
    history = json.loads((tmp_path / "base" / "seed_0" / "metrics.json").read_text())["history"]
    assert baseline_validation_auc(tmp_path / "base", jets)[0] == pytest.approx(history[-1]["val_auc"], abs=1e-6)
