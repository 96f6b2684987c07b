"""The session an I2P socket uses: the registry's STREAM session of its
name, or a share of the DATAGRAM/RAW session of its name."""

from __future__ import annotations

from typing import Any

from txi2p.config import BridgeConfig, SessionConfig
from txi2p.datagram import I2PDatagramEndpoint
from txi2p.errors import TxI2PError
from txi2p.session import SAMSession
from txi2p.socket.constants import SOCK_STREAM
from txi2p.socket.context import _ShimContext
from txi2p.socket.errors import Error, _network_error
from txi2p.socket.feeds import _DatagramShare

__all__ = ["open_session"]


def open_session(ctx: _ShimContext, sock: Any, name: str, type: int, bridge_config: BridgeConfig,
                 session_config: SessionConfig) -> tuple[SAMSession, _DatagramShare | None]:
    """*sock*'s session and, for a packet socket, the share it joined (blocks until up).

    A refusal or failure of the router's (a login, a session) is a
    :class:`~txi2p.socket.NetworkError`, an OSError like every network error.
    """
    what = f"creating session {name!r}"
    try:
        if type == SOCK_STREAM:
            registry = ctx.registry
            session: SAMSession = ctx.call(
                lambda: registry.acquire(registry.bridge(bridge_config), session_config), what=what)
            return session, None
        result: tuple[SAMSession, _DatagramShare] = ctx.call(
            lambda: _join_datagram_session(ctx, sock, bridge_config, session_config), what=what)
        return result
    except TxI2PError as e:
        if isinstance(e, (Error, ValueError)):
            raise
        raise _network_error(e) from e


async def _join_datagram_session(ctx: _ShimContext, sock: Any, bridge_config: BridgeConfig,
                                 session_config: SessionConfig) -> tuple[SAMSession, _DatagramShare]:
    """The DATAGRAM/RAW session of the socket's name, from the registry (shared by name)."""
    endpoint = I2PDatagramEndpoint(ctx.reactor, bridge_config=bridge_config, session_config=session_config,
                                   registry=ctx.registry)
    port = await endpoint.acquire_port()
    share = port.protocol
    if not isinstance(share, _DatagramShare):
        share = _DatagramShare(port)
        port.attach(share)
    share.sockets.append(sock)
    return port.session, share
