"""txi2p: I2P for Twisted programs, over the SAM v3 bridge.

The layers, bottom up:

* :mod:`txi2p.sam.codec` — the SAM wire format, sans I/O;
* :mod:`txi2p.sam.dialect` — what one router's SAM bridge supports;
* :mod:`txi2p.address` — destinations, ``.b32.i2p`` names, key files;
* :mod:`txi2p.protocol` — the control and data channels as Twisted protocols;
* :mod:`txi2p.bridge` — :class:`SAMBridge`; :mod:`txi2p.session` — :class:`SAMSession`;
* :mod:`txi2p.i2p` — :func:`connect` and the :class:`I2P` object, and
  :mod:`txi2p.launcher` — :func:`launch`, which starts an i2pd
  (:mod:`txi2p.i2pd`) for this process;
* :mod:`txi2p.testing` — a private network of real i2pd routers for tests.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from txi2p.address import Destination, I2PAddress, PrivateKey, read_key_file, write_key_file
    from txi2p.bridge import SAMBridge
    from txi2p.compat import generateDestination, testAPI
    from txi2p.errors import SAMError, TxI2PError
    from txi2p.i2p import I2P, connect
    from txi2p.i2pd import DataDirectoryInUse, I2pdNotFound, RouterFailed
    from txi2p.launcher import launch
    from txi2p.protocol import Timeouts
    from txi2p.session import SAMSession

__version__ = "0.4.0.dev0"

# Another distribution (txi2p-tahoe 0.3.x) sharing or overwriting this
# package's files is said at once, not left to fail later (standard library only).
from txi2p.installation import warn_if_mixed as _warn_if_mixed

_warn_if_mixed(__version__)

# The names below are loaded on first use, so that importing the sans-I/O
# layer (txi2p.sam.codec, txi2p.sam.dialect) never imports Twisted.
_LAZY = {
    "Destination": "txi2p.address",
    "I2PAddress": "txi2p.address",
    "PrivateKey": "txi2p.address",
    "read_key_file": "txi2p.address",
    "write_key_file": "txi2p.address",
    "generateDestination": "txi2p.compat",
    "testAPI": "txi2p.compat",
    "SAMError": "txi2p.errors",
    "TxI2PError": "txi2p.errors",
    "Timeouts": "txi2p.protocol",
    "I2P": "txi2p.i2p",
    "connect": "txi2p.i2p",
    "launch": "txi2p.launcher",
    "DataDirectoryInUse": "txi2p.i2pd",
    "I2pdNotFound": "txi2p.i2pd",
    "RouterFailed": "txi2p.i2pd",
    "SAMBridge": "txi2p.bridge",
    "SAMSession": "txi2p.session",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'txi2p' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

__all__ = [
    "I2P",
    "DataDirectoryInUse",
    "Destination",
    "I2PAddress",
    "I2pdNotFound",
    "PrivateKey",
    "RouterFailed",
    "SAMBridge",
    "SAMError",
    "SAMSession",
    "Timeouts",
    "TxI2PError",
    "__version__",
    "connect",
    "generateDestination",
    "launch",
    "read_key_file",
    "testAPI",
    "write_key_file",
]
