"""What a sans-I/O SAM connection tells its driver, and what both channels share.

Each event is also an event type of the connections' transition tables
(:mod:`txi2p.sam.control`, :mod:`txi2p.sam.data`); :class:`Channel` is
the decoding and table-driven moving both connections do.  This module
imports no Twisted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from txi2p.errors import SAMProtocolError
from txi2p.sam import codec
from txi2p.sam.dialect import SAMDialect
from txi2p.states import State, fire

__all__ = ["DEFAULT_ERROR_REPLIES", "Cancelled", "Channel", "Closed", "Failed", "Pinged", "Sent"]

#: The reply kinds any command may be answered with as an error before a
#: bridge's dialect is known (a data connection never learns it).
DEFAULT_ERROR_REPLIES = SAMDialect().error_replies

S = TypeVar("S", bound=State)


@dataclass(frozen=True)
class Sent:
    """A command was written (the driver sends :attr:`data`)."""

    command: codec.Command

    @property
    def data(self) -> bytes:
        return self.command.encode()


@dataclass(frozen=True)
class Pinged:
    """The bridge sent PING: the driver writes :attr:`data` (the PONG) back."""

    text: str

    @property
    def data(self) -> bytes:
        return codec.pong(self.text).encode()


@dataclass(frozen=True)
class Failed:
    """The connection's state is unknown or broken: the driver aborts it.

    :ivar garbage: the bytes could not be read as SAM at all.
    """

    error: Exception
    garbage: bool = False


@dataclass(frozen=True)
class Cancelled:
    """The driver gave up on the connection (the data channel's ``established`` was cancelled)."""


@dataclass(frozen=True)
class Closed:
    """The connection ended."""


class Channel(Generic[S]):
    """A SAM connection's decoder and state, moved by its transition table.

    Subclasses give :meth:`_transitions` (read at each move), :meth:`_done`
    and :meth:`_meaning` (what a decoded line is, as an event).
    """

    #: How a move error names the connection.
    owner = "a SAM connection"

    def __init__(self, state: S) -> None:
        self.state: S = state
        self.decoder = codec.SAMDecoder()

    def _transitions(self) -> Mapping[tuple[S, type], S]:
        raise NotImplementedError

    def _done(self) -> bool:
        raise NotImplementedError

    def _meaning(self, line: object) -> object:
        raise NotImplementedError

    def _fire(self, event: object) -> None:
        to = fire(self._transitions(), self.owner, self.state, type(event))
        if to is not self.state:
            self._move(to)

    def _move(self, to: S) -> None:
        self.state = to

    def receive_data(self, data: bytes) -> None:
        """Take bytes received from the bridge."""
        self.decoder.receive_data(data)

    def next_event(self) -> object:
        """What the next received line means, or :data:`~txi2p.sam.codec.NEED_DATA`.

        After a :class:`Failed`, or once the connection is done, it yields
        nothing more.
        """
        if self._done():
            return codec.NEED_DATA
        try:
            line = self.decoder.next_event()
        except SAMProtocolError as e:
            event: object = Failed(e, garbage=True)
        else:
            if line is codec.NEED_DATA:
                return line
            event = self._meaning(line)
        self._fire(event)
        return event
