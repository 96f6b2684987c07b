"""Exceptions raised by txi2p.

Everything txi2p raises on purpose derives from :class:`TxI2PError`.
A router's ``RESULT=`` code becomes its own subclass of :class:`SAMError`
(see :func:`error_for_result`), carrying the router's ``MESSAGE`` text.
This module has no Twisted import: the sans-I/O codec uses it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "RESULT_ERRORS",
    "AlreadyAccepting",
    "CantReachPeer",
    "ClientKeyRequired",
    "CommandTimeout",
    "DuplicatedDest",
    "DuplicatedId",
    "I2PError",
    "InvalidId",
    "InvalidKey",
    "KeyNotFound",
    "LeaseSetNotFound",
    "NameNotFound",
    "NoVersion",
    "PeerNotFound",
    "SAMConnectionFailed",
    "SAMConnectionLost",
    "SAMConnectionRefused",  # noqa: F822 (loaded on first use: see __getattr__)
    "SAMError",
    "SAMProtocolError",
    "SAMTimeout",
    "SessionClosed",
    "SessionConflict",
    "StreamRejected",
    "TxI2PError",
    "UnknownResult",
    "UnsupportedByRouter",
    "error_for_result",
    "printable",
    "redact_keys",
    "redact_secrets",
]


#: Base64 runs this long are private-key blobs (a public destination is
#: 516-524 characters; a private key blob 880 or more).
_KEY_MATERIAL = re.compile(r"[A-Za-z0-9~+/=-]{600,}")


def redact_keys(text: str) -> str:
    """*text* with anything long enough to be private-key material replaced.

    Java I2P echoes the whole command, private key included, in some error
    replies; such text must never reach a log or an exception message.
    """
    return _KEY_MATERIAL.sub("<redacted key material>", text)


#: Longest text from a bridge :func:`printable` keeps (characters).
PRINTABLE_MAX = 500


def printable(text: str, limit: int = PRINTABLE_MAX) -> str:
    """*text* from a bridge, safe for an exception or a log line.

    Every character that is not printable (ESC, CR, BEL, other control or
    format characters) is shown as its escape (``\\x1b``), and text longer
    than *limit* characters is cut, saying how long it was.  The one place
    where bridge text is made harmless for terminals and logs.
    """
    if len(text) > limit:
        return printable(text[:limit], limit) + f"... ({len(text)} characters)"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


#: Shortest run of a secret's characters :func:`redact_secrets` replaces
#: (16 base64 characters: 96 bits; shorter runs of random text match by chance).
SECRET_RUN = 16


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    """*text* with every part of the given *secrets* it repeats replaced.

    Any run of :data:`SECRET_RUN` or more characters that also occurs in a
    secret is cut out, so an echo of a private key's last few hundred
    characters (its private part) is caught as surely as the whole key.
    A secret shorter than that (a password) is cut out where it appears whole.
    """
    hidden = [False] * len(text)
    for secret in secrets:
        for start, end in _secret_spans(text, secret):
            hidden[start:end] = [True] * (end - start)
    if not any(hidden):
        return text
    out: list[str] = []
    for i, char in enumerate(text):
        if not hidden[i]:
            out.append(char)
        elif i == 0 or not hidden[i - 1]:
            out.append("<redacted>")
    return "".join(out)


def _secret_spans(text: str, secret: str) -> Iterator[tuple[int, int]]:
    """Where *text* repeats *secret*: a short secret whole, a long one by runs of :data:`SECRET_RUN`."""
    if not secret:
        return
    if len(secret) < SECRET_RUN:
        for match in re.finditer(re.escape(secret), text):
            yield match.start(), match.end()
        return
    for start in range(len(text) - SECRET_RUN + 1):
        if text[start:start + SECRET_RUN] in secret:
            yield start, start + SECRET_RUN


class TxI2PError(Exception):
    """Base class of every error txi2p raises on purpose."""


class SAMError(TxI2PError):
    """The SAM bridge answered a command with ``RESULT`` other than OK.

    :ivar result: the ``RESULT=`` code, e.g. ``"CANT_REACH_PEER"``.
    :ivar message: the router's ``MESSAGE=`` text, or ``""``.
    :ivar command: the verb of the command that failed, e.g. ``"STREAM CONNECT"``.
    :ivar local: True when txi2p found the error itself (a key it parsed,
        a refusal it learned before): then *message* is txi2p's own words,
        never shown as "router said".
    """

    result: str = ""
    description = "the SAM bridge reported an error"

    def __init__(self, result: str | None = None, message: str = "", command: str = "",
                 *, local: bool = False) -> None:
        self.result = result or self.result
        self.message = printable(redact_keys(message))
        self.command = command
        self.local = local
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.command}: " if self.command else ""
        text = f"{where}{self.result}: {self.description}"
        if self.message:
            text += f" ({self.message})" if self.local else f" (router said: {self.message})"
        return text

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild, (type(self), (self.result, self.message, self.command), self.__dict__))


def _rebuild(cls: type[SAMError], args: tuple[str, ...], state: dict[str, object]) -> SAMError:
    """Unpickle a :class:`SAMError` with its ``local`` flag and text intact."""
    error = cls(*args, local=bool(state.get("local", False)))
    error.__dict__.update(state)
    return error


class CantReachPeer(SAMError):
    result = "CANT_REACH_PEER"
    description = "the peer exists but cannot be reached (is its lease set published yet?)"


class DuplicatedId(SAMError):
    result = "DUPLICATED_ID"
    description = "a session with this nickname already exists on the router"


class DuplicatedDest(SAMError):
    result = "DUPLICATED_DEST"
    description = "this destination is already in use by another session"


class I2PError(SAMError):
    result = "I2P_ERROR"
    description = "generic I2P error"


class InvalidKey(SAMError):
    result = "INVALID_KEY"
    description = "the destination or key is not valid"


class InvalidId(SAMError):
    result = "INVALID_ID"
    description = "no session with this nickname exists on the router"


class KeyNotFound(SAMError):
    result = "KEY_NOT_FOUND"
    description = "the name could not be resolved"


class PeerNotFound(SAMError):
    result = "PEER_NOT_FOUND"
    description = "the peer could not be found on the network"


class SAMTimeout(SAMError):
    result = "TIMEOUT"
    description = "the router timed out"


class NoVersion(SAMError):
    result = "NOVERSION"
    description = "the router supports none of the SAM versions asked for"


class AlreadyAccepting(SAMError):
    result = "ALREADY_ACCEPTING"
    description = "the session is already accepting"


class LeaseSetNotFound(SAMError):
    result = "LEASESET_NOT_FOUND"
    description = "the peer's lease set was not found"


class UnknownResult(SAMError):
    description = "unknown result code"


#: ``RESULT=`` code to exception class.
RESULT_ERRORS: Mapping[str, type[SAMError]] = {
    cls.result: cls
    for cls in (
        CantReachPeer,
        DuplicatedId,
        DuplicatedDest,
        I2PError,
        InvalidKey,
        InvalidId,
        KeyNotFound,
        PeerNotFound,
        SAMTimeout,
        NoVersion,
        AlreadyAccepting,
        LeaseSetNotFound,
    )
}


def error_for_result(result: str, message: str = "", command: str = "") -> SAMError:
    """The exception for a ``RESULT=`` code (:class:`UnknownResult` if new)."""
    cls = RESULT_ERRORS.get(result, UnknownResult)
    return cls(result, message, command)


class NameNotFound(KeyNotFound, InvalidKey):
    """A well-formed name or destination the router cannot find (yet).

    Routers spell this differently (KEY_NOT_FOUND in the specification and
    Java I2P, INVALID_KEY in i2pd); both become this class, which is also
    a :class:`KeyNotFound` and an :class:`InvalidKey`.  A destination that
    started moments ago has not published its lease set yet: wait and
    retry.
    """

    description = ("the router cannot find this name or destination (yet): a destination that "
                   "started moments ago has not published its lease set; wait a few seconds and "
                   "retry. Check the name if this persists")

    def __init__(self, result: str | None = None, message: str = "", command: str = "",
                 name: str = "", *, local: bool = False) -> None:
        self.name = name
        super().__init__(result, message, command, local=local)

    def _text(self) -> str:
        text = super()._text()
        return f"{self.name}: {text}" if self.name else text

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild, (type(self), (self.result, self.message, self.command, self.name), self.__dict__))


class ClientKeyRequired(NameNotFound):
    """A private service whose name says it lets in only clients holding a
    key (or a secret) was looked up by a session without the right one.

    Routers answer such lookups as they answer unknown names; the name
    itself says why.  Give the session the key the service lists for you
    (``client_key=``, ``clientKey=<file>``; see :mod:`txi2p.private`).
    """

    description = ("this private service lets in only the clients it lists, with their keys: "
                   "this session has no key the service accepts")


class UnsupportedByRouter(I2PError):
    """The router does not do what was asked (it said so, or did once before)."""

    description = "this router does not support it"


class SAMProtocolError(TxI2PError, ValueError):
    """The SAM bridge sent something that is not valid SAM."""


class CommandTimeout(TxI2PError, TimeoutError):
    """A SAM command got no reply within its timeout."""

    def __init__(self, command: str, seconds: float, address: str = "") -> None:
        self.command = command
        self.seconds = seconds
        self.address = address
        where = f" from the SAM bridge at {address}" if address else ""
        super().__init__(f"{command}: no reply{where} within {seconds:g} s")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.command, self.seconds, self.address))


class SAMConnectionLost(TxI2PError, ConnectionError):
    """The connection to the SAM bridge closed while something waited on it."""


class SAMConnectionFailed(TxI2PError, ConnectionError):
    """No connection to the SAM bridge could be made (``__cause__`` says why)."""


class StreamRejected(TxI2PError):
    """An incoming stream was refused (no listener for its I2P port)."""


class SessionClosed(TxI2PError):
    """The session was closed; it cannot be used any more."""


class SessionConflict(TxI2PError, ValueError):
    """A named session was asked for again with different settings."""



def __getattr__(name: str) -> Any:
    # SAMConnectionRefused is also Twisted's ConnectionRefusedError, and this
    # module never imports Twisted: it is loaded on first use.
    if name == "SAMConnectionRefused":
        from txi2p.refused import SAMConnectionRefused

        return SAMConnectionRefused
    raise AttributeError(f"module 'txi2p.errors' has no attribute {name!r}")
