"""LRP speed for every tagger (with XAUG joined, default architectures, batch 512, float32), in one process:

* LRP time / gradient-times-input time (one forward + one input-gradient backward), per composite: the cost of
  explaining over the cheapest attribution there is (goal <= 1.3);
* zennit's time / ours for the same rules, zennit applied to the single-input equivalent of the tagger (it takes
  one input tensor); for the LSTM zennit has no rule and passes a plain gradient, so that figure compares unequal
  work and is marked.

Times are medians of interleaved repeats after a warm-up.

    python benchmarks/bench_lrp.py [--batch 512] [--repeats 9] [--device cpu] [--taggers cnn2d,...,particlenet]

ParticleNet (goal: LRP <= 3x gradient x input) has no zennit equivalent (its kNN graph and masks are beyond a
single-input canonizer): its zennit columns read "-". Its particle lists hold ``--particles`` real particles of 50
slots (a toy jet's 20 by default), as a real batch would; both sides then run in the toolkit's planned batches
(``xaugcol.models.batching``: cut to the longest jet, under the element budget): gradient x input as the toolkit
computes it (``xaugcol.explain.methods.gradient.GradientXInput``), so both do the same work.
    (needs zennit: pip install --no-deps zennit==0.5.1)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from lrp_reference import SingleInput, import_zennit  # noqa: E402

from xaugcol.allocator import reuse_freed_memory  # noqa: E402
from xaugcol.explain.lrp import LRP  # noqa: E402
from xaugcol.explain.methods.gradient import GradientXInput  # noqa: E402
from xaugcol.models.registry import ModelConfig, build_model  # noqa: E402


def inputs_for(config: ModelConfig, batch: int, gen: torch.Generator):
    shapes = {"image": (1, *config.shape_of("image", (37, 37))), "particles": config.shape_of("particles", (50, 17)),
              "xaug": (len(config.xaug_columns),)}
    out = []
    for name in config.inputs():
        x = torch.randn((batch,) + shapes[name], generator=gen)
        out.append(x.abs() if name == "image" else x)
    return tuple(out)


def gradient_times_input(model, inputs):
    leaves = [x.detach().requires_grad_(True) for x in inputs]
    out = model(*leaves)
    grads = torch.autograd.grad(out, leaves, torch.ones_like(out))
    return [x * g for x, g in zip(leaves, grads)]


def zennit_call(model, flat, name_map, zennit):
    composite = zennit.composites.NameMapComposite(name_map,
                                                   canonizers=[zennit.canonizers.SequentialMergeBatchNorm()])
    with composite.context(model) as modified:
        x = flat.detach().requires_grad_(True)
        out = modified(x)
        torch.autograd.grad(out, x, out.detach())


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--taggers", default="cnn2d,cnn1d,lstm,dnn,particlenet", help="comma-separated")
    parser.add_argument("--particles", type=int, default=20, help="real particles per ParticleNet jet")
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's allocator as it is (the toolkit's commands tune it: xaugcol.allocator)")
    args = parser.parse_args()
    if not args.default_allocator:
        reuse_freed_memory()
    zennit = import_zennit()
    rules = {"epsilon": zennit.rules.Epsilon(1e-6), "alpha1beta0": zennit.rules.AlphaBeta(1, 0),
             "gamma": zennit.rules.Gamma(0.25)}
    gen = torch.Generator().manual_seed(1)
    print(f"batch {args.batch}, device {args.device}, torch threads {torch.get_num_threads()}")
    print(f"{'tagger':8s} {'composite':12s} {'grad*x ms':>10s} {'LRP ms':>8s} {'LRP/grad':>9s} {'zennit ms':>10s} "
          f"{'zennit/LRP':>11s}")
    for name in args.taggers.split(","):
        torch.manual_seed(0)
        config = ModelConfig(model=name, xaug=True)
        model = build_model(config).to(args.device).eval()
        inputs = tuple(x.to(args.device) for x in inputs_for(config, args.batch, gen))
        if name == "particlenet":
            inputs[0][:, args.particles :] = 0.0  # padding after the real particles
            with_zennit = False
        else:
            with_zennit = True
        single = SingleInput(model, [tuple(x.shape[1:]) for x in inputs])
        flat = SingleInput.flatten(inputs)
        names = tuple(f"tagger.{n}" for n, m in model.named_modules()
                      if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)))
        for composite in ("epsilon", "alpha1beta0", "gamma"):
            lrp = LRP(model, {"default": composite if composite != "gamma" else {"rule": "gamma", "gamma": 0.25}})
            with torch.no_grad():
                lrp(*inputs)
            grad = gradient_times_input if with_zennit else lambda m, x: GradientXInput(m)(*x)
            grad(model, inputs)
            if with_zennit:
                zennit_call(single, flat, [(names, rules[composite])], zennit)
            t_grad, t_lrp, t_zen = [], [], []
            for _ in range(args.repeats):  # interleaved, so drifts of the machine hit all three alike
                t_grad.append(median_time(lambda: grad(model, inputs), 1))
                t_lrp.append(median_time(lambda: lrp(*inputs), 1))
                if with_zennit:
                    t_zen.append(
                        median_time(lambda: zennit_call(single, flat, [(names, rules[composite])], zennit), 1)
                    )
            g, lr = statistics.median(t_grad), statistics.median(t_lrp)
            mark = " (zennit: LSTM as plain gradient)" if name == "lstm" else ""
            zen = f"{statistics.median(t_zen) * 1e3:10.2f} {statistics.median(t_zen) / lr:11.2f}" if t_zen else (
                f"{'-':>10s} {'-':>11s}")
            print(f"{name:11s} {composite:12s} {g * 1e3:10.2f} {lr * 1e3:8.2f} {lr / g:9.2f} {zen}{mark}", flush=True)


if __name__ == "__main__":
    main()
