"""ParticleNet models trained by weaver-core, imported as xaugcol taggers (issue 41, part 2): the same outputs as
weaver-core's own class on the same jets, the inputs computed from the jet table as its data configuration says,
clear refusals of what cannot be read, and every explanation method on the imported model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from xaugcol.errors import InputDataError, ModelFilesError
from xaugcol.features.kinds.weaver import WeaverParticlesInput
from xaugcol.features.particles import FEATURE_INDEX, FEATURES
from xaugcol.models.folder import load_model
from xaugcol.models.particlenet import ParticleNet
from xaugcol.models.registry import ModelConfig
from xaugcol.models.weaver import (
    WeaverImport,
    import_weaver,
    load_weaver_weights,
    particlenet_options,
    particlenet_state,
    read_architecture,
)

weaver_model = pytest.importorskip("weaver.nn.model.ParticleNet", reason="weaver-core is not installed")

FEATURE_VARS = [
    ["part_pt_log", 1.7, 0.7],
    ["part_e_log", 2.0, 0.7],
    ["part_logptrel", -4.7, 0.7],
    ["part_logerel", -4.7, 0.7],
    ["part_deltaR", 0.2, 4.0],
    ["part_charge", None],
    ["part_isChargedHadron", None],
    ["part_isNeutralHadron", None],
    ["part_isPhoton", None],
    ["part_isElectron", None],
    ["part_isMuon", None],
    ["part_deta", None],
    ["part_dphi", None],
]
LABELS = ["label_QCD", "label_Hbb", "label_Hcc"]


def _randomised(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Batch norms with statistics and affine parameters far from their initial values: a copy that drops one
    would show."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(0.5 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))
            m.weight.data.copy_(1 + 0.3 * torch.randn(n, generator=g))
            m.bias.data.copy_(0.3 * torch.randn(n, generator=g))
    return model.eval()


def _jets(n_jets: int, slots: int, seed: int, counts: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(jets, slots, features) random inputs, zero-padded, and their (jets, slots) mask; small jets first."""
    g = torch.Generator().manual_seed(seed)
    n = torch.randint(1, slots + 1, (n_jets,), generator=g)
    if counts:
        n[: len(counts)] = torch.tensor(counts)
    real = torch.arange(slots)[None] < n[:, None]
    return torch.randn(n_jets, slots, 5, generator=g, dtype=torch.float64) * real[..., None], real


@pytest.mark.parametrize(
    "conv, fc",
    [
        ([(7, (32, 32, 32)), (7, (64, 64, 64))], [(128, 0.1)]),  # ParticleNet-Lite
        ([(4, (8, 8)), (4, (8, 8)), (4, (16,))], [(16, 0.0), (8, 0.0)]),  # an identity shortcut, two hidden layers
    ],
)
def test_imported_particlenet_gives_weaver_cores_outputs(conv, fc) -> None:
    torch.manual_seed(0)
    theirs = _randomised(weaver_model.ParticleNet(5, 3, conv_params=conv, fc_params=fc, trim=False), 1).double()
    state = particlenet_state({f"mod.{k}": v for k, v in theirs.state_dict().items()}, "model.pt")
    architecture = read_architecture(state, "model.pt")
    assert architecture.blocks == tuple(tuple(c) for _, c in conv) and architecture.classes == 3
    assert architecture.hidden == tuple(w for w, _ in fc)
    ours = ParticleNet(n_features=5, coordinates=(0, 1), **particlenet_options(architecture, conv[0][0])).double()
    load_weaver_weights(ours, state, signal=2, background=0, where="model.pt")
    ours = ours.eval()
    # jets of 1..k particles take padded slots as neighbours in weaver-core: the mean is over k all the same
    x, real = _jets(64, 20, 2, counts=[1, 2, 3, 4, 5, 7, 8])
    with torch.no_grad():
        scores = theirs(x[..., :2].transpose(1, 2), x.transpose(1, 2), real[:, None].double())
        expected = scores[:, 2] - scores[:, 0]
        got = ours(x)
        # more padding changes nothing (weaver-core's inputs are padded to a fixed length)
        longer = ours(torch.cat([x, torch.zeros(64, 9, 5, dtype=x.dtype)], dim=1))
    assert expected.abs().max() > 0.05  # outputs that tell a wrong copy from a right one
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(longer.numpy(), expected.numpy(), rtol=0, atol=1e-10)


def test_a_weight_copied_wrong_changes_the_output() -> None:
    """The comparison above can fail: a batch norm's shift left out of the copy is seen."""
    torch.manual_seed(0)
    theirs = _randomised(weaver_model.ParticleNet(5, 2, trim=False), 3).double()
    state = dict(theirs.state_dict())
    state["edge_convs.1.bns.2.bias"] = torch.zeros_like(state["edge_convs.1.bns.2.bias"])
    ours = ParticleNet(n_features=5, coordinates=(0, 1), **particlenet_options(read_architecture(state, "m"), 7))
    load_weaver_weights(ours, state, 1, 0, "m")
    x, real = _jets(32, 20, 4)
    with torch.no_grad():
        scores = theirs(x[..., :2].transpose(1, 2), x.transpose(1, 2), real[:, None].double())
        got = ours.double().eval()(x)
    assert (got - (scores[:, 1] - scores[:, 0])).abs().max() > 1e-3


def _weaver_files(tmp_path, feature_vars=FEATURE_VARS, auto=True):
    torch.manual_seed(5)
    model = _randomised(weaver_model.ParticleNet(len(feature_vars), len(LABELS), trim=False), 6)
    torch.save({f"mod.{k}": v for k, v in model.state_dict().items()}, tmp_path / "model_best_epoch_state.pt")
    config = {
        "inputs": {
            "pf_points": {"length": 128, "vars": [["part_deta", None], ["part_dphi", None]]},
            "pf_features": {"length": 128, "vars": feature_vars},
            "pf_vectors": {"length": 128, "vars": [["part_px", None]]},
            "pf_mask": {"length": 128, "vars": [["part_mask", None]]},
        },
        "labels": {"type": "simple", "value": LABELS},
    }
    if not auto:
        config["inputs"]["pf_features"]["vars"] = [[v[0]] for v in feature_vars]
    (tmp_path / "data.auto.yaml").write_text(yaml.safe_dump(config))
    return model, tmp_path / "model_best_epoch_state.pt", tmp_path / "data.auto.yaml"


def _options(state, data, out, **changes) -> WeaverImport:
    fields = dict(state=state, data_config=data, neighbours=7, signal="label_Hbb", background="label_QCD", out=out)
    return WeaverImport(**{**fields, **changes})


def _table_rows(n_jets: int, seed: int) -> dict[str, np.ndarray]:
    """Jet-table rows: a particle list of plausible features, its mask and the jets' kinematics."""
    rng = np.random.default_rng(seed)
    n = rng.integers(2, 40, n_jets)
    n[:3] = (2, 5, 7)
    real = np.arange(50)[None] < n[:, None]
    particles = np.zeros((n_jets, 50, len(FEATURES)), np.float32)
    pt_jet = rng.uniform(300, 600, n_jets)
    fraction = rng.dirichlet(np.ones(50), n_jets)
    deta, dphi = rng.normal(0, 0.2, (2, n_jets, 50))
    columns = {
        "log_pt": np.log(fraction * pt_jet[:, None]),
        "log_pt_rel": np.log(fraction),
        "log_e": np.log(fraction * pt_jet[:, None] * 1.3),
        "deta_jet": deta,
        "dphi_jet": dphi,
        "dr_jet": np.hypot(deta, dphi),
        "charge": rng.choice([-1.0, 0.0, 1.0], (n_jets, 50)),
        "is_charged_hadron": rng.integers(0, 2, (n_jets, 50)),
        "is_photon": rng.integers(0, 2, (n_jets, 50)),
    }
    for name, values in columns.items():
        particles[..., FEATURE_INDEX[name]] = values
    particles *= real[..., None]
    eta = rng.uniform(-2, 2, n_jets)
    return {
        "particles": particles,
        "particles_mask": real,
        "pt": pt_jet,
        "eta": eta,
        "mass": rng.uniform(20, 200, n_jets),
    }


def _weaver_inputs(rows: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What weaver-core's data loader would give the model for these jets, written out from the data
    configuration: (points, features, mask), each (jets, channels, 128)."""
    p, real = rows["particles"].astype(np.float64), rows["particles_mask"]
    f = {name: p[..., k] for k, name in enumerate(FEATURES)}
    energy = np.sqrt(rows["mass"] ** 2 + (rows["pt"] * np.cosh(rows["eta"])) ** 2)
    raw = {
        "part_pt_log": f["log_pt"],
        "part_e_log": f["log_e"],
        "part_logptrel": f["log_pt_rel"],
        "part_logerel": f["log_e"] - np.log(energy)[:, None],
        "part_deltaR": f["dr_jet"],
        "part_charge": f["charge"],
        "part_isChargedHadron": f["is_charged_hadron"],
        "part_isNeutralHadron": f["is_neutral_hadron"],
        "part_isPhoton": f["is_photon"],
        "part_isElectron": f["is_electron"],
        "part_isMuon": f["is_muon"],
        "part_deta": f["deta_jet"],
        "part_dphi": f["dphi_jet"],
    }
    features = []
    for name, *standard in FEATURE_VARS:
        values = raw[name]
        if standard[0] is not None:
            values = np.clip((values - standard[0]) * standard[1], -5, 5)
        features.append(np.where(real, values, 0.0))

    def padded(channels: list[np.ndarray]) -> torch.Tensor:
        x = np.stack(channels, axis=1)  # (jets, channels, 50)
        return torch.tensor(np.pad(x, ((0, 0), (0, 0), (0, 78))), dtype=torch.float32)

    return padded([raw["part_deta"] * real, raw["part_dphi"] * real]), padded(features), padded([real * 1.0])


def test_import_explains_the_jet_table_as_weaver_core_would_score_it(tmp_path) -> None:
    model, state, data = _weaver_files(tmp_path)
    folder = import_weaver(_options(state, data, tmp_path / "tagger"))
    tagger, config, scalers = load_model(folder)
    assert config.model == "weaver-particlenet" and not scalers
    kind = config.input_kinds()[0]
    assert isinstance(kind, WeaverParticlesInput)
    assert kind.feature_names()[:2] == ["weaver:part_pt_log", "weaver:part_e_log"]
    assert config.architecture["coordinates"] == [11, 12]  # the points are among the features
    rows = _table_rows(40, 7)
    with torch.no_grad():
        ours = torch.sigmoid(tagger(torch.from_numpy(kind.tensor(rows)))).numpy()
        scores = torch.softmax(model(*_weaver_inputs(rows)), dim=1).numpy()
    expected = scores[:, 1] / (scores[:, 1] + scores[:, 0])  # P(Hbb) among Hbb and QCD
    assert np.ptp(expected) > 0.01
    np.testing.assert_allclose(ours, expected, rtol=0, atol=2e-5)
    # the configuration holds what the import read: a reload is the same tagger
    assert ModelConfig.from_dict(config.as_dict()) == config


def test_relevance_of_an_imported_model(tmp_path) -> None:
    """LRP conserves through the imported model, padding (and the k slots the model adds) gets nothing, and for
    jets of more than k particles, whose neighbours are all real, the edges and the shortcut make up every block."""
    from xaugcol.explain.edges import edge_relevance
    from xaugcol.explain.lrp import LRP, Composite, Epsilon

    _, state, data = _weaver_files(tmp_path)
    tagger, config, _ = load_model(import_weaver(_options(state, data, tmp_path / "tagger")))
    tagger = tagger.double()
    kind = config.input_kinds()[0]
    x = torch.from_numpy(kind.tensor(_table_rows(24, 8))).double()
    composite = Composite(default=Epsilon(1e-9), stabiliser=1e-12)
    result = LRP(tagger, composite)(x)
    assert float(result.conservation.residual.abs().max()) < 1e-10
    padded = ~(x != 0).any(-1)
    assert float(result.relevance[0][padded].abs().sum()) == 0.0
    assert float(result.relevance[0][~padded].abs().sum()) > 0
    blocks = edge_relevance(tagger, (x,), composite)
    big = ((~padded).sum(1) > 7).numpy()
    assert big.sum() > 10 and not big.all()
    for block in blocks:
        whole = block.relevance.sum(axis=(1, 2)) + block.shortcut.sum(axis=1)
        np.testing.assert_allclose(whole[big], block.output.sum(axis=1)[big], rtol=1e-8, atol=1e-12)
        assert np.abs(block.relevance[~block.real]).sum() == 0.0


def test_inputs_the_table_lacks_are_named(tmp_path) -> None:
    feature_vars = [*FEATURE_VARS, ["part_d0err", 0, 1, 0, 1], ["part_lostInnerHits", None]]
    _, state, data = _weaver_files(tmp_path, feature_vars)
    with pytest.raises(InputDataError, match=r"2 input\(s\).*part_d0err, part_lostInnerHits.*--inputs"):
        import_weaver(_options(state, data, tmp_path / "tagger"))
    assert not (tmp_path / "tagger").exists()
    # mapped by the user onto features that are the same quantity, the model is read
    mapping = {"part_d0err": "dxy", "part_lostInnerHits": "dz"}
    folder = import_weaver(_options(state, data, tmp_path / "tagger", inputs=mapping))
    _, config, _ = load_model(folder)
    sources = {v[0]: v[1] for v in config.input_options["weaver_particles"]["variables"]}
    assert sources["part_d0err"] == "dxy" and sources["part_logerel"] == "log_e_rel"
    with pytest.raises(InputDataError, match="no particle features"):
        import_weaver(_options(state, data, tmp_path / "other", inputs={"part_d0err": "d0_significance"}))


def test_what_cannot_be_read_is_refused_by_name(tmp_path) -> None:
    _, state, data = _weaver_files(tmp_path)
    with pytest.raises(InputDataError, match="no label 'label_H'; labels: label_QCD, label_Hbb, label_Hcc"):
        import_weaver(_options(state, data, tmp_path / "t", signal="label_H"))
    with pytest.raises(ModelFilesError, match="3 outputs, the data configuration 2 labels"):
        text = data.read_text().replace("- label_Hcc\n", "")
        (tmp_path / "two.yaml").write_text(text)
        import_weaver(_options(state, tmp_path / "two.yaml", tmp_path / "t", signal="label_Hbb"))
    (tmp_path / "plain").mkdir()
    _, _, auto = _weaver_files(tmp_path / "plain", auto=False)
    config = yaml.safe_load(auto.read_text())
    config["inputs"]["pf_features"]["vars"][0] = ["part_pt_log", "auto"]
    auto.write_text(yaml.safe_dump(config))
    with pytest.raises(InputDataError, match="'part_pt_log' has center 'auto'.*auto.yaml"):
        import_weaver(_options(state, auto, tmp_path / "t"))
    # a ParticleNetTagger's weights with a data configuration of one list
    tagger = _randomised(weaver_model.ParticleNetTagger(len(FEATURE_VARS), 3, len(LABELS), trim=False), 9)
    torch.save({f"mod.{k}": v for k, v in tagger.state_dict().items()}, tmp_path / "tagger.pt")
    with pytest.raises(ModelFilesError, match="reads 3 features per secondary vertex .* lists 0"):
        import_weaver(_options(tmp_path / "tagger.pt", data, tmp_path / "t"))
    torch.save({"fc.weight": torch.ones(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(ModelFilesError, match="no weaver-core ParticleNet weights"):
        import_weaver(_options(tmp_path / "other.pt", data, tmp_path / "t"))
    config["inputs"]["sv_features"] = {"length": 7, "vars": [["sv_pt_log", None]]}
    auto.write_text(yaml.safe_dump(config))
    with pytest.raises(InputDataError, match=r"ParticleNetTagger two .* without \['sv_points', 'sv_mask'\]"):
        import_weaver(_options(state, auto, tmp_path / "t"))
    del config["inputs"]["sv_features"]
    config["inputs"]["sv_extra"] = {"length": 7, "vars": [["sv_pt_log", None]]}
    auto.write_text(yaml.safe_dump(config))
    with pytest.raises(InputDataError, match=r"input groups \['sv_extra'\] that ParticleNet does not read"):
        import_weaver(_options(state, auto, tmp_path / "t"))
    assert not (tmp_path / "t").exists()


def test_input_options_are_checked() -> None:
    good = ["part_pt_log", "log_pt", 1.7, 0.7, -5, 5]
    other = ["b", "dz", None, 1, -5, 5]
    config = ModelConfig("weaver-particlenet", input_options={"weaver_particles": {"variables": [good, other]}})
    assert config.options_of("weaver_particles")["variables"][1][1] == "dz"
    for bad, message in [
        ({"variables": [["a", "d0", None, 1, -5, 5]]}, "unknown feature 'd0'"),
        ({"variables": [["a", "dz", float("nan"), 1, -5, 5]]}, "finite numbers"),
        ({"variables": [["a", "dz", 0, 1, 5, -5]]}, "empty clip range"),
        ({"variables": [good, good]}, "a name given twice"),
        ({"variables": []}, "must list the model's inputs"),
        ({"colour": 1}, "unknown option"),
    ]:
        with pytest.raises(ValueError, match=message):
            ModelConfig("weaver-particlenet", input_options={"weaver_particles": bad})
    with pytest.raises(ValueError, match="imported from elsewhere"):
        ModelConfig("weaver-particlenet")  # not trained here: its inputs come with the import
    with pytest.raises(ValueError, match="take no options"):
        ModelConfig("particlenet", input_options={"particles": {"variables": []}})
    with pytest.raises(ValueError, match="not among the tagger's inputs"):
        ModelConfig("particlenet", input_options={"image": {}})


VERTEX_VARS = [
    ["sv_pt_log", 4.0, 0.6],
    ["sv_mass", 1.2, 0.3],
    ["sv_ntracks", 3, 1],
    ["sv_normchi2", None],
    ["sv_dxy", 0.2, 1.0],
    ["sv_dxysig", 7, 0.1],
    ["sv_d3dsig", 7, 0.1],
    ["sv_costhetasvpv", None],
]


def _tagger_files(tmp_path):
    """A weaver-core ParticleNetTagger (particles and secondary vertices) as weaver-core saves it, with its data
    configuration: the vertices' coordinates are not among their features."""
    torch.manual_seed(7)
    model = _randomised(
        weaver_model.ParticleNetTagger(len(FEATURE_VARS), len(VERTEX_VARS), len(LABELS), trim=False), 8
    )
    torch.save({f"mod.{k}": v for k, v in model.state_dict().items()}, tmp_path / "tagger_state.pt")
    config = {
        "inputs": {
            "pf_points": {"length": 100, "vars": [["part_deta", None], ["part_dphi", None]]},
            "pf_features": {"length": 100, "vars": FEATURE_VARS},
            "pf_mask": {"length": 100, "vars": [["part_mask", None]]},
            "sv_points": {"length": 7, "vars": [["sv_etarel", None], ["sv_phirel", None]]},
            "sv_features": {"length": 7, "vars": VERTEX_VARS},
            "sv_mask": {"length": 7, "vars": [["sv_mask", None]]},
        },
        "labels": {"type": "simple", "value": LABELS},
    }
    (tmp_path / "tagger.auto.yaml").write_text(yaml.safe_dump(config))
    return model, tmp_path / "tagger_state.pt", tmp_path / "tagger.auto.yaml"


def _vertex_rows(rows: dict, seed: int) -> dict:
    """The secondary-vertex list of the same jets: 0 to 5 vertices each."""
    from xaugcol.features.vertices import FEATURES as VERTEX_FEATURES

    rng = np.random.default_rng(seed)
    n_jets = len(rows["pt"])
    n = rng.integers(0, 6, n_jets)
    n[:4] = (0, 1, 2, 5)
    real = np.arange(5)[None] < n[:, None]
    values = {
        "pt": rng.uniform(5, 200, (n_jets, 5)), "mass": rng.uniform(0.3, 5, (n_jets, 5)),
        "etarel": rng.normal(0, 0.3, (n_jets, 5)), "phirel": rng.normal(0, 0.3, (n_jets, 5)),
        "ntracks": rng.integers(2, 8, (n_jets, 5)), "normchi2": rng.uniform(0, 5, (n_jets, 5)),
        "dxy": rng.uniform(0, 2, (n_jets, 5)), "dxysig": rng.uniform(0, 100, (n_jets, 5)),
        "d3dsig": rng.uniform(0, 100, (n_jets, 5)), "costhetasvpv": rng.uniform(0.9, 1, (n_jets, 5)),
    }
    vertices = np.zeros((n_jets, 5, len(VERTEX_FEATURES)), np.float32)
    for name, v in values.items():
        vertices[..., VERTEX_FEATURES.index(name)] = v
    vertices *= real[..., None]
    return {**rows, "vertices": vertices, "vertices_mask": real}


def _weaver_vertex_inputs(rows: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The secondary-vertex inputs as weaver-core's loader would give them, written out: (points, features,
    mask), each (jets, channels, 7)."""
    from xaugcol.features.vertices import FEATURES as VERTEX_FEATURES

    v, real = rows["vertices"].astype(np.float64), rows["vertices_mask"]
    f = {name: v[..., k] for k, name in enumerate(VERTEX_FEATURES)}
    raw = {"sv_pt_log": np.log(np.where(real, f["pt"], 1.0)), **{f"sv_{k}": x for k, x in f.items()}}
    features = []
    for name, *standard in VERTEX_VARS:
        values = raw[name]
        if standard[0] is not None:
            values = np.clip((values - standard[0]) * standard[1], -5, 5)
        features.append(np.where(real, values, 0.0))

    def padded(channels: list[np.ndarray]) -> torch.Tensor:
        return torch.tensor(np.pad(np.stack(channels, axis=1), ((0, 0), (0, 0), (0, 2))), dtype=torch.float32)

    return padded([f["etarel"] * real, f["phirel"] * real]), padded(features), padded([real * 1.0])


def test_an_imported_particlenet_tagger_scores_particles_and_vertices_as_weaver_core(tmp_path) -> None:
    model, state, data = _tagger_files(tmp_path)
    folder = import_weaver(_options(state, data, tmp_path / "tagger"))
    tagger, config, _ = load_model(folder)
    assert config.model == "weaver-particlenet-tagger"
    assert config.architecture["vertex_coordinates"] == [len(VERTEX_VARS), len(VERTEX_VARS) + 1]  # appended
    particles, vertices = config.input_kinds()
    assert vertices.feature_names()[-2:] == ["weaver:sv_etarel", "weaver:sv_phirel"]
    rows = _vertex_rows(_table_rows(40, 9), 10)
    with torch.no_grad():
        x = (torch.from_numpy(particles.tensor(rows)), torch.from_numpy(vertices.tensor(rows)))
        ours = torch.sigmoid(tagger(*x)).numpy()
        scores = torch.softmax(model(*_weaver_inputs(rows), *_weaver_vertex_inputs(rows)), dim=1).numpy()
    expected = scores[:, 1] / (scores[:, 1] + scores[:, 0])
    assert np.ptp(expected) > 0.01
    np.testing.assert_allclose(ours, expected, rtol=0, atol=2e-5)
    # LRP conserves through both embeddings; padded vertices and jets without vertices take nothing
    from xaugcol.explain.lrp import LRP, Composite, Epsilon

    result = LRP(tagger.double(), Composite(default=Epsilon(1e-9), stabiliser=1e-12))(*(t.double() for t in x))
    assert float(result.conservation.residual.abs().max()) < 1e-10
    no_vertex = ~(x[1] != 0).any(-1)
    assert float(result.relevance[1][no_vertex].abs().sum()) == 0.0
    assert float(result.relevance[1][~no_vertex].abs().sum()) > 0


def test_import_explain_and_report_from_the_command_line(tmp_path) -> None:
    """The whole path a user takes: toy jets processed, a weaver-core model imported, explained with edges and
    activations, and reported; the report lists the imported tagger without test metrics of its own."""
    from xaugcol.cli import main
    from xaugcol.coffea_runs import run_processing
    from xaugcol.processing.coffea_runner import load_fileset
    from xaugcol.sources.toy import run_toy

    run_toy(tmp_path / "gen", 200, seed=3)
    run_processing(load_fileset(tmp_path / "gen" / "fileset.json"), tmp_path / "proc", chunksize=400)
    _, state, data = _weaver_files(tmp_path)
    args = ["import-weaver", str(state), "--data-config", str(data), "--neighbours", "7",
            "--signal", "label_Hbb", "--background", "label_QCD", "--out", str(tmp_path / "pn")]
    assert main(args) == 0
    assert main([*args[:-1], str(tmp_path / "pn")]) == 2  # a tagger folder is not overwritten
    assert main(["explain", str(tmp_path / "proc"), "--taggers", str(tmp_path / "pn"), "--out", str(tmp_path / "rel"),
                 "--rules", "epsilon", "--edges", "--activations", "--occlusion-fraction", "0.5",
                 "--split", "all"]) == 0
    record = json.loads((tmp_path / "rel" / "relevance.json").read_text())
    assert record["relevance"]["pn"]["epsilon"]["ranking"][0].startswith("weaver:")
    assert set(record["edges"]["pn"]["epsilon"]) == {"body.0", "body.1"}
    assert main(["report", str(tmp_path / "rel"), "--out", str(tmp_path / "report"), "--examples", "1"]) == 0
    html = (tmp_path / "report" / "index.html").read_text()
    assert "imported (weaver-core): not trained or tested here" in html
    assert "The relevance of ParticleNet&#x27;s edges" in html or "The relevance of ParticleNet's edges" in html


def test_edges_of_jets_in_a_table_of_fewer_slots_than_neighbours(tmp_path) -> None:
    """A table of 6 particle slots, k = 7: every particle takes padded slots beyond the table's as neighbours (the
    model adds k), and its edges are still summarised against the table's particles (the padded ones as not real)."""
    from xaugcol.explain.edges import explain_edges, fill, histograms, patterns
    from xaugcol.explain.lrp import LRP, Composite, Epsilon

    _, state, data = _weaver_files(tmp_path)
    tagger, config, _ = load_model(import_weaver(_options(state, data, tmp_path / "tagger")))
    rows = _table_rows(12, 11)
    rows = {**rows, "particles": rows["particles"][:, :6], "particles_mask": rows["particles_mask"][:, :6]}
    x = torch.from_numpy(config.input_kinds()[0].tensor(rows))
    lrp = LRP(tagger, Composite(default=Epsilon(1e-9), stabiliser=1e-12))
    blocks, _ = explain_edges(tagger, lrp, (x,), 64)
    hists = histograms("pn", ["epsilon"], [0, 1])
    fill(hists, "pn", "epsilon", 0, blocks, rows["particles"], np.arange(12) % 2)
    assert set(patterns(hists, "pn")["epsilon"]) == {"body.0", "body.1"}
    for block in blocks:
        assert block.index.max() < 6  # neighbours beyond the table's slots: padding, named by a slot it has
        real = rows["particles_mask"]
        assert block.real.sum() == sum(int(n) * (int(n) - 1) for n in real.sum(1))  # every pair of real ones
