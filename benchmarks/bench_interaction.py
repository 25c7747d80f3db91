"""Interaction Network throughput against a plain dense network of equal parameter count, in one process.

The IN (seed sizes: 60 tracks x 30 features, 5 vertices x 14, width 60, De 20, Do 24) does its work on all
N(N-1) track pairs; the reference is a dense network on the same inputs flattened, with one hidden layer as wide as
makes its parameter count equal to the IN's. Figures (ratios, since this machine is noisy):
* training jets/s (forward + backward + Adam step, batch 256, inputs in memory): IN / dense;
* inference jets/s (batch 512, no grad): IN / dense;
and both absolute rates, on CPU and, with ``--device cuda``, on the GPU.

    python benchmarks/bench_interaction.py [--jets 2048] [--device cpu] [--tracks 60]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from xaugcol.models.registry import ModelConfig, build_model


class Dense(nn.Module):
    def __init__(self, n_in: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, tracks, vertices):
        return self.net(torch.cat([tracks.flatten(1), vertices.flatten(1)], dim=1)).squeeze(1)


def inputs(n: int, n_tracks: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    tracks = torch.randn(n, n_tracks, 30, generator=g)
    counts = torch.randint(5, n_tracks + 1, (n,), generator=g)
    tracks[torch.arange(n_tracks)[None, :] >= counts[:, None]] = 0  # padded slots, as in the jet tables
    vertices = torch.randn(n, 5, 14, generator=g)
    vertices[:, 3:] = 0
    return tracks.to(device), vertices.to(device), torch.randint(0, 2, (n,), generator=g).float().to(device)


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_rate(model, data, batch: int, device) -> float:
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    tracks, vertices, labels = data
    model.train()
    _sync(device)
    start = time.perf_counter()
    for k in range(0, len(labels), batch):
        optimiser.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(tracks[k:k + batch], vertices[k:k + batch]),
                                                              labels[k:k + batch])
        loss.backward()
        optimiser.step()
    _sync(device)
    return len(labels) / (time.perf_counter() - start)


def inference_rate(model, data, batch: int, device) -> float:
    tracks, vertices, _ = data
    model.eval()
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        for k in range(0, len(tracks), batch):
            model(tracks[k:k + batch], vertices[k:k + batch])
    _sync(device)
    return len(tracks) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=2048)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tracks", type=int, default=60)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    network = build_model(ModelConfig("in", shapes={"tracks": [args.tracks, 30], "vertices": [5, 14]})).to(device)
    n_params = sum(p.numel() for p in network.parameters())
    n_in = args.tracks * 30 + 5 * 14
    width = max(1, round((n_params - 1) / (n_in + 2)))  # n_in * w + w (bias) + w + 1 = n_params
    dense = Dense(n_in, width).to(device)
    dense_params = sum(p.numel() for p in dense.parameters())
    data = inputs(args.jets, args.tracks, device)
    warm = tuple(t[:64] for t in data)
    for model in (network, dense):  # first calls: allocation, kernels
        train_rate(model, warm, 64, device)
        inference_rate(model, warm, 64, device)
    rates = {}
    for name, model in (("in", network), ("dense", dense)):
        rates[name] = (train_rate(model, data, 256, device), inference_rate(model, data, 512, device))
    print(f"[{device}] {args.tracks} tracks; parameters: IN {n_params}, dense {dense_params} (one hidden layer of "
          f"{width})")
    for name, (train, infer) in rates.items():
        print(f"{name:>6}: training {train:9.0f} jets/s, inference {infer:9.0f} jets/s")
    print(f"IN / dense: training {rates['in'][0] / rates['dense'][0]:.4f}, "
          f"inference {rates['in'][1] / rates['dense'][1]:.4f}")


if __name__ == "__main__":
    main()
