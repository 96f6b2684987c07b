"""A bridge's well-formed but wrong answers: every reply checked against its command."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure

from txi2p import errors
from txi2p.address import Destination, I2PAddress, b64encode
from txi2p.protocol import MAX_QUEUED, MAX_UNSOLICITED_LOGGED, SAMControlProtocol, SAMStreamProtocol
from txi2p.sam import codec
from txi2p.sam.replies import REPLIES, check_reply
from txi2p.testing.fakes import fake_private_key

from .test_protocol import HELLO_OK, failure_of, result_of


class AbortableTransport(StringTransport):
    aborted = False

    def abortConnection(self):
        self.aborted = True
        self.loseConnection()


def make_control():
    proto = SAMControlProtocol(Clock(), codec.hello(), "127.0.0.1:7656")
    transport = AbortableTransport()
    proto.makeConnection(transport)
    return proto, transport


def ready_control():
    proto, transport = make_control()
    proto.dataReceived(HELLO_OK)
    transport.clear()
    return proto, transport


# ---------------------------------------------------------------- the table


def test_every_command_txi2p_sends_with_a_reply_is_in_the_table():
    for command in (codec.hello(), codec.session_create("STREAM", "s"), codec.session_add("STREAM", "s"),
                    codec.session_remove("s"), codec.stream_connect("s", "d"), codec.stream_accept("s"),
                    codec.stream_forward("s", 1), codec.naming_lookup("ME"), codec.dest_generate(),
                    codec.auth_enable(), codec.auth_disable(), codec.auth_add("u", "p"), codec.auth_remove("u")):
        assert command.name in REPLIES


@pytest.mark.parametrize("command,line,expected", [
    ("HELLO VERSION", "STREAM STATUS RESULT=OK", "expected HELLO REPLY"),
    ("NAMING LOOKUP", "SESSION STATUS RESULT=OK", "expected NAMING REPLY"),
    ("HELLO VERSION", "HELLO REPLY VERSION=3.0", "no RESULT"),
    ("NAMING LOOKUP", "NAMING REPLY NAME=x VALUE=y", "no RESULT"),
    ("DEST GENERATE", "DEST REPLY PUB=abc", "without PRIV"),
    ("STREAM CONNECT", "NAMING REPLY RESULT=OK", "expected STREAM STATUS"),
])
def test_a_reply_of_the_wrong_kind_or_without_result_is_a_protocol_error(command, line, expected):
    reply = codec.parse_line(line.encode())
    with pytest.raises(errors.SAMProtocolError, match=expected):
        check_reply(command, reply, {"SESSION STATUS"})


def test_error_replies_of_the_dialect_are_taken_only_as_errors():
    # i2pd: SESSION STATUS RESULT=I2P_ERROR answers a command of any kind.
    error = codec.parse_line(b"SESSION STATUS RESULT=I2P_ERROR MESSAGE=bad")
    assert check_reply("NAMING LOOKUP", error, {"SESSION STATUS"}) is error
    with pytest.raises(errors.SAMProtocolError):
        check_reply("NAMING LOOKUP", error, ())


def test_dest_reply_needs_no_result():
    reply = codec.parse_line(b"DEST REPLY PUB=abc PRIV=def")
    assert check_reply("DEST GENERATE", reply) is reply


# ---------------------------------------------------------------- control channel


def test_hello_answered_with_stream_status_fails_and_aborts():
    proto, transport = make_control()
    proto.dataReceived(b"STREAM STATUS RESULT=OK\n")
    error = failure_of(proto.ready)
    assert isinstance(error, errors.SAMProtocolError) and "HELLO REPLY" in str(error)
    assert transport.aborted


@pytest.mark.parametrize("line,error,aborted", [
    (b"SESSION STATUS RESULT=OK\n", errors.SAMProtocolError, True),  # not an answer to a lookup
    (b"SESSION STATUS RESULT=I2P_ERROR MESSAGE=oops\n", errors.I2PError, False),  # i2pd's error answer
])
def test_lookup_answered_with_session_status(line, error, aborted):
    proto, transport = ready_control()
    d = proto.command(codec.naming_lookup("ME"))
    proto.dataReceived(line)
    assert isinstance(failure_of(d), error)
    assert transport.aborted == aborted


def test_reply_without_result_is_not_success():
    proto, _transport = ready_control()
    d = proto.command(codec.naming_lookup("ME"))
    proto.dataReceived(b"NAMING REPLY NAME=ME VALUE=abc\n")
    assert isinstance(failure_of(d), errors.SAMProtocolError)


def test_repeated_key_is_a_protocol_error():
    proto, transport = ready_control()
    d = proto.command(codec.naming_lookup("x.i2p"))
    proto.dataReceived(b"NAMING REPLY RESULT=KEY_NOT_FOUND RESULT=OK NAME=x.i2p\n")
    error = failure_of(d)
    assert isinstance(error, errors.SAMProtocolError) and "repeats the key RESULT" in str(error)
    assert transport.aborted


@pytest.mark.parametrize("version", ["9.9", "2.9", "3.\u0661", "\u0663.0", "3.1.1", "x"])
def test_version_outside_what_was_asked_or_not_ascii_is_refused(version):
    proto, transport = make_control()
    proto.dataReceived(f"HELLO REPLY RESULT=OK VERSION={version}\n".encode())
    assert isinstance(failure_of(proto.ready), errors.SAMProtocolError)
    assert transport.aborted


def test_version_within_what_was_asked_is_taken():
    proto, _transport = make_control()
    proto.dataReceived(b"HELLO REPLY RESULT=OK VERSION=3.2\n")
    assert result_of(proto.ready).version == "3.2"


def test_control_characters_never_reach_the_error_text():
    proto, _transport = ready_control()
    d = proto.command(codec.naming_lookup("ME"))
    proto.dataReceived(b'NAMING REPLY RESULT=I2P_ERROR MESSAGE="a\x1b[2Jb\x07c"\n')
    error = failure_of(d)
    text = str(error)
    assert "\x1b" not in text and "\x07" not in text and "\\x1b[2Jb\\x07c" in text


def test_ping_with_a_carriage_return_is_a_protocol_error_not_a_traceback():
    proto, transport = ready_control()
    d = proto.command(codec.naming_lookup("ME"))
    proto.dataReceived(b"PING a\rb\n")  # must not raise out of dataReceived
    assert isinstance(failure_of(d), errors.SAMProtocolError)
    assert transport.aborted and b"PONG" not in transport.value()


def test_ping_text_is_bounded():
    proto, transport = ready_control()
    proto.dataReceived(b"PING " + b"x" * (codec.MAX_PING_TEXT + 1) + b"\n")
    assert transport.aborted and transport.value() == b""


def test_pong_writes_are_flow_controlled():
    proto, transport = ready_control()
    assert transport.producer is proto and transport.streaming
    proto.pauseProducing()  # the transport's buffer is full: the bridge does not read
    assert transport.producerState == "paused"  # so no more PINGs are read
    proto.resumeProducing()
    assert transport.producerState == "producing"


def test_queued_commands_are_bounded():
    proto, _transport = make_control()  # HELLO unanswered: everything waits
    waiting = [proto.command(codec.naming_lookup("ME")) for _ in range(MAX_QUEUED - 1)]
    extra = proto.command(codec.naming_lookup("ME"))
    assert isinstance(failure_of(extra), errors.TxI2PError)
    assert not any(d.called for d in waiting)


def test_unsolicited_replies_are_logged_a_bounded_number_of_times():
    proto, transport = ready_control()
    with capturedLogs() as events:
        for _ in range(MAX_UNSOLICITED_LOGGED * 3):
            proto.dataReceived(b"STREAM STATUS RESULT=OK\n")
    assert len([e for e in events if "unsolicited" in e["log_format"]]) == MAX_UNSOLICITED_LOGGED
    assert not transport.aborted


# ---------------------------------------------------------------- data channel


class Recorder(Protocol):
    pass


def make_stream(command):
    host = I2PAddress(fake_private_key().destination)
    proto = SAMStreamProtocol(Clock(), codec.hello(), command, Factory.forProtocol(Recorder), host,
                              I2PAddress(fake_private_key().destination), 30, "sam:1")
    transport = AbortableTransport()
    proto.makeConnection(transport)
    return proto, transport


def test_a_second_hello_reply_is_not_a_connected_stream():
    proto, transport = make_stream(codec.stream_connect("s", fake_private_key().destination.base64))
    proto.dataReceived(HELLO_OK + HELLO_OK)
    error = failure_of(proto.established)
    assert isinstance(error, errors.SAMProtocolError) and "STREAM STATUS" in str(error)
    assert transport.aborted


def test_data_connection_answers_ping_during_setup():
    proto, transport = make_stream(codec.stream_connect("s", fake_private_key().destination.base64))
    proto.dataReceived(HELLO_OK)
    transport.clear()
    proto.dataReceived(b"PING hi\n")
    assert transport.value() == b"PONG hi\n"
    proto.dataReceived(b"STREAM STATUS RESULT=OK\n")
    assert isinstance(result_of(proto.established), Recorder)


# ---------------------------------------------------------------- keys


def _with_certificate(cert_type, payload):
    raw = fake_private_key().destination.raw[:384]
    return raw + struct.pack(">BH", cert_type, len(payload)) + payload


@pytest.mark.parametrize("cert_type,payload", [
    (3, b"\x00" * 40000),  # a 40,000-byte SIGNED certificate
    (1, b"x" * 10),        # HASHCASH
    (4, b""),              # MULTIPLE
])
def test_destinations_carry_only_null_or_key_certificates(cert_type, payload):
    with pytest.raises(errors.InvalidKey, match="NULL or KEY") as caught:
        Destination.from_base64(b64encode(_with_certificate(cert_type, payload)))
    assert "router said" not in str(caught.value)  # txi2p found it, not a router


def test_errors_txi2p_finds_itself_do_not_say_router_said():
    with pytest.raises(errors.InvalidKey) as caught:
        Destination.from_base64("AAAA")
    assert caught.value.local and "router said" not in str(caught.value)
    routers = errors.error_for_result("INVALID_KEY", "bad key")
    assert not routers.local and "(router said: bad key)" in str(routers)


# ---------------------------------------------------------------- fuzzing the protocols

_LINES = st.sampled_from([
    b"HELLO REPLY RESULT=OK VERSION=3.1\n", b"HELLO REPLY RESULT=OK VERSION=9.9\n", b"HELLO REPLY VERSION=3.0\n",
    b"NAMING REPLY RESULT=OK NAME=ME VALUE=abc\n", b"NAMING REPLY RESULT=OK RESULT=OK\n",
    b"NAMING REPLY NAME=ME VALUE=abc\n", b"SESSION STATUS RESULT=I2P_ERROR MESSAGE=x\n",
    b"SESSION STATUS RESULT=OK\n", b"DEST REPLY PUB=a PRIV=b\n", b"DEST REPLY PUB=a\n", b"STREAM STATUS RESULT=OK\n",
    b"PING hi\n", b"PING a\rb\n", b"PONG\n", b'NAMING REPLY RESULT=I2P_ERROR MESSAGE="\x1b\x07"\n',
]) | st.binary(max_size=120)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINES, max_size=10))
def test_control_protocol_outcomes_are_txi2p_errors_or_justified_successes(chunks):
    proto, _transport = make_control()
    lookup = proto.command(codec.naming_lookup("ME"))
    generate = proto.command(codec.dest_generate())
    for chunk in chunks:
        proto.dataReceived(chunk)  # never raises
    outcomes = {}
    for name, d in (("ready", proto.ready), ("lookup", lookup), ("generate", generate)):
        d.addBoth(lambda result, name=name: outcomes.__setitem__(name, result))
    for name, result in outcomes.items():
        if isinstance(result, Failure):
            assert isinstance(result.value, errors.TxI2PError), result
        elif name == "lookup":
            assert result.name == "NAMING REPLY" and result.ok
        elif name == "generate":
            assert result.name == "DEST REPLY" and result.get("PRIV") and result.result is None
    assert proto._conn.decoder.buffered <= codec.MAX_LINE + 120


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINES, max_size=6))
def test_data_protocol_outcomes_are_txi2p_errors_or_justified_streams(chunks):
    proto, _transport = make_stream(codec.stream_connect("s", fake_private_key().destination.base64))
    seen = b""
    for chunk in chunks:
        if proto.established.called:
            break
        seen += chunk
        proto.dataReceived(chunk)  # never raises
    outcome = []
    proto.established.addBoth(outcome.append)
    if outcome and isinstance(outcome[0], Failure):
        assert isinstance(outcome[0].value, errors.TxI2PError), outcome[0]
    elif outcome:
        assert b"STREAM STATUS RESULT=OK\n" in seen


def test_pings_during_a_data_connection_setup_are_bounded():
    from txi2p.protocol import MAX_DATA_PINGS

    proto, transport = make_stream(codec.stream_connect("s", fake_private_key().destination.base64))
    proto.dataReceived(HELLO_OK)
    proto.dataReceived(b"PING x\n" * MAX_DATA_PINGS)
    assert not proto.established.called
    proto.dataReceived(b"PING x\n")
    assert isinstance(failure_of(proto.established), errors.SAMProtocolError) and transport.aborted
