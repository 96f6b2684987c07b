"""``socket.makefile()``: file objects over an I2P stream socket."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["make_file"]


def make_file(sock: Any, mode: str, buffering: int | None, encoding: str | None, errors: str | None,
              newline: str | None) -> Any:
    """A file object reading and writing *sock*'s stream, as ``socket.makefile`` makes."""
    if not set(mode) <= {"r", "w", "b"}:
        raise ValueError(f"invalid mode {mode!r} (only r, w, b)")
    reading, writing, binary = "r" in mode, "w" in mode, "b" in mode
    raw = _SocketIO(sock, reading, writing)
    if buffering is None or buffering < 0:
        buffering = io.DEFAULT_BUFFER_SIZE
    if buffering == 0:
        if not binary:
            raise ValueError("unbuffered streams must be binary")
        return raw
    buffer: Any
    if reading and writing:
        buffer = io.BufferedRWPair(raw, raw, buffering)
    elif reading:
        buffer = io.BufferedReader(raw, buffering)
    else:
        buffer = io.BufferedWriter(raw, buffering)
    if binary:
        return buffer
    text = io.TextIOWrapper(buffer, encoding, errors, newline)
    text.mode = mode  # type: ignore[misc]
    return text


class _SocketIO(io.RawIOBase):
    """The raw stream under a socket's file objects."""

    def __init__(self, sock: Any, reading: bool, writing: bool) -> None:
        super().__init__()
        self._sock = sock
        self._reading = reading
        self._writing = writing

    def readinto(self, b: Any) -> int:
        return int(self._sock.recv_into(b))

    def write(self, b: Any) -> int:
        return int(self._sock.send(b))

    def readable(self) -> bool:
        return self._reading

    def writable(self) -> bool:
        return self._writing

    def fileno(self) -> int:
        return int(self._sock.fileno())
