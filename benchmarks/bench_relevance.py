"""Relevance processing cost, as ratios measured in one process.

* whole run: the relevance processor (jet table + LRP of each tagger, one member, one rule, every jet) over a toy
  fileset divided by the XAUG processor over the same fileset and chunks (iterative executor both);
* filling: per tagger, the time to fill the relevance histograms of one chunk divided by the LRP call that gave
  the relevance (how much the histograms add to explaining).

    python benchmarks/bench_relevance.py [--jets 2000] [--rule epsilon]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.histograms import fill_relevance, tagger_histograms
from xaugcol.explain.lrp import LRP
from xaugcol.explain.run import run_relevance
from xaugcol.explain.statistics import feature_sums, normalise_per_jet
from xaugcol.processing.jet_table import ProcessingConfig
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.run import load_fileset, run_processing
from xaugcol.processing.table_io import read_tables
from xaugcol.sources.toy import run_toy
from xaugcol.training.data import model_inputs
from xaugcol.training.train import TrainConfig, train_ensemble

TAGGERS = [ModelConfig("cnn2d", xaug=True), ModelConfig("cnn1d", xaug=True), ModelConfig("lstm", xaug=True),
           ModelConfig("dnn", xaug=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=2000, help="toy jets per class")
    parser.add_argument("--rule", default="epsilon")
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
        started = time.perf_counter()
        run_relevance(fileset, folders, tmp / "rel", (args.rule,), split="all", chunksize=chunk)
        t_relevance = time.perf_counter() - started
        print(f"{2 * args.jets} toy jets, chunks of {chunk} events, 4 taggers x 1 member x rule {args.rule}")
        print(f"whole run: relevance processor / XAUG processor = {t_relevance / t_process:.2f} "
              f"({t_relevance:.1f} s / {t_process:.1f} s)")

        table = read_tables(tmp / "proc" / "jets")
        rows = {k: np.asarray(table[k].to_numpy()) for k in table.fields if k != "dataset"}
        rows = {k: v[:chunk] for k, v in rows.items()}
        for folder in folders:
            ensemble = Ensemble.load(folder)
            seed, model, scaler = ensemble.load_members()[0]
            inputs = model_inputs(rows, ensemble.spec, scaler.transform)
            tensors = [torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs]
            lrp = LRP(model, args.rule)
            lrp(*tensors)  # warm-up: tracing and weight caches
            started = time.perf_counter()
            relevance = lrp(*tensors).relevance
            t_lrp = time.perf_counter() - started
            started = time.perf_counter()
            normalised, kept = normalise_per_jet({k: r.numpy() for k, r in zip(ensemble.spec.inputs, relevance)})
            kinds = ensemble.spec.kinds
            hists = tagger_histograms(ensemble.name, kinds, (args.rule,), ProcessingConfig())
            fill_relevance(hists, ensemble.name, args.rule, seed, kinds, {k: v[kept] for k, v in rows.items()},
                           normalised, feature_sums(normalised, kinds), ProcessingConfig())
            t_fill = time.perf_counter() - started
            print(f"{ensemble.name:6s} filling / LRP = {t_fill / t_lrp:.2f} ({t_fill * 1e3:.0f} ms / "
                  f"{t_lrp * 1e3:.0f} ms for {chunk} jets)")


if __name__ == "__main__":
    main()
