"""Explicit state machines, as h11 keeps them: an enum of states and a table of the moves allowed.

The data channel (:class:`txi2p.protocol.StreamState`) and the blocking
shim's sockets (:class:`txi2p.socket.SocketState`) each have one; a move
not in its table is a txi2p bug and raises at once, naming both states.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from types import MappingProxyType
from typing import TypeVar

__all__ = ["State", "checked_move", "moves"]


class State(str, Enum):
    """A state whose value is the word messages and ``repr`` show."""

    def __str__(self) -> str:
        return str(self.value)


S = TypeVar("S", bound=State)


def moves(table: Mapping[S, Iterable[S]]) -> MappingProxyType[S, frozenset[S]]:
    """A read-only transition table: state -> the states it may move to."""
    return MappingProxyType({state: frozenset(targets) for state, targets in table.items()})


def checked_move(table: Mapping[S, frozenset[S]], owner: str, current: S, to: S) -> S:
    """*to*, if *table* lets *owner* move there from *current*; else RuntimeError (a txi2p bug)."""
    if to not in table[current]:
        raise RuntimeError(f"txi2p internal error: {owner} cannot go from state {current} to state {to}")
    return to
