"""An in-process SAM bridge that plays one router's dialect, for tests.

Real routers cannot be made to show every behaviour on demand (i2pd 2.58
closing a socket after PONG, Java I2P requiring PORT on a DATAGRAM
subsession), so :class:`FakeSAMBridge` answers the control commands the
way a given :class:`RouterProfile` does, from the router facts this
project verified (``shared/I2P-TESTNET.md``).  It covers the control
channel only: HELLO, SESSION CREATE/ADD, NAMING LOOKUP, DEST GENERATE and
PING; streams need a real router (:mod:`txi2p.testing.network`).

Use it from your own tests like txtorcon's fake control protocol::

    fake = FakeSAMBridge(I2PD_2_58)
    port = reactor.listenTCP(0, fake, interface="127.0.0.1")
    bridge = SAMBridge(reactor, f"127.0.0.1:{port.getHost().port}")
    ...
    assert fake.commands[-1].startswith("SESSION CREATE")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.protocol import Factory, Protocol

from txi2p.testing.fakes import fake_private_key

__all__ = ["I2PD_2_45", "I2PD_2_56", "I2PD_2_58", "JAVA_2_7", "PROFILES", "FakeSAMBridge",
           "RouterProfile"]


@dataclass(frozen=True)
class RouterProfile:
    """How one router's SAM bridge answers control commands.

    :ivar name: for messages.
    :ivar versions: the version it answers for ``MAX=3.3`` (it falls back
        to ``MIN`` for versions it does not know).
    :ivar primary_styles: the styles it takes for a session with subsessions.
    :ivar ping: ``"keep"`` (PONG, socket kept), ``"close-after-pong"`` or
        ``"close"`` (closed without a reply).
    :ivar subsession_styles: styles ``SESSION ADD`` takes.
    :ivar subsession_needs_port: DATAGRAM/RAW ``SESSION ADD`` requires PORT.
    :ivar error_closes: the socket is closed after every I2P_ERROR reply.
    :ivar not_found: RESULT of a lookup of an unknown name.
    :ivar silent_add_without_from_port: ``SESSION ADD`` without FROM_PORT
        is never answered (i2pd 2.45).
    :ivar silent_unforwarded_datagrams: a DATAGRAM/RAW ``SESSION CREATE``
        without PORT is never answered (i2pd 2.56).
    :ivar streams_on_primary: STREAM commands may name a PRIMARY session
        (i2pd); Java answers ``I2P_ERROR "primary session"``.
    :ivar datagram_styles: the repliable datagram styles ``SESSION CREATE``
        takes (DATAGRAM2/3: SAM API 0.9.66); others answer ``I2P_ERROR``.
    :ivar post_quantum: ``i2cp.leaseSetEncType`` with types 5-7 is taken
        (i2pd 2.58 skips types it cannot do) or refused (Java I2P 2.7.0:
        ``I2P_ERROR`` "Unsupported crypto type").  (i2pd before 2.58 exits:
        not played; txi2p never sends them there.)
    :ivar lookup_options: ``NAMING LOOKUP ... OPTIONS=true`` answers the
        lease set's options as ``OPTION:key=value`` (SAM API 0.9.66); i2pd
        ignores ``OPTIONS``.
    """

    name: str
    versions: frozenset[str]
    primary_styles: frozenset[str]
    ping: str
    subsession_styles: frozenset[str] = frozenset({"STREAM"})
    subsession_needs_port: bool = False
    error_closes: bool = False
    not_found: str = "INVALID_KEY"
    silent_add_without_from_port: bool = False
    silent_unforwarded_datagrams: bool = False
    streams_on_primary: bool = True
    datagram_styles: frozenset[str] = frozenset({"DATAGRAM"})
    post_quantum: bool = True
    lookup_options: bool = False


I2PD_2_45 = RouterProfile("i2pd 2.45.1", frozenset({"3.0", "3.1"}), frozenset({"MASTER"}), "close",
                          silent_add_without_from_port=True)
I2PD_2_56 = RouterProfile("i2pd 2.56.0", frozenset({"3.0", "3.1"}), frozenset({"MASTER"}), "close",
                          silent_unforwarded_datagrams=True)
I2PD_2_58 = RouterProfile("i2pd 2.58.0", frozenset({"3.0", "3.1", "3.2", "3.3"}),
                          frozenset({"MASTER"}), "close-after-pong", error_closes=True,
                          datagram_styles=frozenset({"DATAGRAM", "DATAGRAM2", "DATAGRAM3"}))
JAVA_2_7 = RouterProfile("Java I2P 2.7.0", frozenset({"3.0", "3.1", "3.2", "3.3"}),
                         frozenset({"PRIMARY", "MASTER"}), "keep",
                         frozenset({"STREAM", "DATAGRAM", "RAW"}), subsession_needs_port=True,
                         not_found="KEY_NOT_FOUND", streams_on_primary=False, post_quantum=False)
#: Every profile, by name.
PROFILES = {p.name: p for p in (I2PD_2_45, I2PD_2_56, I2PD_2_58, JAVA_2_7)}


def _fields(words: list[str]) -> dict[str, str]:
    return dict(w.partition("=")[::2] for w in words if "=" in w)


class _FakeSAMProtocol(Protocol):
    def __init__(self, bridge: FakeSAMBridge) -> None:
        self.bridge = bridge
        self.profile = bridge.profile
        self._buffer = b""
        self._master = False

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while b"\n" in self._buffer and self.transport is not None:
            line, _, self._buffer = self._buffer.partition(b"\n")
            self.bridge.commands.append(line.decode())
            self._answer(line.decode().split(" "))

    def _say(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(text.encode() + b"\n")

    def _error(self, head: str, message: str) -> None:
        self._say(f'{head} RESULT=I2P_ERROR MESSAGE="{message}"')
        if self.profile.error_closes:
            assert self.transport is not None
            self.transport.loseConnection()

    def _authorized(self, args: dict[str, str]) -> bool:
        """Java I2P's answers with SAM authentication on (``sam.auth=true``)."""
        user, password = args.get("USER"), args.get("PASSWORD")
        if user is None or password is None:
            message = "USER and PASSWORD required"
        elif (user.strip('"'), password.strip('"')) != self.bridge.credentials:
            message = "Authorization failed"
        else:
            return True
        assert self.transport is not None
        self._say(f'HELLO REPLY RESULT=I2P_ERROR MESSAGE="{message}"')
        self.transport.loseConnection()
        return False

    def _answer(self, words: list[str]) -> None:
        verb = " ".join(words[:2])
        args = _fields(words[2:])
        assert self.transport is not None
        handler = _HANDLERS.get(words[0]) or _HANDLERS.get(verb)
        if handler is None:
            self._error("SESSION STATUS", f"{verb} is not played by this fake")
        else:
            handler(self, words, args)

    def _ping(self, words: list[str], args: dict[str, str]) -> None:
        assert self.transport is not None
        if self.profile.ping != "close":
            self._say(" ".join(["PONG", *words[1:]]))
        if self.profile.ping != "keep":
            self.transport.loseConnection()

    def _hello(self, words: list[str], args: dict[str, str]) -> None:
        if self.bridge.credentials is not None and not self._authorized(args):
            return
        high = args.get("MAX", "3.0")
        version = high if high in self.profile.versions else args.get("MIN", "3.0")
        self._say(f"HELLO REPLY RESULT=OK VERSION={version}")

    def _create_refusal(self, style: str, args: dict[str, str]) -> str | None:
        """The I2P_ERROR message this profile answers a SESSION CREATE with."""
        if ((style in ("PRIMARY", "MASTER") and style not in self.profile.primary_styles)
                or (style.startswith("DATAGRAM") and style not in self.profile.datagram_styles)):
            return "Unknown STYLE"
        enc_types = args.get("i2cp.leaseSetEncType", "").split(",")
        if not self.profile.post_quantum and any(t.isdigit() and int(t) > 4 for t in enc_types):
            return "Error creating I2PSocketManager: Unsupported crypto type: 6"
        return None

    def _session_create(self, words: list[str], args: dict[str, str]) -> None:
        style = args.get("STYLE", "")
        refusal = self._create_refusal(style, args)
        if refusal is not None:
            self._error("SESSION STATUS", refusal)
            return
        if (style in ("DATAGRAM", "RAW") and "PORT" not in args
                and self.profile.silent_unforwarded_datagrams):
            return
        self._master = style in ("PRIMARY", "MASTER")
        self.bridge.sessions.append(args.get("ID", ""))
        if self._master:
            self.bridge.primaries.add(args.get("ID", ""))
        self._say(f"SESSION STATUS RESULT=OK DESTINATION={self.bridge.key.base64}")

    def _add_refusal(self, style: str, args: dict[str, str]) -> str | None:
        """The I2P_ERROR message this profile answers a SESSION ADD with."""
        if not self._master:
            return "Wrong session type"
        if style not in self.profile.subsession_styles:
            return "Unsupported STYLE"
        if style != "STREAM" and self.profile.subsession_needs_port and "PORT" not in args:
            return f"{style} subsession must specify PORT"
        return None

    def _session_add(self, words: list[str], args: dict[str, str]) -> None:
        if self.profile.silent_add_without_from_port and "FROM_PORT" not in args:
            return
        refusal = self._add_refusal(args.get("STYLE", ""), args)
        if refusal is not None:
            self._error("SESSION STATUS", refusal)
        else:
            self._say(f"SESSION STATUS RESULT=OK ID={args.get('ID', '')}")

    def _lookup(self, words: list[str], args: dict[str, str]) -> None:
        name = args.get("NAME", "")
        known = self.bridge.names.get(name)
        if known is None:
            self._say(f"NAMING REPLY RESULT={self.profile.not_found} NAME={name}")
            return
        extra = ""
        if self.profile.lookup_options and args.get("OPTIONS") == "true":
            extra = "".join(f' "OPTION:{k}={v}"' for k, v in self.bridge.name_options.get(name, {}).items())
        self._say(f"NAMING REPLY RESULT=OK NAME={name} VALUE={known}{extra}")

    def _stream(self, words: list[str], args: dict[str, str]) -> None:
        if args.get("ID") in self.bridge.primaries and not self.profile.streams_on_primary:
            self._say('STREAM STATUS RESULT=I2P_ERROR MESSAGE="primary session"')
        else:
            self._error("STREAM STATUS", "streams are not played by this fake")

    def _generate(self, words: list[str], args: dict[str, str]) -> None:
        key = fake_private_key()
        self._say(f"DEST REPLY PUB={key.destination.base64} PRIV={key.base64}")


#: What answers each command: its first word (PING, STREAM) or first two.
_HANDLERS: dict[str, Callable[[_FakeSAMProtocol, list[str], dict[str, str]], None]] = {
    "PING": _FakeSAMProtocol._ping,
    "HELLO VERSION": _FakeSAMProtocol._hello,
    "SESSION CREATE": _FakeSAMProtocol._session_create,
    "SESSION ADD": _FakeSAMProtocol._session_add,
    "NAMING LOOKUP": _FakeSAMProtocol._lookup,
    "STREAM": _FakeSAMProtocol._stream,
    "DEST GENERATE": _FakeSAMProtocol._generate,
}


@dataclass
class FakeSAMBridge(Factory):
    """A protocol factory: listen with it, point a SAMBridge at the port.

    :ivar commands: every command line received, in order.
    :ivar sessions: IDs of the sessions created.
    :ivar names: name -> base64 destination for NAMING LOOKUP.
    :ivar name_options: name -> the options its lease set publishes.
    :ivar credentials: ``(user, password)`` every HELLO must carry, as a
        Java I2P bridge with authentication on (None: no authentication).
    """

    profile: RouterProfile
    commands: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    name_options: dict[str, dict[str, str]] = field(default_factory=dict)
    primaries: set[str] = field(default_factory=set)
    key: Any = field(default_factory=fake_private_key)
    credentials: tuple[str, str] | None = None
    noisy = False

    def buildProtocol(self, addr: object) -> Protocol:
        return _FakeSAMProtocol(self)
