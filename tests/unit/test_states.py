"""The data channel's and the socket shim's state machines follow their transition tables.

Each scenario drives the real code and records every move it makes: each
move must be in the table, and together the scenarios make every move the
table allows, so the table holds neither too few moves nor stale ones.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from tests.unit.reactor_stand_ins import QueuedCalls
from txi2p import errors
from txi2p import socket as i2p
from txi2p.address import I2PAddress
from txi2p.protocol import _STREAM_TRANSITIONS, SAMStreamProtocol, StreamState
from txi2p.sam import codec
from txi2p.sam.data import STREAM_TRANSITIONS, DataConnection
from txi2p.socket import _SOCKET_TRANSITIONS, SocketState
from txi2p.testing.fakes import fake_private_key

HELLO_OK = b"HELLO REPLY RESULT=OK VERSION=3.0\n"
STREAM_OK = b"STREAM STATUS RESULT=OK\n"


def edges(table):
    return {(a, b) for a, tos in table.items() for b in tos}


@pytest.fixture
def moves(monkeypatch):
    """Every ``(object, from, to)`` move a SAMStreamProtocol's connection or a socket makes in the test."""
    seen = []
    for cls, state in ((DataConnection, "state"), (i2p.socket, "_state")):
        original = cls._move

        def record(self, to, original=original, state=state):
            seen.append((self, getattr(self, state), to))
            original(self, to)

        monkeypatch.setattr(cls, "_move", record)
    return seen


# ---------------------------------------------------------------- SAMStreamProtocol


class SwappableTransport(StringTransport):
    protocol = None


def stream(command, peer=None, hello=True, route=None, connect=True):
    clock = Clock()
    proto = SAMStreamProtocol(clock, codec.hello() if hello else None, command, Factory.forProtocol(Protocol),
                              I2PAddress(fake_private_key().destination), peer, 30, "sam:1", route)
    transport = SwappableTransport()
    transport.protocol = proto
    if connect:
        proto.makeConnection(transport)
    return proto, transport


def peer_line(port=None):
    line = fake_private_key().destination.base64.encode()
    return line + (b" TO_PORT=%d" % port if port is not None else b"") + b"\n"


def stream_connect():
    dest = fake_private_key().destination
    proto, _ = stream(codec.stream_connect("s", dest.base64), I2PAddress(dest))
    proto.dataReceived(HELLO_OK + STREAM_OK)
    assert proto.established.called
    return proto


def stream_accept():
    proto, _ = stream(codec.stream_accept("s"))
    proto.dataReceived(HELLO_OK + STREAM_OK)
    assert proto.accepting
    proto.dataReceived(peer_line())
    return proto


def stream_forward_keeper_then_router_talks():
    proto, _ = stream(codec.stream_forward("s", 1234))
    proto.dataReceived(HELLO_OK + STREAM_OK)
    assert proto.established.called
    proto.dataReceived(b"STREAM STATUS RESULT=I2P_ERROR\n")
    return proto


def stream_forwarded_connection():
    proto, _ = stream(None, hello=False)
    proto.dataReceived(peer_line())
    return proto


def stream_hello_refused():
    proto, _ = stream(codec.stream_accept("s"))
    proto.dataReceived(b"HELLO REPLY RESULT=NOVERSION\n")
    proto.established.addErrback(lambda f: None)
    return proto


def stream_connect_refused():
    dest = fake_private_key().destination
    proto, _ = stream(codec.stream_connect("s", dest.base64), I2PAddress(dest))
    proto.dataReceived(HELLO_OK + b"STREAM STATUS RESULT=CANT_REACH_PEER\n")
    proto.established.addErrback(lambda f: None)
    return proto


def stream_accept_bad_peer():
    proto, _ = stream(codec.stream_accept("s"))
    proto.dataReceived(HELLO_OK + STREAM_OK + b"not-a-destination\n")
    proto.established.addErrback(lambda f: None)
    return proto


def stream_accept_no_listener():
    proto, _ = stream(codec.stream_accept("s"), route=lambda port: None)
    proto.dataReceived(HELLO_OK + STREAM_OK + peer_line(81))
    proto.established.addErrback(lambda f: None)
    return proto


def stream_cancelled_before_connected():
    # the session's control connection ended while the TCP connect was under way
    proto, transport = stream(codec.stream_accept("s"), connect=False)
    proto.established.addErrback(lambda f: None)
    proto.established.cancel()
    proto.makeConnection(transport)
    return proto


def stream_cancelled_during_hello():
    proto, _ = stream(codec.stream_accept("s"))
    proto.established.addErrback(lambda f: None)
    proto.established.cancel()
    return proto


def stream_cancelled_during_stream_command():
    proto, _ = stream(codec.stream_accept("s"))
    proto.dataReceived(HELLO_OK)
    proto.established.addErrback(lambda f: None)
    proto.established.cancel()
    return proto


def stream_cancelled_waiting_for_peer():
    proto, _ = stream(codec.stream_accept("s"))
    proto.dataReceived(HELLO_OK + STREAM_OK)
    proto.established.addErrback(lambda f: None)
    proto.established.cancel()
    return proto


N, H, S, W, F, E, C, X = (StreamState.NEW, StreamState.HELLO, StreamState.STREAM, StreamState.WAITING_PEER,
                          StreamState.FORWARDING, StreamState.ESTABLISHED, StreamState.CANCELLED,
                          StreamState.FAILED)
STREAM_SCENARIOS = {
    stream_connect: [N, H, S, E],
    stream_accept: [N, H, S, W, E],
    stream_forward_keeper_then_router_talks: [N, H, S, F, X],
    stream_forwarded_connection: [N, W, E],
    stream_hello_refused: [N, H, X],
    stream_connect_refused: [N, H, S, X],
    stream_accept_bad_peer: [N, H, S, W, X],
    stream_accept_no_listener: [N, H, S, W, E, X],
    stream_cancelled_before_connected: [N, C, H],
    stream_cancelled_during_hello: [N, H, C],
    stream_cancelled_during_stream_command: [N, H, S, C],
    stream_cancelled_waiting_for_peer: [N, H, S, W, C],
}


def path(moves, obj):
    """The states *obj* (a socket, or a SAMStreamProtocol's connection) went through."""
    obj = getattr(obj, "_conn", obj)
    own = [(old, to) for o, old, to in moves if o is obj]
    return [own[0][0], *(to for _, to in own)]


def made(moves):
    """The ``(from, to)`` moves made."""
    return {(old, to) for _, old, to in moves}


@pytest.mark.parametrize("scenario", STREAM_SCENARIOS, ids=lambda f: f.__name__)
def test_stream_moves_are_in_the_table(scenario, moves):
    proto = scenario()
    assert path(moves, proto) == STREAM_SCENARIOS[scenario]
    assert made(moves) <= edges(_STREAM_TRANSITIONS)
    assert proto.state == STREAM_SCENARIOS[scenario][-1]


def test_stream_scenarios_make_every_move_the_table_allows(moves):
    for scenario in STREAM_SCENARIOS:
        scenario()
    assert made(moves) == edges(_STREAM_TRANSITIONS)


EVENTS = sorted({event for _, event in STREAM_TRANSITIONS}, key=lambda e: e.__name__)


@pytest.mark.parametrize("old,event", sorted(
    {(a, e) for a in StreamState for e in EVENTS} - set(STREAM_TRANSITIONS),
    key=lambda pair: (pair[0], pair[1].__name__)), ids=str)
def test_stream_move_not_in_the_table_raises(old, event):
    """The table is keyed by (state, event type): any other pair is refused, naming both."""
    proto, _ = stream(codec.stream_accept("s"), connect=False)
    proto._conn.state = old
    with pytest.raises(RuntimeError, match=f"a SAM data connection cannot take {event.__name__} "
                                           f"in state {old.value}"):
        proto._conn._fire(event.__new__(event))
    assert proto.state == old


def test_the_moves_are_the_event_table_seen_without_events():
    assert edges(_STREAM_TRANSITIONS) == {(a, b) for (a, _), b in STREAM_TRANSITIONS.items() if a != b}


def test_stream_states_read_as_before():
    proto, _ = stream(codec.stream_accept("s"))
    assert repr(proto).startswith("<SAMStreamProtocol hello ")
    assert proto.state == "hello" and f"{StreamState.WAITING_PEER}" == "waiting-peer"
    proto.connectionLost(Failure(ConnectionResetError("gone")))
    box = []
    proto.established.addErrback(box.append)
    assert isinstance(box[0].value, errors.SAMConnectionLost)
    assert "closed the data connection before HELLO was answered: gone" in str(box[0].value)
    with pytest.raises(TypeError):
        _STREAM_TRANSITIONS[StreamState.NEW] = frozenset()  # type: ignore[index]


def test_an_unlisted_move_fails_loudly_in_use(monkeypatch):
    """With HELLO -> STREAM taken out of the table, the HELLO reply raises."""
    table = {key: to for key, to in STREAM_TRANSITIONS.items()
             if (key[0], to) != (StreamState.HELLO, StreamState.STREAM)}
    monkeypatch.setattr("txi2p.sam.data.STREAM_TRANSITIONS", table)
    proto, _ = stream(codec.stream_accept("s"))
    with pytest.raises(RuntimeError, match="cannot take Sent in state hello"):
        proto.dataReceived(HELLO_OK)


# ---------------------------------------------------------------- socket


class FakeSession:
    """Just what connect() and listen() use of a SAMSession."""

    def __init__(self, fail=False):
        self.fail = fail
        self.closed = Deferred()

    async def connect(self, target, factory):
        if self.fail:
            raise errors.CantReachPeer(message="no route")
        proto = factory.buildProtocol(None)
        proto.makeConnection(StringTransport())
        return proto

    def listen(self, factory):
        return object()

    def when_accepting(self):
        return succeed(None)


def call_now(make, what=""):
    box = []
    Deferred.fromCoroutine(make()).addBoth(box.append)
    return box[0]


@pytest.fixture
def make_socket():
    made = []

    def make(fail=False):
        sock = i2p.socket.__new__(i2p.socket)
        sock._init_state(i2p.SOCK_STREAM)
        sock._ctx = SimpleNamespace(reactor=QueuedCalls(), call=call_now)
        sock._session = FakeSession(fail)
        sock._session_name = "s"
        made.append(sock)
        return sock

    yield make
    for sock in made:
        sock._signal.close()


def start_connect(sock):
    """A non-blocking connect: returns while it is under way."""
    sock.setblocking(False)
    with pytest.raises(i2p.BlockError):
        sock.connect("peer.i2p")
    assert sock._state == SocketState.CONNECTING


def socket_connect(make):
    sock = make()
    start_connect(sock)
    sock._ctx.reactor.run()
    sock.connect("peer.i2p")  # the completed non-blocking connect
    return sock


def socket_connect_fails(make):
    sock = make(fail=True)
    start_connect(sock)
    sock._ctx.reactor.run()
    with pytest.raises(i2p.NetworkError):
        sock.connect("peer.i2p")
    return sock


class ListeningParent:
    """The listening socket accept() passes on: only its context and session matter here."""

    def __init__(self, sock):
        self._ctx = sock._ctx
        self._session = sock._session

    def __getattr__(self, name):
        return None


def socket_accepted(make):
    return i2p.socket._accepted(ListeningParent(make()), i2p._StreamFeed(), None)


def socket_listen(make):
    sock = make()
    sock.listen()
    with pytest.raises(i2p.Error, match="cannot connect a socket that is listening"):
        sock.connect("peer.i2p")
    return sock


def socket_listen_when_connected(make):
    sock = socket_connect(make)
    sock.listen()
    return sock


def socket_listen_while_connecting_then_connected(make):
    sock = make()
    start_connect(sock)
    sock.listen()
    sock._ctx.reactor.run()
    return sock


def socket_listen_while_connecting_then_connect_fails(make):
    sock = make(fail=True)
    start_connect(sock)
    sock.listen()
    sock._ctx.reactor.run()
    return sock


SN, SC, SD, SL = SocketState.NEW, SocketState.CONNECTING, SocketState.CONNECTED, SocketState.LISTENING
SOCKET_SCENARIOS = {
    socket_connect: [SN, SC, SD],
    socket_connect_fails: [SN, SC, SN],
    socket_accepted: [SN, SD],
    socket_listen: [SN, SL],
    socket_listen_when_connected: [SN, SC, SD, SL],
    socket_listen_while_connecting_then_connected: [SN, SC, SL, SD],
    socket_listen_while_connecting_then_connect_fails: [SN, SC, SL, SN],
}


@pytest.mark.parametrize("scenario", SOCKET_SCENARIOS, ids=lambda f: f.__name__)
def test_socket_moves_are_in_the_table(scenario, moves, make_socket):
    sock = scenario(make_socket)
    assert path(moves, sock) == SOCKET_SCENARIOS[scenario]
    assert made(moves) <= edges(_SOCKET_TRANSITIONS)
    assert sock._state == SOCKET_SCENARIOS[scenario][-1]


def test_socket_scenarios_make_every_move_the_table_allows(moves, make_socket):
    for scenario in SOCKET_SCENARIOS:
        scenario(make_socket)
    assert made(moves) == edges(_SOCKET_TRANSITIONS)


@pytest.mark.parametrize("old,new", sorted(
    {(a, b) for a in SocketState for b in SocketState} - edges(_SOCKET_TRANSITIONS)))
def test_socket_move_not_in_the_table_raises(old, new, make_socket):
    sock = make_socket()
    sock._state = old
    with pytest.raises(RuntimeError, match=f"a socket cannot go from state {old.value} to state {new.value}"):
        sock._move(new)
    assert sock._state == old


def test_socket_states_read_as_before(make_socket):
    sock = make_socket()
    assert repr(sock) == "<txi2p.socket SOCK_STREAM session='s' new>"
    sock.listen()
    assert repr(sock) == "<txi2p.socket SOCK_STREAM session='s' listening>"
    assert sock._state == "listening"
    with pytest.raises(TypeError):
        _SOCKET_TRANSITIONS[SocketState.NEW] = frozenset()  # type: ignore[index]
