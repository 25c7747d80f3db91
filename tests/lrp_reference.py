"""Shared helpers of the LRP tests and benchmark: models with realistic (non-trivial) batch-norm statistics,
single-input equivalents of the multi-input taggers for zennit, zennit itself behind a torchvision stand-in, and
a hand-written LRP-gamma through the Interaction Network's explicit pairs."""

from __future__ import annotations

import sys
import types

import numpy as np
import torch
from torch import nn


def import_zennit():
    """zennit imports torchvision.models.resnet, which does not load with this torch: register a stand-in that
    holds the two names zennit's canonizers look up, then import zennit."""
    if "torchvision" not in sys.modules:
        tv, models, resnet = (types.ModuleType(n) for n in ("torchvision", "torchvision.models",
                                                             "torchvision.models.resnet"))

        class _Block(nn.Module):
            pass

        resnet.BasicBlock, resnet.Bottleneck = _Block, type("Bottleneck", (_Block,), {})
        tv.models, models.resnet = models, resnet
        sys.modules.update({"torchvision": tv, "torchvision.models": models, "torchvision.models.resnet": resnet})
    import zennit.canonizers
    import zennit.composites
    import zennit.rules
    return zennit


def randomise_batch_norms(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Running statistics and affine parameters away from their initial values, so merging errors would show."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=generator) - 0.5)
                m.running_var.copy_(0.5 + 1.5 * torch.rand(m.running_var.shape, generator=generator))
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=generator))
                m.bias.copy_(0.4 * torch.rand(m.bias.shape, generator=generator) - 0.2)
    return model


class SingleInput(nn.Module):
    """The tagger taking one flat tensor (all inputs concatenated), for libraries that explain one input."""

    def __init__(self, tagger: nn.Module, shapes: list[tuple[int, ...]]):
        super().__init__()
        self.tagger = tagger
        self.shapes = shapes
        self.sizes = [int(torch.Size(s).numel()) for s in shapes]

    def forward(self, x):
        parts = torch.split(x, self.sizes, dim=1)
        return self.tagger(*(p.reshape(-1, *s) for p, s in zip(parts, self.shapes)))

    @staticmethod
    def flatten(inputs) -> torch.Tensor:
        return torch.cat([x.reshape(x.shape[0], -1) for x in inputs], dim=1)


def zennit_relevance(model: SingleInput, flat: torch.Tensor, name_map) -> torch.Tensor:
    """zennit's relevance of ``flat`` for the model output (initial relevance = the output), batch norms merged by
    zennit's canonizer. ``name_map``: list of (module names in ``model``, zennit rule)."""
    zennit = import_zennit()
    composite = zennit.composites.NameMapComposite(name_map,
                                                   canonizers=[zennit.canonizers.SequentialMergeBatchNorm()])
    with composite.context(model) as modified:
        x = flat.clone().requires_grad_(True)
        out = modified(x)
        (relevance,) = torch.autograd.grad(out, x, grad_outputs=out.detach())
    return relevance


def _gamma_dense(x: np.ndarray, w: np.ndarray, relevance: np.ndarray, gamma: float) -> np.ndarray:
    """Textbook LRP-gamma through one bias-free dense layer z = w x (one vector): contributions c_ij = x_i w_ji
    + gamma max(0, x_i w_ji) towards an output z_j > 0 (min for z_j < 0), shared in proportion."""
    out = np.zeros_like(x)
    for j in range(w.shape[0]):
        c = x * w[j]
        z = c.sum()
        if z == 0 or relevance[j] == 0:
            continue
        c = c + gamma * (np.maximum(c, 0) if z > 0 else np.minimum(c, 0))
        out += c / c.sum() * relevance[j]
    return out


def _mlp_forward(layers: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """Inputs of every layer, and the output, of a bias-free ReLU network."""
    values = [x]
    for w in layers:
        values.append(np.maximum(w @ values[-1], 0))
    return values


def _mlp_relevance(layers, values, relevance, gamma) -> np.ndarray:
    for w, x in zip(reversed(layers), reversed(values[:-1])):
        relevance = _gamma_dense(x, w, relevance, gamma)  # through ReLU: relevance passes as it is
    return relevance


def interaction_network_gamma(model, tracks: np.ndarray, vertices: np.ndarray, gamma: float):
    """LRP-gamma through a bias-free Interaction Network for one jet, written Roy and Neubauer's (ICHEP 2022) way: every ordered pair of
    real tracks (i != j) and every (real track, real vertex) pair is built explicitly as the concatenated vector
    [x_i; x_j] (receiving and sending matrices), each pair network is a plain dense ReLU network on it, the
    interactions are summed per receiving track, the object network runs on [x_i; Ebar_pp; Ebar_pv] and the
    objects are summed. Relevance goes back the same way, through loops; sums share it in proportion to their
    terms. Returns (logit, relevance of the tracks, relevance of the vertices)."""
    def weights(name):
        mlp = model.body[name]
        first = mlp[0]
        w0 = first.weight if not hasattr(first, "receiver") else torch.cat([first.receiver.weight,
                                                                            first.sender.weight], 1)
        return [w0.detach().double().numpy()] + [m.weight.detach().double().numpy() for m in mlp[1:]]

    f_r, f_v, f_o = weights("track_track"), weights("track_vertex"), weights("track")
    head = model.head[0].weight.detach().double().numpy()[0]
    real_t = [i for i in range(len(tracks)) if np.any(tracks[i] != 0)]
    real_v = [k for k in range(len(vertices)) if np.any(vertices[k] != 0)]
    de = f_r[-1].shape[0]
    pp = {(i, j): _mlp_forward(f_r, np.concatenate([tracks[i], tracks[j]])) for i in real_t for j in real_t if i != j}
    pv = {(i, k): _mlp_forward(f_v, np.concatenate([tracks[i], vertices[k]])) for i in real_t for k in real_v}
    e_pp = {i: sum((pp[i, j][-1] for j in real_t if j != i), np.zeros(de)) for i in real_t}
    e_pv = {i: sum((pv[i, k][-1] for k in real_v), np.zeros(de)) for i in real_t}
    objects = {i: _mlp_forward(f_o, np.concatenate([tracks[i], e_pp[i], e_pv[i]])) for i in real_t}
    total = sum((objects[i][-1] for i in real_t), np.zeros(f_o[-1].shape[0]))
    logit = float(head @ total)

    r_total = _gamma_dense(total, head[None, :], np.array([logit]), gamma)
    r_tracks, r_vertices = np.zeros_like(tracks), np.zeros_like(vertices)
    n_p = tracks.shape[1]
    for i in real_t:
        out = objects[i][-1]
        r_out = np.divide(out * r_total, total, out=np.zeros_like(out), where=total != 0)  # share of the sum
        r_in = _mlp_relevance(f_o, objects[i], r_out, gamma)
        r_tracks[i] += r_in[:n_p]
        for key, pairs, r_sum in (("pp", pp, r_in[n_p:n_p + de]), ("pv", pv, r_in[n_p + de:])):
            summed = e_pp[i] if key == "pp" else e_pv[i]
            for (a, b), values in pairs.items():
                if a != i:
                    continue
                share = np.divide(values[-1] * r_sum, summed, out=np.zeros(de), where=summed != 0)
                r_pair = _mlp_relevance(f_r if key == "pp" else f_v, values, share, gamma)
                r_tracks[a] += r_pair[:n_p]
                if key == "pp":
                    r_tracks[b] += r_pair[n_p:]
                else:
                    r_vertices[b] += r_pair[n_p:]
    return logit, r_tracks, r_vertices
