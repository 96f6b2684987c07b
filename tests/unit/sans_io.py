"""Helpers shared by the tests of the sans-I/O SAM code (codec, control, data)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from txi2p import errors
from txi2p.sam import codec


def events(conn, data=b""):
    """Feed *data* to a connection or decoder and take every event it has."""
    conn.receive_data(data)
    found = []
    while (event := conn.next_event()) is not codec.NEED_DATA:
        found.append(event)
    return found


def record_moves(monkeypatch: pytest.MonkeyPatch, cls: type) -> list[tuple]:
    """Every ``(state, event type, next state)`` move *cls* instances make from now on."""
    seen: list[tuple] = []
    original = cls._fire  # type: ignore[attr-defined]

    def record(self, event):
        old = self.state
        try:
            original(self, event)
        finally:
            seen.append((old, type(event), self.state))

    monkeypatch.setattr(cls, "_fire", record)
    return seen


def decode(chunks: list[bytes], peer_line: bool, max_line: int,
           drain: Callable[[codec.SAMDecoder, list], object]) -> tuple[list, bool]:
    """The events *drain* takes from *chunks* fed one by one, and whether a protocol error ended it."""
    decoder = codec.SAMDecoder(max_line=max_line)
    if peer_line:
        decoder.expect_peer_line()
    found: list = []
    try:
        for chunk in chunks:
            decoder.receive_data(chunk)
            drain(decoder, found)
    except errors.SAMProtocolError:
        return found, True
    return found, False
