"""A client that survives a dead home (txi2p.failover): one more try through a fresh session."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import pytest_twisted
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


# --- a client whose own router is down: FallbackClientEndpoint ---------------

TWO_BRIDGES = r"i2p:site.i2p:80:samaddr=127.0.0.1\:7656,127.0.0.1\:7666:session=web:recover=false"


def _fallback(monkeypatch, outcomes):
    """A FallbackClientEndpoint over two bridges whose connects give *outcomes*
    (per bridge: a list of results or errors, taken in turn)."""
    fallback = clientFromString(Clock(), TWO_BRIDGES)
    tried = []
    for index, endpoint in enumerate(fallback.endpoints):
        async def connect(factory, index=index):
            tried.append(index)
            outcome = outcomes[index].pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        monkeypatch.setattr(endpoint, "connect", connect)
    return fallback, tried


def test_a_client_string_with_two_bridges_is_one_endpoint_per_bridge():
    fallback = clientFromString(Clock(), TWO_BRIDGES)
    assert isinstance(fallback, failover.FallbackClientEndpoint)
    assert [e.bridge_config.sam_address for e in fallback.endpoints] == ["127.0.0.1:7656", "127.0.0.1:7666"]
    assert {(e.host, e.port, e.session_config.nickname, e.recover) for e in fallback.endpoints} == {
        ("site.i2p", 80, "web", False)}


@pytest.mark.parametrize(("string", "match"), [
    (r"i2p:site.i2p:samaddr=127.0.0.1\:7656,127.0.0.1\:7656", "bridges must differ"),
    (r"i2p:site.i2p:samaddr=127.0.0.1\:7656,localhost\:7656", "bridges must differ"),
    (r"i2p:site.i2p:samaddr=127.0.0.1\:7656,", "comma-separated list"),
    (r"i2p:site.i2p:samaddr=127.0.0.1\:7656,10.0.0.1\:7656", "not on this machine"),
    (r"i2p:site.i2p:samaddr=127.0.0.1\:7656,127.0.0.1\:7657:bogus=1", "unknown keyword 'bogus'"),
])
def test_bad_bridge_lists_are_refused_when_parsed(string, match):
    with pytest.raises(ValueError, match=match):
        clientFromString(Clock(), string)


def test_endpoints_to_different_destinations_are_refused():
    ends = [I2PClientEndpoint(Clock(), host, bridge_config=BridgeConfig(f"127.0.0.1:{port}"))
            for host, port in (("a.i2p", 7656), ("b.i2p", 7666))]
    with pytest.raises(ValueError, match="one destination"):
        failover.FallbackClientEndpoint(ends)
    with pytest.raises(ValueError, match="two bridges"):
        failover.FallbackClientEndpoint(ends[:1])


def test_a_bridge_that_is_down_moves_to_the_next_which_is_tried_first_from_then_on(monkeypatch):
    down = errors.SAMConnectionFailed("Connection refused")
    fallback, tried = _fallback(monkeypatch, [[down, down], ["via 2", "via 2 again"]])
    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        assert _connect(fallback) == "via 2"
        assert _connect(fallback) == "via 2 again"
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert tried == [0, 1, 1] and fallback.current == 1
    assert any("is down" in str(e.get("log_format")) for e in logged)


@pytest.mark.parametrize("error", [
    errors.SAMConnectionLost("closed"), errors.SessionClosed("gone"),
    errors.CommandTimeout("HELLO", 10), errors.CommandTimeout("SESSION CREATE", 60)])
def test_what_counts_as_a_bridge_down(monkeypatch, error):
    fallback, tried = _fallback(monkeypatch, [[error], ["via 2"]])
    assert _connect(fallback) == "via 2" and tried == [0, 1]


@pytest.mark.parametrize("error", [
    errors.CantReachPeer("gone"), errors.CommandTimeout("STREAM CONNECT", 90), errors.InvalidKey("bad")])
def test_the_destinations_own_errors_do_not_move_to_another_bridge(monkeypatch, error):
    fallback, tried = _fallback(monkeypatch, [[error], ["via 2"]])
    assert _connect(fallback).value is error and tried == [0] and fallback.current == 0


def test_every_bridge_down_says_each_ones_error(monkeypatch):
    fallback, tried = _fallback(monkeypatch, [[errors.SAMConnectionFailed("refused at 1")],
                                              [errors.CommandTimeout("HELLO", 10)]])
    failure = _connect(fallback)
    assert failure.check(failover.AllBridgesDown) and failure.check(errors.SAMConnectionFailed)
    assert "refused at 1" in str(failure.value) and "HELLO" in str(failure.value) and tried == [0, 1]


@pytest_twisted.ensureDeferred
async def test_a_bridge_with_nothing_listening_is_down_for_real(monkeypatch):
    """The first bridge's port is closed: the real connect error moves it on."""
    from twisted.internet import reactor

    probe = reactor.listenTCP(0, Factory(), interface="127.0.0.1")
    closed = probe.getHost().port
    await probe.stopListening()
    fallback = clientFromString(reactor, rf"i2p:site.i2p:samaddr=127.0.0.1\:{closed},127.0.0.1\:7666")

    async def second(factory):
        return "via 2"
    monkeypatch.setattr(fallback.endpoints[1], "connect", second)
    assert await fallback.connect(Factory()) == "via 2"
    assert fallback.current == 1
