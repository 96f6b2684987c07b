"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest
from twisted.internet import reactor

from txi2p.registry import SessionRegistry


@pytest.fixture(scope="session")
def registry(i2p_sessions):
    """The reactor's session registry, holding the ready probe sessions by name.

    Endpoints and shim sockets that name ``probe1``/``probe2`` with the test
    network's SAM address and session options reuse them (no 20 s wait).
    """
    registry = SessionRegistry.for_reactor(reactor)
    for session in i2p_sessions:
        if session.nickname not in {s.nickname for s in registry.sessions}:
            registry.adopt(session)
    return registry
