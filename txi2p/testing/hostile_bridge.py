"""An in-process SAM bridge that answers the wrong way, for tests.

:class:`~txi2p.testing.fake_bridge.FakeSAMBridge` plays real routers'
quirks; :class:`HostileSAMBridge` plays a broken or malicious bridge: for
each command it sends what a :class:`Scenario` says (well-formed but
wrong replies, control characters, PINGs it never reads the answers to),
and the right answer for every command the scenario leaves alone.  Use it
to see what your program does when the router misbehaves::

    hostile = HostileSAMBridge(SCENARIOS["reply-of-another-kind"])
    port = reactor.listenTCP(0, hostile, interface="127.0.0.1")
    bridge = SAMBridge(reactor, f"127.0.0.1:{port.getHost().port}")
    await bridge.lookup("example.i2p")   # SAMProtocolError

Each scenario names the class of misbehaviour it shows; what txi2p does
with each is in ``docs/reliability.rst``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from twisted.internet.protocol import Factory, Protocol

from txi2p.address import b64encode
from txi2p.testing.fakes import fake_private_key

__all__ = ["SCENARIOS", "HostileSAMBridge", "Scenario"]


@dataclass(frozen=True)
class Scenario:
    """What a hostile bridge sends.

    :ivar name: for messages.
    :ivar answers: command name (``"HELLO VERSION"``, ``"NAMING LOOKUP"``,
        ``"STREAM CONNECT"``...) -> the bytes sent in its place.  Commands
        not listed get the right answer.
    :ivar after_hello: bytes sent unasked right after the HELLO answer.
    :ivar reads: False: the bridge stops reading once HELLO is answered
        (a bridge that never reads txi2p's PONGs).
    """

    name: str
    answers: Mapping[str, bytes] = field(default_factory=dict)
    after_hello: bytes = b""
    reads: bool = True


def _destination_with_certificate(cert_type: int, payload: bytes) -> str:
    raw = fake_private_key().destination.raw[:384]
    return b64encode(raw + struct.pack(">BH", cert_type, len(payload)) + payload)


#: The scenarios of issue 22, by name.
SCENARIOS: Mapping[str, Scenario] = MappingProxyType({s.name: s for s in (
    Scenario("reply-of-another-kind", {"HELLO VERSION": b"STREAM STATUS RESULT=OK\n"}),
    Scenario("session-status-for-lookup", {"NAMING LOOKUP": b"SESSION STATUS RESULT=OK\n"}),
    Scenario("no-result", {"NAMING LOOKUP": b"NAMING REPLY NAME=x.i2p VALUE=abc\n"}),
    Scenario("hello-without-result", {"HELLO VERSION": b"HELLO REPLY VERSION=3.1\n"}),
    Scenario("repeated-result", {"NAMING LOOKUP": b"NAMING REPLY RESULT=KEY_NOT_FOUND RESULT=OK NAME=x.i2p\n"}),
    Scenario("version-not-asked", {"HELLO VERSION": b"HELLO REPLY RESULT=OK VERSION=9.9\n"}),
    Scenario("version-not-ascii", {"HELLO VERSION": "HELLO REPLY RESULT=OK VERSION=3.\u0661\n".encode()}),
    Scenario("control-characters", {"NAMING LOOKUP":
                                    b'NAMING REPLY RESULT=I2P_ERROR MESSAGE="\x1b[2J\x1b]0;owned\x07\rfake"\n'}),
    Scenario("ping-with-carriage-return", after_hello=b"PING a\rb\n"),
    Scenario("huge-certificate", {"NAMING LOOKUP": (
        "NAMING REPLY RESULT=OK NAME=x.i2p VALUE=" + _destination_with_certificate(3, b"\0" * 40000) + "\n"
    ).encode()}),
    Scenario("second-hello-on-data", {"STREAM CONNECT": b"HELLO REPLY RESULT=OK VERSION=3.1\n"}),
    Scenario("ping-flood-unread", after_hello=b"".join(
        b"PING " + b"%08d" % i + b"x" * 1000 + b"\n" for i in range(24 * 1024)), reads=False),
)})


class _HostileProtocol(Protocol):
    def __init__(self, bridge: HostileSAMBridge) -> None:
        self.bridge = bridge
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while b"\n" in self._buffer and self.transport is not None:
            line, _, self._buffer = self._buffer.partition(b"\n")
            text = line.decode("utf-8", "replace")
            self.bridge.commands.append(text)
            self._answer(text.split(" "))

    def _answer(self, words: list[str]) -> None:
        assert self.transport is not None
        name = " ".join(words[:2])
        scenario = self.bridge.scenario
        answer = scenario.answers.get(name)
        if answer is None:
            answer = self._right_answer(name, dict(w.partition("=")[::2] for w in words[2:]))
        if answer:
            self.transport.write(answer)
        if name == "HELLO VERSION":
            if scenario.after_hello:
                self.transport.write(scenario.after_hello)
            if not scenario.reads:
                self.transport.pauseProducing()  # type: ignore[attr-defined]

    def _right_answer(self, name: str, args: dict[str, str]) -> bytes:
        key = self.bridge.key
        right = {
            "HELLO VERSION": "HELLO REPLY RESULT=OK VERSION=3.1",
            "NAMING LOOKUP": f"NAMING REPLY RESULT=OK NAME={args.get('NAME', '')} VALUE={key.destination.base64}",
            "DEST GENERATE": f"DEST REPLY PUB={key.destination.base64} PRIV={key.base64}",
            "SESSION CREATE": f"SESSION STATUS RESULT=OK DESTINATION={key.base64}",
            "STREAM CONNECT": "STREAM STATUS RESULT=OK",
            "STREAM ACCEPT": "STREAM STATUS RESULT=OK",
            "STREAM FORWARD": "STREAM STATUS RESULT=OK",
        }.get(name)
        return b"" if right is None else right.encode() + b"\n"


class HostileSAMBridge(Factory):
    """A SAM bridge (a protocol factory: listen with it) playing *scenario*.

    :ivar commands: every command line received, in order.
    """

    noisy = False

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.commands: list[str] = []
        self.key = fake_private_key()

    def buildProtocol(self, addr: object) -> _HostileProtocol:
        return _HostileProtocol(self)
