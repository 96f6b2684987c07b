"""One I2P router as one object, as txtorcon's ``Tor`` is one Tor.

:func:`connect` reaches a router that runs already;
:func:`txi2p.launch` starts one (:mod:`txi2p.launcher`).  Either gives an
:class:`I2P`, which hands out the endpoints, agents and sessions of that
router's SAM bridge::

    i2p = await txi2p.connect(reactor)
    endpoint = i2p.client_endpoint("example.i2p", 80)
    agent = i2p.web_agent()
    await i2p.quit()
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import wrapClientTLS
from twisted.web.client import URI, Agent, BrowserLikePolicyForHTTPS
from twisted.web.iweb import IAgentEndpointFactory, IPolicyForHTTPS
from zope.interface import implementer

from txi2p.address import Destination, PrivateKey
from txi2p.bridge import SAMBridge
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.datagram import I2PDatagramEndpoint
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.i2pd import I2pdRouter, follow
from txi2p.private import ClientKey, PrivateService
from txi2p.registry import SessionRegistry
from txi2p.sam.dialect import SAMDialect
from txi2p.session import SAMSession

__all__ = ["I2P", "I2PWebEndpoints", "connect"]


class I2P:
    """One router's SAM bridge, and the router itself when txi2p launched it.

    Made by :func:`connect` or :func:`txi2p.launch`.  Every method takes
    its own arguments plus an optional
    :class:`~txi2p.config.SessionConfig` (*session_config*); endpoints do no I/O
    until ``connect()``/``listen()``.

    :ivar bridge_config: how the bridge is reached (a :class:`~txi2p.config.BridgeConfig`).
    :ivar router: the launched router (:class:`~txi2p.i2pd.I2pdRouter`), or None.
    """

    def __init__(self, reactor: Any, bridge: SAMBridge, *, router: I2pdRouter | None = None,
                 registry: SessionRegistry | None = None) -> None:
        self.reactor = reactor
        self.bridge = bridge
        self.bridge_config = bridge.bridge_config
        self.router = router
        self.registry = registry or SessionRegistry.for_reactor(reactor)
        self._quit: Deferred[None] | None = None

    def __repr__(self) -> str:
        owned = f" launched pid={self.router.pid}" if self.router is not None else ""
        return f"<I2P {self.sam_address}{owned}>"

    @property
    def sam_address(self) -> str:
        """``host:port`` of the SAM bridge."""
        return self.bridge.sam_address

    @property
    def dialect(self) -> SAMDialect | None:
        """What the bridge speaks, as learned from its answers so far."""
        return self.bridge.dialect

    @property
    def sam_version(self) -> str | None:
        """The SAM version the bridge negotiated."""
        return None if self.bridge.dialect is None else str(self.bridge.dialect.version)

    @property
    def sessions(self) -> list[SAMSession]:
        """The sessions open on this bridge now."""
        return [s for s in self.registry.sessions if s.bridge is self.bridge]

    # ---------------------------------------------------------------- streams

    def client_endpoint(self, host: str, port: int | None = None, *,
                        session_config: SessionConfig | None = None,
                        client_key: ClientKey | None = None) -> I2PClientEndpoint:
        """An endpoint that connects to *host* (``.i2p``, ``.b32.i2p`` or base64)."""
        return I2PClientEndpoint(self.reactor, host, port, bridge_config=self.bridge_config,
                                 session_config=session_config, client_key=client_key, registry=self.registry)

    def stream_via(self, host: str, port: int | None = None, *,
                   session_config: SessionConfig | None = None) -> I2PClientEndpoint:
        """txtorcon's name for :meth:`client_endpoint`."""
        return self.client_endpoint(host, port, session_config=session_config)

    def server_endpoint(self, port: int | None = None, *, key_file: str | None = None,
                        session_config: SessionConfig | None = None, private: bool | PrivateService = False,
                        pending: int = 5) -> I2PServerEndpoint:
        """An endpoint that listens on I2P (*key_file*: a lasting address;
        give it either here or in *session_config*, not both)."""
        if key_file is not None:
            if session_config is not None:
                raise ValueError("give the key file as key_file= or in session_config, not both")
            session_config = SessionConfig.build(keyfile=key_file)
        return I2PServerEndpoint(self.reactor, port, bridge_config=self.bridge_config,
                                 session_config=session_config, private=private, pending=pending,
                                 registry=self.registry)

    def datagram_endpoint(self, *, style: str = "DATAGRAM", session_config: SessionConfig | None = None,
                          from_port: int | None = None, to_port: int | None = None,
                          delivery: str = "auto") -> I2PDatagramEndpoint:
        """An endpoint for I2P datagrams (``DATAGRAM``, ``DATAGRAM2``/``3`` or ``RAW``;
        *style* when no *session_config* says it)."""
        if session_config is None:
            session_config = SessionConfig.build(style=style)
        return I2PDatagramEndpoint(self.reactor, bridge_config=self.bridge_config, session_config=session_config,
                                   from_port=from_port, to_port=to_port, delivery=delivery,
                                   registry=self.registry)

    def web_agent(self, pool: Any = None, tls_context_factory: IPolicyForHTTPS | None = None, *,
                  session_config: SessionConfig | None = None) -> Agent:
        """A ``twisted.web.client.Agent`` for ``http://`` and ``https://`` URLs
        of ``.i2p`` sites; HTTPS with *tls_context_factory* (default:
        Twisted's browser-like policy), e.g. one that pins a certificate."""
        factory = I2PWebEndpoints(self, tls_context_factory, session_config=session_config)
        return Agent.usingEndpointFactory(self.reactor, factory, pool)

    # ------------------------------------------------------------------ names

    def lookup(self, name: str) -> Deferred[Destination]:
        """The destination of *name* (``.i2p`` or ``.b32.i2p``)."""
        return Deferred.fromCoroutine(self.bridge.lookup(name))

    def generate_key(self, signature_type: int | str = 7) -> Deferred[PrivateKey]:
        """A new destination's private key (``DEST GENERATE``)."""
        return Deferred.fromCoroutine(self.bridge.generate_destination(signature_type))

    # ------------------------------------------------------------------- end

    def quit(self) -> Deferred[None]:
        """Close this bridge's sessions, and stop the router if txi2p launched it.

        Fires once the router process has exited (and its temporary data
        directory is gone).  Calling it again gives the same result.
        """
        if self._quit is None:
            self._quit = Deferred.fromCoroutine(self._close())
        return follow(self._quit)

    async def _close(self) -> None:
        for session in self.sessions:
            session.close()
        if self.router is not None:
            await self.router.stop()


@implementer(IAgentEndpointFactory)
class I2PWebEndpoints:
    """Endpoints for an :class:`~twisted.web.client.Agent`: one stream per
    URL to its ``.i2p`` host, wrapped in TLS for ``https://``."""

    def __init__(self, i2p: I2P, tls_context_factory: IPolicyForHTTPS | None = None, *,
                 session_config: SessionConfig | None = None) -> None:
        self._i2p = i2p
        self._tls = tls_context_factory or BrowserLikePolicyForHTTPS()
        self._session_config = session_config

    def endpointForURI(self, uri: URI) -> Any:
        if uri.scheme not in (b"http", b"https"):
            raise ValueError(f"only http:// and https:// URLs go over I2P, not {uri.scheme.decode()}://")
        host = uri.host.decode("ascii")
        if not host.endswith(".i2p"):
            raise ValueError(f"{host!r} is not an I2P host name (.i2p)")
        endpoint = self._i2p.client_endpoint(host, uri.port, session_config=self._session_config)
        if uri.scheme == b"https":
            return wrapClientTLS(self._tls.creatorForNetloc(uri.host, uri.port), endpoint)
        return endpoint


def connect(reactor: Any, bridge_config: BridgeConfig | str | None = None, *,
            registry: SessionRegistry | None = None) -> Deferred[I2P]:
    """An :class:`I2P` for a router that runs already, once its SAM bridge
    answers HELLO.

    :param bridge_config: a :class:`~txi2p.config.BridgeConfig`, or ``host:port``
        (default ``$I2P_SAM_ADDRESS`` or ``127.0.0.1:7656``).

    Fails as ``txi2p check`` does: :class:`~txi2p.errors.SAMConnectionFailed`
    (nothing listens there, with what to check), a SAM error for a bridge
    that refuses the HELLO, :class:`~txi2p.errors.CommandTimeout` for one
    that does not answer.
    """
    config = bridge_config if isinstance(bridge_config, BridgeConfig) else BridgeConfig(bridge_config)
    registry = registry or SessionRegistry.for_reactor(reactor)
    sam = registry.bridge(config)

    async def check() -> I2P:
        control = await sam.control()
        control.close()
        return I2P(reactor, sam, registry=registry)

    return Deferred.fromCoroutine(check())
