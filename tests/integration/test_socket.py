"""txi2p.socket, the classic blocking API, against real routers.

The reactor runs in the test's main thread (pytest-twisted), so every test
runs its blocking socket code in a worker thread, as a shim user would.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select as std_select
import socket as std_socket
import threading
import time

import pytest
import pytest_twisted
from twisted.internet import threads

from txi2p import socket as i2p
from txi2p.address import Destination
from txi2p.testing import TEST_SOCKET_OPTIONS
from txi2p.testing.fakes import fake_private_key

pytestmark = pytest.mark.integration

OPTS = dict(TEST_SOCKET_OPTIONS)


def in_thread(body):
    return threads.deferToThread(body)


@pytest.fixture
def stream_pair(i2p_network, i2p_sessions, registry):
    """Alice and Bob stream sockets on the two routers (the probe sessions).

    Every socket made is closed after the test, so a failing test leaves
    no listener behind on the shared sessions.
    """
    sam1, sam2 = i2p_network.sam_addresses[:2]
    opened = []

    def maker(session, sam):
        def make():
            sock = i2p.socket(session.nickname, i2p.SOCK_STREAM, sam, **OPTS)
            opened.append(sock)
            return sock
        return make

    yield maker(i2p_sessions[0], sam1), maker(i2p_sessions[1], sam2)
    for sock in opened:
        with contextlib.suppress(i2p.Error):
            sock.close()


def connected(stream_pair):
    """(server listening socket, accepted conn, client) — blocking."""
    make_client, make_server = stream_pair
    server = make_server()
    server.listen(10)
    client = make_client()
    client.connect(server.dest)
    conn, remotedest = server.accept()
    assert remotedest == client.dest
    return server, conn, client


@pytest_twisted.ensureDeferred
async def test_seed_example_alice_and_bob(stream_pair):
    def body():
        alice, conn, bob = connected(stream_pair)
        conn.send(b"hello world!")
        assert bob.recv(1024) == b"hello world!"
        bob.sendall(b"hi alice")
        assert conn.recv(1024) == b"hi alice"
        assert bob.getpeername() == alice.dest and bob.getsockname() == bob.dest
        assert bob.session == bob._session.nickname and bob.type == i2p.SOCK_STREAM
        # makefile line I/O
        server_file = conn.makefile("rw")
        client_file = bob.makefile("rwb")
        client_file.write(b"line one\nline two\n")
        client_file.flush()
        assert server_file.readline() == "line one\n"
        assert server_file.readline() == "line two\n"
        server_file.write("answer\n")
        server_file.flush()
        assert client_file.readline() == b"answer\n"
        for s in (conn, bob, alice):
            s.close()

    await in_thread(body)


@pytest_twisted.ensureDeferred
async def test_modes_and_flags(stream_pair):
    def body():
        server, conn, client = connected(stream_pair)
        # bufsize 0
        assert client.recv(0) == b""
        # non-blocking
        client.setblocking(False)
        assert client.gettimeout() == 0.0
        with pytest.raises(i2p.BlockError):
            client.recv(10)
        client.setblocking(True)
        # MSG_DONTWAIT on a blocking socket
        with pytest.raises(i2p.BlockError):
            client.recv(10, i2p.MSG_DONTWAIT)
        # timeout
        client.settimeout(0.5)
        started = time.monotonic()
        with pytest.raises(i2p.Timeout):
            client.recv(10)
        assert time.monotonic() - started >= 0.45
        client.settimeout(30)
        # MSG_PEEK leaves the data; MSG_WAITALL waits for all of it
        conn.send(b"abc")
        assert client.recv(3, i2p.MSG_PEEK | i2p.MSG_WAITALL) == b"abc"
        assert client.recv(2, i2p.MSG_PEEK) == b"ab"
        conn.send(b"defgh")
        assert client.recv(8, i2p.MSG_WAITALL) == b"abcdefgh"
        # recv_into
        conn.send(b"into")
        buf = bytearray(10)
        assert client.recv_into(buf, 4, i2p.MSG_WAITALL) == 4 and bytes(buf[:4]) == b"into"
        # send* never block, and bytes sent before close() are delivered
        payload = os.urandom(300_000)
        conn.sendall(payload)
        conn.close()
        received = bytearray()
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            received += chunk
        assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
        # after close: what arrived, then b""
        client.close()
        assert client.recv(10) == b""
        with pytest.raises(i2p.ClosedError):
            client.send(b"x")
        server.close()

    await in_thread(body)


@pytest_twisted.ensureDeferred
async def test_select_and_poll_with_ordinary_sockets(stream_pair):
    def body():
        server, conn, client = connected(stream_pair)
        a, b = std_socket.socketpair()
        try:
            readable, writable, _ = i2p.select([client, a], [client], [], 0)
            assert readable == [] and writable == [client]
            b.send(b"x")
            conn.send(b"y")
            readable, _, _ = i2p.select([client, a], [], [], 30)
            deadline = time.monotonic() + 30
            while len(readable) < 2 and time.monotonic() < deadline:
                readable, _, _ = i2p.select([client, a], [], [], 1)
            assert set(readable) == {client, a}
            assert client.recv(1) == b"y" and a.recv(1) == b"x"
            assert i2p.select([client, a], [], [], 0)[0] == []
            # the standard library's select works on shim sockets too
            conn.send(b"z")
            assert std_select.select([client], [], [], 30)[0] == [client]
            assert client.recv(1) == b"z"
            p = i2p.poll()
            p.register(client, i2p.POLLIN)
            p.register(a, i2p.POLLIN)
            assert p.poll(0) == []
            conn.send(b"w")
            events = p.poll(30_000)
            assert (client.fileno(), i2p.POLLIN) in events
            # a closed peer makes the socket readable (EOF)
            conn.close()
            client.recv(10)
            assert i2p.select([client], [], [], 30)[0] == [client]
            assert client.recv(10) == b""
        finally:
            a.close()
            b.close()
            client.close()
            server.close()

    await in_thread(body)


@pytest_twisted.ensureDeferred
async def test_non_blocking_connect_then_select(stream_pair):
    def body():
        make_client, make_server = stream_pair
        server = make_server()
        server.listen(5)
        client = make_client()
        client.setblocking(False)
        try:
            client.connect(server.dest)
        except i2p.BlockError:
            pass
        _, writable, _ = i2p.select([], [client], [], 60)
        assert writable == [client]
        client.connect(server.dest)  # completes (or raises the connect error)
        with pytest.raises(i2p.BlockError):
            client.recv(5)
        server.setblocking(True)
        conn, _ = server.accept()
        conn.send(b"hello")
        client.setblocking(True)
        assert client.recv(5, i2p.MSG_WAITALL) == b"hello"
        for s in (conn, client, server):
            s.close()

    await in_thread(body)


@pytest_twisted.ensureDeferred
async def test_connect_errors_are_network_errors(i2p_network, stream_pair, i2p_sessions):
    def body():
        make_client, _ = stream_pair
        client = make_client()
        nowhere = fake_private_key().destination.base64  # well formed, never published
        try:
            err = client.connect_ex(nowhere)
            assert isinstance(err, i2p.NetworkError)
            assert err.args[0] == "CANT_REACH_PEER" and err.errtag == "CANT_REACH_PEER"
            with pytest.raises(i2p.NetworkError):
                client.connect("no-such-host.i2p")
            assert i2p.resolve(client.dest) == client.dest
            assert i2p.resolve(i2p_sessions[1].b32, i2p_network.sam_addresses[0]) == i2p_sessions[1].destination.base64
        finally:
            client.close()

    await in_thread(body)


@pytest_twisted.ensureDeferred
async def test_twenty_threads_echo_at_once(stream_pair):
    def body():
        make_client, make_server = stream_pair
        server = make_server()
        server.listen(25)
        stop = threading.Event()

        def serve():
            while not stop.is_set():
                server.settimeout(1)
                try:
                    conn, _ = server.accept()
                except i2p.Timeout:
                    continue
                except i2p.ClosedError:
                    return
                threading.Thread(target=echo, args=(conn,), daemon=True).start()

        def echo(conn):
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                conn.sendall(data)
            conn.close()

        results = {}

        def client(i):
            s = make_client()
            s.settimeout(120)
            s.connect(server.dest)
            message = hashlib.sha256(b"%d" % i).digest() * 100
            s.sendall(message)
            got = s.recv(len(message), i2p.MSG_WAITALL)
            results[i] = got == message
            s.close()

        threading.Thread(target=serve, daemon=True).start()
        workers = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(180)
        stop.set()
        server.close()
        assert results == {i: True for i in range(20)}

    await in_thread(body)


@pytest_twisted.ensureDeferred
async def test_datagram_and_raw_sockets(i2p_network):
    sam1, sam2 = i2p_network.sam_addresses[:2]

    def body():
        made = {}

        def make(name, kind, sam):
            made[name] = i2p.socket(f"shim-{name}", kind, sam, **OPTS)

        jobs = [threading.Thread(target=make, args=args) for args in
                (("a", i2p.SOCK_DGRAM, sam1), ("b", i2p.SOCK_DGRAM, sam2),
                 ("ra", i2p.SOCK_RAW, sam1), ("rb", i2p.SOCK_RAW, sam2))]
        for j in jobs:
            j.start()
        for j in jobs:
            j.join(120)
        a, b, ra, rb = made["a"], made["b"], made["ra"], made["rb"]
        try:
            assert Destination.from_base64(a.dest)
            b.settimeout(1)
            with pytest.raises(i2p.Timeout):
                b.recvfrom(100)
            # the lease set may not be published yet: send until one arrives
            deadline = time.monotonic() + 90
            while True:
                a.sendto(b"hello b", 0, b.dest)
                try:
                    data, sender = b.recvfrom(-1)
                    break
                except i2p.Timeout:
                    if time.monotonic() > deadline:
                        raise
            assert data == b"hello b" and sender == a.dest
            b.settimeout(30)
            b.sendto(b"reply", sender)
            a.settimeout(30)
            assert a.recvfrom(-1) == (b"reply", b.dest)
            # connect() on a datagram socket sets the default destination
            a.connect(b.dest)
            a.send(b"0123456789")
            assert b.recv(4) == b"0123"  # the rest of the packet is discarded
            a.send(b"peek")
            assert b.recv(-1, i2p.MSG_PEEK) == b"peek" and b.recv(-1) == b"peek"
            with pytest.raises(i2p.Error):
                a.sendto(b"x" * (i2p.MAX_DGRAM + 1), b.dest)
            # raw packets have no sender
            rb.settimeout(1)
            deadline = time.monotonic() + 90
            while True:
                ra.sendto(b"raw!", rb.dest)
                try:
                    data, sender = rb.recvfrom(-1)
                    break
                except i2p.Timeout:
                    if time.monotonic() > deadline:
                        raise
            assert data == b"raw!" and sender is None
            # closed packet sockets refuse to receive
            rb.close()
            with pytest.raises(i2p.ClosedError):
                rb.recv(10)
        finally:
            for s in made.values():
                s.close()

    await in_thread(body)


@pytest_twisted.ensureDeferred
async def test_blocking_call_in_the_reactor_thread_raises(i2p_network):
    with pytest.raises(i2p.Error, match="reactor thread"):
        i2p.socket("x", i2p.SOCK_STREAM, i2p_network.sam_addresses[0])


@pytest_twisted.ensureDeferred
async def test_http_client_of_the_standard_library_over_an_i2p_socket(i2p_network, i2p_sessions, registry):
    """http.client's own connect() (create_connection, then TCP_NODELAY) and
    response reading (makefile) run unchanged over txi2p.socket."""
    import http.client

    from twisted.internet import reactor
    from twisted.web.resource import Resource
    from twisted.web.server import Site
    from twisted.web.static import Data

    from txi2p.config import BridgeConfig, SessionConfig
    from txi2p.endpoints import I2PServerEndpoint
    from txi2p.testing import TEST_SESSION_OPTIONS

    sam1, sam2 = i2p_network.sam_addresses[:2]
    alice, bob = i2p_sessions[:2]
    body = os.urandom(100_000)
    root = Resource()
    root.putChild(b"", Data(body, "application/octet-stream"))
    port = await I2PServerEndpoint(reactor, bridge_config=BridgeConfig(sam2), session_config=SessionConfig.build(
        nickname=bob.nickname, options=TEST_SESSION_OPTIONS, auto_close=False)).listen(Site(root))
    made = []

    def over_i2p(address, timeout, source_address):
        sock = i2p.create_connection(address, timeout, source_address, session=alice.nickname,
                                     samaddr=sam1, **OPTS)
        made.append(sock)
        return sock

    def fetch():
        conn = http.client.HTTPConnection(bob.b32, 80, timeout=120)
        conn._create_connection = over_i2p
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            return response.status, response.getheader("Content-Length"), response.read()
        finally:
            conn.close()

    try:
        status, length, data = await in_thread(fetch)
    finally:
        await port.stopListening()
    assert (status, length) == (200, str(len(body)))
    assert hashlib.sha256(data).digest() == hashlib.sha256(body).digest()
    sock, = made
    assert sock.getsockopt(i2p.IPPROTO_TCP, i2p.TCP_NODELAY) == 1  # set by http.client itself
    assert sock.gettimeout() == 120
