"""The cost of interpreting the Interaction Network, as ratios against a plain forward pass in the same process.

On the Interaction Network of Moreno et al. (arXiv:1909.12285) (60 tracks x 30 features, 5 vertices x 14) and padded random jets:
* LRP-gamma (through the pairs, sums and masks) / gradient x input, and each / one forward pass;
* occlusion of every track and vertex feature (44 forward passes) / one forward pass;
* a forward pass with the activation hooks recording (9 ReLUs) / one without.

    python benchmarks/bench_interpretation.py [--jets 512] [--tracks 60] [--repeats 3] [--counts uniform|full]

(``--counts`` as in bench_interaction.py). The forward pass, LRP, gradient x input, occlusion and the activation
pass all run in the batches ``xaugcol.models.batching`` plans; the padded forward pass is the reference.
"""

from __future__ import annotations

import argparse
import time

import torch
from bench_interaction import cpu_times, inputs

from xaugcol.allocator import reuse_freed_memory
from xaugcol.explain import activations, occlusion
from xaugcol.explain.faithfulness import batch_logits
from xaugcol.explain.lrp import LRP
from xaugcol.explain.methods.gradient import GradientXInput
from xaugcol.features.kinds.tracks import TracksInput
from xaugcol.features.kinds.vertices import VerticesInput
from xaugcol.models.interaction import InteractionNetwork


def jets(n: int, n_tracks: int, counts: str = "uniform", tables: str | None = None):
    tracks, vertices, _ = inputs(n, n_tracks, torch.device("cpu"), counts, tables)
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
    parser.add_argument("--counts", choices=("uniform", "full", "tables"), default="uniform")
    parser.add_argument("--tables", help="a jet-table folder whose n_tracks the jets take (--counts tables)")
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's allocator as it is (the toolkit's commands tune it: xaugcol.allocator)")
    args = parser.parse_args()
    if not args.default_allocator:
        reuse_freed_memory()
    torch.manual_seed(1)
    model = InteractionNetwork(n_tracks=args.tracks).eval()
    inputs = jets(args.jets, args.tracks, args.counts, args.tables)
    kinds = (TracksInput(args.tracks), VerticesInput(5))
    batch = 256
    lrp, gxi = LRP(model, "gamma"), GradientXInput(model)
    forward = best_of(args.repeats, lambda: batch_logits(model, inputs, batch))
    def padded_pass():  # the network on padded batches in the inputs' order (before models.batching)
        with torch.no_grad():
            for k in range(0, args.jets, batch):
                model(*(x[k:k + batch] for x in inputs))
    padded = best_of(args.repeats, padded_pass)
    t_lrp = best_of(args.repeats, lambda: lrp(*inputs, batch_size=batch))
    _, lrp_user, lrp_system = cpu_times(lambda: lrp(*inputs, batch_size=batch))
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
    print(f"forward in the planned batches / padded batches of {batch}: {padded / forward:.2f}x faster "
          f"(padded {args.jets / padded:.0f} jets/s)")
    print(f"LRP-gamma: user {lrp_user:.2f} s, system {lrp_system:.2f} s (system / user "
          f"{lrp_system / max(lrp_user, 1e-9):.2f})")
    print(f"LRP-gamma / gradient x input: {t_lrp / t_gxi:.2f}   (LRP-gamma / forward {t_lrp / forward:.1f}, "
          f"gradient x input / forward {t_gxi / forward:.1f})")
    print(f"occlusion of {len(occlusion.groups_of(kinds))} features / forward: {t_occ / forward:.1f}")
    print(f"forward with activation hooks / without: {t_nap / forward:.2f}")
    per_jet = (t_lrp + t_occ + t_nap) / args.jets
    print(f"LRP-gamma + occlusion + activations, extrapolated to 100 000 jets: {per_jet * 1e5 / 60:.1f} min")


if __name__ == "__main__":
    main()
