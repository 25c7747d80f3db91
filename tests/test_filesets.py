"""coffea's fileset forms (plain lists, tree names, preprocessed files) and datasets without a label (real data):
processed and explained, refused by training."""

import json

import numpy as np
import pytest

from xaugcol.explain.options import ExplainOptions
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.coffea_runner import BadFileError, FilesetError, load_fileset
from xaugcol.processing.table_io import read_tables
from xaugcol.coffea_runs import run_processing, run_relevance
from xaugcol.sources.toy import run_toy
from xaugcol.training.train import TrainConfig, train_ensemble, train_member


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("forms")
    run_toy(out, 200, seed=31)
    return out


def _uuid(path) -> str:
    import uproot
    with uproot.open(path) as f:
        return str(f.file.uuid)


def _preprocessed(toy, uuid_of_signal=None, entries_of_signal=200) -> dict:
    """A fileset in the form coffea.dataset_tools.preprocess writes (coffea 2026.9, recorded from its output)."""
    out = {}
    for name, label in (("toy_signal", 1), ("toy_background", 0)):
        path = str(toy / f"{name}.root")
        out[name] = {"files": {path: {"object_path": "Events", "steps": [[0, 100], [100, 200]],
                                      "num_entries": entries_of_signal if label else 200, "format": "root",
                                      "lfn": None, "pfn": None,
                                      "uuid": (uuid_of_signal or _uuid(path)) if label else _uuid(path),
                                      "num_selected_entries": 200}},
                     "metadata": {"label": label}, "format": "root", "compressed_form": "H4sI", "did": None}
    return out


def test_every_coffea_fileset_form_processes_the_same(toy, tmp_path):
    plain = run_processing(load_fileset(toy / "fileset.json"), tmp_path / "plain", chunksize=150)
    forms = {
        "lists": {"toy_signal": [str(toy / "toy_signal.root")],  # coffea's shortest form: no label, real data
                  "toy_background": {"files": [str(toy / "toy_background.root")], "treename": "Events",
                                     "metadata": {"label": 0}}},
        "preprocessed": _preprocessed(toy),
    }
    for name, fileset in forms.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(fileset))
        result = run_processing(load_fileset(tmp_path / f"{name}.json"), tmp_path / name, chunksize=150)
        for dataset in ("toy_signal", "toy_background"):
            assert result.counts[dataset]["jets_kept"] == plain.counts[dataset]["jets_kept"] > 0, (name, dataset)
    labels = np.asarray(read_tables(tmp_path / "lists" / "jets").label.to_numpy())
    assert sorted(set(labels.tolist())) == [-1, 0]  # the dataset without a label: -1 in the tables


def test_a_tree_named_in_the_fileset_is_the_tree_processed(toy, tmp_path, monkeypatch):
    """``{path: tree}`` and ``treename``: the run reads the named tree (screening did already; coffea's Runner read
    ``Events`` whatever the fileset said)."""
    import xaugcol.sources.nanoaod as nanoaod

    monkeypatch.setattr(nanoaod, "TREE", "Jets")
    run_toy(tmp_path / "renamed", 200, seed=31)  # the module's toy events, under another tree name
    plain = run_processing(load_fileset(toy / "fileset.json"), tmp_path / "plain", chunksize=150)
    signal, background = (str(tmp_path / "renamed" / f"toy_{n}.root") for n in ("signal", "background"))
    (tmp_path / "named.json").write_text(json.dumps({
        "toy_signal": {"files": {signal: "Jets"}, "metadata": {"label": 1}},
        "toy_background": {"files": [background], "treename": "Jets", "metadata": {"label": 0}}}))
    result = run_processing(load_fileset(tmp_path / "named.json"), tmp_path / "named", chunksize=150)
    for dataset in ("toy_signal", "toy_background"):
        assert result.counts[dataset]["jets_kept"] == plain.counts[dataset]["jets_kept"] > 0, dataset


def test_a_preprocessed_file_that_changed_is_refused(toy, tmp_path):
    for bad, what in ((_preprocessed(toy, uuid_of_signal="00000000-0000-0000-0000-000000000000"), "uuid"),
                      (_preprocessed(toy, entries_of_signal=150), "entries")):
        (tmp_path / "f.json").write_text(json.dumps(bad))
        with pytest.raises(BadFileError, match=f"toy_signal.root: {what} is .* but the preprocessed fileset recorded"):
            run_processing(load_fileset(tmp_path / "f.json"), tmp_path / f"out_{what}")
    wrong = _preprocessed(toy)
    wrong["toy_signal"]["files"][str(toy / "toy_signal.root")]["format"] = "parquet"
    (tmp_path / "g.json").write_text(json.dumps(wrong))
    with pytest.raises(FilesetError, match="format 'parquet'"):
        load_fileset(tmp_path / "g.json")
    wrong["toy_signal"]["files"][str(toy / "toy_signal.root")] = {"object_path": "Events", "stepz": []}
    (tmp_path / "g.json").write_text(json.dumps(wrong))
    with pytest.raises(FilesetError, match=r"unknown key\(s\) \['stepz'\]"):
        load_fileset(tmp_path / "g.json")


def test_real_data_is_explained_and_refused_by_training(toy, tmp_path):
    """A dataset without 'label' (real data) next to labelled simulation: the tagger trains on the simulation,
    explains both; training on the data is refused, naming the table."""
    (tmp_path / "mc.json").write_text(json.dumps(
        {"toy_signal": {"files": [str(toy / "toy_signal.root")], "metadata": {"label": 1}},
         "toy_background": {"files": [str(toy / "toy_background.root")], "metadata": {"label": 0}}}))
    run_processing(load_fileset(tmp_path / "mc.json"), tmp_path / "mc", chunksize=200)
    dnn = ModelConfig("dnn", xaug=True, architecture={"hidden": [8]})
    train_ensemble(str(tmp_path / "mc" / "jets"), dnn, TrainConfig(epochs=1, batch_size=64), [0],
                   str(tmp_path / "dnn"))
    run_toy(tmp_path / "data_gen", 200, seed=77)
    (tmp_path / "data.json").write_text(json.dumps({"run2024": [str(tmp_path / "data_gen" / "toy_signal.root")]}))
    run_processing(load_fileset(tmp_path / "data.json"), tmp_path / "data", chunksize=200)
    with pytest.raises(ValueError, match=r"jet table .*parquet: \d+ jet\(s\) without a label"):
        train_member(str(tmp_path / "data" / "jets"), dnn, TrainConfig(epochs=1), 0, str(tmp_path / "m"))
    result = run_relevance(tmp_path / "data", [tmp_path / "dnn"], tmp_path / "rel", ExplainOptions(rules=("epsilon",), split="all", faithfulness_steps=10, sanity_jets=50))
    n = len(read_tables(tmp_path / "data" / "jets"))
    assert sum(c["jets_selected"] for c in result.counts["dnn"].values()) == n > 0
    classes = result.summary["dnn"]["epsilon"]["classes"]
    assert classes["signal"]["msd"]["mean"] is None and classes["data"]["msd"]["mean"] > 0
    assert classes["data"]["msd"]["mean"] == classes["all"]["msd"]["mean"]
    from xaugcol.explain.relevance_file import read_relevance_histograms
    back = read_relevance_histograms(tmp_path / "rel")
    jets = back["jets/dnn"][{"rule": "epsilon"}]
    assert jets.values()[0, list(jets.axes["label"]).index(-1)] == n
