"""The classic ``i2p.socket`` module's constants (re-exported by
:mod:`txi2p.socket`; its modules import them from here)."""

from __future__ import annotations

import select as _select
import socket as _stdsocket

SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3

MSG_DONTWAIT = 128
MSG_PEEK = 2
MSG_WAITALL = 64

#: poll() event bits, the standard library's.
POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = (
    _select.POLLIN, _select.POLLPRI, _select.POLLOUT, _select.POLLERR, _select.POLLHUP, _select.POLLNVAL)

#: The address family of every I2P socket (:attr:`socket.family`): no
#: family of the standard library has this number.
AF_I2P = 0x4932

#: Socket options (see socket.setsockopt) and shutdown() modes, the standard library's.
SOL_SOCKET, SO_RCVTIMEO, SO_SNDTIMEO, SO_KEEPALIVE, SO_REUSEADDR, IPPROTO_TCP, TCP_NODELAY = (
    _stdsocket.SOL_SOCKET, _stdsocket.SO_RCVTIMEO, _stdsocket.SO_SNDTIMEO, _stdsocket.SO_KEEPALIVE,
    _stdsocket.SO_REUSEADDR, _stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY)
SHUT_RD, SHUT_WR, SHUT_RDWR = _stdsocket.SHUT_RD, _stdsocket.SHUT_WR, _stdsocket.SHUT_RDWR

#: Incoming stream bytes buffered before the shim pauses the stream.
RECV_BUFFER_HIGH = 1024 * 1024

#: Bytes a stream socket's sends may queue before send() waits (on top of
#: the reactor transport's own 64 KiB buffer).
SEND_BUFFER_HIGH = 256 * 1024
