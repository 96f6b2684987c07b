"""txi2p 0.3.x's ``txi2p.utils``: :func:`generateDestination` and :func:`testAPI`."""

from txi2p.compat import generateDestination, testAPI

__all__ = ["generateDestination", "testAPI"]
