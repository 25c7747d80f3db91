"""Pythia 8 processes as configuration: a name, Pythia settings, a label and the bosons that make signal jets.

Built-in: ``zz`` (SM ZZ, at least one Z to quarks), ``hbb`` (H + jet, H -> b bbar) and ``qcd`` (hard QCD 2->2,
heavy flavour included). More processes (e.g. ZH with H->bb) are added with a YAML card, validated field by field
(``ProcessEntry``)::

    hbb:
      label: 1
      settings: ["HiggsSM:ffbar2HZ = on", "25:onMode = off", "25:onIfAny = 5"]
      signal_bosons: [25]
      require_hadronic: true
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import model_validator

from xaugcol.config_models import Bool, ConfigModel, read_yaml, validated
from xaugcol.paths import UnsafePathError, plain_name
from xaugcol.quoting import quoted
from xaugcol.sources.pythia_config import rejected_settings


@dataclass(frozen=True)
class Process:
    name: str
    settings: tuple[str, ...]
    label: int
    signal_bosons: tuple[int, ...] = ()  # PDG ids whose hadronic decays are the signal jets (matched, stored)
    require_hadronic: bool = False  # keep only events where one of signal_bosons decays to quarks
    description: str = ""
    # a lepton process (``xaugcol.sources.pythia_leptons``): the candidates' flavour (11, 13; 0: a jet process)
    # and origin (prompt: from a W / Z; hadron: from a hadron decay; any: every charged particle, the fakes)
    lepton: int = 0
    lepton_origin: str = ""


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
    "hbb": Process(
        name="hbb",
        # a Higgs boson recoiling against a jet (gluon fusion through the top loop, with its full mass dependence,
        # and the quark-initiated channels): pT-hat ~ the Higgs pT, so pthat_min 300 gives the seed's boosted
        # H -> b bbar jets; the Higgs decays to b quarks only
        settings=("HiggsSM:gg2Hg(l:t) = on", "HiggsSM:qg2Hq(l:t) = on", "HiggsSM:qqbar2Hg(l:t) = on",
                  "25:m0 = 125.0", "25:onMode = off", "25:onIfMatch = 5 -5"),
        label=1,
        signal_bosons=(25,),
        require_hadronic=True,
        description="H + jet (gluon fusion, top loop), H -> b bbar",
    ),
    "qcd": Process(
        name="qcd",
        settings=("HardQCD:all = on",),
        label=0,
        # every 2 -> 2 channel, including g g -> b bbar / c cbar, and the shower's gluon splitting to heavy quarks:
        # heavy-flavour QCD jets (FatJet_hadronFlavour 4 and 5) are the hard background of the H -> b bbar study
        description="hard QCD 2 -> 2 (multijet background, heavy flavour included)",
    ),
}

# b hadrons that decay weakly: the B-enriched card forces their decays to channels with a muon (or an electron)
B_HADRONS = (511, 521, 531, 541, 5122, 5132, 5232, 5332)


def _single_bosons(lepton: int) -> tuple[str, ...]:
    """W and Z production (the Drell-Yan tail below 60 GeV left out), the bosons decaying to ``lepton`` only."""
    return ("WeakSingleBoson:ffbar2W = on", "WeakSingleBoson:ffbar2gmZ = on", "PhaseSpace:mHatMin = 60",
            "24:onMode = off", f"24:onIfAny = {lepton}", "23:onMode = off", f"23:onIfAny = {lepton}")


def _forced_b_decays(lepton: int) -> tuple[str, ...]:
    return tuple(s for b in B_HADRONS for s in (f"{b}:onMode = off", f"{b}:onIfAny = {lepton}"))


BUILTIN.update({
    "prompt_mu": Process(
        name="prompt_mu", settings=_single_bosons(13), label=1, lepton=13, lepton_origin="prompt",
        description="W -> mu nu and Z -> mu mu: prompt muons"),
    "nonprompt_mu": Process(
        name="nonprompt_mu",
        # b bbar production with every b hadron decaying semileptonically to a muon (a muon-enriched sample: the
        # muons sit inside their b jets as in nature, at a rate high enough to generate quickly)
        settings=("HardQCD:hardbbbar = on", *_forced_b_decays(13)), label=0, lepton=13, lepton_origin="hadron",
        description="b bbar, b hadrons forced to decay to a muon: non-prompt muons"),
    "prompt_e": Process(
        name="prompt_e", settings=_single_bosons(11), label=1, lepton=11, lepton_origin="prompt",
        description="W -> e nu and Z -> e e: prompt electrons"),
    "qcd_e": Process(
        # pT-hat from 40 GeV whatever the study's minimum: a charged particle of 20 GeV or more is rare below
        name="qcd_e", settings=("HardQCD:all = on", "PhaseSpace:pTHatMin = 40"), label=0, lepton=11, lepton_origin="any",
        description="hard QCD 2 -> 2: charged particles passing the loose electron preselection (jet fakes)"),
})


class ProcessEntry(ConfigModel):
    """One process of a card, as written."""

    label: int
    settings: tuple[str, ...]
    signal_bosons: tuple[int, ...] = ()
    require_hadronic: Bool = False
    description: str = ""
    lepton: int = 0
    lepton_origin: str = ""

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
            raise ValueError(f"'lepton' must be 11 (electrons) or 13 (muons), or 0 for a jet process, got "
                             f"{quoted(lepton)}")
        if lepton and origin not in ("prompt", "hadron", "any"):
            raise ValueError(f"'lepton_origin' must be prompt, hadron or any for a lepton process, got "
                             f"{quoted(origin)}")
        if not lepton and origin:
            raise ValueError("'lepton_origin' needs 'lepton'")
        return {**data, "settings": tuple(settings), "signal_bosons": tuple(abs(b) for b in bosons)}

    @model_validator(mode="after")
    def _hadronic_needs_bosons(self):
        if self.require_hadronic and not self.signal_bosons:
            raise ValueError("'require_hadronic' needs signal_bosons")
        return self


def load_processes(card: str | Path | None = None) -> dict[str, Process]:
    """The built-in processes, plus (or overridden by) those of a YAML card (validated, ``ProcessEntry``)."""
    processes = dict(BUILTIN)
    if card is None:
        return processes
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
            raise ValueError(f"process card {card}: process {quoted(name)}: Pythia rejects the setting "
                             f"{quoted(rejected[0])}")
        processes[name] = Process(name=str(name), settings=e.settings, label=e.label, signal_bosons=e.signal_bosons,
                                  require_hadronic=e.require_hadronic, description=e.description,
                                  lepton=e.lepton, lepton_origin=e.lepton_origin)
    return processes
