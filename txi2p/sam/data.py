"""The SAM data channel, sans I/O: HELLO, then ``STREAM CONNECT``/``ACCEPT``/``FORWARD``.

:class:`DataConnection` is what :class:`txi2p.protocol.SAMStreamProtocol`
drives until the stream is set up: :meth:`~DataConnection.start` gives
the first bytes to send, :meth:`~DataConnection.receive_data` takes what
the bridge sent and :meth:`~DataConnection.next_event` says what it
meant, each reply checked against the command it answers
(:mod:`txi2p.sam.replies`).  A connection the router opened to us (for
``STREAM FORWARD``) starts with the peer's line instead.  The moves are
those of :data:`STREAM_TRANSITIONS`, keyed by state and event type; a
move not in it is a txi2p bug.  This module imports no Twisted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from txi2p.errors import SAMError, SAMProtocolError
from txi2p.sam import codec
from txi2p.sam.events import DEFAULT_ERROR_REPLIES, Cancelled, Channel, Closed, Failed, Pinged, Sent
from txi2p.sam.replies import check_reply, check_version
from txi2p.states import State, targets, transitions

__all__ = [
    "MAX_DATA_PINGS",
    "STREAM_TRANSITIONS",
    "Accepted",
    "Connected",
    "DataConnection",
    "Established",
    "Forwarding",
    "PeerAwaited",
    "PeerNamed",
    "StreamState",
]

#: PINGs a data connection answers before its stream is set up.
MAX_DATA_PINGS = 64

class StreamState(State):
    """Where a data connection is; each value is the word its repr shows."""

    #: Not connected to the SAM bridge yet.
    NEW = "new"
    #: HELLO sent, its reply awaited.
    HELLO = "hello"
    #: ``STREAM CONNECT``/``ACCEPT``/``FORWARD`` sent, its reply awaited.
    STREAM = "stream"
    #: An ACCEPT (or a connection the router opened for FORWARD) waits for the peer's line.
    WAITING_PEER = "waiting-peer"
    #: A FORWARD was taken: the connection idles while the router connects to us.
    FORWARDING = "forwarding"
    #: The user's protocol has (or is being given) the connection.
    ESTABLISHED = "established"
    #: The driver gave up on it (its ``established`` Deferred was cancelled).
    CANCELLED = "cancelled"
    #: It failed (or closed before it was set up).
    FAILED = "failed"


@dataclass(frozen=True)
class PeerAwaited:
    """A connection the router opened to us (FORWARD): the peer's line comes first."""


@dataclass(frozen=True)
class Connected:
    """``STREAM CONNECT`` was answered OK: the stream is set up."""


@dataclass(frozen=True)
class Accepted:
    """``STREAM ACCEPT`` was answered OK: the peer's line comes next."""


@dataclass(frozen=True)
class Forwarding:
    """``STREAM FORWARD`` was answered OK: the router connects to us from now on."""


@dataclass(frozen=True)
class PeerNamed:
    """The peer's line came; the driver checks the destination, then
    :meth:`~DataConnection.establish` (or :meth:`~DataConnection.fail`)."""

    line: codec.PeerLine


@dataclass(frozen=True)
class Established:
    """The driver handed the connection to the user's protocol."""


#: Which event a STREAM STATUS OK is, by the command's action.
_STREAM_OK = MappingProxyType({"CONNECT": Connected, "ACCEPT": Accepted, "FORWARD": Forwarding})

_S = StreamState

#: Every move a data connection makes: ``(state, event type) -> next state``.
STREAM_TRANSITIONS = transitions({
    (_S.NEW, Sent): _S.HELLO,
    (_S.NEW, PeerAwaited): _S.WAITING_PEER,
    (_S.HELLO, Pinged): _S.HELLO,
    (_S.HELLO, Sent): _S.STREAM,
    (_S.STREAM, Pinged): _S.STREAM,
    (_S.STREAM, Connected): _S.ESTABLISHED,
    (_S.STREAM, Accepted): _S.WAITING_PEER,
    (_S.STREAM, Forwarding): _S.FORWARDING,
    (_S.WAITING_PEER, PeerNamed): _S.WAITING_PEER,
    (_S.WAITING_PEER, Established): _S.ESTABLISHED,
    # A session whose control connection ends cancels its streams, even one
    # whose TCP connection to the bridge is still being made; once that
    # connection is made, HELLO is sent all the same.
    (_S.CANCELLED, Sent): _S.HELLO,
    **{(state, Cancelled): _S.CANCELLED for state in (_S.NEW, _S.HELLO, _S.STREAM, _S.WAITING_PEER)},
    **{(state, Closed): _S.FAILED for state in (_S.HELLO, _S.STREAM, _S.WAITING_PEER)},
    # FORWARDING: the router said something on the idle FORWARD connection;
    # ESTABLISHED: no listener for the stream's port, or the factory refused it.
    **{(state, Failed): _S.FAILED
       for state in (_S.HELLO, _S.STREAM, _S.WAITING_PEER, _S.FORWARDING, _S.ESTABLISHED)},
})

#: The states each state may move to (the table seen without its events).
STREAM_MOVES = targets(STREAM_TRANSITIONS)

#: Where nothing more is read from the bridge.
_DONE = frozenset({_S.ESTABLISHED, _S.CANCELLED, _S.FAILED})


class DataConnection(Channel[StreamState]):
    """One SAM data connection's protocol state until its stream is set up, without I/O.

    :param hello: the HELLO command, or None for a connection the router
        opened to us (STREAM FORWARD), which starts with the peer line.
    :param stream_command: ``STREAM CONNECT``, ``ACCEPT`` or ``FORWARD``
        (None for a forwarded connection).
    """

    def __init__(self, hello: codec.Command | None, stream_command: codec.Command | None) -> None:
        if (hello is None) != (stream_command is None):
            raise ValueError("a data connection has both HELLO and a STREAM command, or neither")
        super().__init__(StreamState.NEW)
        self.hello = hello
        self.stream_command = stream_command
        self._pings = 0

    owner = "a SAM data connection"

    def _transitions(self) -> Mapping[tuple[StreamState, type], StreamState]:
        return STREAM_TRANSITIONS

    def _done(self) -> bool:
        return self.state in _DONE

    @property
    def on_wire(self) -> codec.Command | None:
        """The command whose reply is awaited, if any."""
        return {_S.HELLO: self.hello, _S.STREAM: self.stream_command}.get(self.state)

    @property
    def timed(self) -> str | None:
        """What is awaited under a timeout, if anything (an ACCEPT's peer is not)."""
        if self.state is _S.WAITING_PEER and self.hello is None:
            return "the peer line of a forwarded stream"
        command = self.on_wire
        return None if command is None else command.name

    @property
    def waiting_for(self) -> str:
        """What the connection waits for, in words, for a message ("" if nothing)."""
        if self.state is _S.WAITING_PEER:
            return "while waiting for a peer"
        command = self.on_wire
        if command is None:
            return ""
        return f"before {'HELLO' if command is self.hello else command.name} was answered"

    # ------------------------------------------------------------ local

    def start(self) -> bytes:
        """The bytes to send once connected: HELLO (nothing for a forwarded connection)."""
        if self.hello is None:
            self._fire(PeerAwaited())
            self.decoder.expect_peer_line()
            return b""
        event = Sent(self.hello)
        self._fire(event)
        return event.data

    def establish(self) -> None:
        """The peer the router named is accepted: the stream is set up."""
        self._fire(Established())

    def cancel(self) -> None:
        """The driver gave up on the connection."""
        self._fire(Cancelled())

    def fail(self, error: Exception) -> None:
        """The connection failed for a reason the driver found (a timeout, no listener)."""
        self._fire(Failed(error))

    def closed(self) -> None:
        """The connection ended: a failure, unless the stream was set up or given up."""
        if (self.state, Closed) in STREAM_TRANSITIONS:
            self._fire(Closed())

    # ------------------------------------------------------------ received

    # what next_event returns: Pinged, Sent (HELLO was answered: write the
    # STREAM command), Connected, Accepted, Forwarding, PeerNamed or Failed.
    # Once the stream is set up, the bytes left are the user's
    # (decoder.take_remaining()).

    def _meaning(self, line: object) -> object:
        command = self.on_wire
        if isinstance(line, codec.PeerLine):
            return PeerNamed(line)
        if isinstance(line, codec.Ping) and command is not None:
            self._pings += 1
            if self._pings > MAX_DATA_PINGS:
                return Failed(SAMProtocolError(f"more than {MAX_DATA_PINGS} PINGs before the stream was set up"))
            return Pinged(line.text)
        if not isinstance(line, codec.Reply) or command is None:
            return Failed(SAMProtocolError(f"unexpected {line!r} on a data connection"))
        try:
            return self._answer(command, line)
        except (SAMError, SAMProtocolError) as e:
            return Failed(e)

    def _answer(self, command: codec.Command, reply: codec.Reply) -> object:
        check_reply(command, reply, DEFAULT_ERROR_REPLIES)
        reply.without_secrets(command.secrets).raise_for_result(command.name)
        if command is self.hello:
            check_version(reply, command)
            assert self.stream_command is not None
            return Sent(self.stream_command)
        if command.action == "ACCEPT":
            self.decoder.expect_peer_line()
        return _STREAM_OK[command.action or ""]()

    def __repr__(self) -> str:
        return f"<DataConnection {self.state}>"
