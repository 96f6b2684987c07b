"""The :class:`socket` class, and the raw file behind its :meth:`~socket.makefile`."""

from __future__ import annotations

import io
import sys as _sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from txi2p.address import Destination, I2PAddress
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.datagram import I2PDatagramEndpoint
from txi2p.errors import TxI2PError
from txi2p.session import SAMSession
from txi2p.socket import (
    AF_I2P,
    MSG_DONTWAIT,
    MSG_PEEK,
    MSG_WAITALL,
    RECV_BUFFER_HIGH,
    SEND_BUFFER_HIGH,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_STREAM,
)
from txi2p.socket.context import _ShimContext
from txi2p.socket.errors import BlockError, ClosedError, Error, NetworkError, Timeout, _network_error
from txi2p.socket.feeds import _AcceptFeed, _DatagramShare, _StreamFeed
from txi2p.socket.names import host_name
from txi2p.socket.options import (
    _ADVISORY_OPTIONS,
    _STYLES,
    _TIMEOUT_OPTIONS,
    _TIMEVAL,
    _bridge_config,
    _dotted,
)
from txi2p.socket.readiness import _Signal
from txi2p.socket.states import _SOCKET_TRANSITIONS, SocketState
from txi2p.states import checked_move

# Logged under the shim's name, as when it was one module (observers filter on it).
_log = Logger(namespace="txi2p.socket")


class socket:
    """An I2P socket; see the module docs and the ``i2p.socket`` documentation.

    :param session: session name (shared within the process by sockets of
        the same type); ``""`` for a transient session.
    :param type: :data:`SOCK_STREAM`, :data:`SOCK_DGRAM` or :data:`SOCK_RAW`.
    :param samaddr: ``host:port`` of the SAM bridge.
    :param bridge: instead of *samaddr*, a :class:`~txi2p.config.BridgeConfig`
        (a remote bridge, SAM 3.2 credentials).
    :param kwargs: ``in_depth``, ``out_depth``, and I2CP options (dots may
        be written as underscores: ``inbound_quantity=3``).
    """

    def __init__(self, session: str = "", type: int = SOCK_STREAM, samaddr: str | None = None,
                 *, bridge: BridgeConfig | None = None, **kwargs: Any) -> None:
        if type not in (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW):
            raise ValueError(f"type must be SOCK_STREAM, SOCK_DGRAM or SOCK_RAW, not {type!r}")
        if not isinstance(session, str):
            raise TypeError(f"session must be a str, not {session!r}")
        self._bridge_config = _bridge_config(samaddr, bridge)
        in_depth = kwargs.pop("in_depth", None)
        out_depth = kwargs.pop("out_depth", None)
        self._session_config = SessionConfig.build(
            nickname=session or None, style=_STYLES[type], options=_dotted(kwargs),
            in_depth=in_depth, out_depth=out_depth, auto_close=type != SOCK_STREAM)
        self._init_state(type)
        self._ctx = _ShimContext.get()
        self._session_name = session
        try:
            if type == SOCK_STREAM:
                registry = self._ctx.registry
                self._session: SAMSession = self._ctx.call(
                    lambda: registry.acquire(registry.bridge(self._bridge_config), self._session_config),
                    what=f"creating session {session!r}")
            else:
                self._session = self._ctx.call(self._join_datagram_session, what=f"creating session {session!r}")
        except BaseException as e:
            self._signal.close()
            if isinstance(e, TxI2PError) and not isinstance(e, (Error, ValueError)):
                # the router refused or failed (a login, a session): an OSError like every network error
                raise _network_error(e) from e
            raise
        self._watch_session()

    #: :data:`AF_I2P`, for code that checks a socket's family.
    family = AF_I2P
    #: Always 0, as for the standard library's default protocol.
    proto = 0

    def _init_state(self, type: int) -> None:
        self.type = type
        self._advisory: dict[tuple[int, int], int] = {}
        self._cond = threading.Condition()
        self._signal = _Signal()
        self._timeout: float | None = None
        self._closed = False
        self._state: SocketState = SocketState.NEW
        self._buffer = bytearray()
        self._outgoing: list[bytes] = []
        self._outgoing_bytes = 0
        self._flush_scheduled = False
        self._eof: Failure | None = None
        self._read_shut = False
        self._feed_proto: _StreamFeed | None = None
        self._peer: Destination | None = None
        self._connect_error: BaseException | None = None
        self._connect_to: Any = None
        self._accept_queue: deque[tuple[_StreamFeed, Any]] = deque()
        self._backlog = 0
        self._listening_port: Any = None
        self._packets: deque[tuple[bytes, Any]] = deque()
        self._share: _DatagramShare | None = None
        self._default_dest: Destination | None = None
        self._session_error: Error | None = None

    async def _join_datagram_session(self) -> SAMSession:
        """The DATAGRAM/RAW session of this socket's name, from the registry (shared by name)."""
        endpoint = I2PDatagramEndpoint(self._ctx.reactor, bridge_config=self._bridge_config,
                                       session_config=self._session_config, registry=self._ctx.registry)
        port = await endpoint.acquire_port()
        share = port.protocol
        if not isinstance(share, _DatagramShare):
            share = _DatagramShare(port)
            port.attach(share)
        share.sockets.append(self)
        self._share = share
        return port.session

    @classmethod
    def _accepted(cls, parent: socket, feed: _StreamFeed, peer: Any) -> socket:
        sock = cls.__new__(cls)
        sock._init_state(SOCK_STREAM)
        sock._ctx = parent._ctx
        sock._bridge_config = parent._bridge_config
        sock._session_name = parent._session_name
        sock._session_config = parent._session_config
        sock._session = parent._session
        sock._move(SocketState.CONNECTED)
        sock._peer = peer.destination if isinstance(peer, I2PAddress) else None
        sock._feed_proto = feed
        feed.sock = sock
        for data in feed.early:
            sock._feed(data)
        feed.early.clear()
        if feed.lost is not None:
            sock._feed_eof(feed.lost)
        sock._watch_session()
        return sock

    def _watch_session(self) -> None:
        """Blocked calls fail with :class:`NetworkError` if the session ends."""
        session = self._session
        self._ctx.reactor.callFromThread(lambda: session.closed.addCallback(self._session_ended))

    def _session_ended(self, _: object) -> None:
        reason = self._session.close_reason
        with self._cond:
            self._session_error = NetworkError(
                "SESSION_CLOSED",
                f"session {self._session.nickname!r} ended: "
                f"{reason.getErrorMessage() if reason is not None else 'closed'}")
            self._update_signal()
            self._cond.notify_all()

    # ---------------------------------------------------------- properties

    @property
    def dest(self) -> str:
        """Our I2P destination (base64)."""
        return self._session.destination.base64

    @property
    def session(self) -> str:
        """The session name."""
        return self._session_name

    @property
    def remotedest(self) -> str | None:
        """The peer's destination (base64), once connected."""
        if self._peer is not None:
            return self._peer.base64
        return self._default_dest.base64 if self._default_dest is not None else None

    def __repr__(self) -> str:
        kind = {SOCK_STREAM: "SOCK_STREAM", SOCK_DGRAM: "SOCK_DGRAM", SOCK_RAW: "SOCK_RAW"}[self.type]
        return f"<txi2p.socket {kind} session={self._session_name!r} {self._state}>"

    # ---------------------------------------------------------- modes

    def settimeout(self, value: float | None) -> None:
        if value is not None:
            value = float(value)
            if value < 0:
                raise ValueError("timeout must be None or >= 0")
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def setsockopt(self, level: int, optname: int, value: int | bytes) -> None:
        """Set an option, as code written for TCP sockets does.

        ``SO_RCVTIMEO``/``SO_SNDTIMEO`` (a ``struct timeval`` as bytes, or
        seconds) set the socket's timeout (see :meth:`settimeout`; 0 means
        none, as in POSIX): an I2P socket has one timeout for every call.
        ``SO_KEEPALIVE``, ``SO_REUSEADDR`` and ``TCP_NODELAY`` are accepted
        and remembered, with no effect: the router's streaming library
        decides.  Any other option raises :class:`Error`.
        """
        key = (level, optname)
        if key in _TIMEOUT_OPTIONS:
            if isinstance(value, (bytes, bytearray)):
                if len(value) != _TIMEVAL.size:
                    raise ValueError(f"{_TIMEOUT_OPTIONS[key]} takes a struct timeval of {_TIMEVAL.size} bytes")
                seconds, micros = _TIMEVAL.unpack(value)
                timeout = seconds + micros / 1e6
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                timeout = float(value)
            else:
                raise TypeError(f"{_TIMEOUT_OPTIONS[key]} takes a struct timeval or seconds, not {value!r}")
            self.settimeout(timeout or None)
        elif key in _ADVISORY_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{_ADVISORY_OPTIONS[key]} takes an int, not {value!r}")
            self._advisory[key] = value
        else:
            raise Error(f"socket option (level {level}, option {optname}) is not supported by I2P sockets "
                        "(supported: SO_RCVTIMEO, SO_SNDTIMEO, SO_KEEPALIVE, SO_REUSEADDR, TCP_NODELAY)")

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> int | bytes:
        """An option's value (see :meth:`setsockopt`); the timeouts as a
        ``struct timeval`` when *buflen* is given, else in whole seconds."""
        key = (level, optname)
        if key in _TIMEOUT_OPTIONS:
            timeout = self._timeout or 0.0
            if buflen is None:
                return int(timeout)
            return _TIMEVAL.pack(int(timeout), round((timeout - int(timeout)) * 1e6))[:buflen]
        if key in _ADVISORY_OPTIONS:
            value = self._advisory.get(key, 0)
            return value if buflen is None else value.to_bytes(4, _sys.byteorder)[:buflen]
        raise Error(f"socket option (level {level}, option {optname}) is not supported by I2P sockets")

    def fileno(self) -> int:
        """A real descriptor, readable when a receive/accept would not block."""
        return self._signal.fileno()

    def bind(self, address: Any = None) -> None:
        """Does nothing: I2P sockets are always bound."""

    # ---------------------------------------------------------- waiting

    def _wait(self, ready: Callable[[], bool], flags: int = 0, what: str = "the call") -> None:
        """Wait (holding ``self._cond``) until *ready*, honouring the timeout mode."""
        if ready():
            return
        timeout = 0.0 if flags & MSG_DONTWAIT else self._timeout
        if timeout == 0:
            raise BlockError(f"{what} would block")
        if not self._cond.wait_for(ready, timeout):
            raise Timeout(f"{what} timed out after {timeout:g} s")

    def _update_signal(self) -> None:
        readable = (bool(self._buffer) or self._eof is not None or self._read_shut
                    or bool(self._accept_queue) or bool(self._packets) or self._closed
                    or self._session_error is not None)
        self._signal.set_readable(readable)

    # ---------------------------------------------------------- reactor-side feeds

    def _feed(self, data: bytes) -> None:
        with self._cond:
            self._buffer += data
            self._update_signal()
            self._cond.notify_all()
            if len(self._buffer) > RECV_BUFFER_HIGH and self._feed_proto is not None \
                    and not self._feed_proto.paused and self._feed_proto.transport is not None:
                self._feed_proto.paused = True
                self._feed_proto.call("pauseProducing")

    def _feed_eof(self, reason: Failure) -> None:
        with self._cond:
            self._eof = reason
            self._update_signal()
            self._cond.notify_all()

    def _incoming(self, feed: _StreamFeed, addr: Any) -> None:
        with self._cond:
            if len(self._accept_queue) >= max(1, self._backlog) or self._closed:
                self._ctx.reactor.callLater(0, feed.close_transport)
                return
            self._accept_queue.append((feed, addr))
            self._update_signal()
            self._cond.notify_all()

    def _packet(self, data: bytes, addr: Any) -> None:
        with self._cond:
            self._packets.append((data, addr))
            self._update_signal()
            self._cond.notify_all()

    # ---------------------------------------------------------- streams

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the socket is closed")

    def _resolve(self, address: Any) -> Destination:
        address = self._connect_target(address)
        if isinstance(address, Destination):
            return address
        session = self._session
        try:
            return self._ctx.call(lambda: session.lookup(address), self._timeout or None,
                                  what=f"resolving {address[:40]}")
        except Timeout:
            raise
        except Exception as e:
            raise _network_error(e) from e

    def connect(self, address: Any) -> None:
        """Connect to a destination, ``.b32.i2p`` name or host name."""
        self._check_open()
        if self.type != SOCK_STREAM:
            self._default_dest = self._resolve(address)
            return
        target = self._connect_target(address)
        with self._cond:
            if self._state == SocketState.CONNECTED:
                if target == self._connect_to:
                    return  # a non-blocking connect that has completed
                raise Error("the socket is already connected")
            if self._state == SocketState.CONNECTING:
                self._wait(lambda: self._state != SocketState.CONNECTING, 0, "connect")
                return self._finish_connect()
            if self._connect_error is not None:  # a non-blocking connect that failed
                return self._finish_connect()
            if self._state != SocketState.NEW:
                raise Error(f"cannot connect a socket that is {self._state}")
            self._move(SocketState.CONNECTING)
            self._connect_to = target
            self._signal.set_writable(False)
        feed = _StreamFeed(self)
        self._feed_proto = feed
        session = self._session

        def start() -> None:
            d = Deferred.fromCoroutine(session.connect(target, Factory.forProtocol(lambda: feed)))
            d.addBoth(self._connected, feed)

        self._ctx.reactor.callFromThread(start)
        with self._cond:
            self._wait(lambda: self._state != SocketState.CONNECTING, 0, "connect")
        self._finish_connect()

    @staticmethod
    def _connect_target(address: Any) -> Destination | str:
        if isinstance(address, tuple):  # (dest, port), like AF_INET addresses
            address = address[0]
        if isinstance(address, I2PAddress):
            address = address.destination or address.host
        if isinstance(address, str):
            address = host_name(address)  # http://duck.i2p/ as the classic module took it
        if not isinstance(address, (str, Destination)) or not address:
            raise ValueError(f"an I2P address must be a destination or host name, not {address!r}")
        return address

    def _move(self, to: SocketState) -> None:
        """Go to state *to*; a move not in the transition table is a txi2p bug."""
        self._state = checked_move(_SOCKET_TRANSITIONS, "a socket", self._state, to)

    def _connected(self, result: Any, feed: _StreamFeed) -> None:
        with self._cond:
            if isinstance(result, Failure):
                self._connect_error = result.value
                self._feed_proto = None
                self._move(SocketState.NEW)
            else:
                peer = feed.transport.getPeer() if feed.transport is not None else None
                self._peer = peer.destination if isinstance(peer, I2PAddress) else None
                self._move(SocketState.CONNECTED)
            self._signal.set_writable(True)
            self._update_signal()
            self._cond.notify_all()

    def _finish_connect(self) -> None:
        if self._connect_error is not None:
            error, self._connect_error = self._connect_error, None
            raise _network_error(error) from error

    def connect_ex(self, address: Any) -> Error | None:
        """Like :meth:`connect`, but return the error instead of raising it."""
        try:
            self.connect(address)
        except Error as e:
            return e
        return None

    def listen(self, backlog: int = 5) -> None:
        """Accept incoming streams; up to *backlog* wait for :meth:`accept`."""
        self._check_open()
        if self.type != SOCK_STREAM:
            raise Error("only SOCK_STREAM sockets listen")
        self._backlog = max(1, int(backlog))
        if self._listening_port is not None:
            return
        session = self._session

        async def listen() -> Any:
            port = session.listen(_AcceptFeed(self))
            await session.when_accepting()  # the router takes streams from now on
            return port

        self._listening_port = self._ctx.call(listen, what="listen")
        self._move(SocketState.LISTENING)

    def accept(self) -> tuple[socket, str | None]:
        """Wait for an incoming stream: ``(conn, remotedest)``."""
        self._check_open()
        if self._listening_port is None:
            raise Error("listen() must be called before accept()")
        with self._cond:
            self._wait(lambda: bool(self._accept_queue) or self._closed
                       or self._session_error is not None, 0, "accept")
            self._check_open()
            if not self._accept_queue and self._session_error is not None:
                raise self._session_error
            feed, addr = self._accept_queue.popleft()
            self._update_signal()
        conn = socket._accepted(self, feed, addr)
        return conn, conn.remotedest

    # ---------------------------------------------------------- sending

    def send(self, data: bytes, flags: int = 0) -> int:
        """Send all of *data*.

        Sends are queued and written by the reactor in batches.  While the
        queue is full (:data:`SEND_BUFFER_HIGH`, the peer reading slower
        than we write), a blocking socket waits for room (up to its
        timeout); a non-blocking one raises :class:`BlockError`.
        """
        data = bytes(memoryview(data))
        if self.type == SOCK_STREAM:
            self._check_open()
            with self._cond:
                if self._state != SocketState.CONNECTED or self._feed_proto is None:
                    raise Error("the socket is not connected")
                feed = self._feed_proto
                gone = lambda: self._closed or (self._eof is not None and feed.transport is None)  # noqa: E731
                try:
                    self._wait(lambda: gone() or self._session_error is not None or (
                        not feed.write_paused and self._outgoing_bytes < SEND_BUFFER_HIGH), flags, "send")
                except BlockError:
                    # select()/poll() report the socket unwritable until there is room
                    self._signal.set_writable(False)
                    raise
                self._check_open()
                if gone():
                    raise ClosedError("the stream is closed")
                if self._session_error is not None:
                    raise self._session_error
                self._outgoing.append(data)
                self._outgoing_bytes += len(data)
                schedule, self._flush_scheduled = not self._flush_scheduled, True
            if schedule:
                self._ctx.reactor.callFromThread(self._flush)
            return len(data)
        if self._default_dest is None:
            raise Error("connect() first, or use sendto()")
        return self.sendto(data, 0, self._default_dest)

    def _room_for_sends(self) -> None:
        """Called holding ``self._cond`` when sends may go on: wake and mark writable."""
        feed = self._feed_proto
        if not self._signal.writable and self._state == SocketState.CONNECTED and (
                feed is None or not feed.write_paused):
            self._signal.set_writable(True)
        self._cond.notify_all()

    def _flush(self) -> None:
        """Reactor thread: hand every queued send to the transport at once."""
        with self._cond:
            chunks, self._outgoing = self._outgoing, []
            self._outgoing_bytes = 0
            self._flush_scheduled = False
            feed = self._feed_proto
            self._room_for_sends()
        if chunks and feed is not None:
            feed.call("writeSequence", chunks)

    def sendall(self, data: bytes, flags: int = 0) -> None:
        """Identical to :meth:`send` (which sends everything)."""
        self.send(data, flags)

    def sendto(self, data: bytes, flags_or_address: Any, address: Any = None) -> int:
        """Send a packet to a destination: ``sendto(data, address)`` or ``sendto(data, flags, address)``."""
        self._check_open()
        if address is None:
            address = flags_or_address
        if self.type == SOCK_STREAM:
            raise Error("sendto() is for SOCK_DGRAM and SOCK_RAW sockets")
        data = bytes(memoryview(data))
        assert self._share is not None
        port = self._share.port
        if len(data) > port.max_size:
            raise Error(f"a packet of {len(data)} bytes is over this socket's limit of {port.max_size}")
        dest = self._resolve(address)

        def write() -> None:
            d = port.write(data, dest)
            d.addErrback(lambda f: _log.warn("sendto failed: {error}", error=f.getErrorMessage()))

        self._ctx.reactor.callFromThread(write)  # sends never block
        return len(data)

    # ---------------------------------------------------------- receiving

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Receive up to *bufsize* bytes (a whole packet with -1 on packet sockets)."""
        return self._recv(bufsize, flags)[0]

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, str | None]:
        """Like :meth:`recv`, also returning the sender's destination (base64)."""
        return self._recv(bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        data = self._recv(nbytes or len(view), flags)[0]
        view[:len(data)] = data
        return len(data)

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, str | None]:
        view = memoryview(buffer).cast("B")
        data, addr = self._recv(nbytes or len(view), flags)
        view[:len(data)] = data
        return len(data), addr

    def _recv(self, bufsize: int, flags: int) -> tuple[bytes, str | None]:
        if not isinstance(bufsize, int) or (bufsize < 0 and not (bufsize == -1 and self.type != SOCK_STREAM)):
            raise ValueError(f"bufsize must be a non-negative integer, not {bufsize!r}")
        if bufsize == 0:
            return b"", self.remotedest
        if self.type == SOCK_STREAM:
            return self._recv_stream(bufsize, flags), self.remotedest
        return self._recv_packet(bufsize, flags)

    def _recv_stream(self, bufsize: int, flags: int) -> bytes:
        with self._cond:
            if self._state != SocketState.CONNECTED and not self._buffer:
                if self._closed or self._eof is not None:
                    return b""
                raise Error("the socket is not connected")
            done = lambda: (self._eof is not None or self._read_shut or self._closed  # noqa: E731
                            or self._session_error is not None
                            or len(self._buffer) >= (bufsize if flags & MSG_WAITALL else 1))
            self._wait(done, flags, "recv")
            if not self._buffer and self._session_error is not None and not self._closed:
                raise self._session_error
            data = bytes(self._buffer[:bufsize])
            if not flags & MSG_PEEK:
                del self._buffer[:bufsize]
                feed = self._feed_proto
                if feed is not None and feed.paused and len(self._buffer) < RECV_BUFFER_HIGH // 2:
                    feed.paused = False
                    self._ctx.reactor.callFromThread(feed.call, "resumeProducing")
            self._update_signal()
            return data

    def _recv_packet(self, bufsize: int, flags: int) -> tuple[bytes, str | None]:
        self._check_open()
        with self._cond:
            self._wait(lambda: bool(self._packets) or self._closed
                       or self._session_error is not None, flags, "recv")
            self._check_open()
            if not self._packets and self._session_error is not None:
                raise self._session_error
            data, addr = self._packets[0] if flags & MSG_PEEK else self._packets.popleft()
            self._update_signal()
        sender = addr.destination.base64 if isinstance(addr, I2PAddress) and addr.destination else None
        return (data if bufsize < 0 else data[:bufsize]), sender

    # ---------------------------------------------------------- closing

    def shutdown(self, how: int) -> None:
        """Shut down reading (SHUT_RD), writing (SHUT_WR, a half-close) or both."""
        self._check_open()
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise ValueError(f"how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not {how!r}")
        if how in (SHUT_RD, SHUT_RDWR):
            with self._cond:
                self._read_shut = True
                self._buffer.clear()
                self._update_signal()
                self._cond.notify_all()
        if how in (SHUT_WR, SHUT_RDWR) and self._feed_proto is not None:
            feed = self._feed_proto
            self._ctx.reactor.callFromThread(
                feed.close_transport, how == SHUT_WR)

    def close(self) -> None:
        """Close the socket; bytes already sent are still delivered."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._update_signal()
            self._cond.notify_all()
        reactor = self._ctx.reactor
        if self._feed_proto is not None:
            reactor.callFromThread(self._feed_proto.close_transport)
        if self._listening_port is not None:
            port = self._listening_port
            reactor.callFromThread(port.stopListening)
            for feed, _ in list(self._accept_queue):
                reactor.callFromThread(feed.close_transport)
        if self._share is not None:
            self._share.sockets.remove(self)
            # the session ends with its last socket (the registry closes it)
            reactor.callFromThread(self._ctx.registry.release, self._session)
        self._signal.close()

    def __enter__(self) -> socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def getpeername(self) -> str | None:
        """The remote destination (base64)."""
        return self.remotedest

    def getsockname(self) -> str:
        """Our destination (base64)."""
        return self.dest

    def makefile(self, mode: str = "r", buffering: int | None = None, *,
                 encoding: str | None = None, errors: str | None = None, newline: str | None = None) -> Any:
        """A file object reading and writing the stream (like ``socket.makefile``)."""
        if self.type != SOCK_STREAM:
            raise Error("makefile() is for SOCK_STREAM sockets")
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b)")
        reading, writing, binary = "r" in mode, "w" in mode, "b" in mode
        raw = _SocketIO(self, reading, writing)
        if buffering is None or buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: Any
        if reading and writing:
            buffer = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = io.BufferedReader(raw, buffering)
        else:
            buffer = io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        text = io.TextIOWrapper(buffer, encoding, errors, newline)
        text.mode = mode  # type: ignore[misc]
        return text


class _SocketIO(io.RawIOBase):
    def __init__(self, sock: socket, reading: bool, writing: bool) -> None:
        super().__init__()
        self._sock = sock
        self._reading = reading
        self._writing = writing

    def readinto(self, b: Any) -> int:
        return self._sock.recv_into(b)

    def write(self, b: Any) -> int:
        return self._sock.send(b)

    def readable(self) -> bool:
        return self._reading

    def writable(self) -> bool:
        return self._writing

    def fileno(self) -> int:
        return self._sock.fileno()
