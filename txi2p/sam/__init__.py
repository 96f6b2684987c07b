"""The SAM v3 layer: the sans-I/O wire codec and the per-router dialect.

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


def __getattr__(name: str) -> Any:
    if name in _COMPAT:
        from txi2p import compat

        return getattr(compat, name)
    raise AttributeError(f"module 'txi2p.sam' has no attribute {name!r}")
