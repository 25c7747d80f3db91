"""The extension points: a new input kind and a new tagger plug in without touching the toolkit; explanation
methods behind one interface (gradient x input against LRP-0, composites written as data)."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.lrp import LRP, Composite, Epsilon, Gamma, Z
from xaugcol.explain.methods import GradientXInput, method_spec, method_specs
from xaugcol.explain.options import ExplainOptions
from xaugcol.explain.relevance import explain_rows, explainers
from xaugcol.features.kinds import KINDS, InputKind, ProfileEntries, register
from xaugcol.features.kinds.objects import ObjectListInput
from xaugcol.models.registry import MODELS, ModelConfig, build_model, trainable_models
from xaugcol.models.taggers import CNN2D, XAUGDNN, Tagger
from xaugcol.processing.jet_table import ProcessingConfig
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.processing.table_io import read_tables
from xaugcol.sources.toy import run_toy
from xaugcol.training.data import model_inputs
from xaugcol.training.train import TrainConfig, train_ensemble


@dataclass(frozen=True)
class SubjetInput(InputKind):
    """A kind written as a user would: the two softdrop prongs as objects with (pt, eta) each."""
    name = "subjets"

    @classmethod
    def from_config(cls, config):
        return cls()

    def columns(self):
        return ("sj1_pt", "sj2_pt", "sj1_eta", "sj2_eta")

    def tensor(self, rows, transform=None):
        pt = np.stack([rows["sj1_pt"], rows["sj2_pt"]], axis=1) / 1000.0
        eta = np.stack([rows["sj1_eta"], rows["sj2_eta"]], axis=1)
        return np.stack([pt, eta], axis=2).astype(np.float32)  # (jets, 2 prongs, 2 features)

    def model_arguments(self):
        return {"n_prong_features": 2}

    def feature_names(self):
        return ["subjet:pt", "subjet:eta"]

    def feature_sums(self, relevance, signed=False):
        return (relevance if signed else np.abs(relevance)).sum(axis=1)

    def binning(self, feature):
        return {"subjet:pt": (20, 0.0, 1.5, "prong pT [TeV]"), "subjet:eta": (20, -3.0, 3.0, "prong eta")}[feature]

    def profile_entries(self, rows, relevance):
        x = self.tensor(rows)
        jet = np.repeat(np.arange(len(x)), 2)
        return [ProfileEntries(f, x[:, :, k].ravel(), relevance[:, :, k].ravel(), jet)
                for k, f in enumerate(self.feature_names())]


class ProngNet(Tagger):
    """A tagger on the new kind: a dense layer per prong, summed over prongs."""
    input_kinds = ("subjets",)

    def __init__(self, n_prong_features: int = 2, n_xaug: int = 0, use_xaug: bool = False, hidden: list = (8,),
                 dropout: float = 0.0):
        super().__init__(nn.Sequential(nn.Linear(n_prong_features, 8), nn.ReLU()), 8, n_xaug, use_xaug,
                         list(hidden), dropout)

    def features(self, x):
        return self.body(x).sum(dim=1)


@pytest.fixture()
def subjet_kind():
    register(SubjetInput)
    MODELS["prongnet"] = ProngNet
    yield
    KINDS.pop("subjets")
    MODELS.pop("prongnet")


@pytest.fixture(scope="module")
def jets(tmp_path_factory):
    out = tmp_path_factory.mktemp("ext")
    run_toy(out / "gen", 300, seed=21)
    run_processing(load_fileset(out / "gen" / "fileset.json"), out / "proc")
    return out / "proc" / "jets"


def test_a_new_input_kind_and_tagger_flow_through_training_and_explaining(subjet_kind, jets, tmp_path):
    config = ModelConfig("prongnet", xaug=True, xaug_columns=("msd", "tau21"))
    assert config.inputs() == ("subjets", "xaug") and config.joins_xaug
    assert [type(k).__name__ for k in config.input_kinds()] == ["SubjetInput", "XAUGInput"]
    train_ensemble(str(jets), config, TrainConfig(epochs=1, batch_size=64), [0], str(tmp_path / "prong"))
    ensemble = Ensemble.load(tmp_path / "prong")
    assert ensemble.spec.inputs == ("subjets", "xaug")
    table = read_tables(jets)
    rows = {k: np.asarray(table[k].to_numpy()) for k in table.fields if k != "dataset"}
    methods = method_specs(["epsilon", "gradient_x_input"])
    hists, counts, _ = explain_rows(rows, ensemble, explainers(ensemble, methods), methods, ProcessingConfig(),
                                    ExplainOptions(split="all", faithfulness_steps=10))
    assert counts["jets_selected"] == len(rows["label"])
    features = list(hists["features/prong"].axes["feature"])
    assert features == ["subjet:pt", "subjet:eta", "msd", "tau21"]
    # two prongs per jet: the profile of the new kind holds two entries per explained jet and method
    explained = hists["jets/prong"].values().sum()
    assert hists["profile/prong/subjet:pt"].values().sum() == pytest.approx(2 * explained)
    assert list(hists["pairs/prong"].axes["pair"]) == ["msd__tau21"]  # the XAUG kind keeps its pairs
    # the tensor the tagger saw is the kind's, and LRP explains the tagger
    seed, model, scalers = ensemble.load_members()[0]
    inputs = model_inputs(rows, ensemble.spec, scalers)
    assert inputs["subjets"].shape == (len(rows["label"]), 2, 2)
    e = LRP(model, "epsilon")(*[torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs])
    assert e.conservation.relative_residual().max() < 1e-4


def test_taggers_declare_their_kinds_once():
    assert CNN2D.input_kinds == ("image",) and XAUGDNN.input_kinds == ("xaug",)
    assert ModelConfig("cnn2d", xaug=True).inputs() == ("image", "xaug")
    assert ModelConfig("dnn", xaug=True).inputs() == ("xaug",) and not ModelConfig("dnn", xaug=True).joins_xaug
    # shapes come from the kinds: an image shape sets the CNN's pixels
    model = build_model(ModelConfig("cnn2d", shapes={"image": [13, 13]}, architecture={"channels": [2, 2]}))
    assert model(torch.rand(3, 1, 13, 13)).shape == (3,)
    with pytest.raises(ValueError, match="shapes.image: an image is square"):
        ModelConfig("cnn2d", shapes={"image": [13, 12]})
    # a configuration written before kinds held the shapes reads the same
    old = ModelConfig.from_dict({"model": "cnn1d", "n_particles": 30, "n_features": 17, "n_pixels": 21})
    assert old.shapes == {"particles": (30, 17), "image": (21, 21)}
    with pytest.raises(ValueError, match="unknown tagger input kind 'calorimeter_cells'"):
        ModelConfig("cnn2d", shapes={"calorimeter_cells": [10, 4]})


def _relu_net(bias: bool):
    torch.manual_seed(3)
    layers = [nn.Conv1d(5, 6, 3, padding=1, bias=bias), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 8, 7, bias=bias),
              nn.ReLU(), nn.Linear(7, 1, bias=bias)]
    return nn.Sequential(*layers).double().eval()


def test_gradient_x_input_equals_lrp_zero_on_relu_networks():
    """Ancona et al. (2018): for ReLU networks, LRP-0 (epsilon -> 0) and gradient x input are the same map."""
    model = _relu_net(bias=True)
    x = torch.randn(16, 5, 8, dtype=torch.float64)
    gxi = GradientXInput(model)(x, batch_size=5)
    lrp = LRP(model, "z")(x)
    torch.testing.assert_close(gxi.relevance[0], lrp.relevance[0], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(gxi.output, lrp.output.reshape(-1))
    # without biases the network is positively homogeneous: gradient x input is complete (nothing absorbed)
    bare = _relu_net(bias=False)
    a = GradientXInput(bare)(x)
    assert float(a.absorbed.abs().max()) < 1e-10 * float(a.output.abs().max())
    # with biases, what is absorbed is what the biases contribute: the same as LRP-0's bias share
    torch.testing.assert_close(gxi.absorbed, lrp.conservation.bias + lrp.conservation.stabiliser, rtol=1e-7,
                               atol=1e-10)


def _random_inputs(config: ModelConfig, model, n: int = 6) -> list[torch.Tensor]:
    """Inputs of the shapes the tagger's kinds declare (double precision); object lists (particles, tracks,
    vertices) hold jets of 1 to all objects, zeros (padding) after them."""
    args = {k: v for kind in config.input_kinds() for k, v in kind.model_arguments().items()}
    kinds = {kind.name: kind for kind in config.input_kinds()}
    out = []
    for name in model.inputs():
        kind = kinds[name]
        if isinstance(kind, ObjectListInput):
            x = torch.randn(n, kind.n_objects, kind.n_features, dtype=torch.float64)
            counts = torch.arange(n) * x.shape[1] // n + 1
            x *= (torch.arange(x.shape[1])[None, :] < counts[:, None]).unsqueeze(-1)
        elif name in ("image", "calo"):
            x = torch.randn(n, args.get("n_channels", 1), args["n_pixels"], args["n_pixels"], dtype=torch.float64)
        else:
            x = torch.randn(n, args["n_xaug"], dtype=torch.float64)
        out.append(x)
    return out


def test_lrp_zero_equals_gradient_x_input_on_every_relu_tagger():
    """The identity on the taggers themselves (batch norm with non-trivial statistics, max pooling, the XAUG join,
    the 1D CNN's padding mask, with and without its batch norms): every registered tagger without a recurrence,
    with and without XAUG."""
    checked = []
    for name, architecture in [(n, {}) for n in trainable_models()] + [("cnn1d", {"batch_norms": False})]:
        for xaug in (False, True):
            if (name == "dnn" and not xaug) or name == "efn":
                continue  # the EFN multiplies two signals (its energy gate): LRP gives the gate no share, by design
            config = ModelConfig(name, xaug=xaug, architecture=architecture,
                                 shapes={"tracks": [8, 30]} if name == "in" else {})
            torch.manual_seed(5)
            model = build_model(config).double()
            if any(isinstance(m, nn.LSTM) for m in model.modules()):
                continue  # sigmoid and tanh gates: not a ReLU network
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.data.uniform_(0.5, 1.5)
                    if m.bias is not None:  # a scale-only norm (bias-free ParticleNet) has no mean and no shift
                        m.running_mean.uniform_(-0.5, 0.5)
                        m.bias.data.uniform_(-0.2, 0.2)
            model.eval()
            x = _random_inputs(config, model)
            gxi = GradientXInput(model)(*x)
            lrp = LRP(model, Composite(default=Z(), stabiliser=1e-15))(*x)  # sums (the IN's) without a stabiliser
            for g, r in zip(gxi.relevance, lrp.relevance):
                scale = float(g.abs().max())
                assert scale > 0
                torch.testing.assert_close(g, r, rtol=1e-7, atol=1e-9 * scale)
            checked.append((name, xaug))
    assert sorted(checked) == [("calo_cnn", False), ("calo_cnn", True), ("cnn1d", False), ("cnn1d", False),
                               ("cnn1d", True), ("cnn1d", True), ("cnn2d", False), ("cnn2d", True), ("dnn", True),
                               ("in", False), ("in", True), ("particlenet", False), ("particlenet", True),
                               ("pfn", False), ("pfn", True)]


def test_composites_written_as_data_reach_the_attributor():
    spec = method_spec({"name": "conv_gamma", "composite": {"default": "epsilon",
                                                             "layers": {"conv": {"rule": "gamma", "gamma": 0.5}}}})
    assert spec.method == "lrp" and spec.name == "conv_gamma"
    model = _relu_net(bias=True)
    attributor = spec.attributor(model)
    rules = attributor.lrp.rules
    assert isinstance(rules["0"], Gamma) and rules["0"].gamma == 0.5 and isinstance(rules["3"], Epsilon)
    # the same composite as a Python object gives the same relevance
    x = torch.randn(4, 5, 8, dtype=torch.float64)
    python = method_spec(Composite(default=Epsilon(), layers={"conv": Gamma(0.5)}), name="conv_gamma")
    torch.testing.assert_close(python.attributor(model)(x).relevance[0], attributor(x).relevance[0])
    with pytest.raises(ValueError, match="unknown rule 'gama'"):
        method_spec({"name": "bad", "composite": {"default": "gama"}})
    with pytest.raises(ValueError, match="needs a 'name'"):
        method_spec({"composite": {"default": "epsilon"}})
    with pytest.raises(ValueError, match="unique"):
        method_specs(["epsilon", {"name": "epsilon", "method": "gradient_x_input"}])
    with pytest.raises(ValueError, match="not a plain name"):
        method_spec({"name": "../x", "method": "gradient_x_input"})


def test_all_pairs_in_one_histogram_bin_as_their_value_axes():
    """Every pair of XAUG variables is filled into one histogram on bin indices; a pair taken out of it equals the
    pair filled directly on its value axes (edges, under- and overflow included)."""
    import hist

    from xaugcol.explain.histograms import PAIR_BINS, _value_axis, pair_histograms, tagger_histograms
    from xaugcol.explain.histograms import fill_relevance
    from xaugcol.features.kinds.xaug import XAUGInput

    kind = XAUGInput(("msd", "tau21", "n2"))
    rng = np.random.default_rng(4)
    n = 2000
    rows = {"label": rng.integers(0, 2, n), "msd": rng.uniform(-50, 350, n), "tau21": rng.uniform(-0.2, 1.2, n),
            "n2": rng.uniform(0, 0.6, n)}
    _, lo, hi, _ = kind.binning("msd")
    rows["msd"][:4] = [lo, hi, lo + (hi - lo) / PAIR_BINS, hi - 1e-9]  # on the edges
    r = rng.uniform(-1, 1, (n, 3))
    hists = tagger_histograms("t", (kind,), ("epsilon",), ProcessingConfig())
    fill_relevance(hists, "t", "epsilon", 0, (kind,), rows, {"xaug": r}, np.abs(r), ProcessingConfig())
    got, got_jets = pair_histograms(hists, "t", ("msd", "n2"), (kind,))
    direct = hist.Hist(hist.axis.IntCategory([0, 1], name="label"), _value_axis(kind, "msd", PAIR_BINS),
                       _value_axis(kind, "n2", PAIR_BINS), storage=hist.storage.Double())
    from xaugcol.explain.histograms import quantise
    direct.fill(label=rows["label"], msd=rows["msd"], n2=rows["n2"], weight=quantise(r)[:, 0] + quantise(r)[:, 2])
    np.testing.assert_array_equal(got[{"rule": "epsilon"}].view(flow=True), direct.view(flow=True))
    assert got_jets[{"rule": "epsilon"}].values(flow=True).sum() == n
    assert got.axes[2].edges[0] == lo and got.axes[2].edges[-1] == hi
