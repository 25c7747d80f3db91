"""What EFP columns cost in processing: a study's processing of a sample with its EFP columns over the same
processing without them, in one process, on one core (the iterative executor). Goals: <= 3x for
configs/hbb_vs_qcd_efp.yaml (1 215 jet EFPs), <= 10x for configs/muons.yaml (cell EFPs and lepton-anchored EFPs).

With ``--electron-space``: the EFP space that Collado et al. scanned for electrons ("Learning to identify
electrons", arXiv:2011.01984): the 490 prime (connected) graphs up to degree 7 at 5 kappas x 3 betas, 7 350
columns of the cells, timed per 1 000 electrons (the processing with them minus the processing without them).

The sample is generated beforehand (generation is not timed), e.g.

    xaugcol generate pythia --process hbb,qcd --events 400 --pthat-min 300 --out /tmp/efpb/hbb
    python benchmarks/bench_efp_columns.py --config configs/hbb_vs_qcd_efp.yaml --fileset /tmp/efpb/hbb/fileset.json \
        [--set processing.efp.precision=float32]
    xaugcol generate pythia --process prompt_mu,nonprompt_mu --events 300 --out /tmp/efpb/mu
    python benchmarks/bench_efp_columns.py --config configs/muons.yaml --fileset /tmp/efpb/mu/fileset.json
    xaugcol generate pythia --process prompt_e,qcd_e --events 300 --out /tmp/efpb/e
    python benchmarks/bench_efp_columns.py --config configs/electrons.yaml --fileset /tmp/efpb/e/fileset.json \\
        --electron-space
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core on both sides
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from xaugcol.allocator import reuse_freed_memory  # noqa: E402
from xaugcol.features.efp.columns import EFPConfig  # noqa: E402
from xaugcol.processing.coffea_runner import load_fileset  # noqa: E402
from xaugcol.coffea_runs import run_processing  # noqa: E402
from xaugcol.workflow.config import Workflow  # noqa: E402

# Collado et al. (arXiv:2011.01984): prime graphs up to degree 7; 5 kappas x 3 betas
ELECTRON_SPACE = EFPConfig(degree=7, connected_only=True, kappas=(0.0, 0.25, 0.5, 1.0, 2.0), betas=(0.5, 1.0, 2.0),
                           max_columns=8000)


def without_efps(config):
    lepton = config.lepton if config.lepton is None else config.lepton.model_copy(update={"anchored_efp": None})
    return config.model_copy(update={"efp": None, "lepton": lepton})


def n_efp_columns(config) -> int:
    anchored = config.lepton.anchored_efp if config.lepton is not None else None
    return (config.efp.n_columns() if config.efp else 0) + (anchored.n_columns() if anchored else 0)


def timed(fileset: dict, out: Path, config, chunksize: int) -> tuple[float, int]:
    start = time.perf_counter()
    result = run_processing(fileset, out, chunksize=chunksize, config=config, overwrite=True)
    seconds = time.perf_counter() - start
    rows = sum(c["jets_kept"] for c in result.counts.values())  # the lepton tables count their leptons so too
    return seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the study configuration (its processing section)")
    parser.add_argument("--fileset", type=Path, required=True, help="a generated sample's fileset.json")
    parser.add_argument("--electron-space", action="store_true",
                        help="time Collado et al.'s electron EFP space (7 350 cell EFPs) instead of the study's")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the study configuration, as xaugcol study --set takes it")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side (the fastest counts)")
    args = parser.parse_args()
    reuse_freed_memory()
    wf = Workflow.load(args.config, args.set)
    chunksize = wf.processing_run.chunksize
    fileset = load_fileset(args.fileset)
    plain = without_efps(wf.processing)
    with_efps = plain.model_copy(update={"efp": ELECTRON_SPACE}) if args.electron_space else wf.processing
    with tempfile.TemporaryDirectory(prefix="bench_efp_columns_") as tmp:
        base = [timed(fileset, Path(tmp) / "plain", plain, chunksize) for _ in range(args.repeats)]
        efp = [timed(fileset, Path(tmp) / "efp", with_efps, chunksize) for _ in range(args.repeats)]
    t_plain, rows = min(base)
    t_efp, rows_efp = min(efp)
    if rows != rows_efp:
        raise SystemExit(f"the two runs kept different rows ({rows} and {rows_efp})")
    print(f"{args.config.name} on {args.fileset}: {rows} rows, chunks of {chunksize}, one core")
    print(f"{n_efp_columns(with_efps)} EFP columns: processing {t_efp:.1f} s with them, {t_plain:.1f} s without: "
          f"{t_efp / t_plain:.2f}x; {1000 * (t_efp - t_plain) / rows:.1f} s per 1 000 rows for the EFPs alone")


if __name__ == "__main__":
    main()
