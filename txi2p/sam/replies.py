"""Which reply answers which command, sans I/O.

Every reply a SAM bridge sends is checked against the command it answers
(:func:`check_reply`) before anything else looks at it: a reply of
another kind, a reply without the ``RESULT`` the specification gives it,
or a ``HELLO REPLY`` whose ``VERSION`` was not asked for is a
:class:`~txi2p.errors.SAMProtocolError`, and the connection it came on is
aborted (its state is unknown).

Routers also answer some errors with a reply of another kind (i2pd sends
``SESSION STATUS RESULT=I2P_ERROR`` for a command of any kind it cannot
parse, and ``SESSION STATUS RESULT=INVALID_KEY`` for a ``STREAM CONNECT``
to a bad destination): which kinds a bridge may use for errors is the
dialect's :attr:`~txi2p.sam.dialect.SAMDialect.error_replies`, data, not
a test of the router's name.  Such a reply is taken only as an error.

The only lines a bridge may send unasked are listed in :data:`UNSOLICITED`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

from txi2p.errors import SAMProtocolError, printable
from txi2p.sam.codec import Command, Reply
from txi2p.sam.dialect import version_tuple

__all__ = ["REPLIES", "UNSOLICITED", "Expected", "check_reply", "check_version"]


@dataclass(frozen=True)
class Expected:
    """What answers one command.

    :ivar topics: the reply names (``"VERB ACTION"``) that answer it.
    :ivar result: whether the specification gives the reply a ``RESULT``.
        Where it does not (``DEST REPLY``), a reply without one must carry
        the keys in *needs* instead.
    :ivar needs: keys a successful reply must carry.
    """

    topics: frozenset[str]
    result: bool = True
    needs: tuple[str, ...] = ()


def _expect(*topics: str, result: bool = True, needs: Iterable[str] = ()) -> Expected:
    return Expected(frozenset(topics), result, tuple(needs))


_SESSION = _expect("SESSION STATUS")
_STREAM = _expect("STREAM STATUS")
_AUTH = _expect("AUTH STATUS")

#: Command name -> what answers it (SAM v3.3 specification).
REPLIES = MappingProxyType({
    "HELLO VERSION": _expect("HELLO REPLY"),
    "SESSION CREATE": _SESSION,
    "SESSION ADD": _SESSION,
    "SESSION REMOVE": _SESSION,
    "STREAM CONNECT": _STREAM,
    "STREAM ACCEPT": _STREAM,
    "STREAM FORWARD": _STREAM,
    "NAMING LOOKUP": _expect("NAMING REPLY"),
    # DEST REPLY PUB= PRIV= has no RESULT on success; errors carry one.
    "DEST GENERATE": _expect("DEST REPLY", result=False, needs=("PUB", "PRIV")),
    "AUTH ENABLE": _AUTH,
    "AUTH DISABLE": _AUTH,
    "AUTH ADD": _AUTH,
    "AUTH REMOVE": _AUTH,
})

#: Lines a bridge may send without being asked (answered with PONG).
UNSOLICITED = frozenset({"PING"})


def check_reply(command: Command | str, reply: Reply, error_replies: Iterable[str] = ()) -> Reply:
    """*reply*, if it answers *command*; else a :class:`SAMProtocolError`.

    *error_replies* are the reply kinds the bridge may use for an error to
    any command (see :attr:`~txi2p.sam.dialect.SAMDialect.error_replies`):
    such a reply must carry a ``RESULT`` other than OK.  The ``RESULT``
    itself is not raised here (:meth:`Reply.raise_for_result` does).
    """
    name = command if isinstance(command, str) else command.name
    expected = REPLIES.get(name)
    if expected is None:
        raise SAMProtocolError(f"{name} expects no reply, but the bridge sent {reply!r}")
    if reply.name not in expected.topics:
        if reply.name in error_replies and reply.result not in (None, "OK"):
            return reply
        wanted = " or ".join(sorted(expected.topics))
        raise SAMProtocolError(f"{name} was answered with {reply!r}, expected {wanted}")
    if reply.result is None:
        if expected.result:
            raise SAMProtocolError(f"{name} was answered with {reply!r}, which has no RESULT")
        missing = [key for key in expected.needs if not reply.get(key)]
        if missing:
            raise SAMProtocolError(f"{name} was answered with {reply!r}, without {' or '.join(missing)}")
    return reply


def check_version(reply: Reply, hello: Command) -> str:
    """The SAM version a successful ``HELLO REPLY`` names, checked.

    It must be ASCII ``digits.digits`` within the MIN and MAX that *hello*
    asked for; a reply without VERSION means 3.0 (the first SAM v3).
    """
    version = reply.get("VERSION") or "3.0"
    try:
        got = version_tuple(version)
    except ValueError:
        raise SAMProtocolError(f"HELLO REPLY with a bad VERSION: {printable(version, 20)}") from None
    asked = dict(hello.args)
    low, high = version_tuple(asked.get("MIN", "3.0")), version_tuple(asked.get("MAX", "3.3"))
    if not low <= got <= high:
        raise SAMProtocolError(
            f"HELLO REPLY with VERSION={version}, outside the MIN={asked.get('MIN')} "
            f"MAX={asked.get('MAX')} asked for")
    return version
