"""The public API: every name ``xaugcol`` exports resolves, and ``import xaugcol`` stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import xaugcol


def test_every_exported_name_resolves_to_what_its_module_defines():
    for name in xaugcol.__all__:
        value = getattr(xaugcol, name)
        if name != "__version__":
            assert value.__module__.startswith("xaugcol"), name
            assert name in dir(xaugcol)
    assert {"run_processing", "run_relevance", "Study", "Ensemble", "LRP", "run_workflow", "XaugcolError"} <= set(
        xaugcol.__all__
    )


def test_import_xaugcol_loads_no_heavy_library():
    code = "import sys, xaugcol; print(sorted(m for m in ('torch', 'coffea', 'numpy', 'awkward', 'pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_names_are_attribute_errors():
    try:
        xaugcol.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("xaugcol.no_such_name resolved")


def test_the_package_says_it_is_typed():
    assert (Path(xaugcol.__file__).parent / "py.typed").is_file()
