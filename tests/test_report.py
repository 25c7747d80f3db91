"""Reports of outputs made by hand (``xaugcol report``), the figures a physicist reads, taggers applied outside
the range they were trained on, and studies whose source is an existing fileset (real CMS files, no labels)."""

import json
from html.parser import HTMLParser

import matplotlib
import numpy as np
import pytest
import yaml

from xaugcol.explain.options import ExplainOptions
from xaugcol.cli import main
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.report import html as report_html
from xaugcol.report.figures import FigureJob, draw_figures
from xaugcol.coffea_runs import run_processing, run_relevance
from xaugcol.sources.toy import ToyConfig, run_toy
from xaugcol.training.train import TrainConfig, train_ensemble

matplotlib.use("Agg")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids, self.toc, self.text = [], set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.refs += [attrs[a] for a in ("src", "href") if a in attrs and not attrs[a].startswith("#")]
        self.toc += [attrs["href"][1:] for a in ("href",) if attrs.get(a, "").startswith("#")]
        if "id" in attrs:
            self.ids.add(attrs["id"])

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def by_hand(tmp_path_factory):
    """process + train + explain run one by one, as a user would: toy jets, a 2-member cnn2d+XAUG ensemble and a
    1-member LSTM."""
    out = tmp_path_factory.mktemp("by_hand")
    run_toy(out / "gen", 400, seed=5)
    run_processing(load_fileset(out / "gen" / "fileset.json"), out / "proc", chunksize=400)
    training = TrainConfig(epochs=1, batch_size=64)
    cnn = ModelConfig("cnn2d", xaug=True, architecture={"channels": [4, 4], "hidden": [16]})
    lstm = ModelConfig("lstm", xaug=False, architecture={"hidden_size": 8, "hidden": [8]})
    train_ensemble(str(out / "proc" / "jets"), cnn, training, [0, 1], str(out / "taggers" / "cnn2d_xaug"))
    train_ensemble(str(out / "proc" / "jets"), lstm, training, [3], str(out / "taggers" / "lstm"))
    run_relevance(out / "proc", [out / "taggers" / "cnn2d_xaug", out / "taggers" / "lstm"], out / "rel", ExplainOptions(rules=("epsilon", "gradient_x_input"), faithfulness_steps=10, sanity_jets=50), chunksize=400)
    return out


def test_report_of_outputs_made_by_hand(by_hand, tmp_path, capsys):
    # the relevance output alone names its jet tables and taggers
    assert main(["report", str(by_hand / "rel"), "--out", str(tmp_path / "r"), "--examples", "1"]) == 0
    assert "index.html" in capsys.readouterr().out
    page = _Page()
    page.feed((tmp_path / "r" / "index.html").read_text())
    assert page.toc and set(page.toc) <= page.ids  # a table of contents whose every entry has its section
    for ref in page.refs:
        assert (tmp_path / "r" / ref).is_file(), ref
    figures = json.loads((tmp_path / "r" / "figures" / "figures.json").read_text())
    assert set(figures) == {"inputs", "performance", "relevance", "profiles", "pairs", "heatmaps", "faithfulness",
                            "examples"}
    names = {f["stem"] for items in figures.values() for f in items}
    assert {"figures/faithfulness_cnn2d_xaug", "figures/faithfulness_lstm"} <= names
    # the same figures as a study draws, named the same way
    for tagger in ("cnn2d_xaug", "lstm"):
        for rule in ("epsilon", "gradient_x_input"):
            assert f"figures/relevance_{tagger}_{rule}" in names and f"figures/profiles_{tagger}_{rule}" in names
    assert "figures/heatmap_cnn2d_xaug_epsilon" in names and "figures/heatmap_lstm_epsilon" not in names
    text = " ".join(page.text)
    assert "negative where it pushed towards background" in text  # captions say how to read signed relevance
    # the trust tables: faithfulness per tagger and method, the randomisation check
    assert "most faithful" in text and "Sanity check: model-parameter randomisation" in text
    for caption in (f["caption"] for items in figures.values() for f in items):
        assert len(caption) > 60
    # it reads as a report: a summary first, naming the best tagger by AUC and the inputs that matter most to it
    html = (tmp_path / "r" / "index.html").read_text()
    assert page.toc[0] == "summary"
    aucs = {n: json.loads((by_hand / "taggers" / n / "metrics.json").read_text())["summary"]["auc"]["mean"]
            for n in ("cnn2d_xaug", "lstm")}
    best = max(aucs, key=aucs.get)
    summary = html[html.index("id='summary'"):html.index("id='performance'")]
    assert f"The best tagger is <b>{best}</b>" in summary and f"relevance_{best}_epsilon.png" in summary
    record = json.loads((by_hand / "rel" / "relevance.json").read_text())
    assert ", ".join(record["relevance"][best]["epsilon"]["ranking"][:5]) in summary
    # each topic shows its figures first, its table below; the per-tagger tables are folded
    assert html.index("faithfulness_cnn2d_xaug.png") < html.index("most faithful")
    assert html.index("relevance_lstm_epsilon.png", html.index("id='which-inputs")) < html.index("<th>rank</th>")
    assert html.count("<details>") >= 2 and html.index("<details>") < html.index("<th>rank</th>")
    # folders given one by one: without a relevance output, inputs and performance only
    assert main(["report", str(by_hand / "proc"), str(by_hand / "taggers"), "--out", str(tmp_path / "r2")]) == 0
    assert set(json.loads((tmp_path / "r2" / "figures" / "figures.json").read_text())) == {"inputs", "performance"}
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r3")]) == 2  # nothing it can read


def _captured(monkeypatch, module):
    """The figures a plotting module would save, kept open for inspection."""
    kept = []
    monkeypatch.setattr(module, "save", lambda fig, stem, **options: kept.append(fig) or [stem])
    return kept


def test_roc_curves_stop_at_one_background_jet_and_give_the_auc_spread(by_hand, monkeypatch):
    from xaugcol.plotting import performance

    kept = _captured(monkeypatch, performance)
    taggers = {n: by_hand / "taggers" / n for n in ("cnn2d_xaug", "lstm")}
    performance.plot_rocs(taggers, "roc", "toy")
    fig, = kept
    axes = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert len(axes) == 2  # one panel per family, with and without XAUG side by side
    n_background = min(json.loads((taggers[n] / m / "metrics.json").read_text())["n_background"]
                       for n in taggers for m in json.loads((taggers[n] / "metrics.json").read_text())["members"])
    assert 50 < n_background < 400
    for ax in axes:
        assert ax.get_ylim()[0] == pytest.approx(1 / n_background)
        for line in ax.get_lines():
            assert np.min(line.get_ydata()) >= 1 / n_background  # no staircase below one background jet
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert all("AUC" in t and "$\\pm$" in t for t in legend)


def test_relevance_figures_read_as_a_physicist_expects(by_hand, monkeypatch):
    from xaugcol.plotting import relevance as plots
    from xaugcol.report import figures

    figures._relevance.cache_clear()
    hists, full = figures._relevance(str(by_hand / "rel"))
    own, _ = figures._relevance(str(by_hand / "rel"), "lstm")  # one tagger's histograms: the same, and only they
    assert own and set(own) == {k for k in hists if k.split("/")[1] == "lstm"}
    assert all(np.array_equal(own[k].values(flow=True), hists[k].values(flow=True)) for k in own)
    kept = _captured(monkeypatch, plots)
    # a joined tagger: the summed image and the XAUG variables on scales of their own
    groups = figures._kind_groups(full, "cnn2d_xaug")
    assert groups[0] == ["image"] and "msd" in groups[1]
    plots.plot_feature_relevance(full["relevance"], "cnn2d_xaug", "epsilon", "x", "toy", groups)
    assert len(kept.pop().axes) == 2
    # heat maps: both classes' relevance on one colour scale
    plots.plot_heatmaps(hists, "cnn2d_xaug", "epsilon", "x", "toy")
    meshes = [ax.collections[0] for ax in kept.pop().axes[:4]]  # the 2 x 2 panels (colour bars come after)
    assert meshes[2].get_clim() == meshes[3].get_clim()  # relevance, signal and background
    assert meshes[0].norm.vmax == meshes[1].norm.vmax  # average images
    # profiles: a binary particle feature is two points, at 0 and 1
    summary = full["relevance"]
    ranking = summary["lstm"]["epsilon"]["ranking"]
    binary = [f for f in ranking if f.startswith("particle:is_")][:1]
    monkeypatch.setitem(summary["lstm"]["epsilon"], "ranking", binary)
    plots.plot_profiles(hists, summary, "lstm", "epsilon", "x", "toy")
    ax = kept.pop().axes[0]
    assert list(ax.get_xticks()) == [0.0, 1.0]
    from matplotlib.container import ErrorbarContainer

    points = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]  # one errorbar per class
    assert len(points) == 2 and all(len(c.lines[0].get_xdata()) <= 2 for c in points)


def test_input_distributions_on_their_central_range(by_hand, monkeypatch):
    from xaugcol.plotting import inputs

    kept = _captured(monkeypatch, inputs)
    inputs.plot_inputs(by_hand / "proc" / "histograms.root", "x", "toy")
    fig = kept.pop()
    by_label = {ax.get_xlabel(): ax for ax in fig.axes if ax.get_xlabel()}
    # every toy jet has 20 constituents: integer bins, six of them around 20 (not 0..150)
    assert by_label["constituents"].get_xlim() == pytest.approx((17.5, 23.5))
    pt_lo, pt_hi = by_label[r"jet $p_T$ [GeV]"].get_xlim()
    assert pt_lo >= 250 and pt_hi < 1500  # toy jets start at 300 GeV; the binning would reach 1500


def test_figures_draw_alike_in_parallel_and_in_process(by_hand, tmp_path):
    from xaugcol.report.figures import figure_jobs
    from xaugcol.report.build import report_inputs

    jobs = figure_jobs(report_inputs([by_hand / "rel"], examples=0))
    jobs = [j for j in jobs if j.section == "relevance" and j.kwargs["tagger"] == "lstm"]
    serial = draw_figures(jobs, tmp_path / "a" / "figures", tmp_path / "a", workers=1)
    parallel = draw_figures(jobs, tmp_path / "b" / "figures", tmp_path / "b", workers=2, pdf=True)
    assert sum(len(v) for v in serial.values()) == 2
    strip = [{k: v for k, v in f.items() if k != "formats"} for items in (serial, parallel) for v in items.values()
             for f in v]
    assert strip[:2] == strip[2:]
    for stem in (f["stem"] for v in serial.values() for f in v):
        assert (tmp_path / "a" / f"{stem}.png").stat().st_size > 1000
        assert not (tmp_path / "a" / f"{stem}.pdf").exists()  # PNG unless PDFs are asked for
        assert (tmp_path / "b" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    assert all(f["formats"] == ["png", "pdf"] for v in parallel.values() for f in v)
    page = report_html.figure_sections(parallel)
    assert page.count(".pdf'>PDF</a>") == 2 and ".pdf" not in report_html.figure_sections(serial)
    assert isinstance(jobs[0], FigureJob)


def test_a_tagger_applied_outside_its_training_range_is_flagged(by_hand, tmp_path, capsys):
    cfg = ToyConfig.from_dict({"pt_min": 120.0})  # softer jets than the taggers saw (300 GeV and up)
    run_toy(tmp_path / "soft", 200, seed=9, cfg=cfg)
    run_processing(load_fileset(tmp_path / "soft" / "fileset.json"), tmp_path / "proc", chunksize=400)
    config = yaml.safe_load((by_hand / "taggers" / "lstm" / "seed_3" / "config.yaml").read_text())
    assert config["domain"]["pt"][0] > 280 and "mass" in config["domain"]  # generated at 300 GeV and up
    assert config["domain_jets"] > 300
    code = main(["explain", str(tmp_path / "proc"), "--taggers", str(by_hand / "taggers" / "cnn2d_xaug"),
                 "--rules", "epsilon", "--split", "all", "--out", str(tmp_path / "rel")])
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: cnn2d_xaug:" in err and "outside the range it was trained on" in err and "pt " in err
    record = json.loads((tmp_path / "rel" / "relevance.json").read_text())["outside_training_range"]["cnn2d_xaug"]
    assert record["fraction"] > 0.3 and record["by_column"]["pt"] > 0.3
    assert main(["report", str(tmp_path / "rel"), "--out", str(tmp_path / "r"), "--examples", "0"]) == 0
    assert "Jets outside the training range" in (tmp_path / "r" / "index.html").read_text()
    # the jets it was trained on are inside: the same tagger on its own test jets is not flagged
    own = json.loads((by_hand / "rel" / "relevance.json").read_text())["outside_training_range"]["cnn2d_xaug"]
    assert own["fraction"] <= own["chance"] and not own["flagged"] and record["flagged"]


def test_study_of_an_existing_fileset_without_labels(by_hand, cms_samples, tmp_path, capsys):
    fileset = tmp_path / "data.json"
    fileset.write_text(json.dumps({"jetht": {"files": {str(cms_samples / "pfnano.root"): "Events"}}}))
    study = {"name": "PFNano data", "source": {"kind": "fileset", "fileset": "data.json"},
             "taggers": [{"folder": str(by_hand / "taggers" / "lstm")}],
             "explain": {"rules": ["epsilon"], "split": "all", "examples": 1}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    assert main(["study", "--config", str(tmp_path / "study.yaml"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr()
    assert "warning: lstm:" in out.out + out.err  # CMS jets of 200-400 GeV: outside the toy's range
    relevance = json.loads((tmp_path / "out" / "relevance" / "relevance.json").read_text())
    assert sum(c["jets_selected"] for c in relevance["counts"]["lstm"].values()) == 24  # all 24 AK8 jets
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Jets outside the training range" in html
    figures = json.loads((tmp_path / "out" / "figures" / "figures.json").read_text())
    assert figures["examples"] and figures["profiles"]  # real jets drawn as the class "data"
    # training needs labels, and says so when the study is read
    study["taggers"].append({"model": "dnn", "xaug": True})
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(study))
    assert main(["study", "--config", str(tmp_path / "train.yaml"), "--out", str(tmp_path / "o2")]) == 2
    assert "training needs labelled jets" in capsys.readouterr().err


def test_occlusion_tables_say_their_units_and_fold_per_tagger():
    """The dAUC columns hold 100 x dAUC (as Roy and Neubauer quote it): the headers say so."""
    stat = {"mean": 4.345, "std": 0.1}
    record = {
        "config": {"rules": ["epsilon"]},
        "occlusion": {
            "in": {
                "auc": {"mean": 0.9, "std": 0.01},
                "jets": 100,
                "features": [{"feature": "track:dxysig", "kind": "tracks", "dauc": stat, "dauprc": stat}],
                "thresholds": [
                    {"threshold": 0.5, "dropped": {"tracks": 3}, "of": {"tracks": 30}, "auc": stat, "dauc": stat}
                ],
            }
        },
    }
    page = report_html.occlusion_tables(record)
    assert "<th>dAUC &times; 100</th><th>dAUPRC &times; 100</th>" in page
    assert "<th>dAUC &times; 100 below</th>" in page and "<th>dAUC</th>" not in page
    assert page.index("<details><summary>in: AUC") < page.index("track:dxysig")


def test_faithfulness_captions_name_the_removed_units_in_the_plural():
    from xaugcol.report.figures import plural

    assert [plural(u) for u in ("secondary vertex", "track", "XAUG variable")] == [
        "secondary vertices", "tracks", "XAUG variables"]
