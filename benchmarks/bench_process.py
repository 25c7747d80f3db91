"""Speed and memory of the XAUG processor, against bare FastJet in the same process.

Figures:
* jets/s of ``run_processing`` (coffea Runner, iterative: reading, constituents, C/A + SoftDrop + N-subjettiness +
  ECFs, particle lists, images, parquet and histograms) divided by jets/s of a bare fastjet reclustering + SoftDrop
  (the awkward interface, ``exclusive_jets_softdrop_grooming``) on the same constituents (goal >= 0.8): the
  fastest of ``--repeats`` alternating runs after a first run of each side, which is reported too (it pays the
  one-time costs: imports, caches and, on this VM, the first touch of fresh memory);
* the same ratio for the substructure step alone (``xaugcol.jets.substructure.compute``), and the time of its
  fallback backend (fastjet's Python API, ``XAUGCOL_SUBSTRUCTURE=fastjet``) over the C++ extension's;
* peak resident memory (the high-water mark of a fresh subprocess, /proc/self/status VmHWM) of one 100k-jet chunk through
  the processor as coffea's Runner gives it (events read on first use; the table built and written block by
  block, histograms filled), in total (goal: under 2 GiB) and per 1 000 jets above the process before it.

    python benchmarks/bench_process.py [--jets 20000] [--repeats 3] [--memory-jets 100000] [--fileset FILESET.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import awkward as ak
import fastjet
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from xaugcol.jets import substructure
from xaugcol.jets.constituents import detect_layout, jet_constituents
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.sources.toy import run_toy


def all_constituents(fileset: dict) -> ak.Array:
    parts = []
    for entry in fileset.values():
        for path, tree in entry["files"].items():
            events = NanoEventsFactory.from_root({path: tree}, schemaclass=NanoAODSchema, mode="eager").events()
            parts.append(ak.flatten(jet_constituents(events, detect_layout(events)), axis=1))
    return ak.concatenate(parts)


def bare_fastjet_seconds(parts: ak.Array) -> float:
    p4 = ak.zip({"px": parts.px, "py": parts.py, "pz": parts.pz, "E": parts.E})
    start = time.perf_counter()
    cluster = fastjet.ClusterSequence(p4, fastjet.JetDefinition(fastjet.cambridge_algorithm, 1000.0))
    cluster.exclusive_jets_softdrop_grooming(njets=1, beta=0.0, symmetry_cut=0.1, R0=0.8)
    return time.perf_counter() - start


MEMORY_SCRIPT = """
import json, sys
import uproot
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory
from xaugcol.processors.xaug_processor import XAUGProcessor


def peak_mib():  # this process's own high-water mark (getrusage's maximum keeps the parent's across exec)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


path, out = sys.argv[1], sys.argv[2]
n = uproot.open(path)["Events"].num_entries
meta = {"dataset": "toy", "filename": path, "entrystart": 0, "entrystop": n}
imported = peak_mib()
# read as coffea's Runner reads a chunk (columns on first use), processed and written as its processor does
events = NanoEventsFactory.from_root({path: "Events"}, schemaclass=NanoAODSchema, metadata=meta,
                                     mode="virtual").events()
output = XAUGProcessor(out, {"toy": 1}).process(events)
jets = sum(output["tables"].values())
print(json.dumps({"jets": jets, "imported_mib": imported, "after_mib": peak_mib()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=20_000, help="toy jets per class for the speed ratio")
    parser.add_argument("--memory-jets", type=int, default=100_000, help="jets in the memory chunk")
    parser.add_argument("--fileset", type=Path, help="measure on this fileset instead of toy jets")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.fileset:
            fileset = load_fileset(args.fileset)
        else:
            run_toy(tmp / "toy", args.jets, seed=1)
            fileset = load_fileset(tmp / "toy" / "fileset.json")
        parts = all_constituents(fileset)
        n = len(parts)
        substructure.compute(parts[:100])  # library loading
        runs = iter(range(10**6))

        def processor() -> float:
            start = time.perf_counter()
            run_processing(fileset, tmp / f"out{next(runs)}", chunksize=200_000)
            return time.perf_counter() - start

        def substructure_alone() -> float:
            start = time.perf_counter()
            substructure.compute(parts)
            return time.perf_counter() - start

        # the first run of each side pays one-time costs (imports, caches, the first touch of fresh memory, which
        # this VM backs lazily: about 1 s for the first 288 MB); then the sides alternate and the fastest counts
        cold = processor() / bare_fastjet_seconds(parts)
        times = {"bare": [], "sub": [], "full": []}
        for _ in range(args.repeats):
            times["bare"].append(bare_fastjet_seconds(parts))
            times["sub"].append(substructure_alone())
            times["full"].append(processor())
        bare, sub, full = (min(times[k]) for k in ("bare", "sub", "full"))
        os.environ["XAUGCOL_SUBSTRUCTURE"] = "fastjet"
        fallback = substructure_alone()
        del os.environ["XAUGCOL_SUBSTRUCTURE"]
        print(f"{n} jets, {ak.mean(ak.num(parts, axis=1)):.1f} constituents on average; fastest of {args.repeats} "
              f"alternating runs after one of each")
        print(f"bare fastjet C/A + SoftDrop: {n / bare:,.0f} jets/s")
        print(f"xaugcol substructure (C/A, SoftDrop, tau1-4, N2, D2): {n / sub:,.0f} jets/s, "
              f"ratio to bare = {bare / sub:.3f}")
        print(f"fallback backend (fastjet's Python API): {n / fallback:,.0f} jets/s, its time / the extension's = "
              f"{fallback / sub:.2f}")
        print(f"xaugcol processor (everything, files to parquet): {n / full:,.0f} jets/s, "
              f"ratio to bare = {bare / full:.3f}  (goal >= 0.8); the first run of each: {1 / cold:.3f}")

        run_toy(tmp / "mem", args.memory_jets, seed=2)  # the signal file holds memory_jets jets
        mem = json.loads(subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(tmp / "mem" / "toy_signal.root"),
                                         str(tmp / "mem_jets")],
                                        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        per_k = 1000 / mem["jets"]
        print(f"a {mem['jets']}-jet chunk through the processor (goal: peak < 2048 MiB at 100 000 jets): peak RSS "
              f"{mem['after_mib']:.0f} MiB, {mem['imported_mib']:.0f} MiB of it the imports; "
              f"{(mem['after_mib'] - mem['imported_mib']) * per_k:.1f} MiB per 1 000 jets above them")


if __name__ == "__main__":
    main()
