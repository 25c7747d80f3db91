"""A training study: several taggers (each with or without XAUG) trained as ensembles on one set of jet tables.

YAML form (validated by pydantic models; errors name the file and the field)::

    data: out/toy/processed          # a processing output folder (with jets/) or the jets folder itself
    out: out/toy/taggers
    seeds: 3                         # ensemble size (seeds 0..K-1), or an explicit list [11, 12, 13]
    training: {epochs: 20, batch_size: 256, learning_rate: 0.001, patience: 3, msd_window: false}
    taggers:
      - {model: cnn2d, xaug: false}
      - {model: cnn2d, xaug: true, architecture: {channels: [8, 8, 8, 8], hidden: [64, 64]}}
      - {model: dnn, xaug: true}

Each tagger trains into ``out/<model>`` or ``out/<model>_xaug``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from xaugcol.config_models import ConfigModel, read_yaml, validated
from xaugcol.limits import MAX_SEED_VALUE, MAX_SEEDS
from xaugcol.models.registry import ModelConfig
from xaugcol.paths import refuse_inputs_inside, under
from xaugcol.training.train import TrainConfig, check_replaceable, check_training_data, train_ensemble


def _seeds(seeds) -> tuple[int, ...]:
    """A positive count K (seeds 0..K-1) or an explicit list of distinct non-negative integers (a seed listed
    twice would train one member twice and report a spread of 0)."""
    if isinstance(seeds, bool) or not (
        isinstance(seeds, int)
        and seeds >= 1
        or isinstance(seeds, list)
        and seeds
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise ValueError("must be a positive count or a list of non-negative integers")
    size = seeds if isinstance(seeds, int) else len(seeds)
    if size > MAX_SEEDS:
        raise ValueError(f"must be at most {MAX_SEEDS} members (xaugcol.limits), got {size}")
    if isinstance(seeds, list) and max(seeds) > MAX_SEED_VALUE:
        raise ValueError(f"seeds must be at most {MAX_SEED_VALUE}, got {max(seeds)}")
    twice = sorted({s for s in seeds if seeds.count(s) > 1}) if isinstance(seeds, list) else []
    if twice:
        raise ValueError(f"must list distinct seeds, got {seeds} (seed {twice[0]} twice)")
    return tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)


def _non_empty(taggers):
    if not (isinstance(taggers, (list, tuple)) and taggers):
        raise ValueError("must be a non-empty list")
    return taggers


Seeds = Annotated[tuple[int, ...], BeforeValidator(_seeds)]
# each entry a model configuration (``ModelConfig.from_dict``), its errors under taggers[k]
Tagger = Annotated[ModelConfig, BeforeValidator(lambda entry: ModelConfig.from_dict(entry, None))]
TaggerList = Annotated[tuple[Tagger, ...], BeforeValidator(_non_empty)]


class StudyFile(ConfigModel):
    """A study as written in YAML (module docstring), validated field by field."""

    data: str
    out: str
    seeds: Seeds = Field(1, validate_default=True)  # a count K: seeds 0..K-1
    training: TrainConfig = Field(default_factory=TrainConfig)
    taggers: TaggerList


@dataclass(frozen=True)
class Study:
    """A training study: every tagger trained as an ensemble of the same seeds on one set of jet tables.

    Parameters
    ----------
    data : Path
        The jets folder of a processing output (``resolve_jets``: the output folder or its ``jets/``).
    out : Path
        The folder the taggers' ensembles go into, one sub-folder each (``tagger_name``).
    seeds : tuple of int
        The seeds of every ensemble's members, distinct.
    training : TrainConfig
        The training settings every tagger shares.
    taggers : tuple of ModelConfig
        The taggers' model configurations.
    """

    data: Path
    out: Path
    seeds: tuple[int, ...]
    training: TrainConfig
    taggers: tuple[ModelConfig, ...]

    @classmethod
    def from_dict(cls, raw: Any, where: str = "study config") -> Study:
        """A study from its YAML mapping (``StudyFile``, module docstring).

        Parameters
        ----------
        raw : Any
            The mapping as read from YAML.
        where : str
            What the errors name first (the file).

        Returns
        -------
        Study
            The validated study.

        Raises
        ------
        ValueError
            A bad field; the message names ``where`` and the field.
        """
        f = validated(StudyFile, raw, where)
        return cls(resolve_jets(f.data), Path(f.out), f.seeds, f.training, f.taggers)

    @classmethod
    def load(cls, path: str | Path) -> Study:
        """A study from its YAML file (``from_dict``; errors name the file).

        Parameters
        ----------
        path : str or Path
            The study's YAML file.

        Returns
        -------
        Study
            The validated study.
        """
        return cls.from_dict(read_yaml(path, "study config"), f"study config {path}")

    def folders(self) -> dict[str, Path]:
        """Each tagger's ensemble folder, checked to lie inside ``out`` and to pass through no link planted there
        (training replaces what an earlier ensemble left in it).

        Returns
        -------
        dict
            {tagger name: its ensemble's folder}.

        Raises
        ------
        UsageError
            A folder outside ``out`` or reached through a link.
        """
        return {tagger_name(t): under(self.out, tagger_name(t)) for t in self.taggers}

    def check(self) -> None:
        """Everything a run would refuse, before it writes anything: the output folders, an input inside the
        output folder, the data each tagger reads.

        Raises
        ------
        OutputFolderError
            An ensemble folder that cannot be replaced.
        UsageError
            The jet tables lie inside the output folder.
        InputDataError
            Jet tables a tagger cannot be trained on.
        """
        for folder in self.folders().values():
            check_replaceable(folder)
        refuse_inputs_inside(self.out, [("the jet tables", self.data)])
        for tagger in self.taggers:
            check_training_data(self.data, tagger, self.training)

    def run(self, mapper: Callable[..., Iterable[Any]] = map, progress: bool = False) -> dict[str, dict]:
        """Train every tagger's ensemble into its folder (``folders``), one tagger after the other.

        Parameters
        ----------
        mapper : callable
            Dispatches the members of an ensemble (``train_ensemble``): builtin ``map``, a pool's or a Dask
            client's ``map``.
        progress : bool
            Show progress bars.

        Returns
        -------
        dict
            {tagger name: its ensemble's summary (``metrics.json``)}.
        """
        return {
            name: train_ensemble(
                str(self.data), tagger, self.training, list(self.seeds), str(folder), mapper=mapper, progress=progress
            )
            for (name, folder), tagger in zip(self.folders().items(), self.taggers)
        }


def tagger_name(config: ModelConfig) -> str:
    """Name a tagger's folder in a study: the model, with ``_xaug`` when the XAUG variables join it.

    Parameters
    ----------
    config : ModelConfig
        The tagger.

    Returns
    -------
    str
        ``<model>`` or ``<model>_xaug``.
    """
    return f"{config.model}_xaug" if config.joins_xaug else config.model


def resolve_jets(data: str | Path) -> Path:
    """Resolve a processing output folder (holding ``jets/``) or a jets folder to the jets folder.

    Parameters
    ----------
    data : str or Path
        A processing output folder or its jets folder.

    Returns
    -------
    Path
        ``data/jets`` if that is a folder, else ``data``.
    """
    path = Path(data)
    return path / "jets" if (path / "jets").is_dir() else path
