"""Says on a Twisted plugin scan when the ``txi2p`` package is not this txi2p's.

txi2p-tahoe 0.3.x writes the same files as txi2p (its plugin file
included); installed over txi2p, ``import txi2p`` is its 0.3.x package and
says nothing.  This file is txi2p's alone, so it is still here to warn
(:class:`txi2p.installation.MixedInstallWarning`).  When txi2p's own
``__init__`` is in place it has warned already, and this stays quiet.

Twisted's plugin cache imports a module again only when the module
changes, so this one registers an endpoint parser (prefix
``txi2p-install-check``, which parses nothing): every search for an
endpoint parser, as ``i2p:`` strings make, loads it and so runs the check
once per process.
"""

from typing import Any, NoReturn

from twisted.internet.interfaces import (
    IStreamClientEndpointStringParserWithReactor,
    IStreamServerEndpointStringParser,
)
from twisted.plugin import IPlugin
from zope.interface import implementer

import txi2p
from txi2p.installation import warn_if_mixed

if not hasattr(txi2p, "_warn_if_mixed"):
    warn_if_mixed()


@implementer(IPlugin, IStreamClientEndpointStringParserWithReactor, IStreamServerEndpointStringParser)
class _InstallCheck:
    prefix = "txi2p-install-check"

    def _refuse(self) -> NoReturn:
        raise ValueError("txi2p-install-check: is not an endpoint (it makes Twisted's plugin scans run "
                         "txi2p's install check); see 'txi2p check'")

    def parseStreamClient(self, reactor: Any, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def parseStreamServer(self, reactor: Any, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()


txi2pInstallCheck = _InstallCheck()
