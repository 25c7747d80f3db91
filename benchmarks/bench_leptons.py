"""Lepton samples: the cost of the detector simulation and of the lepton table, each against a reference run in
the same process.

* generation: converting a Pythia batch of b bbar events (forced B -> mu) to lepton events (calorimeter with
  pile-up and noise, tracker, candidates) / Pythia's own ``nextBatch`` of the same events;
* processing: the lepton table with EFPs of the cells (degree 4, 4 kappas, 3 betas) and anchored EFPs (degree 3)
  / the same table without them.

    python benchmarks/bench_leptons.py [--batches 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()

    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from xaugcol.console import quiet_library_warnings
    from xaugcol.features.efp.columns import EFPConfig
    from xaugcol.processing.lepton_table import AnchoredEFPConfig, LeptonConfig, build_lepton_table
    from xaugcol.sources.nanoaod import write_events
    from xaugcol.sources.processes import BUILTIN
    from xaugcol.sources.pythia import PythiaJob, make_pythia, pythia_settings
    from xaugcol.sources.pythia_events import SpeciesTable
    from xaugcol.sources.pythia_leptons import LeptonSelection, leptons_to_nanoaod

    quiet_library_warnings()
    process = BUILTIN["nonprompt_mu_forced"]
    job = PythiaJob(process, 0, 17, 0, "unused", 30.0, selection=LeptonSelection())
    pythia = make_pythia(pythia_settings(job))
    species = SpeciesTable(pythia.particleData)
    rng = np.random.default_rng(1)
    t_pythia = t_convert = 0.0
    chunks = []
    for k in range(args.batches):
        start = time.perf_counter()
        batch = pythia.nextBatch(250)
        t_pythia += time.perf_counter() - start
        start = time.perf_counter()
        branches, _ = leptons_to_nanoaod(batch, species, process, LeptonSelection(), 1 + 1000 * k, 1, rng)
        t_convert += time.perf_counter() - start
        chunks.append(branches)
    n_events = 250 * args.batches
    print(f"generation: {n_events} b bbar events, {sum(len(c['event']) for c in chunks)} with a muon")
    print(f"  detector simulation / Pythia nextBatch: {t_convert / t_pythia:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mu.root"
        write_events(path, chunks)
        events = NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()
        plain = LeptonConfig()
        rich = LeptonConfig(anchored_efp=AnchoredEFPConfig(3, (0.0, 0.5, 1.0, 2.0), (0.5, 1.0, 2.0)))
        efp = EFPConfig(4, (0.0, 0.5, 1.0, 2.0), (0.5, 1.0, 2.0))
        timings = {}
        for name, config, efps in (("plain", plain, None), ("efps", rich, efp)):
            start = time.perf_counter()
            table, _, _ = build_lepton_table(events, "mu", 0, config, efps)
            timings[name] = time.perf_counter() - start
        n_lep = len(table["label"])
        columns = len(efp.columns()) + len(rich.anchored_efp.columns())
        print(f"processing: {n_lep} muons, {columns} EFP columns ({len(rich.anchored_efp.columns())} anchored)")
        print(f"  lepton table without EFPs: {n_lep / timings['plain']:.0f} muons/s")
        print(f"  with the EFPs / without: {timings['efps'] / timings['plain']:.1f}")


if __name__ == "__main__":
    main()
