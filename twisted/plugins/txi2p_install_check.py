"""Says on a Twisted plugin scan when the ``txi2p`` package is not this txi2p's.

txi2p-tahoe 0.3.x writes the same files as txi2p (its plugin file
included); installed over txi2p, ``import txi2p`` is its 0.3.x package and
says nothing.  This file is txi2p's alone, so it is still here to warn
(:class:`txi2p.installation.MixedInstallWarning`).  When txi2p's own
``__init__`` is in place it has warned already, and this stays quiet.
"""

import txi2p
from txi2p.installation import warn_if_mixed

if not hasattr(txi2p, "_warn_if_mixed"):
    warn_if_mixed()
