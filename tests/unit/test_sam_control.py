"""The sans-I/O control channel (txi2p.sam.control), without Twisted.

Each scenario drives a :class:`ControlConnection` by hand and records the
moves it makes: each is in :data:`CONTROL_TRANSITIONS`, and together the
scenarios make every move the table holds.
"""

from __future__ import annotations

import pytest

from tests.unit.sans_io import events, record_moves
from txi2p import errors
from txi2p.sam import codec
from txi2p.sam.control import (
    CONTROL_TRANSITIONS,
    Answered,
    ControlConnection,
    ControlState,
    PacketReceived,
    Ready,
    Refused,
    Unsolicited,
)
from txi2p.sam.events import Closed, Failed, Pinged, Sent

HELLO_OK = b"HELLO REPLY RESULT=OK VERSION=3.1\n"
R = ControlState


@pytest.fixture
def moves(monkeypatch):
    """Every ``(state, event type, next state)`` move made in the test."""
    return record_moves(monkeypatch, ControlConnection)


def ready():
    conn = ControlConnection(codec.hello())
    assert conn.send(conn.hello) == b"HELLO VERSION MIN=3.0 MAX=3.3\n"
    [event] = events(conn, HELLO_OK)
    assert isinstance(event, Ready) and event.dialect.version == "3.1" and conn.dialect is event.dialect
    return conn


def command_answered():
    conn = ready()
    lookup = codec.naming_lookup("ME")
    assert conn.send(lookup) == b"NAMING LOOKUP NAME=ME\n"
    assert conn.state is R.AWAITING and conn.on_wire is lookup
    [event] = events(conn, b"NAMING REPLY RESULT=OK NAME=ME VALUE=abc\n")
    assert event == Answered(lookup, event.reply) and event.reply.get("VALUE") == "abc"
    assert conn.on_wire is None
    return conn


def command_refused():
    conn = ready()
    conn.send(codec.naming_lookup("nope.i2p"))
    [event] = events(conn, b"NAMING REPLY RESULT=KEY_NOT_FOUND NAME=nope.i2p\n")
    assert isinstance(event, Refused) and isinstance(event.error, errors.SAMError)
    return conn


def ping_answered():
    conn = ready()
    conn.send(codec.ping("x"), expects_pong=True)
    [event] = events(conn, b"PONG x\n")
    assert isinstance(event, Answered) and event.reply == codec.Pong("x")
    return conn


def pinged_and_packets_in_every_talking_state():
    conn = ControlConnection(codec.hello())
    conn.send(conn.hello)
    got = events(conn, b"PING a\nRAW RECEIVED SIZE=1\nz")
    assert [type(e) for e in got] == [Pinged, PacketReceived]
    assert got[0].data == b"PONG a\n" and got[1].packet.payload == b"z"
    events(conn, HELLO_OK)
    assert [type(e) for e in events(conn, b"PING b\nRAW RECEIVED SIZE=1\nz")] == [Pinged, PacketReceived]
    conn.send(codec.naming_lookup("ME"))
    assert [type(e) for e in events(conn, b"PING c\nRAW RECEIVED SIZE=1\nz")] == [Pinged, PacketReceived]
    return conn


def unsolicited_counted():
    conn = ready()
    got = events(conn, b"STREAM STATUS RESULT=OK\n" * 3)
    assert [(type(e), e.count) for e in got] == [(Unsolicited, 1), (Unsolicited, 2), (Unsolicited, 3)]
    return conn


def hello_refused():
    conn = ControlConnection(codec.hello())
    conn.send(conn.hello)
    [event] = events(conn, b"HELLO REPLY RESULT=NOVERSION\n")
    assert isinstance(event.error, errors.NoVersion) and not conn.open
    return conn


def hello_bad_version():
    conn = ControlConnection(codec.hello())
    conn.send(conn.hello)
    [event] = events(conn, b"HELLO REPLY RESULT=OK VERSION=9.9\n")
    assert isinstance(event, Failed) and "outside the MIN=3.0 MAX=3.3" in str(event.error)
    return conn


def garbage():
    conn = ready()
    [event] = events(conn, b"x" * (codec.MAX_LINE + 1))
    assert isinstance(event, Failed) and event.garbage
    assert events(conn, b"PING a\n") == []  # nothing more once failed
    return conn


def wrong_reply():
    conn = ready()
    conn.send(codec.naming_lookup("ME"))
    [event] = events(conn, b"DEST REPLY PUB=a PRIV=b\n")
    assert isinstance(event, Failed) and "expected NAMING REPLY" in str(event.error)
    return conn


def pong_not_asked_for():
    conn = ready()
    conn.send(codec.naming_lookup("ME"))
    [event] = events(conn, b"PONG x\n")
    assert isinstance(event, Failed) and not event.garbage
    return conn


def timed_out_then_closed():
    conn = ready()
    conn.send(codec.dest_generate())
    conn.fail(errors.CommandTimeout("DEST GENERATE", 1, "sam"))
    conn.closed()
    return conn


def closed_before_hello():
    conn = ControlConnection(codec.hello())
    conn.closed()
    return conn


def failed_before_hello():
    conn = ControlConnection(codec.hello())
    conn.fail(errors.SAMConnectionLost("gone"))
    return conn


def closed_in_every_live_state():
    for state in (R.HELLO, R.READY, R.AWAITING):
        conn = ControlConnection(codec.hello())
        conn.state = state
        conn.closed()
        assert conn.state is R.CLOSED
    return conn


def failed_while_hello_and_awaiting():
    for state in (R.HELLO, R.AWAITING):
        conn = ControlConnection(codec.hello())
        conn.state = state
        conn.fail(errors.SAMConnectionLost("gone"))
        assert conn.state is R.ERROR
    return conn


SCENARIOS = {
    command_answered: R.READY, command_refused: R.READY, ping_answered: R.READY,
    pinged_and_packets_in_every_talking_state: R.AWAITING, unsolicited_counted: R.READY,
    hello_refused: R.ERROR, hello_bad_version: R.ERROR, garbage: R.ERROR, wrong_reply: R.ERROR,
    pong_not_asked_for: R.ERROR, timed_out_then_closed: R.CLOSED, closed_before_hello: R.CLOSED,
    failed_before_hello: R.ERROR, closed_in_every_live_state: R.CLOSED,
    failed_while_hello_and_awaiting: R.ERROR,
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_control_moves_are_in_the_table(scenario, moves):
    conn = scenario()
    assert conn.state is SCENARIOS[scenario]
    assert {(old, kind): new for old, kind, new in moves}.items() <= CONTROL_TRANSITIONS.items()


def test_the_scenarios_make_every_move_the_table_holds(moves):
    for scenario in SCENARIOS:
        scenario()
    assert {(old, kind): new for old, kind, new in moves} == dict(CONTROL_TRANSITIONS)


def test_the_table_is_read_only():
    with pytest.raises(TypeError):
        CONTROL_TRANSITIONS[(R.NEW, Sent)] = R.READY  # type: ignore[index]


@pytest.mark.parametrize("state", [R.NEW, R.HELLO, R.AWAITING, R.CLOSED, R.ERROR])
def test_a_command_is_sent_only_when_ready(state):
    conn = ControlConnection(codec.hello())
    conn.state = state
    with pytest.raises(RuntimeError, match="txi2p internal error"):
        conn.send(codec.naming_lookup("ME"))
    assert conn.state is state


def test_hello_only_first():
    conn = ready()
    with pytest.raises(RuntimeError, match="HELLO VERSION sent in state ready"):
        conn.send(conn.hello)


def test_a_move_not_in_the_table_is_a_txi2p_bug(monkeypatch):
    table = dict(CONTROL_TRANSITIONS)
    del table[(R.AWAITING, Answered)]
    monkeypatch.setattr("txi2p.sam.control.CONTROL_TRANSITIONS", table)
    conn = ready()
    conn.send(codec.naming_lookup("ME"))
    with pytest.raises(RuntimeError, match="cannot take Answered in state awaiting"):
        events(conn, b"NAMING REPLY RESULT=OK VALUE=x\n")


def test_closed_twice_and_failed_when_closed_are_no_moves():
    conn = closed_before_hello()
    conn.closed()
    conn.fail(errors.SAMConnectionLost("gone"))
    assert conn.state is R.CLOSED and repr(conn) == "<ControlConnection closed>"
    assert Closed() == Closed()


def test_secrets_leave_the_reply_before_it_is_handed_on():
    conn = ready()
    command = codec.session_create("STREAM", "s", options={"i2cp.leaseSetSecret": "hunter2"})
    conn.send(command)
    [event] = events(conn, b"SESSION STATUS RESULT=OK DESTINATION=abc MESSAGE=hunter2\n")
    assert "hunter2" not in repr(event.reply)


def test_error_replies_follow_the_dialect():
    conn = ready()
    conn.send(codec.naming_lookup("x"))
    [event] = events(conn, b"SESSION STATUS RESULT=I2P_ERROR MESSAGE=bad\n")
    assert isinstance(event, Refused)
    conn.dialect = conn.dialect.learned(error_replies=frozenset())
    conn.send(codec.naming_lookup("x"))
    [event] = events(conn, b"SESSION STATUS RESULT=I2P_ERROR MESSAGE=bad\n")
    assert isinstance(event, Failed)
