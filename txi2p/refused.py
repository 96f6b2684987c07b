"""A refused connection to the SAM bridge, as txi2p and txi2p 0.3.x callers both see it.

Kept out of :mod:`txi2p.errors`, which never imports Twisted (the sans-I/O
codec uses it); ``txi2p.errors.SAMConnectionRefused`` is this class too.
"""

from __future__ import annotations

import builtins

from twisted.internet.error import ConnectionRefusedError as TwistedConnectionRefused

from txi2p.errors import SAMConnectionFailed

__all__ = ["SAMConnectionRefused", "failure_class"]


class SAMConnectionRefused(SAMConnectionFailed, TwistedConnectionRefused):
    """Nothing accepted the connection at the SAM bridge's address.

    A :class:`~txi2p.errors.SAMConnectionFailed`, and also Twisted's
    ``ConnectionRefusedError``: what txi2p 0.3.x failed with, and what
    Foolscap's and Tahoe-LAFS's code traps.
    """


#: The cause of a failed connection -> the error txi2p raises for it (first match).
_FAILURES: tuple[tuple[tuple[type[BaseException], ...], type[SAMConnectionFailed]], ...] = (
    ((TwistedConnectionRefused, builtins.ConnectionRefusedError), SAMConnectionRefused),
)


def failure_class(cause: BaseException) -> type[SAMConnectionFailed]:
    """The :class:`~txi2p.errors.SAMConnectionFailed` class to raise for *cause*."""
    for causes, error in _FAILURES:
        if isinstance(cause, causes):
            return error
    return SAMConnectionFailed
