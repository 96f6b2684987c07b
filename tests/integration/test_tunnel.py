"""Tunnels on the private network: HTTP through TunnelServer + TunnelClient, limits, twistd."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.web.client import Agent, HTTPConnectionPool, ResponseFailed, readBody
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import Data

from txi2p import tunnel
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.testing import TEST_SESSION_OPTIONS, TEST_SOCKET_OPTIONS, wait_until_reachable

pytestmark = pytest.mark.integration

BODY = os.urandom(10 * 1024 * 1024)


class Big(Resource):
    isLeaf = True

    def render_GET(self, request):
        return BODY


def backend_site():
    root = Resource()
    root.putChild(b"big", Big())
    root.putChild(b"", Data(b"hello through the tunnel", "text/plain"))
    return Site(root)


@pytest_twisted.async_yield_fixture(scope="module")
async def tunnels(i2p_network, i2p_sessions, registry):
    sam1, sam2 = i2p_network.sam_addresses[:2]
    alice, bob = i2p_sessions[:2]
    backend = reactor.listenTCP(0, backend_site(), interface="127.0.0.1")
    backend_port = backend.getHost().port
    server = tunnel.TunnelServer(reactor, I2PServerEndpoint(
        reactor, bridge_config=BridgeConfig(sam2), registry=registry,
        session_config=SessionConfig.build(nickname=bob.nickname, options=TEST_SESSION_OPTIONS)), backend_port)
    server.startService()
    await server.when_listening()

    def client(**kw):
        c = tunnel.TunnelClient(reactor, I2PClientEndpoint(
            reactor, bob.b32, bridge_config=BridgeConfig(sam1), registry=registry,
            session_config=SessionConfig.build(nickname=alice.nickname, options=TEST_SESSION_OPTIONS)), 0, **kw)
        c.startService()
        return c

    plain = client()
    await plain.when_listening()
    state = {"server": server, "plain": plain, "client": client, "backend": backend,
             "backend_port": backend_port}
    yield state
    await plain.stopService()
    await server.stopService()
    await state["backend"].stopListening()


def local_agent():
    pool = HTTPConnectionPool(reactor, persistent=False)
    return Agent(reactor, pool=pool)


@pytest_twisted.ensureDeferred
async def test_http_through_the_tunnels(tunnels):
    server, plain = tunnels["server"], tunnels["plain"]
    assert server.dest == tunnels["server"].port.getHost().destination.base64
    assert plain.dest is not None and plain.remotedest.endswith(".b32.i2p")
    assert plain.local_port and plain.port.getHost().host == "127.0.0.1"
    url = f"http://127.0.0.1:{plain.local_port}/".encode()
    response = await local_agent().request(b"GET", url)
    assert await readBody(response).addTimeout(120, reactor) == b"hello through the tunnel"
    response = await local_agent().request(b"GET", url + b"big")
    body = await readBody(response).addTimeout(120, reactor)
    assert hashlib.sha256(body).digest() == hashlib.sha256(BODY).digest()


@pytest_twisted.ensureDeferred
async def test_twenty_concurrent_requests(tunnels):
    plain = tunnels["plain"]
    url = f"http://127.0.0.1:{plain.local_port}/".encode()

    async def one():
        response = await local_agent().request(b"GET", url)
        return await readBody(response).addTimeout(120, reactor)

    bodies = await defer.gatherResults([defer.Deferred.fromCoroutine(one()) for _ in range(20)])
    assert bodies == [b"hello through the tunnel"] * 20


class Holder(Protocol):
    def __init__(self):
        self.lost = defer.Deferred()
        self.data = b""

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.lost.callback(None)


async def open_local(port):
    return await TCP4ClientEndpoint(reactor, "127.0.0.1", port).connect(Factory.forProtocol(Holder))


@pytest_twisted.ensureDeferred
async def test_nconnect_refuses_and_timeout_closes(tunnels):
    limited = tunnels["client"](nconnect=1, timeout=3)
    await limited.when_listening()
    try:
        first = await open_local(limited.local_port)
        await deferLater(reactor, 0.2, lambda: None)
        second = await open_local(limited.local_port)
        await second.lost.addTimeout(10, reactor)  # refused: closed at once
        assert limited.refused == 1
        await first.lost.addTimeout(30, reactor)  # closed by the timeout
        assert limited.timed_out == 1
        assert limited.relays == set()
    finally:
        await limited.stopService()


@pytest_twisted.ensureDeferred
async def test_refusing_backend_does_not_stop_the_tunnel(tunnels):
    plain, server = tunnels["plain"], tunnels["server"]
    await tunnels["backend"].stopListening()
    failed_before = server.failed
    url = f"http://127.0.0.1:{plain.local_port}/".encode()
    with pytest.raises(Exception):  # noqa: B017 - the connection is just closed
        await local_agent().request(b"GET", url)
    deadline = time.monotonic() + 10
    while server.failed == failed_before and time.monotonic() < deadline:
        await deferLater(reactor, 0.1, lambda: None)
    assert server.failed > failed_before
    tunnels["backend"] = reactor.listenTCP(tunnels["backend_port"], backend_site(), interface="127.0.0.1")
    response = await local_agent().request(b"GET", url)
    assert await readBody(response).addTimeout(120, reactor) == b"hello through the tunnel"


class StoppingReader(Protocol):
    """Asks for the 10 MiB body, stops reading after 1 MiB until told to go on.

    HTTP/1.1, so that the backend keeps the connection open after the body
    and the reader closes it once the whole body is in: a sender that
    closes while its receiver is stalled loses the stream's tail in i2pd
    (2.45.1 and 2.58.0: see docs/routers.rst, *Data lost at a stream's
    close*), which is not what this test is about.
    """

    stop_at = 1024 * 1024

    def __init__(self):
        self.count = 0
        self.head = b""
        self.body = 0
        self.stopped = False
        self.done = defer.Deferred()

    def connectionMade(self):
        self.transport.write(b"GET /big HTTP/1.1\r\nHost: backend\r\n\r\n")

    def dataReceived(self, data):
        self.count += len(data)
        if b"\r\n\r\n" not in self.head:
            self.head += data
            if b"\r\n\r\n" in self.head:
                self.body = len(self.head.split(b"\r\n\r\n", 1)[1])
        else:
            self.body += len(data)
        if self.body >= len(BODY):
            self.transport.loseConnection()
        elif not self.stopped and self.count >= self.stop_at:
            self.stopped = True
            self.transport.pauseProducing()  # reads nothing more

    def go_on(self):
        self.transport.resumeProducing()

    def connectionLost(self, reason):
        self.done.callback(self.body)


@pytest_twisted.ensureDeferred
async def test_flow_control_keeps_relay_buffers_bounded(tunnels):
    """A reader that stops stalls the whole path; the relays do not soak up the body.

    Without flow control the client tunnel would keep reading the stream
    from I2P into its write buffer for the stopped reader: most of the
    9 MiB still to come.  With it, each relay holds at most about one
    transport buffer (64 KiB) and a read.  (On the server side i2pd itself
    takes the body into its stream's send buffer: only the client side
    stalls.)
    """
    plain, server = tunnels["plain"], tunnels["server"]
    proto = await TCP4ClientEndpoint(reactor, "127.0.0.1", plain.local_port).connect(
        Factory.forProtocol(StoppingReader))
    deadline = time.monotonic() + 120
    while not proto.stopped:
        assert time.monotonic() < deadline, f"only {proto.count} bytes arrived in 120 s"
        await deferLater(reactor, 0.1, lambda: None)
    # wait until nothing moves through either tunnel for 3 s: the path is stalled
    relays = list(plain.relays) + list(server.relays)
    moved = lambda: [tuple(r.bytes.values()) for r in relays]  # noqa: E731
    last, still_since = moved(), time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() - still_since < 3:
        assert time.monotonic() < deadline, "the tunnels kept moving data for a reader that stopped"
        await deferLater(reactor, 0.5, lambda: None)
        now = moved()
        if now != last:
            last, still_since = now, time.monotonic()
    # (the server tunnel's relay may have ended: i2pd takes a whole body
    # into its stream's send buffer; an ended relay's figure is the tunnel's)
    buffered = {t.name: max([t.max_buffered, *(r.max_buffered for r in t.relays)]) for t in (plain, server)}
    assert plain.relays, "the client tunnel's relay ended although its reader had stopped"
    assert all(size < 1024 * 1024 for size in buffered.values()), buffered
    stalled_at = proto.count
    proto.go_on()
    try:
        received = await proto.done.addTimeout(300, reactor)
    except defer.TimeoutError:
        states = {t.name: [(r.bytes, r.closed, getattr(r.incoming.transport, "producerPaused", None),
                            getattr(getattr(r.outgoing.transport, "_transport", None), "producerPaused", None))
                           for r in t.relays] for t in (plain, server)}
        raise AssertionError(f"stalled at {stalled_at}, then {proto.count} bytes in 300 s; relays {states}") from None
    assert received == len(BODY)  # the whole body, once reading went on


# ------------------------------------------------------------- twistd plugin


@pytest_twisted.ensureDeferred
async def test_twistd_plugin_from_a_config_file(i2p_network, tmp_path):
    sam1, sam2 = i2p_network.sam_addresses[:2]
    backend = reactor.listenTCP(0, backend_site(), interface="127.0.0.1")
    local = reactor.listenTCP(0, Factory(), interface="127.0.0.1")  # find a free port
    client_port = local.getHost().port
    await local.stopListening()
    options = "\n".join(f"option.{k} = {v}" for k, v in TEST_SESSION_OPTIONS.items())
    keyfile = tmp_path / "web.key"
    (tmp_path / "tunnels.ini").write_text(f"""
[web]
type = server
session = twistd-web
keyfile = {keyfile}
port = {backend.getHost().port}
samaddr = {sam2}
{options}
""")
    log = tmp_path / "twistd.log"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "--nodaemon",
         "--pidfile=", f"--logfile={log}", "i2ptunnel", "--config", str(tmp_path / "tunnels.ini")],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=open(tmp_path / "twistd.out", "wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and "(I2P port" in log.read_text()):
            assert proc.poll() is None, (tmp_path / "twistd.out").read_text() + (
                log.read_text() if log.exists() else "")
            assert time.monotonic() < deadline, log.read_text()
            await deferLater(reactor, 0.5, lambda: None)
        text = log.read_text()
        b32 = [w for w in text.split("(I2P port")[0].split() if w.endswith(".b32.i2p")][-1]
        assert "readiness check" in text  # progress while the session came up
        # a client tunnel from this process to the twistd-served destination
        client = tunnel.TunnelClient(reactor, I2PClientEndpoint(
            reactor, b32, bridge_config=BridgeConfig(sam1),
            session_config=SessionConfig.build(nickname="twistd-client", options=TEST_SESSION_OPTIONS)), client_port)
        client.startService()
        await client.when_listening()
        try:
            await wait_until_reachable(reactor, client._session, b32, timeout=180)
            url = f"http://127.0.0.1:{client_port}/".encode()
            for attempt in range(60):
                try:
                    response = await local_agent().request(b"GET", url)
                    break
                except ResponseFailed:  # the tunnel closed the connection: no I2P stream yet
                    if attempt == 59:
                        raise
                    await deferLater(reactor, 2, lambda: None)
            assert await readBody(response).addTimeout(120, reactor) == b"hello through the tunnel"
        finally:
            await client.stopService()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        await backend.stopListening()
    # twistd exits by re-raising the signal that stopped it
    assert code in (0, -signal.SIGTERM), log.read_text()
    assert "Server Shut Down" in log.read_text()


# ------------------------------------------------------------- the classic blocking API


@pytest_twisted.ensureDeferred
async def test_classic_blocking_tunnels(i2p_network, i2p_sessions, registry, tunnels):
    """txi2p.sam.TunnelServer/TunnelClient block until ready; sam.Tunnel relays sockets."""
    import socket as std_socket

    from twisted.internet import threads

    from txi2p import sam

    sam1, sam2 = i2p_network.sam_addresses[:2]
    alice, bob = i2p_sessions[:2]
    opts = dict(TEST_SOCKET_OPTIONS)
    backend_port = tunnels["backend_port"]
    await tunnels["server"].stopService()  # bob's listener is taken by the blocking server below

    def body():
        server = sam.TunnelServer(bob.nickname, backend_port, sam2, **opts)
        client = sam.TunnelClient(alice.nickname, 0, bob.b32, sam1, **opts)
        try:
            assert server.dest == bob.destination.base64 and server.session == bob.nickname
            assert client.remotedest == bob.b32 and client.dest == alice.destination.base64
            with std_socket.create_connection(("127.0.0.1", client.service.local_port), timeout=60) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            assert data.endswith(b"hello through the tunnel")
            # sam.Tunnel: a listening ordinary socket relayed to the tunnel client's port
            listener = std_socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(5)
            relay = sam.Tunnel(listener, lambda: std_socket.create_connection(
                ("127.0.0.1", client.service.local_port)), nconnect=2, timeout=60)
            try:
                with std_socket.create_connection(listener.getsockname(), timeout=60) as s:
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    data = b""
                    while chunk := s.recv(65536):
                        data += chunk
                assert data.endswith(b"hello through the tunnel")
            finally:
                relay.close()
                listener.close()
        finally:
            client.close()
            server.close()

    try:
        await threads.deferToThread(body)
    finally:
        tunnels["server"].startService()
        await tunnels["server"].when_listening()
