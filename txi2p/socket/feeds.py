"""The reactor side of the sockets: the protocols that the reactor thread
feeds with incoming streams, bytes and packets."""

from __future__ import annotations

import threading
import typing
from typing import Any

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.python.failure import Failure

from txi2p.datagram import I2PDatagramPort
from txi2p.protocol import close_after_flush


class _FedSocket(typing.Protocol):
    """What the feeds call on a socket (:class:`txi2p.socket.socket`), from the reactor thread."""

    _cond: threading.Condition
    _closed: bool

    def _room_for_sends(self) -> None: ...

    def _feed(self, data: bytes) -> None: ...

    def _feed_eof(self, reason: Failure) -> None: ...

    def _incoming(self, feed: _StreamFeed, addr: Any) -> None: ...

    def _packet(self, data: bytes, addr: Any) -> None: ...


class _StreamFeed(Protocol):
    """Reactor side of a shim stream socket: bytes in, the transport for bytes out."""

    def __init__(self, sock: _FedSocket | None = None) -> None:
        self.sock = sock
        self.early: list[bytes] = []
        self.lost: Failure | None = None
        self.paused = False
        self.write_paused = False

    def connectionMade(self) -> None:
        # Our sends are a streaming producer for the transport: it says when
        # its buffer is full (pauseProducing) and when drained (resume).
        transport: Any = self.transport  # an IConsumer too
        transport.registerProducer(self, True)

    def close_transport(self, half: bool = False) -> None:
        """Close (or half-close) the stream once everything sent is written."""
        transport: Any = self.transport
        if transport is not None and not getattr(transport, "disconnected", False):
            close_after_flush(transport, half)

    def pauseProducing(self) -> None:
        self._write_room(False)

    def resumeProducing(self) -> None:
        self._write_room(True)

    def stopProducing(self) -> None:
        self._write_room(True)

    def _write_room(self, room: bool) -> None:
        self.write_paused = not room
        sock = self.sock
        if sock is not None and room:
            with sock._cond:
                sock._room_for_sends()

    def call(self, method: str, *args: Any) -> None:
        """Call a transport method, if still connected (in the reactor thread)."""
        transport: Any = self.transport
        if transport is not None and not getattr(transport, "disconnected", False):
            getattr(transport, method)(*args)

    def dataReceived(self, data: bytes) -> None:
        if self.sock is None:  # accepted, not yet taken by accept()
            self.early.append(data)
            return
        self.sock._feed(data)

    def connectionLost(self, reason: Failure = Failure(ConnectionError("closed"))) -> None:
        self.lost = reason
        if self.sock is not None:
            self.sock._feed_eof(reason)


class _AcceptFeed(Factory):
    noisy = False

    def __init__(self, sock: _FedSocket) -> None:
        self.sock = sock

    def buildProtocol(self, addr: Any) -> _StreamFeed:
        feed = _StreamFeed()
        self.sock._incoming(feed, addr)
        return feed


class _DatagramShare(DatagramProtocol):
    """The protocol of one DATAGRAM/RAW session, shared by the shim sockets that name it."""

    def __init__(self, port: I2PDatagramPort) -> None:
        self.port = port
        self.sockets: list[_FedSocket] = []

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        for sock in self.sockets:  # the oldest open socket takes it
            if not sock._closed:
                sock._packet(datagram, addr)
                return
