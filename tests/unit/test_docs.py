"""The documentation builds, and what it shows is true.

README.rst is checked with plain docutils, as PyPI renders it: a warning
(a short underline, a broken reference) fails.  The site in docs/ uses
Sphinx's roles and directives, so Sphinx checks it: the HTML build with
warnings as errors (every page in a toctree, every reference and
docstring valid), and the doctest builder, which runs the examples that
need no router.  A failure shows Sphinx's output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_readme_renders_without_warnings():
    import docutils.core
    import docutils.utils
    import docutils.writers.null

    path = ROOT / "README.rst"
    try:
        docutils.core.publish_string(path.read_text(), source_path=str(path), writer=docutils.writers.null.Writer(),
                                     settings_overrides={"report_level": 5, "halt_level": 2})
    except docutils.utils.SystemMessage as e:
        pytest.fail(f"README.rst: {e}")


def test_readme_links_into_the_docs_exist():
    links = re.findall(r"<(docs/[^>]+)>`_", (ROOT / "README.rst").read_text())
    assert links, "README.rst links into docs/"
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, f"README.rst links to files that do not exist: {missing}"


def sphinx(builder: str, out: Path) -> None:
    """Build the docs with *builder* into *out*; fail with Sphinx's output."""
    env = dict(os.environ)
    env.pop("TXI2P_DOCS_INTERSPHINX", None)  # no network: see docs/conf.py
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-b", builder,
         "-d", str(out / ".doctrees"), str(DOCS), str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(f"sphinx -b {builder} failed (exit status {result.returncode}):\n"
                    f"{result.stdout[-20000:]}\n{result.stderr[-20000:]}", pytrace=False)


def test_sphinx_html_builds_without_warnings(tmp_path):
    sphinx("html", tmp_path)
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "api" / "txi2p.session.html").is_file()


def test_sphinx_doctests_pass(tmp_path):
    sphinx("doctest", tmp_path)
    report = (tmp_path / "output.txt").read_text()
    tests = re.search(r"^\s+(\d+) tests$", report, re.M)
    assert tests and int(tests.group(1)) > 0, report
