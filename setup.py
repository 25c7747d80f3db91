"""Builds xaugcol.jets._fjcontrib against the FastJet and fastjet-contrib libraries inside the fastjet wheel.

The extension is optional: without a C++ compiler, or without the fastjet wheel in the build environment, xaugcol
installs without it and computes the substructure variables with fastjet's Python API (xaugcol.jets.backend).
"""

import importlib.metadata
import importlib.util
from pathlib import Path

from setuptools import find_packages, setup

# processors/ and condor/ are top-level folders of the repository (they show the data flow), installed as subpackages
# of xaugcol: never as the generic import names "processors" and "condor"
PACKAGE_DIRS = {"xaugcol.processors": "processors", "xaugcol.condor": "condor"}


def fastjet_dir() -> Path | None:
    spec = importlib.util.find_spec("fastjet")  # located, not imported: importing pulls awkward & co
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def fastjet_layout(fj: Path) -> tuple[Path, Path] | None:
    """(headers, libraries) inside the fastjet wheel. Only the 3.5 wheels (include/, lib64/) ship every contrib the
    extension calls as a shared library; a 3.4 wheel's libfastjetcontribfragile lacks EnergyCorrelator and its
    static archives are not position independent, so there the fallback computes the variables."""
    headers, libraries = fj / "include", fj / "lib64"
    if (headers / "fastjet" / "contrib" / "SoftDrop.hh").exists() and \
            (libraries / "libfastjetcontribfragile.so").exists():
        return headers, libraries
    return None


def extensions() -> list:
    fj = fastjet_dir()
    layout = fastjet_layout(fj) if fj is not None else None
    try:
        from pybind11.setup_helpers import Pybind11Extension
    except ImportError:
        Pybind11Extension = None
    if layout is None or Pybind11Extension is None:
        print("xaugcol: no fastjet 3.5 headers and libraries or no pybind11 at build time: no C++ substructure "
              "extension (fastjet's Python API computes the substructure variables)")
        return []
    wheel = importlib.metadata.version("fastjet")
    return [
        Pybind11Extension(
            "xaugcol.jets._fjcontrib",
            ["xaugcol/jets/_fjcontrib.cpp"],
            include_dirs=[str(layout[0])],
            library_dirs=[str(layout[1])],
            # at run time the libraries are the ones `import fastjet` has loaded (same sonames): the extension is
            # used only when the installed fastjet is the wheel it was built against (xaugcol/jets/backend.py)
            libraries=["fastjetcontribfragile", "fastjettools", "fastjet"],
            define_macros=[("XAUGCOL_FASTJET_WHEEL", f'"{wheel}"')],
            cxx_std=17,
            extra_compile_args=["-O2"],
            optional=True,  # a failed compile (no compiler, other headers) warns and installs without it
        )
    ]


setup(
    packages=find_packages(include=["xaugcol", "xaugcol.*"]) + list(PACKAGE_DIRS),
    package_dir=PACKAGE_DIRS,
    package_data={"xaugcol": ["py.typed"], "xaugcol.condor": ["templates/*", "submit.yaml"]},
    ext_modules=extensions(),
)
