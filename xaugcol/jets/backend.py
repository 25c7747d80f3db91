"""Which code computes the substructure (XAUG) variables: for ``xaugcol --version`` and the processing report."""

from __future__ import annotations


def describe_backend() -> str:
    """The active substructure backend, or why none loads."""
    try:
        import fastjet

        from xaugcol.jets import _fjcontrib  # noqa: F401 - loading it is the check
    except ImportError as err:
        return f"unavailable ({err}): reinstall xaugcol so its fastjet-contrib extension is built"
    return (f"C++ extension xaugcol.jets._fjcontrib (FastJet and fastjet-contrib of the fastjet {fastjet.__version__} "
            "wheel)")
