"""The docs are valid reStructuredText: a warning (a short underline, a
broken reference) fails, as it would break the rendered page."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["README.rst", *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("docs/*.rst"))])
def test_renders_without_warnings(path):
    import docutils.core
    import docutils.utils
    import docutils.writers.null

    text = (ROOT / path).read_text()
    try:
        docutils.core.publish_string(text, source_path=str(ROOT / path), writer=docutils.writers.null.Writer(),
                                     settings_overrides={"report_level": 5, "halt_level": 2})
    except docutils.utils.SystemMessage as e:
        pytest.fail(f"{path}: {e}")
