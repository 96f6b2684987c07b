"""A client that survives a dead home (txi2p.failover): one more try through a fresh session."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from twisted.internet.endpoints import clientFromString
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from txi2p import errors, failover
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.endpoints import I2PClientEndpoint

SITE = "site.i2p"


class _Registry:
    def __init__(self):
        self.released = []

    def release(self, session):
        self.released.append(session)


class _Session:
    """Connects, or fails with the errors the test queues."""

    def __init__(self, failures):
        self.failures = failures
        self.connects = 0

    async def connect(self, host, factory, **kwargs):
        self.connects += 1
        if self.failures:
            raise self.failures.pop(0)
        return "connected"


def _endpoint(monkeypatch, failures, **settings):
    registry = _Registry()
    keyfile = settings.pop("keyfile", None)
    endpoint = I2PClientEndpoint(Clock(), SITE, 80, bridge_config=BridgeConfig("127.0.0.1:7656"),
                                 session_config=SessionConfig.build(keyfile=keyfile), registry=registry, **settings)
    session = _Session(failures)

    async def acquire():
        return session
    monkeypatch.setattr(endpoint, "acquire_session", acquire)
    fresh = []

    def fresh_endpoint(of):
        made = SimpleNamespace(connects=0)

        async def connect(factory):
            made.connects += 1
            return "connected afresh"
        made.connect = connect
        fresh.append(made)
        return made
    monkeypatch.setattr(failover, "fresh_endpoint", fresh_endpoint)
    return endpoint, session, fresh


def _connect(endpoint):
    results = []
    endpoint.connect(Factory()).addBoth(results.append)
    return results[0]


@pytest.mark.parametrize("error", [errors.CantReachPeer("gone"), errors.CommandTimeout("STREAM CONNECT", 30)])
def test_a_destination_reached_before_is_tried_once_more_through_a_fresh_session(monkeypatch, error):
    endpoint, session, fresh = _endpoint(monkeypatch, [])
    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        assert _connect(endpoint) == "connected"
        session.failures.append(error)
        assert _connect(endpoint) == "connected afresh"
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert len(fresh) == 1 and fresh[0].connects == 1
    assert any("trying once more through a fresh session" in str(e.get("log_format")) for e in logged)


def test_no_fresh_try_for_a_destination_never_reached(monkeypatch):
    endpoint, _, fresh = _endpoint(monkeypatch, [errors.CantReachPeer("never")])
    failure = _connect(endpoint)
    assert failure.check(errors.CantReachPeer) and fresh == []


@pytest.mark.parametrize("settings", [{"recover": False}, {"keyfile": "client.key"}])
def test_no_fresh_try_when_turned_off_or_with_a_key_file(monkeypatch, settings):
    endpoint, session, fresh = _endpoint(monkeypatch, [], **settings)
    assert _connect(endpoint) == "connected"
    session.failures.append(errors.CantReachPeer("gone"))
    assert _connect(endpoint).check(errors.CantReachPeer) and fresh == []


def test_other_errors_are_not_retried(monkeypatch):
    endpoint, session, fresh = _endpoint(monkeypatch, [])
    assert _connect(endpoint) == "connected"
    session.failures.append(errors.InvalidKey("bad"))
    assert _connect(endpoint).check(errors.InvalidKey) and fresh == []


def test_the_fresh_endpoint_is_a_new_transient_session_on_the_same_bridge():
    endpoint = I2PClientEndpoint(Clock(), SITE, 80, from_port=5, bridge_config=BridgeConfig("127.0.0.1:7666"),
                                 session_config=SessionConfig.build(nickname="mine", options={"inbound.length": 1}))
    fresh = failover.fresh_endpoint(endpoint)
    assert (fresh.host, fresh.port, fresh.from_port) == (SITE, 80, 5)
    assert fresh.bridge_config == endpoint.bridge_config and fresh.recover is False
    spec = fresh.session_config
    assert spec.nickname.startswith("txi2p-recover-") and spec.auto_close and spec.keyfile is None
    assert spec.options == endpoint.session_config.options
    assert failover.fresh_endpoint(endpoint).session_config.nickname != spec.nickname


def test_recover_in_strings():
    assert clientFromString(Clock(), "i2p:site.i2p").recover is True
    assert clientFromString(Clock(), "i2p:site.i2p:recover=false").recover is False
    with pytest.raises(ValueError, match="recover"):
        clientFromString(Clock(), "i2p:site.i2p:recover=maybe")
