"""txi2p 0.3.x's ``txi2p.sam.session``, kept for code that imports its
session names (:mod:`txi2p.compat`'s ``SAMSession`` and ``getSession``).
"""

from txi2p.compat import SAMSession, getSession

__all__ = ["SAMSession", "getSession"]
