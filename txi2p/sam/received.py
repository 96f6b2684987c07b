"""What a :class:`~txi2p.sam.codec.SAMDecoder` reads from a bridge, sans I/O:
:class:`Reply`, :class:`Ping`, :class:`Pong`, :class:`PeerLine`,
:class:`Packet` (all importable from :mod:`txi2p.sam.codec`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from txi2p.errors import error_for_result, printable, redact_keys, redact_secrets

__all__ = ["DIGITS", "NEED_DATA", "PUBLIC_DEST_MAX", "Event", "Packet", "PeerLine", "Ping", "Pong", "Reply"]

#: A public destination in base64 is at most this long; longer DESTINATION
#: values are private-key blobs and are never shown.
PUBLIC_DEST_MAX = 700

DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class Reply:
    """One reply line: ``VERB ACTION KEY=VALUE ...``.

    Keys keep the order they came in; unknown keys are kept.  A key with
    no ``=`` has the value ``""``.
    """

    verb: str
    action: str
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.verb} {self.action}"

    @property
    def result(self) -> str | None:
        return self.fields.get("RESULT")

    @property
    def ok(self) -> bool:
        return self.result == "OK"

    @property
    def message(self) -> str:
        return self.fields.get("MESSAGE", "")

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key, default)

    def without_secrets(self, secrets: Iterable[str]) -> Reply:
        """This reply with any part of *secrets* cut out of its ``MESSAGE``
        (routers echo commands, keys and passwords included, in errors)."""
        message = self.fields.get("MESSAGE")
        if not secrets or message is None:
            return self
        cleaned = redact_secrets(message, secrets)
        if cleaned == message:
            return self
        return replace(self, fields={**self.fields, "MESSAGE": cleaned})

    def raise_for_result(self, command: str = "") -> Reply:
        """Return self if ``RESULT=OK`` (or no RESULT), else raise its error."""
        result = self.result
        if result is not None and result != "OK":
            raise error_for_result(result, self.message, command or self.name)
        return self

    def __repr__(self) -> str:
        shown = " ".join(
            f"{k}={'<redacted>' if k == 'PRIV' or (k == 'DESTINATION' and len(v) > PUBLIC_DEST_MAX) else redact_keys(v)}"
            for k, v in self.fields.items()
        )
        return printable(f"<Reply {self.name} {shown}>", 2000)


@dataclass(frozen=True)
class Ping:
    """A ``PING`` from the router; answer it with :func:`pong`."""

    text: str = ""


@dataclass(frozen=True)
class Pong:
    """A ``PONG`` answering our PING."""

    text: str = ""


@dataclass(frozen=True)
class PeerLine:
    """The peer's destination (base64) and optional ``FROM_PORT``/``TO_PORT``."""

    destination: str
    fields: Mapping[str, str] = field(default_factory=dict)

    def port(self, key: str) -> int | None:
        """The I2P port in *key*, or None if absent or 0 ("no port": Java I2P
        reports ``TO_PORT=0`` for streams from routers that send no ports)."""
        value = self.fields.get(key)
        port = int(value) if value and DIGITS.issuperset(value) and len(value) < 6 else None
        return port or None


@dataclass(frozen=True)
class Packet:
    """A received datagram (``kind="DATAGRAM"``) or raw packet (``"RAW"``)."""

    kind: str
    payload: bytes
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def destination(self) -> str | None:
        return self.fields.get("DESTINATION")


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


#: Returned by :meth:`SAMDecoder.next_event` when more bytes are needed.
NEED_DATA = _NeedData()

Event = Reply | Ping | Pong | PeerLine | Packet
