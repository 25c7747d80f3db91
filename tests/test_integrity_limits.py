"""Sizes have upper limits, checked before any work starts, each with a one-line message (``xaugcol.limits``):

* EFP sets: counted from tabulated graph counts (checked here against the enumeration) and refused above
  ``max_columns`` (2 000 unless the section raises it), ordinary and lepton-anchored; the shipped configs pass;
* processing sizes: particle, track, vertex and cell lists, images and the calorimeter window, and the estimated
  table of a chunk (``ProcessingConfig.check_chunk``), through the library, ``xaugcol process`` and a study;
* a jet with thousands of constituents: skipped before its O(N^3) substructure and counted as
  ``skipped_too_many_constituents`` (in report.json), ``max_constituents`` sets the cap;
* architecture options: type, sign and size of every option of every tagger, and the parameter count, refused when
  the configuration is read: ``xaugcol train --config`` and ``xaugcol study`` end with a one-line usage error (exit
  2) and write nothing; a tagger folder whose config.yaml has one gives a one-line ModelFileError (exit 1).
"""

import inspect
import json
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from xaugcol.cli import main
from xaugcol.features.efp.columns import EFPConfig
from xaugcol.features.images import ImageConfig
from xaugcol.models.registry import MODELS, ModelConfig
from xaugcol.processing.jet_table import ProcessingConfig
from xaugcol.processing.lepton_table import AnchoredEFPConfig, LeptonConfig
from xaugcol.coffea_runs import run_processing
from xaugcol.sources.nanoaod import write_events
from xaugcol.sources.toy import ToyConfig, generate_chunk, run_toy
from xaugcol.workflow.config import Workflow

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _one_line_error(capsys, code: int, argv: list[str], *fragments: str) -> str:
    """Run the command line; it must end with ``code`` and one line on stderr holding every fragment."""
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("xaugcol: error:"), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def _study(tmp_path, processing=None, taggers=None) -> Path:
    path = tmp_path / "study.yaml"
    study = {"source": {"kind": "toy", "events": 10}, "processing": processing or {},
             "taggers": taggers or [{"model": "dnn", "xaug": True}]}
    path.write_text(yaml.safe_dump(study))
    return path


# --- EFP sets -----------------------------------------------------------------------------------------------------

def test_graph_count_tables_match_the_enumeration():
    from xaugcol.features.efp.anchored import ANCHORED_PER_DEGREE, anchored_graphs
    from xaugcol.features.efp.graphs import (ALL_PER_DEGREE, CONNECTED_PER_DEGREE, composite_graphs,
                                             connected_graphs)

    for d in range(len(ALL_PER_DEGREE)):  # degree 8 enumerates in about a second
        composite = len(composite_graphs(d)) if d >= 2 else 0
        assert (CONNECTED_PER_DEGREE[d], ALL_PER_DEGREE[d]) == (len(connected_graphs(d)),
                                                                len(connected_graphs(d)) + composite), d
    counted = np.bincount([len(graph) for graph, _, _ in anchored_graphs(5)], minlength=6)
    assert tuple(counted) == ANCHORED_PER_DEGREE[:6]


def test_efp_column_count_is_known_without_enumerating():
    for degree in range(1, 6):
        for kappas, betas in (((1,), (1,)), ((0, 0.5, 1, 2), (0.5, 1, 2)), ((2,), (1, 2))):
            for connected_only in (False, True):
                config = EFPConfig(degree=degree, kappas=kappas, betas=betas, connected_only=connected_only)
                assert config.n_columns() == len(config.columns()), (degree, kappas, betas, connected_only)
    anchored = AnchoredEFPConfig(degree=4, kappas=(0, 1), betas=(0.5, 1, 2))
    assert anchored.n_columns() == len(anchored.columns()) == 6 * 43


def test_efp_sets_above_the_column_limit_are_refused_at_once(tmp_path, capsys):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"EFP set of 3 049 229 columns, more than max_columns = 2 000.*"
                                         r"max_columns: 3049229"):
        EFPConfig(degree=8, kappas=tuple(range(30)), betas=tuple(range(1, 31)))
    with pytest.raises(ValueError, match="anchored EFP set of 2 055 columns"):
        AnchoredEFPConfig(degree=7)
    assert time.perf_counter() - start < 1.0  # counted, not enumerated
    # the section lifts the limit explicitly; a bad limit is named
    assert EFPConfig(degree=6, kappas=(0, 0.5, 1, 2), betas=(0.5, 1, 2), max_columns=4000).n_columns() == 3759
    assert AnchoredEFPConfig(degree=7, max_columns=2055).n_columns() == 2055
    with pytest.raises(ValueError, match="max_columns must be a positive integer"):
        EFPConfig(max_columns=0)
    # every shipped study stays within the limit
    for path in sorted(CONFIGS.glob("*.yaml")):
        Workflow.load(path)
    # a study asking for too many is refused before anything is written
    study = _study(tmp_path, {"efp": {"degree": 8, "kappas": list(range(30)), "betas": list(range(1, 31))}})
    _one_line_error(capsys, 2, ["study", "--config", str(study), "--out", str(tmp_path / "out")],
                    "processing", "max_columns = 2 000")
    assert not (tmp_path / "out").exists()
    lepton = {"lepton": {"anchored_efp": {"degree": 8}}}
    with pytest.raises(ValueError, match="anchored EFP set of 8 263 columns"):
        Workflow.load(_study(tmp_path, lepton))


# --- processing sizes ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: ProcessingConfig(n_particles=100_000), "n_particles\nValue error, must be an integer 1..2 000, got 100000"),
    (lambda: ProcessingConfig(n_tracks=5_000), "n_tracks\nValue error, must be an integer 1..2 000"),
    (lambda: ProcessingConfig(n_vertices=1_000), "n_vertices\nValue error, must be an integer 1..100"),
    (lambda: ImageConfig(n_pixels=100_000), "n_pixels\nValue error, must be an integer 3..256, got 100000"),
    (lambda: LeptonConfig(n_cells=1_000_000), "n_cells\nValue error, must be an integer 1..2 000"),
    (lambda: LeptonConfig(window=100_000), "window\nValue error, must be an integer 1..256"),
    (lambda: LeptonConfig(had_factor=64), "lepton had_factor must be an integer 1..32"),
    (lambda: ProcessingConfig(max_constituents=0), "max_constituents\nValue error, must be a positive integer"),
])
def test_processing_sizes_have_upper_limits(make, message):
    # pydantic's message: the field on one line, what is wrong with it on the next
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("\n", r"\n\s*")):
        make()


def test_chunk_table_estimate_is_checked_before_a_run(tmp_path, capsys):
    run_toy(tmp_path / "toy", 3, seed=1)
    fileset = str(tmp_path / "toy" / "fileset.json")
    out = tmp_path / "out"
    _one_line_error(capsys, 2, ["process", fileset, "--out", str(out), "--image-pixels", "300"],
                    "image.n_pixels must be an integer 3..256, got 300")
    _one_line_error(capsys, 2, ["process", fileset, "--out", str(out), "--image-pixels", "256",
                                "--chunksize", "100000"],
                    "a chunk of 100 000 events would hold about 25.5 GiB", "lower the chunk size to at most 15 701")
    assert not out.exists()
    with pytest.raises(ValueError, match="lower the chunk size"):  # the library refuses it too
        run_processing(json.loads(Path(fileset).read_text()), out, chunksize=100_000,
                       config=ProcessingConfig(image=ImageConfig(n_pixels=256)))
    with pytest.raises(ValueError, match="processing: a chunk of 1 000 000 events"):
        Workflow.load(_study(tmp_path, {"chunksize": 1_000_000}))
    assert not out.exists()


# --- a jet with thousands of constituents -------------------------------------------------------------------------

def _file_with_a_huge_jet(path: Path, n_constituents: int, n_normal: int) -> dict:
    """One event whose jet has ``n_constituents`` constituents, then ``n_normal`` toy events of 20."""
    rng = np.random.default_rng(3)
    huge = generate_chunk(ToyConfig(particles_per_subjet=n_constituents // 2), 1, 1, rng, first_event=1)
    normal = generate_chunk(ToyConfig(), 1, n_normal, rng, first_event=2)
    write_events(path, [huge, normal])
    return {"huge": {"files": {str(path): "Events"}, "metadata": {"label": 1}}}


def test_a_jet_of_thousands_of_constituents_is_skipped_and_counted(tmp_path):
    fileset = _file_with_a_huge_jet(tmp_path / "huge.root", 5000, 3)
    start = time.perf_counter()
    result = run_processing(fileset, tmp_path / "out")
    assert time.perf_counter() - start < 15  # 191 s when its substructure was computed
    counts = json.loads((tmp_path / "out" / "report.json").read_text())["counts"]["huge"]
    assert counts["jets_seen"] == 4 and counts["skipped_too_many_constituents"] == 1 and counts["jets_kept"] == 3
    assert result.counts["huge"] == counts
    # the cap is a setting: at 10 the 20-constituent jets go too; recorded where it is not the default
    result = run_processing(fileset, tmp_path / "capped", config=ProcessingConfig(max_constituents=10))
    assert result.counts["huge"]["skipped_too_many_constituents"] == 4 and result.counts["huge"]["jets_kept"] == 0
    assert result.report["config"]["max_constituents"] == 10
    assert "max_constituents" not in ProcessingConfig().as_dict()  # earlier runs' fingerprints stay the same
    study = Workflow.load(_study(tmp_path, {"max_constituents": 300}))
    assert study.processing.max_constituents == 300


def test_processing_records_read_as_earlier_versions_wrote_them():
    """A processing report records ``ProcessingConfig.as_dict()`` and a resume compares it: these records were
    written by the dataclass settings before they became pydantic models, and must come out the same."""
    written = {
        "default": '{"image": {"extent": 2.5, "fallback_scale": 0.4, "n_pixels": 37}, "min_pt": 0.0, "msd_window": '
        '[50.0, 150.0], "n_particles": 50, "n_tracks": 60, "n_vertices": 5, "substructure": {"ecf_beta": 1.0, '
        '"softdrop_beta": 0.0, "softdrop_r0": 0.8, "softdrop_zcut": 0.1, "tau_beta": 1.0, "tau_r0": 0.8}}',
        "efp": '{"efp": {"betas": [1.0, 2.0], "connected_only": false, "degree": 3, "kappas": [0.5, 1.0], '
        '"precision": "float32"}, "image": {"extent": 2.5, "fallback_scale": 0.4, "n_pixels": 33}, "min_pt": 200.0, '
        '"msd_window": [50.0, 150.0], "n_particles": 30, "n_tracks": 60, "n_vertices": 5, "substructure": '
        '{"ecf_beta": 1.0, "softdrop_beta": 0.0, "softdrop_r0": 0.8, "softdrop_zcut": 0.1, "tau_beta": 1.0, '
        '"tau_r0": 0.8}}',
    }
    configs = {
        "default": ProcessingConfig(),
        "efp": ProcessingConfig(n_particles=30, image=ImageConfig(n_pixels=33), min_pt=200.0,
                                efp=EFPConfig(degree=3, kappas=(0.5, 1), betas=(1, 2), precision="float32")),
    }
    for name, config in configs.items():
        assert json.dumps(config.as_dict(), sort_keys=True) == written[name], name
        assert ProcessingConfig.from_dict(json.loads(written[name])) == config


# --- architecture options -----------------------------------------------------------------------------------------

BAD_ARCHITECTURES = [
    ("dnn", {"hidden": [1_000_000_000]}, "hidden must be a list of at most 32 integers 1..4 096, got [1000000000]"),
    ("cnn2d", {"channels": [8, -1]}, "channels must be a list of at most 32 integers 1..4 096, got [8, -1]"),
    ("cnn1d", {"channels": "wide"}, "channels must be a list of at most 32 integers 1..4 096, got 'wide'"),
    ("cnn1d", {"hidden": [64.5]}, "hidden must be a list of at most 32 integers"),
    ("lstm", {"hidden_size": 0}, "hidden_size must be an integer 1..4 096, got 0"),
    ("in", {"depth": 1}, "depth must be an integer 2..32, got 1"),
    ("in", {"de": 2.5}, "de must be an integer 1..4 096, got 2.5"),
    ("efn", {"depth": 0}, "depth must be an integer 1..32, got 0"),
    ("pfn", {"latent": {"a": 1}}, "latent must be an integer 1..4 096, got {'a': 1}"),
    ("calo_cnn", {"dropout": 1.5}, "dropout must be a number in [0, 1), got 1.5"),
    ("dnn", {"biases": "yes"}, "biases must be true or false, got 'yes'"),
    ("cnn1d", {"channels": [4096, 4096], "hidden": [4096]}, "889 266 177 parameters, more than 50 000 000"),
]


@pytest.mark.parametrize("model, architecture, message", BAD_ARCHITECTURES)
def test_bad_architecture_options_are_refused_by_name(model, architecture, message):
    xaug = model == "dnn"
    with pytest.raises(ValueError) as caught:
        ModelConfig.from_dict({"model": model, "xaug": xaug, "architecture": architecture})
    assert f"architecture of {model!r}: {message}" in str(caught.value)


def test_long_values_are_quoted_short_and_every_option_has_a_kind():
    from xaugcol.models.architecture import OPTION_KINDS

    with pytest.raises(ValueError) as caught:
        ModelConfig.from_dict({"model": "dnn", "xaug": True, "architecture": {"hidden": list(range(1, 10_000))}})
    assert len(str(caught.value)) < 250 and str(caught.value).endswith("... (58887 characters)")
    shapes = ModelConfig._shape_arguments()
    for name, cls in MODELS.items():
        options = set(inspect.signature(cls).parameters) - shapes
        assert options <= set(OPTION_KINDS), (name, options - set(OPTION_KINDS))


def _tagger_folder(folder: Path, architecture: dict) -> Path:
    folder.mkdir(parents=True)
    model = {"model": "dnn", "xaug": True, "architecture": architecture}
    (folder / "config.yaml").write_text(yaml.safe_dump({"model": model, "seed": 0}))
    return folder


def test_bad_architecture_is_a_one_line_error_on_the_command_line(tmp_path, capsys):
    bad = [{"model": "dnn", "xaug": True, "architecture": {"hidden": [-64]}}]
    run_toy(tmp_path / "toy", 20, seed=2)  # real jet tables: before, torch raised on the architecture
    run_processing(json.loads((tmp_path / "toy" / "fileset.json").read_text()), tmp_path / "proc")
    data = tmp_path / "proc" / "jets"
    train = tmp_path / "train.yaml"
    train.write_text(yaml.safe_dump({"data": str(data), "out": str(tmp_path / "taggers"), "taggers": bad}))
    _one_line_error(capsys, 2, ["train", "--config", str(train)], "architecture of 'dnn': hidden", "[-64]")
    assert not (tmp_path / "taggers").exists()
    study = _study(tmp_path, taggers=bad)
    _one_line_error(capsys, 2, ["study", "--config", str(study), "--out", str(tmp_path / "study_out")],
                    "architecture of 'dnn': hidden", "[-64]")
    assert not (tmp_path / "study_out").exists()
    # a tagger folder written with a bad architecture: a model file error, exit 1
    folder = _tagger_folder(tmp_path / "dnn_bad", {"hidden": [1_000_000_000]})
    _one_line_error(capsys, 1, ["explain", str(data), "--taggers", str(folder), "--out", str(tmp_path / "rel")],
                    f"{folder / 'config.yaml'}: architecture of 'dnn': hidden")
    from xaugcol.models.folder import ModelFileError, load_model
    with pytest.raises(ModelFileError, match="architecture of 'dnn': hidden"):
        load_model(folder)
