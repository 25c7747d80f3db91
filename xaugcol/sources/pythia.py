"""Pythia 8 generation (pythia8mc, 13 TeV) into NanoAOD-style ROOT files, in N worker processes.

Each worker owns one Pythia instance with its own seed, derived from the user seed and the process name
(numpy SeedSequence), generates its share of events in ``nextBatch`` batches, converts them columnar
(pythia_events.py) and writes one file atomically. The same seed and worker count therefore give the same files.

With ``flat_pthat`` the hard-process pT-hat spectrum is flattened by Pythia's bias2Selection
(weight (pTHatRef / pTHat)^4, reference = pT-hat minimum); the event weights go to ``genWeight``.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import queue
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xaugcol.console import counter
from xaugcol.output_folder import output_lock
from xaugcol.paths import plain_name, under
from xaugcol.quoting import quoted
from xaugcol.sources.nanoaod import write_events
from xaugcol.sources.output import fileset_entry, write_fileset
from xaugcol.sources.processes import Process
from xaugcol.sources.pythia_events import JetSelection, SpeciesTable, batch_to_nanoaod
from xaugcol.sources.pythia_leptons import LeptonSelection, leptons_to_nanoaod

PYTHIA_SEED_MAX = 900_000_000
DETECTOR_STREAM = 0x7EC  # the detector simulation's random stream, apart from Pythia's own
BATCH_EVENTS = 250  # awkward costs ~0.2 s per batch whatever its size: amortise it


@dataclass(frozen=True)
class PythiaJob:
    """What one worker generates."""

    process: Process
    n_events: int
    pythia_seed: int
    worker: int
    path: str
    pthat_min: float = 200.0
    flat_pthat: bool = False
    ecm: float = 13000.0
    selection: JetSelection | LeptonSelection = JetSelection()


def worker_seeds(seed: int, process_name: str, workers: int) -> list[int]:
    """Distinct Pythia seeds (1..9e8) per worker, derived from the user seed and the process name."""
    root = np.random.SeedSequence([int(seed), zlib.crc32(process_name.encode())])
    return [int(child.generate_state(1)[0]) % PYTHIA_SEED_MAX + 1 for child in root.spawn(workers)]


def pythia_settings(job: PythiaJob) -> list[str]:
    settings = [
        f"Beams:eCM = {job.ecm}",
        "Print:quiet = on",
        "Random:setSeed = on",
        f"Random:seed = {job.pythia_seed}",
        # CMS convention: particles with c*tau > 10 mm (K0S, Lambda, ...) reach the detector undecayed
        "ParticleDecays:limitTau0 = on",
        "ParticleDecays:tau0Max = 10",
        f"PhaseSpace:pTHatMin = {job.pthat_min}",
        *job.process.settings,  # after the study's pT-hat minimum: a process may set its own
    ]
    if job.flat_pthat:
        settings += [
            "PhaseSpace:bias2Selection = on",
            "PhaseSpace:bias2SelectionPow = 4",
            f"PhaseSpace:bias2SelectionRef = {job.pthat_min}",
        ]
    return settings


def make_pythia(settings: list[str]):
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected the setting {quoted(line)}")
    if not pythia.init():
        raise RuntimeError(f"Pythia initialisation failed with settings {settings}")
    return pythia


def run_job(job: PythiaJob, progress=None) -> dict:
    """Generate and write one worker's file; report progress (events) through ``progress.put``."""
    pythia = make_pythia(pythia_settings(job))
    species = SpeciesTable(pythia.particleData)
    first_event = job.worker * 10**9 + 1  # event numbers unique across workers
    stats = {"n_events": 0, "n_dropped": 0, "sumw": 0.0}
    detector = np.random.default_rng([job.pythia_seed, DETECTOR_STREAM])  # the detector simulation's draws
    convert = leptons_to_nanoaod if job.process.lepton else batch_to_nanoaod

    def chunks():
        remaining = job.n_events
        while remaining > 0 or stats["n_events"] == 0:
            # lepton processes keep a fraction of their events: ask for whole batches (the surplus is cut)
            wanted = BATCH_EVENTS if job.process.lepton else min(BATCH_EVENTS, max(remaining, 1))
            batch = pythia.nextBatch(wanted if remaining > 0 else 0)
            branches, dropped = convert(
                batch, species, job.process, job.selection, first_event + stats["n_events"], job.worker + 1, detector
            )
            n = len(branches["event"])
            if remaining <= 0:  # zero requested: one empty chunk gives the file its branches
                yield branches
                return
            n = min(n, remaining)
            if n < len(branches["event"]):
                branches = {k: v[:n] for k, v in branches.items()}
            stats["n_events"] += n
            stats["n_dropped"] += dropped
            stats["sumw"] += float(np.sum(branches["genWeight"], dtype=np.float64))
            remaining -= n
            if progress is not None:
                progress.put(n)
            yield branches

    write_events(job.path, chunks())
    info = pythia.infoPython()
    stats["sigma_gen_pb"] = info.sigmaGen() * 1e9  # Pythia gives mb
    stats["n_tried"] = stats["n_events"] + stats["n_dropped"]
    return stats


def _selection(process: Process) -> JetSelection | LeptonSelection:
    return LeptonSelection() if process.lepton else JetSelection()


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if k < n % parts else 0) for k in range(parts)]


def run_pythia(out_dir, processes: list[Process], n_events: int, seed: int, workers: int = 1,
               pthat_min: float = 200.0, flat_pthat: bool = False, progress: bool = False) -> dict:
    """Generate ``n_events`` per process with ``workers`` processes; write files and the fileset (``out_dir``
    locked meanwhile). Process names must be plain file names."""
    with output_lock(out_dir) as out_dir:
        return _generate(out_dir, processes, n_events, seed, workers, pthat_min, flat_pthat, progress)


def _generate(out_dir: Path, processes: list[Process], n_events: int, seed: int, workers: int, pthat_min: float,
              flat_pthat: bool, progress: bool) -> dict:
    jobs = []
    for process in processes:
        plain_name(process.name, "the process name")
        seeds = worker_seeds(seed, process.name, workers)
        for k, n in enumerate(_split(n_events, workers)):
            path = under(out_dir, f"{process.name}.root" if workers == 1 else f"{process.name}_{k:03d}.root")
            jobs.append(PythiaJob(process, n, seeds[k], k, str(path), pthat_min, flat_pthat,
                                  selection=_selection(process)))

    results = []
    with counter(f"Pythia 8: {', '.join(p.name for p in processes)}", n_events * len(processes), "events",
                 progress) as advance:
        if workers == 1:
            for job in jobs:
                results.append(run_job(job, _BarQueue(advance)))
        else:
            results = _run_parallel(jobs, workers, advance)

    fileset = {}
    for process in processes:
        mine = [(job, res) for job, res in zip(jobs, results) if job.process.name == process.name]
        n_tried = sum(r["n_tried"] for _, r in mine)
        n_kept = sum(r["n_events"] for _, r in mine)
        # each worker's sigmaGen estimate, weighted by its share of tried events; times the filter efficiency
        sigma = sum(r["sigma_gen_pb"] * r["n_tried"] for _, r in mine) / max(n_tried, 1)
        fileset[process.name] = fileset_entry(
            [job.path for job, _ in mine],
            {
                "label": process.label,
                "process": process.name,
                "description": process.description,
                "generator": "pythia8",
                "seed": seed,
                "workers": workers,
                "pthat_min": pthat_min,
                "flat_pthat": flat_pthat,
                "n_events": n_kept,
                "sumw": sum(r["sumw"] for _, r in mine),
                "xsec_pb": sigma * n_kept / max(n_tried, 1),
                "filter_efficiency": n_kept / max(n_tried, 1),
                ("lepton_selection" if process.lepton else "jet_selection"): asdict(_selection(process)),
            },
        )
    write_fileset(out_dir, fileset)
    return fileset


class _BarQueue:
    """The in-process stand-in for a progress queue."""

    def __init__(self, advance):
        self.advance = advance

    def put(self, n):
        self.advance(n)


def _run_parallel(jobs: list[PythiaJob], workers: int, advance) -> list[dict]:
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no state shared with the parent
    with ctx.Manager() as manager:
        progress = manager.Queue()
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(run_job, job, progress) for job in jobs]
            pending = set(futures)
            while pending:
                done, pending = cf.wait(pending, timeout=0.2)
                for fut in done:
                    fut.result()  # raise a worker's error at once
                _drain(progress, advance)
            _drain(progress, advance)
            return [f.result() for f in futures]


def _drain(progress, advance) -> None:
    while True:
        try:
            advance(progress.get_nowait())
        except queue.Empty:
            return
