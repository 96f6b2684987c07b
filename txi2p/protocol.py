"""SAM over Twisted: thin adapters over the sans-I/O control and data channels.

:class:`SAMControlProtocol` drives a :class:`~txi2p.sam.control.ControlConnection`
(a session's control connection, or a short-lived one for lookups): HELLO,
then commands one at a time, each with its own
:class:`~twisted.internet.defer.Deferred` and timeout.

:class:`SAMStreamProtocol` drives a :class:`~txi2p.sam.data.DataConnection`:
HELLO, then ``STREAM CONNECT`` or ``STREAM ACCEPT`` (or a connection the
router opened to us for ``STREAM FORWARD``).  Once the router says OK —
and, for ACCEPT, names the peer — the socket is handed to the user's
protocol: the TCP transport's ``protocol`` is replaced, so the user's
``dataReceived`` gets the socket's reads as they come, unbuffered (through
``_ProtocolTap``'s one call where the session watches for the close;
:mod:`txi2p.handoff`).

What a line means and which state comes next is the sans-I/O side's;
writes, timers, queues, Deferreds and flow control are this module's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IDelayedCall, IProtocol, IProtocolFactory, IReactorTime, ITransport
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from txi2p.address import Destination, I2PAddress
from txi2p.errors import (
    CommandTimeout,
    SAMConnectionLost,
    SAMError,
    SAMProtocolError,
    StreamRejected,
    TxI2PError,
)
from txi2p.handoff import I2PStreamTransport, _ProtocolTap, close_after_flush
from txi2p.handoff import _abort_transport as _abort_transport
from txi2p.sam import codec
from txi2p.sam.control import (
    MAX_UNSOLICITED_LOGGED,
    Answered,
    ControlConnection,
    ControlState,
    PacketReceived,
    Ready,
    Refused,
    Unsolicited,
)
from txi2p.sam.data import (
    MAX_DATA_PINGS,
    STREAM_MOVES,
    Accepted,
    Connected,
    DataConnection,
    Forwarding,
    PeerNamed,
    StreamState,
)
from txi2p.sam.dialect import SAMDialect
from txi2p.sam.events import Failed, Pinged, Sent
from txi2p.timeouts import Timeouts

__all__ = [
    "MAX_DATA_PINGS",
    "MAX_QUEUED",
    "MAX_UNSOLICITED_LOGGED",
    "I2PStreamTransport",
    "SAMControlProtocol",
    "SAMStreamProtocol",
    "StreamState",
    "Timeouts",
]

_log = Logger()

#: Commands that may wait on one control connection (beyond it, a command fails at once).
MAX_QUEUED = 1024


@dataclass
class _Pending:
    command: codec.Command
    deferred: Deferred[Any]
    timeout: float
    expects_pong: bool = False
    timer: IDelayedCall | None = field(default=None, repr=False)


class SAMControlProtocol(Protocol):
    """A SAM control connection: a queue of commands, one on the wire at a time.

    The Twisted side of a :class:`~txi2p.sam.control.ControlConnection`,
    which decides what each line means and which state comes next; this
    class writes, times, queues and fires Deferreds.

    :param clock: the reactor (for timeouts).
    :param hello: the HELLO command to open with.
    :param sam_address: the SAM bridge's address, for error messages.
    :param timeouts: command timeouts.

    :ivar ready: fires with the :class:`SAMDialect` once HELLO succeeded.
    :ivar on_packet: called with each :class:`~txi2p.sam.codec.Packet`
        received on this connection (DATAGRAM/RAW RECEIVED).
    :ivar on_close: called once with the reason when the connection ends.
    """

    def __init__(
        self,
        clock: IReactorTime,
        hello: codec.Command,
        sam_address: str = "",
        timeouts: Timeouts | None = None,
    ) -> None:
        self._clock = clock
        self.sam_address = sam_address
        self.timeouts = timeouts or Timeouts()
        self._conn = ControlConnection(hello)
        self._queue: deque[_Pending] = deque()
        self._current: _Pending | None = None
        self._reason: Failure | None = None
        self._keepalive: IDelayedCall | None = None
        self.ready: Deferred[SAMDialect] = Deferred()
        self.on_packet: Callable[[codec.Packet], None] | None = None
        self.on_close: Callable[[Failure], None] | None = None
        self._writes_blocked = False

    @property
    def state(self) -> ControlState:
        """Where the connection is (see :data:`~txi2p.sam.control.CONTROL_TRANSITIONS`)."""
        return self._conn.state

    @property
    def dialect(self) -> SAMDialect | None:
        """The dialect, once known (the bridge replaces it with what it learned)."""
        return self._conn.dialect

    @dialect.setter
    def dialect(self, dialect: SAMDialect | None) -> None:
        self._conn.dialect = dialect

    # ------------------------------------------------------------ commands

    def command(
        self, command: codec.Command, timeout: float | None = None
    ) -> Deferred[codec.Reply]:
        """Send *command* when its turn comes; fire with the router's reply.

        Fails with the :class:`~txi2p.errors.SAMError` subclass for a
        non-OK ``RESULT``, :class:`~txi2p.errors.CommandTimeout` after
        *timeout* seconds (the connection is then closed, since its state
        is unknown), or :class:`~txi2p.errors.SAMConnectionLost`.
        """
        return self._enqueue(command, self.timeouts.command if timeout is None else timeout)

    def send_packet(self, command: codec.Command) -> None:
        """Write a command that gets no reply (DATAGRAM SEND / RAW SEND)."""
        if not self._conn.open:
            raise SAMConnectionLost(f"the SAM connection to {self.sam_address} is closed")
        if self.transport is None:
            raise SAMConnectionLost(f"not connected to the SAM bridge at {self.sam_address}")
        self.transport.write(command.encode())

    def ping(self, text: str = "txi2p") -> Deferred[Any]:
        """Send PING and wait for PONG.

        Refused where the dialect says the router closes the socket on PING
        (``dialect.ping`` False); allowed where it is not known yet (a
        probe, see :meth:`~txi2p.bridge.SAMBridge.ping_allowed`).
        """
        if self.dialect is not None and self.dialect.ping is False:
            raise SAMError("I2P_ERROR", "this router closes the connection on PING", "PING", local=True)
        return self._enqueue(codec.ping(text), self.timeouts.command, expects_pong=True)

    def _enqueue(self, command: codec.Command, timeout: float, expects_pong: bool = False) -> Deferred[Any]:
        pending = _Pending(command, Deferred(lambda d: self._cancel(pending)), timeout, expects_pong)
        if not self._conn.open:
            pending.deferred.errback(self._lost_error())
        elif len(self._queue) + (self._current is not None) >= MAX_QUEUED:
            pending.deferred.errback(TxI2PError(
                f"{command.name}: {MAX_QUEUED} commands already wait on the SAM connection to "
                f"{self.sam_address}; is the bridge answering?"))
        else:
            self._queue.append(pending)
            self._send_next()
        return pending.deferred

    def _cancel(self, pending: _Pending) -> None:
        _stop(pending.timer)
        if pending is not self._current:
            if pending in self._queue:
                self._queue.remove(pending)
            return
        # Its reply will still come and must not be taken for the
        # next command's: the connection's state is now unknown.
        self._abort(SAMConnectionLost(
            f"{pending.command.name} was cancelled after it was sent; "
            f"the connection to {self.sam_address} was closed"))

    def _send_next(self) -> None:
        if self._queue and self.transport is not None and self._conn.state is ControlState.READY:
            self._send(self._queue.popleft())

    def _send(self, pending: _Pending) -> None:
        assert self.transport is not None
        data = self._conn.send(pending.command, pending.expects_pong)
        self._current = pending
        pending.timer = self._clock.callLater(pending.timeout, self._timed_out, pending)
        _log.debug("SAM {address} <- {command!r}", address=self.sam_address, command=pending.command)
        self.transport.write(data)

    def _timed_out(self, pending: _Pending) -> None:
        pending.timer = None
        error = CommandTimeout(pending.command.name, pending.timeout, self.sam_address)
        _log.warn("{error}", error=error)
        self._abort(error)

    def _abort(self, error: Exception) -> None:
        """Fail everything and close: used when the connection's state is unknown."""
        self._conn.fail(error)
        self._end(error)
        if self.transport is not None:
            _abort_transport(self.transport)

    def _end(self, error: Exception) -> None:
        if self._reason is None:
            self._reason = Failure(error)
        self._fail_all(self._reason)

    # ------------------------------------------------------------ events

    def connectionMade(self) -> None:
        # Flow control for what we write unasked (PONGs): while the bridge
        # does not read them, stop reading its PINGs.
        register = getattr(self.transport, "registerProducer", None)
        if register is not None:
            register(self, True)
        self._send(_Pending(self._conn.hello, self.ready, self.timeouts.command))

    # ------------------------------------------------------------ flow control

    def pauseProducing(self) -> None:
        """The transport's write buffer is full: stop reading until it drains."""
        if not self._writes_blocked and self.transport is not None:
            self._writes_blocked = True
            _log.info("SAM {address} does not read what txi2p writes; reading paused",
                      address=self.sam_address)
            self.transport.pauseProducing()  # type: ignore[attr-defined]

    def resumeProducing(self) -> None:
        if self._writes_blocked and self.transport is not None:
            self._writes_blocked = False
            self.transport.resumeProducing()  # type: ignore[attr-defined]

    def stopProducing(self) -> None:
        self._writes_blocked = False

    def dataReceived(self, data: bytes) -> None:
        self._conn.receive_data(data)
        while (event := self._conn.next_event()) is not codec.NEED_DATA:
            _CONTROL_HANDLERS[type(event)](self, event)

    def _answered(self, event: Answered | Ready) -> None:
        _log.debug("SAM {address} -> {event!r}", address=self.sam_address,
                   event=getattr(event, "reply", event))
        self._finish().callback(event.reply if isinstance(event, Answered) else event.dialect)
        self._send_next()

    def _refused(self, event: Refused) -> None:
        self._finish().errback(event.error)
        if self._conn.state is ControlState.ERROR:  # HELLO refused
            self._end(event.error)
            if self.transport is not None:
                close_after_flush(self.transport)
        self._send_next()

    def _finish(self) -> Deferred[Any]:
        """The Deferred of the command just answered, its timer stopped."""
        current, self._current = self._current, None
        assert current is not None
        _stop(current.timer)
        return current.deferred

    def _pinged(self, event: Pinged) -> None:
        assert self.transport is not None
        self.transport.write(event.data)

    def _packet(self, event: PacketReceived) -> None:
        if self.on_packet is not None:
            self.on_packet(event.packet)
        else:
            _log.warn("SAM {address}: {kind} packet with nobody to take it, dropped",
                      address=self.sam_address, kind=event.packet.kind)

    def _unsolicited(self, event: Unsolicited) -> None:
        if event.count <= MAX_UNSOLICITED_LOGGED:
            _log.warn("SAM {address}: unsolicited {event!r}, ignored{more}", address=self.sam_address,
                      event=event.line, more=" (no more are logged)"
                      if event.count == MAX_UNSOLICITED_LOGGED else "")

    def _failed(self, event: Failed) -> None:
        _log.warn("SAM {address}{garbage}: {error}", address=self.sam_address, error=event.error,
                  garbage=" sent garbage" if event.garbage else "")
        self._end(event.error)
        if self.transport is not None:
            _abort_transport(self.transport)

    def connectionLost(self, reason: Failure = Failure(ConnectionError("closed"))) -> None:
        _stop(self._keepalive)
        was = self._conn.state
        self._conn.closed()
        if self._reason is None:
            self._reason = reason
        self._fail_all(self._reason)
        if was is ControlState.NEW:
            self.ready.errback(self._lost_error())
        if self.on_close is not None:
            callback, self.on_close = self.on_close, None
            callback(self._reason)

    def _lost_error(self, reason: Failure | None = None) -> Exception:
        reason = reason or self._reason
        assert reason is not None
        if isinstance(reason.value, TxI2PError):
            return reason.value
        return SAMConnectionLost(
            f"the connection to the SAM bridge at {self.sam_address} closed: "
            f"{reason.getErrorMessage()}"
        )

    def _fail_all(self, reason: Failure) -> None:
        queue, self._queue = self._queue, deque()
        if self._current is not None:
            queue.appendleft(self._current)
            self._current = None
        for pending in queue:
            _stop(pending.timer)
            if not pending.deferred.called:
                pending.deferred.errback(self._lost_error(reason))

    # ------------------------------------------------------------ keep-alive

    def start_keepalive(self) -> None:
        """PING every ``timeouts.keepalive`` seconds while idle.

        Call it only where ``dialect.ping`` is True: some routers close the
        connection after answering a PING.
        """
        if self.timeouts.keepalive and self._keepalive is None and self._conn.open:
            self._schedule_keepalive()

    def _schedule_keepalive(self) -> None:
        self._keepalive = self._clock.callLater(self.timeouts.keepalive, self._send_keepalive)

    def _send_keepalive(self) -> None:
        if not self._conn.open:
            return
        if not self._queue and self._current is None:
            d = self.ping()
            d.addErrback(lambda f: f.trap(TxI2PError, CancelledError))
        self._schedule_keepalive()

    def close(self) -> None:
        """Close the connection (which ends a session held on it)."""
        if self.transport is not None and self._conn.open:
            close_after_flush(self.transport)

    def __repr__(self) -> str:
        return f"<SAMControlProtocol {self.state} {self.sam_address}>"


_CONTROL_HANDLERS: Mapping[type, Callable[[SAMControlProtocol, Any], None]] = MappingProxyType({
    Ready: SAMControlProtocol._answered,
    Answered: SAMControlProtocol._answered,
    Refused: SAMControlProtocol._refused,
    Pinged: SAMControlProtocol._pinged,
    PacketReceived: SAMControlProtocol._packet,
    Unsolicited: SAMControlProtocol._unsolicited,
    Failed: SAMControlProtocol._failed,
})


def _stop(timer: IDelayedCall | None) -> None:
    if timer is not None and timer.active():
        timer.cancel()


_STREAM_TRANSITIONS = STREAM_MOVES  # state -> states; the table is txi2p.sam.data's


class SAMStreamProtocol(Protocol):
    """A SAM data connection, until it is handed to the user's protocol.

    The Twisted side of a :class:`~txi2p.sam.data.DataConnection`, which
    decides what each line means and which state comes next; this class
    writes, times, fires :attr:`established` and hands the transport over.

    :param clock: the reactor.
    :param hello: the HELLO command, or None for a connection the router
        opened to us (STREAM FORWARD), which starts with the peer line.
    :param stream_command: ``STREAM CONNECT`` or ``STREAM ACCEPT`` (None
        for FORWARD).
    :param factory: the user's protocol factory.
    :param host: our own :class:`I2PAddress`.
    :param peer: the peer's address for CONNECT (ACCEPT learns it).
    :param timeout: seconds for HELLO and the STREAM reply.
    :param sam_address: the SAM bridge address, for messages.
    :param route: for ACCEPT/FORWARD: picks the factory for the peer's
        ``TO_PORT`` (None if the router reported none); returning None
        rejects the stream.  Without it, *factory* takes every stream.
    :param on_lost: called with the reason when an established stream ends.

    :ivar established: fires with the user's protocol once it has the
        connection, or fails with the reason it never will.
    """

    def __init__(
        self,
        clock: IReactorTime,
        hello: codec.Command | None,
        stream_command: codec.Command | None,
        factory: IProtocolFactory,
        host: I2PAddress,
        peer: I2PAddress | None = None,
        timeout: float = 60.0,
        sam_address: str = "",
        route: Callable[[int | None], IProtocolFactory | None] | None = None,
        on_lost: Callable[[Failure], None] | None = None,
    ) -> None:
        self._clock = clock
        self._conn = DataConnection(hello, stream_command)
        self._factory = factory
        self._host = host
        self._peer = peer
        self._timeout = timeout
        self.sam_address = sam_address
        self._route = route
        self._on_lost = on_lost
        self.to_port: int | None = None
        #: Called when the router has taken a STREAM ACCEPT (STATUS OK).
        self.on_acknowledged: Callable[[], None] | None = None
        self._timer: IDelayedCall | None = None
        self._timed: str | None = None
        self._user: IProtocol | None = None
        self.established: Deferred[IProtocol] = Deferred(self._cancel)

    @property
    def state(self) -> StreamState:
        """Where the connection is (see :data:`~txi2p.sam.data.STREAM_TRANSITIONS`)."""
        return self._conn.state

    @property
    def is_incoming(self) -> bool:
        """True for a stream a peer opened to us (ACCEPT or FORWARD)."""
        return self._conn.stream_command is None or self._conn.stream_command.action != "CONNECT"

    @property
    def is_accept(self) -> bool:
        """True for a STREAM ACCEPT connection."""
        return self._conn.stream_command is not None and self._conn.stream_command.action == "ACCEPT"

    @property
    def accepting(self) -> bool:
        """True while an ACCEPT waits for a peer."""
        return self.state == StreamState.WAITING_PEER

    def _cancel(self, d: Deferred[IProtocol]) -> None:
        self._conn.cancel()
        self._sync_timer()
        if self.transport is not None:
            _abort_transport(self.transport)

    def _sync_timer(self) -> None:
        """Time what the connection now awaits (restarted when that changes)."""
        timed = self._conn.timed
        if timed == self._timed:
            return
        _stop(self._timer)
        self._timer, self._timed = None, timed
        if timed is not None:
            self._timer = self._clock.callLater(self._timeout, self._timed_out, timed)

    def _timed_out(self, what: str) -> None:
        self._timer = None
        self._fail(CommandTimeout(what, self._timeout, self.sam_address))

    def _fail(self, error: Exception) -> None:
        self._conn.fail(error)
        self._failed(Failed(error))

    def _failed(self, event: Failed) -> None:
        self._sync_timer()
        if not self.established.called:
            self.established.errback(event.error)
        if self.transport is not None:
            _abort_transport(self.transport)

    def connectionMade(self) -> None:
        assert self.transport is not None
        data = self._conn.start()
        self._sync_timer()
        if data:
            self.transport.write(data)

    def dataReceived(self, data: bytes) -> None:
        if self._user is not None:  # relaying (transport could not be swapped)
            self._user.dataReceived(data)
            return
        self._conn.receive_data(data)
        while self._user is None and (event := self._conn.next_event()) is not codec.NEED_DATA:
            self._sync_timer()
            _STREAM_HANDLERS[type(event)](self, event)

    def _write(self, event: Pinged | Sent) -> None:
        assert self.transport is not None
        self.transport.write(event.data)

    def _accepted(self, event: Accepted) -> None:
        if self.on_acknowledged is not None:
            self.on_acknowledged()

    def _forwarding(self, event: Forwarding) -> None:
        self.established.callback(None)  # type: ignore[arg-type]  # idles; the router connects to us

    def _peer_named(self, event: PeerNamed) -> None:
        try:
            dest = Destination.from_base64(event.line.destination)
        except TxI2PError as e:
            self._fail(SAMProtocolError(f"the router named a bad peer: {e}"))
            return
        self._peer = I2PAddress(dest, port=event.line.port("FROM_PORT"))
        self.to_port = event.line.port("TO_PORT")
        self._conn.establish()
        self._sync_timer()
        self._establish()

    def _user_protocol(self) -> IProtocol | None:
        """The user's protocol for this stream (None: the stream failed, rejected)."""
        assert self._peer is not None
        factory = self._factory if self._route is None else self._route(self.to_port)
        user = None if factory is None else factory.buildProtocol(self._peer)
        if user is None:
            self._fail(StreamRejected(f"no listener for I2P port {self.to_port}" if factory is None
                                      else "the protocol factory refused the connection"))
        return user

    def _establish(self, event: Connected | None = None) -> None:
        assert self.transport is not None and self._peer is not None
        if (user := self._user_protocol()) is None:
            return
        self._user = user
        leftover = self._conn.decoder.take_remaining()
        wrapped = I2PStreamTransport(self.transport, self._host, self._peer,
                                     tls_client=not self.is_incoming)
        if getattr(self.transport, "protocol", None) is self:
            # From now on the socket's bytes go straight to the user.
            self.transport.protocol = (  # type: ignore[attr-defined]
                user if self._on_lost is None else _ProtocolTap(user, self._on_lost))
        user.makeConnection(cast(ITransport, wrapped))
        self.established.callback(user)
        if leftover and self.transport is not None and not getattr(self.transport, "disconnected", False):
            user.dataReceived(leftover)

    def connectionLost(self, reason: Failure = Failure(ConnectionError("closed"))) -> None:
        _stop(self._timer)
        if self._user is not None:  # relaying
            self._user.connectionLost(reason)
            if self._on_lost is not None:
                self._on_lost(reason)
            return
        what = self._conn.waiting_for
        self._conn.closed()
        if not self.established.called:
            self.established.errback(SAMConnectionLost(
                f"the SAM bridge at {self.sam_address} closed the data connection {what}: "
                f"{reason.getErrorMessage()}".rstrip(": ")))

    def __repr__(self) -> str:
        return f"<SAMStreamProtocol {self.state} {self._host!r}>"


_STREAM_HANDLERS: Mapping[type, Callable[[SAMStreamProtocol, Any], None]] = MappingProxyType({
    Pinged: SAMStreamProtocol._write,
    Sent: SAMStreamProtocol._write,
    Connected: SAMStreamProtocol._establish,
    Accepted: SAMStreamProtocol._accepted,
    Forwarding: SAMStreamProtocol._forwarding,
    PeerNamed: SAMStreamProtocol._peer_named,
    Failed: SAMStreamProtocol._failed,
})
