"""Sphinx configuration of xaugcol's documentation (build: sphinx-build -W --keep-going -b html docs docs/_build/html).

The pages are Markdown (myst-parser); the command-line and configuration-file references are generated from the
code by the local extension ``docs/_ext/xaugcol_reference.py``; the Python API comes from the docstrings (autodoc,
napoleon for NumPy-style sections).
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "xaugcol"
author = "the xaugcol authors"
copyright = "the xaugcol authors"

try:
    import xaugcol

    release = version = xaugcol.__version__
except ImportError:  # the API pages then fail loudly in autodoc
    release = version = "unknown"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "xaugcol_reference",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
templates_path = []

# Markdown: headings become anchors (links such as lrp.md#rules work here and on GitHub), tables, definition lists
myst_heading_anchors = 6
myst_enable_extensions = ["deflist", "colon_fence"]

# the API reference: signatures and docstrings, in source order; importing xaugcol must not start anything
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"  # no list that only repeats the signature
autodoc_preserve_defaults = True  # defaults as written (ProcessingConfig()), not their long reprs
autodoc_default_options = {
    "show-inheritance": True,
    "exclude-members": "model_config, model_fields, model_computed_fields",
}
napoleon_numpy_docstring = True
napoleon_google_docstring = False

html_theme = "furo"
html_title = f"xaugcol {release}"
html_static_path = ["_static"]
html_show_sourcelink = False
smartquotes = False  # "--option" in prose and help texts stays two hyphens, quotes stay straight
