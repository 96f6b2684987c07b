"""Sphinx configuration of txi2p's documentation.

Build: ``.venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html``
(``-b doctest`` runs the examples that need no router; the unit test
``tests/unit/test_docs.py`` runs both).

Links to Python's and Twisted's documentation (intersphinx) need their
inventories from the network, so they are made only when
``TXI2P_DOCS_INTERSPHINX=1`` is set: a build without network (CI) then
shows those names as plain code instead of failing or warning.
"""

from __future__ import annotations

import doctest
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import txi2p  # noqa: E402

project = "txi2p"
author = "the txi2p authors"
copyright = "the txi2p authors; ISC licence"
release = txi2p.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
]

root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"txi2p {release}"

# The API reference (docs/api/): each module's __all__, in source order;
# type hints in the description, not the signature.
autodoc_member_order = "bysource"
autodoc_typehints = "description"

# Offline by default (see the module docstring).
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
if os.environ.get("TXI2P_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "twisted": ("https://docs.twisted.org/en/stable/api", None),
    }

# Doctests (``-b doctest``) run in the source tree's txi2p, with no
# reactor running; exception messages are compared too.
doctest_global_setup = """
import txi2p
"""
doctest_default_flags = doctest.ELLIPSIS | doctest.DONT_ACCEPT_TRUE_FOR_1
