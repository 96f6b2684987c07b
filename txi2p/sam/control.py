"""The SAM control channel, sans I/O: HELLO, then one command at a time.

:class:`ControlConnection` is what :class:`txi2p.protocol.SAMControlProtocol`
drives (as h11's ``Connection`` is driven): :meth:`~ControlConnection.send`
gives the bytes of a command, :meth:`~ControlConnection.receive_data` takes
what the bridge sent, and :meth:`~ControlConnection.next_event` says what
it meant, each reply checked against the command it answers
(:mod:`txi2p.sam.replies`).  The moves are those of
:data:`CONTROL_TRANSITIONS`, keyed by state and event type; a move not
in it is a txi2p bug.  Timers, queues and sockets are the driver's
(``examples/sans_io_lookup.py`` drives one over a blocking socket).
This module imports no Twisted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from txi2p.errors import SAMError, SAMProtocolError
from txi2p.sam import codec
from txi2p.sam.dialect import SAMDialect
from txi2p.sam.events import DEFAULT_ERROR_REPLIES, Channel, Closed, Failed, Pinged, Sent
from txi2p.sam.replies import check_reply, check_version
from txi2p.states import State, transitions

__all__ = [
    "CONTROL_TRANSITIONS",
    "MAX_UNSOLICITED_LOGGED",
    "Answered",
    "ControlConnection",
    "ControlState",
    "PacketReceived",
    "Ready",
    "Refused",
    "Unsolicited",
]

#: Unsolicited replies logged per connection (more are dropped silently).
MAX_UNSOLICITED_LOGGED = 10

class ControlState(State):
    """Where a control connection is; each value is the word its repr shows."""

    #: Not connected yet: HELLO is the first thing to send.
    NEW = "new"
    #: HELLO sent, its reply awaited.
    HELLO = "hello"
    #: Idle: the next command may be sent.
    READY = "ready"
    #: A command was sent; its reply is awaited.
    AWAITING = "awaiting"
    #: The connection ended.
    CLOSED = "closed"
    #: Unusable: HELLO was refused, the bridge broke the protocol, or a
    #: command timed out or was cancelled on the wire (its state is unknown).
    ERROR = "error"


@dataclass(frozen=True)
class Ready:
    """HELLO was answered OK with a VERSION that was asked for."""

    dialect: SAMDialect


@dataclass(frozen=True)
class Answered:
    """The command on the wire got its reply (or PONG), checked and OK."""

    command: codec.Command
    reply: codec.Reply | codec.Pong


@dataclass(frozen=True)
class Refused:
    """The command on the wire was answered with a ``RESULT`` other than OK."""

    command: codec.Command
    error: SAMError


@dataclass(frozen=True)
class PacketReceived:
    """A datagram or raw packet arrived (``DATAGRAM``/``RAW RECEIVED``)."""

    packet: codec.Packet


@dataclass(frozen=True)
class Unsolicited:
    """A reply nothing asked for; *count* is how many this connection has had."""

    line: codec.Reply | codec.Pong
    count: int


_S = ControlState
_LIVE = (_S.NEW, _S.HELLO, _S.READY, _S.AWAITING)
_TALKING = (_S.HELLO, _S.READY, _S.AWAITING)

#: Every move a control connection makes: ``(state, event type) -> next state``.
CONTROL_TRANSITIONS = transitions({
    (_S.NEW, Sent): _S.HELLO,
    (_S.HELLO, Ready): _S.READY,
    (_S.HELLO, Refused): _S.ERROR,
    (_S.READY, Sent): _S.AWAITING,
    (_S.AWAITING, Answered): _S.READY,
    (_S.AWAITING, Refused): _S.READY,
    (_S.READY, Unsolicited): _S.READY,
    **{(state, Pinged): state for state in _TALKING},
    **{(state, PacketReceived): state for state in _TALKING},
    **{(state, Failed): _S.ERROR for state in _LIVE},
    **{(state, Closed): _S.CLOSED for state in (*_LIVE, _S.ERROR)},
})


class ControlConnection(Channel[ControlState]):
    """One SAM control connection's protocol state, without I/O.

    :param hello: the HELLO command it opens with.

    :ivar dialect: the router's dialect, once HELLO named it (the driver
        may replace it with what it learned since).
    """

    def __init__(self, hello: codec.Command) -> None:
        super().__init__(ControlState.NEW)
        self.hello = hello
        self.dialect: SAMDialect | None = None
        self._on_wire: codec.Command | None = None
        self._expects_pong = False
        self._unsolicited = 0

    @property
    def open(self) -> bool:
        """True until the connection ended or failed."""
        return self.state not in (ControlState.CLOSED, ControlState.ERROR)

    @property
    def on_wire(self) -> codec.Command | None:
        """The command whose reply is awaited, if any."""
        return self._on_wire

    owner = "a SAM control connection"

    def _transitions(self) -> Mapping[tuple[ControlState, type], ControlState]:
        return CONTROL_TRANSITIONS

    def _done(self) -> bool:
        return not self.open

    # ------------------------------------------------------------ local

    def send(self, command: codec.Command, expects_pong: bool = False) -> bytes:
        """The bytes of *command*: HELLO first (in state NEW), then one at a time (READY)."""
        if (command is self.hello) != (self.state is ControlState.NEW):
            raise RuntimeError(f"txi2p internal error: {command.name} sent in state {self.state}")
        event = Sent(command)
        self._fire(event)
        self._on_wire, self._expects_pong = command, expects_pong
        return event.data

    def fail(self, error: Exception) -> None:
        """The driver found the state unknown (a timeout, a cancelled command)."""
        if self.open:
            self._fire(Failed(error))

    def closed(self) -> None:
        """The connection ended."""
        if self.state is not ControlState.CLOSED:
            self._fire(Closed())

    # ------------------------------------------------------------ received

    # what next_event returns: Ready, Answered, Refused, Pinged,
    # PacketReceived, Unsolicited or Failed (then state ERROR, nothing more)

    def _meaning(self, line: object) -> object:
        if isinstance(line, codec.Ping):  # text checked printable and bounded by the codec
            return Pinged(line.text)
        if isinstance(line, codec.Packet):
            return PacketReceived(line)
        assert isinstance(line, (codec.Reply, codec.Pong))
        command = self._on_wire
        if command is None:
            self._unsolicited += 1
            return Unsolicited(line, self._unsolicited)
        try:
            if self._expects_pong != isinstance(line, codec.Pong):
                raise SAMProtocolError(f"{command.name} was answered with {line!r}")
            answer = self._answer(command, line)
        except SAMProtocolError as e:
            return Failed(e)
        self._on_wire = None
        return answer

    def _answer(self, command: codec.Command, line: codec.Reply | codec.Pong) -> object:
        if isinstance(line, codec.Pong):
            return Answered(command, line)
        errors = self.dialect.error_replies if self.dialect else DEFAULT_ERROR_REPLIES
        reply = check_reply(command, line, errors).without_secrets(command.secrets)
        try:
            reply.raise_for_result(command.name)
        except SAMError as e:
            return Refused(command, e)
        if command is self.hello:
            self.dialect = SAMDialect.for_version(check_version(reply, command))
            return Ready(self.dialect)
        return Answered(command, reply)

    def __repr__(self) -> str:
        return f"<ControlConnection {self.state}>"
