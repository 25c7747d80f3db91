"""Lepton samples: the cost of the detector simulation and of the lepton table, each against a reference run in
the same process.

* generation with the CMS-like detector (``prompt_mu``, ``nonprompt_mu``, ``prompt_e``, ``qcd_e``: pile-up
  overlay of mu = 50, 3.8 T, parametrised hadron showers): Pythia's events/s and kept events/s per core, and the
  detector simulation's time with the overlay and without it (the same batches converted twice), each / Pythia's
  own ``nextBatch``;
* generation, the first samples: converting a Pythia batch of b bbar events (forced B -> mu) to lepton events
  (calorimeter with flat pile-up and noise, tracker, candidates) / Pythia's own ``nextBatch`` of the same events;
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
    from xaugcol.sources.species import SpeciesTable
    from xaugcol.sources.pythia_leptons import LeptonSelection, leptons_to_nanoaod

    quiet_library_warnings()
    paper_setup(args.batches)
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
        rich = LeptonConfig(anchored_efp=AnchoredEFPConfig(degree=3, kappas=(0.0, 0.5, 1.0, 2.0), betas=(0.5, 1.0, 2.0)))
        efp = EFPConfig(degree=4, kappas=(0.0, 0.5, 1.0, 2.0), betas=(0.5, 1.0, 2.0))
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


def paper_setup(batches: int) -> None:
    """The CMS-like detector of the lepton studies: the overlay's and the detector simulation's shares of Pythia's
    time."""
    from dataclasses import replace

    from xaugcol.sources.pileup import PileupSettings, generate_pool
    from xaugcol.sources.processes import BUILTIN
    from xaugcol.sources.pythia import PythiaJob, _selection, detector, make_pythia, pythia_settings
    from xaugcol.sources.species import SpeciesTable
    from xaugcol.sources.pythia_leptons import leptons_to_nanoaod

    start = time.perf_counter()
    pool = generate_pool(PileupSettings(), seed=1, ecm=13000.0)
    t_pool = time.perf_counter() - start
    print(f"pile-up pool: {pool.size} interactions, {int(pool.offsets[-1])} particles in {t_pool:.1f} s")
    for name in ("prompt_mu", "nonprompt_mu", "prompt_e", "qcd_e"):
        process = BUILTIN[name]
        job = PythiaJob(process, 0, 17, 0, "unused", process.default_pthat_min(), selection=_selection(process))
        pythia = make_pythia(pythia_settings(job))
        species = SpeciesTable(pythia.particleData)
        with_overlay = replace(detector(replace(job, pileup=PileupSettings(mu=0))), pileup=PileupSettings(mu=50),
                               pool=pool)
        without = replace(with_overlay, pileup=PileupSettings(mu=0), pool=None)
        t_pythia, t_with, t_without, kept = 0.0, 0.0, 0.0, 0
        for k in range(batches):
            start = time.perf_counter()
            batch = pythia.nextBatch(250)
            t_pythia += time.perf_counter() - start
            for seen_by, slot in ((with_overlay, "with"), (without, "without")):
                rng = np.random.default_rng(k)
                start = time.perf_counter()
                branches, _ = leptons_to_nanoaod(batch, species, process, job.selection, 1, 1, rng, detector=seen_by)
                elapsed = time.perf_counter() - start
                if slot == "with":
                    t_with += elapsed
                    kept += len(branches["event"])
                else:
                    t_without += elapsed
        n = 250 * batches
        print(f"{name}: Pythia {n / t_pythia:.0f} events/s, {kept} of {n} kept ({kept / (t_pythia + t_with):.1f} "
              f"kept events/s with the detector simulation)")
        print(f"  detector simulation with the overlay / Pythia: {t_with / t_pythia:.3f}; without it: "
              f"{t_without / t_pythia:.3f}; the overlay's share: {(t_with - t_without) / t_pythia:.3f}")


if __name__ == "__main__":
    main()
