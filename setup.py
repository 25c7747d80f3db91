"""Builds xaugcol.jets._fjcontrib against the FastJet and fastjet-contrib libraries inside the fastjet wheel."""

import importlib.util
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension
from setuptools import find_packages, setup


def fastjet_dir() -> Path:
    spec = importlib.util.find_spec("fastjet")  # located, not imported: importing pulls awkward & co
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("building xaugcol needs the fastjet wheel (build requirement fastjet==3.5.2.0)")
    return Path(next(iter(spec.submodule_search_locations)))


FJ = fastjet_dir()
# processors/ and condor/ are top-level folders of the repository (they show the data flow), installed as subpackages
# of xaugcol: never as the generic import names "processors" and "condor"
PACKAGE_DIRS = {"xaugcol.processors": "processors", "xaugcol.condor": "condor"}

setup(
    packages=find_packages(include=["xaugcol", "xaugcol.*"]) + list(PACKAGE_DIRS),
    package_dir=PACKAGE_DIRS,
    package_data={"xaugcol.condor": ["templates/*", "submit.yaml"]},
    ext_modules=[
        Pybind11Extension(
            "xaugcol.jets._fjcontrib",
            ["xaugcol/jets/_fjcontrib.cpp"],
            include_dirs=[str(FJ / "include")],
            library_dirs=[str(FJ / "lib64")],
            # at run time the libraries are the ones `import fastjet` has loaded (same sonames); see jets/fjcontrib.py
            libraries=["fastjetcontribfragile", "fastjettools", "fastjet"],
            cxx_std=17,
            extra_compile_args=["-O2"],
        )
    ]
)
