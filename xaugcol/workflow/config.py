"""The configuration of a whole study (generation -> processing -> training -> relevance -> reduced sets ->
figures -> report), validated: every error names the field.

YAML form (see ``configs/zz_vs_qcd.yaml``)::

    name: ZZ vs QCD (Pythia 8, 13 TeV)
    source: {kind: pythia, processes: [zz, qcd], events: 20000, seed: 1, workers: 2, pthat_min: 200}
    processing: {chunksize: 5000, executor: futures, workers: 2, n_particles: 50, image_pixels: 37}
    seeds: 3
    training: {epochs: 10, batch_size: 256}
    taggers: [{model: cnn2d, xaug: false}, {model: cnn2d, xaug: true}, ..., {model: dnn, xaug: true}]
    explain: {rules: [epsilon, alpha1beta0], split: test, examples: 2}
    reduced: {tagger: dnn, rule: epsilon, k: null}      # null: k = 1..n
    dask: {scheduler: tcp://HOST:PORT}                   # optional; or {workers: N} for a local cluster

With a ``dask`` section one Dask client serves the whole study: the processing and explain stages run with
executor ``dask`` on it and the ensemble members (and reduced sets) are trained as tasks on its workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xaugcol.explain.methods import method_specs
from xaugcol.explain.relevance import SPLIT_CHOICES
from xaugcol.features.images import ImageConfig
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.jet_table import ProcessingConfig
from xaugcol.processing.executors import DEFAULT_CHUNKSIZE, EXECUTORS
from xaugcol.sources.processes import load_processes
from xaugcol.training.study import parse_seeds, parse_taggers, read_study_yaml, tagger_name
from xaugcol.training.train import TrainConfig

TOP = {"name", "source", "processing", "seeds", "training", "taggers", "explain", "reduced", "dask"}
DASK = {"scheduler", "workers"}
SOURCE = {"kind", "processes", "events", "seed", "workers", "pthat_min", "flat_pthat", "process_card", "toy"}
PROCESSING = {"chunksize", "executor", "workers", "min_pt", "n_particles", "image_pixels", "skip_bad_files"}
EXPLAIN = {"rules", "split", "chunksize", "executor", "workers", "batch_size", "examples"}
REDUCED = {"tagger", "rule", "k"}


@dataclass(frozen=True)
class Source:
    kind: str  # toy | pythia
    events: int  # toy: jets per class; pythia: events per process
    seed: int = 1
    processes: tuple[str, ...] = ("zz", "qcd")
    workers: int = 1
    pthat_min: float = 200.0
    flat_pthat: bool = False
    process_card: str | None = None
    toy: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """How a coffea stage runs."""
    chunksize: int = DEFAULT_CHUNKSIZE
    executor: str = "iterative"
    workers: int = 1


@dataclass(frozen=True)
class Dask:
    """The cluster of a study: an existing one at ``scheduler``, or a local one of ``workers`` processes."""
    scheduler: str | None = None
    workers: int = 2


@dataclass(frozen=True)
class Explain:
    rules: tuple = ("epsilon", "alpha1beta0")  # explanation methods: names or mappings (xaugcol.explain.methods)
    split: str = "test"
    batch_size: int = 512
    examples: int = 2  # example jets per class drawn with their LRP

    @property
    def method_names(self) -> tuple[str, ...]:
        """The names the methods' histograms, summaries and figures carry."""
        return tuple(m.name for m in method_specs(self.rules))


@dataclass(frozen=True)
class Reduced:
    tagger: str = "dnn"
    rule: str = "epsilon"
    k: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Workflow:
    name: str
    source: Source
    processing: ProcessingConfig
    processing_run: Run
    skip_bad_files: bool
    seeds: tuple[int, ...]
    training: TrainConfig
    taggers: tuple[ModelConfig, ...]
    explain: Explain
    explain_run: Run
    reduced: Reduced | None
    raw: dict  # the validated mapping, as written into the report
    dask: Dask | None = None

    def tagger_names(self) -> list[str]:
        return [tagger_name(t) for t in self.taggers]

    @classmethod
    def load(cls, path: str | Path) -> Workflow:
        return cls.from_dict(read_study_yaml(path), f"study config {path}")

    @classmethod
    def from_dict(cls, raw: dict, where: str = "study config") -> Workflow:
        raw = _mapping(raw, TOP, where)
        for name in ("source", "taggers"):
            if name not in raw:
                raise ValueError(f"{where}: '{name}' is required")
        source = _source(_mapping(raw["source"], SOURCE, f"{where}: source"), f"{where}: source")
        proc = _mapping(raw.get("processing") or {}, PROCESSING, f"{where}: processing")
        try:
            processing = ProcessingConfig(n_particles=proc.get("n_particles", 50),
                                          image=ImageConfig(n_pixels=proc.get("image_pixels", 37)),
                                          min_pt=float(proc.get("min_pt", 0.0)))
        except ValueError as err:
            raise ValueError(f"{where}: processing: {err}") from None
        dask = _dask(raw.get("dask"), f"{where}: dask")
        processing_run = _run(proc, f"{where}: processing", dask)
        seeds = parse_seeds(raw.get("seeds", 1), where)
        training = TrainConfig.from_dict(raw.get("training") or {}, f"{where}: training")
        taggers = parse_taggers(raw["taggers"], where)
        names = [tagger_name(t) for t in taggers]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: taggers: each model/xaug combination may appear once, got {names}")
        ex = _mapping(raw.get("explain") or {}, EXPLAIN, f"{where}: explain")
        explain = Explain(tuple(ex.get("rules", Explain.rules)), ex.get("split", "test"),
                          _positive(ex.get("batch_size", 512), f"{where}: explain: batch_size"),
                          _non_negative(ex.get("examples", 2), f"{where}: explain: examples"))
        try:
            method_specs(list(explain.rules))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{where}: explain: rules: {err}") from None
        if explain.split not in SPLIT_CHOICES:
            raise ValueError(f"{where}: explain: split must be one of {', '.join(SPLIT_CHOICES)}")
        explain_run = _run(ex, f"{where}: explain", dask)
        reduced = None
        if raw.get("reduced") is not None:
            red = _mapping(raw["reduced"], REDUCED, f"{where}: reduced")
            reduced = Reduced(red.get("tagger", "dnn"), red.get("rule", "epsilon"),
                              None if red.get("k") is None else tuple(red["k"]))
            if reduced.tagger not in names:
                raise ValueError(f"{where}: reduced: tagger {reduced.tagger!r} is not among the taggers {names}")
            if reduced.rule not in explain.method_names:
                raise ValueError(f"{where}: reduced: rule {reduced.rule!r} is not among explain: rules")
            if "xaug" not in taggers[names.index(reduced.tagger)].inputs():
                raise ValueError(f"{where}: reduced: tagger {reduced.tagger!r} takes no XAUG variables to rank")
        return cls(str(raw.get("name") or "study"), source, processing, processing_run,
                   bool(proc.get("skip_bad_files", False)), seeds, training, taggers, explain, explain_run, reduced,
                   raw, dask)


def _mapping(data, known: set[str], where: str) -> dict:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping")
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    return data


def _positive(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} must be a positive integer, got {value!r}")
    return value


def _non_negative(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where} must be an integer >= 0, got {value!r}")
    return value


def _run(data: dict, where: str, dask: Dask | None) -> Run:
    default = "dask" if dask else "iterative"
    run = Run(_positive(data.get("chunksize", DEFAULT_CHUNKSIZE), f"{where}: chunksize"), data.get("executor", default),
              _positive(data.get("workers", 1), f"{where}: workers"))
    # "dask" runs on the study's client (the top-level dask section); "dask-local" would start a second cluster
    allowed = ["dask"] if dask else [e for e in EXECUTORS if e != "dask"]
    if run.executor not in allowed:
        hint = "" if dask else " (executor dask needs a top-level 'dask' section: {scheduler: ...} or {workers: N})"
        raise ValueError(f"{where}: executor must be one of {', '.join(allowed)}, got {run.executor!r}{hint}")
    return run


def _dask(data, where: str) -> Dask | None:
    if data is None:
        return None
    data = _mapping(data, DASK, where)
    scheduler = data.get("scheduler")
    if scheduler is not None and not (isinstance(scheduler, str) and "://" in scheduler):
        raise ValueError(f"{where}: scheduler must be an address like tcp://HOST:PORT, got {scheduler!r}")
    if scheduler and "workers" in data:
        raise ValueError(f"{where}: give either scheduler (an existing cluster) or workers (a local one)")
    return Dask(scheduler, _positive(data.get("workers", 2), f"{where}: workers"))


def _source(data: dict, where: str) -> Source:
    kind = data.get("kind")
    if kind not in ("toy", "pythia"):
        raise ValueError(f"{where}: kind must be toy or pythia, got {kind!r}")
    if "events" not in data:
        raise ValueError(f"{where}: 'events' is required (toy: jets per class; pythia: events per process)")
    processes = data.get("processes", ["zz", "qcd"])
    if not (isinstance(processes, list) and processes and all(isinstance(p, str) for p in processes)):
        raise ValueError(f"{where}: processes must be a non-empty list of names")
    pthat = data.get("pthat_min", 200.0)
    if isinstance(pthat, bool) or not isinstance(pthat, (int, float)) or not pthat > 0:
        raise ValueError(f"{where}: pthat_min must be a number > 0, got {pthat!r}")
    if not isinstance(data.get("toy", {}), dict):
        raise ValueError(f"{where}: toy must be a mapping of toy parameters")
    card = data.get("process_card")
    if kind == "pythia":  # the processes, and the card that adds some, are checked now, not after minutes of work
        if card is not None and not isinstance(card, str):
            raise ValueError(f"{where}: process_card must be the path of a YAML card")
        known = load_processes(card)
        unknown = [p for p in processes if p not in known]
        if unknown:
            raise ValueError(f"{where}: unknown process(es) {unknown}; known: {sorted(known)}")
    return Source(kind, _positive(data["events"], f"{where}: events"),
                  _non_negative(data.get("seed", 1), f"{where}: seed"), tuple(processes),
                  _positive(data.get("workers", 1), f"{where}: workers"), float(pthat),
                  bool(data.get("flat_pthat", False)), data.get("process_card"), dict(data.get("toy") or {}))
