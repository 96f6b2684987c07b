"""A session ends its streams before itself.

i2pd 2.58 crashed when a session's control connection closed while its
streams still received (docs/routers.rst), so :meth:`SAMSession.close`
closes every open data connection (connected, accepted, forwarded, and
those of its subsessions) first, waits the dialect's
``stream_close_settle``, and only then closes the control connection (or
sends ``SESSION REMOVE``): never the other way round, and never longer
than that bound.  Everything here runs on a MemoryReactorClock with
in-memory transports that log the order they are closed in.
"""

from __future__ import annotations

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from txi2p.bridge import SAMBridge
from txi2p.errors import SessionClosed
from txi2p.protocol import SAMControlProtocol
from txi2p.sam import codec
from txi2p.sam.dialect import SAMDialect
from txi2p.session import SAMSession
from txi2p.testing.fakes import fake_private_key

SETTLE = SAMDialect().stream_close_settle
PEER = fake_private_key().destination


class LoggedTransport(StringTransport):
    """Writes into *log* which connection was closed, and how, in order."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name = name
        self._log = log

    def loseConnection(self) -> None:
        if not self.disconnecting:
            self._log.append(self.name)
        super().loseConnection()

    def abortConnection(self) -> None:
        self._log.append(f"{self.name} aborted")
        self.disconnecting = True  # (StringTransport aborts through loseConnection)
        super().abortConnection()


@implementer(IStreamClientEndpoint)
class Bridge:
    """Connects each new data connection to a logged in-memory transport."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.connections: list[tuple[Protocol, LoggedTransport]] = []

    def connect(self, factory):
        proto = factory.buildProtocol(None)
        transport = LoggedTransport(f"stream {len(self.connections) + 1}", self.log)
        proto.makeConnection(transport)
        self.connections.append((proto, transport))
        return succeed(proto)

    def answer(self, index: int, *lines: str) -> None:
        proto, _ = self.connections[index]
        for line in lines:
            proto.dataReceived(line.encode() + b"\n")

    def lose(self, index: int) -> None:
        """The connection's end reaches us (as the reactor would tell, some time after the close)."""
        proto, _ = self.connections[index]
        proto.connectionLost(Failure(ConnectionDone()))


@pytest.fixture
def world():
    log: list[str] = []
    reactor = MemoryReactorClock()
    bridge_end = Bridge(log)
    bridge = SAMBridge(reactor, endpoint=bridge_end)
    bridge.dialect = SAMDialect.for_version("3.1")
    control = SAMControlProtocol(reactor, codec.hello(), "sam")
    control.makeConnection(LoggedTransport("control", log))
    control.dataReceived(b"HELLO REPLY RESULT=OK VERSION=3.1\n")

    def session(style: str = "STREAM") -> SAMSession:
        return SAMSession(bridge, control, "s1", style, fake_private_key(), {})

    return reactor, bridge_end, control, session, log


def connected(bridge_end: Bridge, session: SAMSession) -> Deferred:
    d = Deferred.fromCoroutine(session.connect(PEER, Factory.forProtocol(Protocol)))
    bridge_end.answer(len(bridge_end.connections) - 1, "HELLO REPLY RESULT=OK VERSION=3.1",
                      "STREAM STATUS RESULT=OK")
    return d


def accepted(bridge_end: Bridge, session: SAMSession) -> Deferred:
    d = session.accept(Factory.forProtocol(Protocol))
    bridge_end.answer(len(bridge_end.connections) - 1, "HELLO REPLY RESULT=OK VERSION=3.1",
                      "STREAM STATUS RESULT=OK", f"{PEER.base64} FROM_PORT=0 TO_PORT=0")
    return d


def test_streams_close_first_and_the_control_connection_a_settle_later(world):
    reactor, bridge_end, control, make, log = world
    session = make()
    for open_stream in (connected, accepted):
        d = open_stream(bridge_end, session)
        assert d.called and not isinstance(d.result, Failure), d.result
    closed = session.close()
    assert sorted(log) == ["stream 1", "stream 2"]  # the control connection stays open meanwhile
    assert not session.is_open and not closed.called
    with pytest.raises(SessionClosed, match="closing"):
        session._check_open()
    bridge_end.lose(0)
    bridge_end.lose(1)
    reactor.advance(SETTLE * 0.9)
    assert "control" not in log  # the router is given time to see the streams end
    reactor.advance(SETTLE * 0.1)
    assert log[-1] == "control" and log.count("control") == 1
    control.connectionLost(Failure(ConnectionDone()))
    assert closed.called


def test_a_stream_that_never_ends_is_aborted_and_the_close_still_finishes(world):
    reactor, bridge_end, _control, make, log = world
    session = make()
    connected(bridge_end, session)
    session.close()
    reactor.advance(SETTLE)  # the router reads nothing more: no connectionLost ever comes
    assert log == ["stream 1", "stream 1 aborted"]
    reactor.advance(SETTLE)
    assert log[-1] == "control"


def test_without_open_streams_the_control_connection_closes_at_once(world):
    _reactor, bridge_end, _control, make, log = world
    session = make()
    connected(bridge_end, session)
    bridge_end.lose(0)  # the peer ended it: nothing left to close first
    session.close()
    assert log == ["control"]


def test_a_pending_accept_is_cancelled_before_the_control_connection_closes(world):
    _reactor, bridge_end, _control, make, log = world
    session = make()
    d = session.accept(Factory.forProtocol(Protocol))
    bridge_end.answer(0, "HELLO REPLY RESULT=OK VERSION=3.1", "STREAM STATUS RESULT=OK")
    session.close()
    assert log == ["stream 1 aborted", "control"]
    assert d.called
    d.addErrback(lambda f: None)


def test_forwarded_streams_close_first_too(world):
    reactor, bridge_end, _control, make, log = world
    session = make()
    forwarding = Deferred.fromCoroutine(session.forward(Factory.forProtocol(Protocol)))
    bridge_end.answer(0, "HELLO REPLY RESULT=OK VERSION=3.1", "STREAM STATUS RESULT=OK")
    assert forwarding.called and not isinstance(forwarding.result, Failure), forwarding.result
    listening_factory = reactor.tcpServers[-1][1]
    incoming = listening_factory.buildProtocol(None)
    incoming.makeConnection(LoggedTransport("forwarded", log))
    incoming.dataReceived(f"{PEER.base64} FROM_PORT=0 TO_PORT=0\n".encode())
    assert incoming.established.called
    session.close()
    assert log == ["forwarded"]  # the FORWARD's own connection carries no stream
    incoming.connectionLost(Failure(ConnectionDone()))
    reactor.advance(SETTLE)
    assert log == ["forwarded", "control"]


def subsession_with_a_stream(world):
    """A PRIMARY session and its STREAM subsession "sub", which has one open stream."""
    _, bridge_end, control, make, _ = world
    primary = make("PRIMARY")
    added = Deferred.fromCoroutine(primary.add_subsession("STREAM", "sub"))
    control.dataReceived(b"SESSION STATUS RESULT=OK\n")
    connected(bridge_end, added.result)
    return primary, added.result


def test_a_primary_session_closes_its_subsessions_streams_first(world):
    reactor, bridge_end, _control, _make, log = world
    primary, _ = subsession_with_a_stream(world)
    primary.close()
    assert log == ["stream 1"]
    bridge_end.lose(0)
    reactor.advance(SETTLE)
    assert log == ["stream 1", "control"]


def test_a_subsession_is_removed_only_after_its_streams_closed(world):
    reactor, bridge_end, control, _make, log = world
    _, sub = subsession_with_a_stream(world)
    sent = len(control.transport.value())
    removed = sub.close()
    assert log == ["stream 1"] and b"SESSION REMOVE" not in control.transport.value()[sent:]
    bridge_end.lose(0)
    reactor.advance(SETTLE)
    assert b"SESSION REMOVE ID=sub" in control.transport.value()[sent:]
    control.dataReceived(b"SESSION STATUS RESULT=OK\n")
    assert removed.called and "control" not in log  # the primary session goes on


def test_a_session_created_again_while_the_old_one_closes_waits_for_it(world):
    reactor, bridge_end, control, make, _log = world
    session = make()
    connected(bridge_end, session)
    session.close()
    said: list[str] = []
    waiting = Deferred.fromCoroutine(session.bridge._wait_for_release(session.destination, said.append))
    assert not waiting.called and "previous session" in said[0]
    bridge_end.lose(0)
    reactor.advance(SETTLE)
    control.connectionLost(Failure(ConnectionDone()))
    assert not waiting.called  # then the router's own release time
    reactor.advance(SAMDialect().destination_release)
    assert waiting.called
