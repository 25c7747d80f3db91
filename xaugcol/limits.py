"""Upper limits on sizes, checked when a configuration is read, before any work starts: each one named here with
its number and what it protects, and each checked in one place (named below). A setting above its limit is refused
with a message naming the setting, its value (``quoting.quoted``: at most 100 characters) and the limit.

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
"""

from __future__ import annotations

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


def number(n: int) -> str:
    """12345 -> "12 345": limits as the documentation writes them."""
    return f"{n:,}".replace(",", " ")


def is_integer(value) -> bool:
    """An int, not a bool (YAML's true is no size) and not a float such as 64.0."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_size(value, name: str, maximum: int, minimum: int = 1) -> int:
    """``value`` if it is an integer ``minimum..maximum``; a ValueError naming ``name`` otherwise."""
    if not (is_integer(value) and minimum <= value <= maximum):
        raise ValueError(f"{name} must be an integer {minimum}..{number(maximum)}, got {quoted(value)}")
    return value
