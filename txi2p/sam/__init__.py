"""The SAM v3 layer, and the names of the classic ``i2p.sam`` module.

Submodules: :mod:`txi2p.sam.codec` (the sans-I/O wire codec) and
:mod:`txi2p.sam.dialect` (what one router supports).

As the classic ``i2p.sam`` module, it offers ``socket``, ``select``,
``poll``, ``resolve``, the socket errors and constants (from
:mod:`txi2p.socket`), and ``Tunnel``, ``TunnelServer`` and ``TunnelClient``
(from :mod:`txi2p.tunnel`).

For txi2p 0.3.x callers (Foolscap, Tahoe-LAFS) this package also offers
``SAMI2PStreamClientEndpoint``, ``SAMI2PStreamServerEndpoint``,
``generateDestination`` and ``testAPI``.  They are loaded on first use, so
that importing :mod:`txi2p.sam.codec` never imports Twisted.
"""

from typing import Any

_COMPAT = {
    "SAMI2PStreamClientEndpoint",
    "SAMI2PStreamServerEndpoint",
    "generateDestination",
    "testAPI",
}


_SHIM = {
    "socket", "select", "poll", "resolve",
    "Error", "BlockError", "ClosedError", "NetworkError", "Timeout",
    "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "MAX_DGRAM", "MAX_RAW",
    "MSG_DONTWAIT", "MSG_PEEK", "MSG_WAITALL",
    "POLLIN", "POLLPRI", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL",
}

_TUNNELS = {"Tunnel", "TunnelServer", "TunnelClient"}


def __getattr__(name: str) -> Any:
    if name in _COMPAT:
        from txi2p import compat

        return getattr(compat, name)
    if name in _SHIM:
        from txi2p import socket

        return getattr(socket, name)
    if name in _TUNNELS:
        from txi2p import blocking_tunnel

        return getattr(blocking_tunnel, name)
    raise AttributeError(f"module 'txi2p.sam' has no attribute {name!r}")
