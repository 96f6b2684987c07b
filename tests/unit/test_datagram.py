"""Datagram ports without a router: headers, limits, malformed packets."""

from __future__ import annotations

import hashlib

import pytest
import pytest_twisted
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import MemoryReactorClock

from txi2p.address import I2PAddress, b64encode
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.datagram import MAX_DGRAM, MAX_RAW, DatagramTooLarge, I2PDatagramEndpoint, I2PDatagramPort
from txi2p.sam import codec
from txi2p.sam.dialect import SAMDialect
from txi2p.testing.fakes import fake_private_key


class FakeControl:
    def __init__(self, version):
        self.dialect = SAMDialect.for_version(version)
        self.on_packet = None
        self.sent = []

    def send_packet(self, command):
        self.sent.append(command)


class FakeSession:
    def __init__(self, version="3.0"):
        self.control = FakeControl(version)
        self.key = fake_private_key()
        self.destination = self.key.destination
        self.b32 = self.destination.b32
        self.nickname = "dg"


class FakeUDP:
    def __init__(self):
        self.written = []

    def write(self, data, addr):
        self.written.append((data, addr))


class Inbox(DatagramProtocol):
    def __init__(self):
        self.packets = []

    def datagramReceived(self, data, addr):
        self.packets.append((data, addr))


def make_port(kind="DATAGRAM", mode="udp", version="3.0", from_port=None):
    session = FakeSession(version)
    udp = FakeUDP()
    proto = Inbox()
    port = I2PDatagramPort(MemoryReactorClock(), session, proto, kind, mode, udp, ("127.0.0.1", 7655),
                           from_port=from_port, prime=False)
    proto.makeConnection(port)
    return port, udp, proto


def test_udp_header_without_ports_on_30():
    port, udp, _ = make_port()
    dest = fake_private_key().destination
    port._send_now(b"payload", dest, 80)
    (packet, addr), = udp.written
    assert addr == ("127.0.0.1", 7655)
    assert packet == f"3.0 dg {dest.base64}\n".encode() + b"payload"


def test_udp_header_with_ports_on_33():
    port, udp, _ = make_port(version="3.3", from_port=5)
    dest = fake_private_key().destination
    port._send_now(b"x", dest, 80)
    assert udp.written[0][0].startswith(f"3.0 dg {dest.base64} FROM_PORT=5 TO_PORT=80\n".encode())


def test_limits_raise_before_anything_is_sent():
    port, udp, _ = make_port()
    dest = fake_private_key().destination
    assert port.max_size == MAX_DGRAM
    with pytest.raises(DatagramTooLarge, match="over the limit"):
        port.write(b"x" * (MAX_DGRAM + 1), dest)
    raw, raw_udp, _ = make_port("RAW")
    assert raw.max_size < MAX_RAW  # the header shares i2pd's 32768-byte UDP buffer
    with pytest.raises(DatagramTooLarge):
        raw.write(b"x" * (raw.max_size + 1), dest)
    control, _, _ = make_port(mode="control")
    assert control.max_size == 7600
    assert udp.written == [] and raw_udp.written == []


def test_control_mode_sends_datagram_send():
    port, _, _ = make_port(mode="control")
    dest = fake_private_key().destination
    port._send_now(b"abc", dest, None)
    (cmd,), = [port.session.control.sent]
    assert cmd.encode() == f"DATAGRAM SEND DESTINATION={dest.base64} SIZE=3\n".encode() + b"abc"


def test_received_datagrams_and_malformed_ones_are_dropped():
    port, _, proto = make_port()
    sender = fake_private_key().destination
    port._udp_received(sender.base64.encode() + b" FROM_PORT=7 TO_PORT=9\nhello", ("127.0.0.1", 7655))
    assert proto.packets == [(b"hello", I2PAddress(sender, port=7))]
    for bad in (b"no newline", b"notadest\npayload", b"\xff\xfe\npayload"):
        port._udp_received(bad, ("127.0.0.1", 7655))
    port._udp_received(sender.base64.encode() + b"\nspoofed", ("127.0.0.2", 7655))
    assert len(proto.packets) == 1 and port.dropped == 4


def test_raw_packets_have_no_sender_and_protocol_errors_do_not_stop_the_port():
    port, _, proto = make_port("RAW")

    def boom(data, addr):
        raise RuntimeError("user bug")

    port._udp_received(b"one", ("127.0.0.1", 7655))
    proto.datagramReceived = boom
    port._udp_received(b"two", ("127.0.0.1", 7655))
    assert port.received == 2 and port.listening


def test_control_packets():
    port, _, proto = make_port(mode="control")
    sender = fake_private_key().destination
    port._control_received(codec.Packet("DATAGRAM", b"hi", {"DESTINATION": sender.base64, "SIZE": "2"}))
    port._control_received(codec.Packet("DATAGRAM", b"bad", {"DESTINATION": "xx", "SIZE": "3"}))
    assert proto.packets == [(b"hi", I2PAddress(sender))] and port.dropped == 1


@pytest.mark.parametrize("mode", ["udp", "control"])
def test_datagram3_senders_are_b32_names(mode):
    """DATAGRAM3 carries the sender's hash only: the protocol gets its
    ``.b32.i2p`` name (no destination), which a reply can be sent to."""
    port, _, proto = make_port("DATAGRAM3", mode=mode)
    sender = fake_private_key().destination
    digest = b64encode(hashlib.sha256(sender.raw).digest())
    assert len(digest) == 44
    if mode == "udp":
        port._udp_received(digest.encode() + b" FROM_PORT=7\nhello", ("127.0.0.1", 7655))
    else:
        port._control_received(codec.Packet("DATAGRAM", b"hello", {"DESTINATION": digest, "SIZE": "5",
                                                                    "FROM_PORT": "7"}))
    ((data, addr),) = proto.packets
    assert data == b"hello" and addr.destination is None and addr.host == sender.b32 and addr.port == 7
    assert addr == I2PAddress(None, host=sender.b32.upper(), port=7)
    assert addr != I2PAddress(None, host=fake_private_key().destination.b32, port=7)
    assert addr != I2PAddress(sender, port=7)  # a name is not (yet) its destination


def test_datagram_styles():
    reactor = MemoryReactorClock()
    assert I2PDatagramEndpoint(reactor).kind == "DATAGRAM"
    assert I2PDatagramEndpoint(reactor, session_config=SessionConfig.build(style="RAW")).kind == "RAW"
    for style in ("DATAGRAM", "DATAGRAM2", "DATAGRAM3", "RAW"):
        assert I2PDatagramEndpoint(reactor, session_config=SessionConfig.build(style=style)).kind == style
    with pytest.raises(ValueError, match="style must be one of"):
        I2PDatagramEndpoint(reactor, session_config=SessionConfig.build(style="DATAGRAM4"))
    with pytest.raises(TypeError):  # the style is the session config's, not a flag beside it (issue 26)
        I2PDatagramEndpoint(reactor, raw=True, session_config=SessionConfig.build(style="DATAGRAM2"))  # type: ignore[call-arg]
    assert make_port("DATAGRAM2")[0].max_size == make_port("DATAGRAM")[0].max_size


@pytest.mark.parametrize("make,match", [
    (lambda: dict(delivery="carrier-pigeon"), "transport"),
    (lambda: dict(session_config=SessionConfig.build(nickname="a b", style="DATAGRAM")), "session"),
    (lambda: dict(from_port=70000), "from_port"),
])
def test_endpoint_arguments_validated(make, match):
    with pytest.raises(ValueError, match=match):
        I2PDatagramEndpoint(MemoryReactorClock(), **make())


def test_transport_choice():
    reactor = MemoryReactorClock()
    def at(address, **kw):
        return I2PDatagramEndpoint(reactor, bridge_config=BridgeConfig(address, **kw))

    assert at("127.0.0.1:7656").delivery == "udp"
    assert at("10.1.2.3:7656", allow_remote=True).delivery == "control"
    # one loopback rule everywhere (it used to be a string prefix here)
    for local in ("127.0.0.2:7656", "[::1]:7656", "localhost:7656"):
        assert at(local).delivery == "udp", local
    for remote in ("127.example.org:7656", "localhost.example.org:7656"):
        assert at(remote, allow_remote=True).delivery == "control", remote
    with pytest.raises(ValueError, match="not on this machine"):
        at("10.1.2.3:7656")


@pytest.mark.parametrize("profile", ["i2pd 2.45.1", "i2pd 2.58.0", "Java I2P 2.7.0"])
@pytest_twisted.ensureDeferred
async def test_datagram2_sessions_where_the_router_has_them(fake_sam, profile):
    """DATAGRAM2/3 go to the router as asked; one that refuses the style
    gives UnsupportedByRouter saying what to use instead."""
    from twisted.internet import reactor

    from txi2p.bridge import SAMBridge
    from txi2p.errors import UnsupportedByRouter
    from txi2p.testing.fake_bridge import PROFILES

    fake, address = fake_sam(PROFILES[profile])
    bridge = SAMBridge(reactor, address)
    for style in ("DATAGRAM2", "DATAGRAM3"):
        if style in PROFILES[profile].datagram_styles:
            session = await bridge.create_session(style, f"s-{style}", extra={"PORT": "0"})
            assert session.style == style and f"STYLE={style}" in fake.commands[-1]
            session.close()
        else:
            with pytest.raises(UnsupportedByRouter, match=f"refused STYLE={style}.*use DATAGRAM"):
                await bridge.create_session(style, f"s-{style}", extra={"PORT": "0"})
