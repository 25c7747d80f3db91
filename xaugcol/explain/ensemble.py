"""Taggers to explain: one tagger folder or an ensemble folder (``seed_*`` members, as ``xaugcol train`` writes).

An ``Ensemble`` holds paths and configuration only (it is pickled to executor workers); ``load_members`` reads the
weights where they are used. Every member must take the same inputs as the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from xaugcol.models.folder import CONFIG, ModelFileError, load_model, read_config
from xaugcol.models.registry import ModelConfig
from xaugcol.training.data import DataSpec, select_jets


@dataclass(frozen=True)
class Ensemble:
    name: str
    members: tuple[tuple[int, str], ...]  # (seed, tagger folder)
    config: ModelConfig
    spec: DataSpec  # inputs and the training selection (mSD window, matched signal)
    data: str | None  # the jet tables it was trained on (from config.yaml)

    @classmethod
    def load(cls, folder: str | Path, name: str | None = None) -> Ensemble:
        folder = Path(folder)
        if (folder / CONFIG).is_file():
            paths = [folder]
        else:
            paths = sorted((p for p in folder.glob("seed_*") if (p / CONFIG).is_file()),
                           key=lambda p: _seed_of(p.name))
        if not paths:
            raise ModelFileError(f"{folder}: neither a tagger folder ({CONFIG}) nor an ensemble (seed_*/{CONFIG})")
        members, first = [], None
        for path in paths:
            config, raw = read_config(path)
            training = raw.get("training") or {}
            spec = DataSpec(config.inputs(), config.xaug_columns, bool(training.get("msd_window", False)),
                            bool(training.get("matched_signal", False)))
            if first is None:
                first = (config, spec, raw.get("data"))
            elif (config.inputs(), config.xaug_columns, spec) != (first[0].inputs(), first[0].xaug_columns, first[1]):
                raise ModelFileError(f"{path}: member takes other inputs or selection than {paths[0]}")
            members.append((int(raw.get("seed", _seed_of(path.name))), str(path)))
        config, spec, data = first
        return cls(name or folder.name, tuple(members), config, spec, data)

    def load_members(self, device: str = "cpu") -> list[tuple[int, object, object]]:
        """[(seed, model in eval mode, XAUG scaler or None)]."""
        return [(seed, *load_model(path, device)[::2]) for seed, path in self.members]

    def selection(self, rows: dict, split: str) -> np.ndarray:
        """Jets this ensemble is explained on: the split (``test``: jets no member trained or validated on;
        ``all``) and the training selection."""
        if self.spec.matched_signal and "gen_boson_contained" not in rows:
            raise ValueError(f"tagger {self.name} was trained on matched signal, but the events carry no "
                             f"generator truth (genBosonContained)")
        return select_jets(rows, self.spec, split)


def _seed_of(name: str) -> int:
    suffix = name.removeprefix("seed_")
    return int(suffix) if name.startswith("seed_") and suffix.isdigit() else 0
