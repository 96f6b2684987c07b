"""txi2p 0.3.x's module of ``i2p:`` endpoint-string parsers, kept for code
that imports it (and for 0.3.x's Twisted plugin file, if one is left).

The parsers are :mod:`txi2p.endpoint_strings`'s.
"""

from txi2p.endpoint_strings import I2PClientParser, I2PServerParser

__all__ = ["I2PClientParser", "I2PServerParser"]
