"""The classic ``i2p.sam`` tunnels, for blocking code (``txi2p.sam.Tunnel`` ...).

One of two families of the same names: these block and take the classic
arguments; :mod:`txi2p.tunnel` has the Twisted services they run on.

* :class:`Tunnel` relays connections from a listening socket (a
  :mod:`txi2p.socket` socket or an ordinary one) to sockets made by
  ``make_send()``, in a daemon thread, as the classic module did.
* :class:`TunnelServer` and :class:`TunnelClient` run the reactor-driven
  services of :mod:`txi2p.tunnel` in the shim's reactor thread and block
  until they are ready.
"""

from __future__ import annotations

import select as _select
import threading
import time
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

from txi2p import tunnel as _tunnel
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.socket import BlockError, Error, Timeout, _ShimContext, keyword_options

__all__ = ["Tunnel", "TunnelClient", "TunnelServer"]

_log = Logger()


class Tunnel:
    """Relays connections accepted on *receive* to sockets from *make_send*.

    *receive* must be bound and listening.  For each incoming connection
    ``make_send()`` makes a socket (connected, or connecting in
    non-blocking mode: a ``BlockError``/``OSError`` from that connect is
    expected); data then flows both ways until one side closes.
    *nconnect* is the most simultaneous connections (-1: unlimited; more
    are closed at once); *timeout* the longest one connection may last
    (None: forever).  Socket errors never stop the tunnel.
    """

    def __init__(self, receive: Any, make_send: Callable[[], Any], nconnect: int = -1,
                 timeout: float | None = 60.0) -> None:
        if isinstance(nconnect, bool) or not isinstance(nconnect, int) or (nconnect < 1 and nconnect != -1):
            raise ValueError(f"nconnect must be -1 or a positive integer, not {nconnect!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be None or positive, not {timeout!r}")
        self.receive = receive
        self.make_send = make_send
        self.nconnect = nconnect
        self.timeout = timeout
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._pairs: set[tuple[Any, Any]] = set()
        self.refused = 0
        self._thread = threading.Thread(target=self._accept_loop, name="txi2p-tunnel", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                readable = _select.select([self.receive], [], [], 0.5)[0]
                if not readable:
                    continue
                conn, _ = self.receive.accept()
            except (BlockError, Timeout):
                continue
            except (OSError, Error, ValueError) as e:
                if self._closing.is_set():
                    return
                _log.warn("tunnel: accept failed ({error}); going on", error=e)
                time.sleep(0.1)
                continue
            with self._lock:
                full = self.nconnect != -1 and len(self._pairs) >= self.nconnect
            if full:
                self.refused += 1
                _close(conn)
                continue
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: Any) -> None:
        try:
            send = self.make_send()
        except (BlockError, OSError, Error) as e:
            _log.warn("tunnel: make_send() failed ({error})", error=e)
            _close(conn)
            return
        pair = (conn, send)
        with self._lock:
            self._pairs.add(pair)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            for s in pair:
                s.setblocking(True)
            while not self._closing.is_set():
                wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                if wait <= 0:
                    break  # the connection reached its timeout
                readable = _select.select(list(pair), [], [], wait)[0]
                done = False
                for src in readable:
                    dst = send if src is conn else conn
                    data = src.recv(65536)
                    if not data:
                        done = True
                        break
                    dst.sendall(data)
                if done:
                    break
        except (OSError, Error) as e:
            _log.info("tunnel: connection ended ({error})", error=e)
        finally:
            with self._lock:
                self._pairs.discard(pair)
            for s in pair:
                _close(s)

    def close(self) -> None:
        """Close all connections made for this tunnel, and stop it."""
        self._closing.set()
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            for s in pair:
                _close(s)
        self._thread.join(5)


def _close(s: Any) -> None:
    try:
        s.close()
    except (OSError, Error):
        pass


class _BlockingService:
    """Runs a reactor-driven tunnel service from blocking code."""

    service: Any

    def _start(self, make: Callable[[Any], _tunnel.Tunnel]) -> None:
        self._ctx = _ShimContext.get()

        def start() -> Any:
            self.service = make(self._ctx.reactor)
            self.service.startService()
            return self.service.when_listening()

        self._ctx.call(start, what="starting the tunnel")

    def close(self) -> None:
        """Stop the tunnel and close its connections."""
        self._ctx.call(self.service.stopService, what="stopping the tunnel")

    @property
    def dest(self) -> str | None:
        return self.service.dest

    @property
    def session(self) -> str:
        return self.service.nickname


def _configs(bridge: BridgeConfig | None, samaddr: str | None, session: str,
             kwargs: dict[str, Any]) -> tuple[BridgeConfig, SessionConfig]:
    """The bridge and session configs of a blocking tunnel's loose arguments."""
    return (BridgeConfig.from_loose(bridge, samaddr),
            SessionConfig.build(nickname=session, options=keyword_options(kwargs)))


class TunnelServer(_BlockingService):
    """Tunnels incoming I2P streams to ``localhost:port``; blocks until ready.

    ``dest``: our destination; ``session``: the session name.  *bridge*
    and the other keyword arguments (session options) are as for
    :class:`txi2p.socket.socket`.
    """

    def __init__(self, session: str, port: int, samaddr: str | None = None, nconnect: int = -1,
                 timeout: float | None = None, *, bridge: BridgeConfig | None = None, **kwargs: Any) -> None:
        bridge_config, session_config = _configs(bridge, samaddr, session, kwargs)
        self._start(lambda reactor: _tunnel.TunnelServer(
            reactor, I2PServerEndpoint(reactor, bridge_config=bridge_config, session_config=session_config),
            port, nconnect=nconnect, timeout=timeout))


class TunnelClient(_BlockingService):
    """Tunnels ``localhost:port`` to the I2P destination *dest*; blocks until ready.

    ``dest``: our local destination; ``remotedest``: the one we relay to;
    ``session``: the session name.  *bridge* and the other keyword
    arguments are as for :class:`TunnelServer`.
    """

    def __init__(self, session: str, port: int, dest: str, samaddr: str | None = None,
                 nconnect: int = -1, timeout: float | None = None, *, bridge: BridgeConfig | None = None,
                 **kwargs: Any) -> None:
        bridge_config, session_config = _configs(bridge, samaddr, session, kwargs)
        self._start(lambda reactor: _tunnel.TunnelClient(
            reactor, I2PClientEndpoint(reactor, dest, bridge_config=bridge_config, session_config=session_config),
            port, nconnect=nconnect, timeout=timeout))

    @property
    def remotedest(self) -> str:
        return self.service.remotedest


