"""txi2p: I2P for Twisted programs, over the SAM v3 bridge.

The layers, bottom up:

* :mod:`txi2p.sam.codec` — the SAM wire format, sans I/O;
* :mod:`txi2p.sam.dialect` — what one router's SAM bridge supports;
* :mod:`txi2p.address` — destinations, ``.b32.i2p`` names, key files;
* :mod:`txi2p.protocol` — the control and data channels as Twisted protocols;
* :mod:`txi2p.session` — :class:`SAMBridge` and :class:`SAMSession`;
* :mod:`txi2p.testing` — a private network of real i2pd routers for tests.
"""

from txi2p.address import Destination, I2PAddress, PrivateKey, read_key_file, write_key_file
from txi2p.compat import generateDestination, testAPI
from txi2p.errors import SAMError, TxI2PError
from txi2p.protocol import Timeouts
from txi2p.session import SAMBridge, SAMSession

__version__ = "0.4.0.dev0"

__all__ = [
    "Destination",
    "I2PAddress",
    "PrivateKey",
    "SAMBridge",
    "SAMError",
    "SAMSession",
    "Timeouts",
    "TxI2PError",
    "__version__",
    "generateDestination",
    "read_key_file",
    "testAPI",
    "write_key_file",
]
