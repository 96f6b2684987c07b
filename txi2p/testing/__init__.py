"""A private I2P network of real i2pd routers, for tests and demos.

* :class:`~txi2p.testing.network.PrivateI2PNetwork` starts and stops the
  routers (inside a private network namespace).
* :func:`~txi2p.testing.ready.wait_until_ready` waits until the network
  carries a real stream round trip, and hands back ready sessions.
* :mod:`txi2p.testing.pytest_plugin` wraps both as pytest fixtures.
"""

from txi2p.testing.namespace import NamespaceUnavailable, enter_private_namespace
from txi2p.testing.network import I2PRouter, NetworkStartError, PrivateI2PNetwork, find_i2pd, join_options
from txi2p.testing.ready import (
    TEST_SESSION_OPTIONS,
    TEST_SOCKET_OPTIONS,
    NetworkNotReady,
    retry_unreachable,
    wait_until_reachable,
    wait_until_ready,
)

__all__ = [
    "TEST_SESSION_OPTIONS",
    "TEST_SOCKET_OPTIONS",
    "I2PRouter",
    "NamespaceUnavailable",
    "NetworkNotReady",
    "NetworkStartError",
    "PrivateI2PNetwork",
    "enter_private_namespace",
    "find_i2pd",
    "join_options",
    "retry_unreachable",
    "wait_until_reachable",
    "wait_until_ready",
]
