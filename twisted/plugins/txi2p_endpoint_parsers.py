"""Registers the ``i2p:`` client and server endpoint strings with Twisted."""

from txi2p.endpoint_strings import I2PClientParser, I2PServerParser

txi2pClientParser = I2PClientParser()
txi2pServerParser = I2PServerParser()
