"""Registers ``twistd i2ptunnel`` (I2P tunnels as a twistd service)."""

from twisted.application.service import ServiceMaker

txi2pI2PTunnel = ServiceMaker(
    "txi2p i2ptunnel",
    "txi2p.i2ptunnel",
    "I2P tunnels: expose a local server on I2P, or reach an I2P destination from a local port.",
    "i2ptunnel",
)
