"""Unit tests fail on a failed Deferred nobody handled (logged, else silent);
``fake_sam`` starts in-process SAM bridges playing a router's dialect."""

from __future__ import annotations

import gc

import pytest
from twisted.logger import globalLogPublisher


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


@pytest.fixture
def fake_sam():
    """``fake_sam(profile)`` -> ``(FakeSAMBridge, "127.0.0.1:<port>")``, stopped after the test."""
    from twisted.internet import reactor

    from txi2p.testing.fake_bridge import FakeSAMBridge

    ports = []

    def start(profile):
        fake = FakeSAMBridge(profile)
        port = reactor.listenTCP(0, fake, interface="127.0.0.1")
        ports.append(port)
        return fake, f"127.0.0.1:{port.getHost().port}"

    yield start
    for port in ports:
        port.stopListening()
