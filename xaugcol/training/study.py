"""A training study: several taggers (each with or without XAUG) trained as ensembles on one set of jet tables.

YAML form (validated; errors name the field)::

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

from dataclasses import dataclass
from pathlib import Path

import yaml

from xaugcol.models.registry import ModelConfig
from xaugcol.training.train import TrainConfig, train_ensemble

FIELDS = {"data", "out", "seeds", "training", "taggers"}


@dataclass(frozen=True)
class Study:
    data: Path
    out: Path
    seeds: tuple[int, ...]
    training: TrainConfig
    taggers: tuple[ModelConfig, ...]

    @classmethod
    def from_dict(cls, raw: dict, where: str = "study config") -> Study:
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected a mapping with {sorted(FIELDS)}")
        unknown = set(raw) - FIELDS
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(FIELDS)}")
        for name in ("data", "out", "taggers"):
            if name not in raw:
                raise ValueError(f"{where}: '{name}' is required")
        seeds = parse_seeds(raw.get("seeds", 1), where)
        training = TrainConfig.from_dict(raw.get("training") or {}, f"{where}: training")
        taggers = parse_taggers(raw["taggers"], where)
        return cls(resolve_jets(raw["data"]), Path(raw["out"]), seeds, training, taggers)

    @classmethod
    def load(cls, path: str | Path) -> Study:
        return cls.from_dict(read_study_yaml(path), f"study config {path}")

    def run(self, mapper=map, progress: bool = False) -> dict:
        results = {}
        for tagger in self.taggers:
            name = tagger_name(tagger)
            results[name] = train_ensemble(str(self.data), tagger, self.training, list(self.seeds),
                                           str(self.out / name), mapper=mapper, progress=progress)
        return results


def read_study_yaml(path: str | Path):
    """A study configuration file parsed safely (``yaml.safe_load``: no code from the file runs)."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"study config {path}: cannot read it: {err}") from None


def parse_seeds(seeds, where: str) -> tuple[int, ...]:
    """A positive count K (seeds 0..K-1) or an explicit list of non-negative integers."""
    if isinstance(seeds, bool) or not (isinstance(seeds, int) and seeds >= 1 or
                                       isinstance(seeds, list) and seeds and
                                       all(isinstance(s, int) and s >= 0 for s in seeds)):
        raise ValueError(f"{where}: 'seeds' must be a positive count or a list of non-negative integers")
    return tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)


def parse_taggers(taggers, where: str) -> tuple[ModelConfig, ...]:
    if not (isinstance(taggers, list) and taggers):
        raise ValueError(f"{where}: 'taggers' must be a non-empty list")
    return tuple(ModelConfig.from_dict(t, f"{where}: taggers[{k}]") for k, t in enumerate(taggers))


def tagger_name(config: ModelConfig) -> str:
    return f"{config.model}_xaug" if config.joins_xaug else config.model


def resolve_jets(data) -> Path:
    """A processing output folder (holding jets/) or a jets folder."""
    path = Path(data)
    return path / "jets" if (path / "jets").is_dir() else path
