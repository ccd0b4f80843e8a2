"""Sphinx configuration of the sb3-cosyne docs (MyST markdown pages, furo theme, autodoc for the API).

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (warnings are errors).
"""

import sb3_cosyne

project = "sb3-cosyne"
author = "sb3-cosyne developers"
copyright = "2026, sb3-cosyne developers"
version = release = sb3_cosyne.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# docs/results holds the JSON that benchmarks/render.py turns into tables; docs/images the plots and the GIF.
exclude_patterns = ["_build", "results", "Thumbs.db", ".DS_Store"]

# MyST: ``:::`` fences for directives, ``{eval-rst}`` for autodoc, anchors for headings down to ###
# (so that pages can link to ``page.md#a-heading``).
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# Autodoc: the package's docstrings are in SB3's Sphinx style (``:param x:``, ``:class:`` roles).
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
python_use_unqualified_type_names = True

html_theme = "furo"
html_title = f"sb3-cosyne {release}"
