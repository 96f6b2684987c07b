"""The states of a stream socket, and the moves between them."""

from __future__ import annotations

from collections.abc import Mapping

from txi2p.states import State, moves


class SocketState(State):
    """Where a stream :class:`socket` is; each value is the word its repr shows."""

    #: Neither connected nor listening (also after a failed connect).
    NEW = "new"
    #: A connect is under way (a non-blocking one returned before it ended).
    CONNECTING = "connecting"
    #: It has a stream: connected, or returned by :meth:`socket.accept`.
    CONNECTED = "connected"
    #: :meth:`socket.listen` was called.
    LISTENING = "listening"


#: Every move a :class:`socket` may make; any other is a txi2p bug.
_SOCKET_TRANSITIONS: Mapping[SocketState, frozenset[SocketState]] = moves({
    SocketState.NEW: {SocketState.CONNECTING, SocketState.CONNECTED, SocketState.LISTENING},
    # listen() does not check the state: it may be called while a
    # non-blocking connect is under way, or on a connected socket, and that
    # connect may end (in CONNECTED or NEW) after it.
    SocketState.CONNECTING: {SocketState.NEW, SocketState.CONNECTED, SocketState.LISTENING},
    SocketState.CONNECTED: {SocketState.LISTENING},
    SocketState.LISTENING: {SocketState.NEW, SocketState.CONNECTED},
})
