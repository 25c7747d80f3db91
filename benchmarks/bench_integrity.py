"""What the integrity checks cost, as fractions of the work they protect (same process, same files):

* screening the inputs (regular file, tree, event-ID branches, every basket inside the file, file identity),
  reconciling the jet-table folder with the run's report (one parquet footer per table, ownership of the others
  from the run's records) and listing the tables for training (the report read, every listed table checked: a
  regular file with its row count), against the processing run itself;
* fingerprinting a member's folder (SHA-256 of every member file) for a resumable LRP run, against loading that
  member.

Run: python benchmarks/bench_integrity.py [--jets 20000] [--chunksize 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from xaugcol.models.folder import folder_digest, load_model
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.coffea_runner import load_fileset, screen_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.processing.outputs import OwnedTables, earlier_records, reconcile_tables
from xaugcol.sources.toy import run_toy
from xaugcol.training.data import DataSpec, JetTables
from xaugcol.training.train import TrainConfig, train_ensemble


def best_of(n: int, function) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=20_000, help="toy jets per class")
    parser.add_argument("--chunksize", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_toy(tmp / "gen", args.jets, seed=1)
        fileset = load_fileset(tmp / "gen" / "fileset.json")
        started = time.perf_counter()
        result = run_processing(fileset, tmp / "proc", chunksize=args.chunksize)
        processing = time.perf_counter() - started
        tables = result.report["tables"]
        screening = best_of(3, lambda: screen_fileset(fileset, skip_bad_files=False))
        owned = OwnedTables(earlier_records(tmp / "proc"))
        reconciling = best_of(3, lambda: reconcile_tables(tmp / "proc", tables, owned))
        config = ModelConfig("cnn1d", xaug=True)
        listing = best_of(3, lambda: JetTables(tmp / "proc", DataSpec.of(config)))
        print(f"{2 * args.jets} jets in {len(tables)} tables; processing run {processing:.2f} s")
        print(f"screening the inputs / processing run = {screening / processing:.4f}")
        print(f"reconciling the table folder / processing run = {reconciling / processing:.4f}")
        print(f"listing and checking the tables for training / processing run = {listing / processing:.4f}")

        train_ensemble(str(tmp / "proc" / "jets"), config, TrainConfig(epochs=1), [0], str(tmp / "cnn1d"))
        member = tmp / "cnn1d" / "seed_0"
        digest = best_of(5, lambda: folder_digest(member))
        loading = best_of(5, lambda: load_model(member))
        print(f"fingerprinting a member folder / loading the member = {digest / loading:.3f}")


if __name__ == "__main__":
    main()
