"""SAM sessions: destinations that open and accept streams.

A :class:`SAMSession` is one destination on the router, held open by its
control connection: it connects streams to other destinations, accepts
streams, forwards them, looks up names, and for PRIMARY sessions adds
subsessions.  Its listeners are a :class:`~txi2p.listening.Listeners`.
Closing the control connection ends the session.  Sessions are made by
:meth:`SAMBridge.create_session <txi2p.bridge.SAMBridge.create_session>`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, overload

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import (
    IProtocol,
    IProtocolFactory,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from txi2p.address import (
    Destination,
    I2PAddress,
    NameRecord,
    PrivateKey,
    b33_flags,
)
from txi2p.errors import (
    ClientKeyRequired,
    NameNotFound,
    SAMError,
    SessionClosed,
)
from txi2p.listening import (
    FORWARD_PEER_LINE_TIMEOUT,
    ForwardGate,
    ForwardingPort,
    I2PListeningPort,
    Listeners,
)
from txi2p.private import ENCRYPTED_LEASE_SET
from txi2p.protocol import (
    SAMControlProtocol,
    SAMStreamProtocol,
    _abort_transport,
    close_after_flush,
)
from txi2p.sam import codec
from txi2p.sam.dialect import Attempt, SAMDialect

if TYPE_CHECKING:
    from txi2p.bridge import SAMBridge

__all__ = ["SAMSession", "SAMSubsession", "own_address", "pass_through_firing"]

_log = Logger()


def pass_through_firing(waiter: Deferred[None]) -> Callable[[Any], Any]:
    """A callback that fires *waiter* and passes its result on unchanged."""
    def callback(result: Any) -> Any:
        if not waiter.called:
            waiter.callback(None)
        return result
    return callback



def own_address(destination: Destination, options: Mapping[str, str]) -> I2PAddress:
    """The address peers reach a session of *destination* and *options* by.

    Its :attr:`~txi2p.address.Destination.b32` name, or for a private
    service (``i2cp.leaseSetType=5``) its
    :meth:`~txi2p.address.Destination.b33` name, flagged as the options
    ask for a secret (``i2cp.leaseSetSecret``) or per-client keys
    (``i2cp.leaseSetAuthType`` 1 or 2).
    """
    if options.get("i2cp.leaseSetType") != ENCRYPTED_LEASE_SET:
        return I2PAddress(destination)
    return I2PAddress(destination, host=destination.b33(
        secret=bool(options.get("i2cp.leaseSetSecret")),
        client_auth=options.get("i2cp.leaseSetAuthType") in ("1", "2")))


class SAMSession:
    """One destination on the router, held by its control connection.

    Made by :meth:`SAMBridge.create_session`.

    :ivar nickname: the session ID on the router.
    :ivar style: STREAM, DATAGRAM, RAW or PRIMARY.
    :ivar key: the :class:`~txi2p.address.PrivateKey` (never logged).
    :ivar address: our :class:`~txi2p.address.I2PAddress`.
    :ivar closed: fires (with None) when the session has ended, whatever
        the reason; ``close_reason`` then holds it.
    :ivar closed_on_purpose: :meth:`close` was called (by its owner, or by
        the registry at reactor shutdown), as opposed to the router or the
        connection ending it.
    """

    def __init__(self, bridge: SAMBridge, control: SAMControlProtocol, nickname: str,
                 style: str, key: PrivateKey, options: Mapping[str, str],
                 parent: SAMSession | None = None) -> None:
        self.bridge = bridge
        self.control = control
        self.nickname = nickname
        self.style = style
        self.key = key
        self.options = dict(options)
        self.address = own_address(key.destination, self.options)
        self.closed: Deferred[None] = Deferred()
        self.close_reason: Failure | None = None
        self.closed_on_purpose = False
        #: The :class:`~txi2p.datagram.I2PDatagramPort` of a DATAGRAM or RAW session.
        self.packet_port: Any = None
        #: Data connections not established yet (handshaking, or an ACCEPT waiting).
        self._streams: set[SAMStreamProtocol] = set()
        #: Established streams (connected, accepted, forwarded) -> fires when the connection is lost.
        self._open_streams: dict[SAMStreamProtocol, Deferred[None]] = {}
        self._subsessions: set[SAMSubsession] = set()
        self._closing: Deferred[None] | None = None
        #: Its listeners and the acceptor behind them.
        self.listeners = Listeners(self)
        #: The PRIMARY session of a subsession, else None.
        self.parent = parent
        if parent is None:
            control.on_close = self._control_lost
        else:
            parent.closed.addCallback(lambda _: self._control_lost(parent.close_reason or Failure(
                SessionClosed("the primary session ended"))))

    def __repr__(self) -> str:
        return f"<SAMSession {self.nickname} {self.style} {self.b32}>"

    @property
    def destination(self) -> Destination:
        return self.key.destination

    @property
    def b32(self) -> str:
        return self.key.destination.b32

    @property
    def is_open(self) -> bool:
        """Neither ended nor closing."""
        return self.close_reason is None and self._closing is None

    def _control_lost(self, reason: Failure) -> None:
        self.close_reason = reason
        if self.parent is None:
            self.bridge.released(self.destination)
        _log.info("SAM session {nickname} ended: {reason}", nickname=self.nickname,
                  reason=reason.getErrorMessage())
        self.listeners.stop()
        for stream in list(self._streams):
            if not stream.established.called:
                stream.established.cancel()
        self.closed.callback(None)

    def _check_open(self) -> None:
        if self.close_reason is not None:
            raise SessionClosed(
                f"session {self.nickname!r} has ended: {self.close_reason.getErrorMessage()}"
            )
        if self._closing is not None:
            raise SessionClosed(f"session {self.nickname!r} is closing")

    def _check_streams_allowed(self) -> None:
        self.bridge.check(Attempt("STREAM", self.style))

    def _stream_lessons(self) -> AbstractContextManager[None]:
        """A stream command's refusal, learned from (see :meth:`SAMBridge.lessons`)."""
        return self.bridge.lessons(Attempt("STREAM", self.style))

    @overload
    async def lookup(self, name: str | Destination, options: Literal[False] = False) -> Destination: ...

    @overload
    async def lookup(self, name: str | Destination, options: Literal[True]) -> NameRecord: ...

    async def lookup(self, name: str | Destination, options: bool = False) -> Destination | NameRecord:
        """Resolve *name* through this session (``NAMING LOOKUP``; ``"ME"`` is us).

        With *options*, a :class:`~txi2p.address.NameRecord`: the
        destination and the options its lease set publishes (service
        records; SAM API 0.9.66, Java I2P; i2pd ignores the request, so its
        records have none).

        A private service's name that says it needs a client key, looked up
        by a session that holds none, fails saying so.
        """
        self._check_open()
        try:
            if options:
                return await self.bridge.lookup_record(name, self)
            return await self.bridge.lookup(name, self)
        except NameNotFound as e:
            flags = b33_flags(name) if isinstance(name, str) else None
            if flags is None or not (flags.client_auth or flags.secret):
                raise
            option = "i2cp.leaseSetPrivKey" if flags.client_auth else "i2cp.leaseSetSecret"
            held = (f"its {option} is not one the service accepts, or the router does not use an "
                    f"{option} given over SAM (Java I2P 2.7.0 does not; see docs/routers.rst)"
                    if option in self.options else f"it has no {option}")
            raise ClientKeyRequired(
                e.result, f"session {self.nickname!r}: {held}; router: {e.message or e.result}",
                e.command, name=e.name or str(name), local=True) from e

    def _stream(self, command: codec.Command, factory: IProtocolFactory,
                peer: I2PAddress | None, timeout: float,
                route: Callable[[int | None], IProtocolFactory | None] | None = None,
                on_lost: Callable[[Failure], None] | None = None) -> SAMStreamProtocol:
        proto = self._tracked(lambda lost: SAMStreamProtocol(
            self.bridge.reactor, self.bridge.hello_command(), command, factory,
            self.address, peer, timeout, self.bridge.sam_address, route, lost), on_lost)
        self._streams.add(proto)
        proto.established.addBoth(self._stream_done, proto)
        return proto

    def _tracked(self, make: Callable[[Callable[[Failure], None]], SAMStreamProtocol],
                 on_lost: Callable[[Failure], None] | None) -> SAMStreamProtocol:
        """A data connection from *make*, kept in ``_open_streams`` from established to lost.

        *make* gets the ``on_lost`` to build it with (the caller's
        *on_lost*, called after the session has forgotten the stream).
        """
        lost_d: Deferred[None] = Deferred()

        def lost(reason: Failure) -> None:
            self._open_streams.pop(proto, None)
            if not lost_d.called:
                lost_d.callback(None)
            if on_lost is not None:
                on_lost(reason)

        def established(user: object) -> object:
            if user is not None and not lost_d.called:  # (a FORWARD's own connection has no user)
                self._open_streams[proto] = lost_d
            return user

        proto = make(lost)
        proto.established.addCallback(established)
        return proto

    def _stream_done(self, result: object, proto: SAMStreamProtocol) -> object:
        self._streams.discard(proto)
        if isinstance(result, Failure) and result.check(CancelledError) and proto.is_accept:
            self.listeners.settle.cancelled()
        return result

    async def connect(
        self,
        destination: str | Destination,
        factory: IProtocolFactory,
        *,
        port: int | None = None,
        from_port: int | None = None,
        timeout: float | None = None,
        on_lost: Callable[[Failure], None] | None = None,
    ) -> IProtocol:
        """Open a stream to *destination* and give it to a protocol from *factory*.

        :param destination: a base64 destination, ``.b32.i2p`` name or host
            name (resolved first, see :meth:`SAMBridge.lookup`).
        :param port: the I2P port to connect to (``TO_PORT``).
        :param from_port: our I2P port (``FROM_PORT``).
        :param on_lost: called with the reason when the stream ends.
        :returns: the connected protocol.
        """
        self._check_open()
        host = destination if isinstance(destination, str) and destination.endswith(".i2p") else ""
        dest = await self.lookup(destination)
        peer = I2PAddress(dest, host, port)
        command = codec.stream_connect(self.nickname, dest.base64, from_port=from_port, to_port=port)
        self._check_streams_allowed()
        proto = self._stream(command, factory, peer,
                             self.bridge.timeouts.stream_connect if timeout is None else timeout,
                             on_lost=on_lost)
        await self.bridge._connect(proto)
        with self._stream_lessons():
            return await proto.established

    def accept(self, factory: IProtocolFactory, *,
               route: Callable[[int | None], IProtocolFactory | None] | None = None,
               on_lost: Callable[[Failure], None] | None = None,
               on_acknowledged: Callable[[], None] | None = None) -> Deferred[IProtocol]:
        """Wait for one incoming stream (``STREAM ACCEPT``).

        Fires with the protocol *factory* built for it (or the factory
        *route* picks for the stream's ``TO_PORT``; see
        :class:`~txi2p.protocol.SAMStreamProtocol`).  Cancel the Deferred
        to stop waiting.  Several accepts may be pending at once.
        """
        async def run() -> IProtocol:
            self._check_open()
            self._check_streams_allowed()
            self.listeners.end_lingering()
            await self.listeners.settle.settle(self.bridge.dialect)
            proto = self._stream(codec.stream_accept(self.nickname), factory, None,
                                 self.bridge.timeouts.command, route, on_lost)
            proto.on_acknowledged = on_acknowledged
            await self.bridge._connect(proto)
            with self._stream_lessons():
                return await proto.established

        return Deferred.fromCoroutine(run())

    async def forward(self, factory: IProtocolFactory, *, host: str = "127.0.0.1",
                      port: int = 0,
                      route: Callable[[int | None], IProtocolFactory | None] | None = None
                      ) -> ForwardingPort:
        """Have the router connect to a local port for each incoming stream.

        Listens on *host*:*port* (0 picks a free port) and sends ``STREAM
        FORWARD``; every stream then arrives as a new TCP connection that
        starts with the peer's destination line, and is handed to a
        protocol from *factory*.  Stop it with ``stopListening()``.
        """
        self._check_open()
        self._check_streams_allowed()
        self.listeners.end_lingering()
        await self.listeners.settle.settle(self.bridge.dialect)
        reactor = self.bridge.reactor

        def build() -> SAMStreamProtocol:
            return self._tracked(lambda lost: SAMStreamProtocol(
                reactor, None, None, factory, self.address, timeout=FORWARD_PEER_LINE_TIMEOUT,
                sam_address=self.bridge.sam_address, route=route, on_lost=lost), None)

        forward_factory = ForwardGate(build, f"STREAM FORWARD of session {self.nickname}")
        listening = await TCP4ServerEndpoint(reactor, port, interface=host).listen(forward_factory)
        local_port = listening.getHost().port
        command = codec.stream_forward(self.nickname, local_port, host=host)
        keeper = self._stream(command, Factory.forProtocol(Protocol), None, self.bridge.timeouts.command)
        # The FORWARD connection must stay open: it has no peer, so it
        # "establishes" right after STREAM STATUS OK and then idles.
        try:
            await self.bridge._connect(keeper)
            with self._stream_lessons():
                await keeper.established
        except BaseException:
            await listening.stopListening()
            raise
        return ForwardingPort(listening, keeper)

    async def add_subsession(self, style: str, nickname: str, *, from_port: int = 0,
                             to_port: int | None = None,
                             options: Mapping[str, object] | None = None,
                             udp: tuple[str, int] | None = None) -> SAMSubsession:
        """Add a subsession to a PRIMARY session (``SESSION ADD``).

        :param udp: for DATAGRAM and RAW, the ``(host, port)`` the router
            forwards received packets to (``HOST``/``PORT``; Java I2P
            requires them).
        :raises UnsupportedByRouter: the router does not take *style*
            subsessions (i2pd takes only STREAM, and ends the primary
            session when asked for another: txi2p remembers the refusal
            and refuses later requests itself).
        """
        self._check_open()
        if self.style != "PRIMARY":
            raise ValueError("subsessions need a PRIMARY session")
        if style != "STREAM" and udp is None:
            raise ValueError(f"a {style} subsession needs udp=(host, port) to forward packets to")
        attempt = Attempt("SESSION ADD", style)
        self.bridge.check(attempt)
        extra = [] if udp is None else [("HOST", udp[0]), ("PORT", str(udp[1]))]
        with self.bridge.lessons(attempt):
            await self.control.command(codec.session_add(
                style, nickname, from_port=from_port, to_port=to_port, options=options, extra=extra))
        return SAMSubsession(self, nickname, style)

    def listen(self, factory: IProtocolFactory, port: int | None = None, *,
                pending: int = 5, on_stop: Callable[[], None] | None = None) -> I2PListeningPort:
        """Accept incoming streams for I2P *port* (every port if None).

        Keeps *pending* STREAM ACCEPTs open so that streams arriving together
        are served at once.  Returns an ``IListeningPort``; ``getHost()`` is
        our :class:`~txi2p.address.I2PAddress`.
        """
        self._check_open()
        return self.listeners.listen(factory, port, pending, on_stop)

    def when_accepting(self) -> Deferred[None]:
        """Fires once the router takes incoming streams for :meth:`listen`'s ports.

        ``listen()`` returns at once; streams that arrive before this fires
        wait in the router's backlog (128 on i2pd), and more are dropped.
        """
        return self.listeners.when_accepting()

    def when_closed(self) -> Deferred[None]:
        """A new Deferred that fires once the session has ended."""
        d: Deferred[None] = Deferred()
        self.closed.addBoth(pass_through_firing(d))
        return d

    def close(self) -> Deferred[None]:
        """End the session; fires when done.

        Its streams (and its subsessions') are closed first; once the
        router has seen them end (the dialect's ``stream_close_settle``),
        the control connection is closed, which ends the session.  i2pd
        2.58 crashed when a session ended while its streams still
        received (see :mod:`txi2p.sam.dialect`).  Without open streams
        the control connection is closed at once.
        """
        self.closed_on_purpose = True
        if self._closing is None and self.close_reason is None:
            self._closing = Deferred.fromCoroutine(self._close())
            self._closing.addErrback(lambda f: _log.failure("closing {session}", f, session=self.nickname))
            if self.parent is None:
                self.bridge.closing(self.destination, self.when_closed())
        return self.when_closed()

    async def _close(self) -> None:
        try:
            await self._close_streams()
        finally:
            self.control.close()

    async def _close_streams(self) -> None:
        """Close this session's streams, its subsessions' too, and let the router see them end.

        Stops accepting first (no new stream arrives meanwhile).  Waits
        until every stream's connection is lost, at most
        ``stream_close_settle`` (then aborts those left), and then that
        long again for the router; never longer.
        """
        sessions = [self, *self._subsessions]
        for session in sessions:
            session.listeners.stop()
            for pending in list(session._streams):
                if not pending.established.called:
                    pending.established.cancel()
        streams = {proto: lost for session in sessions for proto, lost in session._open_streams.items()}
        if not streams:
            return
        reactor = self.bridge.reactor
        settle = (self.bridge.dialect or SAMDialect()).stream_close_settle
        _log.debug("{session}: closing {count} streams before the session",
                   session=self.nickname, count=len(streams))
        for proto in streams:
            if proto.transport is not None:
                close_after_flush(proto.transport)
        gone: Deferred[None] = Deferred()

        def check(result: object = None) -> object:
            if not gone.called and all(lost.called for lost in streams.values()):
                gone.callback(None)
            return result

        for lost in streams.values():
            lost.addBoth(check)
        timer = reactor.callLater(settle, lambda: None if gone.called else gone.callback(None))
        check()
        await gone
        if timer.active():
            timer.cancel()
        for proto, lost in streams.items():
            if not lost.called and proto.transport is not None:
                _abort_transport(proto.transport)  # e.g. a router that reads nothing more
        await deferLater(reactor, settle, lambda: None)


class SAMSubsession(SAMSession):
    """A subsession of a PRIMARY session: same destination, own nickname."""

    def __init__(self, parent: SAMSession, nickname: str, style: str) -> None:
        super().__init__(parent.bridge, parent.control, nickname, style, parent.key,
                         parent.options, parent)
        self.parent: SAMSession = parent
        parent._subsessions.add(self)

    async def remove(self) -> None:
        """``SESSION REMOVE`` this subsession."""
        await self.control.command(codec.session_remove(self.nickname))

    def close(self) -> Deferred[None]:
        """``SESSION REMOVE`` it, its streams closed first (as :meth:`SAMSession.close`)."""
        self.closed_on_purpose = True
        if self._closing is None:
            self._closing = Deferred.fromCoroutine(self._close())
            self._closing.addErrback(lambda f: _log.failure("closing {session}", f, session=self.nickname))
        d: Deferred[None] = Deferred()
        self._closing.addBoth(pass_through_firing(d))
        return d

    async def _close(self) -> None:
        try:
            if self.close_reason is None:
                await self._close_streams()
                await self.remove()
        except (SAMError, SessionClosed):
            pass
        finally:
            self.parent._subsessions.discard(self)


