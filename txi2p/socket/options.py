"""Arguments: the bridge and session options a socket's arguments name,
and the socket options :meth:`~txi2p.socket.socket.setsockopt` takes."""

from __future__ import annotations

import struct as _struct
from typing import Any

from txi2p.config import BridgeConfig, session_options
from txi2p.socket import (
    IPPROTO_TCP,
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

#: Options accepted and remembered without effect on an I2P stream (the
#: router's streaming library decides): code written for TCP sets them.
_ADVISORY_OPTIONS = {
    (SOL_SOCKET, SO_KEEPALIVE): "SO_KEEPALIVE",
    (SOL_SOCKET, SO_REUSEADDR): "SO_REUSEADDR",
    (IPPROTO_TCP, TCP_NODELAY): "TCP_NODELAY",
}
#: Options that set the socket's one timeout (I2P sockets have one for every call).
_TIMEOUT_OPTIONS = {(SOL_SOCKET, SO_RCVTIMEO): "SO_RCVTIMEO", (SOL_SOCKET, SO_SNDTIMEO): "SO_SNDTIMEO"}
_TIMEVAL = _struct.Struct("@ll")


_STYLES = {SOCK_STREAM: "STREAM", SOCK_DGRAM: "DATAGRAM", SOCK_RAW: "RAW"}


def _bridge_config(samaddr: str | None, bridge: BridgeConfig | None) -> BridgeConfig:
    """The socket's bridge: *bridge*, or the one at *samaddr* (not both)."""
    return BridgeConfig.from_loose(bridge, samaddr)


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
