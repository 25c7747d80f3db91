"""Upper limits on sizes, checked when a configuration, an option or an input file is read, before any work starts.

Each one is named here with its number and what it protects, and where it is checked (named below). A setting above
its limit is refused with a message naming the setting, its value (``quoting.quoted``: at most 100 characters) and
the limit.

* ``MAX_EFP_COLUMNS`` = 2 000 columns per EFP set, ordinary or lepton-anchored (``features.efp.columns.EFPConfig``,
  ``processing.lepton_table.AnchoredEFPConfig``): the shipped sets have 1 215, at about 35 jets/s per core.
  ``max_columns: N`` in the set's section lifts it.
* ``MAX_IMAGE_PIXELS`` = 256 pixels per side of a jet image or a lepton's calorimeter window
  (``features.images.ImageConfig``, ``processing.lepton_table.LeptonConfig``): 256 kB per jet in float32; a jet
  image pixel then spans 0.02 prong distances, finer than a CMS ECAL crystal.
* ``MAX_LIST_LENGTH`` = 2 000 slots of a particle, track or cell list (``processing.jet_table.ProcessingConfig``,
  ``LeptonConfig``), twice the constituent cap below (136 kB per jet for the particles); ``MAX_VERTICES`` = 100
  secondary vertices per jet (CMS jets have a handful).
* ``MAX_CHUNK_BYTES`` = 4 GiB of jet table per chunk, estimated as the chunk size times the bytes of one table row
  (``ProcessingConfig.check_chunk``): lower the chunk size for large images or lists.
* ``MAX_CONSTITUENTS`` = 1 000, the default of ``ProcessingConfig.max_constituents``: a jet with more linked
  candidates is skipped and counted (``skipped_too_many_constituents``), since its substructure costs O(N^3) (N2 /
  D2): 1.3 s at 1 000 constituents, 14 s at 2 000, 191 s at 5 000 (one core).
* ``MAX_LAYER_WIDTH`` = 4 096 units or channels per layer, ``MAX_LAYERS`` = 32 layers per list (or depth), and
  ``MAX_PARAMETERS`` = 50 million trainable parameters per tagger (``models.registry.ModelConfig``).
* ``MAX_INPUT_BYTES`` = 256 MiB per JSON or text file a command reads (``paths.read_text``, ``paths.read_json``:
  filesets, reports, metrics, stage records, checkpoint manifests; YAML files have their own 1 MiB,
  ``config_models.MAX_YAML_BYTES``), checked with ``stat`` before reading: a sparse 4 GB fileset took 38.7 s and
  8.8 GB before its error. The largest the toolkit writes is a processing ``report.json``, about 110 bytes per jet
  table: 54 MiB for 500 000 tables and 100 000 skipped chunks (a run over some 50 000 NanoAOD files), parsed in
  0.4 s.
* ``MAX_FAITHFULNESS_STEPS`` = 200 removal steps of the input-perturbation curves (``xaugcol explain
  --faithfulness-steps``, a study's ``explain.faithfulness_steps``; ``workflow.config.Explain``): twenty times the
  default of 10, a step then removes 0.5 % of a jet's units, less than one for nearly every jet (a toy jet has 20
  particles, an AK8 jet some 50 to 100 constituents). The curves' histograms grow with steps x methods x members:
  on 132 toy jets, one member and two methods, 10 steps took 4.4 s and 0.56 GB, 200 steps 4.8 s and 0.67 GB,
  1 000 steps 9.2 s and 1.1 GB, 20 000 steps 78 s and 10.8 GB.
* ``MAX_EXAMPLES`` = 20 example jets per class drawn with their relevance (``xaugcol report --examples``, a
  study's ``explain.examples``; ``report.figures.ReportInputs``, ``Explain``): one panel column of at least 6
  inches per jet, so 20 per class make a PNG 21 860 pixels wide (6.8 s for the whole toy report); 1e9 drew one
  621 917 pixels wide in 55 s and 2.6 GB.
* ``MAX_TOY_PARTICLES_PER_SUBJET`` = 2 500 (``sources.toy.ToyConfig``): jets of up to 5 000 constituents, five
  times ``MAX_CONSTITUENTS`` (the tests of that cap need such jets); a toy chunk holds at most
  ``sources.toy.CHUNK_PARTICLES`` = 2 million particles, so memory stays flat (0.7 GB) whatever the size (1e8
  particles per subjet was OOM-killed at 24 GB).
* ``MAX_TOY_JETS`` = 100 million toy jets per class (``xaugcol generate toy --jets``, ``demo --jets``, a study's
  ``source.events`` with kind toy, ``sources.toy.run_toy``): about 500 bytes and 40 microseconds a jet, so some
  50 GB and over an hour per class file (the shipped studies use a few thousand). The chunks are generated one
  after another, never listed (``--jets 1e14`` listed 1e9 chunk sizes, 5 GB, before its first jet).
* ``MAX_PYTHIA_EVENTS`` = 100 million events per Pythia process (``xaugcol generate pythia --events``, a study's
  ``source.events`` with kind pythia): at some 100 events/s per core, a month of one core.
* ``MAX_SEEDS`` = 100 members of an ensemble (``xaugcol train --seeds``, ``demo --seeds``, a study's ``seeds``,
  ``training.train.train_ensemble``): the studies use 3-5; each member is a full training. A seed itself is at
  most 2**32 - 1 (numpy's and torch's seeds).
* ``MAX_MU`` = 400 overlaid pile-up interactions per event on average (``xaugcol generate pythia --pileup``, a
  study's ``source.pileup``, a process card's ``pileup``): the HL-LHC's 200, twice; and ``MAX_POOL`` = 200 000
  minimum-bias interactions in a pile-up pool (about 20 MB per 10 000).
* ``MAX_SANITY_JETS`` = 10 000 jets per class of the model-randomisation check (``xaugcol explain --sanity-jets``,
  ``explain.sanity_jets``, ``explain.options.ExplainOptions``): off by default, 50 a usual choice; the check holds
  them in memory.
* ``MAX_WORKERS`` = 256 local processes (``--workers`` of every command; a study's ``source``, ``processing``,
  ``explain`` and ``dask`` sections): each is a Python process of 0.3 to 1 GB, so more would exhaust any single
  machine (before: ``--workers 10000`` started as many). A cluster is scaled by its own scheduler instead.
"""

from __future__ import annotations

from typing import TypeGuard

from xaugcol.quoting import quoted

MAX_EFP_COLUMNS = 2_000
MAX_IMAGE_PIXELS = 256
MAX_LIST_LENGTH = 2_000
MAX_VERTICES = 100
MAX_CHUNK_BYTES = 4 * 2**30
MAX_CONSTITUENTS = 1_000
MAX_LAYER_WIDTH = 4_096
MAX_LAYERS = 32
MAX_PARAMETERS = 50_000_000
MAX_INPUT_BYTES = 256 * 2**20
MAX_FAITHFULNESS_STEPS = 200
MAX_EXAMPLES = 20
MAX_TOY_PARTICLES_PER_SUBJET = 2_500
MAX_TOY_JETS = 100_000_000
MAX_PYTHIA_EVENTS = 100_000_000
MAX_MU = 400
MAX_SEEDS = 100
MAX_SEED_VALUE = 2**32 - 1
MAX_POOL = 200_000
MAX_SANITY_JETS = 10_000
MAX_WORKERS = 256


def number(n: int) -> str:
    """Write ``n`` as the documentation writes limits: 12345 -> "12 345".

    Parameters
    ----------
    n : int
        The number.

    Returns
    -------
    str
        ``n`` with its thousands separated by spaces.
    """
    return f"{n:,}".replace(",", " ")


def is_integer(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an int, not a bool (YAML's true is no size) and not a float such as 64.0.

    Parameters
    ----------
    value : object
        A value read from a configuration or an option.

    Returns
    -------
    bool
        True for an ``int`` that is not a ``bool`` (a ``TypeGuard``: type checkers then take ``value`` as ``int``).
    """
    return isinstance(value, int) and not isinstance(value, bool)


def check_size(value: object, name: str, maximum: int, minimum: int = 1) -> int:
    """``value`` if it is an integer ``minimum..maximum``; a ValueError naming ``name`` otherwise.

    Parameters
    ----------
    value : object
        The size to check (a bool or a float such as 64.0 is no integer: ``is_integer``).
    name : str
        The setting's name, as the message shows it (e.g. ``"--workers"``).
    maximum : int
        The largest value allowed (one of the ``MAX_*`` limits), inclusive.
    minimum : int, default 1
        The smallest value allowed, inclusive.

    Returns
    -------
    int
        ``value`` itself.

    Raises
    ------
    ValueError
        Where ``value`` is no integer or lies outside ``minimum..maximum``; the message quotes it (``quoted``).
    """
    if not (is_integer(value) and minimum <= value <= maximum):
        raise ValueError(f"{name} must be an integer {minimum}..{number(maximum)}, got {quoted(value)}")
    return value
