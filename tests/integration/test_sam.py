"""SAM against real i2pd routers on the private test network."""

from __future__ import annotations

import hashlib
import os

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater

from txi2p import errors
from txi2p.address import I2PAddress, NameRecord, read_key_file, write_key_file
from txi2p.bridge import SAMBridge
from txi2p.sam import codec
from txi2p.sam.dialect import SAMDialect
from txi2p.testing import TEST_SESSION_OPTIONS, retry_unreachable

pytestmark = pytest.mark.integration


class Echo(Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class Collector(Protocol):
    """Collects bytes; ``wait_for(n)`` fires once n bytes arrived."""

    def __init__(self):
        self.data = bytearray()
        self.waiters = []
        self.lost = defer.Deferred()

    def dataReceived(self, data):
        self.data += data
        for n, d in list(self.waiters):
            if len(self.data) >= n:
                self.waiters.remove((n, d))
                d.callback(bytes(self.data))

    def wait_for(self, n, timeout=60):
        d = defer.Deferred()
        if len(self.data) >= n:
            d.callback(bytes(self.data))
        else:
            self.waiters.append((n, d))
        return d.addTimeout(timeout, reactor)

    def connectionLost(self, reason):
        self.reason = reason
        self.lost.callback(None)


async def assert_echoed(client, payload):
    """Write *payload* on *client* (a Collector's protocol), wait for it back, close."""
    client.transport.write(payload)
    assert await client.wait_for(len(payload)) == payload
    client.transport.loseConnection()


def accept_in_background(session, protocol_class=Echo):
    d = session.accept(Factory.forProtocol(protocol_class))
    d.addErrback(lambda f: f.trap(defer.CancelledError) and None)
    return d


@pytest_twisted.ensureDeferred
async def test_echo_round_trips_between_two_routers(i2p_sessions):
    alice, bob = i2p_sessions[:2]
    accepted = accept_in_background(bob)
    client = await alice.connect(bob.b32, Factory.forProtocol(Collector))
    server = await accepted
    assert client.transport.getPeer().destination == bob.destination
    assert client.transport.getHost() == alice.address
    assert server.transport.getPeer().destination == alice.destination
    assert isinstance(server.transport.getPeer(), I2PAddress)
    sent = b""
    for i in range(5):
        message = f"round trip {i}\n".encode()
        sent += message
        client.transport.write(message)
        assert await client.wait_for(len(sent)) == sent
    client.transport.loseConnection()
    await client.lost


@pytest_twisted.ensureDeferred
async def test_one_mebibyte_with_sha256(i2p_sessions):
    alice, bob = i2p_sessions[:2]
    payload = os.urandom(1024 * 1024)
    accepted = accept_in_background(bob)
    client = await alice.connect(bob.destination, Factory.forProtocol(Collector))
    await accepted
    client.transport.write(payload)
    echoed = await client.wait_for(len(payload), timeout=120)
    assert len(echoed) == len(payload)
    assert hashlib.sha256(echoed).hexdigest() == hashlib.sha256(payload).hexdigest()
    client.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_accept_several_connections_in_turn(i2p_sessions):
    alice, bob = i2p_sessions[:2]
    for i in range(3):
        accepted = bob.accept(Factory.forProtocol(Collector))
        client = await alice.connect(bob.destination, Factory.forProtocol(Collector))
        server = await accepted
        client.transport.write(f"connection {i}".encode())
        assert await server.wait_for(12) == f"connection {i}".encode()
        client.transport.loseConnection()
        await server.lost


@pytest_twisted.ensureDeferred
async def test_naming_lookup_me_and_b32(i2p_sessions):
    alice, bob = i2p_sessions[:2]
    assert (await alice.lookup("ME")) == alice.destination
    assert (await bob.lookup("ME")) == bob.destination
    found = await alice.lookup(bob.b32)
    assert found == bob.destination and found.b32 == bob.b32


@pytest_twisted.ensureDeferred
async def test_sam_credentials_where_the_bridge_has_no_authentication(i2p_network, i2p_sessions):
    """A HELLO carrying USER and PASSWORD (a BridgeConfig with credentials) is
    answered as any other by a bridge without SAM authentication (i2pd has
    none; Java I2P's is off unless enabled), so the setting harms nothing."""
    from txi2p.config import BridgeConfig

    bridge = SAMBridge(reactor, bridge_config=BridgeConfig(i2p_network.sam_addresses[0], user="alice",
                                                           password="s3cret"))
    control = await bridge.control()
    try:
        assert b" USER=alice PASSWORD=s3cret" in bridge.hello_command().encode()  # what was sent
        bob = i2p_sessions[1]
        assert await bridge.lookup(bob.b32) == bob.destination
    finally:
        control.close()


@pytest_twisted.ensureDeferred
async def test_naming_lookup_with_options(i2p_sessions):
    """``lookup(name, options=True)`` (``OPTIONS=true``): the destination and
    the options its lease set publishes -- none for Bob's session (i2pd
    ignores the request; a router that has it answers no ``OPTION:``)."""
    alice, bob = i2p_sessions[:2]
    record = await alice.lookup(bob.b32, options=True)
    assert record == NameRecord(bob.b32, bob.destination, {})
    assert (await alice.lookup(bob.destination, options=True)).destination == bob.destination


@pytest_twisted.ensureDeferred
async def test_naming_lookup_unknown_name(i2p_network):
    bridge = SAMBridge(reactor, i2p_network.sam_addresses[0])
    with pytest.raises(errors.NameNotFound, match=r"no-such-host\.i2p"):
        await bridge.lookup("no-such-host.i2p")


@pytest_twisted.ensureDeferred
async def test_dest_generate(i2p_network):
    bridge = SAMBridge(reactor, i2p_network.sam_addresses[0])
    key = await bridge.generate_destination()
    assert key.destination.signature_type == 7
    assert key.b32.endswith(".b32.i2p")
    assert bridge.dialect is not None and bridge.dialect.version in ("3.0", "3.1", "3.2", "3.3")


@pytest_twisted.ensureDeferred
async def test_duplicated_id(i2p_network):
    # A session of its own: Java I2P answers DUPLICATED_ID and then
    # unregisters the session that had the name (docs/routers.rst).
    bridge = SAMBridge(reactor, i2p_network.sam_addresses[0])
    victim = await bridge.create_session("STREAM", "dup-victim", options=TEST_SESSION_OPTIONS)
    try:
        with pytest.raises(errors.DuplicatedId):
            await SAMBridge(reactor, i2p_network.sam_addresses[0]).create_session(
                "STREAM", "dup-victim", options=TEST_SESSION_OPTIONS)
    finally:
        victim.close()


@pytest_twisted.ensureDeferred
async def test_cant_reach_peer_for_unknown_destination(i2p_network, i2p_sessions):
    bridge = SAMBridge(reactor, i2p_network.sam_addresses[1])
    nowhere = await bridge.generate_destination()  # never published
    with pytest.raises(errors.CantReachPeer) as info:
        await i2p_sessions[0].connect(nowhere.destination, Factory.forProtocol(Collector))
    assert info.value.result == "CANT_REACH_PEER"


@pytest_twisted.ensureDeferred
async def test_malformed_destination_is_invalid_key(i2p_network, i2p_sessions):
    with pytest.raises(errors.InvalidKey):
        await i2p_sessions[0].connect("A" * 600, Factory.forProtocol(Collector))
    # The router's own answer to a destination that is not one:
    control = await SAMBridge(reactor, i2p_network.sam_addresses[0]).control()
    with pytest.raises(errors.InvalidKey):
        await control.command(codec.stream_connect(i2p_sessions[0].nickname, "AAAA"))
    control.close()


@pytest_twisted.ensureDeferred
async def test_connection_refused_names_the_address():
    bridge = SAMBridge(reactor, "127.0.0.1:1")
    with pytest.raises(errors.SAMConnectionFailed, match=r"127\.0\.0\.1:1.*SAM enabled"):
        await bridge.lookup("x.i2p")


# ------------------------------------------------------------- slow sessions


@pytest_twisted.async_yield_fixture(scope="module")
async def slow_sessions(i2p_network, tmp_path_factory):
    """Sessions that cost a router readiness check each, made in parallel."""
    sam1 = i2p_network.sam_addresses[0]
    keyfile = tmp_path_factory.mktemp("keys") / "site.key"
    bridge1 = SAMBridge(reactor, sam1)
    write_key_file(keyfile, await bridge1.generate_destination())

    async def keyed_twice():
        # The second session is created right after the first one ended:
        # i2pd would hand it the first one's destination and delete that
        # 5 s later (2.56 aborts); the bridge waits the dialect's
        # destination_release first.
        first = await bridge1.create_session(
            "STREAM", "keyed-first", read_key_file(keyfile), options=TEST_SESSION_OPTIONS)
        await first.close()
        again = await bridge1.create_session(
            "STREAM", "keyed-again", read_key_file(keyfile), options=TEST_SESSION_OPTIONS)
        return [first.b32, again.b32], again

    async def primary():
        return await bridge1.create_session("PRIMARY", "primary", options=TEST_SESSION_OPTIONS)

    (b32s, again), primary_session = await defer.gatherResults([
        defer.Deferred.fromCoroutine(keyed_twice()),
        defer.Deferred.fromCoroutine(primary()),
    ])
    yield {"keyfile": keyfile, "b32s": b32s, "again": again, "primary": primary_session}
    again.close()
    primary_session.close()


def test_key_file_gives_the_same_b32(slow_sessions):
    key = read_key_file(slow_sessions["keyfile"])
    assert slow_sessions["b32s"] == [key.b32, key.b32]


@pytest_twisted.ensureDeferred
async def test_a_destination_created_again_at_once_outlives_the_routers_cleanup(
        i2p_network, slow_sessions, i2p_sessions):
    """The re-created keyed session still works after the router let go of the old one."""
    again = slow_sessions["again"]
    listener = again.listen(Factory.forProtocol(Echo))
    try:
        await again.when_accepting()
        await deferLater(reactor, SAMDialect().destination_release + 2, lambda: None)
        client = await retry_unreachable(reactor, lambda: i2p_sessions[1].connect(
            again.destination, Factory.forProtocol(Collector)))
        await assert_echoed(client, b"still here")
        assert again.is_open
        assert all(router.running() for router in i2p_network.routers)
    finally:
        listener.stopListening()


@pytest_twisted.ensureDeferred
async def test_primary_session_with_stream_subsession(slow_sessions, i2p_sessions):
    primary = slow_sessions["primary"]
    # Learned from the router: i2pd refuses PRIMARY (or negotiates 3.0),
    # Java I2P takes it.
    assert primary.bridge.dialect.primary_style in ("PRIMARY", "MASTER")
    sub = await primary.add_subsession("STREAM", "primary-web", from_port=80)
    assert sub.destination == primary.destination
    bob = i2p_sessions[1]
    accepted = accept_in_background(bob)
    client = await sub.connect(bob.destination, Factory.forProtocol(Collector))
    await accepted
    await assert_echoed(client, b"from a subsession")


@pytest_twisted.ensureDeferred
async def test_stream_forward(slow_sessions, i2p_sessions):
    primary = slow_sessions["primary"]
    connected = defer.Deferred()

    class Forwarded(Collector):
        def connectionMade(self):
            connected.callback(self)

    try:
        port = await primary.forward(Factory.forProtocol(Forwarded))
    except errors.UnsupportedByRouter:
        # Java I2P takes streams only on a PRIMARY's subsessions (i2pd on
        # the MASTER itself too): forward on one that listens on every port.
        sub = await primary.add_subsession("STREAM", "primary-fwd", from_port=0)
        port = await sub.forward(Factory.forProtocol(Forwarded))
    try:
        client = await i2p_sessions[1].connect(primary.destination, Factory.forProtocol(Collector))
        client.transport.write(b"forwarded")
        server = await connected.addTimeout(60, reactor)
        assert server.transport.getPeer().destination == i2p_sessions[1].destination
        assert await server.wait_for(9) == b"forwarded"
        client.transport.loseConnection()
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_listen_again_soon_reuses_the_routers_acceptor(i2p_sessions):
    """A listener stopped and another started soon after: no new FORWARD/ACCEPT, no wait."""
    alice, bob = i2p_sessions[:2]
    first = bob.listen(Factory.forProtocol(Echo))
    await bob.when_accepting()
    acceptor = bob.listeners.acceptor
    router_side = getattr(acceptor, "_port", None) or set(acceptor._pending)
    await first.stopListening()
    assert acceptor.lingering
    second = bob.listen(Factory.forProtocol(Echo))
    try:
        assert bob.when_accepting().called  # taken over at once
        assert bob.listeners.acceptor is acceptor and not acceptor.lingering
        assert (getattr(acceptor, "_port", None) or set(acceptor._pending)) == router_side
        await assert_echoed(await alice.connect(bob.destination, Factory.forProtocol(Collector)),
                            b"second listener")
    finally:
        await second.stopListening()


@pytest_twisted.ensureDeferred
async def test_accept_after_a_listener_stopped(i2p_sessions):
    """A direct accept() ends listen()'s lingering acceptor and gets the next stream."""
    alice, bob = i2p_sessions[:2]
    listener = bob.listen(Factory.forProtocol(Echo))
    await bob.when_accepting()
    await listener.stopListening()
    accepted = accept_in_background(bob, Collector)
    client = await alice.connect(bob.destination, Factory.forProtocol(Collector))
    server = await accepted.addTimeout(60, reactor)
    assert not bob.listeners.acceptor.lingering
    client.transport.write(b"direct accept")
    assert await server.wait_for(13) == b"direct accept"
    client.transport.loseConnection()
