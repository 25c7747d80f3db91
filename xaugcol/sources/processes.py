"""Pythia 8 processes as configuration: a name, Pythia settings, a label and the bosons that make signal jets.

Built-in: ``zz`` (SM ZZ, at least one Z to quarks) and ``qcd`` (hard QCD 2->2). More processes (e.g. ZH with
H->bb) are added with a YAML card, validated field by field::

    hbb:
      label: 1
      settings: ["HiggsSM:ffbar2HZ = on", "25:onMode = off", "25:onIfAny = 5"]
      signal_bosons: [25]
      require_hadronic: true
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from xaugcol.paths import UnsafePathError, plain_name, read_text


@dataclass(frozen=True)
class Process:
    name: str
    settings: tuple[str, ...]
    label: int
    signal_bosons: tuple[int, ...] = ()  # PDG ids whose hadronic decays are the signal jets (matched, stored)
    require_hadronic: bool = False  # keep only events where one of signal_bosons decays to quarks
    description: str = ""


BUILTIN = {
    "zz": Process(
        name="zz",
        # ffbar -> gamma*/Z gamma*/Z with the pure-Z propagator: SM ZZ; Z decays left at SM branching ratios and
        # events without a hadronic Z dropped, so leptonic/invisible partners stay in proportion
        settings=("WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2"),
        label=1,
        signal_bosons=(23,),
        require_hadronic=True,
        description="SM ZZ production, at least one Z -> q qbar",
    ),
    "qcd": Process(
        name="qcd",
        settings=("HardQCD:all = on",),
        label=0,
        description="hard QCD 2 -> 2 (multijet background)",
    ),
}

_FIELDS = {"label", "settings", "signal_bosons", "require_hadronic", "description"}


def load_processes(card: str | Path | None = None) -> dict[str, Process]:
    """The built-in processes, plus (or overridden by) those of a YAML card."""
    processes = dict(BUILTIN)
    if card is None:
        return processes
    try:
        data = yaml.safe_load(read_text(card, "process card"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"process card {card}: cannot read it: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"process card {card}: expected a mapping of process names")
    for name, entry in data.items():
        where = f"process card {card}: process {name!r}"
        try:
            plain_name(name, "the process name")  # it names the generated files
        except UnsafePathError as err:
            raise ValueError(f"process card {card}: {err}") from None
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping")
        unknown = set(entry) - _FIELDS
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
        settings = entry.get("settings")
        if not (isinstance(settings, list) and settings and all(isinstance(s, str) and "=" in s for s in settings)):
            raise ValueError(f"{where}: 'settings' must be a non-empty list of 'Key = value' strings")
        label = entry.get("label")
        if label not in (0, 1):
            raise ValueError(f"{where}: 'label' must be 0 or 1, got {label!r}")
        bosons = entry.get("signal_bosons", [])
        if not (isinstance(bosons, list) and all(isinstance(b, int) for b in bosons)):
            raise ValueError(f"{where}: 'signal_bosons' must be a list of PDG ids")
        require = entry.get("require_hadronic", False)
        if not isinstance(require, bool) or (require and not bosons):
            raise ValueError(f"{where}: 'require_hadronic' must be true/false and needs signal_bosons")
        processes[name] = Process(
            name=str(name),
            settings=tuple(settings),
            label=label,
            signal_bosons=tuple(abs(b) for b in bosons),
            require_hadronic=require,
            description=str(entry.get("description", "")),
        )
    return processes
