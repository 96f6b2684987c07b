"""HTTP over I2P without a proxy: a Twisted ``Agent`` that connects via SAM::

    from txi2p.web import agent
    response = await agent(reactor, sam_address="127.0.0.1:7656").request(
        b"GET", b"http://xxxx.b32.i2p/")

Works with ``treq`` too: ``treq.get(url, agent=agent(reactor))``.
"""

from __future__ import annotations

from typing import Any

from twisted.web.client import URI, Agent
from twisted.web.iweb import IAgentEndpointFactory, IPolicyForHTTPS
from zope.interface import implementer

from txi2p.endpoints import I2PClientEndpoint

__all__ = ["I2PAgentEndpointFactory", "agent"]


@implementer(IAgentEndpointFactory)
class I2PAgentEndpointFactory:
    """Makes an :class:`~txi2p.endpoints.I2PClientEndpoint` for each URI.

    Keyword arguments are those of :class:`~txi2p.endpoints.I2PClientEndpoint`
    (``bridge_config``, ``session_config``, ``client_key``, ...), checked
    here, once.  The URI's port is
    sent as the I2P port (``TO_PORT``).  ``https`` URIs are refused: I2P
    destinations are already end-to-end encrypted and authenticated.
    """

    def __init__(self, reactor: Any, **endpoint_args: Any) -> None:
        self._reactor = reactor
        I2PClientEndpoint(reactor, "example.i2p", **endpoint_args)  # bad arguments fail here, not per request
        self._args = endpoint_args

    def endpointForURI(self, uri: URI) -> I2PClientEndpoint:
        if uri.scheme != b"http":
            raise ValueError(f"only http:// URIs are supported over I2P, not {uri.scheme.decode()}://")
        host = uri.host.decode("ascii")
        if not host.endswith(".i2p"):
            raise ValueError(f"{host!r} is not an I2P host name (.i2p)")
        return I2PClientEndpoint(self._reactor, host, uri.port, **self._args)


def agent(reactor: Any, pool: Any = None, contextFactory: IPolicyForHTTPS | None = None,
          **endpoint_args: Any) -> Agent:
    """A ``twisted.web.client.Agent`` that reaches ``.i2p`` sites through SAM."""
    del contextFactory  # I2P needs no TLS
    return Agent.usingEndpointFactory(reactor, I2PAgentEndpointFactory(reactor, **endpoint_args), pool)
