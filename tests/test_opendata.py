"""The CMS open-data H->bb ntuples (``xaugcol.processing.opendata_table``) on a file the test writes in their layout:
tree ``deepntuplizer/tree``, one entry per jet, per-track and per-SV vectors, integer truth labels.

One difference from the real files, which uproot cannot write: there the vectors are ``std::vector<float>``
branches without a count leaf; here they are ``float[]`` leaves counted by ``n_tracks`` / ``n_sv`` (the reader
relies on neither, it checks each vector's length against those counts)."""

import json
import uuid

import awkward as ak
import numpy as np
import pytest

from xaugcol.explain.options import ExplainOptions
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.opendata_table import SV_BRANCHES, TRACK_BRANCHES, TREE
from xaugcol.processing.coffea_runner import FilesetError, load_fileset
from xaugcol.processing.table_io import read_tables
from xaugcol.coffea_runs import run_processing, run_relevance
from xaugcol.training.train import TrainConfig, train_ensemble

# the classes of the producer's labels: H -> b bbar, QCD, top, H not to b bbar
CLASSES = {"hbb": {"fj_isH": 1, "label_H_bb": 1}, "qcd": {"sample_isQCD": 1, "fj_isQCD": 1},
           "top": {"fj_isTop": 1}, "h_other": {"fj_isH": 1}}
LABEL_BRANCHES = ("fj_isH", "label_H_bb", "sample_isQCD", "fj_isQCD", "fj_isTop")


def _file_contents(n_jets: int, seed: int, bad_track_dz: bool = False, poison: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    kinds = np.array(list(CLASSES))[np.arange(n_jets) % len(CLASSES)]
    n_tracks = rng.integers(0, 80, n_jets).astype(np.int32)  # some above the 60 the table keeps
    n_sv = rng.integers(0, 8, n_jets).astype(np.int32)  # some above 5
    n_tracks[:2], n_sv[:2] = 75, 7
    f32 = np.float32
    scalars = {"event_no": rng.integers(0, 2**31, n_jets).astype(np.uint32),
               "fj_pt": rng.uniform(300, 900, n_jets).astype(f32), "fj_eta": rng.uniform(-2.4, 2.4, n_jets).astype(f32),
               "fj_phi": rng.uniform(-3, 3, n_jets).astype(f32), "fj_mass": rng.uniform(30, 200, n_jets).astype(f32),
               "fj_sdmass": rng.uniform(20, 180, n_jets).astype(f32),
               **{f"fj_tau{k}": rng.uniform(0.01, 0.5, n_jets).astype(f32) for k in (1, 2, 3)},
               "fj_tau21": np.full(n_jets, 1.01, dtype=f32), "fj_n_sdsubjets": rng.integers(1, 3, n_jets).astype(f32),
               **{f"fj_sdsj{k}_{v}": rng.uniform(0.1, 2, n_jets).astype(f32) for k in (1, 2)
                  for v in ("pt", "eta", "phi")},
               "npv": rng.uniform(5, 40, n_jets).astype(f32), "rho": rng.uniform(5, 30, n_jets).astype(f32),
               "nsv": n_sv.astype(f32), "ntracks": n_tracks.astype(f32)}
    for branch in LABEL_BRANCHES:
        scalars[branch] = np.array([CLASSES[k].get(branch, 0) for k in kinds], dtype=np.int32)

    def jagged(counts, low=-1.0, high=1.0):
        return ak.unflatten(rng.uniform(low, high, int(counts.sum())).astype(f32), counts)

    tracks = {branch: jagged(n_tracks) for branch in TRACK_BRANCHES.values()}
    tracks["track_drminsv"] = jagged(n_tracks, -0.8, 0.0)
    svs = {branch: jagged(n_sv) for branch in SV_BRANCHES.values()}
    svs["sv_deltaR"] = jagged(n_sv, -0.5, 0.0)
    if poison:  # NaN in a track of jet 0 (H -> b bbar), inf in the softdrop mass of jet 1 (QCD)
        flat = ak.to_numpy(ak.flatten(tracks["track_dxy"])).copy()
        flat[0] = np.nan
        tracks["track_dxy"] = ak.unflatten(flat, n_tracks)
        scalars["fj_sdmass"][1] = np.inf
    records = {"tracks": tracks, "svs": svs}
    if bad_track_dz:  # one vector of other lengths than its objects'
        records["bad"] = {"track_dz": jagged(np.maximum(n_tracks - 1, 0))}
        del tracks["track_dz"]
    return {**scalars, **{name: ak.zip(fields) for name, fields in records.items()}}, kinds


def write_opendata(path, n_jets: int, seed: int, bad_track_dz: bool = False, poison: bool = False):
    import uproot

    data, kinds = _file_contents(n_jets, seed, bad_track_dz, poison)
    counters = {"tracks": "n_tracks", "svs": "n_sv", "bad": "n_bad"}
    with uproot.recreate(path) as f:
        tree = f.mktree(TREE, {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()},
                        counter_name=lambda record: counters[record], field_name=lambda record, name: name)
        tree.extend(data)
    return data, kinds


def _fileset(tmp_path, path, label="truth"):
    (tmp_path / "fileset.json").write_text(json.dumps({"hbb_opendata": {"files": {str(path): TREE},
                                                                        "metadata": {"label": label}}}))
    return load_fileset(tmp_path / "fileset.json")


@pytest.fixture(scope="module")
def opendata(tmp_path_factory):
    folder = tmp_path_factory.mktemp("opendata")
    data, kinds = write_opendata(folder / "ntuple_merged_0.root", 240, seed=5)
    result = run_processing(_fileset(folder, folder / "ntuple_merged_0.root"), folder / "processed", chunksize=100)
    return folder, data, kinds, result


def test_the_ntuples_are_read_value_for_value(opendata):
    import uproot

    folder, data, kinds, result = opendata
    counts = result.counts["hbb_opendata"]
    keep = np.isin(kinds, ("hbb", "qcd"))
    assert counts["jets_seen"] == 240 and counts["jets_kept"] == keep.sum() == 120
    assert counts["skipped_other_truth"] == 120  # top and H not to b bbar: left out, counted
    assert {"n2", "d2", "tau4", "particles", "image"} <= set(result.unavailable["hbb_opendata"])
    t = read_tables(folder / "processed" / "jets")
    order = np.argsort(ak.to_numpy(t.luminosityBlock))
    t = t[order]
    entries = np.nonzero(keep)[0]
    np.testing.assert_array_equal(ak.to_numpy(t.luminosityBlock), entries)
    np.testing.assert_array_equal(ak.to_numpy(t.label), (kinds[entries] == "hbb").astype(int))
    with uproot.open(folder / "ntuple_merged_0.root") as f:
        run = uuid.UUID(str(f.file.uuid)).int >> 65
    assert np.all(ak.to_numpy(t.run) == run) and np.all(ak.to_numpy(t.fatjet_index) == 0)
    np.testing.assert_array_equal(ak.to_numpy(t.event), data["event_no"][entries].astype(np.int64))
    np.testing.assert_allclose(ak.to_numpy(t.pt), data["fj_pt"][entries], rtol=1e-6)
    np.testing.assert_allclose(ak.to_numpy(t.msd), data["fj_sdmass"][entries], rtol=1e-6)
    # tau21 recomputed (the file's 1.01 is the producer's placeholder)
    np.testing.assert_allclose(ak.to_numpy(t.tau21), (data["fj_tau2"] / data["fj_tau1"])[entries], rtol=1e-5)
    assert np.all(np.isnan(ak.to_numpy(t.n2)))

    tracks, mask = ak.to_numpy(t.tracks), ak.to_numpy(t.tracks_mask)
    assert tracks.shape == (120, 60, 30)
    n = data["tracks"]["track_ptrel"][entries]
    np.testing.assert_array_equal(mask.sum(1), np.minimum(ak.to_numpy(ak.num(n)), 60))
    np.testing.assert_array_equal(ak.to_numpy(t.n_tracks), ak.to_numpy(ak.num(n)))
    sign = np.where(data["fj_eta"][entries] < 0, -1.0, 1.0)
    for k, (feature, branch) in enumerate(TRACK_BRANCHES.items()):
        expected = ak.to_numpy(ak.fill_none(ak.pad_none(data["tracks"][branch][entries], 60, clip=True), 0))
        expected = expected * (sign[:, None] if feature == "etarel" else 1) + (0.8 if feature == "drminsv" else 0)
        np.testing.assert_allclose(tracks[:, :, k][mask], expected[mask], rtol=1e-6, atol=1e-7, err_msg=branch)
        assert np.all(tracks[:, :, k][~mask] == 0)  # padding is exactly 0
    vertices, vmask = ak.to_numpy(t.vertices), ak.to_numpy(t.vertices_mask)
    assert vertices.shape == (120, 5, 14) and vmask.sum(1).max() == 5
    for k, (feature, branch) in enumerate(SV_BRANCHES.items()):
        expected = ak.to_numpy(ak.fill_none(ak.pad_none(data["svs"][branch][entries], 5, clip=True), 0))
        expected = expected * (sign[:, None] if feature == "etarel" else 1) + (0.5 if feature == "deltaR" else 0)
        np.testing.assert_allclose(vertices[:, :, k][vmask], expected[vmask], rtol=1e-6, atol=1e-7, err_msg=branch)


def test_the_interaction_network_trains_and_is_explained_on_them(opendata, tmp_path):
    folder, _, _, _ = opendata
    model = ModelConfig("in", shapes={"tracks": [60, 30], "vertices": [5, 14]})
    train_ensemble(str(folder / "processed" / "jets"), model, TrainConfig(epochs=1, batch_size=32), [0],
                   str(tmp_path / "in"))
    result = run_relevance(folder / "processed", [tmp_path / "in"], tmp_path / "rel", ExplainOptions(rules=("epsilon",), split="all", faithfulness_steps=10, sanity_jets=50))
    assert result is not None and any((tmp_path / "rel").iterdir())


def test_one_class_per_dataset_and_bad_labels(tmp_path):
    write_opendata(tmp_path / "a.root", 40, seed=2)
    result = run_processing(_fileset(tmp_path, tmp_path / "a.root", label=1), tmp_path / "signal", chunksize=100)
    assert result.counts["hbb_opendata"]["jets_kept"] == 10  # the H -> b bbar jets only
    labels = ak.to_numpy(read_tables(tmp_path / "signal" / "jets").label)
    assert set(labels.tolist()) == {1}
    (tmp_path / "bad.json").write_text(json.dumps({"d": {"files": [str(tmp_path / "a.root")],
                                                         "metadata": {"label": "Truth"}}}))
    with pytest.raises(FilesetError, match="'truth'"):
        load_fileset(tmp_path / "bad.json")


def test_a_vector_of_other_objects_is_refused_naming_its_branch(tmp_path):
    write_opendata(tmp_path / "bad.root", 30, seed=3, bad_track_dz=True)
    with pytest.raises(Exception, match="bad.root.*'track_dz'.*'n_tracks'"):
        run_processing(_fileset(tmp_path, tmp_path / "bad.root"), tmp_path / "out", chunksize=100)
    assert not (tmp_path / "out" / "jets").exists() or not any((tmp_path / "out" / "jets").rglob("*.parquet"))


def test_jets_with_nan_or_inf_are_skipped_and_counted(tmp_path):
    write_opendata(tmp_path / "p.root", 40, seed=4, poison=True)
    result = run_processing(_fileset(tmp_path, tmp_path / "p.root"), tmp_path / "out", chunksize=100)
    counts = result.counts["hbb_opendata"]
    assert counts["skipped_nonfinite_input"] == 2 and counts["jets_kept"] == 18
    t = read_tables(tmp_path / "out" / "jets")
    assert not {0, 1} & set(ak.to_numpy(t.luminosityBlock).tolist())
    assert np.all(np.isfinite(ak.to_numpy(t.tracks)))


def test_truth_labels_need_the_open_data_layout(tmp_path):
    from xaugcol.sources.toy import run_toy

    run_toy(tmp_path / "toy", 50, seed=1)
    (tmp_path / "f.json").write_text(json.dumps({"toy": {"files": [str(tmp_path / "toy" / "toy_signal.root")],
                                                         "metadata": {"label": "truth"}}}))
    with pytest.raises(Exception, match="only the CMS open-data H->bb ntuples"):
        run_processing(load_fileset(tmp_path / "f.json"), tmp_path / "out", chunksize=100)


def test_the_shipped_open_data_study_runs_on_a_file_in_their_layout(tmp_path):
    """configs/hbb_opendata.yaml as shipped but for its fileset (a file the test writes) and its sizes: the IN with
    and without XAUG, the XAUG DNN, LRP-gamma, occlusion, activation patterns and the IN's retrainings."""
    import yaml

    from xaugcol.workflow.config import Workflow
    from xaugcol.workflow.run_workflow import run_workflow

    repo = __import__("pathlib").Path(__file__).resolve().parents[1]
    study = yaml.safe_load((repo / "configs" / "hbb_opendata.yaml").read_text())
    write_opendata(tmp_path / "ntuple_merged_10.root", 400, seed=9)
    (tmp_path / "fileset.json").write_text(json.dumps({"hbb_qcd_opendata": {
        "files": {"ntuple_merged_10.root": TREE}, "metadata": {"label": "truth"}}}))
    study["source"]["fileset"] = "fileset.json"
    study["seeds"] = 1
    study["training"].update(epochs=1, batch_size=32)
    study["processing"].update(chunksize=200, executor="iterative", workers=1)
    study["explain"].update(chunksize=200, executor="iterative", workers=1, sanity_jets=4, faithfulness_steps=2)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    out = tmp_path / "out"
    run_workflow(Workflow.load(tmp_path / "study.yaml"), out, progress=False)
    report = json.loads((out / "processed" / "report.json").read_text())
    assert report["labels"] == {"hbb_qcd_opendata": "truth"}
    assert report["counts"]["hbb_qcd_opendata"]["jets_kept"] == 200
    relevance = json.loads((out / "relevance" / "relevance.json").read_text())
    assert len(relevance["taggers"]) == 3
    assert (out / "index.html").exists()
