"""Arguments: the bridge and session options a socket's arguments name,
and the socket options :meth:`~txi2p.socket.socket.setsockopt` takes."""

from __future__ import annotations

import socket as _stdsocket
import struct as _struct
import sys as _sys
from typing import Any

from txi2p.config import BridgeConfig, SessionConfig, session_options
from txi2p.socket.constants import SOCK_DGRAM, SOCK_RAW, SOCK_STREAM
from txi2p.socket.errors import Error

#: Options accepted and remembered without effect on an I2P stream (the
#: router's streaming library decides): code written for TCP sets them.
_ADVISORY_OPTIONS = {
    (_stdsocket.SOL_SOCKET, _stdsocket.SO_KEEPALIVE): "SO_KEEPALIVE",
    (_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEADDR): "SO_REUSEADDR",
    (_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY): "TCP_NODELAY",
}
#: Options that set the socket's one timeout (I2P sockets have one for every call).
_TIMEOUT_OPTIONS = {(_stdsocket.SOL_SOCKET, _stdsocket.SO_RCVTIMEO): "SO_RCVTIMEO",
                    (_stdsocket.SOL_SOCKET, _stdsocket.SO_SNDTIMEO): "SO_SNDTIMEO"}
_TIMEVAL = _struct.Struct("@ll")


_STYLES = {SOCK_STREAM: "STREAM", SOCK_DGRAM: "DATAGRAM", SOCK_RAW: "RAW"}


def _bridge_config(samaddr: str | None, bridge: BridgeConfig | None) -> BridgeConfig:
    """The socket's bridge: *bridge*, or the one at *samaddr* (not both)."""
    return BridgeConfig.from_loose(bridge, samaddr)


def socket_session_config(name: str, type: int, kwargs: dict[str, Any]) -> SessionConfig:
    """The session a socket of *type* named *name* asks for, with i2p.socket-style
    keywords *kwargs* (see :func:`keyword_options`)."""
    kwargs = dict(kwargs)
    in_depth = kwargs.pop("in_depth", None)
    out_depth = kwargs.pop("out_depth", None)
    return SessionConfig.build(nickname=name or None, style=_STYLES[type], options=_dotted(kwargs),
                               in_depth=in_depth, out_depth=out_depth, auto_close=type != SOCK_STREAM)


def keyword_options(kwargs: dict[str, Any]) -> dict[str, str]:
    """Session options from i2p.socket-style keywords.

    ``in_depth``/``out_depth`` set the tunnel lengths; other keywords are
    I2CP options, with ``_`` standing for ``.`` (``inbound_quantity=3``).
    """
    kwargs = dict(kwargs)
    in_depth = kwargs.pop("in_depth", None)
    out_depth = kwargs.pop("out_depth", None)
    return session_options(_dotted(kwargs), in_depth=in_depth, out_depth=out_depth)


def _dotted(kwargs: dict[str, Any]) -> dict[str, Any]:
    """I2CP option names from keywords: ``_`` stands for ``.`` (``inbound_quantity``)."""
    return {k.replace("_", ".") if "." not in k and "_" in k else k: v for k, v in kwargs.items()}


def timeout_seconds(key: tuple[int, int], value: int | float | bytes) -> float:
    """The timeout a ``SO_RCVTIMEO``/``SO_SNDTIMEO`` value gives: a ``struct timeval`` or seconds."""
    name = _TIMEOUT_OPTIONS[key]
    if isinstance(value, (bytes, bytearray)):
        if len(value) != _TIMEVAL.size:
            raise ValueError(f"{name} takes a struct timeval of {_TIMEVAL.size} bytes")
        seconds, micros = _TIMEVAL.unpack(value)
        return float(seconds + micros / 1e6)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"{name} takes a struct timeval or seconds, not {value!r}")


def advisory_value(key: tuple[int, int], value: object) -> int:
    """*value* for an option remembered without effect; any other option raises :class:`Error`."""
    if key not in _ADVISORY_OPTIONS:
        level, optname = key
        raise Error(f"socket option (level {level}, option {optname}) is not supported by I2P sockets "
                    "(supported: SO_RCVTIMEO, SO_SNDTIMEO, SO_KEEPALIVE, SO_REUSEADDR, TCP_NODELAY)")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{_ADVISORY_OPTIONS[key]} takes an int, not {value!r}")
    return value


def option_value(key: tuple[int, int], timeout: float | None, advisory: dict[tuple[int, int], int],
                 buflen: int | None) -> int | bytes:
    """``getsockopt``'s answer: the timeouts as a ``struct timeval`` when
    *buflen* is given, else in whole seconds; the remembered options."""
    if key in _TIMEOUT_OPTIONS:
        seconds = timeout or 0.0
        if buflen is None:
            return int(seconds)
        return _TIMEVAL.pack(int(seconds), round((seconds - int(seconds)) * 1e6))[:buflen]
    if key in _ADVISORY_OPTIONS:
        value = advisory.get(key, 0)
        return value if buflen is None else value.to_bytes(4, _sys.byteorder)[:buflen]
    level, optname = key
    raise Error(f"socket option (level {level}, option {optname}) is not supported by I2P sockets")
