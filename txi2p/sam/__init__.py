"""The SAM v3 layer, and the names of the classic ``i2p.sam`` module.

Submodules, all sans I/O: :mod:`txi2p.sam.codec` (the wire codec),
:mod:`txi2p.sam.replies` (which reply answers which command),
:mod:`txi2p.sam.dialect` (what one router supports) and the connections
Twisted's protocols drive: :mod:`txi2p.sam.control` (the control channel),
:mod:`txi2p.sam.data` (the data channel) and :mod:`txi2p.sam.events`
(what they report).

As the classic ``i2p.sam`` module, it offers ``socket``, ``select``,
``poll``, ``resolve``, the socket errors and constants (from
:mod:`txi2p.socket`), and ``Tunnel``, ``TunnelServer`` and ``TunnelClient``
(from :mod:`txi2p.tunnel`).

For txi2p 0.3.x callers (Foolscap, Tahoe-LAFS) this package also offers
``SAMI2PStreamClientEndpoint``, ``SAMI2PStreamServerEndpoint``,
``SAMSession``, ``getSession``, ``generateDestination`` and ``testAPI``.  They are loaded on first use, so
that importing :mod:`txi2p.sam.codec` never imports Twisted.
"""

from typing import Any

#: Where each name this package offers comes from.  The names are fixed by
#: the APIs they keep: the classic ``i2p.sam`` module (its socket API and
#: blocking tunnels) and txi2p 0.3.x; they are loaded on first use.
_PROVIDERS = {
    "txi2p.compat": ("SAMI2PStreamClientEndpoint", "SAMI2PStreamServerEndpoint", "SAMSession",
                     "generateDestination", "getSession", "testAPI"),
    "txi2p.socket": ("socket", "select", "poll", "resolve", "Error", "BlockError", "ClosedError",
                     "NetworkError", "Timeout", "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "MAX_DGRAM",
                     "MAX_RAW", "MSG_DONTWAIT", "MSG_PEEK", "MSG_WAITALL", "POLLIN", "POLLPRI",
                     "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL"),
    "txi2p.blocking_tunnel": ("Tunnel", "TunnelServer", "TunnelClient"),
}
_SOURCE = {name: module for module, names in _PROVIDERS.items() for name in names}

__all__ = sorted(_SOURCE)


def __getattr__(name: str) -> Any:
    module = _SOURCE.get(name)
    if module is None:
        raise AttributeError(f"module 'txi2p.sam' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCE})
