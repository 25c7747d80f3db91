"""Process cards: YAML files adding Pythia processes to the built-in ones (``xaugcol.sources.processes``), each
validated field by field (``ProcessEntry``); the settings Pythia would reject are named."""

from __future__ import annotations

from pathlib import Path

from pydantic import model_validator

from xaugcol.config_models import Bool, ConfigModel, NonNegativeNumber, PositiveNumber, read_yaml, validated
from xaugcol.limits import MAX_MU
from xaugcol.paths import UnsafePathError, plain_name
from xaugcol.quoting import quoted
from xaugcol.sources.processes import B_HADRONS, BUILTIN, C_HADRONS, Process, sets_decays
from xaugcol.sources.pythia_config import rejected_settings


class ProcessEntry(ConfigModel):
    """One process of a card, as written."""

    label: int
    settings: tuple[str, ...]
    signal_bosons: tuple[int, ...] = ()
    require_hadronic: Bool = False
    description: str = ""
    lepton: int = 0
    lepton_origin: str = ""
    pthat_min: PositiveNumber | None = None
    lepton_pt: tuple[float, float] = (20.0, 100.0)
    pileup: NonNegativeNumber = 0.0
    solenoid_tesla: NonNegativeNumber = 0.0
    flat_pileup: NonNegativeNumber = 0.0
    hadron_showers: str = "uniform"
    leading_candidate: Bool = False
    forced_b_decays: int = 0
    forced_c_decays: int = 0

    @model_validator(mode="before")
    @classmethod
    def _entries(cls, data):
        data = cls.check_known(data)
        label = data.get("label")
        if label not in (0, 1) or isinstance(label, bool):
            raise ValueError(f"'label' must be 0 or 1, got {quoted(label)}")
        settings = data.get("settings")
        if not (isinstance(settings, list) and settings and all(isinstance(s, str) and "=" in s for s in settings)):
            raise ValueError("'settings' must be a non-empty list of 'Key = value' strings")
        bosons = data.get("signal_bosons", [])
        if not (isinstance(bosons, list) and all(isinstance(b, int) and not isinstance(b, bool) for b in bosons)):
            raise ValueError("'signal_bosons' must be a list of PDG ids")
        lepton, origin = data.get("lepton", 0), data.get("lepton_origin", "")
        if lepton not in (0, 11, 13) or isinstance(lepton, bool):
            raise ValueError(
                f"'lepton' must be 11 (electrons) or 13 (muons), or 0 for a jet process, got {quoted(lepton)}"
            )
        if lepton and origin not in ("prompt", "hadron", "any"):
            raise ValueError(
                f"'lepton_origin' must be prompt, hadron or any for a lepton process, got {quoted(origin)}"
            )
        if not lepton and origin:
            raise ValueError("'lepton_origin' needs 'lepton'")
        window = data.get("lepton_pt", [20.0, 100.0])
        if not (
            isinstance(window, (list, tuple))
            and len(window) == 2
            and all(_is_number(v) for v in window)
            and 0 <= window[0] < window[1]
        ):
            raise ValueError(f"'lepton_pt' must be [min, max] in GeV with 0 <= min < max, got {quoted(window)}")
        if _is_number(data.get("pileup", 0)) and data.get("pileup", 0) > MAX_MU:
            raise ValueError(f"'pileup' must be at most {MAX_MU:g} interactions (xaugcol.limits)")
        if _is_number(data.get("solenoid_tesla", 0)) and data.get("solenoid_tesla", 0) > 20:
            raise ValueError("'solenoid_tesla' must be at most 20")
        if data.get("hadron_showers", "uniform") not in ("uniform", "parametrised"):
            raise ValueError(
                f"'hadron_showers' must be uniform or parametrised, got {quoted(data.get('hadron_showers'))}"
            )
        for field, flavour, hadrons in (("forced_b_decays", "b", B_HADRONS), ("forced_c_decays", "c", C_HADRONS)):
            forced = data.get(field, 0)
            if forced not in (0, 11, 13) or isinstance(forced, bool):
                raise ValueError(
                    f"'{field}' must be 11 or 13 (the lepton {flavour} hadrons decay to) or 0, got {quoted(forced)}"
                )
            if forced and sets_decays(settings, hadrons):
                raise ValueError(
                    f"'{field}' forces the {flavour}-hadron decays, and the settings set them too "
                    f"({quoted(sets_decays(settings, hadrons)[0])}): keep one"
                )
        return {
            **data,
            "settings": tuple(settings),
            "signal_bosons": tuple(abs(b) for b in bosons),
            "lepton_pt": tuple(float(v) for v in window),
        }

    @model_validator(mode="after")
    def _hadronic_needs_bosons(self):
        if self.require_hadronic and not self.signal_bosons:
            raise ValueError("'require_hadronic' needs signal_bosons")
        return self


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) < 1e9


def read_card(card: str | Path) -> dict[str, Process]:
    """The processes of a YAML card, by name.

    Parameters
    ----------
    card : str or Path
        The YAML process card: a mapping of process names to entries (``ProcessEntry``).

    Returns
    -------
    dict of str to Process
        The card's processes, in the card's order.

    Raises
    ------
    ValueError
        Naming the card (and the process), where the file cannot be read or is not a mapping, a process name is not
        a plain name, an entry is invalid or Pythia rejects one of its settings.
    """
    processes = {}
    data = read_yaml(card, "process card")
    if not isinstance(data, dict):
        raise ValueError(f"process card {card}: expected a mapping of process names")
    for name, entry in data.items():
        try:
            plain_name(name, "the process name")  # it names the generated files
        except UnsafePathError as err:
            raise ValueError(f"process card {card}: {err}") from None
        e = validated(ProcessEntry, entry, f"process card {card}: process {quoted(name)}")
        rejected = rejected_settings(e.settings)
        if rejected:
            raise ValueError(
                f"process card {card}: process {quoted(name)}: Pythia rejects the setting {quoted(rejected[0])}"
            )
        processes[name] = Process(name=str(name), **e.model_dump())
    return processes


def load_processes(card: str | Path | None = None) -> dict[str, Process]:
    """The built-in processes, plus (or overridden by) those of a YAML card.

    The card is validated field by field (``read_card``).

    Parameters
    ----------
    card : str or Path or None, optional
        The YAML process card; None: the built-in processes only.

    Returns
    -------
    dict of str to Process
        The processes by name: ``BUILTIN``, updated with the card's.
    """
    processes = dict(BUILTIN)
    if card is not None:
        processes.update(read_card(card))
    return processes
