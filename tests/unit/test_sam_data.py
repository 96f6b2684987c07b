"""The sans-I/O data channel (txi2p.sam.data), without Twisted.

Each scenario drives a :class:`DataConnection` by hand and records the
``(state, event type)`` pairs it takes: each is in
:data:`STREAM_TRANSITIONS`, and together the scenarios take every pair
the table holds.
"""

from __future__ import annotations

import pytest

from tests.unit.sans_io import events, record_moves
from txi2p import errors
from txi2p.sam import codec
from txi2p.sam.data import (
    MAX_DATA_PINGS,
    STREAM_TRANSITIONS,
    Accepted,
    Connected,
    DataConnection,
    Forwarding,
    PeerNamed,
    StreamState,
)
from txi2p.sam.events import Failed, Pinged, Sent

S = StreamState
HELLO_OK = b"HELLO REPLY RESULT=OK VERSION=3.1\n"
STREAM_OK = b"STREAM STATUS RESULT=OK\n"
DEST = "A" * 516 + "AAAA"


@pytest.fixture
def taken(monkeypatch):
    """Every ``(state, event type)`` pair a DataConnection takes in the test."""
    return record_moves(monkeypatch, DataConnection)


def connection(command):
    conn = DataConnection(codec.hello(), command)
    assert conn.start() == b"HELLO VERSION MIN=3.0 MAX=3.3\n"
    assert conn.state is S.HELLO and conn.timed == "HELLO VERSION"
    return conn


def connect():
    command = codec.stream_connect("s", DEST)
    conn = connection(command)
    [sent] = events(conn, HELLO_OK)
    assert sent == Sent(command) and sent.data == command.encode() and conn.timed == "STREAM CONNECT"
    assert [type(e) for e in events(conn, STREAM_OK + b"user bytes")] == [Connected]
    assert conn.timed is None and conn.decoder.take_remaining() == b"user bytes"
    return conn


def accept():
    conn = connection(codec.stream_accept("s"))
    assert [type(e) for e in events(conn, HELLO_OK + STREAM_OK)] == [Sent, Accepted]
    assert conn.state is S.WAITING_PEER and conn.timed is None  # peers are waited for without a timeout
    [named] = events(conn, b"%s FROM_PORT=5 TO_PORT=81\nhi" % DEST.encode())
    assert isinstance(named, PeerNamed) and named.line.port("TO_PORT") == 81
    conn.establish()
    assert events(conn) == [] and conn.decoder.take_remaining() == b"hi"
    return conn


def forward_then_router_talks():
    conn = connection(codec.stream_forward("s", 1234))
    assert [type(e) for e in events(conn, HELLO_OK + STREAM_OK)] == [Sent, Forwarding]
    [failed] = events(conn, b"STREAM STATUS RESULT=I2P_ERROR\n")
    assert isinstance(failed, Failed) and "unexpected" in str(failed.error)
    return conn


def forwarded_connection():
    conn = DataConnection(None, None)
    assert conn.start() == b"" and conn.timed == "the peer line of a forwarded stream"
    assert [type(e) for e in events(conn, DEST.encode() + b"\n")] == [PeerNamed]
    conn.establish()
    return conn


def pings_answered_then_bounded():
    conn = connection(codec.stream_accept("s"))
    [pinged] = events(conn, b"PING a\n")
    assert pinged == Pinged("a") and pinged.data == b"PONG a\n"
    events(conn, HELLO_OK)
    got = events(conn, b"PING b\n" * MAX_DATA_PINGS)
    assert [type(e) for e in got] == [Pinged] * (MAX_DATA_PINGS - 1) + [Failed]
    assert f"more than {MAX_DATA_PINGS} PINGs" in str(got[-1].error)
    return conn


def hello_refused():
    conn = connection(codec.stream_accept("s"))
    [failed] = events(conn, b"HELLO REPLY RESULT=NOVERSION\n")
    assert isinstance(failed.error, errors.NoVersion)
    return conn


def connect_refused_after_bad_line():
    conn = connection(codec.stream_connect("s", DEST))
    events(conn, HELLO_OK)
    [failed] = events(conn, b"STREAM STATUS RESULT=CANT_REACH_PEER\nmore\n")
    assert isinstance(failed.error, errors.CantReachPeer) and events(conn, b"x\n") == []
    return conn


def no_listener_after_the_peer():
    conn = forwarded_connection()
    conn.fail(errors.StreamRejected("no listener"))
    return conn


def timed_out_waiting_for_a_forwarded_peer():
    conn = DataConnection(None, None)
    conn.start()
    conn.fail(errors.CommandTimeout("the peer line", 10, "sam"))
    return conn


def cancelled_before_connected_then_connected():
    conn = DataConnection(codec.hello(), codec.stream_accept("s"))
    conn.cancel()
    assert conn.start().startswith(b"HELLO")
    return conn


def _in_each_state_before_set_up(act, expected):
    for state in (S.HELLO, S.STREAM, S.WAITING_PEER):
        conn = DataConnection(codec.hello(), codec.stream_accept("s"))
        conn.state = state
        act(conn)
        assert conn.state is expected
    return conn


def cancelled_in_each_state():
    return _in_each_state_before_set_up(DataConnection.cancel, S.CANCELLED)


def closed_before_set_up():
    conn = _in_each_state_before_set_up(DataConnection.closed, S.FAILED)
    conn.closed()  # no move once failed
    return conn


def garbage():
    conn = connection(codec.stream_accept("s"))
    [failed] = events(conn, b"x" * (codec.MAX_LINE + 1))
    assert isinstance(failed, Failed) and failed.garbage
    return conn


SCENARIOS = {
    connect: S.ESTABLISHED, accept: S.ESTABLISHED, forward_then_router_talks: S.FAILED,
    forwarded_connection: S.ESTABLISHED, pings_answered_then_bounded: S.FAILED, hello_refused: S.FAILED,
    connect_refused_after_bad_line: S.FAILED, no_listener_after_the_peer: S.FAILED,
    timed_out_waiting_for_a_forwarded_peer: S.FAILED, cancelled_before_connected_then_connected: S.HELLO,
    cancelled_in_each_state: S.CANCELLED, closed_before_set_up: S.FAILED, garbage: S.FAILED,
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_data_moves_are_in_the_table(scenario, taken):
    conn = scenario()
    assert conn.state is SCENARIOS[scenario]
    assert {(old, kind) for old, kind, _ in taken} <= set(STREAM_TRANSITIONS)


def test_the_scenarios_take_every_pair_the_table_holds(taken):
    for scenario in SCENARIOS:
        scenario()
    assert {(old, kind) for old, kind, _ in taken} == set(STREAM_TRANSITIONS)


def test_a_reply_that_answers_another_command_fails():
    conn = connection(codec.stream_connect("s", DEST))
    [failed] = events(conn, b"NAMING REPLY RESULT=OK\n")
    assert isinstance(failed, Failed) and "expected HELLO REPLY" in str(failed.error)


def test_hello_with_a_version_not_asked_for_fails():
    conn = connection(codec.stream_connect("s", DEST))
    [failed] = events(conn, b"HELLO REPLY RESULT=OK VERSION=3.9\n")
    assert isinstance(failed, Failed) and "outside the MIN=3.0" in str(failed.error)


def test_hello_and_stream_command_come_together():
    with pytest.raises(ValueError):
        DataConnection(codec.hello(), None)
    assert repr(DataConnection(None, None)) == "<DataConnection new>"


def test_the_table_is_read_only():
    with pytest.raises(TypeError):
        STREAM_TRANSITIONS[(S.NEW, Sent)] = S.FAILED  # type: ignore[index]


def test_what_a_connection_waits_for_in_words():
    conn = connection(codec.stream_connect("s", DEST))
    assert conn.waiting_for == "before HELLO was answered"
    events(conn, HELLO_OK)
    assert conn.waiting_for == "before STREAM CONNECT was answered"
    assert forwarded_connection().waiting_for == ""
    accepting = connection(codec.stream_accept("s"))
    events(accepting, HELLO_OK + STREAM_OK)
    assert accepting.waiting_for == "while waiting for a peer"
