"""A client that survives a dead home (one more try through a fresh session) or its own router down.

A router keeps the lease sets it looked up, per local destination, until
they expire (about 10 minutes).  When a multihomed service's home dies
(:mod:`txi2p.multihome`), a client session that reached that home keeps
sending to its dead tunnels: connects fail with ``CantReachPeer`` or time
out although the service is up on its other homes.

So when an :class:`~txi2p.endpoints.I2PClientEndpoint` that connected to
its destination before fails to connect again with one of
:data:`RECOVERABLE`, it tries once more through a fresh transient session
on the same bridge (:func:`fresh_endpoint`): a session with no cached
lease set, whose lookup asks the floodfills again.  That session closes
with its connection.  It is logged, bounded (one more try per connect) and
opt-out (``recover=False``; ``recover=false`` in ``i2p:`` strings).  An
endpoint whose session has a key file is not retried: a fresh session
would be another destination.

A client whose own router is down: :class:`FallbackClientEndpoint` holds
one client endpoint per bridge (``i2p:site.i2p:samaddr=A,B`` makes one)
and connects through the first whose bridge answers, starting with the
one that worked last.  Only a bridge that is down (:func:`bridge_down`:
no connection to it, the connection lost, no answer to ``HELLO`` or
``SESSION``) moves it to the next; a destination that cannot be reached
is that destination's error, raised as it is.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.logger import Logger
from zope.interface import implementer

from txi2p.errors import (
    CantReachPeer,
    CommandTimeout,
    LeaseSetNotFound,
    PeerNotFound,
    SAMConnectionFailed,
    SAMConnectionLost,
    SAMTimeout,
    SessionClosed,
)

if TYPE_CHECKING:
    from txi2p.endpoints import I2PClientEndpoint

__all__ = [
    "BRIDGE_DOWN",
    "RECOVERABLE",
    "AllBridgesDown",
    "FallbackClientEndpoint",
    "bridge_down",
    "fresh_endpoint",
    "reconnect",
    "recoverable",
]

_log = Logger()

#: The connect errors a cached dead lease set gives.
RECOVERABLE = (CantReachPeer, PeerNotFound, LeaseSetNotFound, SAMTimeout, CommandTimeout)


def recoverable(endpoint: I2PClientEndpoint, error: BaseException) -> bool:
    """Whether *endpoint*'s failed connect (with *error*) is tried once more."""
    return isinstance(error, RECOVERABLE) and not endpoint.session_config.keyfile


def fresh_endpoint(endpoint: I2PClientEndpoint) -> I2PClientEndpoint:
    """*endpoint* through a fresh transient session on the same bridge (closed with its
    connection), with no recovery of its own."""
    from txi2p.endpoints import I2PClientEndpoint

    spec = replace(endpoint._session_spec(), nickname=f"txi2p-recover-{secrets.token_hex(5)}", auto_close=True)
    return I2PClientEndpoint(endpoint._reactor, endpoint.host, endpoint.port, from_port=endpoint.from_port,
                             bridge_config=endpoint.bridge_config,
                             session_config=spec, registry=endpoint.registry, progress=endpoint._progress,
                             recover=False)


async def reconnect(endpoint: I2PClientEndpoint, factory: IProtocolFactory, error: BaseException) -> IProtocol:
    """The one more try, logged."""
    _log.info("txi2p: {host} was reached before but not now ({error}); trying once more through a fresh "
              "session (its router may hold a dead home's lease set; recover=false turns this off)",
              host=endpoint.host[:60], error=error)
    protocol = await fresh_endpoint(endpoint).connect(factory)
    _log.info("txi2p: {host} reached through a fresh session", host=endpoint.host[:60])
    return protocol


#: The errors that say a client's own bridge (or its router) is down.
BRIDGE_DOWN = (SAMConnectionFailed, SAMConnectionLost, SessionClosed)

#: The commands whose timeout says the same (a router that answers no HELLO
#: or cannot make a session); a ``STREAM`` timeout is the destination's.
_BRIDGE_COMMANDS = ("HELLO", "SESSION")


def bridge_down(error: BaseException) -> bool:
    """Whether *error* says the bridge is down (so the next one is tried)."""
    if isinstance(error, CommandTimeout):
        return error.command.split(" ")[0] in _BRIDGE_COMMANDS
    return isinstance(error, BRIDGE_DOWN)


class AllBridgesDown(SAMConnectionFailed):
    """No bridge of a :class:`FallbackClientEndpoint` could be used.

    :ivar errors: each bridge's error, in the order they were tried.
    """

    def __init__(self, errors: list[tuple[str, BaseException]]) -> None:
        self.errors = errors
        said = "; ".join(f"{where}: {error}" for where, error in errors)
        super().__init__(f"every SAM bridge is down ({said})")


@implementer(IStreamClientEndpoint)
class FallbackClientEndpoint:
    """Connects through the first of several bridges that is up.

    :param endpoints: one :class:`~txi2p.endpoints.I2PClientEndpoint` per
        bridge (two or more, each on another bridge), all to the same
        destination and port.  ``connect()`` starts with the endpoint that
        connected last (the first one at first) and moves on only when
        :func:`bridge_down`; each move is logged.
    """

    def __init__(self, endpoints: list[I2PClientEndpoint]) -> None:
        if len(endpoints) < 2:
            raise ValueError("a fallback client needs two bridges or more (one is a plain client endpoint)")
        targets = {(e.host, e.port) for e in endpoints}
        if len(targets) != 1:
            raise ValueError(f"a fallback client's endpoints must reach one destination and port, not {targets}")
        wheres = [e.bridge_config.identity for e in endpoints if e.launch is None]
        if len(set(wheres)) != len(wheres) or sum(e.launch is not None for e in endpoints) > 1:
            raise ValueError(f"a fallback client's bridges must differ: {wheres} (and at most one launched router)")
        self.endpoints = list(endpoints)
        #: the index of the endpoint that connected last (tried first)
        self.current = 0

    def __repr__(self) -> str:
        return f"<FallbackClientEndpoint {self.endpoints[0].host[:60]} via {len(self.endpoints)} bridges>"

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        """Open a stream through the first bridge that is up."""
        return Deferred.fromCoroutine(self._connect(protocolFactory))

    async def _connect(self, factory: IProtocolFactory) -> IProtocol:
        count = len(self.endpoints)
        failed: list[tuple[str, BaseException]] = []
        for index in [(self.current + i) % count for i in range(count)]:
            endpoint = self.endpoints[index]
            where = "the launched router" if endpoint.launch is not None else endpoint.bridge_config.where
            try:
                protocol = await endpoint.connect(factory)
            except Exception as e:
                if not bridge_down(e):
                    raise
                failed.append((where, e))
                _log.warn("txi2p: the SAM bridge at {where} is down ({error}); {next}", where=where, error=e,
                          next="trying the next" if len(failed) < count else "no bridge left")
                continue
            if index != self.current:
                _log.info("txi2p: connected through the SAM bridge at {where}; it is tried first from now on",
                          where=where)
                self.current = index
            return protocol
        raise AllBridgesDown(failed)
