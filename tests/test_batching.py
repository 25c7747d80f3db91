"""Planned batches (xaugcol.models.batching): a tagger that trims padding gives the same logits, relevance,
activations and training gradient as on its padded inputs; and the allocator setting that keeps freed tensor
memory (xaugcol.allocator)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from xaugcol.explain import activations
from xaugcol.explain.faithfulness import batch_logits
from xaugcol.explain.lrp import LRP
from xaugcol.explain.methods.gradient import GradientXInput
from xaugcol.explain.methods.integrated import IntegratedGradients
from xaugcol.models import batching
from xaugcol.models.interaction import InteractionNetwork
from xaugcol.training.train import learn


def _jets(n: int = 300, seed: int = 0):
    """Tracks and vertices padded at the end, a few jets with none of either, and one jet whose only real
    track sits in the last slot (the planner keeps every slot up to the last real one)."""
    g = torch.Generator().manual_seed(seed)
    tracks = torch.randn(n, 60, 30, generator=g)
    counts = torch.randint(0, 61, (n,), generator=g)
    tracks[torch.arange(60)[None, :] >= counts[:, None]] = 0
    vertices = torch.randn(n, 5, 14, generator=g)
    vertices[torch.arange(5)[None, :] >= torch.randint(0, 6, (n,), generator=g)[:, None]] = 0
    tracks[7] = 0
    tracks[7, 59] = torch.randn(30, generator=g)
    return tracks, vertices


def _network(seed: int = 3) -> InteractionNetwork:
    torch.manual_seed(seed)
    return InteractionNetwork().eval()


class _Padded(torch.nn.Module):
    """The same network without the planner's trimming: the reference."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, tracks, vertices):
        return self.net(tracks, vertices)


def test_the_plan_takes_every_jet_once_within_the_budget_and_cuts_only_padding():
    net = _network()
    tracks, vertices = _jets()
    plan = batching.plan(net, (tracks, vertices), 64)
    order = plan.order
    assert sorted(order.tolist()) == list(range(len(tracks)))
    used = batching.used_slots(tracks)
    assert int(used[7]) == 60  # a real track in the last slot keeps the whole list
    for b in plan.batches:
        assert len(b.rows) <= 64
        n_tracks, n_vertices = b.slots
        assert int(used[b.rows].max()) == n_tracks  # cut at the longest jet of the batch, not before
        assert int(batching.used_slots(vertices)[b.rows].max()) == n_vertices
        widest = net.batch_elements(torch.tensor([[n_tracks, n_vertices]]))
        assert len(b.rows) == 1 or int(widest) * len(b.rows) <= batching.ELEMENT_BUDGET
    assert len(plan.batches) > len(tracks) // 64  # the budget splits the long jets' batches further


def test_a_tagger_without_trimming_gets_plain_batches_in_order():
    dense = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(60 * 30, 1))
    tracks, _ = _jets()
    plan = batching.plan(dense, (tracks,), 64)
    assert not plan.reordered
    assert [b.rows for b in plan.batches] == [slice(k, k + 64) for k in range(0, len(tracks), 64)]
    assert all(b.slots == (None,) for b in plan.batches)


def test_logits_relevance_and_activations_equal_the_padded_networks():
    net = _network()
    reference = _Padded(net).eval()
    inputs = _jets(120)
    want = batch_logits(reference, inputs, 64)
    got = batch_logits(net, inputs, 64)
    assert np.allclose(got, want, rtol=1e-5, atol=1e-6)
    for make in (lambda m: LRP(m, "gamma"), GradientXInput, lambda m: IntegratedGradients(m, steps=8)):
        a, b = make(reference)(*inputs, batch_size=64), make(net)(*inputs, batch_size=64)
        for r_ref, r in zip(a.relevance, b.relevance):
            assert r.shape == r_ref.shape
            assert torch.allclose(r, r_ref, rtol=1e-4, atol=1e-7)
            padded = torch.arange(60)[None, :] >= batching.used_slots(inputs[0])[:, None]
            if r.shape[1] == 60:
                assert bool((r[padded] == 0).all())  # slots the batches never ran on hold zero relevance
        assert torch.allclose(b.output, a.output, rtol=1e-5, atol=1e-6)
    recorded = {}
    for model, name in ((reference, "padded"), (net, "planned")):
        plan = batching.plan(net if name == "planned" else model, inputs, 64)
        recorder = activations.ActivationRecorder(model)
        with recorder:
            batch_logits(model, inputs, plan)
        recorded[name] = recorder.per_jet(plan)
    padded = {site.removeprefix("net."): values for site, values in recorded["padded"].items()}
    assert padded.keys() == recorded["planned"].keys() and len(padded) == 9
    for site, (sums, fired) in padded.items():
        assert np.allclose(recorded["planned"][site][0], sums, rtol=1e-4, atol=1e-6)
        assert np.array_equal(recorded["planned"][site][1], fired)  # the same firings, jet by jet, in order


def test_a_training_step_in_trimmed_pieces_has_the_padded_batchs_loss_and_gradient():
    net = _network()
    tracks, vertices = _jets(200, seed=5)
    labels = (torch.arange(200) % 2).float()
    weights = np.linspace(0.5, 2.0, 200)
    batch = {"tracks": tracks.numpy(), "vertices": vertices.numpy(), "label": labels.numpy(), "weight": weights}
    factors = np.array([1.0, 1.5])
    net.train()
    assert len(batching.plan(net, (tracks, vertices), None).batches) > 1
    loss, wsum = learn(net, batch, ("tracks", "vertices"), "cpu", factors)
    planned = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    w = torch.from_numpy((weights * factors[labels.numpy().astype(int)]).astype(np.float32))
    per_jet = torch.nn.functional.binary_cross_entropy_with_logits(_Padded(net)(tracks, vertices), labels,
                                                                   reduction="none")
    want = (per_jet * w).sum() / w.sum()
    want.backward()
    assert wsum == pytest.approx(float(w.sum()), rel=1e-6)
    assert float(loss) == pytest.approx(want.item(), rel=1e-5)
    for g, p in zip(planned, net.parameters()):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-7)


def test_freed_tensor_memory_is_reused_instead_of_mapped_again():
    """Gradient x input on the Interaction Network in its planned batches, the same passes in two fresh processes:
    under glibc's defaults the kernel maps (page faults) tens of thousands of pages again on every pass; with the
    setting the freed tensors' memory is reused (more than 20x fewer faults over ten passes; measured 36-170x with
    three processes competing for the two cores)."""
    script = textwrap.dedent("""
        import resource, sys, torch
        if sys.argv[1] == "reuse":
            from xaugcol.allocator import reuse_freed_memory
            assert reuse_freed_memory()
        torch.set_num_threads(1)
        from xaugcol.explain.methods.gradient import GradientXInput
        from xaugcol.models.interaction import InteractionNetwork
        torch.manual_seed(0)
        net = InteractionNetwork().eval()
        g = torch.Generator().manual_seed(1)
        tracks = torch.randn(96, 60, 30, generator=g)
        tracks[torch.arange(60)[None, :] >= torch.randint(20, 61, (96,), generator=g)[:, None]] = 0
        vertices = torch.randn(96, 5, 14, generator=g)
        explain = GradientXInput(net)
        explain(tracks, vertices, batch_size=512)  # the heap grows to its working size once
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(10):  # what the default costs grows with the passes; the reused heap's settling does not
            explain(tracks, vertices, batch_size=512)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """)
    faults = {}
    for mode in ("default", "reuse"):
        out = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, check=True)
        faults[mode] = int(out.stdout.split()[-1])
    assert faults["default"] > 20 * max(faults["reuse"], 1), faults
