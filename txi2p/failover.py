"""A client that survives a dead home: one more try through a fresh session.

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
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import TYPE_CHECKING

from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.logger import Logger

from txi2p.errors import CantReachPeer, CommandTimeout, LeaseSetNotFound, PeerNotFound, SAMTimeout

if TYPE_CHECKING:
    from txi2p.endpoints import I2PClientEndpoint

__all__ = ["RECOVERABLE", "fresh_endpoint", "reconnect", "recoverable"]

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
