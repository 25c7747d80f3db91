"""ParticleNet (Qu and Gouskos, arXiv:1902.08570): its dynamic graph against brute force, padding that carries
nothing, permutation invariance, LRP through EdgeConv (conservation, LRP-0 = gradient x input, nothing on padding),
and the toolkit's methods on a trained one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xaugcol.explain.lrp import LRP, AlphaBeta, Composite, Epsilon, Gamma, Z
from xaugcol.explain.methods.gradient import GradientXInput
from xaugcol.features.particles import FEATURES
from xaugcol.layers import KNearest, neighbour_mask
from xaugcol.models.registry import ModelConfig, build_model

FEATURE_INDEX = {name: k for k, name in enumerate(FEATURES)}
SMALL = {"neighbours": 4, "blocks": [[6, 6], [8, 8]], "fusion": 8, "hidden": [8]}


def _jets(seed: int, counts=(12, 3, 1, 0, 9), slots: int = 16, features: int = 17) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    x = np.zeros((len(counts), slots, features))
    for k, n in enumerate(counts):
        x[k, :n] = rng.normal(size=(n, features))
    return torch.from_numpy(x)


def _model(seed: int = 1, **architecture) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(ModelConfig("particlenet", xaug=True, architecture={**SMALL, **architecture})).double()
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return model.eval()


def test_neighbours_are_the_nearest_real_points_never_padding_or_the_point_itself():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(3, 2, 10))
    mask = np.zeros((3, 10))
    mask[0, :10], mask[1, :6], mask[2, :2] = 1, 1, 1
    index = KNearest(4)(torch.from_numpy(points), torch.from_numpy(mask)).numpy()
    valid = neighbour_mask(torch.from_numpy(mask), torch.from_numpy(index)).numpy()
    for b in range(3):
        real = np.flatnonzero(mask[b])
        for i in real:
            others = [j for j in real if j != i]
            distance = np.hypot(*(points[b][:, others] - points[b][:, [i]]))
            expected = [others[j] for j in np.argsort(distance)[:4]]
            chosen = [j for j, v in zip(index[b, i], valid[b, i]) if v]
            assert chosen == expected, (b, i)  # the nearest real points, nearest first, never itself
        assert not valid[b, mask[b] == 0].any()  # a padded point has no edges
    assert valid[2, 0].sum() == 1  # a jet of two particles: one neighbour each


def test_padding_carries_nothing_and_the_order_of_particles_does_not_matter():
    model = _model()
    x, xaug = _jets(4), torch.from_numpy(np.random.default_rng(5).normal(size=(5, 16)))
    logits = model(x, xaug)
    torch.testing.assert_close(model(x[:, :12], xaug), logits, rtol=1e-12, atol=1e-12)  # less padding
    wider = torch.cat([x, torch.zeros(5, 20, 17, dtype=x.dtype)], dim=1)
    torch.testing.assert_close(model(wider, xaug), logits, rtol=1e-12, atol=1e-12)
    shuffled = x.clone()
    shuffled[0, :12] = x[0, torch.randperm(12, generator=torch.Generator().manual_seed(0))]
    torch.testing.assert_close(model(shuffled, xaug), logits, rtol=1e-10, atol=1e-12)  # a set, not a list


@pytest.mark.parametrize("rule", [Z(), Epsilon(1e-12), Gamma(2.0, stabiliser=1e-12),
                                  AlphaBeta(1.0, 0.0, stabiliser=1e-12)], ids=repr)
def test_lrp_through_edgeconv_conserves_and_leaves_padding_empty(rule):
    """The kNN choice is fixed routing; the edge functions, the differences x_j - x_i, the means over neighbours
    and particles and the shortcut pass relevance on: the inputs hold the logit minus the last layer's bias."""
    model = _model()
    x, xaug = _jets(6), torch.from_numpy(np.random.default_rng(7).normal(size=(5, 16)))
    result = LRP(model, Composite(default=rule, stabiliser=1e-12))(x, xaug)
    assert float(result.conservation.residual.abs().max()) < 1e-10
    bias = float(model.head[-1].bias.detach())
    if isinstance(rule, (Z, Epsilon)):
        torch.testing.assert_close(result.conservation.input_total, result.output - bias, rtol=1e-8, atol=1e-10)
    for k, n in enumerate((12, 3, 1, 0, 9)):
        assert float(result.relevance[0][k, n:].abs().sum()) == 0.0
    assert float(result.relevance[0][0].abs().sum()) > 0 and float(result.relevance[1].abs().sum()) > 0


def test_lrp_zero_through_edgeconv_equals_gradient_times_input():
    """A bias-free ReLU network is a piecewise linear map without offset: LRP-0 gives exactly gradient x input,
    edge by edge and particle by particle (the identity holds only if every operation routes relevance as the
    network computes)."""
    model = _model(batch_norms=False)
    x, xaug = _jets(8), torch.from_numpy(np.random.default_rng(9).normal(size=(5, 16)))
    lrp = LRP(model, Composite(default=Z(), stabiliser=1e-15))(x, xaug)
    gxi = GradientXInput(model)(x, xaug)
    for g, r in zip(gxi.relevance, lrp.relevance):
        torch.testing.assert_close(r, g, rtol=1e-8, atol=1e-11 * float(g.abs().max()))


def test_a_trained_particlenet_takes_every_method_of_the_toolkit(tmp_path):
    """Trained on toy jets (with the XAUG variables joined), exported to ONNX, and explained by the relevance
    processor with every extra analysis: no ParticleNet-specific line anywhere."""
    from xaugcol.coffea_runs import run_processing, run_relevance
    from xaugcol.explain.options import ExplainOptions
    from xaugcol.processing.coffea_runner import load_fileset
    from xaugcol.sources.toy import run_toy
    from xaugcol.training.train import TrainConfig, train_ensemble

    run_toy(tmp_path / "gen", 300, seed=2)
    run_processing(load_fileset(tmp_path / "gen" / "fileset.json"), tmp_path / "proc", chunksize=600)
    config = ModelConfig("particlenet", xaug=True, architecture=SMALL)
    train_ensemble(str(tmp_path / "proc" / "jets"), config, TrainConfig(epochs=1, batch_size=64), [0],
                   str(tmp_path / "pn"))
    assert (tmp_path / "pn" / "seed_0" / "model.onnx").is_file()
    options = ExplainOptions(rules=("epsilon", "gamma", "gradient_x_input", {"method": "integrated_gradients",
                                                                           "steps": 8}),
                             faithfulness_steps=4, sanity_jets=20,
                             occlusion_fraction=0.5, activations=True, edges=True)
    run_relevance(tmp_path / "proc", [tmp_path / "pn"], tmp_path / "rel", options, chunksize=600)
    record = json.loads((tmp_path / "rel" / "relevance.json").read_text())
    assert record["relevance"]["pn"]["epsilon"]["ranking"]
    # the bias share is measured (one epoch of a small net: its logit is mostly the last layer's bias)
    assert np.isfinite(record["absorbed_fraction"]["pn"]["epsilon"])
    assert record["occlusion"]["pn"]["features"] and record["activations"]["pn"]["neurons"] > 0
    assert set(record["faithfulness"]["pn"]) == {"epsilon", "gamma", "gradient_x_input", "integrated_gradients"}
    assert record["relevance"]["pn"]["integrated_gradients"]["ranking"]  # captum's integrated gradients too
    assert record["sanity"]["pn"]["methods"]["epsilon"]
    # the edges of both blocks under each LRP method (gradient x input has no edges), shares per class summing to 1
    edges = record["edges"]["pn"]
    assert set(edges) == {"epsilon", "gamma"} and set(edges["epsilon"]) == {"body.0", "body.1"}
    for cls in ("signal", "background"):
        summary = edges["gamma"]["body.1"][cls]
        assert sum(s["mean"] for s in summary["share"].values()) == pytest.approx(1.0)
        assert sum(summary["by_length"]) == pytest.approx(1.0) and sum(summary["edges"].values()) > 0
    # drawn in the report: one figure per tagger, for the first LRP method, in a section of its own
    from xaugcol.report import html
    from xaugcol.report.figures import draw_figures, relevance_jobs

    jobs = [j for j in relevance_jobs(tmp_path / "rel", {"pn": tmp_path / "pn"}, "toy", examples=1)
            if j.section == "edges"]
    assert sorted(j.name for j in jobs) == ["edge_examples_pn", "edges_pn_epsilon"]
    figures = draw_figures(jobs, tmp_path / "report" / "figures", tmp_path / "report", workers=1)
    for name in ("edges_pn_epsilon", "edge_examples_pn"):  # the summary, and example jets with their top edges
        assert (tmp_path / "report" / "figures" / f"{name}.png").is_file()
    assert "The relevance of ParticleNet&#x27;s edges" in html.report_sections(figures, {}, record)


def _stab(z, eps):
    return z + eps * np.where(np.signbit(z), -1.0, 1.0)


def _epsilon_reference(model, x: np.ndarray, eps: float, stabiliser: float) -> np.ndarray:
    """LRP-epsilon of a one-block, bias-free ParticleNet without batch norms, written out by hand in numpy for one
    jet (``x``: (slots, features), its real particles first): the neighbours by brute force, the edge layer, the
    mean over real neighbours, the shortcut, the fusion, the mean over real particles and the head, each step as
    the rule (epsilon for the weighted layers, the stabilised share for sums) defines it."""
    block = model.body[0]
    W1 = block.edge[0].weight.detach().numpy()[:, :, 0]  # (width, 2F)
    S = block.shortcut.weight.detach().numpy()[:, :, 0]  # (width, F)
    Fu = model.fusion.weight.detach().numpy()[:, :, 0]  # (fusion, width)
    w, b = model.head[-1].weight.detach().numpy()[0], float(model.head[-1].bias.detach())
    real = np.flatnonzero((x != 0).any(axis=1))
    coords = x[:, [FEATURE_INDEX["deta_jet"], FEATURE_INDEX["dphi_jet"]]]
    k = block.neighbours.k
    neighbours = {}
    for i in real:
        others = [j for j in real if j != i]
        order = np.argsort([np.hypot(*(coords[j] - coords[i])) for j in others])
        neighbours[i] = [others[t] for t in order[:k]]
    # forward
    h = {(i, j): np.maximum(W1 @ np.concatenate([x[i], x[j] - x[i]]), 0.0) for i in real for j in neighbours[i]}
    a = {i: sum(h[i, j] for j in neighbours[i]) / max(len(neighbours[i]), 1) if neighbours[i] else np.zeros(len(W1))
         for i in real}
    s = {i: S @ x[i] for i in real}
    out = {i: np.maximum(a[i] + s[i], 0.0) for i in real}
    zf = {i: Fu @ out[i] for i in real}
    f = {i: np.maximum(zf[i], 0.0) for i in real}
    p = sum(f[i] for i in real) / len(real)
    y = w @ p + b
    # backward
    r_p = p * w * y / _stab(np.array(y), eps)
    pooled = sum(f[i] for i in real)  # the sum before the division by the count
    r_f = {i: f[i] * r_p / _stab(pooled, stabiliser) for i in real}
    r_out = {i: out[i] * (Fu.T @ (r_f[i] / _stab(zf[i], eps))) for i in real}  # fusion ReLU passes r_f on
    r_x = np.zeros_like(x)
    for i in real:
        total = a[i] + s[i]
        r_a = a[i] * r_out[i] / _stab(total, stabiliser)
        r_s = s[i] * r_out[i] / _stab(total, stabiliser)
        r_x[i] += x[i] * (S.T @ (r_s / _stab(s[i], eps)))
        summed = sum(h[i, j] for j in neighbours[i]) if neighbours[i] else None
        for j in neighbours[i]:
            r_h = h[i, j] * r_a / _stab(summed, stabiliser)
            e = np.concatenate([x[i], x[j] - x[i]])
            r_e = e * (W1.T @ (r_h / _stab(W1 @ e, eps)))
            n_f = len(x[i])
            r_x[i] += r_e[:n_f]
            d = x[j] - x[i]
            r_x[j] += x[j] * r_e[n_f:] / _stab(d, stabiliser)
            r_x[i] += -x[i] * r_e[n_f:] / _stab(d, stabiliser)
    return r_x


def test_lrp_epsilon_through_edgeconv_matches_a_hand_written_reference():
    """A tiny graph (one EdgeConv block of 2 neighbours, 3 edge channels, fusion 2), every step of LRP-epsilon
    written out in numpy: the toolkit's relevance per particle and feature to 1e-8."""
    from xaugcol.models.particlenet import ParticleNet

    torch.manual_seed(11)
    model = ParticleNet(neighbours=2, blocks=((3,),), fusion=2, hidden=(), batch_norms=False).double().eval()
    x = _jets(12, counts=(5, 3), slots=7)
    eps, stabiliser = 0.05, 1e-9
    result = LRP(model, Composite(default=Epsilon(eps), stabiliser=stabiliser))(x)
    for jet in range(2):
        expected = _epsilon_reference(model, x[jet].numpy(), eps, stabiliser)
        np.testing.assert_allclose(result.relevance[0][jet].numpy(), expected, rtol=1e-8, atol=1e-12)
    assert float(result.relevance[0][0].abs().sum()) > 0


def test_edge_relevance_and_the_shortcut_make_up_each_block_and_padding_edges_carry_nothing():
    from xaugcol.explain.edges import EDGE_KINDS, edge_relevance, edge_summary

    model = _model()
    x, xaug = _jets(13), torch.from_numpy(np.random.default_rng(14).normal(size=(5, 16)))
    blocks = edge_relevance(model, (x, xaug), Composite(default=Epsilon(1e-9), stabiliser=1e-12))
    assert [b.name for b in blocks] == ["body.0", "body.1"]
    for block in blocks:
        np.testing.assert_allclose(block.relevance.sum(axis=(1, 2)) + block.shortcut.sum(axis=1),
                                   block.output.sum(axis=1), rtol=1e-8, atol=1e-14)
        assert np.abs(block.relevance[~block.real]).sum() == 0.0 and np.abs(block.relevance).sum() > 0
        assert block.real.sum() == sum(min(n - 1, 4) * n for n in (12, 3, 1, 0, 9))  # k = 4 neighbours
    summary = edge_summary(blocks, x.numpy(), np.array([1, 0, 1, 0, 1]))
    for per_class in summary.values():
        for cls in ("signal", "background"):
            assert sum(per_class[cls]["share"].values()) == pytest.approx(1.0)
            assert sum(per_class[cls]["by_length"]) == pytest.approx(1.0)
            assert set(per_class[cls]["edges"]) == set(EDGE_KINDS)


def test_edges_are_classified_by_the_prongs_their_particles_belong_to():
    from xaugcol.explain.edges import edge_kinds

    particles = np.zeros((1, 4, 17))
    column = FEATURE_INDEX
    for i, (d1, d2, eta, phi) in enumerate([(0.05, 0.5, 0.0, 3.1), (0.1, 0.6, 0.0, -3.1), (0.5, 0.05, 0.3, 0.0),
                                            (0.9, 0.8, 0.6, 0.4)]):
        particles[0, i, [column["dr_subjet1"], column["dr_subjet2"], column["deta_jet"], column["dphi_jet"]]] = (
            d1, d2, eta, phi)
    index = np.array([[[1, 2], [0, 2], [3, 0], [2, 1]]])
    kinds, lengths = edge_kinds(particles, index)
    # 0, 1 in the first prong, 2 in the second, 3 in neither
    assert kinds.tolist() == [[[0, 1], [0, 1], [2, 1], [2, 2]]]
    assert lengths[0, 0, 0] == pytest.approx(2 * np.pi - 6.2)  # across phi = pi
    assert lengths[0, 2, 0] == pytest.approx(np.hypot(0.3, 0.4))


def test_edge_shares_over_members_leave_out_a_member_without_edges():
    """The shares' mean and spread are over the members that saw edges of a class (spread with ddof 1, as every
    spread over members): a member without any adds no share of 0."""
    from xaugcol.explain.edges import EDGE_KINDS, histograms, patterns

    hists = histograms("pn", ["epsilon"], [0, 1])
    sums, counts = hists["edges/pn/epsilon"], hists["edge_count/pn/epsilon"]
    within, between = EDGE_KINDS.index("within a subjet"), EDGE_KINDS.index("between subjets")
    for member, kind, weight in [(0, within, 3.0), (0, between, 1.0), (1, within, 1.0), (1, between, 1.0),
                                 (2, within, 0.0)]:
        sums.fill(member=member, label=1, block="body.0", kind=kind, length=0, weight=weight)
        counts.fill(member=member, label=1, block="body.0", kind=kind, length=0, weight=1.0)
    share = patterns(hists, "pn")["epsilon"]["body.0"]["signal"]["share"]["within a subjet"]
    assert share["mean"] == pytest.approx((0.75 + 0.5) / 2)
    assert share["std"] == pytest.approx(np.std([0.75, 0.5], ddof=1))
