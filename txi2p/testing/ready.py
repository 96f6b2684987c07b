"""Wait until a private I2P network carries a real stream.

A fired ``STREAM CONNECT`` proves nothing (i2pd answers OK before the peer
does), and right after a session comes up its lease set is not yet
published.  :func:`wait_until_ready` creates one session per client router
(in parallel) and does a real round trip between the first two, retrying
until an echo comes back.  The sessions stay open for the caller to use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

from twisted.internet.defer import Deferred, DeferredList, gatherResults
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from txi2p.bridge import SAMBridge
from txi2p.config import Progress
from txi2p.errors import CantReachPeer, InvalidKey, KeyNotFound
from txi2p.sam import codec
from txi2p.session import SAMSession
from txi2p.testing.network import PrivateI2PNetwork

__all__ = ["TEST_SESSION_OPTIONS", "TEST_SOCKET_OPTIONS", "NetworkNotReady", "create_sessions", "retry_unreachable",
           "wait_until_reachable", "wait_until_ready"]


def testnet_hops() -> int:
    """Tunnel length for test sessions: ``$TXI2P_TEST_HOPS``, default 0.

    Set it to 1 for a network with a Java I2P router, whose 0-hop sessions
    do not look up remote lease sets.
    """
    value = os.environ.get("TXI2P_TEST_HOPS", "0")
    if not value.isdigit() or int(value) > 3:
        raise ValueError(f"TXI2P_TEST_HOPS must be 0 to 3, not {value!r}")
    return int(value)


#: Session options for a small private network: 0-hop tunnels (see
#: :func:`testnet_hops`), four each way (with one, a hundred concurrent 1 MiB
#: streams stall in i2pd).
TEST_SESSION_OPTIONS: Mapping[str, str] = MappingProxyType({
    "inbound.length": str(testnet_hops()),
    "outbound.length": str(testnet_hops()),
    "inbound.quantity": "4",
    "outbound.quantity": "4",
    "i2cp.leaseSetEncType": "4,0",
})

#: The same settings as keywords of :class:`txi2p.socket.socket` (the
#: classic API spells option dots as underscores).
TEST_SOCKET_OPTIONS: Mapping[str, object] = MappingProxyType({
    "in_depth": testnet_hops(),
    "out_depth": testnet_hops(),
    "inbound_quantity": TEST_SESSION_OPTIONS["inbound.quantity"],
    "outbound_quantity": TEST_SESSION_OPTIONS["outbound.quantity"],
    "i2cp_leaseSetEncType": TEST_SESSION_OPTIONS["i2cp.leaseSetEncType"],
})


class NetworkNotReady(RuntimeError):
    """The network did not carry a round trip in time."""


class _Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


class _Probe(Protocol):
    def __init__(self) -> None:
        self.received = b""
        self.echoed: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"txi2p-ready?\n")

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.received.endswith(b"\n") and not self.echoed.called:
            self.echoed.callback(self.received)


async def create_sessions(
    reactor: Any,
    sam_addresses: list[str],
    *,
    prefix: str = "probe",
    options: Mapping[str, object] = TEST_SESSION_OPTIONS,
    progress: Progress | None = None,
) -> list[SAMSession]:
    """One STREAM session per SAM address, created in parallel."""
    bridges = [SAMBridge(reactor, address) for address in sam_addresses]
    results = await DeferredList(
        [
            Deferred.fromCoroutine(
                bridge.create_session("STREAM", f"{prefix}{i + 1}", options=options,
                                      progress=progress if i == 0 else None))
            for i, bridge in enumerate(bridges)
        ],
        consumeErrors=True,
    )
    sessions = [value for ok, value in results if ok]
    failures = [value for ok, value in results if not ok]
    if failures:
        for session in sessions:
            session.close()
        cast(Failure, failures[0]).raiseException()
    return sessions


async def round_trip(reactor: Any, client: SAMSession, server: SAMSession,
                     *, timeout: float = 120.0, progress: Progress | None = None) -> int:
    """Connect *client* to *server* until an echo comes back; return attempts."""
    say = progress or (lambda text: None)
    deadline = time.monotonic() + timeout
    attempt = 0
    last_said = 0.0
    accepting: Deferred[Any] | None = None
    try:
        while True:
            attempt += 1
            # Keep one ACCEPT pending until it is used: cancelling and
            # re-issuing it races in i2pd 2.45.1 (see SAMSession.accept).
            if accepting is None or accepting.called:
                accepting = server.accept(Factory.forProtocol(_Echo))
                accepting.addErrback(lambda f: None)
            try:
                probe = await client.connect(server.destination, Factory.forProtocol(_Probe), timeout=30)
                assert isinstance(probe, _Probe)
                probe.echoed.addTimeout(10, reactor)
                try:
                    await probe.echoed
                finally:
                    if probe.transport is not None:
                        probe.transport.loseConnection()
                return attempt
            except CantReachPeer:
                if time.monotonic() - last_said >= 10:
                    last_said = time.monotonic()
                    say("waiting for the peer's lease set to be published (CANT_REACH_PEER; "
                        "retrying every second)")
            except Exception as e:
                say(f"round trip attempt {attempt} failed ({type(e).__name__}: {e}); retrying")
            if time.monotonic() > deadline:
                raise NetworkNotReady(f"no round trip after {attempt} attempts in {timeout:g} s")
            await deferLater(reactor, 1.0, lambda: None)
    finally:
        if accepting is not None and not accepting.called:
            accepting.cancel()


async def wait_until_reachable(reactor: Any, session: SAMSession, name: str,
                               *, timeout: float = 90.0) -> None:
    """Retry looking *name* up through *session* until its lease set is found.

    A new session's lease set takes a few seconds (sometimes tens of
    seconds on a tiny network) to be published; until then lookups of its
    ``.b32.i2p`` name fail with ``InvalidKey`` and connects with
    ``CantReachPeer``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            await session.control.command(codec.naming_lookup(name))
            return
        except (InvalidKey, KeyNotFound, CantReachPeer):
            if time.monotonic() > deadline:
                raise NetworkNotReady(f"{name} was not reachable from {session.nickname} in {timeout:g} s") from None
            await deferLater(reactor, 1.0, lambda: None)


async def retry_unreachable(reactor: Any, make: Callable[[], Any], *, timeout: float = 90.0) -> Any:
    """Await ``make()`` again, once a second, while the peer is not reachable yet.

    Right after a session starts, its lease set is not published: connects
    to it fail with ``CantReachPeer`` and lookups with ``KeyNotFound`` or
    ``InvalidKey`` (as each router spells it) for a few seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await make()
        except (CantReachPeer, KeyNotFound, InvalidKey):
            if time.monotonic() > deadline:
                raise
            await deferLater(reactor, 1.0, lambda: None)


async def wait_until_ready(
    reactor: Any,
    network: PrivateI2PNetwork,
    *,
    timeout: float = 180.0,
    options: Mapping[str, object] = TEST_SESSION_OPTIONS,
    progress: Progress | None = None,
    prefix: str = "probe",
) -> list[SAMSession]:
    """Sessions on every client router, once a stream round trip works.

    Returns the sessions (index i on client router i, named
    ``<prefix>1``, ``<prefix>2``, ...), open and reachable.
    """
    say = progress or (lambda text: None)
    say(f"creating a session on each of {len(network.clients)} routers")
    sessions = await create_sessions(reactor, network.sam_addresses, prefix=prefix,
                                     options=options, progress=say)
    say("sessions up; waiting for a stream round trip between two routers")
    try:
        if len(sessions) >= 2:
            attempts = await round_trip(reactor, sessions[0], sessions[1], timeout=timeout, progress=say)
            say(f"the network carried a round trip (attempt {attempts})")
    except BaseException:
        await gatherResults([s.close() for s in sessions])
        raise
    return sessions
