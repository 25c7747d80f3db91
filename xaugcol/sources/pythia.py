"""Pythia 8 generation (pythia8mc, 13 TeV) into NanoAOD-style ROOT files, in N worker processes.

Each worker owns one Pythia instance with its own seed, derived from the user seed and the process name
(numpy SeedSequence), generates its share of events in ``nextBatch`` batches, converts them columnar
(pythia_events.py) and writes one file atomically. The same seed and worker count therefore give the same files.

With ``flat_pthat`` the hard-process pT-hat spectrum is flattened by Pythia's bias2Selection
(weight (pTHatRef / pTHat)^4, reference = pT-hat minimum); the event weights go to ``genWeight``.

Each process brings its own defaults (``Process``): its pT-hat minimum (the jets' 200 GeV unless it names one; a
run's ``pthat_min`` overrides every process's), and for a lepton process the candidate p_T window and the detector
(pile-up overlay ``pileup``, the mean number of minimum-bias interactions, which a run's ``pileup`` overrides;
solenoid field; flat calorimeter pile-up). With pile-up, the pool of minimum-bias interactions
(``xaugcol.sources.pileup``) is made once in the output folder, before the workers start, and each worker reads it.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import queue
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from xaugcol.console import counter
from xaugcol.output_folder import output_lock
from xaugcol.paths import plain_name, under
from xaugcol.sources.calorimeter import CalorimeterModel
from xaugcol.sources.jet_detector import JetDetector, TrackerSettings
from xaugcol.sources.nanoaod import write_events
from xaugcol.sources.output import fileset_entry, write_fileset
from xaugcol.sources.pileup import PileupPool, PileupSettings, ensure_pool, load_pool
from xaugcol.sources.processes import Process
from xaugcol.sources.pythia_config import GeneratorError, configured_pythia
from xaugcol.sources.pythia_events import JetSelection, batch_to_nanoaod
from xaugcol.sources.pythia_leptons import Detector, LeptonSelection, leptons_to_nanoaod
from xaugcol.sources.solenoid import Solenoid
from xaugcol.sources.species import SpeciesTable

if TYPE_CHECKING:
    import pythia8mc

PYTHIA_SEED_MAX = 900_000_000
MAX_FRUITLESS_EVENTS = 100_000  # events generated without one passing the selection: the run is refused
DETECTOR_STREAM = 0x7EC  # the detector simulation's random stream, apart from Pythia's own
BATCH_EVENTS = 250  # awkward costs ~0.2 s per batch whatever its size: amortise it


@dataclass(frozen=True)
class PythiaJob:
    """What one worker generates.

    Parameters
    ----------
    process : Process
        The process to generate.
    n_events : int
        The events to write (kept after the selection).
    pythia_seed : int
        The worker's Pythia seed (``worker_seeds``); the detector simulation's stream is derived from it too.
    worker : int
        The worker's number, from 0 (its event numbers start at ``worker * 10**9 + 1``).
    path : str
        The ROOT file to write.
    pthat_min : float, default 200.0
        ``PhaseSpace:pTHatMin``, GeV.
    flat_pthat : bool, default False
        Flatten the pT-hat spectrum (``bias2Selection``; the events then carry weights).
    ecm : float, default 13000.0
        The centre-of-mass energy, GeV.
    selection : JetSelection or LeptonSelection, default JetSelection()
        The jets (a jet process) or lepton candidates (a lepton process) kept.
    pileup : PileupSettings, default PileupSettings()
        The pile-up overlay; default: none.
    pool : tuple of (str or Path, str), optional
        The pile-up pool's (path, SHA-256) when ``pileup.mu`` > 0; None otherwise.
    tracker : TrackerSettings, default TrackerSettings()
        A jet process's tracker (``xaugcol.sources.jet_detector``).
    """

    process: Process
    n_events: int
    pythia_seed: int
    worker: int
    path: str
    pthat_min: float = 200.0
    flat_pthat: bool = False
    ecm: float = 13000.0
    selection: JetSelection | LeptonSelection = JetSelection()
    pileup: PileupSettings = PileupSettings()
    pool: tuple[str | Path, str] | None = None  # the pile-up pool's (path, SHA-256) when pileup.mu > 0
    tracker: TrackerSettings = TrackerSettings()  # a jet process's tracker (``xaugcol.sources.jet_detector``)


def worker_seeds(seed: int, process_name: str, workers: int) -> list[int]:
    """Distinct Pythia seeds (1..9e8) per worker, derived from the user seed and the process name.

    Parameters
    ----------
    seed : int
        The user's random seed.
    process_name : str
        The process's name (its CRC-32 enters the seed sequence).
    workers : int
        The number of workers.

    Returns
    -------
    list of int
        One seed in [1, ``PYTHIA_SEED_MAX``] per worker (numpy ``SeedSequence`` children).
    """
    root = np.random.SeedSequence([int(seed), zlib.crc32(process_name.encode())])
    return [int(child.generate_state(1)[0]) % PYTHIA_SEED_MAX + 1 for child in root.spawn(workers)]


def pythia_settings(job: PythiaJob) -> list[str]:
    """Every Pythia setting of a job.

    Beams, seed, the tracker's decay settings, pT-hat (and its flat bias), then the process's own (which have the
    last word).

    Parameters
    ----------
    job : PythiaJob
        The worker's job.

    Returns
    -------
    list of str
        The settings, ``"Key = value"`` strings, in the order Pythia reads them.
    """
    settings = [
        f"Beams:eCM = {job.ecm}",
        "Print:quiet = on",
        "Random:setSeed = on",
        f"Random:seed = {job.pythia_seed}",
        # CMS's generator convention, particles with c*tau > 10 mm (K0S, Lambda, ...) reaching the detector
        # undecayed, or (the CMS-like tracker's V0 decays) decays wherever they fall inside the tracker volume
        *job.tracker.decay_settings(),
        f"PhaseSpace:pTHatMin = {job.pthat_min}",
        *job.process.all_settings(),  # after the pT-hat minimum: a process's own settings have the last word
    ]
    if job.flat_pthat:
        settings += [
            "PhaseSpace:bias2Selection = on",
            "PhaseSpace:bias2SelectionPow = 4",
            f"PhaseSpace:bias2SelectionRef = {job.pthat_min}",
        ]
    return settings


class EventCounter(Protocol):
    """Where a worker reports the events it made: a progress queue (multiprocessing's, between processes).

    A ``typing.Protocol``: a type to check against, never instantiated.
    """

    def put(self, n: int, /) -> None:
        """Report ``n`` more events made.

        Parameters
        ----------
        n : int
            The events made since the last report.
        """
        ...


def make_pythia(settings: list[str], what: str = "the process") -> pythia8mc.Pythia:
    """An initialised Pythia (``pythia_config.configured_pythia``: a refused setting is a ``GeneratorError``).

    Parameters
    ----------
    settings : list of str
        Pythia settings, ``"Key = value"`` strings.
    what : str, default "the process"
        What the settings are for, for the error's message.

    Returns
    -------
    pythia8mc.Pythia
        The initialised Pythia.
    """
    return configured_pythia(settings, what)


def check_processes(
    processes: list[Process],
    pthat_min: float | None = None,
    flat_pthat: bool = False,
    tracker: TrackerSettings = TrackerSettings(),
) -> None:
    """Every process initialised once with its settings, before any output is written.

    A setting Pythia refuses, or a combination it cannot initialise, is a ``GeneratorError`` naming the process
    (about 0.5 s each).

    Parameters
    ----------
    processes : list of Process
        The processes a run will generate.
    pthat_min : float or None, optional
        The run's pT-hat minimum (GeV); None: each process's own (``Process.default_pthat_min``).
    flat_pthat : bool, default False
        Whether the run flattens the pT-hat spectrum.
    tracker : TrackerSettings, default TrackerSettings()
        The run's tracker (its decay settings; lepton processes keep the simple tracker's).

    Raises
    ------
    GeneratorError
        Naming the first process Pythia refuses.
    """
    for process in processes:
        job = PythiaJob(
            process,
            0,
            1,
            0,
            "",
            _pthat_min(process, pthat_min),
            flat_pthat,
            selection=_selection(process),
            tracker=_tracker(process, tracker),
        )
        make_pythia(pythia_settings(job), f"process {process.name!r}")


def _pthat_min(process: Process, run_value: float | None) -> float:
    return process.default_pthat_min() if run_value is None else run_value


def _pileup(process: Process, run_value: float | PileupSettings | None, pool_size: int | None) -> PileupSettings:
    if isinstance(run_value, PileupSettings):
        return run_value
    pool = {} if pool_size is None else {"pool_size": pool_size}
    return PileupSettings(mu=process.pileup if run_value is None else run_value, **pool)


def detector(job: PythiaJob) -> Detector | JetDetector:
    """What a job's events are seen with.

    For a lepton process the calorimeter, the field and the pile-up overlay; for a jet process the tracker's
    settings and the overlay.

    Parameters
    ----------
    job : PythiaJob
        The worker's job; its pile-up pool, if any, is loaded and checked against its digest.

    Returns
    -------
    Detector or JetDetector
        ``lepton_detector(job)`` for a lepton process, else ``jet_detector(job)``.
    """
    return lepton_detector(job) if job.process.lepton else jet_detector(job)


def _pool(job: PythiaJob) -> PileupPool | None:
    """The pile-up pool of a job with an overlay (mu > 0), loaded and checked against its digest; else None."""
    if job.pileup.mu <= 0:
        return None
    if job.pool is None:
        raise ValueError("pile-up with mu > 0 needs a pool of minimum-bias interactions")
    return load_pool(*job.pool)


def jet_detector(job: PythiaJob) -> JetDetector:
    """What a jet process's events are seen with: the tracker's settings and the pile-up overlay.

    Parameters
    ----------
    job : PythiaJob
        The worker's job; its pile-up pool, if any, is loaded and checked against its digest.

    Returns
    -------
    JetDetector
        The job's tracker, pile-up settings and pool (None without pile-up).

    Raises
    ------
    ValueError
        If ``job.pileup.mu`` > 0 and the job names no pool.
    PileupError
        If the pool cannot be loaded or its digest differs (``load_pool``).
    """
    return JetDetector(tracker=job.tracker, pileup=job.pileup, pool=_pool(job))


def lepton_detector(job: PythiaJob) -> Detector:
    """What a lepton process's events are seen with: the calorimeter, the field and the pile-up overlay.

    Parameters
    ----------
    job : PythiaJob
        The worker's job: its process gives the calorimeter's flat pile-up and hadron showers and the solenoid's
        field; its pile-up pool, if any, is loaded and checked against its digest.

    Returns
    -------
    Detector
        The calorimeter, solenoid, pile-up settings and pool (None without pile-up).

    Raises
    ------
    ValueError
        If ``job.pileup.mu`` > 0 and the job names no pool.
    PileupError
        If the pool cannot be loaded or its digest differs (``load_pool``).
    """
    pool = _pool(job)
    calorimeter = CalorimeterModel(pileup_density=job.process.flat_pileup, hadron_showers=job.process.hadron_showers)
    return Detector(
        calorimeter=calorimeter, solenoid=Solenoid(field_tesla=job.process.solenoid_tesla), pileup=job.pileup, pool=pool
    )


def _tracker(process: Process, tracker: TrackerSettings) -> TrackerSettings:
    """The tracker a run's setting gives a process: lepton processes keep their own detector."""
    return TrackerSettings() if process.lepton else tracker


def run_job(job: PythiaJob, progress: EventCounter | None = None) -> dict:
    """Generate and write one worker's file; report progress (events) through ``progress.put``.

    Pythia makes batches of up to ``BATCH_EVENTS`` events, converted to NanoAOD-style branches (the detector's
    draws from their own stream) until ``job.n_events`` events are kept; a job of zero events writes one empty
    chunk, so the file has its branches.

    Parameters
    ----------
    job : PythiaJob
        The worker's job.
    progress : EventCounter or None, optional
        Where the events written are reported (``put(n)``) after each chunk; None: nowhere.

    Returns
    -------
    dict
        The worker's statistics: ``n_events`` (written), ``n_passed`` (passing the selection, the last batch's
        surplus over ``n_events`` included), ``n_dropped`` (failing it), ``n_tried`` (``n_passed + n_dropped``),
        ``sumw`` (the sum of ``genWeight``) and ``sigma_gen_pb`` (Pythia's estimate of the generated cross section,
        pb).

    Raises
    ------
    GeneratorError
        If Pythia refuses the settings, makes none of a batch's events, or ``MAX_FRUITLESS_EVENTS`` events are
        generated without one passing the selection.
    """
    pythia = make_pythia(pythia_settings(job), f"process {job.process.name!r}")
    species = SpeciesTable(pythia.particleData)
    first_event = job.worker * 10**9 + 1  # event numbers unique across workers
    stats = {"n_events": 0, "n_passed": 0, "n_dropped": 0, "sumw": 0.0}
    rng = np.random.default_rng([job.pythia_seed, DETECTOR_STREAM])  # the detector simulation's draws
    convert: Callable[..., tuple[dict, int]]
    if job.process.lepton:
        convert = partial(leptons_to_nanoaod, detector=lepton_detector(job))
    else:
        convert = partial(batch_to_nanoaod, detector=jet_detector(job))

    def chunks():
        remaining, asked = job.n_events, 0
        while remaining > 0 or stats["n_events"] == 0:
            # lepton processes keep a fraction of their events: ask for whole batches (the surplus is cut)
            wanted = BATCH_EVENTS if job.process.lepton else min(BATCH_EVENTS, max(remaining, 1))
            if remaining > 0 and stats["n_events"] == 0 and asked >= MAX_FRUITLESS_EVENTS:
                raise GeneratorError(
                    f"process {job.process.name!r}: none of {asked} events passed its selection "
                    f"({_selection_text(job)}): it would never finish; check its settings"
                )
            batch = pythia.nextBatch(wanted if remaining > 0 else 0)
            asked += wanted if remaining > 0 else 0
            if remaining > 0 and len(batch) == 0:  # Pythia failed every event it tried (and said so quietly)
                raise GeneratorError(
                    f"process {job.process.name!r}: Pythia made none of the {wanted} events asked "
                    f"(pT-hat above {job.pthat_min:g} GeV at {job.ecm:g} GeV: is there phase space "
                    "left?)"
                )
            branches, dropped = convert(
                batch, species, job.process, job.selection, first_event + stats["n_events"], job.worker + 1, rng
            )
            n = len(branches["event"])
            if remaining <= 0:  # zero requested: one empty chunk gives the file its branches
                yield branches
                return
            # the whole batch was tried: its passing events count for the filter efficiency, cut or not
            stats["n_passed"] += n
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
    stats["n_tried"] = stats["n_passed"] + stats["n_dropped"]
    return stats


def _selection_text(job: PythiaJob) -> str:
    if isinstance(job.selection, LeptonSelection):  # a lepton process's
        return f"a lepton of {job.selection.pt_min:g}-{job.selection.pt_max:g} GeV, origin {job.process.lepton_origin}"
    return "a hadronic signal boson" if job.process.require_hadronic else "any event"


def _selection(process: Process) -> JetSelection | LeptonSelection:
    if process.lepton:
        return LeptonSelection(pt_min=process.lepton_pt[0], pt_max=process.lepton_pt[1])
    return JetSelection()


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if k < n % parts else 0) for k in range(parts)]


def run_pythia(
    out_dir: str | Path,
    processes: list[Process],
    n_events: int,
    seed: int,
    workers: int = 1,
    pthat_min: float | None = None,
    flat_pthat: bool = False,
    progress: bool = False,
    pileup: float | PileupSettings | None = None,
    pileup_pool: int | None = None,
    tracker: TrackerSettings = TrackerSettings(),
) -> dict:
    """Generate events with Pythia 8 and write their files and the fileset (``out_dir`` locked meanwhile).

    Parameters
    ----------
    out_dir : str or Path
        The output folder: the ROOT files and ``fileset.json``.
    processes : list of Process
        The processes to generate; their names must be plain file names.
    n_events : int
        Events per process.
    seed : int
        The random seed; each worker's seed is derived from it and the process name.
    workers : int
        Processes generating in parallel (one file each per process).
    pthat_min : float, optional
        When given, replaces every process's own pT-hat minimum (GeV).
    flat_pthat : bool
        Generate flat in pT-hat (events then carry weights).
    progress : bool
        Show progress bars.
    pileup : float or PileupSettings, optional
        When given, replaces every process's own overlay: the mean number of overlaid interactions, or the whole
        overlay's settings.
    pileup_pool : int, optional
        The pile-up pool's size (default 5 000 interactions).
    tracker : TrackerSettings
        What the jet processes' tracks are seen with.

    Returns
    -------
    dict
        The fileset: dataset name -> its files and metadata.

    Raises
    ------
    OutputFolderError
        ``out_dir`` is locked by another run.
    """
    with output_lock(out_dir) as out_dir:
        return _generate(
            out_dir, processes, n_events, seed, workers, pthat_min, flat_pthat, progress, pileup, pileup_pool, tracker
        )


def _generate(
    out_dir: Path,
    processes: list[Process],
    n_events: int,
    seed: int,
    workers: int,
    pthat_min: float | None,
    flat_pthat: bool,
    progress: bool,
    pileup: float | PileupSettings | None,
    pileup_pool: int | None,
    tracker: TrackerSettings,
) -> dict:
    jobs, pool = [], None
    for process in processes:
        plain_name(process.name, "the process name")
        seeds = worker_seeds(seed, process.name, workers)
        overlay = _pileup(process, pileup, pileup_pool)
        if overlay.mu > 0 and pool is None:
            with counter("pile-up pool (minimum bias)", overlay.pool_size, "interactions", progress) as advance:
                pool = ensure_pool(out_dir, overlay, seed, 13000.0, advance=advance)
        for k, n in enumerate(_split(n_events, workers)):
            path = under(out_dir, f"{process.name}.root" if workers == 1 else f"{process.name}_{k:03d}.root")
            jobs.append(
                PythiaJob(
                    process,
                    n,
                    seeds[k],
                    k,
                    str(path),
                    _pthat_min(process, pthat_min),
                    flat_pthat,
                    selection=_selection(process),
                    pileup=overlay,
                    pool=pool if overlay.mu > 0 else None,
                    tracker=_tracker(process, tracker),
                )
            )

    results = []
    with counter(
        f"Pythia 8: {', '.join(p.name for p in processes)}", n_events * len(processes), "events", progress
    ) as advance:
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
        efficiency = sum(r["n_passed"] for _, r in mine) / max(n_tried, 1)  # of the tried events, not the kept
        job = mine[0][0]
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
                "pthat_min": job.pthat_min,
                "flat_pthat": flat_pthat,
                "n_events": n_kept,
                "sumw": sum(r["sumw"] for _, r in mine),
                "xsec_pb": sigma * efficiency,
                "filter_efficiency": efficiency,
                ("lepton_selection" if process.lepton else "jet_selection"): asdict(_selection(process)),
                **(_detector_metadata(job) if process.lepton else _tracker_metadata(job)),
            },
        )
    write_fileset(out_dir, fileset)
    return fileset


def _detector_metadata(job: PythiaJob) -> dict:
    seen_by = {
        "pileup_mu": job.pileup.mu,
        "solenoid_tesla": job.process.solenoid_tesla,
        "flat_pileup": job.process.flat_pileup,
        "hadron_showers": job.process.hadron_showers,
        "forced_b_decays": job.process.forced_b_decays,
        "forced_c_decays": job.process.forced_c_decays,
        "leading_candidate": job.process.leading_candidate,
    }
    if job.pool is not None:
        seen_by["pileup_pool"] = {"sha256": job.pool[1], **job.pileup.model_dump()}
    return seen_by


def _tracker_metadata(job: PythiaJob) -> dict:
    seen_by = {"tracker": job.tracker.model_dump(), "pileup_mu": job.pileup.mu}
    if job.pool is not None:
        seen_by["pileup_pool"] = {"sha256": job.pool[1], **job.pileup.model_dump()}
    return seen_by


class _BarQueue:
    """The in-process stand-in for a progress queue."""

    def __init__(self, advance: Callable[[int], None]):
        self.advance = advance

    def put(self, n: int) -> None:
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
