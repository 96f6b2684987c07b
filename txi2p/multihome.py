"""One service on several routers: a destination listened on through several SAM bridges.

I2P's multihoming: the same destination keys on several routers, each
publishing a lease set for it; a client reaches whichever home its lookup
returned.  :class:`MultihomedServerEndpoint` wraps one
:class:`~txi2p.endpoints.I2PServerEndpoint` per bridge (its *homes*, all
with the same key file and settings) and gives the application one
listening port, :class:`MultihomedPort`, with one address.

When a home's session ends (its router stopped, its SAM connection broke),
the other homes keep serving and the lost one is started again with the
back-off listening ports use (1 s, doubling up to 60 s), until it rejoins.
The log and the *progress* callable say how many homes are up.

This is failover, not load balancing: floodfills keep one lease set per
destination (the newest), so most clients reach the home that published
last.  docs/multihoming.rst tells the limits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from txi2p.config import Progress, SessionConfig
from txi2p.endpoints import I2PServerEndpoint, I2PServerPort

if TYPE_CHECKING:
    from txi2p.i2p import I2P
    from txi2p.listening import I2PListeningPort

__all__ = ["MultihomedPort", "MultihomedServerEndpoint", "NoHomeUp", "check_homes", "multihomed_server_endpoint",
           "split_sam_addresses"]

_log = Logger()

class NoHomeUp(ConnectionError):
    """No home of a multihomed service could be started; says why for each."""


def split_sam_addresses(value: str) -> list[str]:
    """``"host1:port1,host2:port2"`` -> the addresses; ValueError for an empty item."""
    addresses = [item.strip() for item in value.split(",")]
    if not all(addresses):
        raise ValueError(f"i2p endpoint: samaddr={value!r} is not a comma-separated list of host:port")
    return addresses


def _where(home: I2PServerEndpoint) -> str:
    """The bridge a home listens through, as one comparable string."""
    return home.bridge_config.identity


def check_homes(homes: Sequence[I2PServerEndpoint]) -> None:
    """Raise ValueError unless *homes* can be one service: two or more, one key file,
    the same settings and I2P port, each on a bridge of its own."""
    if len(homes) < 2:
        raise ValueError(f"a multihomed service needs two homes or more (bridges of different routers), "
                         f"not {len(homes)}; for one, use an I2PServerEndpoint")
    first = homes[0]
    if any(getattr(home, "launch", None) for home in homes):
        raise ValueError("a multihomed service's homes name their bridges: launch= is one router per process")
    keyfile = first.session_config.keyfile
    if not keyfile:
        raise ValueError("a multihomed service needs a key file: every home publishes the same destination")
    seen: dict[str, int] = {}
    for number, home in enumerate(homes, 1):
        spec = home.session_config
        if not spec.keyfile or os.path.realpath(spec.keyfile) != os.path.realpath(keyfile):
            raise ValueError(f"home {number} uses the key file {spec.keyfile!r}, home 1 {keyfile!r}: "
                             "the homes of a service share one destination, so one key file")
        different = [name for name in first.session_config.differences(spec) if name != "keyfile"]
        if different:
            raise ValueError(f"home {number} differs from home 1 in {', '.join(different)}: the homes of a "
                             "service publish one destination and must share its signature type and options")
        if home.port != first.port:
            raise ValueError(f"home {number} listens on I2P port {home.port}, home 1 on {first.port}")
        where = _where(home)
        if where in seen:
            raise ValueError(f"homes {seen[where]} and {number} are both on the SAM bridge at {where}: each "
                             "home must be on a router of its own (one destination is one session per router)")
        seen[where] = number


@implementer(IStreamServerEndpoint)
class MultihomedServerEndpoint:
    """Listens on one destination through several bridges (its homes).

    :param reactor: the reactor (for the back-off timers).
    :param homes: one :class:`~txi2p.endpoints.I2PServerEndpoint` per
        bridge, each on a different router, all with the same key file,
        settings and I2P port (checked here: ValueError says what differs).
    :param progress: called with a sentence whenever the number of homes up changes.

    ``listen()`` starts every home (the first alone while the key file does
    not exist yet, so it is written once), fires with a
    :class:`MultihomedPort` once each home was tried and one at least is
    up, and fails with :class:`NoHomeUp` if none is.
    """

    def __init__(self, reactor: Any, homes: Sequence[I2PServerEndpoint], *,
                 progress: Progress | None = None) -> None:
        check_homes(homes)
        self._reactor = reactor
        self.homes = tuple(homes)
        #: called with a sentence whenever the number of homes up changes (may be set after construction)
        self.progress = progress

    def __repr__(self) -> str:
        return f"<MultihomedServerEndpoint {len(self.homes)} homes: {', '.join(map(_where, self.homes))}>"

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        """Start every home; fires with the port once one at least listens."""
        port = MultihomedPort(self._reactor, self.homes, protocolFactory, self.progress)
        return Deferred.fromCoroutine(port._start())


class _Home:
    """One home of a :class:`MultihomedPort`: its endpoint, its listener now, its next try."""

    def __init__(self, number: int, endpoint: I2PServerEndpoint) -> None:
        self.number = number
        self.endpoint = endpoint
        self.where = _where(endpoint)
        self.inner: I2PListeningPort | None = None
        self.retry: Any = None
        self.backoff = 1.0
        self.error: str | None = None


@implementer(IListeningPort)
class MultihomedPort:
    """The port of a multihomed service: up while one home at least is.

    :ivar homes_up: how many homes listen now.
    :ivar recoveries: how many times a lost home rejoined.
    """

    def __init__(self, reactor: Any, homes: Sequence[I2PServerEndpoint], factory: IProtocolFactory,
                 progress: Progress | None = None) -> None:
        self._reactor = reactor
        self.factory = factory
        self._homes = [_Home(number, endpoint) for number, endpoint in enumerate(homes, 1)]
        self._progress = progress
        self._host: Any = None
        self.listening = True
        self.recoveries = 0
        self._lost: set[int] = set()  # homes that listened, then were lost

    @property
    def homes_up(self) -> int:
        return sum(home.inner is not None for home in self._homes)

    def _say(self, text: str, level: str = "info") -> None:
        line = f"txi2p: {self._name()}: {text}; {self.homes_up} of {len(self._homes)} homes up"
        getattr(_log, level)("{line}", line=line)
        if self._progress is not None:
            self._progress(line)

    def _name(self) -> str:
        return self._host.host if self._host is not None else "multihomed service"

    async def _start(self) -> MultihomedPort:
        keyfile = self._homes[0].endpoint.session_config.keyfile
        rest = list(self._homes)
        # A new key file is written by the first home up; the others wait for it.
        while rest and keyfile and not os.path.exists(keyfile):
            await self._try(rest.pop(0))
        await DeferredList([Deferred.fromCoroutine(self._try(home)) for home in rest])
        if self.homes_up == 0:
            self.listening = False
            for home in self._homes:
                self._cancel(home)
            raise NoHomeUp("no home of the multihomed service could start: " + "; ".join(
                f"home {home.number} ({home.where}): {home.error}" for home in self._homes))
        return self

    async def _try(self, home: _Home) -> None:
        """Start *home*'s listener once; on failure, the next try is scheduled."""
        try:
            inner = await home.endpoint._listen_once(self.factory)
        except Exception as e:
            home.error = Failure(e).getErrorMessage()
            if self.listening:
                self._say(f"home {home.number} ({home.where}) did not start ({home.error}); "
                          f"next try in {home.backoff:g} s", "warn")
                self._schedule(home)
            return
        if not self.listening:
            inner.stopListening()
            return
        rejoined = home.number in self._lost
        late = home.error is not None
        home.inner, home.error, home.backoff = inner, None, 1.0
        if self._host is None:
            self._host = inner.getHost()
        if rejoined:
            self.recoveries += 1
            self._lost.discard(home.number)
        state = "rejoined" if rejoined else ("listening at last" if late else "listening")
        self._say(f"home {home.number} ({home.where}) {state}")
        inner.session.closed.addCallback(lambda _: self._ended(home, inner))

    def _ended(self, home: _Home, inner: I2PListeningPort) -> None:
        if not self.listening or home.inner is not inner:
            return
        session = inner.session
        inner.stopListening()
        home.inner = None
        if session.closed_on_purpose:  # closed at reactor shutdown or by hand: not retried
            self._say(f"home {home.number} ({home.where}) stopped: its session was closed")
            return
        reason = session.close_reason
        self._lost.add(home.number)
        self._say(f"home {home.number} ({home.where}) lost ({reason.getErrorMessage() if reason else 'closed'}); "
                  f"starting it again in {home.backoff:g} s", "warn")
        self._schedule(home)

    def _schedule(self, home: _Home) -> None:
        home.retry = self._reactor.callLater(home.backoff, self._retry, home)
        # the listening ports' back-off, and its cap
        home.backoff = min(home.backoff * 2, I2PServerPort.MAX_BACKOFF)

    def _retry(self, home: _Home) -> None:
        home.retry = None
        if self.listening:
            Deferred.fromCoroutine(self._try(home))

    def _cancel(self, home: _Home) -> None:
        if home.retry is not None and home.retry.active():
            home.retry.cancel()
        home.retry = None

    def startListening(self) -> None:
        """Already listening once made; kept for ``IListeningPort``."""

    def stopListening(self) -> Deferred[None]:
        """Stop every home; their sessions are released (closed if unused)."""
        self.listening = False
        stopping = []
        for home in self._homes:
            self._cancel(home)
            inner, home.inner = home.inner, None
            if inner is not None:
                stopping.append(maybeDeferred(inner.stopListening))
        if not stopping:
            return succeed(None)
        return DeferredList(stopping).addCallback(lambda _: None)

    loseConnection = stopListening

    def getHost(self) -> Any:
        """The service's one I2P address (every home's)."""
        return self._host

    @property
    def sessions(self) -> list[Any]:
        """The sessions of the homes up now."""
        return [home.inner.session for home in self._homes if home.inner is not None]

    def __repr__(self) -> str:
        return f"<MultihomedPort {self._name()} {self.homes_up} of {len(self._homes)} homes up>"


def multihomed_server_endpoint(i2ps: Sequence[I2P], port: int | None = None, *, key_file: str,
                               progress: Progress | None = None,
                               **settings: Any) -> MultihomedServerEndpoint:
    """One service listening through each of *i2ps* (:class:`~txi2p.i2p.I2P` objects, one per router).

    *settings* are :meth:`~txi2p.i2p.I2P.server_endpoint`'s (``session_config=``,
    ``private=``, ``pending=``...), the same for every home.
    """
    if not i2ps:
        raise ValueError("a multihomed service needs two homes or more, not 0")
    session_config = settings.pop("session_config", None)
    session_config = (SessionConfig.build(keyfile=key_file) if session_config is None
                      else replace(session_config, keyfile=key_file))
    return MultihomedServerEndpoint(i2ps[0].reactor,
                                    [i2p.server_endpoint(port, session_config=session_config, **settings)
                                     for i2p in i2ps],
                                    progress=progress)
