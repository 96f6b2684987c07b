"""txi2p 0.3.x's ``txi2p.sam.endpoints``, kept for code that imports it.

The names are :mod:`txi2p.compat`'s.
"""

from txi2p.compat import SAMI2PStreamClientEndpoint, SAMI2PStreamServerEndpoint, getSession

__all__ = ["SAMI2PStreamClientEndpoint", "SAMI2PStreamServerEndpoint", "getSession"]
