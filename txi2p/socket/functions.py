"""The functions that need no socket in hand: :func:`create_connection`, :func:`resolve`."""

from __future__ import annotations

import socket as _stdsocket
from typing import Any

from txi2p.address import Destination
from txi2p.config import BridgeConfig
from txi2p.socket.constants import SOCK_STREAM
from txi2p.socket.context import _ShimContext
from txi2p.socket.errors import Error, _network_error
from txi2p.socket.names import host_name
from txi2p.socket.options import _bridge_config
from txi2p.socket.sockets import socket

#: "No timeout given": the standard library's own marker, so that code
#: passing it on (``http.client`` does) means the same here.
_DEFAULT_TIMEOUT: Any = _stdsocket._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]


def create_connection(address: Any, timeout: float | None = _DEFAULT_TIMEOUT,
                      source_address: Any = None, *, session: str = "", samaddr: str | None = None,
                      **kwargs: Any) -> socket:
    """A connected :data:`SOCK_STREAM` socket, like the standard library's.

    *address* is ``(destination or host name, port)`` or just the name.
    *timeout* applies to the connect and stays the socket's timeout (left
    out: blocking).  *source_address* is ignored (I2P sockets are always
    bound).  *session*, *samaddr* and *kwargs* (*bridge* too) are those of :class:`socket`
    (a transient session by default).  A failed connect closes the socket.
    """
    sock = socket(session, SOCK_STREAM, samaddr, **kwargs)
    try:
        if timeout is not _DEFAULT_TIMEOUT:
            sock.settimeout(timeout)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def resolve(host: str, samaddr: str | None = None, *, bridge: BridgeConfig | None = None) -> str:
    """I2P host name (or ``.b32.i2p`` name) -> base64 destination.

    A base64 destination is returned as it is.  As in the classic module, a
    leading ``http://`` and a trailing ``/`` are dropped first
    (:func:`txi2p.socket.names.host_name`).  *samaddr* or *bridge* say
    which bridge to ask, as for :class:`socket`.
    """
    config = _bridge_config(samaddr, bridge)
    if isinstance(host, str):
        host = host_name(host)
    if isinstance(host, str) and len(host) >= 516 and not host.endswith(".i2p"):
        Destination.from_base64(host)
        return host
    context = _ShimContext.get()
    sam = context.registry.bridge(config)
    try:
        return str(context.call(lambda: sam.lookup(host), what=f"resolving {host}").base64)
    except Error:
        raise
    except Exception as e:
        raise _network_error(e) from e
