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


def run_with_plugin(pytester, monkeypatch, ci, **files):
    """Run pytest with the txi2p plugin on *files*, CI set to *ci*."""
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(**files)
    return pytester.runpytest_subprocess("-p", "txi2p.testing.pytest_plugin", "-p", "no:cacheprovider")


MODULE_SKIPPED = """
import pytest

pytest.importorskip("no_such_module_for_txi2p")

def test_never_collected():
    pass
"""


@pytest.mark.parametrize(("source", "ci", "outcomes", "message"), [
    (SKIPPING, "true", {"failed": 1, "skipped": 1},
     "*skipped under CI=true, which is a failure: *no i2pd here*"),
    (SKIPPING, "", {"failed": 0, "skipped": 2}, None),
    (MODULE_SKIPPED, "true", {"errors": 1, "skipped": 0},
     "*skipped whole under CI=true, which is a failure: *no_such_module_for_txi2p*"),
    (MODULE_SKIPPED, "", {"errors": 0, "skipped": 1}, None),
], ids=["test-ci", "test-local", "module-ci", "module-local"])
def test_integration_skips_fail_only_under_ci(pytester, monkeypatch, source, ci, outcomes, message):
    """A skipped integration test (or a module skipped whole) fails under CI=true, and only there."""
    result = run_with_plugin(pytester, monkeypatch, ci, test_skipping=source)
    result.assert_outcomes(**outcomes)
    if message:
        result.stdout.fnmatch_lines([message])


DROPPED_FAILURE = """
from twisted.internet import defer

def test_drops_a_failed_deferred():
    defer.fail(ValueError("nobody looked"))
"""


def test_a_dropped_failed_deferred_fails_the_unit_test(pytester):
    """tests/conftest.py (unit and integration tests): a failed Deferred left
    unhandled fails the test."""
    from pathlib import Path

    pytester.makeconftest((Path(__file__).parents[1] / "conftest.py").read_text())
    pytester.makepyfile(test_dropping=DROPPED_FAILURE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*1 failed Deferred(s) left unhandled during the test*", "*nobody looked*"])


HANGING = """
import pytest
import pytest_twisted
from twisted.internet import defer

@pytest.mark.integration
@pytest_twisted.ensureDeferred
async def test_waits_for_an_answer_that_never_comes():
    await defer.Deferred()

@pytest.mark.integration
@pytest_twisted.ensureDeferred
async def test_after_it():
    assert await defer.succeed(1) == 1
"""


def test_a_hung_integration_test_fails_alone_showing_where_it_waited(pytester, monkeypatch):
    """The plugin cancels an integration test still running after
    --i2p-test-timeout; the tests after it still run."""
    monkeypatch.setenv("CI", "")
    pytester.makepyfile(test_hanging=HANGING)
    result = pytester.runpytest_subprocess(
        "-p", "txi2p.testing.pytest_plugin", "-p", "no:cacheprovider", "--i2p-test-timeout=0.5",
        "--timeout=60", "-o", "timeout_method=thread")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([
        "*had not finished after 0.5 s (--i2p-test-timeout) and was cancelled where it waited*",
        "*test_waits_for_an_answer_that_never_comes*",
    ])


def test_load_tests_run_last_whatever_their_file_names(pytester):
    """The ``load`` marker, not a file name, puts the load tests last."""
    from pathlib import Path

    pytester.makeconftest((Path(__file__).parents[1] / "conftest.py").read_text())
    pytester.makepyfile(
        test_a_load="import pytest\n\n@pytest.mark.load\ndef test_heavy():\n    pass\n\ndef test_light():\n    pass\n",
        test_b_other="def test_other():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=3)
    order = [line.split("::")[1].split()[0] for line in result.outlines if "PASSED" in line and "::" in line]
    assert order == ["test_light", "test_other", "test_heavy"]
