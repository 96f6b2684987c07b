"""The host names the classic ``i2p.socket`` module accepted.

Its ``resolve()`` (and so ``connect()``) took a name as a browser shows it:
``http://duck.i2p/``, ``duck.i2p/`` and ``http://duck.i2p`` all meant
``duck.i2p``.  A string of 256 characters or more is a base64 destination
and is left as it is.
"""

from __future__ import annotations

__all__ = ["DESTINATION_LENGTH", "host_name"]

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
