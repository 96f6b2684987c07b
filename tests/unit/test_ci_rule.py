"""The rule that an integration test skipped under CI=true fails the run."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SKIPPING = """
import pytest

@pytest.mark.integration
def test_needs_routers():
    pytest.skip("no i2pd here")

def test_unit():
    pytest.skip("a unit test may skip")
"""


@pytest.mark.parametrize(("ci", "failed", "skipped"), [("true", 1, 1), ("", 0, 2)])
def test_integration_skip_fails_only_under_ci(pytester, monkeypatch, ci, failed, skipped):
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(test_skipping=SKIPPING)
    result = pytester.runpytest_subprocess("-p", "txi2p.testing.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=failed, skipped=skipped)
    if failed:
        result.stdout.fnmatch_lines(["*skipped under CI=true, which is a failure: *no i2pd here*"])
