"""The classic ``i2p.socket`` module, on top of Twisted.

Blocking Python code uses I2P like the ``socket`` module::

    from txi2p import socket
    s = socket.socket("Alice", socket.SOCK_STREAM)    # blocks until the session is up
    s.connect("bob.i2p")
    s.sendall(b"hello")
    print(s.recv(1024))

The reactor runs in a background thread (the application's, if it already
runs one in another thread; otherwise one is started on first use and
stopped at interpreter exit).  Every call blocks on a result from it, so
calling a blocking method from the reactor thread raises :class:`Error`
instead of deadlocking.

Sessions are shared by name within the process, per socket type, as the
classic module promised; an empty name makes a transient session.  Every
socket has a real file descriptor (:meth:`socket.fileno`) that is readable
exactly when a receive (or accept) would not block and writable except
while a non-blocking connect is under way, so :func:`select`, :func:`poll`
and the standard library's ``select`` work on shim and ordinary sockets
together.
"""

from __future__ import annotations

from txi2p.datagram import MAX_DGRAM, MAX_RAW

__all__ = [
    "AF_I2P",
    "IPPROTO_TCP",
    "MAX_DGRAM",
    "MAX_RAW",
    "MSG_DONTWAIT",
    "MSG_PEEK",
    "MSG_WAITALL",
    "POLLERR",
    "POLLHUP",
    "POLLIN",
    "POLLNVAL",
    "POLLOUT",
    "POLLPRI",
    "SHUT_RD",
    "SHUT_RDWR",
    "SHUT_WR",
    "SOCK_DGRAM",
    "SOCK_RAW",
    "SOCK_STREAM",
    "SOL_SOCKET",
    "SO_KEEPALIVE",
    "SO_RCVTIMEO",
    "SO_REUSEADDR",
    "SO_SNDTIMEO",
    "TCP_NODELAY",
    "BlockError",
    "ClosedError",
    "Error",
    "NetworkError",
    "SocketState",
    "Timeout",
    "create_connection",
    "poll",
    "resolve",
    "select",
    "socket",
]

# The implementation, one concern a module:
#   constants  the numbers above, and the buffer limits
#   errors     Error and its subclasses
#   options    bridge and session options from arguments; setsockopt's options
#   context    the reactor thread every blocking call runs on
#   readiness  what fileno() returns; select() and poll()
#   states     SocketState and the moves a socket may make
#   feeds      the reactor-side protocols that feed the sockets
#   sockets    the socket class
#   functions  create_connection() and resolve()
# The private names imported are those that tests and
# txi2p.blocking_tunnel use.
from txi2p.socket.constants import (  # noqa: F401
    AF_I2P,
    IPPROTO_TCP,
    MSG_DONTWAIT,
    MSG_PEEK,
    MSG_WAITALL,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLNVAL,
    POLLOUT,
    POLLPRI,
    RECV_BUFFER_HIGH,
    SEND_BUFFER_HIGH,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_KEEPALIVE,
    SO_RCVTIMEO,
    SO_REUSEADDR,
    SO_SNDTIMEO,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_NODELAY,
)
from txi2p.socket.context import _ShimContext  # noqa: F401
from txi2p.socket.errors import BlockError, ClosedError, Error, NetworkError, Timeout, _network_error  # noqa: F401
from txi2p.socket.feeds import _StreamFeed  # noqa: F401
from txi2p.socket.functions import create_connection, resolve
from txi2p.socket.options import keyword_options  # noqa: F401
from txi2p.socket.readiness import _Signal, poll, select  # noqa: F401
from txi2p.socket.sockets import socket
from txi2p.socket.states import _SOCKET_TRANSITIONS, SocketState  # noqa: F401
