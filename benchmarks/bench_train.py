"""Training throughput of every tagger, and ONNX Runtime inference against torch, in one process.

For each tagger (with XAUG joined):
* training jets/s over one epoch of the real pipeline (lazy parquet reading, shuffling, scaling, Adam step),
  and its ratio to a bare forward + backward + step loop over the same number of jets held in memory
  (1.0 = the data pipeline costs nothing);
* inference jets/s of ONNX Runtime on the exported ``model.onnx`` divided by torch's (batch 512, no grad).

    python benchmarks/bench_train.py [--jets 5000] [--device cpu] [--taggers dnn,cnn2d,cnn1d,lstm,particlenet]

The epoch time of each tagger is printed too (ParticleNet's goal: reported beside the 1D CNN's).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch

from xaugcol.models.folder import load_model
from xaugcol.models.registry import ModelConfig, build_model
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.sources.toy import run_toy
from xaugcol.training.data import DataSpec, JetTables
from xaugcol.training.train import TrainConfig, train_member


def bare_loop_seconds(model, batches, names) -> float:
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    tensors = [([torch.from_numpy(b[n]) for n in names], torch.from_numpy(b["label"])) for b in batches]
    model.train()
    start = time.perf_counter()
    for inputs, target in tensors:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(*inputs), target)
        loss.backward()
        optimiser.step()
    return time.perf_counter() - start


def inference_rates(folder: Path, tables: JetTables, config: ModelConfig, scalers, repeats: int = 20):
    model, _, _ = load_model(folder)
    names = config.inputs()
    batch = next(tables.batches("test", 512, scalers=scalers))
    x = [torch.from_numpy(batch[n]) for n in names]
    n = len(batch["label"])
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {name: t.numpy() for name, t in zip(names, x)}
    with torch.no_grad():
        model(*x)
        start = time.perf_counter()
        for _ in range(repeats):
            model(*x)
        t_torch = time.perf_counter() - start
    session.run(None, feed)
    start = time.perf_counter()
    for _ in range(repeats):
        session.run(None, feed)
    t_onnx = time.perf_counter() - start
    return n * repeats / t_torch, n * repeats / t_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=5000, help="toy jets per class")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--taggers", default="dnn,cnn2d,cnn1d,lstm,particlenet", help="comma-separated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_toy(tmp / "gen", args.jets, seed=1)
        run_processing(load_fileset(tmp / "gen" / "fileset.json"), tmp / "proc")
        data = tmp / "proc" / "jets"
        for name in args.taggers.split(","):
            config = ModelConfig(name, xaug=True)
            tables = JetTables(data, DataSpec.of(config))
            n_train = len(tables.scan("train", ["label"])["label"])
            metrics = train_member(str(data), config, TrainConfig(epochs=1, device=args.device), 0,
                                   str(tmp / name))
            t_total = metrics["history"][0]["train_seconds"]
            model, cfg, scalers = load_model(tmp / name)
            batches = list(tables.batches("train", 256, seed=0, scalers=scalers))
            torch.manual_seed(0)
            t_bare = bare_loop_seconds(build_model(cfg), batches, cfg.inputs())
            t_torch, t_onnx = inference_rates(tmp / name, tables, cfg, scalers)
            print(f"{name:11s} train: {t_total:6.1f} s per epoch of {n_train} jets, {n_train / t_total:8,.0f} jets/s "
                  f"(pipeline), "
                  f"bare loop {n_train / t_bare:8,.0f} jets/s, ratio {t_bare / t_total:.2f} | inference: torch "
                  f"{t_torch:9,.0f} jets/s, ONNX Runtime {t_onnx:9,.0f} jets/s, ONNX / torch = "
                  f"{t_onnx / t_torch:.2f} | AUC after 1 epoch {metrics['auc']:.3f}")


if __name__ == "__main__":
    main()
