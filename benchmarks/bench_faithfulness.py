"""Cost of the trust checks against the explanation itself, for every tagger (with XAUG joined, default
architectures, float32, 1 torch thread as in the relevance processor), in one process:

* input-perturbation curves (``xaugcol.explain.faithfulness.removal_logits``, three orders) / one LRP-epsilon pass
  on the same jets: what ``--faithfulness-steps`` adds per method to a relevance run (``--faithfulness-fraction``
  scales it down);
* integrated gradients (32 steps, captum) / LRP epsilon.

Jets: random inputs with the tagger's shapes, images sparse (a tenth of the pixels lit), particle lists padded
after 10 to 50 particles. Times are medians of interleaved repeats after a warm-up.

    python benchmarks/bench_faithfulness.py [--jets 512] [--steps 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from xaugcol.explain import faithfulness
from xaugcol.explain.methods import method_spec
from xaugcol.models.registry import ModelConfig, build_model


def jets(config: ModelConfig, n: int, gen: torch.Generator):
    out = []
    for kind in config.input_kinds():
        if kind.name == "image":
            x = torch.rand((n, 1, 37, 37), generator=gen) * (torch.rand((n, 1, 37, 37), generator=gen) < 0.1)
        elif kind.name == "particles":
            x = torch.randn((n, 50, 17), generator=gen)
            counts = torch.randint(10, 51, (n,), generator=gen)
            x = x * (torch.arange(50)[None, :] < counts[:, None]).unsqueeze(-1)
        else:
            x = torch.rand((n, len(config.xaug_columns)), generator=gen)
        out.append(x)
    return tuple(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jets", type=int, default=512)
    parser.add_argument("--steps", type=int, default=faithfulness.DEFAULT_STEPS)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    print(f"{args.jets} jets, {args.steps} steps; ratios of medians over {args.repeats} repeats")
    print(f"{'tagger':12s} {'curves / LRP':>13s} {'IG / LRP':>9s}")
    for model_name in ("cnn2d", "cnn1d", "lstm", "dnn"):
        config = ModelConfig(model_name, xaug=True)
        model = build_model(config).eval()
        x = jets(config, args.jets, gen)
        kinds = config.input_kinds()
        lrp = method_spec("epsilon").attributor(model)
        ig = method_spec("integrated_gradients").attributor(model)
        keys = np.arange(args.jets, dtype=np.uint64)
        attribution = lrp(*x)

        def curves():
            faithfulness.removal_logits(model, kinds, x, attribution.relevance, attribution.output,
                                        [0.0] * len(kinds), keys, args.steps)

        times = {"lrp": [], "curves": [], "ig": []}
        for fn in (lambda: lrp(*x), curves, lambda: ig(*x)):  # warm-up
            fn()
        for _ in range(args.repeats):
            for key, fn in (("lrp", lambda: lrp(*x)), ("curves", curves), ("ig", lambda: ig(*x))):
                start = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{model_name + '+xaug':12s} {med['curves'] / med['lrp']:13.1f} {med['ig'] / med['lrp']:9.1f}")


if __name__ == "__main__":
    main()
