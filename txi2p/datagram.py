"""Datagrams and raw packets over I2P, in the spirit of ``reactor.listenUDP``.

I2P carries two kinds of packets besides streams:

* repliable **datagrams** (``STYLE=DATAGRAM``): signed, the receiver
  learns the sender's destination; at most :data:`MAX_DGRAM` bytes;
* **raw** packets (``STYLE=RAW``): anonymous, no sender; at most
  :data:`MAX_RAW` bytes.

:class:`I2PDatagramEndpoint` starts such a session and connects it to a
Twisted ``DatagramProtocol``: ``datagramReceived(data, addr)`` gets the
sender's :class:`~txi2p.address.I2PAddress` (None for raw packets), and
``transport.write(data, addr)`` sends to a destination, ``.b32.i2p`` name
or host name (resolved once and cached).

Two ways for packets to travel, chosen per session (``delivery=``):

``"udp"`` (default when the SAM bridge is on this host)
    packets are sent to the router's SAM UDP port (i2pd: the TCP port
    minus 1, 7655 by default) and the router forwards received ones to a
    local UDP port of ours (``PORT``/``HOST`` at SESSION CREATE).  Full
    size packets, no head-of-line blocking.
``"control"`` (default for a remote bridge, where the router could not
    reach a UDP port of ours)
    ``DATAGRAM SEND``/``RAW SEND`` and ``DATAGRAM RECEIVED`` on the
    session's control connection.  i2pd reads these into an 8 KiB buffer,
    so packets are limited to about 7.6 KB there.

The router drops packets for a destination whose lease set it has not
fetched yet.  Before the first packet to a destination, the port asks the
router to look it up (``NAMING LOOKUP`` of its ``.b32.i2p`` name on the
session) and sends once that is answered (``prime=True``, the default).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import AbstractDatagramProtocol, DatagramProtocol
from twisted.logger import Logger

from txi2p.address import Destination, I2PAddress, PrivateKey, b32_from_hash, b64decode
from txi2p.bridge import SAMBridge
from txi2p.config import BridgeConfig, Progress, SessionConfig, check_port, parse_sam_address
from txi2p.errors import SessionConflict, TxI2PError
from txi2p.registry import SessionRegistry
from txi2p.sam import codec
from txi2p.session import SAMSession, pass_through_firing

__all__ = [
    "MAX_DGRAM",
    "MAX_RAW",
    "DatagramTooLarge",
    "I2PDatagramEndpoint",
    "I2PDatagramPort",
]

_log = Logger()

#: Largest repliable datagram payload.
MAX_DGRAM = 31744
#: Largest raw packet payload.
MAX_RAW = 32768

# A 32-byte hash in I2P base64 (DATAGRAM3's sender).
_HASH_BASE64_LENGTH = 44

#: How packets may travel between us and the router (``delivery=``).
DELIVERIES = ("auto", "udp", "control")


class DatagramTooLarge(TxI2PError, ValueError):
    """A packet over the size limit; nothing was sent."""


class _UDPReceiver(DatagramProtocol):
    """Our local UDP socket: packets forwarded by the router come in here."""

    port: I2PDatagramPort | None = None

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        if self.port is not None:  # None until the session is up
            self.port._udp_received(datagram, addr)


def _sender(text: str) -> Destination | str:
    """A received datagram's sender: its destination, or (DATAGRAM3, which
    carries only the hash of it: 44 characters of base64) its ``.b32.i2p`` name."""
    if len(text) == _HASH_BASE64_LENGTH:
        return b32_from_hash(b64decode(text))
    return Destination.from_base64(text)


def _address(sender: Destination | str, port: str | None) -> I2PAddress:
    number = int(port) if port and port.isdigit() and len(port) < 6 else None
    if isinstance(sender, str):
        return I2PAddress(None, host=sender, port=number)
    return I2PAddress(sender, port=number)


class I2PDatagramPort:
    """The transport of a datagram protocol on I2P (made by :class:`I2PDatagramEndpoint`).

    :ivar session: the :class:`~txi2p.session.SAMSession`.
    :ivar kind: the session's style: ``"DATAGRAM"``, ``"DATAGRAM2"``,
        ``"DATAGRAM3"`` or ``"RAW"``.
    :ivar mode: ``"udp"`` or ``"control"``.
    :ivar sent: packets handed to the router.
    :ivar received: packets delivered to the protocol.
    :ivar dropped: malformed incoming packets that were logged and dropped.
    :ivar max_size: the largest payload this port can send.
    """

    def __init__(self, reactor: Any, session: SAMSession, protocol: AbstractDatagramProtocol | None,
                 kind: str, mode: str, udp: Any = None, sam_udp: tuple[str, int] | None = None,
                 *, from_port: int | None = None, prime: bool = True,
                 registry: SessionRegistry | None = None) -> None:
        self.reactor = reactor
        self.session = session
        self.protocol = protocol
        self.kind = kind
        self.mode = mode
        self._udp = udp
        self._sam_udp = sam_udp
        self._from_port = from_port
        self._prime = prime
        self._registry = registry
        self._primed: dict[str, Deferred[None]] = {}
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self.listening = True
        self.max_size = MAX_RAW if kind == "RAW" else MAX_DGRAM
        dialect = session.control.dialect
        if mode == "control":
            if dialect is not None:
                self.max_size = min(self.max_size, dialect.control_datagram_max)
            session.control.on_packet = self._control_received
        elif dialect is not None:
            # The UDP packet carries a header with a (typically 524-character)
            # destination; checked again with the real one when sending.
            self.max_size = min(self.max_size, dialect.udp_packet_max - self._udp_header_length(524))

    def __repr__(self) -> str:
        return f"<I2PDatagramPort {self.kind} {self.session.b32} via {self.mode}>"

    def attach(self, protocol: AbstractDatagramProtocol) -> None:
        """Connect *protocol* to this port: it gets the packets from now on."""
        self.protocol = protocol
        protocol.makeConnection(self)  # type: ignore[arg-type]

    def getHost(self) -> I2PAddress:
        return I2PAddress(self.session.destination, port=self._from_port)

    # ------------------------------------------------------------ sending

    def write(self, data: bytes, addr: I2PAddress | Destination | str) -> Deferred[None]:
        """Send one packet to *addr*; fires once it is handed to the router.

        Raises :class:`DatagramTooLarge` at once (nothing sent) if *data*
        is over the limit.  *addr* may be an :class:`I2PAddress` (its port
        becomes ``TO_PORT`` where the router honours ports), a
        :class:`Destination`, a base64 destination, ``.b32.i2p`` name or
        host name.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes")
        data = bytes(data)
        if len(data) > self.max_size:
            raise DatagramTooLarge(
                f"a {self.kind.lower()} packet of {len(data)} bytes is over the limit of "
                f"{self.max_size} bytes{' on the control socket' if self.mode == 'control' else ''}")
        if not self.listening:
            raise TxI2PError("this datagram port is closed")
        to_port = addr.port if isinstance(addr, I2PAddress) else None
        target: Destination | str | None = addr.destination if isinstance(addr, I2PAddress) else addr
        if target is None:
            target = addr.host  # type: ignore[union-attr]
        return Deferred.fromCoroutine(self._send(data, target, to_port))

    async def _send(self, data: bytes, target: Destination | str, to_port: int | None) -> None:
        dest = await self.session.lookup(target)
        if self._prime:
            await self._prime_lease_set(dest)
        self._send_now(data, dest, to_port)

    def _prime_lease_set(self, dest: Destination) -> Deferred[None]:
        key = dest.b32
        primed = self._primed.get(key)
        if primed is None:
            async def lookup() -> None:
                try:
                    await self.session.control.command(codec.naming_lookup(dest.b32))
                except TxI2PError as e:
                    _log.info("lease set of {b32} not found yet ({error}); sending anyway",
                              b32=dest.b32, error=e)
                    del self._primed[key]
            primed = self._primed[key] = Deferred.fromCoroutine(lookup())
        if primed.called:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        primed.addBoth(pass_through_firing(waiter))
        return waiter

    def _udp_header(self, dest_base64: str, to_port: int | None) -> bytes:
        dialect = self.session.control.dialect
        header = f"3.0 {self.session.nickname} {dest_base64}"
        if dialect is not None and dialect.ports:
            if self._from_port is not None:
                header += f" FROM_PORT={self._from_port}"
            if to_port is not None:
                header += f" TO_PORT={to_port}"
        return header.encode("ascii") + b"\n"

    def _udp_header_length(self, dest_length: int) -> int:
        return len(self._udp_header("x" * dest_length, 65535))

    def _send_now(self, data: bytes, dest: Destination, to_port: int | None) -> None:
        dialect = self.session.control.dialect
        ports = dialect is not None and dialect.ports
        if self.mode == "udp":
            assert self._udp is not None and self._sam_udp is not None
            packet = self._udp_header(dest.base64, to_port) + data
            if dialect is not None and len(packet) > dialect.udp_packet_max:
                raise DatagramTooLarge(
                    f"{len(data)} bytes to {dest.b32} make a {len(packet)}-byte SAM UDP packet, "
                    f"over the router's {dialect.udp_packet_max}")
            self._udp.write(packet, self._sam_udp)
        else:
            build = codec.raw_send if self.kind == "RAW" else codec.datagram_send
            self.session.control.send_packet(build(
                dest.base64, data,
                from_port=self._from_port if ports else None,
                to_port=to_port if ports else None))
        self.sent += 1

    # ------------------------------------------------------------ receiving

    def _deliver(self, data: bytes, addr: I2PAddress | None) -> None:
        if self.protocol is None:
            self._drop("no protocol is attached yet")
            return
        self.received += 1
        try:
            cast(Any, self.protocol).datagramReceived(data, addr)
        except Exception:
            _log.failure("datagramReceived raised; the port goes on")

    def _drop(self, why: str) -> None:
        self.dropped += 1
        _log.warn("dropped a malformed incoming {kind} packet: {why}", kind=self.kind.lower(), why=why)

    def _udp_received(self, datagram: bytes, source: Any) -> None:
        if self._sam_udp is not None and source[0] != self._sam_udp[0]:
            self._drop(f"it came from {source[0]}, not from the router")
            return
        if self.kind == "RAW":
            self._deliver(datagram, None)
            return
        header, sep, payload = datagram.partition(b"\n")
        if not sep:
            self._drop("no header line")
            return
        parts = header.split(b" ")
        try:
            sender = _sender(parts[0].decode("ascii"))
            fields = dict(p.decode("ascii").partition("=")[::2] for p in parts[1:] if p)
        except (TxI2PError, UnicodeDecodeError) as e:
            self._drop(str(e))
            return
        self._deliver(payload, _address(sender, fields.get("FROM_PORT")))

    def _control_received(self, packet: codec.Packet) -> None:
        if packet.kind == "RAW":
            self._deliver(packet.payload, None)
            return
        try:
            sender = _sender(packet.destination or "")
        except TxI2PError as e:
            self._drop(str(e))
            return
        self._deliver(packet.payload, _address(sender, packet.fields.get("FROM_PORT")))

    # ------------------------------------------------------------ closing

    def stopListening(self) -> Deferred[None]:
        """Stop the protocol and end the session."""
        if not self.listening:
            return succeed(None)
        self.listening = False
        if self._registry is not None:
            self._registry.release(self.session)
        d = self.session.close() if self.session.is_open else succeed(None)
        self._stop()
        return d

    def _stop(self) -> None:
        if self._udp is not None:
            self._udp.stopListening()
            self._udp = None
        if self.protocol is not None:
            self.protocol.doStop()

    loseConnection = stopListening

    def _session_ended(self) -> None:
        if self.listening:
            if self.session.closed_on_purpose:  # closed by its owner (the registry at reactor shutdown)
                _log.debug("datagram session {nickname} closed", nickname=self.session.nickname)
            else:
                _log.warn("datagram session {nickname} ended: {reason}", nickname=self.session.nickname,
                          reason=self.session.close_reason.getErrorMessage() if self.session.close_reason else "")
            self.listening = False
            self._stop()


class I2PDatagramEndpoint:
    """Starts a DATAGRAM or RAW session and connects a datagram protocol to it.

    Sessions come from a :class:`~txi2p.registry.SessionRegistry` (the
    reactor's unless one is passed in), as for streams: one session per
    name on a bridge, key files read or written the same way, and a name
    asked for again with other settings raises
    :class:`~txi2p.errors.SessionConflict`.  A named session carries one
    protocol at a time (the :mod:`txi2p.socket` shim shares it among its
    sockets).

    :param reactor: the reactor.
    :param bridge_config: how to reach the SAM bridge
        (:class:`~txi2p.config.BridgeConfig`; its ``udp_port`` is the
        bridge's UDP port, default the TCP port minus 1).
    :param session_config: the session (:class:`~txi2p.config.SessionConfig`):
        its style (``"DATAGRAM"``, the default when None: signed, the
        sender's destination comes with each datagram; ``"DATAGRAM2"``:
        signed and protected against replay; ``"DATAGRAM3"``: unsigned and
        smaller, the sender is only its ``.b32.i2p`` name, which a reply is
        sent to; ``"RAW"``: anonymous packets), nickname (random if None),
        key file, options and signature type.  DATAGRAM2/3 need SAM API
        0.9.66 (i2pd 2.58, Java I2P 2.9); older routers refuse them with
        :class:`~txi2p.errors.UnsupportedByRouter`.  Its ``auto_close``
        (None: True) ends the session with the last port on it.
    :param from_port: our I2P port (3.2+ routers).
    :param to_port: default I2P port packets are sent to (3.2+ routers).
    :param protocol_number: raw packets' I2CP protocol (3.2+ routers).
    :param delivery: how packets travel between us and the router:
        ``"udp"``, ``"control"`` or ``"auto"`` (UDP when the bridge is on
        this host).
    :param prime: look a destination up before the first packet to it.
    :param registry: the session registry (default: the reactor's).
    :param progress: called with a sentence as each step starts.
    """

    def __init__(self, reactor: Any, *, bridge_config: BridgeConfig | None = None,
                 session_config: SessionConfig | None = None,
                 from_port: int | None = None, to_port: int | None = None,
                 protocol_number: int | None = None, delivery: str = "auto", prime: bool = True,
                 registry: SessionRegistry | None = None,
                 progress: Progress | None = None) -> None:
        if delivery not in DELIVERIES:
            raise ValueError(f"delivery (the packets' transport) must be one of {', '.join(DELIVERIES)}, "
                             f"not {delivery!r}")
        for name, value in (("from_port", from_port), ("to_port", to_port),
                            ("protocol_number", protocol_number)):
            if value is not None:
                check_port(name, value, allow_zero=True)
        if bridge_config is not None and not isinstance(bridge_config, BridgeConfig):
            raise TypeError(f"bridge_config must be a txi2p.config.BridgeConfig, not {bridge_config!r}")
        self.reactor = reactor
        session_config = SessionConfig.for_door(session_config, codec.PACKET_STYLES, True)
        if session_config.nickname is None:
            # no name: a session of this endpoint's own, not one shared by every unnamed endpoint
            session_config = replace(session_config,
                                     nickname=f"txi2p-{session_config.style.lower()}-{secrets.token_hex(4)}")
        self.session_config = session_config
        self.kind = session_config.style
        self.bridge_config = bridge_config or BridgeConfig()
        self.from_port = from_port
        self.to_port = to_port
        self.protocol_number = protocol_number
        if delivery == "auto":
            delivery = "udp" if self.bridge_config.is_local else "control"
        self.delivery = delivery
        self.prime = prime
        self.progress = progress
        self._registry = registry

    @property
    def nickname(self) -> str | None:
        return self.session_config.nickname

    @property
    def keyfile(self) -> str | None:
        return self.session_config.keyfile

    @property
    def options(self) -> dict[str, str]:
        return self.session_config.option_map

    @property
    def registry(self) -> SessionRegistry:
        """The session registry (the reactor's unless one was given)."""
        return self._registry or SessionRegistry.for_reactor(self.reactor)

    def _bridge(self) -> SAMBridge:
        return self.registry.bridge(self.bridge_config)

    def listen(self, protocol: AbstractDatagramProtocol) -> Deferred[I2PDatagramPort]:
        """Start the session; fires with the port once it is up (~20 s on i2pd)."""
        return Deferred.fromCoroutine(self._listen(protocol))

    async def _listen(self, protocol: AbstractDatagramProtocol) -> I2PDatagramPort:
        port = await self.acquire_port()
        if port.protocol is not None:
            self.registry.release(port.session)
            raise SessionConflict(
                f"datagram session {port.session.nickname!r} already carries a protocol; give this one "
                "another session name")
        port.attach(protocol)
        return port

    async def acquire_port(self) -> I2PDatagramPort:
        """The port of this endpoint's session (started if needed, shared by name); one user of it.

        Its protocol is None until :meth:`I2PDatagramPort.attach`; give it
        back with :meth:`I2PDatagramPort.stopListening` or
        ``endpoint.registry.release(port.session)``.
        """
        session = await self.registry.acquire(self._bridge(), self.session_config, self.progress,
                                              start=self._start)
        port = session.packet_port
        assert isinstance(port, I2PDatagramPort)
        return port

    async def _start(self, bridge: SAMBridge, name: str, key: PrivateKey | None, spec: SessionConfig,
                     progress: Callable[[str], None]) -> SAMSession:
        extra: dict[str, str | None] = {}
        udp = None
        receiver: _UDPReceiver | None = None
        sam_host = parse_sam_address(bridge.sam_address)[0] if self.delivery == "udp" else ""
        if self.delivery == "udp":
            receiver = _UDPReceiver()
            udp = self.reactor.listenUDP(0, receiver, interface=sam_host or "127.0.0.1", maxPacketSize=65536)
            extra["PORT"] = str(udp.getHost().port)
            extra["HOST"] = udp.getHost().host
        for field_name, value in (("FROM_PORT", self.from_port), ("TO_PORT", self.to_port),
                                  ("PROTOCOL", self.protocol_number if self.kind == "RAW" else None)):
            if value is not None:
                extra[field_name] = str(value)
        try:
            session = await bridge.create_session(self.kind, name, key, options=spec.option_map, extra=extra,
                                                  signature_type=spec.signature_type, progress=progress)
        except BaseException:
            if udp is not None:
                udp.stopListening()
            raise
        sam_udp = None
        if udp is not None:
            dialect = session.control.dialect
            tcp_port = parse_sam_address(bridge.sam_address)[1]
            offset = dialect.udp_port_offset if dialect is not None else -1
            sam_udp = (sam_host, self.bridge_config.udp_port or tcp_port + offset)
        port = I2PDatagramPort(self.reactor, session, None, self.kind, self.delivery, udp, sam_udp,
                               from_port=self.from_port, prime=self.prime, registry=self.registry)
        if receiver is not None:
            receiver.port = port
        session.packet_port = port
        session.closed.addCallback(lambda _: port._session_ended())
        return session
