"""What a sans-I/O SAM connection tells its driver (both channels).

Each is also an event type of the connections' transition tables
(:mod:`txi2p.sam.control`, :mod:`txi2p.sam.data`).  This module imports
no Twisted.
"""

from __future__ import annotations

from dataclasses import dataclass

from txi2p.sam import codec

__all__ = ["Cancelled", "Closed", "Failed", "Pinged", "Sent"]


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
