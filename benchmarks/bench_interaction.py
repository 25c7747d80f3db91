"""Interaction Network throughput against a plain dense network of equal parameter count, in one process.

The IN (seed sizes: 60 tracks x 30 features, 5 vertices x 14, width 60, De 20, Do 24) does its work on all
N(N-1) track pairs; the reference is a dense network on the same inputs flattened, with one hidden layer as wide as
makes its parameter count equal to the IN's. Figures (ratios, since this machine is noisy):
* training jets/s (forward + backward + Adam step, batch 256, inputs in memory): IN / dense;
* inference jets/s (batch 512, no grad): IN / dense;
* the toolkit's inference (``batch_logits``: jets taken in order of their track count, each batch cut to its
  longest jet within an element budget, ``xaugcol.models.batching``) / the same network on padded batches of 512;
and the absolute rates, with the processor time split into user and system (system time is the kernel mapping
and zeroing the large activation tensors), on CPU and, with ``--device cuda``, on the GPU. ``--counts``: real
tracks per jet uniform in 5..60 (``uniform``), all 60 (``full``, the worst case), or drawn from the track counts of
a jet-table folder (``--tables``).

    python benchmarks/bench_interaction.py [--jets 2048] [--device cpu] [--tracks 60] [--counts uniform|full]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from xaugcol.allocator import reuse_freed_memory
from torch import nn

from xaugcol.explain.faithfulness import batch_logits
from xaugcol.models.registry import ModelConfig, build_model
from xaugcol.training.train import learn


class Dense(nn.Module):
    def __init__(self, n_in: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, tracks, vertices):
        return self.net(torch.cat([tracks.flatten(1), vertices.flatten(1)], dim=1)).squeeze(1)


def track_counts(kind: str, n: int, n_tracks: int, g: torch.Generator, tables: str | None) -> torch.Tensor:
    if kind == "full":
        return torch.full((n,), n_tracks)
    if kind == "tables":
        import glob

        import pyarrow.parquet as pq
        import numpy as np
        files = sorted(glob.glob(f"{tables}/**/*.parquet", recursive=True))
        counts = np.concatenate([pq.read_table(f, columns=["n_tracks"])["n_tracks"].to_numpy() for f in files])
        pick = torch.randint(0, len(counts), (n,), generator=g)
        return torch.from_numpy(np.minimum(counts, n_tracks).astype(np.int64))[pick]
    return torch.randint(5, n_tracks + 1, (n,), generator=g)


def inputs(n: int, n_tracks: int, device, counts: str = "uniform", tables: str | None = None) \
        -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    tracks = torch.randn(n, n_tracks, 30, generator=g)
    counts = track_counts(counts, n, n_tracks, g, tables)
    tracks[torch.arange(n_tracks)[None, :] >= counts[:, None]] = 0  # padded slots, as in the jet tables
    vertices = torch.randn(n, 5, 14, generator=g)
    vertices[:, 3:] = 0
    return tracks.to(device), vertices.to(device), torch.randint(0, 2, (n,), generator=g).float().to(device)


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_rate(model, data, batch: int, device, planned: bool = False) -> float:
    """Training jets/s: forward, backward and Adam step per batch; ``planned``: the toolkit's step (``learn``:
    a tagger that trims padding runs each batch in trimmed pieces), else the network on the padded batch."""
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    tracks, vertices, labels = data
    model.train()
    factors = np.ones(2)
    _sync(device)
    start = time.perf_counter()
    for k in range(0, len(labels), batch):
        optimiser.zero_grad()
        if planned:
            rows = {"tracks": tracks[k:k + batch].cpu().numpy(), "vertices": vertices[k:k + batch].cpu().numpy(),
                    "label": labels[k:k + batch].cpu().numpy(), "weight": np.ones(len(labels[k:k + batch]))}
            learn(model, rows, ("tracks", "vertices"), device, factors)
        else:
            loss = nn.functional.binary_cross_entropy_with_logits(model(tracks[k:k + batch], vertices[k:k + batch]),
                                                                  labels[k:k + batch])
            loss.backward()
        optimiser.step()
    _sync(device)
    return len(labels) / (time.perf_counter() - start)


def planned_rate(model, data, batch: int, device) -> float:
    tracks, vertices, _ = data
    _sync(device)
    start = time.perf_counter()
    batch_logits(model, (tracks, vertices), batch)
    _sync(device)
    return len(tracks) / (time.perf_counter() - start)


def cpu_times(call) -> tuple[float, float, float]:
    """(result, user seconds, system seconds) of ``call()`` in this process."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = call()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return result, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


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
    parser.add_argument("--counts", choices=("uniform", "full", "tables"), default="uniform")
    parser.add_argument("--tables", help="a jet-table folder whose n_tracks the jets take (--counts tables)")
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's allocator as it is (the toolkit's commands tune it: xaugcol.allocator)")
    args = parser.parse_args()
    if not args.default_allocator:
        reuse_freed_memory()
    device = torch.device(args.device)
    torch.manual_seed(0)
    network = build_model(ModelConfig("in", shapes={"tracks": [args.tracks, 30], "vertices": [5, 14]})).to(device)
    n_params = sum(p.numel() for p in network.parameters())
    n_in = args.tracks * 30 + 5 * 14
    width = max(1, round((n_params - 1) / (n_in + 2)))  # n_in * w + w (bias) + w + 1 = n_params
    dense = Dense(n_in, width).to(device)
    dense_params = sum(p.numel() for p in dense.parameters())
    data = inputs(args.jets, args.tracks, device, args.counts, args.tables)
    warm = tuple(t[:64] for t in data)
    for model in (network, dense):  # first calls: allocation, kernels
        train_rate(model, warm, 64, device)
        inference_rate(model, warm, 64, device)
    rates, times = {}, {}
    for name, model in (("in", network), ("dense", dense)):
        train, *times[name, "training"] = cpu_times(lambda: train_rate(model, data, 256, device))
        infer, *times[name, "padded"] = cpu_times(lambda: inference_rate(model, data, 512, device))
        rates[name] = (train, infer)
    planned, *times["in", "planned"] = cpu_times(lambda: planned_rate(network, data, 512, device))
    planned_train, *times["in", "planned training"] = cpu_times(lambda: train_rate(network, data, 256, device, True))
    tracks = (data[0] != 0).any(-1).sum(1).double()
    print(f"[{device}] {args.tracks} track slots ({args.counts}: mean {float(tracks.mean()):.1f} real, rms "
          f"{float(tracks.pow(2).mean().sqrt()):.1f}); parameters: IN {n_params}, dense {dense_params} (one hidden "
          f"layer of {width}); {torch.get_num_threads()} threads")
    for name, (train, infer) in rates.items():
        print(f"{name:>6}: training {train:9.0f} jets/s, inference {infer:9.0f} jets/s (padded batches of 512)")
    print(f"    in: inference {planned:9.0f} jets/s (batch_logits: by track count, trimmed)")
    print(f"    in: training  {planned_train:9.0f} jets/s (training.train.learn: each batch in trimmed pieces)")
    for (name, what), (user, system) in times.items():
        print(f"{name:>6} {what:>16}: user {user:6.2f} s, system {system:6.2f} s (system / user {system / max(user, 1e-9):.2f})")
    print(f"IN / dense: training {rates['in'][0] / rates['dense'][0]:.4f}, "
          f"inference {rates['in'][1] / rates['dense'][1]:.4f}")
    print(f"IN planned / padded batches: inference {planned / rates['in'][1]:.2f}, training "
          f"{planned_train / rates['in'][0]:.2f}")

if __name__ == "__main__":
    main()
