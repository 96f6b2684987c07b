"""``fake_sam`` starts in-process SAM bridges playing a router's dialect
(the rule on unhandled failed Deferreds is in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest


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
