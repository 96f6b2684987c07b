"""txi2p's public API against a bridge that answers the wrong way (issue 22's scenarios)."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport

from txi2p import errors
from txi2p.address import I2PAddress
from txi2p.bridge import SAMBridge
from txi2p.listening import FORWARD_PEER_LINE_TIMEOUT, MAX_FORWARD_WAITING, ForwardGate
from txi2p.protocol import SAMStreamProtocol
from txi2p.testing.fakes import fake_private_key
from txi2p.testing.hostile_bridge import SCENARIOS, HostileSAMBridge, Scenario


@pytest.fixture
def hostile():
    ports = []

    def start(scenario: Scenario | str) -> tuple[HostileSAMBridge, SAMBridge]:
        fake = HostileSAMBridge(SCENARIOS[scenario] if isinstance(scenario, str) else scenario)
        port = reactor.listenTCP(0, fake, interface="127.0.0.1")
        ports.append(port)
        return fake, SAMBridge(reactor, f"127.0.0.1:{port.getHost().port}")

    yield start
    for port in ports:
        port.stopListening()


@pytest.mark.parametrize("scenario,words", [
    ("reply-of-another-kind", "expected HELLO REPLY"),
    ("hello-without-result", "no RESULT"),
    ("session-status-for-lookup", "expected NAMING REPLY"),
    ("no-result", "no RESULT"),
    ("repeated-result", "repeats the key RESULT"),
    ("version-not-asked", "outside the MIN=3.0 MAX=3.3"),
    ("version-not-ascii", "bad VERSION"),
    ("ping-with-carriage-return", "PING with text that is not printable"),
])
@pytest_twisted.ensureDeferred
async def test_wrong_answers_to_a_lookup_are_protocol_errors(hostile, scenario, words):
    _fake, bridge = hostile(scenario)
    with pytest.raises(errors.SAMProtocolError, match=words):
        await bridge.lookup("x.i2p")


@pytest_twisted.ensureDeferred
async def test_control_characters_are_escaped_in_the_error(hostile):
    _fake, bridge = hostile("control-characters")
    with pytest.raises(errors.I2PError) as caught:
        await bridge.lookup("x.i2p")
    text = str(caught.value)
    assert not any(c in text for c in "\x1b\x07\r") and "\\x1b[2J" in text


@pytest_twisted.ensureDeferred
async def test_a_huge_certificate_is_an_invalid_key(hostile):
    _fake, bridge = hostile("huge-certificate")
    with pytest.raises(errors.InvalidKey, match="NULL or KEY") as caught:
        await bridge.lookup("x.i2p")
    assert "router said" not in str(caught.value)


@pytest_twisted.ensureDeferred
async def test_a_second_hello_reply_on_a_data_connection_is_not_a_stream(hostile):
    _fake, bridge = hostile("second-hello-on-data")
    session = await bridge.create_session("STREAM", "s1")
    try:
        with pytest.raises(errors.SAMProtocolError, match="expected STREAM STATUS"):
            await session.connect(fake_private_key().destination, Factory.forProtocol(Protocol))
    finally:
        await session.close()


@pytest_twisted.ensureDeferred
async def test_a_ping_flood_the_bridge_never_reads_pauses_reading(hostile):
    _fake, bridge = hostile("ping-flood-unread")
    control = await bridge.control()
    for _ in range(300):  # the kernel's buffers fill first (up to some MiB on loopback)
        if control._writes_blocked:
            break
        await deferLater(reactor, 0.1, lambda: None)
    assert control._writes_blocked  # reading stopped: what is buffered stays bounded
    assert control.transport.producerPaused  # the TCP transport's own flag
    control.close()


# ---------------------------------------------------------------- STREAM FORWARD connections


def make_gate():
    clock = Clock()
    host = I2PAddress(fake_private_key().destination)

    def build():
        return SAMStreamProtocol(clock, None, None, Factory.forProtocol(Protocol), host,
                                 timeout=FORWARD_PEER_LINE_TIMEOUT, sam_address="sam:1")

    return ForwardGate(build, "test forward"), clock


def connect(gate):
    proto = gate.buildProtocol(None)
    if proto is None:
        return None, None
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def test_a_forwarded_connection_must_send_its_peer_line_in_time():
    gate, clock = make_gate()
    proto, transport = connect(gate)
    proto.dataReceived(b"AAAA")  # trickled bytes do not reset the timer
    clock.advance(FORWARD_PEER_LINE_TIMEOUT)
    assert transport.disconnecting and gate.waiting == 0  # and no unhandled error (conftest)


def test_a_garbage_peer_line_closes_without_an_unhandled_error():
    gate, _clock = make_gate()
    proto, transport = connect(gate)
    proto.dataReceived(b"garbage\n")
    assert transport.disconnecting and gate.waiting == 0


def test_forwarded_connections_waiting_for_a_peer_line_are_capped():
    gate, clock = make_gate()
    held = [connect(gate) for _ in range(MAX_FORWARD_WAITING)]
    assert all(proto is not None for proto, _ in held)
    assert connect(gate) == (None, None)  # closed at once
    clock.advance(FORWARD_PEER_LINE_TIMEOUT)  # the waiting ones time out
    assert gate.waiting == 0 and connect(gate)[0] is not None


def test_a_burst_of_the_routers_forwarded_connections_is_not_refused():
    """The reactor accepts a burst of the router's connections before it reads
    any peer line: a wave of 500 must all get through the cap."""
    gate, _clock = make_gate()
    burst = [connect(gate) for _ in range(500)]
    assert all(proto is not None for proto, _ in burst)


def test_the_name_cache_is_bounded():
    from txi2p.naming import MAX_CACHED_NAMES

    bridge = SAMBridge(reactor, "127.0.0.1:7656")
    dest = fake_private_key().destination
    for i in range(MAX_CACHED_NAMES + 10):
        bridge.names.remember(f"name{i}.i2p", dest)
    assert len(bridge.names.cached) == MAX_CACHED_NAMES
    assert "name0.i2p" not in bridge.names.cached and f"name{MAX_CACHED_NAMES + 9}.i2p" in bridge.names.cached
