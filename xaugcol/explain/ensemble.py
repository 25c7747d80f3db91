"""Taggers to explain: one tagger folder or an ensemble folder (``seed_*`` members, as ``xaugcol train`` writes).

An ensemble is complete when training wrote its ``metrics.json`` (last, listing the members); only those members
are used. A folder of members without it (a training that was killed) is refused: explain one member folder
directly, or train again. An ``Ensemble`` holds paths and configuration only (it is pickled to executor
workers); ``load_members`` reads the weights where they are used. Every member must take the same inputs as the
first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xaugcol.models.folder import CONFIG, METRICS, ModelFileError, folder_digest, load_model, read_config
from xaugcol.models.registry import ModelConfig
from xaugcol.paths import UnsafePathError, plain_name, read_json
from xaugcol.training.data import DataSpec, select_jets
from xaugcol.training.pt_spectrum import PtWeights

if TYPE_CHECKING:
    from torch import nn

    from xaugcol.features.scaler import InputScalers


@dataclass(frozen=True)
class Ensemble:
    """A tagger to explain: its members (one for a single tagger folder), the configuration and inputs they share,
    and the range of their training jets. Paths and configuration only (it is pickled to executor workers):
    ``load_members`` reads the weights.

    Parameters
    ----------
    name : str
        The tagger's name in histograms, ROOT folders and figure files (a plain name).
    members : tuple
        ((seed, tagger folder), ...), in seed order.
    config : ModelConfig
        The members' model configuration (the first member's).
    spec : DataSpec
        The inputs and the training selection (mSD window, matched signal, pT range).
    data : str or None
        The jet tables the tagger was trained on, as its config.yaml records them (None: not recorded).
    domain, domain_jets : tuple, int
        The training range ((column, min, max), ...) and the number of training jets it is taken from.
    fingerprints : tuple
        Every member's files as a run found them (``pinned``); empty: not pinned.
    """

    name: str
    members: tuple[tuple[int, str], ...]  # (seed, tagger folder)
    config: ModelConfig
    spec: DataSpec  # inputs and the training selection (mSD window, matched signal)
    data: str | None  # the jet tables it was trained on (from config.yaml)
    domain: tuple = ()  # ((column, min, max), ...): the range of its training jets (``xaugcol.training.domain``)
    domain_jets: int = 0  # how many training jets that range is taken from
    # ((seed, ((file, sha256), ...)), ...): every member's files as a run found them (``pinned``); empty: not pinned
    fingerprints: tuple = ()

    @property
    def training_range(self) -> dict[str, list[float]]:
        """The range of the training jets: {column: [min, max]}."""
        return {c: [lo, hi] for c, lo, hi in self.domain}

    @classmethod
    def load(cls, folder: str | Path, name: str | None = None) -> Ensemble:
        """Read a tagger folder or a complete ensemble folder (its members listed in ``metrics.json``).

        Parameters
        ----------
        folder : str or Path
            A tagger folder (``config.yaml``) or an ensemble folder (``seed_*`` members, as ``xaugcol train``
            writes).
        name : str, optional
            The tagger's name (a plain name); None: the folder's name.

        Returns
        -------
        Ensemble
            Its members and their shared configuration (no weights read).

        Raises
        ------
        ModelFilesError
            (``ModelFileError``) An incomplete ensemble, members that take different inputs or share a seed, an
            unreadable configuration, or a name that is not a plain name.
        """
        folder = Path(folder)
        name = name or folder.resolve().name
        try:
            plain_name(name, "tagger name")  # it names histograms, ROOT folders and figure files
        except UnsafePathError as err:
            raise ModelFileError(str(err)) from None
        paths = [folder] if (folder / CONFIG).is_file() else _complete_members(folder)
        members, first = [], None
        for path in paths:
            config, raw = read_config(path)
            training = raw.get("training") or {}
            pt_weights = raw.get("pt_weights")
            try:
                pt_weights = None if pt_weights is None else PtWeights.from_dict(pt_weights, str(path / CONFIG))
            except ValueError as err:
                raise ModelFileError(str(err)) from None
            spec = DataSpec.of(
                config,
                training.get("msd_window", False),
                training.get("matched_signal", False),
                training.get("pt_range"),
                pt_weights,
            )
            if first is None:
                first = (
                    config,
                    spec,
                    raw.get("data"),
                    _domain(raw.get("domain"), path),
                    int(raw.get("domain_jets", 0)),
                )
            elif replace(spec, pt_weights=None) != replace(first[1], pt_weights=None):
                raise ModelFileError(f"{path}: member takes other inputs or selection than {paths[0]}")
            members.append((int(raw.get("seed", _seed_of(path.name))), str(path)))
        seeds = [seed for seed, _ in members]
        if len(set(seeds)) != len(seeds):
            twice = sorted({s for s in seeds if seeds.count(s) > 1})
            raise ModelFileError(
                f"{folder}: members trained with the same seed ({twice[0]}): one model counted "
                "twice, with a spread of 0; an ensemble's members need distinct seeds"
            )
        assert first is not None  # paths is never empty: _complete_members refuses an ensemble without members
        config, spec, data, domain, domain_jets = first
        return cls(name, tuple(members), config, spec, data, domain, domain_jets)

    def pinned(self) -> Ensemble:
        """This ensemble with every member's files fingerprinted now (``folder_digest``): ``load_members`` then
        refuses a member whose files changed since, as when a tagger is replaced file by file while a run that
        loads it in every worker explains it.

        Returns
        -------
        Ensemble
            A copy with ``fingerprints`` set.
        """
        return replace(
            self, fingerprints=tuple((seed, tuple(sorted(folder_digest(path).items()))) for seed, path in self.members)
        )

    def digests(self) -> dict[str, dict[str, str]]:
        """The members' file digests, as pinned (or as they are now).

        Returns
        -------
        dict
            {seed_<k>: {file: sha256}}.
        """
        pinned = (
            dict(self.fingerprints)
            if self.fingerprints
            else {seed: tuple(sorted(folder_digest(path).items())) for seed, path in self.members}
        )
        return {f"seed_{seed}": dict(files) for seed, files in pinned.items()}

    def load_members(self, device: str = "cpu") -> list[tuple[int, nn.Module, InputScalers]]:
        """Read the members' weights and input scalers.

        Parameters
        ----------
        device : str
            The torch device the models are put on.

        Returns
        -------
        list of tuple
            [(seed, model in eval mode, the scalers of its inputs)], in seed order.

        Raises
        ------
        ModelFilesError
            (``ModelFileError``) A member's files are unreadable, or a pinned member's files changed since it was
            pinned.
        """
        pinned = dict(self.fingerprints)
        loaded: list[tuple[int, nn.Module, InputScalers]] = []
        for seed, path in self.members:
            if pinned:
                expected, now = dict(pinned[seed]), folder_digest(path)
                changed = sorted(f for f in set(now) | set(expected) if now.get(f) != expected.get(f))
                if changed:
                    raise ModelFileError(
                        f"{path}: {', '.join(changed)} changed while the run explained it: explain "
                        "it again once the tagger stays as it is"
                    )
            loaded.append((seed, *load_model(path, device)[::2]))
        return loaded

    def selection(self, rows: dict, split: str) -> np.ndarray:
        """Jets this ensemble is explained on: the split (``test``: jets no member trained or validated on;
        ``val``, ``train``, ``all``) and the training selection.

        Parameters
        ----------
        rows : dict
            The jet-table columns of a chunk.
        split : str
            ``test`` (jets no member trained or validated on), ``val``, ``train`` or ``all`` (every split).

        Returns
        -------
        numpy.ndarray
            A boolean mask over the rows.

        Raises
        ------
        ValueError
            The tagger was trained on matched signal and the rows carry no generator truth.
        """
        if self.spec.matched_signal and "gen_boson_contained" not in rows:
            raise ValueError(
                f"tagger {self.name} was trained on matched signal, but the events carry no "
                f"generator truth (genBosonContained)"
            )
        return select_jets(rows, self.spec, split)


MEMBER = re.compile(r"^seed_[0-9]+$")


def _domain(raw, path: Path) -> tuple:
    """The training range of a member's config.yaml (absent in taggers trained before it was recorded)."""
    if raw is None:
        return ()
    ok = isinstance(raw, dict) and all(
        isinstance(k, str) and isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)
        for k, v in raw.items()
    )
    if not ok:
        raise ModelFileError(f"{path / CONFIG}: 'domain' must map columns to [min, max]")
    return tuple((k, float(v[0]), float(v[1])) for k, v in sorted(raw.items()))


def _complete_members(folder: Path) -> list[Path]:
    """The members an ensemble's ``metrics.json`` lists (training writes it last)."""
    found = sorted(p.name for p in folder.glob("seed_*") if (p / CONFIG).is_file())
    if not (folder / METRICS).is_file():
        if found:
            raise ModelFileError(
                f"{folder}: incomplete ensemble: {len(found)} member folder(s) but no {METRICS} "
                "(its training did not finish); train it again, or explain one member folder "
                f"such as {folder / found[0]}"
            )
        raise ModelFileError(f"{folder}: neither a tagger folder ({CONFIG}) nor an ensemble (seed_*/{CONFIG})")
    try:
        listed = read_json(folder / METRICS, "an ensemble's metrics.json")["members"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelFileError(f"{folder / METRICS}: cannot read the ensemble's members: {err}") from None
    if not (isinstance(listed, list) and listed and all(isinstance(m, str) and MEMBER.match(m) for m in listed)):
        raise ModelFileError(f"{folder / METRICS}: 'members' must list member folders named seed_<k>")
    missing = [m for m in listed if m not in found]
    if missing:
        raise ModelFileError(f"{folder}: member(s) {', '.join(missing)} listed in {METRICS} are missing")
    return [folder / m for m in sorted(listed, key=_seed_of)]


def _seed_of(name: str) -> int:
    suffix = name.removeprefix("seed_")
    return int(suffix) if name.startswith("seed_") and suffix.isdigit() else 0
