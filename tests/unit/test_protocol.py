"""Control and data channel protocols on in-memory transports."""

from __future__ import annotations

import pytest
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from txi2p import errors
from txi2p.address import I2PAddress
from txi2p.protocol import SAMControlProtocol, SAMStreamProtocol, Timeouts
from txi2p.sam import codec
from txi2p.testing.fakes import fake_private_key

HELLO_OK = b"HELLO REPLY RESULT=OK VERSION=3.0\n"


def failure_of(d):
    box = []
    d.addErrback(box.append)
    assert box, "Deferred has not failed"
    return box[0].value


def result_of(d):
    box = []
    d.addCallback(box.append)
    assert box, "Deferred has not fired"
    return box[0]


def make_control(timeouts=None):
    clock = Clock()
    proto = SAMControlProtocol(clock, codec.hello(), "127.0.0.1:7656", timeouts)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport, clock


def test_hello_first_then_one_command_at_a_time():
    proto, transport, _clock = make_control()
    d1 = proto.command(codec.naming_lookup("ME"))
    d2 = proto.command(codec.dest_generate())
    assert transport.value() == b"HELLO VERSION MIN=3.0 MAX=3.3\n"
    transport.clear()
    proto.dataReceived(HELLO_OK)
    assert result_of(proto.ready).version == "3.0"
    assert transport.value() == b"NAMING LOOKUP NAME=ME\n"  # the second waits
    transport.clear()
    proto.dataReceived(b"NAMING REPLY RESULT=OK NAME=ME VALUE=abc\n")
    assert result_of(d1).get("VALUE") == "abc"
    assert transport.value() == b"DEST GENERATE SIGNATURE_TYPE=7\n"
    proto.dataReceived(b"DEST REPLY PUB=a PRIV=b\n")
    assert result_of(d2).get("PRIV") == "b"


def test_dialect_from_version_says_what_the_spec_allows():
    proto, _transport, _ = make_control()
    proto.dataReceived(b"HELLO REPLY RESULT=OK VERSION=3.3\n")
    d = result_of(proto.ready)
    # PING is not known to be safe until probed: i2pd 2.58 closes after PONG.
    assert d.primary_style == "PRIMARY" and d.ping is None and d.ports


def test_noversion():
    proto, transport, _ = make_control()
    proto.dataReceived(b"HELLO REPLY RESULT=NOVERSION\n")
    assert isinstance(failure_of(proto.ready), errors.NoVersion)
    assert transport.disconnecting


def test_error_result_maps_to_class_and_queue_goes_on():
    proto, _transport, _ = make_control()
    proto.dataReceived(HELLO_OK)
    d1 = proto.command(codec.naming_lookup("nope.i2p"))
    d2 = proto.command(codec.naming_lookup("ME"))
    proto.dataReceived(b"NAMING REPLY RESULT=INVALID_KEY NAME=nope.i2p\n")
    err = failure_of(d1)
    assert isinstance(err, errors.InvalidKey) and err.command == "NAMING LOOKUP"
    proto.dataReceived(b"NAMING REPLY RESULT=OK NAME=ME VALUE=x\n")
    assert result_of(d2).ok


def test_command_timeout_fails_everything_and_closes():
    proto, transport, clock = make_control(Timeouts(command=5))
    proto.dataReceived(HELLO_OK)
    d1 = proto.command(codec.session_add("STREAM", "x"))
    d2 = proto.command(codec.naming_lookup("ME"))
    clock.advance(4.9)
    assert not d1.called
    clock.advance(0.2)
    err = failure_of(d1)
    assert isinstance(err, errors.CommandTimeout) and "SESSION ADD" in str(err) and "7656" in str(err)
    assert isinstance(failure_of(d2), errors.CommandTimeout)
    assert transport.disconnecting
    # Later commands fail at once rather than hang.
    assert isinstance(failure_of(proto.command(codec.naming_lookup("ME"))), errors.TxI2PError)


def test_per_command_timeout():
    proto, _transport, clock = make_control(Timeouts(command=5))
    proto.dataReceived(HELLO_OK)
    d = proto.command(codec.session_create("STREAM", "x"), timeout=60)
    clock.advance(30)
    assert not d.called
    clock.advance(31)
    assert isinstance(failure_of(d), errors.CommandTimeout)


def test_hello_timeout():
    proto, _transport, clock = make_control(Timeouts(command=3))
    clock.advance(3.1)
    assert isinstance(failure_of(proto.ready), errors.CommandTimeout)


def test_connection_lost_fails_pending_with_clear_error():
    proto, _transport, _ = make_control()
    proto.dataReceived(HELLO_OK)
    d = proto.command(codec.naming_lookup("ME"))
    closed = []
    proto.on_close = closed.append
    proto.connectionLost(Failure(ConnectionResetError("reset by peer")))
    err = failure_of(d)
    assert isinstance(err, errors.SAMConnectionLost)
    assert "127.0.0.1:7656" in str(err) and "reset by peer" in str(err)
    assert len(closed) == 1
    assert isinstance(failure_of(proto.command(codec.naming_lookup("ME"))), errors.SAMConnectionLost)


def test_garbage_fails_with_protocol_error():
    proto, transport, _ = make_control()
    proto.dataReceived(HELLO_OK)
    d = proto.command(codec.naming_lookup("ME"))
    proto.dataReceived(b"\xff\xfe garbage\n")
    assert isinstance(failure_of(d), errors.SAMProtocolError)
    assert transport.disconnecting


def test_router_ping_answered_with_pong():
    proto, transport, _ = make_control()
    proto.dataReceived(HELLO_OK)
    transport.clear()
    proto.dataReceived(b"PING 1234\n")
    assert transport.value() == b"PONG 1234\n"


def test_ping_refused_where_router_closes_on_it():
    proto, _transport, _ = make_control()
    proto.dataReceived(HELLO_OK)
    with pytest.raises(errors.SAMError):
        proto.ping()


def test_no_keepalive_until_started():
    proto, transport, clock = make_control(Timeouts(keepalive=10))
    proto.dataReceived(b"HELLO REPLY RESULT=OK VERSION=3.3\n")
    transport.clear()
    clock.advance(30)
    assert transport.value() == b""


def test_keepalive_pings_once_started():
    proto, transport, clock = make_control(Timeouts(keepalive=10))
    proto.dataReceived(b"HELLO REPLY RESULT=OK VERSION=3.2\n")
    proto.start_keepalive()
    transport.clear()
    clock.advance(10)
    assert transport.value() == b"PING txi2p\n"
    proto.dataReceived(b"PONG txi2p\n")
    transport.clear()
    clock.advance(10)
    assert transport.value() == b"PING txi2p\n"


def test_packets_go_to_on_packet():
    proto, _transport, _ = make_control()
    proto.dataReceived(HELLO_OK)
    got = []
    proto.on_packet = got.append
    proto.dataReceived(b"RAW RECEIVED SIZE=3\nabc")
    assert got == [codec.Packet("RAW", b"abc", {"SIZE": "3"})]


def test_cancel_unsent_command():
    proto, transport, _ = make_control()
    proto.dataReceived(HELLO_OK)
    d1 = proto.command(codec.naming_lookup("ME"))
    d2 = proto.command(codec.dest_generate())
    d2.cancel()
    d2.addErrback(lambda f: None)
    transport.clear()
    proto.dataReceived(b"NAMING REPLY RESULT=OK VALUE=x\n")
    assert result_of(d1).ok
    assert transport.value() == b""


# ---------------------------------------------------------------- data channel


class Recorder(Protocol):
    def __init__(self):
        self.data = b""
        self.lost = None

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.lost = reason


class SwappableTransport(StringTransport):
    """Like a TCP transport: has a ``protocol`` attribute that can be swapped."""

    protocol = None


def make_stream(command, peer=None):
    clock = Clock()
    host = I2PAddress(fake_private_key().destination)
    factory = Factory.forProtocol(Recorder)
    proto = SAMStreamProtocol(clock, codec.hello(), command, factory, host, peer, 30, "sam:1")
    transport = SwappableTransport()
    transport.protocol = proto
    proto.makeConnection(transport)
    return proto, transport, clock, host


def test_stream_connect_hands_transport_to_user_protocol():
    peer_dest = fake_private_key().destination
    peer = I2PAddress(peer_dest, port=80)
    proto, transport, _, host = make_stream(codec.stream_connect("s", peer_dest.base64, to_port=80), peer)
    assert transport.value() == b"HELLO VERSION MIN=3.0 MAX=3.3\n"
    transport.clear()
    proto.dataReceived(HELLO_OK)
    assert transport.value().startswith(b"STREAM CONNECT ID=s ")
    proto.dataReceived(b"STREAM STATUS RESULT=OK\nearly bytes")
    user = result_of(proto.established)
    assert transport.protocol is user  # bytes now go straight to the user
    assert user.data == b"early bytes"
    assert user.transport.getPeer() == peer and user.transport.getHost() == host
    assert user.transport.write == transport.write
    transport.clear()
    user.transport.write(b"out")
    assert transport.value() == b"out"


def test_a_user_protocol_that_rebinds_data_received_gets_the_bytes_there():
    """Foolscap's negotiation hands its connection to a broker by rebinding
    ``dataReceived`` on itself; with the session watching for the close
    (``on_lost``), later bytes must still reach the new method."""
    peer_dest = fake_private_key().destination
    lost = []
    clock = Clock()
    host = I2PAddress(fake_private_key().destination)
    factory = Factory.forProtocol(Recorder)
    proto = SAMStreamProtocol(clock, codec.hello(), codec.stream_connect("s", peer_dest.base64), factory,
                              host, I2PAddress(peer_dest), 30, "sam:1", None, lost.append)
    transport = SwappableTransport()
    transport.protocol = proto
    proto.makeConnection(transport)
    proto.dataReceived(HELLO_OK)
    proto.dataReceived(b"STREAM STATUS RESULT=OK\n")
    user = result_of(proto.established)
    broker = Recorder()
    user.dataReceived = broker.dataReceived
    transport.protocol.dataReceived(b"after the switch")
    assert broker.data == b"after the switch" and user.data == b""
    transport.protocol.connectionLost(Failure(ConnectionError("closed")))
    assert user.lost is not None and len(lost) == 1


def test_stream_connect_fails_with_cant_reach_peer():
    dest = fake_private_key().destination
    proto, _transport, _, _ = make_stream(codec.stream_connect("s", dest.base64), I2PAddress(dest))
    proto.dataReceived(HELLO_OK + b"STREAM STATUS RESULT=CANT_REACH_PEER\n")
    assert isinstance(failure_of(proto.established), errors.CantReachPeer)


def test_stream_accept_peer_line_and_data_in_one_read():
    proto, _transport, _, _ = make_stream(codec.stream_accept("s"))
    proto.dataReceived(HELLO_OK)
    proto.dataReceived(b"STREAM STATUS RESULT=OK\n")
    assert proto.accepting and not proto.established.called
    peer = fake_private_key().destination
    proto.dataReceived(peer.base64.encode() + b" FROM_PORT=7 TO_PORT=80\nGET / HTTP/1.0\r\n")
    user = result_of(proto.established)
    assert user.transport.getPeer() == I2PAddress(peer, port=7)
    assert user.data == b"GET / HTTP/1.0\r\n"


def test_stream_timeout_and_lost():
    proto, _transport, clock, _ = make_stream(codec.stream_accept("s"))
    clock.advance(31)
    assert isinstance(failure_of(proto.established), errors.CommandTimeout)
    proto2, _transport2, _, _ = make_stream(codec.stream_accept("s"))
    proto2.dataReceived(HELLO_OK + b"STREAM STATUS RESULT=OK\n")
    proto2.connectionLost(Failure(ConnectionResetError("gone")))
    err = failure_of(proto2.established)
    assert isinstance(err, errors.SAMConnectionLost) and "waiting for a peer" in str(err)


def test_stream_relays_when_transport_cannot_be_swapped():
    clock = Clock()
    host = I2PAddress(fake_private_key().destination)
    proto = SAMStreamProtocol(clock, codec.hello(), codec.stream_accept("s"),
                              Factory.forProtocol(Recorder), host, None, 30, "sam:1")
    transport = StringTransport()  # no protocol attribute
    proto.makeConnection(transport)
    peer = fake_private_key().destination
    proto.dataReceived(HELLO_OK + b"STREAM STATUS RESULT=OK\n" + peer.base64.encode() + b"\n")
    user = result_of(proto.established)
    proto.dataReceived(b"more")
    assert user.data == b"more"
    proto.connectionLost(Failure(ConnectionResetError()))
    assert user.lost is not None


class TLSRecorder(SwappableTransport):
    _tlsClientDefault = True  # like every SAM data connection: a TCP client

    def startTLS(self, ctx, normal=True):
        self.tls = (ctx, normal)


@pytest.mark.parametrize("command,expected_normal", [
    (codec.stream_connect("s", fake_private_key().destination.base64), True),   # we opened it: TLS client
    (codec.stream_accept("s"), False),                                          # accepted: TLS server
])
def test_start_tls_side_follows_the_i2p_stream(command, expected_normal):
    clock = Clock()
    peer = fake_private_key().destination
    proto = SAMStreamProtocol(clock, codec.hello(), command, Factory.forProtocol(Recorder),
                              I2PAddress(fake_private_key().destination), I2PAddress(peer), 30, "sam")
    transport = TLSRecorder()
    transport.protocol = proto
    proto.makeConnection(transport)
    proto.dataReceived(HELLO_OK + b"STREAM STATUS RESULT=OK\n")
    if command.action == "ACCEPT":
        proto.dataReceived(peer.base64.encode() + b"\n")
    user = result_of(proto.established)
    user.transport.startTLS("ctx")
    assert transport.tls == ("ctx", expected_normal)
