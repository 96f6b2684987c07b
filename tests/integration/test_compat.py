"""txi2p 0.3.x's API as Foolscap and Tahoe-LAFS use it, on the private network."""

from __future__ import annotations

import stat

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.error import ConnectionRefusedError

import txi2p
from txi2p.address import Destination, PrivateKey, read_key_file
from txi2p.bridge import SAMBridge
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.sam import SAMI2PStreamServerEndpoint, codec
from txi2p.testing import TEST_SESSION_OPTIONS, wait_until_reachable

from . import tubs
from .tubs import adder_tub

pytestmark = pytest.mark.integration


def sam_endpoint(address):
    host, port = address.rsplit(":", 1)
    return clientFromString(reactor, f"tcp:{host}:{port}")


@pytest_twisted.ensureDeferred
async def test_tahoe_create_node_flow(i2p_network, tmp_path):
    """What ``tahoe create-node --listen=i2p`` does, then what the node does."""
    sam = i2p_network.sam_addresses[1]
    # tahoe probes the SAM port with testAPI, trapping ConnectError and friends
    assert await txi2p.testAPI(reactor, "SAM", sam_endpoint(sam)) is True
    with pytest.raises(ConnectionRefusedError):
        await txi2p.testAPI(reactor, "SAM", clientFromString(reactor, "tcp:127.0.0.1:1"))
    privkeyfile = tmp_path / "i2p_dest.privkey"
    dest = await txi2p.generateDestination(reactor, str(privkeyfile), "SAM", sam_endpoint(sam))
    assert dest.host.endswith(".b32.i2p")
    assert stat.S_IMODE(privkeyfile.stat().st_mode) == 0o600  # 0.3.x wrote 0644
    assert read_key_file(privkeyfile).b32 == dest.host
    with pytest.raises(ValueError, match="already exists"):
        txi2p.generateDestination(reactor, str(privkeyfile), "SAM", sam_endpoint(sam))
    # the node then listens with exactly this string
    escaped = f"tcp:{sam}".replace(":", "\\:")
    endpoint = serverFromString(reactor, f"i2p:{privkeyfile}:3457:api=SAM:apiEndpoint={escaped}")
    assert endpoint._spec.keyfile == str(privkeyfile) and endpoint.port == 3457


@pytest_twisted.ensureDeferred
async def test_key_file_written_by_03x_keeps_its_address(i2p_network, tmp_path):
    bridge = SAMBridge(reactor, i2p_network.sam_addresses[0])
    control = await bridge.control()
    reply = await control.command(codec.dest_generate(7))
    control.close()
    # 0.3.x wrote the base64 private key from the router as-is, no newline.
    keyfile = tmp_path / "old.key"
    keyfile.write_text(reply.get("PRIV"))
    key = read_key_file(keyfile)
    assert isinstance(key, PrivateKey)
    assert key.b32 == Destination.from_base64(reply.get("PUB")).b32


@pytest_twisted.ensureDeferred
async def test_foolscap_tubs_over_i2p(i2p_network, i2p_sessions, tmp_path):
    foolscap_pb = pytest.importorskip("foolscap.api")
    from foolscap.connections import i2p as foolscap_i2p

    sam1, sam2 = i2p_network.sam_addresses[:2]
    server_tub = client_tub = None
    try:
        server_tub, furl, b32 = await adder_tub(foolscap_pb, sam2, tmp_path / "tub.key", "foolscap-server")
        client_tub = tubs.client_tub(foolscap_pb, foolscap_i2p.sam_endpoint(
            sam_endpoint(sam1), nickname="foolscap-client", options=dict(TEST_SESSION_OPTIONS)))

        # The client's router (router 1, as the probe session's) finds the
        # server's lease set before the first call: the calls need no retry.
        await wait_until_reachable(reactor, i2p_sessions[0], b32, timeout=120)

        async def call():
            rref = await client_tub.getReference(furl).addTimeout(180, reactor)
            return rref, await rref.callRemote("add", 2, 3).addTimeout(60, reactor)

        rref, result = await call()
        assert result == 5
        # a second call after a reconnect
        lost = defer.Deferred()
        rref.notifyOnDisconnect(lambda: lost.callback(None))
        rref.tracker.broker.transport.loseConnection()
        await lost
        rref2, result2 = await call()
        assert result2 == 5 and rref2 is not rref
    finally:
        for tub in (client_tub, server_tub):
            if tub is not None:
                await tub.stopService()


@pytest_twisted.ensureDeferred
async def test_one_key_file_listens_and_connects_out_as_one_session(i2p_network, i2p_sessions, registry, tmp_path):
    """A Tahoe storage node's pattern: it listens on its key file and connects
    out with the same key file: one SAM session, whose destination the peer sees."""
    from twisted.internet.protocol import Factory, Protocol

    from txi2p.endpoints import I2PServerEndpoint
    from txi2p.sam import SAMI2PStreamClientEndpoint

    sam1, sam2 = i2p_network.sam_addresses[:2]
    alice = i2p_sessions[0]
    keyfile = tmp_path / "node.key"
    options = dict(TEST_SESSION_OPTIONS)
    node_server = SAMI2PStreamServerEndpoint.new(sam_endpoint(sam2), str(keyfile), port=3457, options=options)
    node_port = await node_server.listen(Factory.forProtocol(Protocol))
    peers = []

    class Seen(Protocol):
        def connectionMade(self):
            peers.append(self.transport.getPeer())
            self.transport.write(b"seen")

    alice_port = await I2PServerEndpoint(reactor, bridge_config=BridgeConfig(sam1), session_config=SessionConfig.build(
        nickname=alice.nickname, options=options, auto_close=False)).listen(Factory.forProtocol(Seen))
    try:
        node_client = SAMI2PStreamClientEndpoint.new(sam_endpoint(sam2), alice.b32, 80, keyfile=str(keyfile),
                                                     options=options)
        got = defer.Deferred()

        class Reader(Protocol):
            def dataReceived(self, data):
                if not got.called:
                    got.callback(data)

        proto = await node_client.connect(Factory.forProtocol(Reader))
        assert await got.addTimeout(60, reactor) == b"seen"
        proto.transport.loseConnection()
        key = read_key_file(keyfile)
        assert [p.destination.b32 for p in peers] == [key.b32]  # it came from the node's destination
        assert len([s for s in registry.sessions if s.b32 == key.b32]) == 1
    finally:
        await alice_port.stopListening()
        await node_port.stopListening()
        for session in registry.sessions:
            if keyfile.exists() and session.b32 == read_key_file(keyfile).b32:
                await session.close()
