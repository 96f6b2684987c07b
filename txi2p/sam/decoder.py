"""Bytes from a SAM socket into events, sans I/O: :func:`parse_line`,
:func:`parse_peer_line` and :class:`SAMDecoder` (importable from
:mod:`txi2p.sam.codec`)."""

from __future__ import annotations

from collections.abc import Iterable

from txi2p.errors import SAMProtocolError, printable
from txi2p.sam.received import DIGITS, NEED_DATA, Event, Packet, PeerLine, Ping, Pong, Reply, _NeedData

__all__ = ["MAX_LINE", "MAX_PACKET", "MAX_PING_TEXT", "SAMDecoder", "parse_line", "parse_peer_line"]

#: Longest reply line accepted (a line with two destinations and options
#: fits easily; anything longer is garbage).
MAX_LINE = 64 * 1024

#: Longest PING text accepted from a bridge (it is echoed back in PONG).
MAX_PING_TEXT = 1024

#: The longest payload a DATAGRAM/RAW RECEIVED header may announce.
MAX_PACKET = 65536


def _tokenize(text: str) -> list[str]:
    """Split a line on spaces, honouring ``"quoted values"`` with escapes."""
    if '"' not in text:  # most replies: no quotes, split at C speed
        return [token for token in text.split(" ") if token]
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        buf: list[str] = []
        while i < n and text[i] != " ":
            if text[i] == '"':
                i = _quoted(text, i + 1, buf)
            else:
                buf.append(text[i])
                i += 1
        tokens.append("".join(buf))
    return tokens


def _quoted(text: str, i: int, buf: list[str]) -> int:
    """Append the quoted part of *text* starting at *i* (after its opening
    quote) to *buf*, unescaped; where the text goes on after the closing quote."""
    n = len(text)
    while True:
        if i >= n:
            raise SAMProtocolError(f"unterminated quote in {printable(text, 200)}")
        c = text[i]
        if c == "\\" and i + 1 < n:
            buf.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return i + 1
        buf.append(c)
        i += 1


def _fields(tokens: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not key:
            raise SAMProtocolError(f"a field with no key: {printable(token, 100)}")
        if key in out:  # RESULT=KEY_NOT_FOUND RESULT=OK must not read as OK
            raise SAMProtocolError(f"a reply repeats the key {printable(key, 100)}")
        out[key] = value if sep else ""
    return out


def _decode_line(line: bytes) -> str:
    if line.endswith(b"\r"):
        line = line[:-1]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SAMProtocolError(f"reply is not UTF-8: {line[:100]!r}") from e
    if "\x00" in text:
        raise SAMProtocolError(f"reply contains a NUL byte: {line[:100]!r}")
    return text


def parse_line(line: bytes) -> Reply | Ping | Pong:
    """Parse one reply line (without its ``\\n``).

    Raises :class:`~txi2p.errors.SAMProtocolError` if it is not SAM.
    """
    text = _decode_line(line)
    head, _, rest = text.partition(" ")
    if head in ("PING", "PONG"):
        # Echoed back (PING) or compared (PONG): printable text, bounded.
        if len(rest) > MAX_PING_TEXT or not rest.isprintable():
            raise SAMProtocolError(f"{head} with text that is not printable or longer than "
                                   f"{MAX_PING_TEXT} characters: {printable(rest, 100)}")
        return Ping(rest) if head == "PING" else Pong(rest)
    tokens = _tokenize(text)
    if len(tokens) < 2 or not _is_word(tokens[0]) or not _is_word(tokens[1].replace("_", "")):
        raise SAMProtocolError(f"not a SAM reply: {printable(text, 200)}")
    return Reply(tokens[0], tokens[1], _fields(tokens[2:]))


def _is_word(token: str) -> bool:
    """*token* is a SAM verb or action: upper-case ASCII letters (``_`` taken out of actions)."""
    return token.isascii() and token.isalpha() and token.isupper()


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~=")


def parse_peer_line(line: bytes) -> PeerLine:
    """Parse the ``<destination> [FROM_PORT=n TO_PORT=n]`` line."""
    text = _decode_line(line)
    tokens = text.split(" ")
    dest = tokens[0]
    if len(dest) < 516 or not _B64_CHARS.issuperset(dest):
        raise SAMProtocolError(f"not a peer destination line: {printable(text, 200)}")
    return PeerLine(dest, _fields(t for t in tokens[1:] if t))


class SAMDecoder:
    """Turns bytes from a SAM socket into events.

    Feed bytes with :meth:`receive_data`; take events with
    :meth:`next_event` until it returns :data:`NEED_DATA`.  Once a data
    connection is established, stop calling :meth:`next_event` and take
    the bytes that followed the handshake with :meth:`take_remaining`.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buffer = bytearray()
        self._max_line = max_line
        self._peer_line_expected = False
        self._pending_packet: tuple[str, dict[str, str], int] | None = None

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def expect_peer_line(self) -> None:
        """The next line is a peer destination line (after ``STREAM ACCEPT``)."""
        self._peer_line_expected = True

    def take_remaining(self) -> bytes:
        """Everything received but not yet decoded, emptying the buffer."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def next_event(self) -> Event | _NeedData:
        """The next complete event, or :data:`NEED_DATA`."""
        if self._pending_packet is not None:
            return self._packet_payload(*self._pending_packet)
        line = self._next_line()
        if line is None:
            return NEED_DATA
        if self._peer_line_expected:
            self._peer_line_expected = False
            return parse_peer_line(line)
        event = parse_line(line)
        if isinstance(event, Reply) and event.action == "RECEIVED" and event.verb in ("DATAGRAM", "RAW"):
            self._pending_packet = (event.verb, dict(event.fields), _packet_size(event))
            return self.next_event()
        return event

    def _packet_payload(self, kind: str, fields: dict[str, str], size: int) -> Packet | _NeedData:
        """The pending packet, once its *size* bytes of payload are in."""
        if len(self._buffer) < size:
            return NEED_DATA
        payload = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._pending_packet = None
        return Packet(kind, payload, fields)

    def _next_line(self) -> bytes | None:
        """The next whole line (without its newline), or None until it has come."""
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > self._max_line:
                raise SAMProtocolError(
                    f"reply line longer than {self._max_line} bytes without a newline"
                )
            return None
        if end > self._max_line:  # the same limit whether or not its end has come
            raise SAMProtocolError(f"reply line longer than {self._max_line} bytes")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line


def _packet_size(event: Reply) -> int:
    """The payload size a ``DATAGRAM/RAW RECEIVED`` header announces, checked."""
    size_text = event.fields.get("SIZE", "")
    if not size_text or not DIGITS.issuperset(size_text) or len(size_text) > 6 \
            or int(size_text) > MAX_PACKET:
        raise SAMProtocolError(f"{event.name} with a bad SIZE: {size_text[:20]!r}")
    return int(size_text)
