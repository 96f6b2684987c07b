"""Explicit state machines, as h11 keeps them: an enum of states and a table of the moves allowed.

Two kinds of table live here: :func:`transitions` makes h11's
event-keyed one, ``(state, event type) -> next state``, which drives the
sans-I/O SAM connections (:mod:`txi2p.sam.control`, :mod:`txi2p.sam.data`);
:func:`moves` makes a ``state -> states it may move to`` one, which the
blocking shim's sockets (:class:`txi2p.socket.SocketState`) check their
moves against.  A move not in its table is a txi2p bug and raises at
once, naming the states.  This module imports no Twisted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from types import MappingProxyType
from typing import TypeVar

__all__ = ["State", "checked_move", "fire", "moves", "targets", "transitions"]


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


def transitions(table: Mapping[tuple[S, type], S]) -> MappingProxyType[tuple[S, type], S]:
    """A read-only event-keyed transition table: ``(state, event type) -> next state``."""
    return MappingProxyType(dict(table))


def targets(table: Mapping[tuple[S, type], S]) -> MappingProxyType[S, frozenset[S]]:
    """The ``state -> other states it may move to`` view of an event-keyed *table*."""
    found: dict[S, set[S]] = {}
    for (state, _event), to in table.items():
        found.setdefault(to, set())
        found.setdefault(state, set()).update({to} - {state})
    return moves(found)


def fire(table: Mapping[tuple[S, type], S], owner: str, current: S, event: type) -> S:
    """The state *event* takes *owner* to from *current*; RuntimeError (a txi2p bug) if none."""
    to = table.get((current, event))
    if to is None:
        raise RuntimeError(f"txi2p internal error: {owner} cannot take {event.__name__} "
                           f"in state {current}")
    return to
