"""The relevance processor against a direct LRP computation on the same jets, executor equality, the ROOT file."""

import hist
import numpy as np
import pytest
import torch
import uproot

from xaugcol.explain.options import ExplainOptions
from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.histograms import quantise
from xaugcol.explain.lrp import LRP
from xaugcol.explain.explain_tables import RELEVANCE_ROOT
from xaugcol.coffea_runs import run_relevance
from xaugcol.explain.statistics import feature_names, normalise_per_jet, normalised_feature_relevance
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.processing.table_io import read_tables
from xaugcol.sources.toy import run_toy
from xaugcol.training.data import SPLITS, model_inputs, split_index
from xaugcol.training.train import TrainConfig, train_ensemble

RULES = ("epsilon", "alpha1beta0")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """300 toy jets per class in chunks of 150 events; a 2-member cnn2d+XAUG ensemble and a 1-member LSTM."""
    out = tmp_path_factory.mktemp("relevance")
    run_toy(out / "gen", 300, seed=8)
    fileset = load_fileset(out / "gen" / "fileset.json")
    run_processing(fileset, out / "proc", chunksize=150)
    training = TrainConfig(epochs=1, batch_size=64)
    cnn = ModelConfig("cnn2d", xaug=True, architecture={"channels": [4, 4], "hidden": [16]})
    lstm = ModelConfig("lstm", xaug=False, architecture={"hidden_size": 8, "hidden": [8]})
    train_ensemble(str(out / "proc" / "jets"), cnn, training, [0, 1], str(out / "cnn2d_xaug"))
    train_ensemble(str(out / "proc" / "jets"), lstm, training, [3], str(out / "lstm"))
    taggers = [out / "cnn2d_xaug", out / "lstm"]
    result = run_relevance(out / "proc", taggers, out / "rel_iterative", ExplainOptions(rules=RULES, occlusion_fraction=1.0, activations=True, faithfulness_steps=10, sanity_jets=50), chunksize=150)
    return out, fileset, taggers, result


def _test_jets(jets_folder) -> dict:
    table = read_tables(jets_folder)
    rows = {k: np.asarray(table[k].to_numpy()) for k in table.fields if k != "dataset"}
    test = np.isin(split_index(rows["run"], rows["luminosityBlock"], rows["event"]), SPLITS["test"])
    return {k: v[test] for k, v in rows.items()}


def test_mean_normalised_relevance_equals_direct_lrp(study):
    out, _, taggers, result = study
    rows = _test_jets(out / "proc" / "jets")
    for folder in taggers:
        ensemble = Ensemble.load(folder)
        for seed, model, scalers in ensemble.load_members():
            inputs = model_inputs(rows, ensemble.spec, scalers)
            tensors = [torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs]
            for rule in RULES:
                r = LRP(model, rule)(*tensors).relevance
                direct = normalised_feature_relevance({k: v.numpy() for k, v in zip(ensemble.spec.inputs, r)},
                                                      ensemble.spec.kinds)
                labels = rows["label"][direct.kept]
                for cls, label in (("signal", 1), ("background", 0)):
                    want = direct.values[labels == label].mean(axis=0)
                    got = [result.summary[ensemble.name][rule]["classes"][cls][f]["members"][str(seed)]
                           for f in direct.names]
                    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)
    # the counts: every test-split jet explained once per member
    n_test = len(rows["label"])
    for name, members in (("cnn2d_xaug", 2), ("lstm", 1)):
        counts = result.counts[name]
        assert sum(c["jets_selected"] for c in counts.values()) == n_test
        assert sum(c["jets_in_table"] for c in counts.values()) == 600
        jets = result.histograms[f"jets/{name}"][{"rule": "epsilon"}].values().sum()
        assert jets == members * n_test - sum(c["zero_relevance_epsilon"] for c in counts.values())


def test_score_shares_equal_direct_lrp_and_conserve(study):
    """Agarwal, Rappoccio et al.'s (arXiv:2011.13466) relevance normalised by the output score: per class and member, each feature's share R_f / logit
    averaged over the jets with weight |logit|, from the processor, equals the direct computation; the shares of
    all features add up to the jets' whole relevance over their output (every slot counted once, padding
    included)."""
    out, _, taggers, result = study
    rows = _test_jets(out / "proc" / "jets")
    for folder in taggers:
        ensemble = Ensemble.load(folder)
        names = feature_names(ensemble.spec.kinds)
        for seed, model, scalers in ensemble.load_members():
            inputs = model_inputs(rows, ensemble.spec, scalers)
            tensors = [torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs]
            for rule in RULES:
                a = LRP(model, rule)(*tensors)
                relevance = {k: v.double().numpy() for k, v in zip(ensemble.spec.inputs, a.relevance)}
                output = a.output.double().numpy()
                total = sum(r.reshape(len(output), -1).sum(1) for r in relevance.values())
                signed = np.concatenate([k.feature_sums(relevance[k.name], signed=True) for k in ensemble.spec.kinds],
                                        axis=1)
                np.testing.assert_allclose(signed.sum(1), total, rtol=1e-9, atol=1e-12)
                score = result.summary[ensemble.name][rule]["score"]
                for cls, label in (("signal", 1), ("background", 0)):
                    jets = rows["label"] == label
                    want = (signed[jets] / output[jets, None] * np.abs(output[jets, None])).sum(0) \
                        / np.abs(output[jets]).sum()
                    got = [score["classes"][cls][f]["members"][str(seed)] for f in names]
                    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
                    np.testing.assert_allclose(sum(got), (total[jets] * np.sign(output[jets])).sum()
                                               / np.abs(output[jets]).sum(), rtol=1e-5, atol=1e-6)
                    assert score["ranking"][cls][0] == names[int(np.argmax(want))]


def _real_particles_of_explained_jets(taggers, name: str, rows: dict, rule: str) -> int:
    """Real particles, summed over the members, of the jets with some relevance (a jet whose decision a bias-free
    tagger's last bias makes alone, every hidden unit off, has none and no profile entries)."""
    (ensemble,) = [Ensemble.load(f) for f in taggers if f.name == name]
    total = 0
    for _, model, scalers in ensemble.load_members():
        inputs = model_inputs(rows, ensemble.spec, scalers)
        r = LRP(model, rule)(*[torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs]).relevance
        _, kept = normalise_per_jet({k: v.numpy() for k, v in zip(ensemble.spec.inputs, r)})
        total += int(rows["particles_mask"][kept].sum())
    return total


def test_histograms_hold_the_relevance(study):
    out, _, taggers, result = study
    h, summary = result.histograms, result.summary
    rows = _test_jets(out / "proc" / "jets")
    # image heat maps: positive - negative summed over pixels equals the signed image relevance, which with the
    # features histogram (absolute) bounds it
    img = h["image/cnn2d_xaug"][{"rule": "epsilon"}]
    pos, neg = img[{"sign": "positive"}].values().sum(), img[{"sign": "negative"}].values().sum()
    absolute = h["features/cnn2d_xaug"][{"rule": "epsilon", "feature": "image"}].values().sum()
    assert pos > 0 and neg > 0
    assert pos + neg == pytest.approx(absolute, rel=1e-9)
    # the average input image: each jet's pixels sum to its image pT fraction
    total = h["image_input/cnn2d_xaug"].values().sum()
    assert total == pytest.approx(quantise(rows["image"]).sum(), rel=1e-12)
    # profiles: one entry per explained jet per member for an XAUG variable, one per real particle for the LSTM
    jets = h["jets/cnn2d_xaug"][{"rule": "epsilon"}].values().sum()
    assert h["profile/cnn2d_xaug/msd"][{"rule": "epsilon"}].values(flow=True).sum() == jets
    particles = h["profile/lstm/particle:log_pt"][{"rule": "epsilon"}].values(flow=True).sum()
    assert particles == _real_particles_of_explained_jets(taggers, "lstm", rows, "epsilon")
    # |normalised relevance| <= 1: nothing in the relevance axis' flow bins
    prof = h["profile/cnn2d_xaug/tau21"][{"rule": "alpha1beta0"}]
    assert prof.values(flow=True)[..., [0, -1]].sum() == 0
    # the top pair is the two most relevant XAUG variables and its histograms hold every jet
    s = summary["cnn2d_xaug"]["epsilon"]
    assert set(s["top_pair"]) == set(s["xaug_ranking"][:2])
    pair_jets = h[f"pair_jets/cnn2d_xaug/{'__'.join(s['top_pair'])}"][{"rule": "epsilon"}]
    assert pair_jets.values(flow=True).sum() == jets
    assert summary["lstm"]["epsilon"]["top_pair"] is None


def test_root_file_matches_and_executors_agree(study, tmp_path):
    out, fileset, taggers, result = study
    with uproot.open(out / "rel_iterative" / RELEVANCE_ROOT) as f:
        got = f["profile/cnn2d_xaug/msd/rule_epsilon__label_1"].values()
        want = result.histograms["profile/cnn2d_xaug/msd"][{"rule": "epsilon", "label": hist.loc(1)}].values()
        np.testing.assert_array_equal(got, want)
        assert "profile/lstm/particle_log_pt/rule_alpha1beta0__label_0" in f
        features = f["features/cnn2d_xaug/rule_epsilon__member_1__label_0"]
        assert list(features.axis().labels()) == list(result.histograms["features/cnn2d_xaug"].axes["feature"])
    futures = run_relevance(out / "proc", taggers, tmp_path / "futures", ExplainOptions(rules=RULES, occlusion_fraction=1.0, activations=True, faithfulness_steps=10, sanity_jets=50), executor="futures", workers=2, chunksize=150)
    assert futures.histograms.keys() == result.histograms.keys()
    for key, h in result.histograms.items():
        if key.startswith(("nap/", "nap_firing/")):  # float32 activations of forward passes in other processes
            np.testing.assert_allclose(h.values(flow=True), futures.histograms[key].values(flow=True), rtol=1e-6,
                                       err_msg=key)
            continue
        assert np.array_equal(h.values(flow=True), futures.histograms[key].values(flow=True)), key
    assert futures.summary == result.summary and futures.counts == result.counts
    assert futures.occlusion == result.occlusion
    assert futures.activations.keys() == result.activations.keys()


def test_bad_configuration_is_named(study, tmp_path):
    out, fileset, taggers, _ = study
    with pytest.raises(ValueError, match="unknown LRP preset 'lrp-magic'"):
        run_relevance(out / "proc", taggers, tmp_path, ExplainOptions(rules=("lrp-magic",), faithfulness_steps=10, sanity_jets=50))
    with pytest.raises(ValueError, match="(?s)split.*must be one of test, val, train, all, got 'holdout'"):
        run_relevance(out / "proc", taggers, tmp_path, ExplainOptions(rules=RULES, split="holdout", faithfulness_steps=10, sanity_jets=50))
    from xaugcol.processing.jet_table import ProcessingConfig
    from xaugcol.features.images import ImageConfig
    # jet tables processed with 21x21 images: the taggers were trained on 37x37 ones
    run_processing(fileset, tmp_path / "proc21", chunksize=600, config=ProcessingConfig(image=ImageConfig(n_pixels=21)))
    with pytest.raises(ValueError, match="takes 37x37 images"):
        run_relevance(tmp_path / "proc21", taggers, tmp_path / "rel21", ExplainOptions(rules=RULES, faithfulness_steps=10, sanity_jets=50))
    from xaugcol.models.folder import ModelFileError
    with pytest.raises(ModelFileError, match="neither a tagger folder"):
        Ensemble.load(tmp_path)


def test_histograms_read_back_from_root(study):
    from xaugcol.explain.relevance_file import read_relevance_histograms
    from xaugcol.explain.explain_tables import summarise

    out, _, taggers, result = study
    back = read_relevance_histograms(out / "rel_iterative")
    written = [k for k in result.histograms if not k.startswith("pair")]
    assert set(written) <= set(back)
    for key in written:
        np.testing.assert_array_equal(back[key].view(flow=True), result.histograms[key].view(flow=True), key)
    for ensemble in result.ensembles:
        assert summarise(back, ensemble, RULES) == result.summary[ensemble.name]


def test_explain_command_and_bad_weights(study, tmp_path, capsys):
    import shutil

    from xaugcol.cli import main

    out, _, taggers, result = study
    fileset = out / "proc"  # the jet tables of the processing run
    assert main(["explain", str(fileset), "--taggers", str(taggers[1]), "--out", str(tmp_path / "ok"),
                 "--rules", "epsilon", "--chunksize", "150"]) == 0
    printed = capsys.readouterr().out
    assert "lstm (" in printed and "relevance.root" in printed
    # a member whose weights are not a state_dict: refused before any chunk runs, naming the file
    broken = tmp_path / "broken"
    shutil.copytree(taggers[1], broken)
    weights = broken / "seed_3" / "model.pt"
    weights.write_bytes(b"not a torch file")
    assert main(["explain", str(fileset), "--taggers", str(broken), "--out", str(tmp_path / "bad")]) == 1
    assert str(weights) in capsys.readouterr().err
    assert main(["explain", str(fileset), "--taggers", str(taggers[1]), "--out", str(tmp_path / "r"),
                 "--rules", "magic"]) == 2


def test_any_method_and_composite_reaches_the_processor(study, tmp_path):
    """gradient x input and a composite written as a mapping run through the relevance processor and give what
    the attributor gives directly on the same jets."""
    from xaugcol.explain.methods import method_specs

    out, fileset, taggers, _ = study
    entries = ["gradient_x_input", "integrated_gradients", {"name": "conv_gamma", "composite": {
        "default": "epsilon", "layers": {"conv": {"rule": "gamma", "gamma": 0.25}}}}]
    result = run_relevance(out / "proc", taggers[:1], tmp_path / "rel", ExplainOptions(rules=entries, faithfulness_steps=10, sanity_jets=50), chunksize=150)
    rows = _test_jets(out / "proc" / "jets")
    ensemble = Ensemble.load(taggers[0])
    for spec in method_specs(entries):
        for seed, model, scalers in ensemble.load_members():
            inputs = model_inputs(rows, ensemble.spec, scalers)
            r = spec.attributor(model)(*[torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs]).relevance
            direct = normalised_feature_relevance({k: v.numpy() for k, v in zip(ensemble.spec.inputs, r)},
                                                  ensemble.spec.kinds)
            want = direct.values[rows["label"][direct.kept] == 1].mean(axis=0)
            got = [result.summary[ensemble.name][spec.name]["classes"]["signal"][f]["members"][str(seed)]
                   for f in direct.names]
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)
    import json
    written = json.loads((tmp_path / "rel" / "relevance.json").read_text())
    assert written["config"]["rules"] == ["gradient_x_input", "integrated_gradients", "conv_gamma"]
    assert written["config"]["methods"][2]["options"]["composite"]["layers"]["conv"]["gamma"] == 0.25


def test_faithfulness_curves_and_sanity_check_reach_the_outputs(study):
    """The run's perturbation curves start at each member's own AUC on the test jets, agree between orders where
    they must (nothing removed, everything removed), survive the ROOT file; the randomisation check of each
    ensemble's first member walks its layers from the output down."""
    import json

    from sklearn.metrics import roc_auc_score

    from xaugcol.explain import faithfulness
    from xaugcol.explain.relevance_file import read_relevance_histograms
    from xaugcol.explain.sanity import parametrised_layers

    out, _, taggers, result = study
    rows = _test_jets(out / "proc" / "jets")
    written = json.loads((out / "rel_iterative" / "relevance.json").read_text())
    assert written["config"]["faithfulness_steps"] == faithfulness.DEFAULT_STEPS
    back = read_relevance_histograms(out / "rel_iterative")
    for folder in taggers:
        ensemble = Ensemble.load(folder)
        curves = result.faithfulness[ensemble.name]
        assert set(curves) == set(RULES) and written["faithfulness"][ensemble.name] == curves
        assert faithfulness.curves(back, ensemble.name) == curves
        members = ensemble.load_members()
        for rule in RULES:
            c = curves[rule]
            assert len(c["removed_fraction"]) == faithfulness.DEFAULT_STEPS + 1
            assert c["members"] == [seed for seed, _, _ in members]
            member_aucs = []
            for seed, model, scalers in members:
                inputs = model_inputs(rows, ensemble.spec, scalers)
                with torch.no_grad():
                    logits = model(*[torch.from_numpy(inputs[n]) for n in ensemble.spec.inputs]).numpy()
                binned = _member_auc(result.histograms, ensemble.name, rule, seed)
                assert binned == pytest.approx(_binned_auc(logits, rows["label"]), abs=1e-12)
                if ensemble.name == "cnn2d_xaug":  # logits spread over many bins: the binned AUC is the AUC
                    assert binned == pytest.approx(roc_auc_score(rows["label"], logits), abs=0.005)
                member_aucs.append(binned)
            assert c["auc"]["relevance"]["mean"][0] == pytest.approx(np.mean(member_aucs), abs=0.01)
            for order in faithfulness.ORDERS:
                assert c["margin"][order]["mean"][0] == pytest.approx(1.0)
                assert c["auc"][order]["mean"][0] == pytest.approx(c["auc"]["relevance"]["mean"][0])
                assert c["auc"][order]["mean"][-1] == pytest.approx(c["auc"]["relevance"]["mean"][-1])
            assert np.isfinite(c["score"]["mean"]) and len(c["score"]["per_member"]) == len(members)
        sanity = written["sanity"][ensemble.name]
        seed, model, _ = members[0]
        assert sanity["member"] == seed and 0 < sanity["jets"] <= 100
        for rule in RULES:
            assert [s["layer"] for s in sanity["methods"][rule]] == parametrised_layers(model)[::-1]
            assert all(-1 <= s["spearman"] <= 1 for s in sanity["methods"][rule])


def _binned_auc(logits, labels) -> float:
    """The AUC of ``logits`` on the curve histograms' logit bins (ties within a bin: half)."""
    from xaugcol.explain.faithfulness import ASINH_LOGIT_AXIS

    n, lo, hi = ASINH_LOGIT_AXIS
    edges = np.concatenate([[-np.inf], np.sinh(np.linspace(lo, hi, n + 1)), [np.inf]])
    signal, background = (np.histogram(logits[labels == c], edges)[0].astype(float) for c in (1, 0))
    below = np.cumsum(background) - background
    return float((signal * (below + 0.5 * background)).sum() / (signal.sum() * background.sum()))


def _member_auc(hists, tagger, rule, seed) -> float:
    """The AUC of one member before any removal, from the curve histogram's binned logits."""
    h = hists[f"faithfulness/{tagger}"][{"rule": rule, "member": hist.loc(seed), "order": "relevance",
                                         "step": 0}]
    signal, background = (h[{"label": hist.loc(c)}].values(flow=True) for c in (1, 0))
    below = np.cumsum(background) - background
    return float((signal * (below + 0.5 * background)).sum() / (signal.sum() * background.sum()))


def test_occlusion_and_activation_patterns_reach_the_outputs(study):
    """Each occluded feature's dAUC is the member's binned AUC loss computed directly (the image block or XAUG
    variable zeroed after scaling); the tables survive the ROOT file; the masking thresholds hold nested sets; the
    activation patterns of the head's ReLU are those of a direct forward pass."""
    import json

    from sklearn.metrics import roc_auc_score

    from xaugcol.explain import activations, occlusion
    from xaugcol.explain.relevance_file import read_relevance_histograms

    out, _, taggers, result = study
    rows = _test_jets(out / "proc" / "jets")
    written = json.loads((out / "rel_iterative" / "relevance.json").read_text())
    back = read_relevance_histograms(out / "rel_iterative")
    ensemble = Ensemble.load(taggers[0])  # cnn2d + XAUG: image blocks and XAUG variables
    kinds = ensemble.spec.kinds
    table = result.occlusion[ensemble.name]
    assert {r["feature"] for r in table["features"]} == set(occlusion.groups_of(kinds))
    assert written["occlusion"][ensemble.name]["features"] == table["features"]
    members = ensemble.load_members()
    by_feature = {r["feature"]: r for r in table["features"]}
    for name in ("image:r1c1", "msd"):
        for k, (seed, model, scalers) in enumerate(members):
            inputs = model_inputs(rows, ensemble.spec, scalers)
            tensors = tuple(torch.from_numpy(inputs[n]) for n in ensemble.spec.inputs)
            with torch.no_grad():
                base = model(*tensors).numpy()
                masked = model(*occlusion.occluded(kinds, tensors, {name})).numpy()
            expected = (roc_auc_score(rows["label"], base) - roc_auc_score(rows["label"], masked)) * 100
            assert by_feature[name]["dauc"]["per_member"][k] == pytest.approx(expected, abs=1e-9)
    assert by_feature["image:r1c1"]["dauc"]["mean"] > 0.1  # the centre block (the leading prong) matters
    thresholds = written["occlusion"][ensemble.name]["thresholds"]
    assert [t["threshold"] for t in thresholds] == list(occlusion.THRESHOLDS)
    for a, b in zip(thresholds, thresholds[1:]):
        assert set(a["features"]) <= set(b["features"])
    for t in thresholds:
        assert sum(t["dropped"].values()) == len(t["features"])
        assert set(t["features"]) == {r["feature"] for r in table["features"] if r["dauc"]["mean"] < t["threshold"]}

    naps = written["activations"][ensemble.name]
    assert activations.patterns(back, ensemble.name) == naps
    seed, model, scalers = members[0]
    inputs = model_inputs(rows, ensemble.spec, scalers)
    tensors = [torch.from_numpy(inputs[n]) for n in ensemble.spec.inputs]
    with torch.no_grad():
        hidden = torch.relu(model.head[0](model.join(model.features(tensors[0]), tensors[1]))).numpy()
    summed = hidden[rows["label"] == 1].sum(axis=0)
    head = naps["layers"]["head.1"]
    rna_first = np.array(head["classes"]["signal"]["rna"])  # mean over two members: check the bounds, then one
    assert head["neurons"] == 16 and rna_first.max() <= 1.0
    hists = result.histograms[f"nap/{ensemble.name}/head.1"][{"member": hist.loc(seed), "label": hist.loc(1)}]
    np.testing.assert_allclose(hists.values(), summed, rtol=1e-5)
    assert 0.0 <= naps["sparsity"]["mean"] <= 1.0 and naps["neurons"] == sum(
        layer["neurons"] for layer in naps["layers"].values())
    assert set(written["activations"]) == {"cnn2d_xaug", "lstm"}  # the LSTM's dense head


def test_occlusion_and_activation_figures_and_report_tables(study, tmp_path):
    """The occlusion and activation figures are drawn for every tagger that has them, and the report's tables
    name the most harmful occlusion and each tagger's sparsity."""
    import json

    from xaugcol.report import html
    from xaugcol.report.figures import draw_figures, relevance_jobs

    out, _, taggers, _ = study
    jobs = [j for j in relevance_jobs(out / "rel_iterative", {}, "toy jets", examples=0)
            if j.section in ("occlusion", "activations")]
    assert sorted(j.name for j in jobs) == ["activations_cnn2d_xaug", "activations_lstm", "occlusion_cnn2d_xaug",
                                            "occlusion_lstm"]
    drawn = draw_figures(jobs, tmp_path / "figures", tmp_path, workers=1)
    assert sorted(item["stem"] for items in drawn.values() for item in items) == sorted(
        f"figures/{j.name}" for j in jobs)
    for j in jobs:
        assert (tmp_path / "figures" / f"{j.name}.png").stat().st_size > 10_000
    relevance = json.loads((out / "rel_iterative" / "relevance.json").read_text())
    text = html.occlusion_tables(relevance) + html.activations_table(relevance)
    top = relevance["occlusion"]["cnn2d_xaug"]["features"][0]["feature"]
    assert f"<td class='name'>{top}</td>" in text and "dAUC &times; 100 below" in text
    assert f"{relevance['activations']['lstm']['sparsity']['mean']:.3f}" in text
    score = relevance["relevance"]["lstm"]["epsilon"]["score"]
    first = score["ranking"]["signal"][0]
    assert f"signal: {first} {score['classes']['signal'][first]['mean']:.3f}" in text
