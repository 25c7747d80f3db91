"""The whole chain at a tiny size (what CI runs): the demo command, its report, figures and histograms."""

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import uproot
import yaml

from xaugcol.cli import main
from xaugcol.workflow.config import Workflow
from xaugcol.workflow.demo import TAGGERS, demo_config


class _Links(HTMLParser):
    """Collects referenced files and checks that every opened tag is closed in order."""
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.refs, self.stack, self.errors, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        # files the page references (not its own anchors: the table of contents links to its sections)
        self.refs += [attrs[a] for a in ("src", "href") if a in attrs and not attrs[a].startswith("#")]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, worker_id):
    """One tiny demo per test run, shared by the test processes: pytest-xdist spreads this module's demo tests
    over its workers, and each used to build the demo, two builds at once on two cores (50-64 s each, 40 s alone).
    The first worker builds it under a lock; the others wait for it and read it."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base if worker_id == "master" else base.parent  # the run's folder, above the workers' own
    out = root / "shared_demo"
    with FileLock(str(root / "shared_demo.lock")):
        if not (out / "index.html").is_file():
            code = main(["demo", "--out", str(out), "--jets", "300", "--epochs", "1", "--seeds", "2", "--top-k", "2"])
            assert code == 0
    return out


def test_demo_writes_a_complete_report(demo):
    html = (demo / "index.html").read_text()
    parser = _Links()
    parser.feed(html)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    assert parser.refs, "the report references no figure"
    for ref in parser.refs:
        assert (demo / ref).is_file(), ref
    figures = json.loads((demo / "figures" / "figures.json").read_text())
    for section in ("inputs", "performance", "relevance", "profiles", "pairs", "heatmaps", "faithfulness",
                    "examples"):
        assert figures.get(section), section
    stems = [f["stem"] for items in figures.values() for f in items]
    for stem in stems:  # PNGs for the report; PDFs only on request (figures: {pdf: true}, report --pdf)
        assert (demo / f"{stem}.png").stat().st_size > 1000, stem
        assert not (demo / f"{stem}.pdf").exists(), stem
    names = [("{model}_xaug" if t["xaug"] and t["model"] != "dnn" else "{model}").format(**t) for t in TAGGERS]
    text = " ".join(parser.text)
    for name in names:
        assert name in text
        assert f"figures/relevance_{name}_alpha1beta0.png" in parser.refs
    # reduced sets: k = 1, 2 with the DNN's top variables, in ranking order
    relevance = json.loads((demo / "relevance" / "relevance.json").read_text())
    reduced = json.loads((demo / "reduced" / "reduced.json").read_text())
    ranking = relevance["relevance"]["dnn"]["epsilon"]["xaug_ranking"]
    assert [r["variables"] for r in reduced["rows"]] == [ranking[:1], ranking[:2]]
    assert all(0.5 < r["auc"]["mean"] <= 1 and len(r["auc"]["values"]) == 2 for r in reduced["rows"])
    # the XAUG gain of every family trained with and without XAUG, from the members' test predictions
    gain = json.loads((demo / "gain" / "xaug_gain.json").read_text())["gains"]
    assert set(gain) == {"cnn2d", "cnn1d", "lstm"} and "What the XAUG variables add" in text
    for model, g in gain.items():
        (overall,) = g["bins"]  # the demo sets no pT bins
        row = next(e for e in overall["efficiencies"] if e["background_efficiency"] == 0.1)
        summary = json.loads((demo / "taggers" / f"{model}_xaug" / "metrics.json").read_text())["summary"]
        assert row["xaug"]["mean"] == pytest.approx(summary["sig_eff_at_bkg_0.1"]["mean"], abs=1e-9)
        assert g["paired_test_jets"] and g["members"] == [2, 2]


def test_demo_histograms_are_filled(demo):
    relevance = json.loads((demo / "relevance" / "relevance.json").read_text())
    with uproot.open(demo / "relevance" / "relevance.root") as f:
        for name in relevance["taggers"]:
            for rule in ("epsilon", "alpha1beta0"):
                for seed in (0, 1):
                    jets = f[f"jets/{name}/rule_{rule}__member_{seed}"].values()
                    assert jets.min() > 0, (name, rule, seed)
                    features = f[f"features/{name}/rule_{rule}__member_{seed}__label_1"].values()
                    assert np.all(features >= 0) and features.sum() > 0
    explained = sum(c["jets_selected"] for c in relevance["counts"]["dnn"].values())
    assert explained > 50


def test_resume_reuses_every_stage(demo, capsys):
    before = {p: p.stat().st_mtime_ns for p in (demo / "relevance").iterdir()}
    assert main(["demo", "--out", str(demo), "--jets", "300", "--epochs", "1", "--seeds", "2", "--top-k", "2",
                 "--resume"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("(reused)") == 7
    assert {p: p.stat().st_mtime_ns for p in (demo / "relevance").iterdir()} == before
    # without --resume or --overwrite a non-empty folder is refused
    assert main(["demo", "--out", str(demo)]) == 2


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="headless Chromium not installed (Debian package 'chromium')")
def test_report_renders_in_headless_chromium(demo, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1200,2400", (demo / "index.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image

    image = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert image.shape == (2400, 1200)
    # a rendered page with tables and figures, not a blank or error page: many non-white pixels
    assert (image < 200).mean() > 0.02


def test_study_config_is_validated(tmp_path):
    wf = Workflow.load(Path(__file__).resolve().parents[1] / "configs" / "zz_vs_qcd.yaml")
    assert wf.source.kind == "pythia" and len(wf.taggers) == 9 and wf.training.matched_signal
    assert {t.model for t in wf.taggers} >= {"cnn2d", "cnn1d", "lstm", "particlenet", "dnn"}
    assert wf.figures.pdf  # the paper-sized study asks for PDFs; the demo does not
    good = demo_config().raw
    assert not Workflow.from_dict(good).figures.pdf
    cases = [
        ({**good, "figures": {"pdf": "yes"}}, "figures: pdf"),
        ({**good, "figures": {"format": "svg"}}, "unknown field"),
        ({**good, "colour": "red"}, "unknown field"),
        ({**good, "explain": {"rules": ["lrp-magic"]}}, "unknown LRP preset"),
        ({**good, "reduced": {"tagger": "bdt"}}, "not among the taggers"),
        ({**good, "reduced": {"tagger": "cnn2d"}}, "takes no XAUG"),
        ({**good, "source": {"kind": "herwig", "events": 10}}, "kind must be toy or pythia"),
        ({**good, "processing": {"executor": "slurm"}}, "executor must be one of"),
        ({**good, "taggers": TAGGERS + [TAGGERS[0]]}, "may appear once"),
        ({**good, "processing": {"executor": "dask"}}, "needs a top-level 'dask' section"),
        ({**good, "dask": {"scheduler": "localhost:8786"}}, "dask: scheduler must be an address"),
        ({**good, "dask": {"scheduler": "tcp://h:1", "workers": 2}}, "either scheduler.*or workers"),
        ({**good, "dask": {"workers": 2}}, "executor must be one of dask, got 'futures'"),
        ({**good, "source": {"kind": "pythia", "events": 10, "processes": ["zz", "ww"]}}, r"unknown process\(es\) \['ww'\]"),
        ({**good, "source": {"kind": "pythia", "events": 10, "process_card": str(tmp_path / "no_card.yaml")}},
         "process card .*no_card.yaml: cannot read it"),
    ]
    for raw, message in cases:
        with pytest.raises(ValueError, match=message):
            Workflow.from_dict(raw)
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [unclosed")
    assert main(["study", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2


def test_reduced_sets_refuse_bad_requests(tmp_path):
    from xaugcol.models.registry import ModelConfig
    from xaugcol.training.reduced import train_reduced_sets
    from xaugcol.training.train import TrainConfig

    dnn = ModelConfig("dnn", xaug=True)
    with pytest.raises(ValueError, match=r"sizes must be in 1..2"):
        train_reduced_sets(tmp_path, ["tau21", "msd"], dnn, TrainConfig(), [0], tmp_path, ks=[0, 3])
    with pytest.raises(ValueError, match="retrain the XAUG DNN"):
        train_reduced_sets(tmp_path, ["tau21"], ModelConfig("cnn2d", xaug=True), TrainConfig(), [0], tmp_path)
    with pytest.raises(ValueError, match="non-empty ranking"):
        train_reduced_sets(tmp_path, [], dnn, TrainConfig(), [0], tmp_path)


def test_study_on_one_dask_client(tmp_path, capsys):
    """With a dask section every stage runs on one cluster: processing and LRP as coffea DaskExecutor runs,
    the ensemble members and reduced sets as tasks."""
    config = tmp_path / "study.yaml"
    config.write_text("""
name: dask study
source: {kind: toy, events: 200, seed: 3}
processing: {chunksize: 100}
seeds: 2
training: {epochs: 1, batch_size: 64}
taggers: [{model: dnn, xaug: true}]
explain: {rules: [epsilon], chunksize: 100, examples: 1}
reduced: {tagger: dnn, rule: epsilon, k: [1]}
dask: {workers: 2}
""")
    wf = Workflow.load(config)
    assert wf.dask.workers == 2 and wf.processing_run.executor == wf.explain_run.executor == "dask"
    out = tmp_path / "out"
    assert main(["study", "--config", str(config), "--out", str(out)]) == 0
    assert json.loads((out / "processed" / "report.json").read_text())["executor"] == "dask"
    relevance = json.loads((out / "relevance" / "relevance.json").read_text())
    assert relevance["config"]["executor"] == "dask"
    assert sum(c["jets_in_table"] for c in relevance["counts"]["dnn"].values()) == 400
    metrics = json.loads((out / "taggers" / "dnn" / "metrics.json").read_text())
    assert metrics["members"] == ["seed_0", "seed_1"] and metrics["summary"]["auc"]["mean"] > 0.5
    assert json.loads((out / "reduced" / "reduced.json").read_text())["rows"][0]["k"] == 1
    assert (out / "index.html").is_file()


def test_resume_with_other_settings_reruns_what_they_change(tmp_path, capsys):
    """A resume with other settings reruns exactly the stages those settings reach (and says why), so the report
    never describes a run that did not happen (before: every stage was reused and the report showed the new
    configuration over the old results)."""
    config = tmp_path / "study.yaml"
    base = {"name": "resume study", "source": {"kind": "toy", "events": 150, "seed": 4},
            "processing": {"chunksize": 150}, "seeds": 1, "training": {"epochs": 1, "batch_size": 64},
            "taggers": [{"model": "dnn", "xaug": True}],
            "explain": {"rules": ["epsilon"], "chunksize": 150, "examples": 0}}
    out = tmp_path / "out"

    def study(**changes):
        config.write_text(yaml.safe_dump({**base, **changes}))
        capsys.readouterr()
        assert main(["study", "--config", str(config), "--out", str(out), "--resume"]) == 0
        return capsys.readouterr().out

    study()
    stamps = {p: p.stat().st_mtime_ns for p in (out / "processed" / "jets").rglob("*.parquet")}
    printed = study(seeds=2)
    assert "generating toy events (reused)" in printed and printed.count("(reused)") == 2  # and processing
    assert "(rerun: settings changed: seeds)" in printed  # training
    assert "LRP (epsilon) of every member into relevance histograms (rerun: it reads train/dnn that changed)" \
        in printed
    assert {p: p.stat().st_mtime_ns for p in (out / "processed" / "jets").rglob("*.parquet")} == stamps
    assert json.loads((out / "taggers" / "dnn" / "metrics.json").read_text())["members"] == ["seed_0", "seed_1"]
    relevance = json.loads((out / "relevance" / "relevance.json").read_text())
    assert [m["seed"] for m in relevance["taggers"]["dnn"]["members"]] == [0, 1]
    assert yaml.safe_load((out / "study.yaml").read_text())["seeds"] == 2

    printed = study(seeds=2, explain={**base["explain"], "rules": ["epsilon", "alpha1beta0"]})
    assert printed.count("(reused)") == 3  # generation, processing, training
    assert "(rerun: settings changed: rules)" in printed
    relevance = json.loads((out / "relevance" / "relevance.json").read_text())
    assert relevance["config"]["rules"] == ["epsilon", "alpha1beta0"]
    assert "alpha1beta0" in (out / "index.html").read_text()

    printed = study(seeds=2, explain={**base["explain"], "rules": ["epsilon", "alpha1beta0"]})
    assert printed.count("(reused)") == 5  # the same settings again: everything reused


def test_studies_compose_stage_objects(tmp_path, capsys):
    """A study is a list of stage objects: run_stages runs, reuses and reruns them by their records, whatever
    study they belong to."""
    from xaugcol.workflow.stages import Stage, StudyContext, StudyStage, run_stages

    calls = []

    def stages(threshold):
        first = Stage("select", tmp_path / "select", {"threshold": threshold})
        second = Stage("count", tmp_path / "count", {}, (first,))
        return [StudyStage("select", "selecting", (first,), lambda ctx, rec, resume: calls.append(rec.name),
                           after=lambda ctx: ctx.results.__setitem__("selected", threshold)),
                StudyStage("count", "counting", (second,), lambda ctx, rec, resume: calls.append(rec.name),
                           report=lambda ctx: f"<p>{ctx.results['selected']}</p>")]

    ctx = StudyContext(None, tmp_path, progress=True)
    timings, ran = run_stages(stages(1), ctx, resume=False)
    assert calls == ["select", "count"] and set(ran) == {"select", "count"} and set(timings) == {"select", "count"}
    calls.clear()
    _, ran = run_stages(stages(1), ctx, resume=True)
    assert calls == [] and ran == {} and ctx.results["selected"] == 1  # reused: 'after' still reads the result
    _, ran = run_stages(stages(2), ctx, resume=True)
    assert calls == ["select", "count"]  # a changed setting reruns the stage and everything downstream
    assert "settings changed: threshold" in ran["select"] and "it reads select that changed" in ran["count"]
    printed = capsys.readouterr().out
    assert "[1/2] selecting (reused)" in printed and "[2/2] counting (rerun: it reads select that changed)" in printed
