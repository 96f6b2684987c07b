"""How a data connection's socket reaches the user's protocol, and how SAM sockets close.

Once a stream is set up, :class:`~txi2p.protocol.SAMStreamProtocol`
hands the TCP transport to the user's protocol: the user sees it through
:class:`I2PStreamTransport` (I2P addresses, the I2P stream's TLS side),
and :class:`_ProtocolTap` takes the transport's ``protocol`` place to
see the close.  :func:`close_after_flush` and :func:`_abort_transport`
close SAM sockets the way every channel needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IProtocol
from twisted.python.failure import Failure
from zope.interface import directlyProvides, providedBy

from txi2p.address import I2PAddress

__all__ = ["I2PStreamTransport", "close_after_flush"]


def _abort_transport(transport: Any) -> None:
    abort = getattr(transport, "abortConnection", None)
    if abort is not None:
        abort()
    else:
        transport.loseConnection()


class I2PStreamTransport:
    """The transport a user's protocol sees on an I2P stream.

    Everything is the TCP transport's own (``write`` is the very same
    bound method), except ``getHost()``/``getPeer()``, which return
    :class:`~txi2p.address.I2PAddress` objects, and ``startTLS()``, whose
    default side follows the I2P stream, not the TCP connection: every
    SAM data connection is a TCP client, but on an accepted I2P stream we
    are the server.
    """

    def __init__(self, transport: Any, host: I2PAddress, peer: I2PAddress,
                 tls_client: bool | None = None) -> None:
        self._transport = transport
        self._host = host
        self._peer = peer
        self._flip_tls = (tls_client is not None
                          and getattr(transport, "_tlsClientDefault", tls_client) != tls_client)
        self.write = transport.write
        self.writeSequence = transport.writeSequence
        directlyProvides(self, providedBy(transport))

    def getHost(self) -> I2PAddress:
        return self._host

    def getPeer(self) -> I2PAddress:
        return self._peer

    def startTLS(self, contextFactory: Any, normal: bool = True) -> None:
        """Start TLS as the client of a stream we opened, the server of one we accepted."""
        self._transport.startTLS(contextFactory, normal != self._flip_tls)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def __repr__(self) -> str:
        return f"<I2PStreamTransport {self._host!r} <-> {self._peer!r}>"


def close_after_flush(transport: Any, half: bool = False) -> None:
    """Close (or half-close) *transport* once what it buffers is written.

    Its producer is unregistered first: a TCP transport whose streaming
    producer is paused resumes it when its buffer drains, instead of
    closing, and the connection would stay open forever.
    """
    if getattr(transport, "producer", None) is not None:
        transport.unregisterProducer()
    if half:
        transport.loseWriteConnection()
    else:
        transport.loseConnection()


class _ProtocolTap:
    """Takes the user protocol's place on the TCP transport to see the close.

    Bytes go to the user's ``dataReceived`` as it is *now*, looked up at
    each read: a protocol may rebind it on itself to hand the connection
    on (Foolscap's negotiation does, to its broker), and a method bound
    once would keep feeding the old one.
    """

    def __init__(self, user: IProtocol, on_lost: Callable[[Failure], None]) -> None:
        self._user = user
        self._on_lost = on_lost
        directlyProvides(self, providedBy(user))

    def dataReceived(self, data: bytes) -> None:
        self._user.dataReceived(data)

    def connectionLost(self, reason: Failure) -> None:
        try:
            self._user.connectionLost(reason)
        finally:
            self._on_lost(reason)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._user, name)
