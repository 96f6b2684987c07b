"""Every test, unit or integration, fails on a failed Deferred nobody
handled (Twisted logs it when it is garbage-collected, else it is silent)."""

from __future__ import annotations

import gc

import pytest
from twisted.logger import globalLogPublisher

pytest_plugins = ["txi2p.testing.pytest_plugin"]


def _unhandled(event: dict) -> bool:
    return bool(event.get("isError")) and "Unhandled error in Deferred" in str(event.get("log_format", ""))


@pytest.fixture(autouse=True)
def no_unhandled_deferred_errors():
    """Collect garbage after each test; fail it if a failed Deferred was dropped."""
    caught: list[dict] = []

    def observe(event: dict) -> None:
        if _unhandled(event):
            caught.append(event)

    globalLogPublisher.addObserver(observe)
    try:
        yield
        gc.collect()
    finally:
        globalLogPublisher.removeObserver(observe)
    if caught:
        failure = caught[0].get("log_failure")
        detail = failure.getTraceback() if failure is not None else str(caught[0])
        pytest.fail(f"{len(caught)} failed Deferred(s) left unhandled during the test:\n{detail}")
