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

import select as _select
import socket as _stdsocket

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

SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3

MSG_DONTWAIT = 128
MSG_PEEK = 2
MSG_WAITALL = 64

# The standard library's numbers are typed ``int`` (here and below): the
# package's modules import them back, a cycle in which mypy cannot infer them.
POLLIN: int = _select.POLLIN
POLLPRI: int = _select.POLLPRI
POLLOUT: int = _select.POLLOUT
POLLERR: int = _select.POLLERR
POLLHUP: int = _select.POLLHUP
POLLNVAL: int = _select.POLLNVAL

#: The address family of every I2P socket (:attr:`socket.family`): no
#: family of the standard library has this number.
AF_I2P = 0x4932

# Socket options, as the standard library spells them (see socket.setsockopt).
SOL_SOCKET: int = _stdsocket.SOL_SOCKET
SO_RCVTIMEO: int = _stdsocket.SO_RCVTIMEO
SO_SNDTIMEO: int = _stdsocket.SO_SNDTIMEO
SO_KEEPALIVE: int = _stdsocket.SO_KEEPALIVE
SO_REUSEADDR: int = _stdsocket.SO_REUSEADDR
IPPROTO_TCP: int = _stdsocket.IPPROTO_TCP
TCP_NODELAY: int = _stdsocket.TCP_NODELAY

SHUT_RD: int = _stdsocket.SHUT_RD
SHUT_WR: int = _stdsocket.SHUT_WR
SHUT_RDWR: int = _stdsocket.SHUT_RDWR

#: Incoming stream bytes buffered before the shim pauses the stream.
RECV_BUFFER_HIGH = 1024 * 1024

#: Bytes a stream socket's sends may queue before send() waits (on top of
#: the reactor transport's own 64 KiB buffer).
SEND_BUFFER_HIGH = 256 * 1024


# The implementation, one concern a module (each imports the constants
# above, so the imports come after them):
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
from txi2p.socket.context import _ShimContext  # noqa: E402, F401
from txi2p.socket.errors import BlockError, ClosedError, Error, NetworkError, Timeout, _network_error  # noqa: E402, F401
from txi2p.socket.feeds import _StreamFeed  # noqa: E402, F401
from txi2p.socket.functions import create_connection, resolve  # noqa: E402
from txi2p.socket.options import keyword_options  # noqa: E402, F401
from txi2p.socket.readiness import _Signal, poll, select  # noqa: E402, F401
from txi2p.socket.sockets import socket  # noqa: E402
from txi2p.socket.states import _SOCKET_TRANSITIONS, SocketState  # noqa: E402, F401
