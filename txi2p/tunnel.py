"""Tunnels: relay connections between a listening endpoint and a connecting one.

:class:`Tunnel` is a Twisted service that listens on one endpoint and, for
each incoming connection, opens one on another (``make_send``) and relays
bytes both ways until either side closes:

* **flow control** both ways: each side's transport is registered as the
  other's streaming producer, so a slow reader pauses the fast writer and
  the relay's buffered bytes stay bounded (see :attr:`Relay.max_buffered`);
* **half-close**: when one side stops sending, the other side's writing
  half is shut down and the rest still flows;
* ``nconnect``: at most that many connections at once (-1: unlimited); a
  connection over the limit is **refused** (closed at once, counted in
  :attr:`Tunnel.refused`), never queued;
* ``timeout``: the longest a connection may last (None: forever) — the
  classic module's security note: with a timeout, accepted connections are
  closed eventually even if an attacker keeps them busy;
* errors on one connection (the backend refusing, the I2P peer
  unreachable) close that connection and are logged; they never stop the
  tunnel.

:class:`TunnelServer` exposes a local TCP server as an I2P destination;
:class:`TunnelClient` binds an I2P destination to a local port.  Local
listeners bind to 127.0.0.1 unless told otherwise.

These are the Twisted services; :mod:`txi2p.blocking_tunnel` has the
classic blocking ``Tunnel``/``TunnelServer``/``TunnelClient`` of the same
names (``txi2p.sam.Tunnel`` ...), which run these in the shim's reactor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IListeningPort,
    IStreamClientEndpoint,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from txi2p.config import check_port
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.protocol import close_after_flush
from txi2p.session import SAMSession

__all__ = ["Relay", "Tunnel", "TunnelClient", "TunnelServer"]

_log = Logger()


def _pending_write_bytes(transport: Any) -> int:
    """Bytes a Twisted transport has accepted but not yet written to its socket."""
    inner = getattr(transport, "_transport", transport)  # I2PStreamTransport wraps TCP
    buffered = getattr(inner, "dataBuffer", b"")
    return len(buffered) - getattr(inner, "offset", 0) + getattr(inner, "_tempDataLen", 0)


@implementer(IHalfCloseableProtocol)
class _Side(Protocol):
    """One side of a relayed connection."""

    def __init__(self, relay: Relay, name: str) -> None:
        self.relay = relay
        self.name = name
        self.peer: _Side | None = None
        self.early: list[bytes] = []
        self.read_closed = False
        self.lost = False

    def connectionMade(self) -> None:
        self.relay._side_made(self)

    def dataReceived(self, data: bytes) -> None:
        self.relay.bytes[self.name] += len(data)
        self.forward(data)

    def forward(self, data: bytes) -> None:
        """Write *data* to the other side, or keep it until that side is up."""
        peer = self.peer
        if peer is None or peer.transport is None:
            self.early.append(data)  # the other side is still connecting (we are paused)
            return
        peer.transport.write(data)
        buffered = _pending_write_bytes(peer.transport)
        if buffered > self.relay.max_buffered:
            self.relay.max_buffered = buffered

    def readConnectionLost(self) -> None:
        self.read_closed = True
        peer = self.peer
        if peer is not None and peer.transport is not None:
            close_after_flush(peer.transport, half=True)
        if peer is None or peer.read_closed:
            self.relay.close()

    def writeConnectionLost(self) -> None:
        if self.read_closed:
            self.relay.close()

    def connectionLost(self, reason: Failure = Failure(ConnectionError("closed"))) -> None:
        self.lost = True
        self.relay._side_lost(self)


class Relay:
    """Two connections joined: bytes from each go to the other.

    :ivar bytes: bytes received on each side (``"in"``: the accepted
        connection, ``"out"``: the one we opened).
    :ivar max_buffered: the most bytes the relay ever had waiting in a
        transport's write buffer (bounded by flow control).
    """

    def __init__(self, tunnel: Tunnel) -> None:
        self.tunnel = tunnel
        self.incoming = _Side(self, "in")
        self.outgoing = _Side(self, "out")
        self.bytes = {"in": 0, "out": 0}
        self.max_buffered = 0
        self.closed = False
        self._timer: Any = None

    def _side_made(self, side: _Side) -> None:
        if side is self.incoming:
            transport: Any = side.transport
            transport.pauseProducing()  # until the other side is connected
            if self.tunnel.timeout is not None:
                self._timer = self.tunnel.reactor.callLater(self.tunnel.timeout, self._expired)

    def _expired(self) -> None:
        self._timer = None
        self.tunnel.timed_out += 1
        _log.info("tunnel {name}: a connection reached the timeout of {t} s; closing it",
                  name=self.tunnel.name, t=self.tunnel.timeout)
        self.close()

    def join(self) -> None:
        """Both sides are connected: relay, with flow control both ways."""
        a, b = self.incoming, self.outgoing
        a.peer, b.peer = b, a
        assert a.transport is not None and b.transport is not None
        b.transport.registerProducer(a.transport, True)  # type: ignore[attr-defined]
        a.transport.registerProducer(b.transport, True)  # type: ignore[attr-defined]
        for side in (a, b):
            early, side.early = side.early, []
            for data in early:
                side.forward(data)
        a.transport.resumeProducing()  # type: ignore[attr-defined]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        for side in (self.incoming, self.outgoing):
            if side.transport is not None:
                close_after_flush(side.transport)

    def _side_lost(self, side: _Side) -> None:
        other = self.outgoing if side is self.incoming else self.incoming
        if other.transport is not None and not other.lost:
            close_after_flush(other.transport)
        if other.lost or other.transport is None:
            self.finished()

    def finished(self) -> None:
        """Both sides are gone: stop the timer, leave the tunnel."""
        self.closed = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self.tunnel._relay_finished(self)


class Tunnel(Service):
    """Relays each connection accepted on *receive* to a new one from *make_send*.

    :param reactor: the reactor.
    :param receive: the server endpoint to listen on.
    :param make_send: a client endpoint, or a callable returning one, to
        open for each accepted connection.
    :param nconnect: most simultaneous connections (-1: unlimited); more
        are refused (closed at once).
    :param timeout: longest a connection may last, in seconds (None: forever).
    :param name: for logs.
    """

    def __init__(self, reactor: Any, receive: IStreamServerEndpoint,
                 make_send: IStreamClientEndpoint | Callable[[], IStreamClientEndpoint],
                 nconnect: int = -1, timeout: float | None = 60.0, name: str = "tunnel") -> None:
        if isinstance(nconnect, bool) or not isinstance(nconnect, int) or (nconnect < 1 and nconnect != -1):
            raise ValueError(f"nconnect must be -1 (unlimited) or a positive integer, not {nconnect!r}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or timeout <= 0):
            raise ValueError(f"timeout must be None or a positive number of seconds, not {timeout!r}")
        self.reactor = reactor
        self.receive = receive
        self._make_send = make_send if callable(make_send) and not IStreamClientEndpoint.providedBy(
            make_send) else (lambda: make_send)
        self.nconnect = nconnect
        self.timeout = timeout
        self.name = name
        self.relays: set[Relay] = set()
        self.port: IListeningPort | None = None
        self.accepted = 0
        self.refused = 0
        self.failed = 0
        self.timed_out = 0
        self.max_buffered = 0
        self._listening: Deferred[Any] | None = None

    def __repr__(self) -> str:
        return f"<Tunnel {self.name} {len(self.relays)} open>"

    # ------------------------------------------------------------ service

    def startService(self) -> None:
        super().startService()
        self._listening = Deferred.fromCoroutine(self._start())
        self._listening.addErrback(self._start_failed)

    def _start_failed(self, failure: Failure) -> None:
        _log.failure("tunnel {name} could not start", failure, name=self.name)

    async def _start(self) -> IListeningPort:
        tunnel = self

        class _Accept(Factory):
            noisy = False

            def buildProtocol(self, addr: Any) -> Protocol | None:
                return tunnel._accepted(addr)

        self.port = await self.receive.listen(_Accept())
        return self.port

    def when_listening(self) -> Deferred[IListeningPort]:
        """Fires with the listening port once the tunnel accepts connections."""
        if self._listening is None:
            raise RuntimeError("the tunnel is not started")
        d: Deferred[IListeningPort] = Deferred()

        def fire(result: Any) -> Any:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)
            return result

        self._listening.addBoth(fire)
        return d

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        for relay in list(self.relays):
            relay.close()
        if self.port is not None:
            d = self.port.stopListening()
            self.port = None
            return d if isinstance(d, Deferred) else succeed(None)
        return succeed(None)

    close = stopService

    # ------------------------------------------------------------ relaying

    def _accepted(self, addr: Any) -> Protocol | None:
        if self.nconnect != -1 and len(self.relays) >= self.nconnect:
            self.refused += 1
            _log.info("tunnel {name}: refused a connection ({n} open, nconnect={max})",
                      name=self.name, n=len(self.relays), max=self.nconnect)
            return None
        self.accepted += 1
        relay = Relay(self)
        self.relays.add(relay)
        d = Deferred.fromCoroutine(self._connect_out(relay))
        d.addErrback(self._out_failed, relay)
        return relay.incoming

    async def _connect_out(self, relay: Relay) -> None:
        endpoint = self._make_send()
        await endpoint.connect(Factory.forProtocol(lambda: relay.outgoing))
        if relay.closed or relay.incoming.lost:
            relay.close()
            return
        relay.join()

    def _out_failed(self, failure: Failure, relay: Relay) -> None:
        self.failed += 1
        _log.warn("tunnel {name}: could not open the other side ({error}); closing this connection",
                  name=self.name, error=failure.getErrorMessage())
        relay.close()
        if relay.incoming.lost or relay.incoming.transport is None:
            relay.finished()

    def _relay_finished(self, relay: Relay) -> None:
        self.max_buffered = max(self.max_buffered, relay.max_buffered)
        self.relays.discard(relay)


def _local_endpoint_server(reactor: Any, port: int, interface: str) -> TCP4ServerEndpoint:
    return TCP4ServerEndpoint(reactor, port, interface=interface)


class TunnelServer(Tunnel):
    """Exposes ``host:port`` (a local TCP server) as an I2P destination.

    :param reactor: the reactor.
    :param receive: the I2P side: an :class:`~txi2p.endpoints.I2PServerEndpoint`
        (its ``bridge_config`` and ``session_config`` say where the
        destination lives; its port, the I2P port accepted).
    :param port: the local TCP port to relay to.
    :param host: the local host to relay to (default 127.0.0.1).
    :param nconnect, timeout: as for :class:`Tunnel` (default: no limit).

    :ivar dest: our destination (base64), once started.
    :ivar b32: our ``.b32.i2p`` address, once started.
    """

    def __init__(self, reactor: Any, receive: I2PServerEndpoint, port: int, *, host: str = "127.0.0.1",
                 nconnect: int = -1, timeout: float | None = None) -> None:
        check_port("port", port)
        if not isinstance(receive, I2PServerEndpoint):
            raise TypeError(f"receive must be a txi2p.endpoints.I2PServerEndpoint, not {receive!r}")
        self.local = (host, port)
        #: the session's nickname
        self.nickname = receive.session_config.nickname or ""
        super().__init__(reactor, receive, TCP4ClientEndpoint(reactor, host, port, timeout=30),
                         nconnect, timeout, name=f"server {self.nickname}")
        self.i2p_port = receive.port

    async def _start(self) -> IListeningPort:
        port = await super()._start()
        addr: Any = port.getHost()
        _log.info("tunnel {name}: {b32} (I2P port {i2p}) -> {host}:{port}", name=self.name,
                  b32=addr.host, i2p=self.i2p_port if self.i2p_port else "any",
                  host=self.local[0], port=self.local[1])
        return port

    @property
    def dest(self) -> str | None:
        return self.port.getHost().destination.base64 if self.port is not None else None  # type: ignore[attr-defined]

    @property
    def b32(self) -> str | None:
        return self.port.getHost().host if self.port is not None else None  # type: ignore[attr-defined]


class TunnelClient(Tunnel):
    """Binds an I2P destination to a local port: ``interface:port`` -> the
    destination of *send*.

    :param reactor: the reactor.
    :param send: the I2P side: an :class:`~txi2p.endpoints.I2PClientEndpoint`
        (its host and port are the remote destination and I2P port; its
        ``session_config`` is our local destination's session).
    :param port: the local TCP port to listen on (0: any free one).
    :param interface: the local interface (default 127.0.0.1; anything
        else makes the tunnel reachable from other machines).
    :param nconnect, timeout: as for :class:`Tunnel` (default: no limit).

    :ivar dest: our local destination (base64), once started.
    :ivar remotedest: the destination we relay to.
    """

    def __init__(self, reactor: Any, send: I2PClientEndpoint, port: int, *, interface: str = "127.0.0.1",
                 nconnect: int = -1, timeout: float | None = None) -> None:
        check_port("port", port, allow_zero=True)
        if not isinstance(send, I2PClientEndpoint):
            raise TypeError(f"send must be a txi2p.endpoints.I2PClientEndpoint, not {send!r}")
        self.remotedest = send.host
        #: our session's nickname
        self.nickname = send.session_config.nickname or ""
        super().__init__(reactor, _local_endpoint_server(reactor, port, interface), send,
                         nconnect, timeout, name=f"client {self.nickname}")
        self._send_endpoint = send
        self._session: SAMSession | None = None

    async def _start(self) -> IListeningPort:
        # Start the session first: the local destination is known, and the
        # first connection does not wait 20 s for it.
        self._session = await self._send_endpoint.acquire_session()
        port = await super()._start()
        local: Any = port.getHost()
        _log.info("tunnel {name}: {iface}:{port} -> {remote} (from {b32})", name=self.name,
                  iface=local.host, port=local.port,
                  remote=self.remotedest[:60], b32=self._session.b32)
        return port

    def stopService(self) -> Deferred[Any]:
        d = super().stopService()
        if self._session is not None:
            self._send_endpoint.registry.release(self._session)
            self._session = None
        return d

    @property
    def dest(self) -> str | None:
        return self._session.destination.base64 if self._session is not None else None

    @property
    def b32(self) -> str | None:
        return self._session.b32 if self._session is not None else None

    @property
    def local_port(self) -> int | None:
        return self.port.getHost().port if self.port is not None else None  # type: ignore[attr-defined]
