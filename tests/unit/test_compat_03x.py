"""txi2p 0.3.x behaviours its callers (and its own tests) rely on: the repr
of an address, duck-typed SAM endpoints, a refused bridge that is Twisted's
ConnectionRefusedError, the names and module paths 0.3.x code imports."""

from __future__ import annotations

import importlib

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock

import txi2p.compat
import txi2p.endpoint_strings
from txi2p import errors
from txi2p.address import I2PAddress
from txi2p.bridge import SAMBridge
from txi2p.refused import SAMConnectionRefused
from txi2p.session import SAMSession
from txi2p.testing.fakes import fake_private_key


class DuckEndpoint:
    """What 0.3.x's tests pass as samEndpoint: connect(factory), no interface declared."""

    def __init__(self, failure: Exception) -> None:
        self._reactor = MemoryReactorClock()
        self.failure = failure
        self.factories: list[object] = []

    def connect(self, factory: object) -> defer.Deferred[object]:
        self.factories.append(factory)
        return defer.fail(self.failure)


def _failure_of(d: defer.Deferred[object]) -> BaseException:
    failures: list = []
    d.addErrback(failures.append)
    assert len(failures) == 1, "the Deferred did not fail at once"
    return failures[0].value


@pytest.mark.parametrize("host,port,text", [
    ("spam.i2p", 81, "I2PAddress(spam.i2p, 81)"),
    ("spam.i2p", "81", "I2PAddress(spam.i2p, 81)"),
    ("spam.i2p", None, "I2PAddress(spam.i2p)"),
])
def test_address_repr_is_03x_form(host, port, text):
    assert repr(I2PAddress(fake_private_key().destination, host, port)) == text


def test_address_repr_without_host_shows_b32():
    destination = fake_private_key().destination
    assert repr(I2PAddress(destination, port=81)) == f"I2PAddress({destination.b32}, 81)"


def test_client_new_takes_any_object_with_connect_and_fails_as_03x():
    duck = DuckEndpoint(ConnectionRefusedError())
    ep = txi2p.compat.SAMI2PStreamClientEndpoint.new(duck, "site.i2p")
    assert duck.factories == []  # no I/O before connect()
    error = _failure_of(ep.connect(Factory.forProtocol(Protocol)))
    assert isinstance(error, ConnectionRefusedError) and isinstance(error, errors.SAMConnectionFailed)
    assert len(duck.factories) == 1


def test_server_new_takes_any_object_with_connect_and_fails_as_03x(tmp_path):
    duck = DuckEndpoint(ConnectionRefusedError())
    ep = txi2p.compat.SAMI2PStreamServerEndpoint.new(duck, str(tmp_path / "k.key"))
    error = _failure_of(ep.listen(Factory.forProtocol(Protocol)))
    assert isinstance(error, ConnectionRefusedError) and isinstance(error, errors.SAMConnectionFailed)


def test_other_connection_failures_are_not_refusals():
    duck = DuckEndpoint(OSError("no route"))
    ep = txi2p.compat.SAMI2PStreamClientEndpoint.new(duck, "site.i2p")
    error = _failure_of(ep.connect(Factory.forProtocol(Protocol)))
    assert isinstance(error, errors.SAMConnectionFailed) and not isinstance(error, ConnectionRefusedError)


@pytest_twisted.ensureDeferred
async def test_refused_tcp_connection_is_both_errors():
    port = reactor.listenTCP(0, Factory(), interface="127.0.0.1")
    address = f"127.0.0.1:{port.getHost().port}"
    await port.stopListening()
    with pytest.raises(ConnectionRefusedError) as info:
        await SAMBridge(reactor, address).generate_destination()
    assert isinstance(info.value, errors.SAMConnectionFailed) and isinstance(info.value, SAMConnectionRefused)
    assert address in str(info.value)


def test_refused_error_is_in_txi2p_errors():
    assert errors.SAMConnectionRefused is SAMConnectionRefused
    assert "SAMConnectionRefused" in errors.__all__
    with pytest.raises(AttributeError):
        errors.NoSuchError  # noqa: B018


def test_get_session_fails_as_03x_when_refused():
    duck = DuckEndpoint(ConnectionRefusedError())
    d = txi2p.compat.getSession("old-nick", duck, autoClose=True, localPort=5, options={"inbound.length": 1})
    assert isinstance(_failure_of(d), ConnectionRefusedError)


@pytest.mark.parametrize("module,names", [
    ("txi2p.sam", ("SAMSession", "getSession", "SAMI2PStreamClientEndpoint", "SAMI2PStreamServerEndpoint")),
    ("txi2p.sam.session", ("SAMSession", "getSession")),
    ("txi2p.sam.endpoints", ("SAMI2PStreamClientEndpoint", "SAMI2PStreamServerEndpoint", "getSession")),
])
def test_03x_names_and_module_paths(module, names):
    imported = importlib.import_module(module)
    for name in names:
        assert getattr(imported, name) is getattr(txi2p.compat, name)
    assert txi2p.compat.SAMSession is SAMSession


def test_03x_plugins_module_gives_the_parsers():
    import txi2p.plugins

    assert txi2p.plugins.I2PClientParser is txi2p.endpoint_strings.I2PClientParser
    assert txi2p.plugins.I2PServerParser is txi2p.endpoint_strings.I2PServerParser
