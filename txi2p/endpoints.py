"""Twisted endpoints on I2P.

:class:`I2PClientEndpoint` connects to an I2P destination,
:class:`I2PServerEndpoint` listens on one.  Both do no I/O until
``connect()``/``listen()``; their constructors validate every argument.
Sessions come from a :class:`~txi2p.registry.SessionRegistry` (the
reactor's own unless one is passed in), so endpoints naming the same
session share one destination.

The ``i2p:`` endpoint strings (:mod:`txi2p.endpoint_strings`) build these.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from txi2p import failover
from txi2p.address import Destination, is_b32_name, signature_type_code
from txi2p.bridge import SAMBridge
from txi2p.config import BridgeConfig, Progress, SessionConfig, check_port
from txi2p.listening import I2PListeningPort
from txi2p.private import ENCRYPTED_LEASE_SET, ClientKey, PrivateService, check_blindable
from txi2p.registry import SessionRegistry
from txi2p.sam import codec
from txi2p.session import SAMSession

__all__ = ["I2PClientEndpoint", "I2PServerEndpoint"]

_log = Logger()

def _check_host(host: str) -> str:
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be an I2P host name, .b32.i2p name or base64 destination, not {host!r}")
    if host.endswith(".i2p"):
        if host.lower().endswith(".b32.i2p") and not is_b32_name(host):
            raise ValueError(f"host {host!r} is not a valid .b32.i2p name")
        codec.check_value("host", host)
    else:
        Destination.from_base64(host)  # raises InvalidKey for a bad one
    return host


class _EndpointBase:
    """Settings shared by client and server endpoints: one bridge config, one session config."""

    def __init__(self, reactor: Any, bridge_config: BridgeConfig | None, session_config: SessionConfig | None,
                 *, auto_close: bool, registry: SessionRegistry | None, progress: Progress | None) -> None:
        self._reactor = reactor
        if bridge_config is not None and not isinstance(bridge_config, BridgeConfig):
            raise TypeError(f"bridge_config must be a txi2p.config.BridgeConfig, not {bridge_config!r}")
        self.bridge_config = bridge_config or BridgeConfig()
        self._spec = SessionConfig.for_door(session_config, ("STREAM",), auto_close)
        #: reads the options kept in files (client keys) at connect/listen time
        self._file_options: Callable[[], Mapping[str, str]] | None = None
        self._registry = registry
        self._progress = progress

    @property
    def launch(self) -> bool | str | None:
        """The bridge config's ``launch``: the router launched for this process (None: a bridge)."""
        return self.bridge_config.launch

    @property
    def registry(self) -> SessionRegistry:
        return self._registry or SessionRegistry.for_reactor(self._reactor)

    @property
    def session_config(self) -> SessionConfig:
        """The session this endpoint uses (without the options read from files at connect/listen)."""
        return self._spec

    def _session_spec(self) -> SessionConfig:
        """The session this endpoint needs, with the options kept in files read now."""
        if self._file_options is None:
            return self._spec
        return self._spec.with_options(self._file_options())

    def _bridge(self) -> SAMBridge:
        return self.registry.bridge(self.bridge_config)

    async def _launched_or_given_bridge(self) -> SAMBridge:
        launch = self.bridge_config.launch
        if launch is None:
            return self._bridge()
        directory = None if isinstance(launch, bool) else launch
        return (await self.registry.launched_router(directory, self._progress)).bridge

    async def acquire_session(self) -> SAMSession:
        """The session (from the registry) this endpoint connects or listens with; one user of it.

        With the bridge config's *launch*, the registry's launched router is started first if
        it is not running yet.  Give the session back with
        ``endpoint.registry.release(session)``.
        """
        bridge = await self._launched_or_given_bridge()
        return await self.registry.acquire(bridge, self._session_spec(), self._progress)


def _private_options(options: Mapping[str, object], signature_type: int | str) -> dict[str, str]:
    """The option that makes a session with *options* a private service (an encrypted lease set)."""
    given = options.get("i2cp.leaseSetType")
    if given is not None and str(given) != ENCRYPTED_LEASE_SET:
        raise ValueError(f"private=True publishes i2cp.leaseSetType={ENCRYPTED_LEASE_SET}, but the options "
                         f"ask for i2cp.leaseSetType={given}")
    check_blindable(signature_type_code(signature_type))
    return {"i2cp.leaseSetType": ENCRYPTED_LEASE_SET}


@implementer(IStreamClientEndpoint)
class I2PClientEndpoint(_EndpointBase):
    """Connects to an I2P destination over SAM.

    :param reactor: the reactor.
    :param host: a host name (``site.i2p``), ``.b32.i2p`` name or base64
        destination.
    :param port: the I2P port to connect to (``TO_PORT``), or None.
    :param bridge_config: how to reach the SAM bridge
        (:class:`~txi2p.config.BridgeConfig`; None: ``$I2P_SAM_ADDRESS``
        or ``127.0.0.1:7656``), or ``BridgeConfig(launch=True)`` (or a
        data directory) for the router launched for this process.
    :param session_config: the session to connect from
        (:class:`~txi2p.config.SessionConfig`: its nickname, key file,
        options, signature type; sessions are shared by nickname).  None,
        or no nickname: a transient session shared by the unnamed client
        endpoints with the same settings.  Its ``auto_close`` (None: False)
        closes the session when its last connection closes.
    :param from_port: our I2P port (``FROM_PORT``).
    :param client_key: this client's key for private services with client
        authorization (:class:`~txi2p.private.ClientKey`: the key, or its
        file read at each ``connect()``); the session then carries it
        (``i2cp.leaseSetPrivKey``).
    :param registry: the session registry (default: the reactor's).
    :param progress: called with a sentence at each step of session start.
    :param recover: when a connect to the destination this endpoint reached
        before fails (``CantReachPeer``, a timeout), try once more through a
        fresh session (:mod:`txi2p.failover`; not for a session with a key file).
    """

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int | None = None,
        *,
        bridge_config: BridgeConfig | None = None,
        session_config: SessionConfig | None = None,
        from_port: int | None = None,
        client_key: ClientKey | None = None,
        registry: SessionRegistry | None = None,
        progress: Progress | None = None,
        recover: bool = True,
    ) -> None:
        super().__init__(reactor, bridge_config, session_config, auto_close=False, registry=registry,
                         progress=progress)
        if client_key is not None:
            if not isinstance(client_key, ClientKey):
                raise TypeError(f"client_key must be a txi2p.private.ClientKey, not {client_key!r}")
            if client_key.key is not None:
                self._spec = self._spec.with_options(client_key.options())
            else:
                self._file_options = client_key.options
        self.host = _check_host(host)
        self.port = None if port is None else check_port("port", port)
        self.from_port = None if from_port is None else check_port("from_port", from_port, allow_zero=True)
        # --- client recovery (txi2p.failover): one more try through a fresh session
        self.recover = bool(recover)
        self._reached = False  # this endpoint connected to its destination before
        # ---

    def __repr__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"<I2PClientEndpoint {self.host[:60]}{port}>"

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        """Open a stream to the destination; fires with the connected protocol."""
        return Deferred.fromCoroutine(self._connect(protocolFactory))

    async def _connect(self, factory: IProtocolFactory) -> IProtocol:
        registry = self.registry
        session = await self.acquire_session()

        def lost(reason: Failure) -> None:
            registry.release(session)

        try:
            protocol = await session.connect(self.host, factory, port=self.port,
                                             from_port=self.from_port, on_lost=lost)
        except BaseException as e:
            registry.release(session)
            # --- client recovery (txi2p.failover)
            if self.recover and self._reached and failover.recoverable(self, e):
                return await failover.reconnect(self, factory, e)
            # ---
            raise
        self._reached = True
        return protocol


@implementer(IStreamServerEndpoint)
class I2PServerEndpoint(_EndpointBase):
    """Listens on an I2P destination over SAM.

    :param reactor: the reactor.
    :param port: the I2P port to accept (None: every port).
    :param bridge_config: how to reach the SAM bridge, as for
        :class:`I2PClientEndpoint`.
    :param session_config: the session to listen on: its key file keeps the
        destination, and so the ``.b32.i2p`` address, across restarts
        (created with a new destination if missing; none: the destination
        lasts as long as the session); its nickname shares it with other
        endpoints naming it (none: a session of this endpoint's own).  Its
        ``auto_close`` (None: True) closes the session when the last of its
        ports stops listening.
    :param pending: how many STREAM ACCEPTs to keep open at once.
    :param private: a private service (True, or a
        :class:`~txi2p.private.PrivateService` listing the clients that may
        reach it): the router publishes an encrypted lease set
        (``i2cp.leaseSetType=5``), so only those who know the address can
        reach it or even look it up.  Its address, from
        ``port.getHost().host``, is the destination's longer
        :meth:`~txi2p.address.Destination.b33` name; the shorter ``.b32``
        name does not reach it.  Needs an Ed25519 (the default) or RedDSA
        destination.

    *registry* and *progress* are as for :class:`I2PClientEndpoint`.
    """

    def __init__(
        self,
        reactor: Any,
        port: int | None = None,
        *,
        bridge_config: BridgeConfig | None = None,
        session_config: SessionConfig | None = None,
        pending: int = 5,
        private: bool | PrivateService = False,
        registry: SessionRegistry | None = None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(reactor, bridge_config, session_config, auto_close=True, registry=registry,
                         progress=progress)
        service = PrivateService() if private is True else private
        if service is not False and not isinstance(service, PrivateService):
            raise TypeError(f"private must be a bool or a txi2p.private.PrivateService, not {private!r}")
        if isinstance(service, PrivateService):
            self._spec = self._spec.with_options(service.static_options())
            # checked against the session as resolved (options, signature type)
            self._spec = self._spec.with_options(
                _private_options(self._spec.option_map, self._spec.signature_type))
            if service.clients_file is not None:
                self._file_options = service.file_options
        self.port = None if port is None else check_port("port", port)
        if isinstance(pending, bool) or not isinstance(pending, int) or not 1 <= pending <= 100:
            raise ValueError(f"pending must be an integer from 1 to 100, not {pending!r}")
        self.pending = pending
        if self._spec.nickname is None:
            # A server with no name gets a session of its own, not the
            # transient one unnamed clients share.
            self._spec = replace(self._spec, nickname=f"txi2p-server-{secrets.token_hex(5)}")

    def __repr__(self) -> str:
        return f"<I2PServerEndpoint {self._spec.nickname} port={self.port}>"

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        """Start the session (if needed) and accept streams; fires with the port."""
        return Deferred.fromCoroutine(self._listen(protocolFactory))

    async def _listen(self, factory: IProtocolFactory) -> I2PServerPort:
        port = I2PServerPort(self, factory)
        await port._start()
        return port

    async def _listen_once(self, factory: IProtocolFactory) -> I2PListeningPort:
        registry = self.registry
        session = await self.acquire_session()
        try:
            port = session.listen(factory, self.port, pending=self.pending,
                                  on_stop=lambda: registry.release(session))
        except BaseException:
            registry.release(session)
            raise
        try:  # fire once the router really takes streams, not before
            await session.when_accepting().addTimeout(session.bridge.timeouts.command,
                                                      session.bridge.reactor)
        except BaseException:
            port.stopListening()
            raise
        # A private service is reached by its b33 name only, never its b32.
        name = session.address.host
        kind = " (a private service: reached by this b33 name only)" if name != session.b32 else ""
        _log.info("txi2p: listening on {name}{kind} (I2P port {port})", name=name, kind=kind,
                  port=self.port if self.port is not None else "any")
        if self._progress is not None:
            self._progress(f"listening on {name}{kind}")
        return port


@implementer(IListeningPort)
class I2PServerPort:
    """The port :meth:`I2PServerEndpoint.listen` returns: it outlives its session.

    When the session ends without ``stopListening()`` (the router was
    restarted, the SAM connection broke), the port starts it again, with
    back-off (1 s, doubling up to :attr:`MAX_BACKOFF`), logging each try;
    with a key file the destination, and so the ``.b32.i2p`` address, stay
    the same.  A session closed on purpose (``session.close()``, or the
    registry at reactor shutdown) stops the port quietly instead.

    :ivar recoveries: how many times the session was started again.
    """

    MAX_BACKOFF = 60.0

    def __init__(self, endpoint: I2PServerEndpoint, factory: IProtocolFactory) -> None:
        self.endpoint = endpoint
        self.factory = factory
        self.inner: I2PListeningPort | None = None
        self.listening = True
        self.recoveries = 0
        self._retry: Any = None
        self._backoff = 1.0
        self._host: Any = None

    async def _start(self) -> None:
        inner = await self.endpoint._listen_once(self.factory)
        self._attach(inner)

    def _attach(self, inner: I2PListeningPort) -> None:
        self.inner = inner
        self._host = inner.getHost()
        self._backoff = 1.0
        inner.session.closed.addCallback(lambda _: self._session_ended(inner))

    def _session_ended(self, inner: I2PListeningPort) -> None:
        if not self.listening or inner is not self.inner:
            return
        reason = inner.session.close_reason
        inner.stopListening()
        self.inner = None
        if inner.session.closed_on_purpose:
            # Its session was closed, not lost (the registry closes every
            # session at reactor shutdown): the port stops with it, quietly.
            self.listening = False
            _log.debug("txi2p: stopped listening on {b32}: its session was closed", b32=self._host.host)
            return
        _log.warn("txi2p: the session of {b32} ended ({reason}); starting it again in {delay:g} s",
                  b32=self._host.host, reason=reason.getErrorMessage() if reason else "closed",
                  delay=self._backoff)
        self._schedule()

    def _schedule(self) -> None:
        self._retry = self.endpoint._reactor.callLater(self._backoff, self._recover)
        self._backoff = min(self._backoff * 2, self.MAX_BACKOFF)

    def _recover(self) -> None:
        self._retry = None
        if not self.listening:
            return
        d = Deferred.fromCoroutine(self.endpoint._listen_once(self.factory))

        def ok(inner: I2PListeningPort) -> None:
            if not self.listening:
                inner.stopListening()
                return
            self.recoveries += 1
            _log.info("txi2p: listening again on {b32}", b32=inner.getHost().host)
            self._attach(inner)

        def failed(failure: Failure) -> None:
            if not self.listening:
                return
            _log.warn("txi2p: starting the session of {b32} again failed ({error}); next try in {delay:g} s",
                      b32=self._host.host, error=failure.getErrorMessage(), delay=self._backoff)
            self._schedule()

        d.addCallbacks(ok, failed)

    def startListening(self) -> None:
        """Already listening once made; kept for ``IListeningPort``."""

    def stopListening(self) -> Deferred[None]:
        """Stop accepting; the session is released (closed if unused)."""
        self.listening = False
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        inner, self.inner = self.inner, None
        if inner is not None:
            return inner.stopListening()
        return succeed(None)

    loseConnection = stopListening

    def getHost(self) -> Any:
        return self.inner.getHost() if self.inner is not None else self._host

    @property
    def session(self) -> Any:
        """The current session (None while it is being started again)."""
        return self.inner.session if self.inner is not None else None

    def __repr__(self) -> str:
        state = "listening" if self.inner is not None else ("recovering" if self.listening else "stopped")
        return f"<I2PServerPort {self._host!r} {state}>"

