"""Listening on a session: the router's acceptors and the ports they feed.

:meth:`~txi2p.session.SAMSession.listen` gives each
listener an :class:`I2PListeningPort`; a session's :class:`Listeners` owns
them, and behind them one acceptor takes the incoming streams and routes them by
``TO_PORT``.  Which acceptor, and the waits around it, follow the bridge's
:class:`~txi2p.sam.dialect.SAMDialect` (the fields
``concurrent_accepts`` and ``accept_settle``; see :mod:`txi2p.sam.dialect`):

* on a bridge on this host, one ``STREAM FORWARD`` (every router has it:
  no race, no backlog limit), kept until the session ends;
* elsewhere, ``STREAM ACCEPT`` commands, each sent once the router has
  taken the one before (several pending only where the dialect allows it),
  kept :data:`LISTEN_LINGER_TIME` seconds after the last listener stopped;
* between a cancelled ACCEPT or FORWARD and the next, the dialect's
  ``accept_settle`` (:class:`AcceptSettle`).

:meth:`~txi2p.session.SAMSession.forward` returns a
:class:`ForwardingPort`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IProtocol, IProtocolFactory
from twisted.internet.protocol import Factory
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from txi2p.address import I2PAddress
from txi2p.config import check_port
from txi2p.errors import StreamRejected
from txi2p.protocol import SAMStreamProtocol
from txi2p.sam.dialect import SAMDialect

if TYPE_CHECKING:
    from txi2p.session import SAMSession

__all__ = [
    "LISTEN_LINGER_TIME",
    "AcceptSettle",
    "ForwardingPort",
    "I2PListeningPort",
    "Listeners",
]

_log = Logger()

#: Seconds a session keeps its pending ACCEPTs (refusing the streams they
#: get) after its last listener stopped, so that a listen() soon after
#: reuses them at once.  A STREAM FORWARD is kept until the session ends.
LISTEN_LINGER_TIME = 5.0


class AcceptSettle:
    """When a session's last ACCEPT or FORWARD was cancelled, and the wait after it.

    On routers without concurrent accepts, a new ACCEPT or FORWARD waits
    until the cancelled one has ended (the dialect's ``accept_settle``):
    i2pd 2.45.1 does not register an ACCEPT that arrives while a cancelled
    one is still registered, and it resets a new FORWARD's acceptor when it
    processes the old one's end late, so the new one would never (or no
    longer) see a stream.

    :param reactor: the reactor whose clock to use.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._cancelled_at: float | None = None

    def cancelled(self) -> None:
        """An ACCEPT or FORWARD was cancelled (or closed) now."""
        self._cancelled_at = self._reactor.seconds()

    async def settle(self, dialect: SAMDialect | None) -> None:
        """Wait what is left of *dialect*'s ``accept_settle`` since the last cancel."""
        if dialect is None or not dialect.accept_settle or self._cancelled_at is None:
            return
        wait = self._cancelled_at + dialect.accept_settle - self._reactor.seconds()
        if wait > 0:
            await deferLater(self._reactor, wait, lambda: None)


#: Seconds a connection to a STREAM FORWARD port has to send its peer line.
FORWARD_PEER_LINE_TIMEOUT = 10.0

#: Connections to one STREAM FORWARD port that may wait for their peer line at once;
#: more are closed as they come (any local process can connect to the port).  The
#: router's own come in bursts: the reactor accepts a whole burst (a hundred or more)
#: before it reads the first peer line, and each one refused is a stream lost, so the
#: cap is far above any burst; the 10 s timeout is what frees the descriptors.
MAX_FORWARD_WAITING = 1024


class ForwardGate(Factory):
    """The factory of a STREAM FORWARD port: one data protocol per connection, within bounds.

    At most :data:`MAX_FORWARD_WAITING` connections wait for their peer
    line (each for :data:`FORWARD_PEER_LINE_TIMEOUT` seconds); a connection
    that fails (a bad or late peer line, no listener for its port) is closed
    and logged, never left as an unhandled error.
    """

    noisy = False

    def __init__(self, build: Callable[[], SAMStreamProtocol], where: str) -> None:
        self._build = build
        self._where = where
        self._waiting: set[SAMStreamProtocol] = set()
        self._refusing = False

    @property
    def waiting(self) -> int:
        """Connections waiting for their peer line now."""
        return len(self._waiting)

    def buildProtocol(self, addr: Any) -> SAMStreamProtocol | None:
        if len(self._waiting) >= MAX_FORWARD_WAITING:
            if not self._refusing:
                _log.warn("{where}: {count} forwarded connections already wait for their peer line; "
                          "closing new ones until one is done", where=self._where, count=len(self._waiting))
            self._refusing = True
            return None
        self._refusing = False
        proto = self._build()
        self._waiting.add(proto)
        proto.established.addBoth(self._done, proto)
        return proto

    def _done(self, result: object, proto: SAMStreamProtocol) -> object:
        self._waiting.discard(proto)
        if isinstance(result, Failure):
            _log.debug("{where}: a forwarded connection closed: {error}", where=self._where,
                       error=result.getErrorMessage())
            return None
        return result


class ForwardingPort:
    """A local TCP port the router connects to for each incoming stream."""

    def __init__(self, listening: IListeningPort, control: SAMStreamProtocol | None) -> None:
        self.listening = listening
        self._control = control

    def stopListening(self) -> Deferred[None] | None:
        if self._control is not None and self._control.transport is not None:
            self._control.transport.loseConnection()
        return self.listening.stopListening()


@implementer(IListeningPort)
class I2PListeningPort:
    """A listener on an I2P port of a session (see
    :meth:`~txi2p.session.SAMSession.listen`)."""

    def __init__(self, listeners: Listeners, port: int | None, factory: IProtocolFactory,
                 on_stop: Callable[[], None] | None = None) -> None:
        self.session = listeners.session
        self._listeners = listeners
        self.port = port
        self.factory = factory
        self._on_stop = on_stop
        self.listening = True

    def startListening(self) -> None:
        """Already listening once made; kept for ``IListeningPort``."""

    def stopListening(self) -> Deferred[None]:
        """Stop accepting for this port; the session is released if unused."""
        if self.listening:
            self.listening = False
            self._listeners.removed(self)
            self.factory.doStop()
            if self._on_stop is not None:
                self._on_stop()
        return succeed(None)

    loseConnection = stopListening

    def getHost(self) -> I2PAddress:
        return I2PAddress(self.session.address, port=self.port)

    def __repr__(self) -> str:
        return f"<I2PListeningPort {self.session.b32}:{self.port if self.port is not None else '*'}>"


class Listeners:
    """A session's listeners, and the one acceptor behind them (see the module documentation).

    :ivar acceptor: the acceptor (ACCEPTs or a FORWARD), once something listened.
    :ivar settle: the wait between a cancelled ACCEPT or FORWARD and the next.
    """

    def __init__(self, session: SAMSession) -> None:
        self.session = session
        self.acceptor: _Acceptor | None = None
        self.settle = AcceptSettle(session.bridge.reactor)

    def listen(self, factory: IProtocolFactory, port: int | None, pending: int,
               on_stop: Callable[[], None] | None) -> I2PListeningPort:
        """A listener for I2P *port* (see :meth:`SAMSession.listen <txi2p.session.SAMSession.listen>`)."""
        if port is not None:
            check_port("port", port)
        acceptor = self.acceptor or self._new_acceptor(pending)
        if port in acceptor.listeners:
            raise CannotListenError(self.session.b32, port or 0, OSError(
                f"session {self.session.nickname!r} already listens on I2P port "
                f"{port if port is not None else '*'}"))
        listener = I2PListeningPort(self, port, factory, on_stop)
        factory.doStart()
        acceptor.listeners[port] = listener
        acceptor.resume()
        acceptor.fill()
        return listener

    def _new_acceptor(self, pending: int) -> _Acceptor:
        bridge = self.session.bridge
        dialect = bridge.dialect or SAMDialect()
        if dialect.listens_with_forward(bridge.is_local):
            self.acceptor = _Forwarder(self.session, 1, self.settle)
        else:
            self.acceptor = _Acceptor(self.session, dialect.accepts_pending(pending))
        return self.acceptor

    def when_accepting(self) -> Deferred[None]:
        """Fires once the router takes incoming streams for the listeners' ports."""
        if self.acceptor is None:
            raise ValueError("nothing is listening on this session")
        return self.acceptor.when_ready()

    def removed(self, listener: I2PListeningPort) -> None:
        """*listener* stopped: the acceptor lingers once none is left."""
        acceptor = self.acceptor
        if acceptor is None:
            return
        if acceptor.listeners.get(listener.port) is listener:
            del acceptor.listeners[listener.port]
        if not acceptor.listeners:
            # Streams arriving now are refused (no listener routes them);
            # a listen() within LISTEN_LINGER_TIME takes the acceptor over.
            acceptor.linger()

    def end_lingering(self) -> None:
        """A direct accept()/forward() takes over from listen()'s lingering acceptor.

        (Its own accepts, made while it has listeners, are not affected.)
        """
        acceptor = self.acceptor
        if acceptor is not None and not acceptor.listeners and acceptor.lingering:
            acceptor.stop()

    def stop(self) -> None:
        """The session ends or closes: no more streams are taken."""
        if self.acceptor is not None:
            self.acceptor.stop()


class _Acceptor:
    """Keeps several STREAM ACCEPTs pending on a session and routes streams.

    A stream goes to the listener for its ``TO_PORT``; else to the
    listener with no port; a router that reports no ports (i2pd 2.45.1)
    gets the portless listener, or the one with the lowest port.
    """

    def __init__(self, session: SAMSession, pending: int) -> None:
        self.session = session
        self.pending_target = pending
        self.listeners: dict[int | None, I2PListeningPort] = {}
        self._pending: set[Deferred[IProtocol]] = set()
        self._handshaking: Deferred[IProtocol] | None = None
        self._retry: Any = None
        self._ready = False
        self._ready_waiters: list[Deferred[None]] = []
        self.lingering = False
        self._linger: Any = None

    #: Seconds to linger (None: until the session ends or a direct accept()).
    linger_time: float | None = LISTEN_LINGER_TIME

    def linger(self) -> None:
        """No listener is left: keep the router's acceptor a while, then stop."""
        if self.lingering:
            return
        self.lingering = True
        if self.linger_time is not None:
            self._linger = self.session.bridge.reactor.callLater(self.linger_time, self.stop)

    def resume(self) -> None:
        """A listener came back while lingering: go on with the same acceptor."""
        self.lingering = False
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        self._linger = None

    def when_ready(self) -> Deferred[None]:
        """Fires once the router has taken our first ACCEPT (or FORWARD)."""
        d: Deferred[None] = Deferred()
        if self._ready:
            d.callback(None)
        else:
            self._ready_waiters.append(d)
        return d

    def _set_ready(self) -> None:
        if not self._ready:
            self._ready = True
            waiters, self._ready_waiters = self._ready_waiters, []
            for d in waiters:
                d.callback(None)

    def route(self, to_port: int | None) -> IProtocolFactory | None:
        listener = self.listeners.get(to_port) if to_port is not None else None
        if listener is None:
            listener = self.listeners.get(None)
        if listener is None and to_port is None and self.listeners:
            listener = self.listeners[min(p for p in self.listeners if p is not None)]
        return listener.factory if listener is not None else None

    def fill(self) -> None:
        # One ACCEPT at a time until the router has taken it: i2pd 2.45.1
        # registers ACCEPTs that arrive together twice and then hands one
        # socket two streams.
        if self._handshaking is not None or not self.listeners or not self.session.is_open:
            return
        if len(self._pending) >= self.pending_target:
            return
        d = self.session.accept(Factory(), route=self.route, on_acknowledged=self._acknowledged)
        self._handshaking = d
        self._pending.add(d)
        d.addBoth(self._done, d)

    def _acknowledged(self) -> None:
        self._handshaking = None
        self._set_ready()
        self.fill()

    def _done(self, result: object, d: Deferred[IProtocol]) -> None:
        self._pending.discard(d)
        if self._handshaking is d:
            self._handshaking = None
        if not isinstance(result, Failure):
            self.fill()
            return
        if result.check(CancelledError):
            return
        if result.check(StreamRejected):
            _log.info("{session}: {error}", session=self.session.nickname, error=result.value)
            self.fill()
            return
        if not self.session.is_open:
            return
        _log.warn("{session}: STREAM ACCEPT failed ({error}); retrying in 1 s",
                  session=self.session.nickname, error=result.getErrorMessage())
        if self._retry is None or not self._retry.active():
            self._retry = self.session.bridge.reactor.callLater(1.0, self.fill)

    def stop(self) -> None:
        self.resume()
        self._ready = False  # a later listen() waits for the router again
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        for d in list(self._pending):
            d.cancel()


class _Forwarder(_Acceptor):
    """Takes incoming streams with one STREAM FORWARD instead of ACCEPTs.

    Used wherever the bridge is on this host (see
    :meth:`~txi2p.sam.dialect.SAMDialect.listens_with_forward`), so the
    router can connect to our local port for each stream: it keeps a
    permanent acceptor, with no backlog and no race (pending ACCEPTs race
    in i2pd up to 2.56, are closed young in 2.58, and one ACCEPT at a time
    overflows i2pd's 128-stream backlog under load).

    Once set up it stays until the session ends (or a direct ``accept()``
    or ``forward()`` takes over), refusing streams while nothing listens:
    closing it and opening a new one makes i2pd reset the new one late, so
    a new FORWARD must wait the dialect's accept_settle time, and a listen() would too.
    *settle* is the session's :class:`AcceptSettle`, told when the FORWARD closes.
    """

    linger_time = None

    def __init__(self, session: SAMSession, pending: int, settle: AcceptSettle) -> None:
        super().__init__(session, pending)
        self._settle = settle
        self._port: ForwardingPort | None = None
        self._starting: Deferred[ForwardingPort] | None = None

    def fill(self) -> None:
        if self._port is not None or self._starting is not None:
            return
        if not self.listeners or not self.session.is_open:
            return
        d = Deferred.fromCoroutine(self.session.forward(Factory(), route=self.route))
        self._starting = d

        def started(port: ForwardingPort) -> None:
            self._starting = None
            if not self.listeners or not self.session.is_open:
                port.stopListening()
                return
            self._port = port
            self._set_ready()

        def failed(failure: Failure) -> None:
            self._starting = None
            if failure.check(CancelledError) or not self.session.is_open:
                return
            _log.warn("{session}: STREAM FORWARD failed ({error}); retrying in 1 s",
                      session=self.session.nickname, error=failure.getErrorMessage())
            self._retry = self.session.bridge.reactor.callLater(1.0, self.fill)

        d.addCallbacks(started, failed)

    def stop(self) -> None:
        super().stop()  # (it has no pending ACCEPTs to cancel)
        if self._starting is not None:
            self._starting.cancel()
        port, self._port = self._port, None
        if port is not None:
            port.stopListening()
            # i2pd resets a new FORWARD's acceptor when it processes this
            # one's end late: the next FORWARD waits a moment.
            self._settle.cancelled()
