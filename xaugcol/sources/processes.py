"""Pythia 8 processes as configuration: a name, Pythia settings, a label and the bosons that make signal jets.

Built-in: ``zz`` (SM ZZ, at least one Z to quarks), ``hbb`` (H + jet, H -> b bbar) and ``qcd`` (hard QCD 2->2,
heavy flavour included), and the lepton processes of the two lepton studies (below). More processes (e.g. ZH with
H->bb) are added with a YAML card, validated field by field (``xaugcol.sources.process_card``)::

    hbb:
      label: 1
      settings: ["HiggsSM:ffbar2HZ = on", "25:onMode = off", "25:onIfAny = 5"]
      signal_bosons: [25]
      require_hadronic: true
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict


@dataclass(frozen=True)
class Process:
    """A Pythia 8 process (module docstring).

    Its name, settings and class label, how its signal is found (the bosons whose hadronic decays make the signal
    jets; for a lepton process the candidates' flavour and origin), and the detector it is seen with. Every field
    but the first three has a default.

    Parameters
    ----------
    name : str
        The process's name (it names the generated files).
    settings : tuple of str
        Pythia settings, ``"Key = value"`` strings.
    label : int
        The class label: 1 signal, 0 background.
    signal_bosons : tuple of int, default ()
        PDG ids whose hadronic decays are the signal jets (matched to jets and stored).
    require_hadronic : bool, default False
        Keep only events where one of ``signal_bosons`` decays to quarks.
    description : str, default ""
        A one-line description.
    lepton : int, default 0
        A lepton process (``xaugcol.sources.pythia_leptons``): the candidates' flavour, 11 or 13; 0: a jet process.
    lepton_origin : str, default ""
        A lepton process's candidates' origin: ``"prompt"`` (from a W or Z), ``"hadron"`` (from a hadron decay) or
        ``"any"`` (every charged particle: the fakes).
    pthat_min : float or None, default None
        The process's own ``PhaseSpace:pTHatMin`` (GeV) when a run does not set one; None: the jets' 200 GeV
        (``JET_PTHAT_MIN``).
    lepton_pt : tuple of float, default (20.0, 100.0)
        A lepton process's candidate pT window (min, max), GeV.
    pileup : float, default 0.0
        Overlaid minimum-bias interactions per event on average (``xaugcol.sources.pileup``; 0: none).
    solenoid_tesla : float, default 0.0
        The solenoid field in tesla (``xaugcol.sources.solenoid``; 0: straight lines).
    flat_pileup : float, default 0.0
        The calorimeter's flat pile-up, GeV of E_T per unit eta-phi area (``CalorimeterModel.pileup_density``, the
        first lepton samples').
    hadron_showers : str, default "uniform"
        The calorimeter's hadron model (``CalorimeterModel.hadron_showers``): ``"uniform"`` or ``"parametrised"``.
    leading_candidate : bool, default False
        Keep only each event's hardest passing candidate.
    forced_b_decays : int, default 0
        The lepton (11 or 13) that b hadrons are forced to decay to (a faster, biased non-prompt sample); 0:
        Pythia's branching ratios.
    forced_c_decays : int, default 0
        The same for c hadrons.
    """

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
    # the process's own PhaseSpace:pTHatMin (GeV) when a run does not set one; None: the jets' 200 GeV
    pthat_min: float | None = None
    # a lepton process's candidate p_T window (GeV)
    lepton_pt: tuple[float, float] = (20.0, 100.0)
    # the detector it is seen with: overlaid minimum-bias interactions per event (``xaugcol.sources.pileup``; 0:
    # none), the solenoid field in tesla (``xaugcol.sources.solenoid``; 0: straight lines), and the calorimeter's
    # flat pile-up in GeV of E_T per unit eta-phi area (``CalorimeterModel.pileup_density``, the first lepton samples')
    pileup: float = 0.0
    solenoid_tesla: float = 0.0
    flat_pileup: float = 0.0
    hadron_showers: str = "uniform"  # the calorimeter's hadron model (``CalorimeterModel.hadron_showers``)
    leading_candidate: bool = False  # keep only each event's hardest passing candidate
    # b (c) hadrons forced to decay to this lepton (a faster, biased non-prompt sample; 0: Pythia's branching
    # ratios)
    forced_b_decays: int = 0
    forced_c_decays: int = 0

    def all_settings(self) -> tuple[str, ...]:
        """The Pythia settings, the forced b- and c-hadron decays included.

        Returns
        -------
        tuple of str
            ``settings``, then ``onMode = off`` and ``onIfAny = <lepton>`` for each weakly decaying b hadron
            (``B_HADRONS``) and c hadron (``C_HADRONS``) whose decays are forced.
        """
        return (
            *self.settings,
            *_forced_decays(B_HADRONS, self.forced_b_decays),
            *_forced_decays(C_HADRONS, self.forced_c_decays),
        )

    def default_pthat_min(self) -> float:
        """The process's own PhaseSpace:pTHatMin (GeV), else the jets' default (``JET_PTHAT_MIN``).

        Returns
        -------
        float
            ``pthat_min``, or ``JET_PTHAT_MIN`` (200 GeV) where it is None.
        """
        return JET_PTHAT_MIN if self.pthat_min is None else self.pthat_min


JET_PTHAT_MIN = 200.0
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
        # and the quark-initiated channels): pT-hat ~ the Higgs pT, so pthat_min 300 gives the IN paper's (Moreno et
        # al., arXiv:1909.12285) boosted H -> b bbar jets; the Higgs decays to b quarks only
        settings=(
            "HiggsSM:gg2Hg(l:t) = on",
            "HiggsSM:qg2Hq(l:t) = on",
            "HiggsSM:qqbar2Hg(l:t) = on",
            "25:m0 = 125.0",
            "25:onMode = off",
            "25:onIfMatch = 5 -5",
        ),
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

# b and c hadrons that decay weakly: the enriched cards force their decays to channels with a muon (or an electron)
B_HADRONS = (511, 521, 531, 541, 5122, 5132, 5232, 5332)
C_HADRONS = (411, 421, 431, 4122, 4132, 4232, 4332)


def _single_bosons(lepton: int) -> tuple[str, ...]:
    """W and Z production (the Drell-Yan tail below 60 GeV left out), the bosons decaying to ``lepton`` only."""
    return (
        "WeakSingleBoson:ffbar2W = on",
        "WeakSingleBoson:ffbar2gmZ = on",
        "PhaseSpace:mHatMin = 60",
        "24:onMode = off",
        f"24:onIfAny = {lepton}",
        "23:onMode = off",
        f"23:onIfAny = {lepton}",
    )


def _forced_decays(hadrons: tuple[int, ...], lepton: int) -> tuple[str, ...]:
    if not lepton:
        return ()
    return tuple(s for h in hadrons for s in (f"{h}:onMode = off", f"{h}:onIfAny = {lepton}"))


def sets_decays(settings: Iterable[str], hadrons: tuple[int, ...]) -> list[str]:
    """The settings that change one of ``hadrons``' decays (``511:onMode = off``, ``521:oneChannel ...``).

    The particle is read as Pythia reads it (``0511:``, ``+511:`` and ``-511:`` all name the B0).

    Parameters
    ----------
    settings : iterable of str
        Pythia settings, ``"Key = value"`` strings.
    hadrons : tuple of int
        PDG ids (positive) of the hadrons, e.g. ``B_HADRONS``.

    Returns
    -------
    list of str
        The settings (as given, in order) whose key names one of ``hadrons``, whatever the property.
    """

    def particle(setting: str) -> int | None:
        try:
            return abs(int(setting.split(":", 1)[0].strip()))
        except ValueError:
            return None

    return [s for s in settings if ":" in s and particle(s) in hadrons]


class DetectorFields(TypedDict, total=False):
    """The detector fields of a ``Process`` (a subset), spread into several built-in processes."""

    pileup: float
    solenoid_tesla: float
    flat_pileup: float
    hadron_showers: str


# the muon paper's setup (Collado et al., "Learning to Isolate Muons", arXiv:2102.02278): prompt muons from a
# 20 GeV Z -> mu mu, non-prompt muons from b bbar, Delphes with mu = 50 pile-up; muons of 10-20 GeV (README)
PAPER_MUON_PT = (10.0, 20.0)
# the detector both lepton studies use by default: mu = 50 overlaid interactions, the 3.8 T field, hadron showers
CMS_LIKE_DETECTOR: DetectorFields = {"pileup": 50.0, "solenoid_tesla": 3.8, "hadron_showers": "parametrised"}
# the first lepton samples': flat pile-up, no field, no overlay
FIRST_LEPTON_DETECTOR: DetectorFields = {"flat_pileup": 25.0}

BUILTIN.update(
    {
        "prompt_mu": Process(
            name="prompt_mu",
            # gamma*/Z of 19-21 GeV (Pythia's full gamma*/Z interference) decaying to muons only
            settings=(
                "WeakSingleBoson:ffbar2gmZ = on",
                "PhaseSpace:mHatMin = 19",
                "PhaseSpace:mHatMax = 21",
                "23:onMode = off",
                "23:onIfAny = 13",
            ),
            label=1,
            lepton=13,
            lepton_origin="prompt",
            lepton_pt=PAPER_MUON_PT,
            **CMS_LIKE_DETECTOR,
            description="gamma*/Z (19-21 GeV) -> mu mu, muons of 10-20 GeV: prompt muons (the muon paper's setup)",
        ),
        "nonprompt_mu": Process(
            name="nonprompt_mu",
            # b bbar at low pT-hat, b hadrons decaying at Pythia's branching ratios (muons from b, from b -> c and
            # from c); pT-hat above 10 GeV loses no muon of 10-20 GeV that passes (README: measured)
            settings=("HardQCD:hardbbbar = on",),
            pthat_min=10.0,
            label=0,
            lepton=13,
            lepton_origin="hadron",
            lepton_pt=PAPER_MUON_PT,
            **CMS_LIKE_DETECTOR,
            description="b bbar, muons of 10-20 GeV from hadron decays: non-prompt muons (the muon paper's setup)",
        ),
        "prompt_mu_wz": Process(
            name="prompt_mu_wz",
            settings=_single_bosons(13),
            label=1,
            lepton=13,
            lepton_origin="prompt",
            **FIRST_LEPTON_DETECTOR,
            description="W -> mu nu and Z -> mu mu, muons of 20-100 GeV: the first muon sample's prompt muons",
        ),
        "nonprompt_mu_forced": Process(
            name="nonprompt_mu_forced",
            # b bbar production with every b hadron decaying to a muon (a muon-enriched sample: the muons sit inside
            # their b jets as in nature, at a rate high enough to generate quickly)
            settings=("HardQCD:hardbbbar = on",),
            forced_b_decays=13,
            pthat_min=30.0,
            label=0,
            lepton=13,
            lepton_origin="hadron",
            **FIRST_LEPTON_DETECTOR,
            description="b bbar, b hadrons forced to decay to a muon, muons of 20-100 GeV: the first muon sample's "
            "non-prompt muons",
        ),
        "prompt_e": Process(
            name="prompt_e",
            settings=_single_bosons(11),
            label=1,
            lepton=11,
            lepton_origin="prompt",
            **CMS_LIKE_DETECTOR,
            description="W -> e nu and Z -> e e: prompt electrons of 20-100 GeV",
        ),
        "qcd_e": Process(
            # the electron paper's background (Collado et al., arXiv:2011.01984: the leading electron of pp -> jj),
            # enriched to generate about 100x faster (README, "The electron background": heavy-flavour pair creation
            # only, every b hadron decaying to an electron; pT-hat from 25 GeV keeps 96 % of the electrons; each
            # choice's bias measured)
            name="qcd_e",
            settings=("HardQCD:hardbbbar = on", "HardQCD:hardccbar = on"),
            pthat_min=25.0,
            forced_b_decays=11,
            leading_candidate=True,
            label=0,
            lepton=11,
            lepton_origin="hadron",
            **CMS_LIKE_DETECTOR,
            description="b bbar and c cbar, b hadrons forced to decay to an electron: the leading real electron of "
            "20-100 GeV passing the loose preselection (heavy-flavour-enriched dijets)",
        ),
        "qcd_e_dijets": Process(
            # the same background without enrichment: every QCD 2 -> 2, Pythia's decays (0.05 kept events per second
            # per core: 2 in 10 000 events hold an electron that passes)
            name="qcd_e_dijets",
            settings=("HardQCD:all = on",),
            pthat_min=25.0,
            leading_candidate=True,
            label=0,
            lepton=11,
            lepton_origin="hadron",
            **CMS_LIKE_DETECTOR,
            description="hard QCD 2 -> 2, natural decays: the leading real electron of 20-100 GeV passing the loose "
            "preselection (unbiased, slow)",
        ),
        "prompt_e_first": Process(
            name="prompt_e_first",
            settings=_single_bosons(11),
            label=1,
            lepton=11,
            lepton_origin="prompt",
            **FIRST_LEPTON_DETECTOR,
            description="W -> e nu and Z -> e e: the first electron sample's prompt electrons",
        ),
        "qcd_e_fakes": Process(
            # pT-hat from 40 GeV: a charged particle of 20 GeV or more is rare below
            name="qcd_e_fakes",
            settings=("HardQCD:all = on",),
            pthat_min=40.0,
            label=0,
            lepton=11,
            lepton_origin="any",
            **FIRST_LEPTON_DETECTOR,
            description="hard QCD 2 -> 2: charged particles passing the loose electron preselection (the first "
            "electron sample's jet fakes)",
        ),
    }
)
