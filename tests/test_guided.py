"""The guided search of a black box in the space of EFPs: in a toy study from generation to the report table,
each step's choice against the pair-by-pair count, its AUC against training's own, and the GBDT variant."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from xaugcol.cli import main
from xaugcol.explain.ensemble import Ensemble
from xaugcol.training.data import select_jets
from xaugcol.workflow.config import Workflow

STUDY = {"name": "guided toy", "source": {"kind": "toy", "events": 600, "seed": 3},
         "processing": {"chunksize": 600, "efp": {"degree": 3, "kappas": [1, 2], "betas": [0.5, 1]}},
         "seeds": 2, "training": {"epochs": 2, "batch_size": 64},
         "taggers": [{"model": "cnn1d", "xaug": False}],
         "explain": {"rules": ["gradient_x_input"], "examples": 0, "faithfulness_steps": 0, "sanity_jets": 0,
                     "occlusion_fraction": 0, "activations": False},
         # the toy's pT carries nothing: the search has to find what the black box uses
         "mapping": {"black_box": "cnn1d", "steps": 2, "base": ["pt"]}}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guided")
    (folder / "study.yaml").write_text(yaml.safe_dump(STUDY))
    assert main(["study", "--config", str(folder / "study.yaml"), "--out", str(folder / "out")]) == 0
    return folder / "out"


def _pairs_ado(e_s, e_b, t_s, t_b, h_s, h_b):
    s = lambda a, b: np.sign(a[:, None] - b[None, :])  # noqa: E731
    w = (1 - s(h_s, h_b) * s(t_s, t_b)) / 2
    value = (w * (1 + s(e_s, e_b) * s(t_s, t_b)) / 2).sum() / w.sum()
    return max(value, 1 - value)


@pytest.fixture(scope="module")
def particlenet_study(tmp_path_factory):
    """The same study with ParticleNet (Qu and Gouskos, arXiv:1902.08570) as the black box (issue 41, part 4)."""
    folder = tmp_path_factory.mktemp("guided_pn")
    study = {**STUDY, "taggers": [{"model": "particlenet", "xaug": False,
                                   "architecture": {"neighbours": 4, "blocks": [[16, 16]], "fusion": 32}}],
             "mapping": {**STUDY["mapping"], "black_box": "particlenet"}}
    (folder / "study.yaml").write_text(yaml.safe_dump(study))
    assert main(["study", "--config", str(folder / "study.yaml"), "--out", str(folder / "out")]) == 0
    return folder / "out"


def test_guided_search_adds_the_efp_the_black_box_orders_by(study):
    _check_guided_search(study, "cnn1d")


def test_guided_search_maps_a_particlenet_unchanged(particlenet_study):
    """Decision ordering needs only the black box's scores: a graph network is mapped as any tagger."""
    _check_guided_search(particlenet_study, "particlenet")


def _check_guided_search(study, black_box_name):
    from xaugcol.mapping.scores import split_jets
    from xaugcol.training.data import JetTables

    result = json.loads((study / "mapping" / "guided.json").read_text())
    rows = result["rows"]
    bb = result["black_box"]["auc"]
    assert rows[0]["added"] is None and rows[0]["columns"] == ["pt"] and rows[0]["auc"]["mean"] < 0.6
    assert len(rows) == 3 or (len(rows) == 2 and result["stopped"].startswith("the AUC reached"))
    assert rows[1]["added"].startswith("efp_") and len({r["added"] for r in rows[1:]}) == len(rows) - 1
    assert rows[1]["auc"]["mean"] > rows[0]["auc"]["mean"] + 0.2  # the chosen EFP carries the separation
    assert rows[1]["ado_black_box"] > rows[0]["ado_black_box"]
    last = rows[-1]
    assert result["stopped"] == ("the AUC reached the black box's within its ensemble spread"
                                 if last["auc"]["mean"] >= bb["mean"] - bb["std"] else "after 2 additions")
    # the choice of step 1, by the definition: every candidate's ADO with the black box on the validation pairs
    # the base model orders differently, counted pair by pair
    jets = study / "processed" / "jets"
    black_box, base = Ensemble.load(study / "taggers" / black_box_name), Ensemble.load(study / "mapping" / "step_0")
    t = split_jets(JetTables(jets, black_box.spec), "val", [], black_box.load_members())
    h = split_jets(JetTables(jets, base.spec), "val", [], base.load_members())
    assert np.array_equal(t.keys, h.keys)
    files = sorted(jets.rglob("*.parquet"))
    candidates = Workflow.from_dict(STUDY).processing.efp.columns()
    table = {c: np.concatenate([pq.read_table(f).column(c).to_numpy() for f in files])
             for c in ["run", "luminosityBlock", "event", "fatjet_index", "label", *candidates]}
    val = select_jets(table, base.spec, "val")
    datasets = np.concatenate([np.full(pq.ParquetFile(f).metadata.num_rows, f.parent.name) for f in files])[val]
    order = np.lexsort((table["fatjet_index"][val], table["event"][val], table["luminosityBlock"][val],
                        table["run"][val], datasets))
    datasets = datasets[order]
    assert np.array_equal(datasets, t.keys["dataset"]) and np.array_equal(table["event"][val][order], t.keys["event"])
    sig = t.label == 1
    ados = {c: _pairs_ado(table[c][val][order][sig], table[c][val][order][~sig], t.values["score"][sig],
                          t.values["score"][~sig], h.values["score"][sig], h.values["score"][~sig])
            for c in candidates}
    best = max(ados.values())
    assert ados[rows[1]["added"]] == pytest.approx(best, abs=1e-12)
    for entry in rows[0]["next_candidates"]:
        assert entry["ado"] == pytest.approx(ados[entry["column"]], abs=1e-12)
    # the AUC of a step is the test AUC training measured for each member
    members = json.loads((study / "mapping" / "step_1" / "metrics.json").read_text())["summary"]["auc"]["values"]
    np.testing.assert_allclose(rows[1]["auc"]["values"], members, atol=1e-6)


def test_report_shows_the_table_with_the_graphs(study):
    html = (study / "index.html").read_text()
    assert "Mapping onto energy-flow polynomials" in html and "black box: cnn1d" in html
    graph = json.loads((study / "mapping" / "guided.json").read_text())["rows"][1]["graph"]
    assert f"figures/efp_graph_{graph}.png" in html and (study / "figures" / f"efp_graph_{graph}.png").is_file()
    assert (study / "figures" / "guided_search.png").stat().st_size > 20_000


def test_gbdt_high_level_model_is_scored_with_its_log_odds(study, tmp_path):
    from xaugcol.mapping.guided import GuidedSearch, run_guided_search
    from xaugcol.training.train import TrainConfig

    candidates = Workflow.from_dict(STUDY).processing.efp.columns()
    search = GuidedSearch(study / "processed" / "jets", study / "taggers" / "cnn1d", ("pt",), tuple(candidates),
                          TrainConfig(epochs=1), (0, 1), steps=1, high_level="gbdt")
    result = run_guided_search(search, tmp_path / "gbdt")
    rows = result["rows"]
    assert rows[1]["auc"]["mean"] > rows[0]["auc"]["mean"] + 0.2 and len(rows[1]["auc"]["values"]) == 2
    assert json.loads((tmp_path / "gbdt" / "step_1" / "gbdt.json").read_text())["columns"] == ["pt",
                                                                                                 rows[1]["added"]]


def test_search_stops_when_every_candidate_is_chosen_and_refuses_another_selection(study, tmp_path):
    from xaugcol.mapping.guided import GuidedSearch, run_guided_search
    from xaugcol.training.train import TrainConfig

    one = (Workflow.from_dict(STUDY).processing.efp.columns()[0],)
    search = GuidedSearch(study / "processed" / "jets", study / "taggers" / "cnn1d", ("pt",), one,
                          TrainConfig(epochs=1), (0,), steps=3, high_level="gbdt")
    result = run_guided_search(search, tmp_path / "one")
    if not result["stopped"].startswith("the AUC reached"):
        assert result["stopped"] == "every candidate was chosen" and len(result["rows"]) == 2
    assert result["rows"][1]["added"] == one[0]
    # a black box trained without the mSD window or the pT matching is not compared with a search that has them
    for training, match in ((TrainConfig(msd_window=True), "msd_window: False against True"),
                            (TrainConfig(match_pt=True), "match_pt: False against True")):
        other = GuidedSearch(study / "processed" / "jets", study / "taggers" / "cnn1d", ("pt",), one, training,
                             (0,), steps=1, high_level="gbdt")
        with pytest.raises(ValueError, match=match):
            run_guided_search(other, tmp_path / "other")
        assert not (tmp_path / "other" / "guided.json").exists()


def test_mapping_section_is_validated():
    base = {k: v for k, v in STUDY.items() if k != "mapping"}
    for mapping, processing, match in (
            ({"black_box": "lstm"}, STUDY["processing"], "black_box 'lstm' is not among the taggers"),
            ({"black_box": "cnn1d"}, {"chunksize": 600}, "give processing an 'efp' section"),
            ({"black_box": "cnn1d", "high_level": "bdt"}, STUDY["processing"], "must be one of dnn, gbdt"),
            ({"black_box": "cnn1d", "architecture": {"width": 3}}, STUDY["processing"], "unknown option"),
            ({"black_box": "cnn1d", "base": []}, STUDY["processing"], "base must list distinct columns"),
            ({"black_box": "cnn1d", "base": ["pt", "efp_n2_d1_k0_kappa1_beta1"]}, STUDY["processing"],
             r"base columns \['efp_n2_d1_k0_kappa1_beta1'\] are also candidate EFPs"),
            ({"black_box": "cnn1d", "steps": 0}, STUDY["processing"], "mapping: steps must be a positive integer"),
            ({"black_box": "cnn1d", "bogus": 1}, STUDY["processing"], r"mapping: unknown field\(s\) \['bogus'\]"),
            ({"black_box": "cnn1d"}, {"efp": {"degree": 3, "betas": [-1]}}, "betas must be > 0")):
        with pytest.raises(ValueError, match=match):
            Workflow.from_dict({**base, "processing": processing, "mapping": mapping})
