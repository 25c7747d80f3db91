"""Taggers, training, ensembles, model folders: real (small) trainings on toy jet tables."""

import json
import pickle
import re

import awkward as ak
import numpy as np
import pytest
import torch
import yaml

from xaugcol.cli import main
from xaugcol.models.folder import ModelFileError, load_model
from xaugcol.models.registry import MODELS, ModelConfig, build_model, trainable_models
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.processing.table_io import read_tables
from helpers import processed_folder_of
from xaugcol.sources.toy import run_toy
from xaugcol.features.kinds import ImageInput, XAUGInput
from xaugcol.training.data import SPLITS, DataSpec, JetTables, split_index
from xaugcol.training.study import Study
from xaugcol.training.train import TrainConfig, train_ensemble, train_member

FAST = TrainConfig(epochs=2, batch_size=128)


@pytest.fixture(scope="module")
def jets(tmp_path_factory):
    """Jet tables of 1500 toy jets per class."""
    out = tmp_path_factory.mktemp("toy")
    run_toy(out / "gen", 1500, seed=4)
    run_processing(load_fileset(out / "gen" / "fileset.json"), out / "proc")
    return out / "proc" / "jets"


@pytest.mark.parametrize("name", sorted(trainable_models()))
@pytest.mark.parametrize("xaug", [False, True])
def test_every_tagger_builds_and_runs(name, xaug):
    if name == "dnn" and not xaug:
        with pytest.raises(ValueError, match="needs xaug = true"):
            ModelConfig(name, xaug=False)
        return
    cfg = ModelConfig(name, xaug=xaug, shapes={"image": [37, 37], "particles": [50, 17], "tracks": [12, 30],
                                               "vertices": [3, 14]})
    model = build_model(cfg).eval()
    shapes = {"image": (5, 1, 37, 37), "particles": (5, 50, 17), "tracks": (5, 12, 30), "vertices": (5, 3, 14),
              "calo": (5, 2, 32, 32), "cells": (5, 64, 5), "xaug": (5, len(cfg.xaug_columns))}
    inputs = [torch.rand(shapes[n]) for n in cfg.inputs()]
    assert model(*inputs).shape == (5,)
    assert model.inputs() == cfg.inputs()
    # the XAUG vector really enters the decision when (and only when) it is joined
    changed = [torch.rand(shapes[n]) if n == "xaug" else t for n, t in zip(cfg.inputs(), inputs)]
    assert torch.equal(model(*inputs), model(*changed)) == ("xaug" not in cfg.inputs())


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="unknown model 'gnn'"):
        ModelConfig("gnn")
    with pytest.raises(ValueError, match="unknown option.*'kernels'"):
        ModelConfig("cnn2d", architecture={"kernels": [3]})
    with pytest.raises(ValueError, match="unknown field.*'epoch'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="taggers\\[1\\].*unknown model 'bdt'"):
        Study.from_dict({"data": ".", "out": "o", "taggers": [{"model": "dnn", "xaug": True}, {"model": "bdt"}]})


def test_split_is_deterministic_and_disjoint(jets):
    t = read_tables(jets, columns=["run", "luminosityBlock", "event"])
    idx = split_index(ak.to_numpy(t.run), ak.to_numpy(t.luminosityBlock), ak.to_numpy(t.event))
    np.testing.assert_array_equal(idx, split_index(ak.to_numpy(t.run), ak.to_numpy(t.luminosityBlock),
                                                   ak.to_numpy(t.event)))
    fractions = {name: np.isin(idx, digits).mean() for name, digits in SPLITS.items()}
    assert abs(fractions["train"] - 0.6) < 0.04 and abs(fractions["test"] - 0.2) < 0.03
    assert sum(fractions.values()) == pytest.approx(1.0)


def test_lazy_batches_see_every_training_jet_once_and_mix_classes(jets):
    tables = JetTables(jets, DataSpec((ImageInput(), XAUGInput(("msd", "tau21")))))
    n_train = len(tables.scan("train", ["label"])["label"])
    seen, mixed = 0, 0
    for batch in tables.batches("train", 100, seed=1, buffer_jets=500):
        seen += len(batch["label"])
        mixed += 0 < batch["label"].mean() < 1
        assert batch["image"].shape[1:] == (1, 37, 37) and batch["xaug"].shape[1] == 2
    assert seen == n_train and mixed >= seen // 100 - 1
    # the same seed gives the same order, another seed another
    first = [b["label"] for b in tables.batches("train", 100, seed=1, buffer_jets=500)]
    again = [b["label"] for b in tables.batches("train", 100, seed=1, buffer_jets=500)]
    other = [b["label"] for b in tables.batches("train", 100, seed=2, buffer_jets=500)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_same_seed_same_weights(jets, tmp_path):
    cfg = ModelConfig("cnn1d", xaug=True)
    train_member(str(jets), cfg, FAST, 7, str(tmp_path / "a"))
    train_member(str(jets), cfg, FAST, 7, str(tmp_path / "b"))
    train_member(str(jets), cfg, FAST, 8, str(tmp_path / "c"))
    a, b, c = (torch.load(tmp_path / k / "model.pt", weights_only=True) for k in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_model_folder_round_trip_and_onnx(jets, tmp_path):
    metrics = train_member(str(jets), ModelConfig("lstm", xaug=True), FAST, 0, str(tmp_path / "m"))
    for name in ("config.yaml", "model.pt", "scaler.json", "metrics.json", "model.onnx"):
        assert (tmp_path / "m" / name).exists()
    assert metrics["onnx_max_abs_diff"] < 1e-4
    assert 0.5 < metrics["auc"] <= 1 and 0 <= metrics["sig_eff_at_bkg_0.01"] <= metrics["sig_eff_at_bkg_0.1"] <= 1
    model, cfg, scalers = load_model(tmp_path / "m")
    tables = JetTables(jets, DataSpec.of(cfg))
    batch = next(tables.batches("test", 64, scalers=scalers))
    x = [torch.from_numpy(batch[n]) for n in cfg.inputs()]
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "m" / "model.onnx"))
    got = session.run(None, {n: t.numpy() for n, t in zip(cfg.inputs(), x)})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(*x).numpy(), rtol=1e-4, atol=1e-5)
    # the folder records its architecture and input scaling; its scaler.json holds one scaler per scaled kind
    written = yaml.safe_load((tmp_path / "m" / "config.yaml").read_text())
    assert written["model"]["architecture"] == {"mask_padding": True, "biases": False} and model.masked
    assert written["model"]["input_scaling"] == {"particles": "standard", "xaug": "standard"}
    assert scalers.kinds() == ("particles", "xaug")
    assert not any(n.endswith("bias") for n, _ in model.head[:-1].named_parameters()) and model.body.bias is False
    raw = next(tables.batches("test", 64))["particles"]
    assert np.array_equal((batch["particles"] != 0).any(-1), (raw != 0).any(-1))  # padding stays padding


def test_folders_written_before_read_as_their_architecture(jets, tmp_path):
    """A tagger folder written before the architecture options and input scaling were recorded (no
    ``mask_padding``, ``biases``, ``input_scaling`` in config.yaml; scaler.json one XAUG scaler) is read as what it
    was: padding unmasked, biases everywhere, XAUG min-max, particles unscaled; its predictions are unchanged."""
    legacy = ModelConfig("lstm", xaug=True, architecture={"mask_padding": False, "biases": True},
                         input_scaling={"particles": "none", "xaug": "minmax"})
    train_member(str(jets), legacy, FAST, 0, str(tmp_path / "old"))
    model, cfg, scalers = load_model(tmp_path / "old")
    tables = JetTables(jets, DataSpec.of(cfg))
    x = [torch.from_numpy(v) for v in (lambda b: [b[n] for n in cfg.inputs()])(
        next(tables.batches("test", 64, scalers=scalers)))]
    written = yaml.safe_load((tmp_path / "old" / "config.yaml").read_text())
    written["model"]["architecture"] = {}
    del written["model"]["input_scaling"]
    (tmp_path / "old" / "config.yaml").write_text(yaml.safe_dump(written))
    scaler_file = tmp_path / "old" / "scaler.json"
    scaler_file.write_text(json.dumps(json.loads(scaler_file.read_text())["scalers"]["xaug"]))
    old, old_cfg, old_scalers = load_model(tmp_path / "old")
    assert old_cfg.architecture == {"mask_padding": False, "biases": True} and not old.masked
    assert old_cfg.input_scaling == {"particles": "none", "xaug": "minmax"} and old_scalers.kinds() == ("xaug",)
    y = [torch.from_numpy(v) for v in (lambda b: [b[n] for n in old_cfg.inputs()])(
        next(tables.batches("test", 64, scalers=old_scalers)))]
    assert all(torch.equal(a, b) for a, b in zip(x, y))
    with torch.no_grad():
        assert torch.equal(old(*y), model(*x))
    # the new defaults cannot read these weights: the loader says which file does not fit
    written["model"]["architecture"] = {"mask_padding": False, "biases": False}
    (tmp_path / "old" / "config.yaml").write_text(yaml.safe_dump(written))
    with pytest.raises(ModelFileError, match="model.pt: weights do not fit"):
        load_model(tmp_path / "old")


@pytest.mark.parametrize("model", ["lstm"])
def test_the_supported_dynamo_onnx_exporter_writes_the_same_tagger(model, tmp_path, monkeypatch):
    """The default exporter is torch's deprecated TorchScript one (30x faster here); the supported dynamo one gives
    the same predictions, on batches of any size, for the recurrent tagger (the hardest to export; the CNNs were
    checked by hand: ``-k dynamo`` with "cnn2d" added)."""
    from xaugcol.models.folder import EXPORTER_ENV, export_onnx
    from xaugcol.models.registry import build_model
    import onnxruntime

    cfg = ModelConfig(model, xaug=True)
    tagger = build_model(cfg).eval()
    shapes = {"cnn2d": (1, 37, 37), "lstm": (50, 17)}
    torch.manual_seed(0)
    example = (torch.randn(8, *shapes[model]), torch.randn(8, len(cfg.xaug_columns)))
    monkeypatch.setenv(EXPORTER_ENV, "dynamo")
    assert export_onnx(tmp_path, tagger, example, cfg.inputs()) < 1e-5
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    other = tuple(torch.randn(3, *t.shape[1:]) for t in example)
    got = session.run(None, {n: t.numpy() for n, t in zip(cfg.inputs(), other)})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, tagger(*other).numpy(), rtol=1e-4, atol=1e-5)
    monkeypatch.setenv(EXPORTER_ENV, "onnx-magic")
    with pytest.raises(ValueError, match="XAUGCOL_ONNX_EXPORTER='onnx-magic'"):
        export_onnx(tmp_path, tagger, example, cfg.inputs())


def test_training_shows_its_progress_unless_quiet(jets, tmp_path, capsys, monkeypatch):
    from xaugcol.console import ENV

    train_member(str(jets), ModelConfig("dnn", xaug=True), TrainConfig(epochs=2, batch_size=128), 4,
                 str(tmp_path / "m"), progress=True)
    shown = capsys.readouterr().out
    # tagger, seed, epoch N of M, batches done of their total, train and validation loss, elapsed and remaining
    assert "dnn seed 4 epoch 2/2" in shown and "batches" in shown and "val " in shown and "loss " in shown
    done, total = re.search(r"(\d+)/(\d+) batches", shown).groups()
    assert done == total and int(total) > 2
    monkeypatch.setenv(ENV, "0")  # xaugcol -q
    train_member(str(jets), ModelConfig("dnn", xaug=True), TrainConfig(epochs=1, batch_size=128), 4,
                 str(tmp_path / "q"), progress=True)
    assert capsys.readouterr().out == ""


class _Payload:
    def __reduce__(self):
        import os

        return (os.mkdir, ("/tmp/xaugcol-payload-ran",))


def test_pickled_code_payload_is_refused(jets, tmp_path):
    train_member(str(jets), ModelConfig("dnn", xaug=True), TrainConfig(epochs=1), 0, str(tmp_path / "m"))
    state = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    state["evil"] = _Payload()
    torch.save(state, tmp_path / "m" / "model.pt")
    with pytest.raises(ModelFileError, match="model.pt: refused"):
        load_model(tmp_path / "m")
    import os

    assert not os.path.exists("/tmp/xaugcol-payload-ran")
    with pytest.raises(pickle.UnpicklingError):  # torch itself, without our wrapper, also refuses
        torch.load(tmp_path / "m" / "model.pt", weights_only=True)


def test_missing_xaug_columns_and_nan_inputs_are_named(jets, tmp_path):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['not_a_column'\]"):
        train_member(str(jets), ModelConfig("dnn", xaug=True, xaug_columns=("msd", "not_a_column")), FAST, 0,
                     str(tmp_path / "m"))
    table = read_tables(jets)
    cols = {f: ak.to_numpy(table[f]) for f in table.fields}
    cols["msd"] = cols["msd"].copy()
    cols["msd"][3] = np.nan
    processed_folder_of(tmp_path / "bad", cols)
    with pytest.raises(ValueError, match="chunk.parquet: column 'msd' has 1 NaN"):
        train_member(str(tmp_path / "bad"), ModelConfig("dnn", xaug=True, xaug_columns=("msd", "tau21")), FAST, 0,
                     str(tmp_path / "m2"))


def test_toy_xaug_dnn_reaches_the_image_cnn(jets, tmp_path):
    """Agarwal, Rappoccio et al.'s (arXiv:2011.13466) claim on the toy, at a small size: XAUG variables capture what the image CNN learns.
    The members train two at a time (one thread each: the same members as one after the other with one thread)."""
    cfg = TrainConfig(epochs=10, batch_size=128, patience=3, processes=2, threads=1)
    auc = {}
    for name, model in (("dnn", ModelConfig("dnn", xaug=True)), ("cnn2d", ModelConfig("cnn2d")),
                        ("cnn2d_xaug", ModelConfig("cnn2d", xaug=True))):
        s = train_ensemble(str(jets), model, cfg, [0, 1, 2], str(tmp_path / name))["summary"]["auc"]
        auc[name] = (s["mean"], s["std"])
        assert len(s["values"]) == 3 and s["std"] > 0
    assert auc["dnn"][0] > 0.9 and auc["cnn2d"][0] > 0.85
    # the XAUG-only DNN reaches the CNN's AUC within twice the CNN ensemble's spread
    assert auc["dnn"][0] >= auc["cnn2d"][0] - 2 * auc["cnn2d"][1]
    # adding XAUG to the CNN does not lower its AUC beyond the spread
    assert auc["cnn2d_xaug"][0] >= auc["cnn2d"][0] - (auc["cnn2d"][1] + auc["cnn2d_xaug"][1])
    summary = json.loads((tmp_path / "dnn" / "metrics.json").read_text())
    assert summary["members"] == ["seed_0", "seed_1", "seed_2"]


def test_cli_train(jets, tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train", "--data", str(jets), "--model", "cnn1d", "--xaug", "--seeds", "2", "--epochs", "1",
                 "--out", str(out)]) == 0
    assert (out / "cnn1d_xaug" / "seed_1" / "model.onnx").exists()
    assert "AUC" in capsys.readouterr().out
    (tmp_path / "study.yaml").write_text(f"data: {jets}\nout: {tmp_path / 's'}\ntaggers: [{{model: dnn}}]\n")
    assert main(["train", "--config", str(tmp_path / "study.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs xaug = true" in err and "\n" not in err
    assert main(["train", "--data", str(jets), "--model", "dnn"]) == 2
    assert "--out" in capsys.readouterr().err


def test_matched_signal_keeps_only_contained_signal_jets(jets, tmp_path):
    table = read_tables(jets)
    cols = {f: ak.to_numpy(table[f]) for f in table.fields}
    cols["gen_boson_contained"] = cols["event"] % 3 == 0
    processed_folder_of(tmp_path / "t", cols)
    spec = DataSpec((XAUGInput(("msd",)),), matched_signal=True)
    seen = JetTables(tmp_path / "t", spec).scan("train", ["label", "gen_boson_contained"])
    assert np.all(seen["gen_boson_contained"][seen["label"] == 1])
    assert len(JetTables(tmp_path / "t", spec).scan("train", ["weight"])["weight"]) == len(seen["label"])
    windowed = JetTables(tmp_path / "t", DataSpec((XAUGInput(("msd",)),), msd_window=True)).scan("train", ["msd"])
    assert np.all((windowed["msd"] > 50) & (windowed["msd"] < 150))
    everything = JetTables(tmp_path / "t", DataSpec((XAUGInput(("msd",)),))).scan("train", ["label"])
    assert np.sum(seen["label"] == 0) == np.sum(everything["label"] == 0) > 0
    assert 0 < np.sum(seen["label"] == 1) < 0.5 * np.sum(everything["label"] == 1)
    with pytest.raises(ValueError, match="gen_boson_contained"):
        JetTables(jets, spec)  # toy tables carry no boson truth: named


def test_pt_range_matched_spectra_and_test_predictions(jets, tmp_path):
    """A pT range selects every split; matched spectra reweight the background with factors fitted on the
    training split and recorded in config.yaml; the member keeps every test jet's prediction, from which its
    metrics follow exactly; the ensemble explains with the same selection."""
    from xaugcol.explain.ensemble import Ensemble
    from xaugcol.models.folder import load_test_predictions
    from xaugcol.training.metrics import performance
    from xaugcol.training.pt_spectrum import PtWeights

    config = TrainConfig(epochs=1, batch_size=128, pt_range=(320, 600), match_pt=True)
    metrics = train_member(str(jets), ModelConfig("dnn", xaug=True), config, 0, str(tmp_path / "m"))
    written = yaml.safe_load((tmp_path / "m" / "config.yaml").read_text())
    weights = PtWeights.from_dict(written["pt_weights"], "config.yaml")
    assert weights.edges[0] == 320 and weights.edges[-1] == 600 and written["training"]["pt_range"] == [320, 600]
    p = load_test_predictions(tmp_path / "m")
    assert len(p["score"]) == metrics["n_jets"] and ((p["pt"] >= 320) & (p["pt"] < 600)).all()
    assert performance(p["label"], p["score"], p["weight"])["auc"] == pytest.approx(metrics["auc"], abs=1e-12)
    # background weights carry the factor of their pT bin (the table's weights are 1 here), signal ones do not
    factor = weights.factors(p["pt"], p["label"])
    np.testing.assert_allclose(p["weight"], factor, rtol=1e-12)
    assert not np.allclose(factor[p["label"] == 0], 1.0)
    ensemble = Ensemble.load(tmp_path / "m")
    assert ensemble.spec.pt_range == (320.0, 600.0) and ensemble.spec.pt_weights == weights
    with pytest.raises(ValueError, match="pt_range"):
        TrainConfig(pt_range=(600, 320))
