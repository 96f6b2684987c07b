"""Pieces of txi2p.socket that need no router."""

from __future__ import annotations

import select
import socket as std_socket

import pytest

from tests.unit.reactor_stand_ins import QueuedCalls
from txi2p import errors
from txi2p import socket as i2p


def test_signal_readiness_is_real_descriptor_readiness():
    sig = i2p._Signal()
    try:
        assert select.select([sig], [sig], [], 0) == ([], [sig], [])
        sig.set_readable(True)
        sig.set_readable(True)  # idempotent
        assert select.select([sig], [], [], 0)[0] == [sig]
        sig.set_readable(False)
        assert select.select([sig], [], [], 0)[0] == []
        sig.set_writable(False)
        assert select.select([], [sig], [], 0)[1] == []
        sig.set_writable(True)
        assert select.select([], [sig], [], 0)[1] == [sig]
        p = i2p.poll()
        p.register(sig, i2p.POLLIN)
        assert p.poll(0) == []
        sig.set_readable(True)
        assert p.poll(0) == [(sig.fileno(), i2p.POLLIN)]
        p.unregister(sig)
    finally:
        sig.close()
    sig.set_readable(True)  # no error after close


def test_error_classes():
    assert issubclass(i2p.BlockError, BlockingIOError) and issubclass(i2p.BlockError, i2p.Error)
    assert issubclass(i2p.Timeout, TimeoutError)
    assert issubclass(i2p.Error, OSError) and issubclass(i2p.Error, errors.TxI2PError)
    e = i2p.NetworkError("CANT_REACH_PEER", "no route")
    assert e.args == ("CANT_REACH_PEER", "no route") and "CANT_REACH_PEER" in str(e)
    mapped = i2p._network_error(errors.CantReachPeer(message="x"))
    assert isinstance(mapped, i2p.NetworkError) and mapped.errtag == "CANT_REACH_PEER"


def test_constants_as_documented():
    assert (i2p.SOCK_STREAM, i2p.SOCK_DGRAM, i2p.SOCK_RAW) == (1, 2, 3)
    assert (i2p.MAX_DGRAM, i2p.MAX_RAW) == (31744, 32768)
    assert (i2p.MSG_DONTWAIT, i2p.MSG_PEEK, i2p.MSG_WAITALL) == (128, 2, 64)
    assert i2p.POLLIN == select.POLLIN and i2p.POLLOUT == select.POLLOUT


@pytest.mark.parametrize("args,error", [
    (("s", 9), ValueError),
    ((5, i2p.SOCK_STREAM), TypeError),
])
def test_bad_socket_arguments(args, error):
    with pytest.raises(error):
        i2p.socket(*args)


def test_resolve_returns_a_destination_unchanged():
    from txi2p.testing.fakes import fake_private_key

    dest = fake_private_key().destination.base64
    assert i2p.resolve(dest) == dest


@pytest.fixture
def stream_socket():
    """A connected shim stream socket over a StringTransport, and its queued reactor calls."""
    from types import SimpleNamespace

    from twisted.internet.testing import StringTransport

    sock = i2p.socket.__new__(i2p.socket)
    sock._init_state(i2p.SOCK_STREAM)
    reactor = QueuedCalls()
    sock._ctx = SimpleNamespace(reactor=reactor)
    sock._state = "connected"
    feed = i2p._StreamFeed(sock)
    transport = StringTransport()
    feed.makeConnection(transport)
    sock._feed_proto = feed
    yield sock, reactor, transport, feed
    sock._signal.close()


def test_sends_are_batched_into_one_reactor_call(stream_socket):
    sock, reactor, transport, _ = stream_socket
    for part in (b"one ", b"two ", b"three"):
        assert sock.send(part) == len(part)
    assert len(reactor.calls) == 1  # one wake-up of the reactor for the three
    reactor.run()
    assert transport.value() == b"one two three"
    sock.sendall(b"!")
    reactor.run()
    assert transport.value() == b"one two three!"


def test_send_waits_while_the_transport_is_full(stream_socket):
    sock, reactor, transport, feed = stream_socket
    feed.pauseProducing()  # the transport's buffer is full
    sock.setblocking(False)
    with pytest.raises(i2p.BlockError):
        sock.send(b"x")
    sock.settimeout(0.01)
    with pytest.raises(i2p.Timeout):
        sock.sendall(b"x")
    feed.resumeProducing()
    sock.send(b"y")
    reactor.run()
    assert transport.value() == b"y"


def test_send_waits_while_its_own_queue_is_full(stream_socket):
    sock, reactor, transport, _ = stream_socket
    sock.setblocking(False)
    block = b"z" * (64 * 1024)
    sent = 0
    with pytest.raises(i2p.BlockError):
        while True:
            sent += sock.send(block)
    assert sent == i2p.SEND_BUFFER_HIGH  # nothing beyond the limit was taken
    assert select.select([], [sock], [], 0)[1] == []  # not writable while full
    reactor.run()  # the reactor writes the queue out: room again
    assert select.select([], [sock], [], 0)[1] == [sock]
    sock.send(b"more")
    reactor.run()
    assert transport.value() == block * (sent // len(block)) + b"more"


def test_close_unregisters_the_send_producer_first(stream_socket):
    """A paused streaming producer would keep a TCP transport from ever closing."""
    sock, reactor, transport, feed = stream_socket
    sock.sendall(b"last words")
    feed.pauseProducing()  # as a transport does when its buffer is over its size
    sock.close()
    reactor.run()
    assert transport.value() == b"last words"
    assert transport.producer is None and transport.disconnecting


def test_send_side_is_registered_as_the_transports_streaming_producer(stream_socket):
    """Without the registration the transport never says it is full."""
    _, _, transport, feed = stream_socket
    assert transport.producer is feed and transport.streaming


def test_receive_pauses_the_stream_until_recv_drains_it(stream_socket):
    """More than RECV_BUFFER_HIGH unread pauses the transport; reading resumes it; nothing is lost."""
    sock, reactor, transport, feed = stream_socket
    chunk = bytes(range(256)) * 256  # 64 KiB
    fed = 0
    while transport.producerState == "producing":
        feed.dataReceived(chunk)
        fed += len(chunk)
        assert fed <= i2p.RECV_BUFFER_HIGH + len(chunk), "never paused"
    assert fed > i2p.RECV_BUFFER_HIGH
    feed.dataReceived(chunk)  # what was in flight still arrives and is kept
    fed += len(chunk)
    got = bytearray()
    while len(got) < fed - i2p.RECV_BUFFER_HIGH // 2:
        got += sock.recv(len(chunk))
        assert transport.producerState == "paused"  # until the queued resume runs
    got += sock.recv(len(chunk))
    reactor.run()
    assert transport.producerState == "producing"
    while len(got) < fed:
        got += sock.recv(len(chunk))
    assert got == chunk * (fed // len(chunk))


def test_options_as_code_written_for_tcp_sets_them(stream_socket):
    import struct

    sock, _, _, _ = stream_socket
    assert sock.family == i2p.AF_I2P and sock.type == i2p.SOCK_STREAM and sock.proto == 0
    # http.client sets TCP_NODELAY on every connection; servers set SO_REUSEADDR
    for level, name in [(i2p.IPPROTO_TCP, i2p.TCP_NODELAY), (i2p.SOL_SOCKET, i2p.SO_KEEPALIVE),
                        (i2p.SOL_SOCKET, i2p.SO_REUSEADDR)]:
        assert sock.getsockopt(level, name) == 0
        sock.setsockopt(level, name, 1)
        assert sock.getsockopt(level, name) == 1
    # the receive/send timeouts are the socket's one timeout
    sock.setsockopt(i2p.SOL_SOCKET, i2p.SO_RCVTIMEO, struct.pack("@ll", 2, 500000))
    assert sock.gettimeout() == 2.5
    assert sock.getsockopt(i2p.SOL_SOCKET, i2p.SO_SNDTIMEO, 16) == struct.pack("@ll", 2, 500000)
    sock.setsockopt(i2p.SOL_SOCKET, i2p.SO_SNDTIMEO, 0)  # 0: no timeout, as in POSIX
    assert sock.gettimeout() is None
    with pytest.raises(i2p.Error, match="not supported by I2P sockets"):
        sock.setsockopt(i2p.SOL_SOCKET, std_socket.SO_BROADCAST, 1)
    with pytest.raises(i2p.Error, match="not supported by I2P sockets"):
        sock.getsockopt(i2p.SOL_SOCKET, std_socket.SO_RCVBUF)
    with pytest.raises(TypeError):
        sock.setsockopt(i2p.IPPROTO_TCP, i2p.TCP_NODELAY, "yes")
    with pytest.raises(ValueError, match="struct timeval"):
        sock.setsockopt(i2p.SOL_SOCKET, i2p.SO_RCVTIMEO, b"\x01")


def test_create_connection_sets_the_timeout_and_closes_on_failure(monkeypatch):
    made = []

    class FakeSocket:
        def __init__(self, session, type, samaddr, **kwargs):
            self.args = (session, type, samaddr, kwargs)
            self.timeout = "unset"
            self.closed = False
            made.append(self)

        def settimeout(self, value):
            self.timeout = value

        def connect(self, address):
            if address[0] == "unreachable.i2p":
                raise i2p.NetworkError("CANT_REACH_PEER", "no")
            self.address = address

        def close(self):
            self.closed = True

    monkeypatch.setattr("txi2p.socket.functions.socket", FakeSocket)  # the name create_connection calls
    sock = i2p.create_connection(("site.i2p", 80), 5, samaddr="127.0.0.1:7656", in_depth=0)
    assert sock.args == ("", i2p.SOCK_STREAM, "127.0.0.1:7656", {"in_depth": 0})
    assert sock.timeout == 5 and sock.address == ("site.i2p", 80) and not sock.closed
    assert i2p.create_connection(("site.i2p", 80)).timeout == "unset"  # blocking, as the default
    assert i2p.create_connection(("site.i2p", 80), std_socket._GLOBAL_DEFAULT_TIMEOUT).timeout == "unset"
    with pytest.raises(i2p.NetworkError):
        i2p.create_connection(("unreachable.i2p", 80), 1)
    assert made[-1].closed
