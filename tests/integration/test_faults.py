"""A router killed mid-stream, then restarted (the third router: no other test uses it)."""

from __future__ import annotations

import threading
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, tcp, threads
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.logger import formatEvent, globalLogPublisher

from txi2p import errors
from txi2p import socket as i2p
from txi2p.address import read_key_file
from txi2p.bridge import SAMBridge
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.endpoints import I2PServerEndpoint
from txi2p.testing import TEST_SESSION_OPTIONS, TEST_SOCKET_OPTIONS, wait_until_reachable

pytestmark = pytest.mark.integration

OPTS = dict(TEST_SOCKET_OPTIONS)


class Echo(Protocol):
    def __init__(self):
        self.lost = defer.Deferred()

    def connectionMade(self):
        self.factory.open.append(self)

    def dataReceived(self, data):
        self.transport.write(data)

    def connectionLost(self, reason):
        self.reason = reason
        self.lost.callback(None)


class Client(Protocol):
    def __init__(self):
        self.data = b""
        self.got = None

    def dataReceived(self, data):
        self.data += data
        if self.got is not None and not self.got.called:
            self.got.callback(self.data)


async def connect_and_echo(session, dest, message=b"ping", timeout=150):
    """Open a stream and get an echo, retrying whole attempts.

    Right after a destination (re)starts, the client's router may hold its
    old lease set for a while: streams then go nowhere until it refreshes.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            proto = await session.connect(dest, Factory.forProtocol(Client), timeout=30)
            proto.got = defer.Deferred()
            proto.transport.write(message)
            await proto.got.addTimeout(10, reactor)
            return proto
        except (errors.CantReachPeer, defer.TimeoutError, errors.SAMConnectionLost):
            if time.monotonic() > deadline:
                raise
            await deferLater(reactor, 1, lambda: None)


@pytest_twisted.ensureDeferred
async def test_router_killed_then_restarted(i2p_network, i2p_sessions, tmp_path):
    router = i2p_network.clients[2]
    sam3 = router.sam_address
    alice = i2p_sessions[0]
    baseline_threads = set(threading.enumerate())
    logged = []
    globalLogPublisher.addObserver(logged.append)
    keyfile = tmp_path / "fault.key"
    fresh = None
    fresh_sessions = []
    try:
        factory = Factory.forProtocol(Echo)
        factory.open = []
        endpoint = I2PServerEndpoint(reactor, bridge_config=BridgeConfig(sam3), session_config=SessionConfig.build(
            nickname="fault-server", keyfile=str(keyfile), options=TEST_SESSION_OPTIONS))
        port = await endpoint.listen(factory)
        b32 = port.getHost().host
        assert read_key_file(keyfile).b32 == b32
        await wait_until_reachable(reactor, alice, b32)
        clients = [await connect_and_echo(alice, b32) for _ in range(3)]
        assert len(factory.open) == 3
        # A blocked shim call on the same router, and a pending command.
        shim = await threads.deferToThread(i2p.socket, "fault-shim", i2p.SOCK_STREAM, sam3, **OPTS)
        await threads.deferToThread(shim.listen, 5)
        blocked = threads.deferToThread(shim.accept)
        bridge = port.session.bridge
        pending_accept = port.session.accept(Factory.forProtocol(Protocol))
        await deferLater(reactor, 0.5, lambda: None)

        killed_at = time.monotonic()
        i2p_network.kill(router)

        # every connection through the killed router ends, with a reason
        await defer.gatherResults([p.lost for p in factory.open]).addTimeout(5, reactor)
        for p in factory.open:
            assert p.reason is not None
        # every pending Deferred and blocked shim call fails within 5 s, naming the cause
        with pytest.raises(errors.TxI2PError) as pending:
            await pending_accept.addTimeout(5, reactor)
        assert sam3 in str(pending.value), pending.value
        with pytest.raises(i2p.NetworkError) as shim_error:
            await blocked.addTimeout(5, reactor)
        assert shim_error.value.errtag == "SESSION_CLOSED"
        assert time.monotonic() - killed_at < 5
        shim.close()
        with pytest.raises(errors.SAMConnectionFailed, match=sam3):
            await bridge.lookup("ME.i2p")
        # nothing is left behind: our SAM sockets are closed (within the same
        # 5 s of the kill), no new threads
        sam_port = int(sam3.rsplit(":", 1)[1])

        def ours():
            # (connections only: listening ports, such as other sessions'
            # kept STREAM FORWARD ports, have no peer)
            return [r for r in reactor.getReaders() + reactor.getWriters()
                    if not isinstance(r, tcp.Port)
                    and getattr(getattr(r, "getPeer", lambda: None)(), "port", None) == sam_port]

        while ours() and time.monotonic() - killed_at < 5:
            await deferLater(reactor, 0.05, lambda: None)
        assert ours() == []
        new_threads = {t for t in threading.enumerate() if t not in baseline_threads
                       and not t.name.startswith(("PoolThread", "txi2p-reactor"))}
        assert not new_threads, new_threads

        # the router comes back: the listening port starts its session again
        i2p_network.restart(router)
        deadline = time.monotonic() + 150
        while port.session is None or port.recoveries < 1:
            assert time.monotonic() < deadline, "the listening port did not recover"
            await deferLater(reactor, 0.5, lambda: None)
        assert port.getHost().host == b32  # same key file, same address
        text = "\n".join(formatEvent(e) for e in logged)
        assert "starting it again" in text and "listening again on" in text
        # Alice's router keeps the old lease set (whose tunnels died with the
        # router) until it expires, about 10 minutes: a client that has not
        # cached it sees the restarted destination at once.  Bob has not, but
        # his lookup can race the new lease set's publication (a floodfill
        # still holding the old one answers with it: CI saw that once).  A
        # session made now on Bob's router asks again, so it is started
        # alongside and tried when Bob's streams go nowhere.
        bob = i2p_sessions[1]
        fresh = defer.Deferred.fromCoroutine(SAMBridge(reactor, bob.bridge.sam_address).create_session(
            "STREAM", "after-restart", options=TEST_SESSION_OPTIONS))
        fresh.addCallback(lambda session: fresh_sessions.append(session) or session)
        await wait_until_reachable(reactor, bob, b32, timeout=120)
        try:
            proto = await connect_and_echo(bob, b32, b"after restart", timeout=45)
        except (errors.CantReachPeer, defer.TimeoutError, errors.SAMConnectionLost):
            await fresh
            fresh_session = fresh_sessions[0]
            await wait_until_reachable(reactor, fresh_session, b32, timeout=120)
            proto = await connect_and_echo(fresh_session, b32, b"after restart")
        assert proto.data == b"after restart"
        for c in [*clients, proto]:
            c.transport.loseConnection()
        await port.stopListening()
    finally:
        globalLogPublisher.removeObserver(logged.append)
        if fresh is not None:  # (not left running into the next test)
            await fresh.addErrback(lambda failure: None)
        for session in fresh_sessions:
            session.close()
        if not router.running():
            i2p_network.restart(router)
