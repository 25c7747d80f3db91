"""The cost of interpreting the Interaction Network, as ratios against a plain forward pass in the same process.

On the Interaction Network of Moreno et al. (arXiv:1909.12285) (60 tracks x 30 features, 5 vertices x 14) and padded random jets:
* LRP-gamma (through the pairs, sums and masks) / gradient x input, and each / one forward pass;
* occlusion of every track and vertex feature (44 forward passes) / one forward pass;
* a forward pass with the activation hooks recording (9 ReLUs) / one without.

    python benchmarks/bench_interpretation.py [--jets 512] [--tracks 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from xaugcol.explain import activations, occlusion
from xaugcol.explain.faithfulness import batch_logits
from xaugcol.explain.lrp import LRP
from xaugcol.explain.methods.gradient import GradientXInput
from xaugcol.features.kinds.tracks import TracksInput
from xaugcol.features.kinds.vertices import VerticesInput
from xaugcol.models.interaction import InteractionNetwork


def jets(n: int, n_tracks: int):
    g = torch.Generator().manual_seed(0)
    tracks = torch.randn(n, n_tracks, 30, generator=g)
    counts = torch.randint(5, n_tracks + 1, (n,), generator=g)
    tracks[torch.arange(n_tracks)[None, :] >= counts[:, None]] = 0
    vertices = torch.randn(n, 5, 14, generator=g)
    vertices[:, 3:] = 0
    return tracks, vertices


def best_of(repeats: int, call) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=512)
    parser.add_argument("--tracks", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(1)
    model = InteractionNetwork(n_tracks=args.tracks).eval()
    inputs = jets(args.jets, args.tracks)
    kinds = (TracksInput(args.tracks), VerticesInput(5))
    batch = 256
    lrp, gxi = LRP(model, "gamma"), GradientXInput(model)
    forward = best_of(args.repeats, lambda: batch_logits(model, inputs, batch))
    t_lrp = best_of(args.repeats, lambda: lrp(*inputs, batch_size=batch))
    t_gxi = best_of(args.repeats, lambda: gxi(*inputs, batch_size=batch))
    t_occ = best_of(1, lambda: occlusion.occlusion_logits(model, kinds, inputs, batch,
                                                          unmasked=batch_logits(model, inputs, batch)))

    def recorded():
        with activations.ActivationRecorder(model) as rec:
            batch_logits(model, inputs, batch)
        rec.per_jet()
    t_nap = best_of(args.repeats, recorded)
    print(f"IN, {args.jets} jets, {args.tracks} tracks, CPU, {torch.get_num_threads()} threads; "
          f"one forward pass {forward * 1e3:.0f} ms ({args.jets / forward:.0f} jets/s)")
    print(f"LRP-gamma / gradient x input: {t_lrp / t_gxi:.2f}   (LRP-gamma / forward {t_lrp / forward:.1f}, "
          f"gradient x input / forward {t_gxi / forward:.1f})")
    print(f"occlusion of {len(occlusion.groups_of(kinds))} features / forward: {t_occ / forward:.1f}")
    print(f"forward with activation hooks / without: {t_nap / forward:.2f}")


if __name__ == "__main__":
    main()
