"""The host names the classic ``i2p.socket`` module accepted.

Its ``resolve()`` (and so ``connect()``) took a name as a browser shows it:
``http://duck.i2p/``, ``duck.i2p/`` and ``http://duck.i2p`` all meant
``duck.i2p``.  A string of 256 characters or more is a base64 destination
and is left as it is.
"""

from __future__ import annotations

from typing import Any

from txi2p.address import Destination, I2PAddress

__all__ = ["DESTINATION_LENGTH", "connect_target", "host_name"]

#: Strings this long or longer are base64 destinations, never stripped.
DESTINATION_LENGTH = 256

_SCHEME = "http://"


def host_name(name: str) -> str:
    """*name* without a leading ``http://`` and one trailing ``/``."""
    if len(name) >= DESTINATION_LENGTH:
        return name
    if name[:len(_SCHEME)].lower() == _SCHEME:
        name = name[len(_SCHEME):]
    if name.endswith("/"):
        name = name[:-1]
    return name


def connect_target(address: Any) -> Destination | str:
    """What ``connect()``, ``sendto()`` and ``resolve()`` reach: a destination or a host name.

    Takes ``(dest, port)`` like AF_INET addresses, an :class:`I2PAddress`,
    a :class:`Destination` or a string (see :func:`host_name`).
    """
    if isinstance(address, tuple):  # (dest, port), like AF_INET addresses
        address = address[0]
    if isinstance(address, I2PAddress):
        address = address.destination or address.host
    if isinstance(address, str):
        address = host_name(address)  # http://duck.i2p/ as the classic module took it
    if not isinstance(address, (str, Destination)) or not address:
        raise ValueError(f"an I2P address must be a destination or host name, not {address!r}")
    return address
