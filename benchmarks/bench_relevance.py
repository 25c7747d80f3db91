"""Relevance run cost, as ratios measured in one process.

* relevance run / pure LRP: ``run_relevance`` over the jet tables (coffea's Runner reading parquet, inputs built
  with each member's scaler, LRP, normalisation, histogram filling, the ROOT and JSON outputs) divided by the LRP
  calls alone on the same jets and members (tensors ready, models loaded). Goal: at most 1.2.
* relevance run / processing run: how the explain step compares with making the jet tables.
* per tagger, filling the histograms of one chunk / the LRP call that gave the relevance.

    python benchmarks/bench_relevance.py [--jets 10000] [--rule epsilon]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from xaugcol.explain.options import ExplainOptions
from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.histograms import fill_relevance, tagger_histograms
from xaugcol.explain.lrp import LRP
from xaugcol.explain.statistics import feature_sums, normalise_per_jet
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.jet_table import ProcessingConfig
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.processing.table_io import read_tables
from xaugcol.coffea_runs import run_processing, run_relevance
from xaugcol.sources.toy import run_toy
from xaugcol.training.data import model_inputs
from xaugcol.training.train import TrainConfig, train_ensemble

TAGGERS = [ModelConfig("cnn2d", xaug=True), ModelConfig("cnn1d", xaug=True), ModelConfig("lstm", xaug=True),
           ModelConfig("dnn", xaug=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jets", type=int, default=10000, help="toy jets per class")
    parser.add_argument("--rule", default="epsilon", help="the explanation method")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the processor's setting: compare like with like
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_toy(tmp / "gen", args.jets, seed=3)
        fileset = load_fileset(tmp / "gen" / "fileset.json")
        chunk = args.jets // 2
        started = time.perf_counter()
        run_processing(fileset, tmp / "proc", chunksize=chunk)
        t_process = time.perf_counter() - started
        folders = []
        for config in TAGGERS:
            folder = tmp / config.model
            train_ensemble(str(tmp / "proc" / "jets"), config, TrainConfig(epochs=1), [0], str(folder))
            folders.append(folder)

        table = read_tables(tmp / "proc" / "jets")
        rows = {k: np.asarray(table[k].to_numpy()) for k in table.fields if k != "dataset"}
        t_lrp, per_tagger = 0.0, {}
        for folder in folders:
            ensemble = Ensemble.load(folder)
            seed, model, scalers = ensemble.load_members()[0]
            inputs = model_inputs(rows, ensemble.spec, scalers)
            tensors = [torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs]
            lrp = LRP(model, args.rule)
            lrp(*[t[:8] for t in tensors])  # warm-up: tracing and weight caches
            started = time.perf_counter()
            relevance = lrp(*tensors, batch_size=512).relevance
            elapsed = time.perf_counter() - started
            t_lrp += elapsed
            # filling one chunk's histograms against the LRP of the same chunk
            part = {k: v[:chunk] for k, v in rows.items()}
            normalised, kept = normalise_per_jet({k: r[:chunk].numpy()
                                                  for k, r in zip(ensemble.spec.inputs, relevance)})
            kinds = ensemble.spec.kinds
            started = time.perf_counter()
            hists = tagger_histograms(ensemble.name, kinds, (args.rule,), ProcessingConfig())
            fill_relevance(hists, ensemble.name, args.rule, seed, kinds, {k: v[kept] for k, v in part.items()},
                           normalised, feature_sums(normalised, kinds), ProcessingConfig())
            per_tagger[ensemble.name] = (time.perf_counter() - started, elapsed * chunk / len(rows["label"]))

        started = time.perf_counter()
        run_relevance(tmp / "proc", folders, tmp / "rel", ExplainOptions(rules=(args.rule,), split="all", faithfulness_steps=10, sanity_jets=50), chunksize=chunk)
        t_relevance = time.perf_counter() - started
        n = len(rows["label"])
        print(f"{n} toy jets in chunks of {chunk}, 4 taggers x 1 member x {args.rule}, iterative, 1 thread")
        print(f"relevance run / pure LRP = {t_relevance / t_lrp:.2f} ({t_relevance:.1f} s / {t_lrp:.1f} s; goal "
              f"<= 1.2)")
        print(f"relevance run / processing run = {t_relevance / t_process:.2f} ({t_process:.1f} s processing)")
        for name, (t_fill, t_chunk_lrp) in per_tagger.items():
            print(f"{name:6s} filling / LRP = {t_fill / t_chunk_lrp:.2f} ({t_fill * 1e3:.0f} ms / "
                  f"{t_chunk_lrp * 1e3:.0f} ms for {chunk} jets)")


if __name__ == "__main__":
    main()
