"""The SAM v3 wire format, sans I/O.

Commands become bytes (:class:`Command` and the builder functions), bytes
become events (:class:`SAMDecoder`).  Nothing here does I/O or imports
Twisted, so it can be tested, fuzzed and reused on its own.

Events a decoder yields:

* :class:`Reply` — one reply line, ``VERB ACTION KEY=VALUE ...``;
* :class:`Ping` / :class:`Pong` — keep-alive lines;
* :class:`PeerLine` — the peer's destination line after ``STREAM ACCEPT``
  or on a forwarded connection (only when asked for with
  :meth:`SAMDecoder.expect_peer_line`);
* :class:`Packet` — ``DATAGRAM RECEIVED`` / ``RAW RECEIVED`` with its payload.

The events are defined in :mod:`txi2p.sam.received` and the decoding in
:mod:`txi2p.sam.decoder`; every name is importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from txi2p.errors import printable
from txi2p.sam.decoder import MAX_LINE, MAX_PACKET, MAX_PING_TEXT, SAMDecoder, parse_line, parse_peer_line
from txi2p.sam.received import NEED_DATA, PUBLIC_DEST_MAX, Event, Packet, PeerLine, Ping, Pong, Reply

__all__ = [
    "DATAGRAM_STYLES",
    "DEFAULT_SIGNATURE_TYPE",
    "MAX_LINE",
    "MAX_PACKET",
    "MAX_PING_TEXT",
    "NEED_DATA",
    "PACKET_STYLES",
    "STYLES",
    "Command",
    "Event",
    "Packet",
    "PeerLine",
    "Ping",
    "Pong",
    "Reply",
    "SAMDecoder",
    "auth_add",
    "auth_disable",
    "auth_enable",
    "auth_remove",
    "check_token",
    "check_value",
    "datagram_send",
    "dest_generate",
    "hello",
    "is_secret_argument",
    "naming_lookup",
    "parse_line",
    "parse_peer_line",
    "ping",
    "pong",
    "printable",
    "quit",
    "raw_send",
    "session_add",
    "session_create",
    "session_remove",
    "stream_accept",
    "stream_connect",
    "stream_forward",
]

#: Signature type of a new destination unless one is asked for: Ed25519.
DEFAULT_SIGNATURE_TYPE = 7

#: Session styles.  ``MASTER`` is the pre-3.3 spelling of ``PRIMARY``.
#: Repliable datagram styles: DATAGRAM (signed), DATAGRAM2 (signed, replay-protected) and
#: DATAGRAM3 (unsigned: the sender is only a hash); the last two since SAM API 0.9.66.
DATAGRAM_STYLES = ("DATAGRAM", "DATAGRAM2", "DATAGRAM3")
#: Styles whose sessions carry packets (forwarded to a UDP port, or on the control socket).
PACKET_STYLES = (*DATAGRAM_STYLES, "RAW")
STYLES = frozenset({"STREAM", *DATAGRAM_STYLES, "RAW", "PRIMARY", "MASTER"})

_FORBIDDEN_IN_TOKEN = frozenset(' \t\r\n\x00="')
_FORBIDDEN_IN_VALUE = frozenset(" \t\r\n\x00")


def check_token(what: str, value: str) -> str:
    """Validate a name that goes on the wire bare (session ID, option key).

    Raises ValueError naming *what* if *value* is empty or holds a space,
    newline, ``=`` or quote.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return _check_text(what, value, _FORBIDDEN_IN_TOKEN)


def _check_text(what: str, text: str, forbidden: frozenset[str]) -> str:
    """*text*, if it is non-empty printable ASCII without any of *forbidden*."""
    if not text:
        raise ValueError(f"{what} must not be empty")
    bad = forbidden.intersection(text)
    if bad:
        raise ValueError(f"{what} {text!r} must not contain {_describe(bad)}")
    if not text.isprintable() or not text.isascii():
        raise ValueError(f"{what} {text!r} must be printable ASCII")
    return text


def check_value(what: str, value: object) -> str:
    """Validate a value that goes on the wire bare (an option value).

    Values may contain ``=`` (base64 hashes do) but no whitespace.
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, str)):
        text = str(value)
    else:
        raise TypeError(f"{what} must be a str, int or bool, not {type(value).__name__}")
    return _check_text(what, text, _FORBIDDEN_IN_VALUE)


def _describe(chars: Iterable[str]) -> str:
    names = {" ": "a space", "\t": "a tab", "\r": "a carriage return",
             "\n": "a newline", "\x00": "a NUL byte", "=": "'='", '"': "a quote"}
    return " or ".join(sorted(names.get(c, repr(c)) for c in chars))


def _quote(what: str, value: str) -> str:
    """Quote a free-text value (SAM 3.2: ``"..."`` with ``\\"`` and ``\\\\``)."""
    if "\n" in value or "\r" in value or "\x00" in value:
        raise ValueError(f"{what} must not contain a newline or NUL byte")
    if value and not any(c in value for c in ' \t"\\='):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Command:
    """One SAM command: ``VERB [ACTION] KEY=VALUE ...`` plus optional payload."""

    verb: str
    action: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    payload: bytes = b""

    @property
    def name(self) -> str:
        """``"VERB ACTION"``, as used in error messages."""
        return f"{self.verb} {self.action}" if self.action else self.verb

    def encode(self) -> bytes:
        """The bytes to write: one line ending in ``\\n``, then the payload."""
        parts = [self.name]
        parts.extend(f"{k}={v}" for k, v in self.args)
        return " ".join(parts).encode("ascii") + b"\n" + self.payload

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values this command carries that must never be shown: the
        ``PASSWORD``, a private-key ``DESTINATION`` and private services'
        client keys and secrets (see :func:`is_secret_argument`)."""
        return tuple(v for k, v in self.args if is_secret_argument(k, v))

    def __repr__(self) -> str:
        # Never show private keys (DESTINATION=<private blob>) or passwords.
        shown = []
        for k, v in self.args:
            if is_secret_argument(k, v):
                v = "<redacted>"
            shown.append(f"{k}={v}")
        extra = f" +{len(self.payload)} bytes" if self.payload else ""
        return f"<Command {self.name} {' '.join(shown)}{extra}>"


#: Session options whose values are secrets: a private service's secret,
#: a client's key, a service's list of client keys (pre-shared or private
#: Diffie-Hellman keys; the ``dh`` list holds public keys only).
_SECRET_OPTIONS = ("i2cp.leaseSetSecret", "i2cp.leaseSetPrivKey", "i2cp.leaseSetPrivateKey")
_SECRET_OPTION_PREFIXES = ("i2cp.leaseSetClient.psk.",)


def is_secret_argument(key: str, value: str) -> bool:
    """Whether a command's ``key=value`` must never be shown or logged."""
    return (key == "PASSWORD" or (key == "DESTINATION" and len(value) > PUBLIC_DEST_MAX)
            or key in _SECRET_OPTIONS or key.startswith(_SECRET_OPTION_PREFIXES))


def _command(verb: str, action: str | None, args: Iterable[tuple[str, str | None]], payload: bytes = b"") -> Command:
    return Command(verb, action, tuple((k, v) for k, v in args if v is not None), payload)


def _options(options: Mapping[str, object] | None) -> list[tuple[str, str]]:
    out = []
    for key, value in (options or {}).items():
        check_token("option name", key)
        out.append((key, check_value(f"option {key}", value)))
    return out


def _port(what: str, port: int | None) -> str | None:
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{what} must be an integer from 0 to 65535, not {port!r}")
    return str(port)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def hello(min_version: str = "3.0", max_version: str = "3.3", user: str | None = None,
          password: str | None = None) -> Command:
    """``HELLO VERSION MIN= MAX= [USER= PASSWORD=]``."""
    check_value("min_version", min_version)
    check_value("max_version", max_version)
    return _command("HELLO", "VERSION", [
        ("MIN", min_version), ("MAX", max_version),
        ("USER", None if user is None else _quote("user", user)),
        ("PASSWORD", None if password is None else _quote("password", password)),
    ])


def session_create(style: str, session_id: str, destination: str = "TRANSIENT", *,
                   signature_type: int | str | None = None,
                   options: Mapping[str, object] | None = None,
                   extra: Iterable[tuple[str, str | None]] = ()) -> Command:
    """``SESSION CREATE STYLE= ID= DESTINATION= [SIGNATURE_TYPE=] [options]``.

    *extra* carries style-specific keys (``PORT``, ``HOST``, ``FROM_PORT``,
    ``TO_PORT``, ``PROTOCOL``, ``HEADER``, ``LISTEN_PORT``...).
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}, not {style!r}")
    check_token("session name", session_id)
    check_value("destination", destination)
    return _command("SESSION", "CREATE", [
        ("STYLE", style), ("ID", session_id), ("DESTINATION", destination),
        ("SIGNATURE_TYPE", None if signature_type is None else check_value("signature_type", signature_type)),
        *((k, None if v is None else check_value(k, v)) for k, v in extra),
        *_options(options),
    ])


def session_add(style: str, session_id: str, *, from_port: int | None = None,
                to_port: int | None = None, options: Mapping[str, object] | None = None,
                extra: Iterable[tuple[str, str | None]] = ()) -> Command:
    """``SESSION ADD STYLE= ID= [FROM_PORT=] [TO_PORT=] [options]`` (3.3)."""
    if style not in ("STREAM", "DATAGRAM", "RAW"):
        raise ValueError(f"a subsession style must be STREAM, DATAGRAM or RAW, not {style!r}")
    check_token("session name", session_id)
    return _command("SESSION", "ADD", [
        ("STYLE", style), ("ID", session_id),
        ("FROM_PORT", _port("from_port", from_port)), ("TO_PORT", _port("to_port", to_port)),
        *((k, None if v is None else check_value(k, v)) for k, v in extra),
        *_options(options),
    ])


def session_remove(session_id: str) -> Command:
    """``SESSION REMOVE ID=`` (3.3)."""
    return _command("SESSION", "REMOVE", [("ID", check_token("session name", session_id))])


def stream_connect(session_id: str, destination: str, *, silent: bool = False,
                   from_port: int | None = None, to_port: int | None = None) -> Command:
    """``STREAM CONNECT ID= DESTINATION= SILENT= [FROM_PORT=] [TO_PORT=]``."""
    return _command("STREAM", "CONNECT", [
        ("ID", check_token("session name", session_id)),
        ("DESTINATION", check_value("destination", destination)),
        ("SILENT", _bool(silent)),
        ("FROM_PORT", _port("from_port", from_port)), ("TO_PORT", _port("to_port", to_port)),
    ])


def stream_accept(session_id: str, *, silent: bool = False) -> Command:
    """``STREAM ACCEPT ID= SILENT=``."""
    return _command("STREAM", "ACCEPT", [
        ("ID", check_token("session name", session_id)), ("SILENT", _bool(silent)),
    ])


def stream_forward(session_id: str, port: int, *, host: str | None = None,
                   silent: bool = False, ssl: bool | None = None) -> Command:
    """``STREAM FORWARD ID= PORT= [HOST=] SILENT=``."""
    return _command("STREAM", "FORWARD", [
        ("ID", check_token("session name", session_id)),
        ("PORT", _port("port", port)),
        ("HOST", None if host is None else check_value("host", host)),
        ("SILENT", _bool(silent)),
        ("SSL", None if ssl is None else _bool(ssl)),
    ])


def _packet_send(verb: str, destination: str, payload: bytes, *, from_port: int | None,
                 to_port: int | None, protocol: int | None = None) -> Command:
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError("payload must be bytes")
    payload = bytes(payload)
    return _command(verb, "SEND", [
        ("DESTINATION", check_value("destination", destination)),
        ("SIZE", str(len(payload))),
        ("FROM_PORT", _port("from_port", from_port)), ("TO_PORT", _port("to_port", to_port)),
        ("PROTOCOL", None if protocol is None else _port("protocol", protocol)),
    ], payload)


def datagram_send(destination: str, payload: bytes, *, from_port: int | None = None,
                  to_port: int | None = None) -> Command:
    """``DATAGRAM SEND DESTINATION= SIZE= ...`` followed by the payload."""
    return _packet_send("DATAGRAM", destination, payload, from_port=from_port, to_port=to_port)


def raw_send(destination: str, payload: bytes, *, from_port: int | None = None,
             to_port: int | None = None, protocol: int | None = None) -> Command:
    """``RAW SEND DESTINATION= SIZE= ...`` followed by the payload."""
    return _packet_send("RAW", destination, payload, from_port=from_port, to_port=to_port,
                        protocol=protocol)


def naming_lookup(name: str, *, options: bool = False) -> Command:
    """``NAMING LOOKUP NAME= [OPTIONS=true]`` (``NAME=ME`` for our own)."""
    return _command("NAMING", "LOOKUP", [
        ("NAME", check_value("name", name)), ("OPTIONS", "true" if options else None),
    ])


def dest_generate(signature_type: int | str | None = DEFAULT_SIGNATURE_TYPE) -> Command:
    """``DEST GENERATE [SIGNATURE_TYPE=]``."""
    return _command("DEST", "GENERATE", [
        ("SIGNATURE_TYPE", None if signature_type is None else check_value("signature_type", signature_type)),
    ])


def _free_text(verb: str, text: str) -> Command:
    if "\n" in text or "\r" in text or "\x00" in text:
        raise ValueError(f"{verb} text must not contain a newline or NUL byte")
    return Command(verb, text or None)


def ping(text: str = "") -> Command:
    """``PING [text]`` (3.2)."""
    return _free_text("PING", text)


def pong(text: str = "") -> Command:
    """``PONG [text]``, the answer to a router's PING."""
    return _free_text("PONG", text)


def quit() -> Command:
    """``QUIT`` (3.2): the router closes the connection."""
    return Command("QUIT")


def auth_enable() -> Command:
    """``AUTH ENABLE`` (3.2)."""
    return Command("AUTH", "ENABLE")


def auth_disable() -> Command:
    """``AUTH DISABLE`` (3.2)."""
    return Command("AUTH", "DISABLE")


def auth_add(user: str, password: str) -> Command:
    """``AUTH ADD USER= PASSWORD=`` (3.2)."""
    return _command("AUTH", "ADD", [("USER", _quote("user", user)),
                                    ("PASSWORD", _quote("password", password))])


def auth_remove(user: str) -> Command:
    """``AUTH REMOVE USER=`` (3.2)."""
    return _command("AUTH", "REMOVE", [("USER", _quote("user", user))])
