"""Which code computes the substructure (XAUG) variables.

* ``extension``: ``xaugcol.jets._fjcontrib``, C++ calling fastjet-contrib once per chunk (about 1.9x faster). It is
  built at install time against the FastJet libraries of the fastjet wheel in the build environment and is used
  only when the installed fastjet is that same wheel version (same ABI).
* ``fastjet``: fastjet's own Python API (``xaugcol.jets.fastjet_api``): the fallback when the extension could not
  be built (no compiler) or was built against another fastjet; the same numbers (tested).

``XAUGCOL_SUBSTRUCTURE=extension|fastjet`` forces one (``auto``, the default, prefers the extension); forcing the
extension where it cannot load is an error that says why. ``xaugcol --version`` prints the active backend.
"""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType

from xaugcol.errors import UsageError
from xaugcol.quoting import quoted

ENV = "XAUGCOL_SUBSTRUCTURE"
CHOICES = ("auto", "extension", "fastjet")


class BackendError(UsageError, RuntimeError):
    """The requested substructure backend cannot be used."""


@functools.cache
def load_extension() -> tuple[ModuleType, None] | tuple[None, str]:
    """(the extension module, None) when it loads and matches the installed fastjet, else (None, why not)."""
    import fastjet  # loads the FastJet libraries the extension links against

    try:
        # the compiled extension (no stubs): imported by name
        _fjcontrib = importlib.import_module("xaugcol.jets._fjcontrib")
    except ImportError as err:
        return None, f"the C++ extension is not built or does not load ({err})"
    built = getattr(_fjcontrib, "built_with_fastjet", None)
    if built != fastjet.__version__:
        return None, (
            f"the C++ extension was built against fastjet {built}, fastjet {fastjet.__version__} is "
            "installed (reinstall xaugcol to rebuild it)"
        )
    return _fjcontrib, None


def requested() -> str:
    """The backend ``XAUGCOL_SUBSTRUCTURE`` asks for (case and surrounding spaces ignored).

    Returns
    -------
    str
        ``auto`` (the default, also for an empty value), ``extension`` or ``fastjet``.

    Raises
    ------
    BackendError
        Any other value.
    """
    choice = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise BackendError(f"{ENV}={quoted(choice)}: expected one of {', '.join(CHOICES)}")
    return choice


def active() -> str:
    """The backend ``xaugcol.jets.substructure.compute`` uses now.

    Returns
    -------
    str
        ``extension`` when the extension loads and is not ruled out by ``XAUGCOL_SUBSTRUCTURE=fastjet``, else
        ``fastjet``.

    Raises
    ------
    BackendError
        ``XAUGCOL_SUBSTRUCTURE`` is invalid, or forces the extension where it cannot load.
    """
    choice = requested()
    if choice == "fastjet":
        return "fastjet"
    module, why_not = load_extension()
    if module is None and choice == "extension":
        raise BackendError(f"{ENV}=extension, but {why_not}")
    return "extension" if module is not None else "fastjet"


CITATION = "FastJet: M. Cacciari, G.P. Salam, G. Soyez, Eur. Phys. J. C72 (2012) 1896 [arXiv:1111.6097]"


def silence_banner() -> None:
    """FastJet prints its banner (authors, citation, licence) at the first clustering of every process, so once
    per worker of a run; xaugcol states the citation once instead (``CITATION``: ``--version``, the processing
    summary). Verbose runs (``-v``) keep the banner."""
    from xaugcol.console import VERBOSE, verbosity

    if verbosity() >= VERBOSE:
        return
    import fastjet

    cluster_sequence = getattr(getattr(fastjet, "_swig", None), "ClusterSequence", None)
    if cluster_sequence is not None and hasattr(cluster_sequence, "set_fastjet_banner_stream"):
        cluster_sequence.set_fastjet_banner_stream(None)  # the one static stream all FastJet users here share


def describe_backend() -> str:
    """The active substructure backend in words, for ``xaugcol --version`` and the processing report.

    Returns
    -------
    str
        The extension and the fastjet wheel it was built with, or the fastjet Python API and why it is used
        (forced, or why the extension does not load); ``unavailable: <why>`` when the requested backend cannot be
        used.
    """
    import fastjet

    try:
        backend = active()
    except BackendError as err:
        return f"unavailable: {err}"
    if backend == "extension":
        return (
            "C++ extension xaugcol.jets._fjcontrib "
            f"(FastJet and fastjet-contrib of the fastjet {fastjet.__version__} wheel)"
        )
    reason = f"{ENV}=fastjet" if requested() == "fastjet" else load_extension()[1]
    return f"fastjet {fastjet.__version__} Python API ({reason})"
