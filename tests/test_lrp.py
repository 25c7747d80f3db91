"""The LRP engine against zennit (identical weights, float64), against a numpy implementation of Arras et al.'s LSTM
formulas, and against conservation on models holding every supported layer type."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from lrp_reference import (SingleInput, import_zennit, interaction_network_gamma, randomise_batch_norms,
                           zennit_relevance)
from torch import nn

from xaugcol.explain.lrp import (LRP, AlphaBeta, Composite, Epsilon, Flat, Gamma, LRPUnsupportedError,
                                 SignalTakeAll, WSquare, Z, ZBox, ZPlus, preset)
from xaugcol.explain.lrp.facts import LayerFacts
from xaugcol.layers import MaskedReLU
from xaugcol.models.interaction import InteractionNetwork
from xaugcol.models.taggers import CNN1D, CNN2D, XAUGDNN, LSTMTagger

@pytest.fixture(autouse=True)
def _float64():
    """float64 in every test of this module: the comparisons are to 1e-6 relative."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _tagger(kind: str, seed: int = 1):
    """A tagger with XAUG inputs, random weights and batch-norm statistics, its inputs (within the z-box bounds
    returned too), and the name of its input layer. With biases in every layer and the 1D CNN's batch norms (the
    architecture options that are hardest on LRP; the defaults drop them)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n = 6
    if kind == "cnn2d":
        model = CNN2D(n_pixels=12, n_xaug=4, use_xaug=True, channels=[4, 4, 4], hidden=[16, 16], biases=True)
        inputs = (torch.rand(n, 1, 12, 12, generator=gen), torch.randn(n, 4, generator=gen).clamp(-3, 3))
        first, bounds = "body.0", (0.0, 1.0)
    elif kind == "cnn1d":
        model = CNN1D(n_particles=8, n_features=5, n_xaug=4, use_xaug=True, channels=[6, 6], hidden=[16],
                      batch_norms=True, biases=True)
        inputs = (_padded(torch.randn(n, 8, 5, generator=gen).clamp(-3, 3), [8, 5, 3, 1, 8, 6]),
                  torch.randn(n, 4, generator=gen).clamp(-3, 3))
        first, bounds = "body.0", (-3.0, 3.0)
    else:
        model = XAUGDNN(n_xaug=4, hidden=[16, 16], biases=True)
        inputs = (torch.randn(n, 4, generator=gen).clamp(-3, 3),)
        first, bounds = "head.0", (-3.0, 3.0)
    model = randomise_batch_norms(model.double(), gen).eval()
    for m in model.modules():
        # zennit's canonizer turns a merged batch norm into x / sqrt(1 + eps) (it resets the variance to 1 but
        # keeps eps), so with eps > 0 it explains a model scaled by ~(1 - eps/2) per batch norm: 1e-5 off
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eps = 0.0
    return model, inputs, first, bounds


def _padded(particles: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Particle lists with ``counts`` real particles per jet and zeros (padding) after them."""
    slots = torch.arange(particles.shape[1])[None, :]
    return particles * (slots < torch.tensor(counts)[:, None]).unsqueeze(-1).to(particles.dtype)


def _linear_names(model):
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]


# (ours everywhere-or-first, zennit's equivalent, where): "all" = every dense/conv layer, "first" = input layer only
def _rule_pairs(bounds):
    z = import_zennit().rules
    low, high = bounds
    return {
        "epsilon": (Epsilon(1e-6), z.Epsilon(1e-6), "all"),
        "epsilon-0.1": (Epsilon(0.1), z.Epsilon(0.1), "all"),
        "gamma": (Gamma(0.25), z.Gamma(0.25), "all"),
        "alpha2beta1": (AlphaBeta(2, 1), z.AlphaBeta(2, 1), "all"),
        "alpha1beta0": (AlphaBeta(1, 0), z.AlphaBeta(1, 0), "all"),
        "zplus": (ZPlus(), z.ZPlus(zero_params=["bias"]), "all"),
        "zbox": (ZBox(low, high), z.ZBox(low, high), "first"),
        "flat": (Flat(), z.Flat(), "first"),
        "wsquare": (WSquare(), z.WSquare(zero_params=["bias"]), "first"),
    }


@pytest.mark.parametrize("kind", ["cnn2d", "cnn1d", "dnn"])
@pytest.mark.parametrize("rule", ["epsilon", "epsilon-0.1", "gamma", "alpha2beta1", "alpha1beta0", "zplus", "zbox",
                                  "flat", "wsquare"])
def test_matches_zennit(kind, rule):
    model, inputs, first, bounds = _tagger(kind)
    ours_rule, their_rule, where = _rule_pairs(bounds)[rule]
    z = import_zennit().rules
    names = _linear_names(model)
    if where == "all":
        composite = Composite(default=ours_rule)
        name_map = [(tuple(f"tagger.{n}" for n in names), their_rule)]
    else:
        composite = Composite(default=Epsilon(1e-6), first=ours_rule)
        rest = tuple(f"tagger.{n}" for n in names if n != first)
        name_map = [((f"tagger.{first}",), their_rule), (rest, z.Epsilon(1e-6))]
    result = LRP(model, composite)(*inputs)
    assert LRP(model, composite).rules[first] is ours_rule  # the first-layer rule landed on the input layer

    single = SingleInput(model, [tuple(x.shape[1:]) for x in inputs])
    theirs = zennit_relevance(single, SingleInput.flatten(inputs), name_map)
    ours = SingleInput.flatten(result.relevance)
    scale = theirs.abs().max()
    assert scale > 0
    assert float((ours - theirs).abs().max() / scale) < 1e-6, rule
    # and the relevance is not trivially the same for every rule: it depends on the rule
    other = LRP(model, Composite(default=Epsilon(0.5)))(*inputs)
    assert float((SingleInput.flatten(other.relevance) - ours).abs().max() / scale) > 1e-3


def test_forward_of_lrp_is_the_model_with_batch_norm_merged():
    for kind in ("cnn2d", "cnn1d", "dnn"):
        model, inputs, _, _ = _tagger(kind, seed=3)
        result = LRP(model, "epsilon")(*inputs)
        torch.testing.assert_close(result.output, model(*inputs).detach(), rtol=1e-12, atol=1e-12)


# -- LSTM: Arras et al. --------------------------------------------------------------------------------------------

def _arras_reference(w_ih, w_hh, bias, w_out, x, eps, bias_factor):
    """Arras et al. (2017) LRP for one sequence in numpy, as messages between units: every neuron j shares its
    relevance over the N units feeding it, R_{i<-j} = (z_ij + bias_factor (b_j + eps sign z_j) / N) / (z_j + eps
    sign z_j) R_j. torch's gate order (i, f, g, o); zero initial state; output = w_out . h_T (LRP-0)."""
    steps, n_in = x.shape
    hidden = w_hh.shape[1]
    h = np.zeros((steps, hidden))
    c = np.zeros((steps, hidden))
    gates = np.zeros((steps, 4 * hidden))
    for t in range(steps):
        h_prev = h[t - 1] if t > 0 else np.zeros(hidden)
        c_prev = c[t - 1] if t > 0 else np.zeros(hidden)
        pre = w_ih @ x[t] + w_hh @ h_prev + bias
        i, f = 1 / (1 + np.exp(-pre[:hidden])), 1 / (1 + np.exp(-pre[hidden:2 * hidden]))
        g, o = np.tanh(pre[2 * hidden:3 * hidden]), 1 / (1 + np.exp(-pre[3 * hidden:]))
        gates[t] = pre
        c[t] = f * c_prev + i * g
        h[t] = o * np.tanh(c[t])
    output = float(w_out @ h[-1])

    def messages(z_in, z_out, b, r_out, n_units):
        """z_in: (in, out) contributions; returns relevance per input unit."""
        sign = np.where(z_out >= 0, 1.0, -1.0)
        numer = z_in + bias_factor * (b + eps * sign)[None, :] / n_units
        return (numer / (z_out + eps * sign)[None, :] * r_out[None, :]).sum(1)

    r_h = np.zeros((steps, hidden))
    r_c = np.zeros((steps, hidden))
    r_x = np.zeros((steps, n_in))
    r_h[-1] = w_out * h[-1]  # LRP-0 on the output layer, R_out = output
    w_ig, w_hg = w_ih[2 * hidden:3 * hidden], w_hh[2 * hidden:3 * hidden]
    b_g = bias[2 * hidden:3 * hidden]
    for t in reversed(range(steps)):
        r_c[t] += r_h[t]
        i = 1 / (1 + np.exp(-gates[t, :hidden]))
        f = 1 / (1 + np.exp(-gates[t, hidden:2 * hidden]))
        g = np.tanh(gates[t, 2 * hidden:3 * hidden])
        # cell sum, neuron by neuron: units feeding c_j are c_{t-1,j} and g_j (g_j alone at t = 0)
        if t > 0:
            z_in = np.zeros((2 * hidden, hidden))
            z_in[np.arange(hidden), np.arange(hidden)] = f * c[t - 1]
            z_in[hidden + np.arange(hidden), np.arange(hidden)] = i * g
            n_units = np.full(hidden, 2.0)
        else:
            z_in = np.zeros((hidden, hidden))
            z_in[np.arange(hidden), np.arange(hidden)] = i * g
            n_units = np.ones(hidden)
        sign = np.where(c[t] >= 0, 1.0, -1.0)
        feeds = np.zeros(z_in.shape, dtype=bool)
        feeds[np.arange(hidden), np.arange(hidden)] = True
        if t > 0:
            feeds[hidden + np.arange(hidden), np.arange(hidden)] = True
        numer = z_in + feeds * (bias_factor * eps * sign / n_units)[None, :]
        r_units = (numer / (c[t] + eps * sign)[None, :] * r_c[t][None, :]).sum(1)
        if t > 0:
            r_c[t - 1] += r_units[:hidden]
            r_g = r_units[hidden:]
        else:
            r_g = r_units
        # g's pre-activation: inputs x_t and h_{t-1}
        if t > 0:
            h_in = np.concatenate([x[t], h[t - 1]])
            w = np.concatenate([w_ig, w_hg], axis=1)
        else:
            h_in, w = x[t], w_ig
        r_in = messages(w.T * h_in[:, None], gates[t, 2 * hidden:3 * hidden], b_g, r_g, len(h_in))
        r_x[t] = r_in[:n_in]
        if t > 0:
            r_h[t - 1] += r_in[n_in:]
    return r_x, output


@pytest.mark.parametrize("biases", [True, False])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("redistribute", [False, True])
def test_lstm_matches_arras_reference(redistribute, padded, biases):
    """The padding-aware LSTM explains each jet as the recurrence over its real particles alone (softest first):
    Arras et al.'s formulas on that sequence, and exactly zero on the padded slots; with and without biases."""
    torch.manual_seed(5)
    model = LSTMTagger(n_features=5, hidden_size=6, hidden=[], biases=biases).double().eval()
    with torch.no_grad():
        model.head[0].bias.zero_()
    counts = [7, 4, 1] if padded else [7, 7, 7]
    particles = _padded(torch.randn(3, 7, 5), counts)
    eps = 1e-3
    composite = Composite(default=Z(), lstm=SignalTakeAll(epsilon=eps, redistribute_bias=redistribute))
    result = LRP(model, composite)(particles)
    lstm = model.body
    w_ih, w_hh = lstm.weight_ih_l0.detach().numpy(), lstm.weight_hh_l0.detach().numpy()
    bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy() if biases else np.zeros(4 * 6)
    w_out = model.head[0].weight.detach().numpy()[0]
    for k, n in enumerate(counts):
        seq = torch.flip(particles[k, :n], dims=[0]).numpy()  # the tagger feeds the softest real particle first
        r_ref, out_ref = _arras_reference(w_ih, w_hh, bias, w_out, seq, eps, 1.0 if redistribute else 0.0)
        ours = torch.flip(result.relevance[0][k, :n], dims=[0]).numpy()
        assert result.output[k].item() == pytest.approx(out_ref, rel=1e-10)
        np.testing.assert_allclose(ours, r_ref, rtol=1e-6, atol=1e-9 * np.abs(r_ref).max())
        assert float(result.relevance[0][k, n:].abs().sum()) == 0.0
    cons = result.conservation
    if redistribute:  # bias and stabiliser spread over the inputs: the inputs hold all of the output
        torch.testing.assert_close(cons.input_total, cons.output, rtol=1e-6, atol=0)
        assert float(cons.bias.abs().max()) == 0.0
    elif biases:
        assert float(cons.bias.abs().max()) > 1e-3  # the gates' biases took a visible share
        assert float(cons.relative_residual().max()) < 1e-10
    else:  # nothing to absorb: the inputs hold the output up to the stabiliser
        assert float(cons.bias.abs().max()) == 0.0
        assert float(cons.relative_residual().max()) < 1e-10


def _interaction_network(seed: int, **sizes):
    """A bias-free Interaction Network (the classifier's bias zeroed too) and tracks / vertices with padding: jets
    of 1, 2 and all tracks, one jet without vertices."""
    torch.manual_seed(seed)
    model = InteractionNetwork(**sizes).eval()
    with torch.no_grad():
        model.head[0].bias.zero_()
    n_t, n_v = sizes["n_tracks"], sizes["n_vertices"]
    tracks = _padded(torch.randn(4, n_t, sizes["n_track_features"]), [n_t, 2, 1, n_t - 1])
    vertices = _padded(torch.randn(4, n_v, sizes["n_vertex_features"]), [n_v, 1, 0, n_v])
    return model, tracks, vertices


def test_interaction_network_gamma_matches_explicit_pairs():
    """LRP-gamma (gamma = 2, as Roy and Neubauer, ICHEP 2022) through the Interaction Network equals a hand-written propagation over the
    explicitly concatenated pairs [x_i; x_j] and [x_i; v_k] of a tiny graph (what Roy and Neubauer's (ICHEP 2022) receiving and sending
    matrices build), sums shared in proportion: the pair layer's rule acts on the concatenated pair, not on its
    receiver and sender halves separately."""
    model, tracks, vertices = _interaction_network(3, n_tracks=4, n_track_features=5, n_vertices=3,
                                                   n_vertex_features=4, width=7, de=3, do=4)
    result = LRP(model, Composite(default=Gamma(2.0, stabiliser=1e-12), stabiliser=1e-12))(tracks, vertices)
    for k in range(len(tracks)):
        logit, r_tracks, r_vertices = interaction_network_gamma(model, tracks[k].numpy(), vertices[k].numpy(), 2.0)
        assert result.output[k].item() == pytest.approx(logit, rel=1e-12)
        scale = np.abs(r_tracks).max()
        np.testing.assert_allclose(result.relevance[0][k].numpy(), r_tracks, rtol=1e-8, atol=1e-10 * scale)
        np.testing.assert_allclose(result.relevance[1][k].numpy(), r_vertices, rtol=1e-8, atol=1e-10 * scale)
    assert float(result.relevance[1][2].abs().max()) == 0.0  # no vertex, no vertex relevance
    assert float(result.relevance[1].abs().sum()) > 0


@pytest.mark.parametrize("rule", [Z(), Epsilon(1e-12), Gamma(2.0, stabiliser=1e-12),
                                  AlphaBeta(1.0, 0.0, stabiliser=1e-12)], ids=repr)
def test_interaction_network_conserves_and_ignores_padding(rule):
    """The IN at Roy and Neubauer's (ICHEP 2022) feature counts (30 per track, 14 per vertex) and widths, bias-free: the inputs hold the
    logit to 1e-6 with a 1e-12 stabiliser, for every conserving rule; padded tracks and vertices get exactly
    zero."""
    model, tracks, vertices = _interaction_network(7, n_tracks=12, n_track_features=30, n_vertices=5,
                                                   n_vertex_features=14)
    cons = LRP(model, Composite(default=rule, stabiliser=1e-12))(tracks, vertices)
    torch.testing.assert_close(cons.conservation.input_total, cons.output, rtol=1e-6, atol=0)
    assert float(cons.conservation.residual.abs().max()) < 1e-12
    for k, (n_t, n_v) in enumerate([(12, 5), (2, 1), (1, 0), (11, 5)]):
        assert float(cons.relevance[0][k, n_t:].abs().sum()) == 0.0
        assert float(cons.relevance[1][k, n_v:].abs().sum()) == 0.0
    assert float(cons.relevance[1][0].abs().sum()) > 0  # the vertices do take relevance


def test_graph_facts_of_the_interaction_network():
    """What the graph proves, layer by layer: every body layer feeds only masked ReLUs whose relevance comes from
    proportional rules and sums (no relevance can reach z <= 0); the layers after a ReLU (and the head, after a sum
    of ReLU outputs) read no negative input; the pair layers and the track layer read raw features."""
    model, _, _ = _interaction_network(1, n_tracks=4, n_track_features=5, n_vertices=3, n_vertex_features=4)
    facts = LRP(model, "gamma").facts
    raw = {"body.track_track.0", "body.track_vertex.0", "body.track.0"}
    for name, fact in facts.items():
        assert fact.nonnegative_input == (name not in raw), name
        assert fact.positive_outputs_only == (name != "head.0"), name


def _relu_stack(activation: nn.Module) -> nn.Module:
    torch.manual_seed(5)
    return nn.Sequential(nn.Linear(6, 8), activation, nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1)).eval()


def test_graph_facts_are_not_claimed_where_relevance_can_reach_z_below_zero():
    """A flat rule above a ReLU shares relevance by the weights, also onto ReLU outputs that are zero: the layer
    below loses the fact; a leaky ReLU passes negative values: the layer after it loses ``nonnegative_input``
    and the layer before it ``positive_outputs_only``."""
    facts = LRP(_relu_stack(nn.ReLU()), Composite(default=Gamma(0.5), names={"4": Flat()})).facts
    assert facts["0"].positive_outputs_only and not facts["2"].positive_outputs_only
    assert facts["2"].nonnegative_input and facts["4"].nonnegative_input and not facts["0"].nonnegative_input
    facts = LRP(_relu_stack(nn.LeakyReLU(0.1)), "gamma").facts
    assert not facts["0"].positive_outputs_only and not facts["2"].nonnegative_input
    assert facts["2"].positive_outputs_only and facts["4"].nonnegative_input


@pytest.mark.parametrize("case", ["in-gamma", "in-alpha2beta1", "flat-above-relu", "leaky", "cnn1d-gamma"])
def test_graph_facts_change_no_relevance(case):
    """Rules that skip the run-time sign checks where the graph proves them give the relevance and the absorbed
    shares of the checks, to rounding (the flat and leaky cases hold relevance at z <= 0, where a wrong fact would
    drop it)."""
    if case.startswith("in-"):
        model, tracks, vertices = _interaction_network(7, n_tracks=12, n_track_features=30, n_vertices=5,
                                                       n_vertex_features=14)
        inputs, composite = (tracks, vertices), case[3:]
    elif case == "cnn1d-gamma":
        model, inputs, _, _ = _tagger("cnn1d")
        composite = "gamma"
    else:
        model = _relu_stack(nn.ReLU() if case == "flat-above-relu" else nn.LeakyReLU(0.1))
        inputs = (torch.randn(7, 6, generator=torch.Generator().manual_seed(2)),)
        composite = Composite(default=Gamma(0.5), names={"4": Flat()} if case == "flat-above-relu" else {})
    proven = LRP(model, composite)
    checked = LRP(model, composite)
    checked.facts = dict.fromkeys(checked.facts, LayerFacts())
    assert any(f != LayerFacts() for f in proven.facts.values()) or case == "leaky"
    a, b = proven(*inputs), checked(*inputs)
    for r_a, r_b in zip(a.relevance, b.relevance):
        torch.testing.assert_close(r_a, r_b, rtol=1e-10, atol=1e-12 * float(r_b.abs().max()))
    for x, y in ((a.conservation.bias, b.conservation.bias), (a.conservation.stabiliser, b.conservation.stabiliser)):
        torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-12)
    if case == "flat-above-relu":  # the case exists: relevance does reach outputs z <= 0 of the middle layer
        z = model[2](model[1](model[0](inputs[0])))
        r_mid = LRP(model, composite)(*inputs, record=("3",)).layers["3"]
        assert float((r_mid * (z <= 0)).abs().sum()) > 0


def test_pair_layer_refuses_rules_that_need_one_bounded_input():
    """z-box and flat cannot act on a pair of object lists: the error names the pair layer and the way out."""
    model, tracks, vertices = _interaction_network(1, n_tracks=3, n_track_features=4, n_vertices=2,
                                                   n_vertex_features=3, width=5, de=2, do=3)
    for composite in (Composite(first=ZBox(-1, 1)), Composite(first=Flat())):
        with pytest.raises(ValueError, match="pair layer 'body.track_track.0'.*names"):
            LRP(model, composite)
    LRP(model, Composite(first=ZBox(-1, 1), names={"body.track_*.0": Gamma(2.0)}))(tracks, vertices)


def test_lstm_output_does_not_depend_on_padding_length():
    """More padded slots after the same particles change nothing (the unmasked LSTM, for contrast, reads them)."""
    torch.manual_seed(4)
    x = _padded(torch.randn(5, 6, 5), [6, 3, 2, 5, 1])
    longer = torch.cat([x, torch.zeros(5, 9, 5)], dim=1)
    masked = LSTMTagger(n_features=5, hidden_size=8, hidden=[4]).double().eval()
    torch.testing.assert_close(masked(longer), masked(x), rtol=0, atol=0)
    # (with biases: a bias-free recurrence from a zero state stays at zero over zero inputs)
    unmasked = LSTMTagger(n_features=5, hidden_size=8, hidden=[4], mask_padding=False, biases=True).double().eval()
    with torch.no_grad():
        assert float((unmasked(longer) - unmasked(x)).abs().max()) > 1e-4


def test_cnn1d_padded_slots_are_zero_at_every_block():
    """Every block's output is exactly zero on padded slots, and LRP gives them exactly zero relevance with the
    rules that spread relevance onto zero inputs too (flat, w-square, z-box on the input layer)."""
    model, (particles, xaug), first, _ = _tagger("cnn1d")
    pad = (particles == 0).all(-1)
    assert bool(pad.any())
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((torch.relu(i[0]), o))) for m in model.body
             if isinstance(m, MaskedReLU)]
    model(particles, xaug)
    for h in hooks:
        h.remove()
    assert len(seen) == 2 and all(float(o.abs().max()) > 0 for _, o in seen)
    for plain, masked in seen:  # the ReLU of the block is not zero on padding (biases): the mask makes it so
        assert float(plain.transpose(1, 2)[pad].abs().max()) > 0
        assert float(masked.transpose(1, 2)[pad].abs().max()) == 0.0
    h = model.features(particles)
    assert float(h.reshape(len(h), 6, 8).transpose(1, 2)[pad].abs().max()) == 0.0
    for first_rule in (Flat(), WSquare(), ZBox(-3.0, 3.0)):
        result = LRP(model, Composite(default=Epsilon(1e-6), first=first_rule))(particles, xaug)
        assert float(result.relevance[0][pad].abs().max()) == 0.0
        assert float(result.relevance[0][~pad].abs().max()) > 0


def test_lstm_forward_equals_torch():
    torch.manual_seed(2)
    model = LSTMTagger(n_features=5, hidden_size=8, hidden=[4]).double().eval()
    x = torch.randn(4, 9, 5)
    torch.testing.assert_close(LRP(model)(x).output, model(x).detach(), rtol=1e-10, atol=1e-12)


# -- conservation on every layer type ------------------------------------------------------------------------------

class EveryLayer(nn.Module):
    """Image, particle list and XAUG branches holding every layer type the engine supports, joined into a dense
    head: Conv2d + BN (merged), ReLU, MaxPool2d, a BN after pooling (kept as its own layer), Conv2d,
    AvgPool2d, AdaptiveAvgPool2d, Flatten; Conv1d + BN, ReLU, AdaptiveMaxPool1d, AdaptiveAvgPool1d, AvgPool1d,
    sum and mean over particles, an addition of two branches, scaling; LSTM with indexing of its last step; BN merged
    into the following dense layer; concatenation, Dropout, LeakyReLU, Linear."""

    def __init__(self, bias: bool):
        super().__init__()
        self.conv_a = nn.Conv2d(1, 4, 3, padding=1, bias=bias)
        self.bn_a = nn.BatchNorm2d(4)
        self.act_a = nn.ReLU()
        self.pool_a = nn.MaxPool2d(2)
        self.bn_alone = nn.BatchNorm2d(4)
        self.conv_b = nn.Conv2d(4, 4, 3, bias=bias)
        self.avg_b = nn.AvgPool2d(2)
        self.adapt_b = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.conv_p = nn.Conv1d(5, 6, 1, bias=bias)
        self.bn_p = nn.BatchNorm1d(6)
        self.relu = nn.ReLU()
        self.max_p = nn.AdaptiveMaxPool1d(2)
        self.adapt_p = nn.AdaptiveAvgPool1d(4)
        self.avg_p = nn.AvgPool1d(2)
        self.lstm = nn.LSTM(5, 3, batch_first=True, bias=bias)
        self.bn_x = nn.BatchNorm1d(4)
        self.dense_x = nn.Linear(4, 5, bias=bias)
        self.dropout = nn.Dropout(0.3)
        # LeakyReLU passes relevance to negative outputs: only where a neuron has many inputs, else alpha-beta can
        # meet a neuron with no positive contribution at all (nothing to share its relevance by)
        self.head = nn.Sequential(nn.Linear(4 + 12 + 6 + 6 + 3 + 5, 10, bias=bias), nn.LeakyReLU(0.1), nn.Dropout(0.2),
                                  nn.Linear(10, 1, bias=bias))

    def forward(self, image, particles, xaug):
        a = self.flat(self.adapt_b(self.avg_b(self.conv_b(self.bn_alone(self.pool_a(self.act_a(
            self.bn_a(self.conv_a(image)))))))))
        p = self.relu(self.bn_p(self.conv_p(particles.transpose(1, 2))))
        p_max = self.max_p(p).flatten(1)
        p_avg = self.avg_p(self.adapt_p(p))
        summed = torch.sum(p_avg, dim=2) + 0.5 * p.mean(dim=2)
        out, _ = self.lstm(particles)
        x = self.relu(self.dense_x(self.bn_x(xaug)))
        h = torch.cat([a, p_max, summed, p_max[:, :6] - summed, out[:, -1, :], self.dropout(x)], dim=1)
        return self.head(h).squeeze(1)


def _every_layer(bias: bool, seed: int = 7):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = randomise_batch_norms(EveryLayer(bias).double(), gen).eval()
    if not bias:  # batch norm without shift: running mean and beta zero
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.running_mean.zero_()
                    m.bias.zero_()
    inputs = (torch.rand(5, 1, 8, 8, generator=gen), torch.randn(5, 6, 5, generator=gen).clamp(-3, 3),
              torch.randn(5, 4, generator=gen).clamp(-3, 3))
    return model, inputs


TINY = 1e-12
# alpha2beta1 is left out: it conserves only where every neuron has contributions of both signs (a neuron with no
# negative contribution cannot give beta's share to anything); what it loses is booked as absorbed, see below.
# Flat and w-square spread relevance onto zero activations, so they belong on the input layer (as z-box does).
CONSERVING = {
    "z": Composite(default=Z(), stabiliser=TINY),
    "gamma": Composite(default=Gamma(0.25, TINY), stabiliser=TINY),
    "gamma2": Composite(default=Gamma(2.0, TINY), stabiliser=TINY),
    "alpha1beta0": Composite(default=AlphaBeta(1, 0, TINY), stabiliser=TINY),
    "zplus": Composite(default=ZPlus(TINY), stabiliser=TINY),
    "zbox": Composite(default=Z(), first=ZBox(-3.0, 3.0, TINY), stabiliser=TINY),
    "flat": Composite(default=Z(), first=Flat(TINY), stabiliser=TINY),
    "wsquare": Composite(default=Z(), first=WSquare(TINY), stabiliser=TINY),
}


@pytest.mark.parametrize("name", sorted(CONSERVING))
def test_conserving_rules_conserve_on_every_layer_type(name):
    model, inputs = _every_layer(bias=False)
    composite = dataclasses.replace(CONSERVING[name], lstm=SignalTakeAll(epsilon=TINY, redistribute_bias=True))
    result = LRP(model, composite)(*inputs)
    torch.testing.assert_close(result.output, model(*inputs).detach(), rtol=1e-12, atol=1e-12)
    cons = result.conservation
    assert float(((cons.input_total - cons.output).abs() / cons.output.abs()).max()) < 1e-6
    assert all(float(r.abs().sum()) > 0 for r in result.relevance)  # every branch receives relevance


@pytest.mark.parametrize("name", ["epsilon", "z", "gamma", "alpha1beta0", "alpha2beta1", "zplus", "epsilon-plus-flat"])
def test_with_biases_output_is_inputs_plus_absorbed(name):
    model, inputs = _every_layer(bias=True)
    composite = dataclasses.replace(preset(name), stabiliser=0.01)  # make the stabiliser's share visible
    result = LRP(model, composite)(*inputs)
    cons = result.conservation
    assert float(cons.relative_residual().max()) < 1e-6
    # the absorbed parts are real: biases and stabilisers took a share (z+ and flat ignore the biases)
    assert float(cons.stabiliser.abs().max()) > 0
    if name not in ("zplus",):
        assert float(cons.bias.abs().max()) > 1e-6


@pytest.mark.parametrize("kind", ["cnn1d", "cnn1d_norms", "lstm", "dnn"])
def test_default_taggers_absorb_only_their_last_bias(kind):
    """The default particle and XAUG taggers are bias-free up to the last layer (the 1D CNN's batch norms, where
    asked for, only scale): LRP-0 hands every jet's logit to the inputs except exactly that bias, the prior
    log-odds (the bias share the report shows is then |b| / |logit|)."""
    torch.manual_seed(3)
    gen = torch.Generator().manual_seed(3)
    particles = _padded(torch.randn(6, 8, 5, generator=gen), [8, 5, 3, 1, 8, 6])
    xaug = torch.randn(6, 4, generator=gen)
    model = {"cnn1d": lambda: CNN1D(n_particles=8, n_features=5, n_xaug=4, use_xaug=True, channels=[6, 6],
                                    hidden=[16]),
             "cnn1d_norms": lambda: CNN1D(n_particles=8, n_features=5, n_xaug=4, use_xaug=True, channels=[6, 6],
                                          hidden=[16], batch_norms=True),
             "lstm": lambda: LSTMTagger(n_features=5, n_xaug=4, use_xaug=True, hidden_size=6, hidden=[8]),
             "dnn": lambda: XAUGDNN(n_xaug=4, hidden=[16, 16])}[kind]().double().eval()
    inputs = (xaug.double(),) if kind == "dnn" else (particles.double(), xaug.double())
    biases = [n for n, _ in model.named_parameters() if "bias" in n]
    assert biases == [f"head.{len(model.head) - 1}.bias"]
    with torch.no_grad():
        model.head[-1].bias.fill_(0.37)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):  # trained statistics: a mean square, no mean
                model.train()
                model(*inputs)
                model.eval()
                assert float(m.running_mean.abs().max()) == 0 and float((m.running_var - 1).abs().max()) > 1e-3
    composite = Composite(default=Z(), stabiliser=TINY, lstm=SignalTakeAll(epsilon=TINY))
    cons = LRP(model, composite)(*inputs).conservation
    torch.testing.assert_close(cons.bias, torch.full_like(cons.bias, 0.37), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cons.input_total + 0.37, cons.output, rtol=1e-9, atol=1e-12)


def test_concatenation_splits_relevance_exactly_between_branches():
    model, inputs, _, _ = _tagger("cnn2d", seed=11)
    with torch.no_grad():  # bias-free body so image relevance equals what the body output receives
        for m in model.body.modules():
            if isinstance(m, nn.Conv2d):
                m.bias.zero_()
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.zero_()
                m.bias.zero_()
    result = LRP(model, Composite(default=Z(), stabiliser=TINY))(*inputs, record=("join", "body.10"))
    entering = result.layers["join"]  # relevance of the join's output = what enters the dense head
    n_body = entering.shape[1] - inputs[1].shape[1]
    image_part, xaug_part = entering[:, :n_body].sum(1), entering[:, n_body:].sum(1)
    torch.testing.assert_close(result.conservation.inputs[1], xaug_part, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(result.conservation.inputs[0], image_part, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(result.layers["body.10"].sum(1), image_part, rtol=1e-12, atol=1e-12)
    assert float(xaug_part.abs().min()) > 0 and float(image_part.abs().min()) > 0


# -- batch norm merged along the graph, not by module order -----------------------------------------------------

class OutOfOrder(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(6)  # registered first, applied after fc1
        self.fc0 = nn.Linear(4, 6)  # registered just before bn: module-order merging would pair these
        self.fc1 = nn.Linear(4, 6)
        self.out = nn.Linear(12, 1)

    def forward(self, x):
        return self.out(torch.cat([torch.relu(self.bn(self.fc1(x))), torch.relu(self.fc0(x))], 1)).squeeze(1)


def test_batch_norm_merges_into_the_layer_it_follows_in_the_graph():
    torch.manual_seed(4)
    model = randomise_batch_norms(OutOfOrder().double(), torch.Generator().manual_seed(4)).eval()
    lrp = LRP(model, "alpha2beta1")
    merged = {s.name: s.bn_after for s in lrp.program.linear_steps()}
    assert merged["fc1"] is model.bn and merged["fc0"] is None
    # hand-folded reference
    folded = OutOfOrder().double().eval()
    folded.load_state_dict(model.state_dict())
    scale = model.bn.weight / torch.sqrt(model.bn.running_var + model.bn.eps)
    with torch.no_grad():
        folded.fc1.weight.copy_(model.fc1.weight * scale[:, None])
        folded.fc1.bias.copy_((model.fc1.bias - model.bn.running_mean) * scale + model.bn.bias)
        folded.bn.running_mean.zero_(), folded.bn.running_var.fill_(1 - folded.bn.eps)
        folded.bn.weight.fill_(1), folded.bn.bias.zero_()
    x = torch.randn(7, 4)
    torch.testing.assert_close(lrp(x).relevance[0], LRP(folded, "alpha2beta1")(x).relevance[0], rtol=1e-9, atol=1e-12)


# -- interface ------------------------------------------------------------------------------------------------------

def test_batches_give_the_same_relevance_and_target_selects_a_class():
    model, inputs, _, _ = _tagger("cnn1d", seed=8)
    whole = LRP(model, "alpha1beta0")(*inputs)
    parts = LRP(model, "alpha1beta0")(*inputs, batch_size=4)
    for a, b in zip(whole.relevance, parts.relevance):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)

    two = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).double()
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="target"):
        LRP(two)(x)
    r1 = LRP(two, "z")(x, target=1)
    torch.testing.assert_close(r1.output, two(x)[:, 1].detach())


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_runs_on_the_inputs_device(device):
    model, inputs, _, _ = _tagger("cnn2d", seed=9)
    cpu = LRP(model, "epsilon")(*inputs)
    model = model.to(device)
    moved = LRP(model, "epsilon")(*(x.to(device) for x in inputs))
    assert moved.relevance[0].device.type == device
    torch.testing.assert_close(moved.relevance[0].cpu(), cpu.relevance[0], rtol=1e-9, atol=1e-12)


def test_bad_inputs_and_configurations_get_clear_errors():
    model, inputs, _, _ = _tagger("dnn")
    bad = inputs[0].clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"input 0 has NaN or inf in 1 of 6 jets"):
        LRP(model)(bad)
    with pytest.raises(ValueError, match="match no dense or convolution layer"):
        LRP(model, Composite(names={"haed.*": Z()}))
    with pytest.raises(ValueError, match="unknown LRP preset"):
        LRP(model, "epsilon-gama-box")
    with pytest.raises(ValueError, match="give its bounds"):
        preset("epsilon-gamma-box")
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        AlphaBeta(2, 2)
    with pytest.raises(ValueError, match=r"takes 2 input\(s\), 1 given"):
        LRP(CNN2D(n_pixels=8, n_xaug=2, use_xaug=True).eval())(torch.rand(2, 1, 8, 8))

    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return (self.a(x) * torch.sigmoid(self.b(x))).sum(1)

    with pytest.raises(LRPUnsupportedError, match="sigmoid"):
        LRP(Gated())


def test_composite_from_configuration():
    c = Composite.from_spec({"preset": "epsilon-gamma-box", "options": {"low": 0, "high": 1},
                             "names": {"head.2": {"rule": "alpha2beta1"}}})
    model = CNN2D(n_pixels=8, channels=[2, 2], hidden=[4]).eval()
    rules = LRP(model, c).rules
    assert isinstance(rules["body.0"], ZBox)  # first layer
    assert isinstance(rules["body.3"], Gamma)  # other convolutions
    assert isinstance(rules["head.0"], Epsilon)  # dense
    assert isinstance(rules["head.2"], AlphaBeta) and rules["head.2"].alpha == 2.0  # by name
    with pytest.raises(ValueError, match="unknown rule"):
        Composite.from_spec({"default": "epsilonn"})
    with pytest.raises(ValueError, match="bad parameters"):
        Composite.from_spec({"default": {"rule": "gamma", "gamm": 2}})


def test_cached_merged_weights_follow_changes_of_the_model():
    model, inputs, _, _ = _tagger("cnn2d", seed=12)
    lrp = LRP(model, "gamma")
    before = lrp(*inputs).relevance[0]
    with torch.no_grad():  # as an optimiser step or load_state_dict would
        model.body[0].weight.mul_(1.5)
        model.body[1].running_var.mul_(2.0)
    after = lrp(*inputs).relevance[0]
    fresh = LRP(model, "gamma")(*inputs).relevance[0]
    torch.testing.assert_close(after, fresh, rtol=1e-12, atol=1e-14)
    assert float((after - before).abs().max()) > 1e-6
    torch.testing.assert_close(lrp(*inputs).output, model(*inputs).detach(), rtol=1e-12, atol=1e-12)


class _GlobalMax(nn.Module):
    """Per-particle embedding, a global maximum over particles written four ways, a dense head."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.embed = nn.Conv1d(5, 6, kernel_size=1)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.head = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 1))

    def forward(self, x):
        h = torch.relu(self.embed(x))
        if self.how == "amax":
            h = h.amax(dim=2)
        elif self.how == "max_values":
            h = h.max(dim=2).values
        elif self.how == "max_item":
            h = torch.max(h, 2)[0]
        else:
            h = self.pool(h).flatten(1)
        return self.head(h)


@pytest.mark.parametrize("how", ["amax", "max_values", "max_item"])
def test_global_max_written_as_tensor_methods_matches_zennit(how):
    """A global max over particles as a tensor method routes relevance like max pooling (winner takes all):
    the same as zennit on the same weights with an AdaptiveMaxPool1d."""
    torch.manual_seed(5)
    pooled = _GlobalMax("pool").double().eval()
    model = _GlobalMax(how).double().eval()
    model.load_state_dict(pooled.state_dict())
    x = torch.randn(7, 5, 9, dtype=torch.float64)
    ours = LRP(model, "epsilon")(x)
    torch.testing.assert_close(ours.output, pooled(x).reshape(-1))
    z = import_zennit().rules
    single = SingleInput(pooled, [tuple(x.shape[1:])])
    names = tuple(f"tagger.{n}" for n in _linear_names(pooled))
    theirs = zennit_relevance(single, SingleInput.flatten([x]), [(names, z.Epsilon(1e-6))])
    scale = theirs.abs().max()
    assert scale > 0 and float((SingleInput.flatten(ours.relevance) - theirs).abs().max() / scale) < 1e-9
    # winner takes all: each of the 6 embedding channels hands its relevance to one particle, so at most 6 of the
    # 9 particles of a jet receive any (spreading it, as a mean would, reaches all 9)
    assert int((ours.relevance[0] != 0).any(1).sum(1).max()) <= 6


class _MaskedMean(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Conv1d(5, 6, kernel_size=1)
        self.head = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 1))

    def forward(self, x, mask):
        h = torch.relu(self.embed(x)) * mask.unsqueeze(1)  # padded particles out
        return self.head(h.sum(dim=2) / mask.sum(dim=1, keepdim=True))


def test_masked_mean_ignores_padding_and_conserves():
    """A masked mean over particles: padded particles get no relevance, and the relevance of the real particles is
    the same as for the jet without padding (a plain mean over its real particles)."""
    torch.manual_seed(6)
    model = _MaskedMean().double().eval()
    x = torch.randn(4, 5, 8, dtype=torch.float64)
    mask = torch.ones(4, 8, dtype=torch.float64)
    mask[:, 5:] = 0
    result = LRP(model, "epsilon")(x, mask)
    assert float(result.relevance[0][:, :, 5:].abs().max()) == 0.0 and float(result.relevance[1].abs().max()) == 0.0
    unpadded = LRP(model, "epsilon")(x[:, :, :5], torch.ones(4, 5, dtype=torch.float64))
    torch.testing.assert_close(result.relevance[0][:, :, :5], unpadded.relevance[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(result.output, unpadded.output)
    assert float(result.conservation.relative_residual().max()) < 1e-10
    # a product of two signals has no rule: refused when it runs, naming the node
    with pytest.raises(ValueError, match="multiplies two tensors, neither a 0/1 mask"):
        LRP(model, "epsilon")(x, mask * 0.5)


def test_a_bias_free_2d_cnn_hides_no_bias_in_its_batch_norms():
    """cnn2d without biases: its batch norms only scale (ScaleBatchNorm2d), so the conserving rules hold the whole
    logit minus the last layer's bias (before, the norms' shifts were biases and took up to all of it); folders
    written before load with the centred norms their weights have."""
    from xaugcol.layers import ScaleBatchNorm2d
    from xaugcol.models.registry import ModelConfig, build_model, legacy_architecture

    torch.manual_seed(3)
    model = CNN2D(n_pixels=12, channels=(4, 4)).double()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(isinstance(m, ScaleBatchNorm2d) and m.bias is None for m in norms)
    x = torch.rand(64, 1, 12, 12, dtype=torch.float64) * (torch.rand(64, 1, 12, 12) < 0.3)
    model.train()
    model(x)  # training statistics: each channel scaled by its root mean square, nothing taken off
    for m in norms:
        assert float(m.running_mean.abs().max()) == 0.0 and float(m.running_var.min()) > 0
    model.eval()
    result = LRP(model, Composite(default=Epsilon(1e-12), stabiliser=1e-12))(x)
    bias = float(model.head[-1].bias.detach())
    torch.testing.assert_close(result.conservation.input_total, result.output - bias, rtol=1e-8, atol=1e-10)
    # a folder written before the option existed: centred norms with their shift, as its weights have
    old = legacy_architecture({"model": "cnn2d", "architecture": {"biases": False}})
    assert old["architecture"]["centred_norms"] is True
    legacy = build_model(ModelConfig.from_dict(old))
    assert all(type(m) is nn.BatchNorm2d and m.bias is not None for m in legacy.modules()
               if isinstance(m, nn.BatchNorm2d))
    assert ModelConfig("cnn2d").architecture["centred_norms"] is False  # recorded in every new folder
