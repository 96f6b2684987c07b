"""Readiness: the descriptor behind every socket's ``fileno()``, and
:func:`select`/:func:`poll` over shim and ordinary sockets together."""

from __future__ import annotations

import select as _select
import socket as _stdsocket
from collections.abc import Iterable
from typing import Any

from txi2p.socket.constants import POLLIN, POLLOUT, POLLPRI


class _Signal:
    """A socketpair whose read end is readable/writable exactly when told to be."""

    def __init__(self) -> None:
        self.r, self.w = _stdsocket.socketpair()
        self.r.setblocking(False)
        self.w.setblocking(False)
        self.readable = False
        self.writable = True
        self.closed = False

    def fileno(self) -> int:
        return self.r.fileno()

    def set_readable(self, flag: bool) -> None:
        if self.closed:
            return
        if flag and not self.readable:
            self.w.send(b"r")
        elif not flag and self.readable:
            self.r.recv(1)
        self.readable = flag

    def set_writable(self, flag: bool) -> None:
        if self.closed:
            return
        if not flag and self.writable:
            try:  # fill the read end's send buffer so it polls unwritable
                while True:
                    self.r.send(b"\0" * 65536)
            except BlockingIOError:
                pass
        elif flag and not self.writable:
            try:
                while self.w.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
        self.writable = flag

    def close(self) -> None:
        self.closed = True
        self.r.close()
        self.w.close()


def select(readlist: Iterable[Any], writelist: Iterable[Any], errlist: Iterable[Any],
           timeout: float | None = None) -> tuple[list[Any], list[Any], list[Any]]:
    """``select.select`` for shim sockets and ordinary Python sockets together."""
    return _select.select(list(readlist), list(writelist), list(errlist), timeout)


class _Poll:
    """``select.poll()`` that takes shim sockets as well as descriptors."""

    def __init__(self) -> None:
        self._poll = _select.poll()

    @staticmethod
    def _fd(obj: Any) -> int:
        return obj if isinstance(obj, int) else obj.fileno()

    def register(self, obj: Any, eventmask: int = POLLIN | POLLPRI | POLLOUT) -> None:
        self._poll.register(self._fd(obj), eventmask)

    def modify(self, obj: Any, eventmask: int) -> None:
        self._poll.modify(self._fd(obj), eventmask)

    def unregister(self, obj: Any) -> None:
        self._poll.unregister(self._fd(obj))

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        """Like ``select.poll().poll``: *timeout* in milliseconds."""
        return self._poll.poll(timeout)


def poll() -> _Poll:
    """A polling object for shim sockets and ordinary Python sockets."""
    return _Poll()

