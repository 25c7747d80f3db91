"""The configuration of a whole study (generation -> processing -> training -> relevance -> reduced sets ->
figures -> report), validated by pydantic models (``xaugcol.config_models``): every error names the file
and the field.

YAML form (see ``configs/zz_vs_qcd.yaml``)::

    name: ZZ vs QCD (Pythia 8, 13 TeV)
    source: {kind: pythia, processes: [zz, qcd], events: 20000, seed: 1, workers: 2, pthat_min: 200}
    processing: {chunksize: 5000, executor: futures, workers: 2, n_particles: 50, image_pixels: 37}
    seeds: 3
    training: {epochs: 10, batch_size: 256}
    taggers: [{model: cnn2d, xaug: false}, {model: cnn2d, xaug: true}, ..., {model: dnn, xaug: true}]
    explain: {rules: [epsilon, alpha1beta0], split: test, examples: 2}
    reduced: {tagger: dnn, rule: epsilon, k: null}      # null: k = 1..n
    interpret: {tagger: in, prune_below: 0.01, squeezed: {width: 32, de: 8, do: 8}}   # optional
    mapping: {black_box: cnn1d, high_level: dnn, steps: 5}   # optional; needs processing: efp: {...}
    figures: {pdf: false}                                # true: every figure also as PDF
    dask: {scheduler: tcp://HOST:PORT}                   # optional; or {workers: N} for a local cluster

With a ``dask`` section one Dask client serves the whole study: the processing and explain stages run with
executor ``dask`` on it and the ensemble members (and reduced sets) are trained as tasks on its workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, field_validator, model_validator

from xaugcol.config_models import (
    Bool,
    ConfigModel,
    NonNegativeInt,
    NonNegativeNumber,
    Number,
    PositiveInt,
    PositiveIntOrUnset,
    PositiveNumber,
    Strings,
    at_most,
    describe,
    one_of,
    read_yaml,
    validated,
    with_settings,
)
from xaugcol.explain.options import ExplainOptions
from xaugcol.features.efp.columns import EFPConfig
from xaugcol.limits import (
    MAX_CONSTITUENTS,
    MAX_EXAMPLES,
    MAX_MU,
    MAX_POOL,
    MAX_PYTHIA_EVENTS,
    MAX_TOY_JETS,
    MAX_WORKERS,
    number,
)
from xaugcol.models.registry import ModelConfig
from xaugcol.processing.executors import DEFAULT_CHUNKSIZE, EXECUTORS
from xaugcol.processing.lepton_table import LeptonConfig
from xaugcol.processing.settings import ProcessingConfig, processing_settings
from xaugcol.quoting import quoted
from xaugcol.sources.jet_detector import TrackerSettings, tracker_settings
from xaugcol.sources.process_card import load_processes
from xaugcol.sources.toy import ToyConfig
from xaugcol.training.study import Seeds, tagger_name
from xaugcol.training.train import TrainConfig

LIMITS = {
    "examples": MAX_EXAMPLES,
    "workers": MAX_WORKERS,
    "pileup": MAX_MU,
    "pileup_pool": MAX_POOL,
}  # fields with an upper limit


def _at_most(value: Any, info: ValidationInfo) -> Any:
    """A field validator: ``value`` at most its field's limit in ``LIMITS``."""
    assert info.field_name is not None  # set for a field validator
    return at_most(value, LIMITS[info.field_name])


class Source(ConfigModel):
    """Where the events come from: generated (``toy``: ``events`` jets per class; ``pythia``: events per process)
    or an existing coffea fileset (``fileset``: its path, relative to the study file; real CMS NanoAOD / PFNano,
    with or without labels)."""

    kind: str
    events: PositiveIntOrUnset = None  # required by the generators (checked below)
    fileset: str | None = None
    seed: NonNegativeInt = 1
    processes: tuple[str, ...] = ("zz", "qcd")
    workers: PositiveInt = 1
    pthat_min: PositiveNumber | None = None  # None: each process's own (jets 200 GeV)
    pileup: NonNegativeNumber | None = None  # mean overlaid interactions; None: each process's own
    pileup_pool: PositiveInt = 5000  # minimum-bias interactions in the pile-up pool (xaugcol.sources.pileup)
    flat_pthat: Bool = False
    process_card: str | None = None
    # what the jet processes' tracks are seen with: a preset (simple, cms_like) or a mapping of settings
    # (``xaugcol.sources.jet_detector.TrackerSettings``)
    tracker: Annotated[TrackerSettings, BeforeValidator(tracker_settings)] = TrackerSettings()
    toy: dict = Field(default_factory=dict)  # toy parameters (``ToyConfig.from_dict``)

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, kind: Any) -> str:
        if kind not in ("toy", "pythia", "fileset"):
            raise ValueError(f"must be toy or pythia (generated) or fileset, got {quoted(kind)}")
        return kind

    @field_validator("processes", mode="before")
    @classmethod
    def _processes(cls, processes: Any) -> tuple[str, ...]:
        if not (isinstance(processes, (list, tuple)) and processes and all(isinstance(p, str) for p in processes)):
            raise ValueError("must be a non-empty list of names")
        return tuple(processes)

    _limited = field_validator("workers", "pileup", "pileup_pool")(_at_most)

    @field_validator("toy", mode="before")
    @classmethod
    def _toy(cls, toy: Any) -> dict[str, Any]:
        if not isinstance(toy, dict):
            raise ValueError("must be a mapping of toy parameters")
        return toy

    @model_validator(mode="after")
    def _checked_now(self) -> Source:
        # the toy parameters, the processes and the card that adds some are checked now, not after minutes of work
        if self.kind == "fileset":
            if self.fileset is None:
                raise ValueError("fileset: the path of a coffea fileset JSON is required with kind fileset")
            return self
        if self.events is None:
            raise ValueError(
                f"'events' is required with kind {self.kind} (toy: jets per class; pythia: events per process)"
            )
        if self.kind == "toy":
            if self.events > MAX_TOY_JETS:
                raise ValueError(
                    f"events must be at most {number(MAX_TOY_JETS)} toy jets per class (xaugcol.limits), "
                    f"got {self.events}"
                )
            ToyConfig.from_dict(self.toy, "toy")
        if self.kind == "pythia":
            if self.events > MAX_PYTHIA_EVENTS:
                raise ValueError(
                    f"events must be at most {number(MAX_PYTHIA_EVENTS)} per Pythia process "
                    f"(xaugcol.limits), got {self.events}"
                )
            known = load_processes(self.process_card)
            unknown = [p for p in self.processes if p not in known]
            if unknown:
                raise ValueError(f"unknown process(es) {unknown}; known: {sorted(known)}")
        return self


class TrainedTagger(ConfigModel):
    """A tagger the study explains without training it: ``{folder: path}`` (an ensemble or tagger folder, relative
    to the study file), named by the folder or by ``name``."""

    folder: str
    name: str | None = None

    @property
    def label(self) -> str:
        """The tagger's name: ``name``, or its folder's."""
        return self.name or Path(self.folder).name


def _tagger_entry(entry: Any) -> Any:
    """A taggers entry as given: a trained tagger (``{folder: ...}``) or a model to train, each validated."""
    if isinstance(entry, dict) and "folder" in entry:
        return TrainedTagger.model_validate(entry)
    return ModelConfig.from_dict(entry, None) if isinstance(entry, dict) else entry


def _non_empty(entries: Any) -> Any:
    if not (isinstance(entries, (list, tuple)) and entries):
        raise ValueError("must be a non-empty list")
    return entries


# each entry a model to train (``ModelConfig``) or a trained tagger to explain (``{folder: ...}``)
Tagger = Annotated[ModelConfig | TrainedTagger, BeforeValidator(_tagger_entry)]
Taggers = Annotated[tuple[Tagger, ...], BeforeValidator(_non_empty)]


class Processing(ConfigModel):
    """The ``processing`` section: the jet-table settings and how the coffea run goes (sizes limited as
    ``ProcessingConfig`` says, and the chunk's table at most 4 GiB: ``ProcessingConfig.check_chunk``)."""

    chunksize: PositiveInt = DEFAULT_CHUNKSIZE
    executor: str | None = None  # iterative, or dask under a top-level dask section
    workers: PositiveInt = 1
    min_pt: Number = 0.0
    n_particles: PositiveInt = 50
    n_tracks: PositiveInt = 60
    n_vertices: PositiveInt = 5
    image_pixels: PositiveInt = 37
    max_constituents: PositiveInt = MAX_CONSTITUENTS  # a jet with more is skipped and counted (ProcessingConfig)
    skip_bad_files: Bool = False
    efp: EFPConfig | None = None  # energy-flow polynomial columns: {degree, kappas, betas, connected_only, ...}
    # lepton tables (lepton files): {n_cells, cone_radii, anchored_efp: {degree, kappas, betas, max_columns}}
    lepton: LeptonConfig | None = None

    _workers = field_validator("workers")(_at_most)


class Explain(ExplainOptions):
    """The ``explain`` section: the options of the explanation run (``xaugcol.explain.options.ExplainOptions``,
    the command line's defaults), the example jets the report draws, and how the run is executed."""

    examples: NonNegativeInt = 2  # example jets per class drawn with their LRP
    chunksize: PositiveInt = Field(DEFAULT_CHUNKSIZE, exclude=True)  # the run's settings travel as ``Run``
    executor: str | None = Field(None, exclude=True)
    workers: PositiveInt = Field(1, exclude=True)

    @field_validator("examples", "workers")
    @classmethod
    def _limits(cls, value: Any, info: ValidationInfo) -> Any:
        return _at_most(value, info)


class Figures(ConfigModel):
    """The ``figures`` section: PNGs for the report, PDFs too on request (they double the drawing time)."""

    pdf: Bool = False


class Reduced(ConfigModel):
    """The ``reduced`` section: ``tagger`` retrained on its k most relevant XAUG variables under ``rule``, for
    each k of ``k``."""

    tagger: str = "dnn"
    rule: str = "epsilon"
    k: tuple[PositiveInt, ...] | None = None  # null: k = 1..n


class Interpret(ConfigModel):
    """The ``interpret`` section: Roy and Neubauer's (ICHEP 2022) retrainings after occlusion
    (``xaugcol.training.pruning``) of one trained tagger: on the features whose dAUC lies below ``prune_below`` masked,
    from scratch and (``preload``) with the baseline's weights; without the features flagged as acting like a bias
    (``bias_like``); and a squeezed model (``squeezed``: architecture options, e.g. {width: 32, de: 8, do: 8}; null:
    none)."""

    tagger: str
    prune_below: PositiveNumber = 0.01  # dAUC x 100
    preload: Bool = True
    bias_like: Bool = True
    squeezed: dict | None = None


CANDIDATE_FAMILIES = ("efp", "anchored")


class Mapping(ConfigModel):
    """The ``mapping`` section: the guided search (``xaugcol.mapping.guided``) that maps ``black_box`` (a tagger
    of the study, trained or given) onto the EFP columns of the processing, starting from ``base`` (default: the
    XAUG DNN's variables), with a high-level ``dnn`` (the XAUG DNN, ``architecture`` its options) or ``gbdt``."""

    black_box: str
    base: Strings | None = None
    high_level: str = "dnn"
    steps: PositiveInt = 5
    architecture: dict = Field(default_factory=dict)
    # the candidate families: ``efp`` (processing.efp's columns) and, for lepton tables, ``anchored`` (the
    # lepton-anchored EFPs of processing.lepton.anchored_efp)
    candidates: Strings = ("efp",)

    @field_validator("candidates")
    @classmethod
    def _candidates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(CANDIDATE_FAMILIES))
        if unknown or not value:
            raise ValueError(f"must list candidate families among {', '.join(CANDIDATE_FAMILIES)}, got {list(value)}")
        return value

    def candidate_columns(self, processing: ProcessingConfig) -> tuple[str, ...]:
        """The columns of ``processing``'s jet tables the search may add, of the families in ``candidates``.

        Parameters
        ----------
        processing : ProcessingConfig
            The study's processing settings (its ``efp`` and ``lepton.anchored_efp`` sections).

        Returns
        -------
        tuple of str
            The EFP columns (``efp``), then the lepton-anchored EFP columns (``anchored``); a family whose
            processing section is absent adds none.
        """
        columns: list[str] = []
        if "efp" in self.candidates and processing.efp is not None:
            columns += processing.efp.columns()
        anchored = processing.lepton_settings.anchored_efp
        if "anchored" in self.candidates and anchored is not None:
            columns += anchored.columns()
        return tuple(columns)

    @field_validator("high_level")
    @classmethod
    def _high_level(cls, value: Any) -> Any:
        from xaugcol.mapping.guided import HIGH_LEVEL

        return one_of(value, HIGH_LEVEL)


class Gain(ConfigModel):
    """The ``gain`` section: the XAUG gain of every tagger trained with and without the XAUG variables
    (``xaugcol.training.gain``), overall and in bins of jet pT."""

    pt_bins: tuple[PositiveNumber, ...] | None = None  # GeV edges, increasing; null: all jets in one bin
    background_efficiencies: tuple[PositiveNumber, ...] = (0.001, 0.01, 0.1)
    bootstrap: NonNegativeInt = 200  # resamplings of the test jets
    seed: NonNegativeInt = 0

    @field_validator("pt_bins")
    @classmethod
    def _increasing(cls, edges: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if edges is not None and (len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:]))):
            raise ValueError(f"must be at least two increasing edges, got {list(edges)}")
        return edges

    @field_validator("background_efficiencies")
    @classmethod
    def _below_one(cls, effs: tuple[float, ...]) -> tuple[float, ...]:
        if not effs or any(e >= 1 for e in effs):
            raise ValueError(f"must be background efficiencies below 1, got {list(effs)}")
        return effs


class Dask(ConfigModel):
    """The cluster of a study: an existing one at ``scheduler``, or a local one of ``workers`` processes."""

    scheduler: str | None = None
    workers: PositiveInt = 2

    _workers = field_validator("workers")(_at_most)

    @field_validator("scheduler")
    @classmethod
    def _address(cls, scheduler: str | None) -> str | None:
        if scheduler is not None and "://" not in scheduler:
            raise ValueError(f"must be an address like tcp://HOST:PORT, got {quoted(scheduler)}")
        return scheduler

    @model_validator(mode="after")
    def _one_cluster(self) -> Dask:
        if self.scheduler and "workers" in self.model_fields_set:
            raise ValueError("give either scheduler (an existing cluster) or workers (a local one)")
        return self


class StudyFile(ConfigModel):
    """A study configuration as written (see the module docstring)."""

    name: str = "study"
    source: Source
    processing: Processing = Field(default_factory=Processing)
    seeds: Seeds = Field(1, validate_default=True)  # a count K: seeds 0..K-1
    training: TrainConfig = Field(default_factory=TrainConfig)
    taggers: Taggers
    explain: Explain = Field(default_factory=Explain)
    reduced: Reduced | None = None
    interpret: Interpret | None = None
    mapping: Mapping | None = None
    gain: Gain = Field(default_factory=Gain)
    figures: Figures = Field(default_factory=Figures)
    dask: Dask | None = None

    @field_validator("processing", "training", "explain", "figures", "gain", mode="before")
    @classmethod
    def _empty_section(cls, section: Any) -> Any:
        return {} if section is None else section  # a section written with no entries

    @model_validator(mode="after")
    def _consistent(self) -> StudyFile:
        names = [_name(t) for t in self.taggers]
        if len(set(names)) != len(names):
            raise ValueError(f"taggers: each model/xaug combination may appear once, got {names}")
        for section in ("processing", "explain"):
            _check_executor(getattr(self, section).executor, self.dask, section)
        r = self.reduced
        if r is not None:
            if r.tagger not in names:
                raise ValueError(f"reduced: tagger {quoted(r.tagger)} is not among the taggers {names}")
            if r.rule not in self.explain.method_names:
                raise ValueError(f"reduced: rule {quoted(r.rule)} is not among explain: rules")
            base = self.taggers[names.index(r.tagger)]
            if isinstance(base, TrainedTagger):
                raise ValueError(f"reduced: tagger {quoted(r.tagger)} is explained, not trained, by the study")
            if "xaug" not in base.inputs():
                raise ValueError(f"reduced: tagger {quoted(r.tagger)} takes no XAUG variables to rank")
        i = self.interpret
        if i is not None:
            if i.tagger not in names or isinstance(self.taggers[names.index(i.tagger)], TrainedTagger):
                raise ValueError(f"interpret: tagger {quoted(i.tagger)} is not among the taggers the study trains")
            if not self.explain.occlusion_fraction:
                raise ValueError(
                    "interpret: the retrainings need the occlusion table (explain: occlusion_fraction > 0)"
                )
            if i.squeezed is not None:
                base = self.taggers[names.index(i.tagger)]
                assert isinstance(base, ModelConfig)  # checked above: the study trains it
                ModelConfig.from_dict(
                    {**base.as_dict(), "architecture": {**base.architecture, **i.squeezed}}, "interpret: squeezed"
                )
        mp = self.mapping
        if mp is not None:
            if mp.black_box not in names:
                raise ValueError(f"mapping: black_box {quoted(mp.black_box)} is not among the taggers {names}")
            if "efp" in mp.candidates and self.processing.efp is None:
                raise ValueError(
                    "mapping: the guided search chooses among EFP columns: give processing an 'efp' "
                    "section, e.g. {degree: 5, kappas: [0.5, 1, 2], betas: [0.5, 1, 2]}"
                )
            if "anchored" in mp.candidates and (self.processing.lepton or LeptonConfig()).anchored_efp is None:
                raise ValueError(
                    "mapping: anchored candidates need processing.lepton.anchored_efp, e.g. "
                    "{degree: 3, kappas: [1], betas: [0.5, 1, 2]}"
                )
            ModelConfig.from_dict(
                {"model": "dnn", "xaug": True, "architecture": mp.architecture}, "mapping: architecture"
            )
            if mp.base is not None:
                if not mp.base or len(set(mp.base)) != len(mp.base):
                    raise ValueError(
                        f"mapping: base must list distinct columns (null: the XAUG DNN's), got {list(mp.base)}"
                    )
                efp = [] if self.processing.efp is None else self.processing.efp.columns()
                anchored = (self.processing.lepton or LeptonConfig()).anchored_efp
                both = sorted(set(mp.base) & set(efp + (anchored.columns() if anchored else [])))
                if both:
                    raise ValueError(
                        f"mapping: base columns {both} are also candidate EFPs: the search could not add them"
                    )
        return self


def _name(tagger: ModelConfig | TrainedTagger) -> str:
    return tagger.label if isinstance(tagger, TrainedTagger) else tagger_name(tagger)


def _check_executor(executor: str | None, dask: Dask | None, section: str) -> None:
    # "dask" runs on the study's client (the top-level dask section); "dask-local" would start a second cluster
    allowed = ["dask"] if dask else [e for e in EXECUTORS if e != "dask"]
    if executor is not None and executor not in allowed:
        hint = "" if dask else " (executor dask needs a top-level 'dask' section: {scheduler: ...} or {workers: N})"
        raise ValueError(f"{section}: executor must be one of {', '.join(allowed)}, got {quoted(executor)}{hint}")


@dataclass(frozen=True)
class Run:
    """How a coffea stage runs.

    Parameters
    ----------
    chunksize : int, default DEFAULT_CHUNKSIZE
        Events (or jet-table rows) per chunk.
    executor : str, default "iterative"
        The coffea executor: one of ``EXECUTORS`` (``iterative``, ``futures``, ``dask``, ``dask-local``).
    workers : int, default 1
        The worker processes of the ``futures`` (or ``dask-local``) executor.
    """

    chunksize: int = DEFAULT_CHUNKSIZE
    executor: str = "iterative"
    workers: int = 1

    @classmethod
    def of(cls, section: Processing | Explain, dask: Dask | None) -> Run:
        """How the stage of ``section`` (processing or explain) runs: its executor, or dask under a dask section.

        Parameters
        ----------
        section : Processing or Explain
            The study file's ``processing`` or ``explain`` section (chunk size, executor, workers).
        dask : Dask or None
            The study's ``dask`` section; None: no cluster.

        Returns
        -------
        Run
            The section's chunk size and workers, and its executor; unset: ``dask`` under a ``dask`` section,
            else ``iterative``.
        """
        return cls(section.chunksize, section.executor or ("dask" if dask else "iterative"), section.workers)


@dataclass(frozen=True)
class Workflow:
    """A study as its stages read it: the validated study file, with the processing settings built, the taggers to
    train apart from the trained ones to explain, and paths resolved against the study file's folder.

    Made by ``load`` or ``from_dict``; ``run_workflow`` runs it.

    Parameters
    ----------
    name : str
        The study's name (the report's title).
    source : Source
        Where the events come from: the toy, Pythia 8 processes, or a fileset.
    processing : ProcessingConfig
        What the jet tables hold.
    processing_run : Run
        How the processing stage runs (chunk size, executor, workers).
    skip_bad_files : bool
        Skip unreadable files and failing chunks instead of stopping.
    seeds : tuple of int
        The seeds of every ensemble's members.
    training : TrainConfig
        The training settings every tagger shares.
    taggers : tuple of ModelConfig
        The taggers the study trains.
    explain : Explain
        The explanation methods and analyses.
    explain_run : Run
        How the explanation stage runs (chunk size, executor, workers).
    reduced : Reduced or None
        The retraining on reduced feature sets; None: none.
    raw : dict
        The validated mapping, as written into the report.
    dask : Dask, optional
        The Dask cluster every stage shares; None: none.
    trained : tuple of TrainedTagger
        Taggers explained as they are (folders resolved).
    fileset : Path, optional
        The fileset of a ``fileset`` source (resolved).
    figures : Figures
        The figures' settings.
    gain : Gain
        The gain study's settings.
    interpret : Interpret, optional
        The interpretation stage's settings; None: none.
    mapping : Mapping, optional
        The mapping stage's settings; None: none.
    """

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
    trained: tuple[TrainedTagger, ...] = ()  # taggers explained as they are (folders resolved)
    fileset: Path | None = None  # the fileset of a ``fileset`` source (resolved)
    figures: Figures = Figures()
    gain: Gain = Gain()
    interpret: Interpret | None = None
    mapping: Mapping | None = None

    def tagger_names(self) -> list[str]:
        """The taggers the study trains.

        Returns
        -------
        list of str
            Their folder names (``tagger_name``).
        """
        return [tagger_name(t) for t in self.taggers]

    def all_tagger_names(self) -> list[str]:
        """Every tagger it explains: those it trains, then the trained ones it was given.

        Returns
        -------
        list of str
            Their names.
        """
        return self.tagger_names() + [t.label for t in self.trained]

    @classmethod
    def load(cls, path: str | Path, settings: Sequence[str] = ()) -> Workflow:
        """Read a study file.

        Parameters
        ----------
        path : str or Path
            The study's YAML file; relative paths in it are taken from its folder.
        settings : sequence of str
            ``KEY=VALUE`` settings applied to the file's mapping (``config_models.with_settings``).

        Returns
        -------
        Workflow
            The validated study.

        Raises
        ------
        ValueError
            A field that is unknown, of the wrong type or out of its range; the message names the file and the
            field.
        """
        raw = with_settings(read_yaml(path, "study config"), list(settings), "study config")
        return cls.from_dict(raw, f"study config {path}", Path(path).parent)

    @classmethod
    def from_dict(cls, raw: Any, where: str = "study config", base: Path = Path(".")) -> Workflow:
        """Build a study from its validated mapping.

        Parameters
        ----------
        raw : Any
            The study's mapping (``StudyFile``).
        where : str
            Where it comes from, named in errors.
        base : Path
            The folder relative paths (a fileset, trained taggers) are taken from (the study file's).

        Returns
        -------
        Workflow
            The validated study.

        Raises
        ------
        ValueError
            A field that is unknown, of the wrong type or out of its range.
        """
        f = validated(StudyFile, raw, where)
        fileset = None if f.source.fileset is None else (base / f.source.fileset).resolve()
        trained = tuple(
            TrainedTagger(folder=str((base / t.folder).resolve()), name=t.label)
            for t in f.taggers
            if isinstance(t, TrainedTagger)
        )
        to_train = tuple(t for t in f.taggers if isinstance(t, ModelConfig))
        if fileset is not None:
            _check_fileset(fileset, bool(to_train), where)
        p = f.processing
        try:
            settings = processing_settings(p)
            processing = ProcessingConfig.model_validate(settings)
            processing.check_chunk(p.chunksize)
        except ValidationError as err:
            raise ValueError(f"{where}: processing: {describe(err)}") from None
        except ValueError as err:
            raise ValueError(f"{where}: processing: {err}") from None
        return cls(
            f.name,
            f.source,
            processing,
            Run.of(p, f.dask),
            p.skip_bad_files,
            f.seeds,
            f.training,
            to_train,
            f.explain,
            Run.of(f.explain, f.dask),
            f.reduced,
            raw,
            f.dask,
            trained,
            fileset,
            f.figures,
            f.gain,
            f.interpret,
            f.mapping,
        )


def _check_fileset(path: Path, trains: bool, where: str) -> None:
    """The fileset loads (files listed, metadata valid); training needs every dataset labelled."""
    from xaugcol.processing.coffea_runner import FilesetError, dataset_label, is_labelled, load_fileset

    try:
        fileset = load_fileset(path)
    except FilesetError as err:
        raise ValueError(f"{where}: source: {err}") from None
    unlabelled = [name for name, entry in fileset.items() if not is_labelled(dataset_label(entry))]
    if trains and unlabelled:
        raise ValueError(
            f"{where}: taggers: training needs labelled jets, but dataset(s) {unlabelled} of {path} "
            "have no metadata label (real data); give trained taggers as {folder: path} to explain "
            "them, or label the datasets (1 signal, 0 background)"
        )
