"""Named sessions, shared by every endpoint that names them.

The classic ``i2p.socket`` promise: "if the name has not yet been used, an
I2P Destination will be created for it, otherwise the existing Destination
will be re-used".  A :class:`SessionRegistry` keeps one SAM session per
(SAM bridge, name), and one per key file: endpoints that name the same
session, or the same key file, share one destination, and calls made while
it is still starting all wait for the same start.  Asking for a name again with different settings raises
:class:`~txi2p.errors.SessionConflict` instead of silently ignoring them.

Endpoints with no session name share one transient session per bridge and
set of settings (so a client does not pay a new 20 s session per
connection).

A registry also keeps the router launched for this process by endpoints
that ask for one (``i2p:...:launch=true``): :meth:`SessionRegistry.launched_router`
starts it on first use and hands the same one to every later caller.

A registry belongs to a reactor (:meth:`SessionRegistry.for_reactor` keeps
it on the reactor object, never in a module global) or is made and passed
in by the caller.  It closes its sessions when the reactor shuts down.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.logger import Logger

from txi2p.address import PrivateKey, read_key_file, write_key_file
from txi2p.bridge import SAMBridge
from txi2p.config import BridgeConfig, Progress, SessionConfig
from txi2p.errors import SessionConflict
from txi2p.protocol import Timeouts
from txi2p.session import SAMSession

if TYPE_CHECKING:
    from txi2p.i2p import I2P

__all__ = ["SessionRegistry", "StartSession"]

_log = Logger()

#: Starts one session: ``(bridge, nickname, key or None, session_config, progress)``
#: -> the session.  Datagram sessions use their own (they open a UDP port
#: first); the default is :meth:`SAMBridge.create_session`.
StartSession = Callable[[SAMBridge, str, PrivateKey | None, SessionConfig, Progress], Awaitable[SAMSession]]

_REGISTRY_ATTRIBUTE = "_txi2p_session_registry"


@dataclass(eq=False)
class _Entry:
    session_config: SessionConfig
    bridge: SAMBridge
    nickname: str
    session: SAMSession | None = None
    waiters: list[Deferred[SAMSession]] | None = None
    users: int = 0


def _create_session(bridge: SAMBridge, nickname: str, key: PrivateKey | None, session_config: SessionConfig,
                    progress: Progress) -> Awaitable[SAMSession]:
    return bridge.create_session(session_config.style, nickname, key, options=session_config.option_map,
                                 signature_type=session_config.signature_type, progress=progress)


def _alive(i2p: I2P) -> bool:
    """False once a launched router has stopped (an adopted connected one stays alive)."""
    return i2p.router is None or i2p.router.running


class SessionRegistry:
    """One SAM session per (bridge, name), shared by the endpoints using it.

    :param reactor: the reactor the sessions live on.
    :param timeouts: command timeouts for the bridges it makes.
    """

    def __init__(self, reactor: Any, *, timeouts: Timeouts | None = None) -> None:
        self.reactor = reactor
        self.timeouts = timeouts
        self._bridges: dict[str, SAMBridge] = {}
        self._entries: dict[tuple[str, Any], _Entry] = {}
        #: the router launched for (or adopted by) this process, its data directory (None: temporary)
        self._router: I2P | None = None
        self._router_directory: str | None = None
        self._router_waiters: list[Deferred[I2P]] | None = None
        #: keyword arguments :meth:`launched_router` gives :func:`txi2p.launch`
        self.launch_options: dict[str, Any] = {}
        add_trigger = getattr(reactor, "addSystemEventTrigger", None)
        if add_trigger is not None:
            add_trigger("before", "shutdown", self.close_all)

    @classmethod
    def for_reactor(cls, reactor: Any) -> SessionRegistry:
        """The registry kept on *reactor* (made on first use)."""
        registry = getattr(reactor, _REGISTRY_ATTRIBUTE, None)
        if registry is None:
            registry = cls(reactor)
            setattr(reactor, _REGISTRY_ATTRIBUTE, registry)
        return registry

    def bridge(self, address: str | BridgeConfig | None = None, *,
               endpoint: IStreamClientEndpoint | None = None,
               user: str | None = None, password: str | None = None,
               allow_remote: bool = False) -> SAMBridge:
        """The shared :class:`SAMBridge` for a :class:`~txi2p.config.BridgeConfig`
        (or for *address*/*endpoint* and the other settings one by one).

        Bridges are shared by where they are.  A config with credentials
        (or timeouts) for a bridge already in use with other ones (or with
        none) raises :class:`~txi2p.errors.SessionConflict` rather than
        being ignored; a config without them uses the bridge as it is.
        """
        if isinstance(address, BridgeConfig):
            bridge_config = address
            if bridge_config.launch is not None:
                raise ValueError("a BridgeConfig with launch= names the router launched for this process, "
                                 "which only the stream endpoints start; use launched_router() for its bridge")
        else:
            bridge_config = BridgeConfig(address, endpoint, allow_remote, user, password)
        key = bridge_config.where
        bridge = self._bridges.get(key)
        if (bridge is not None and bridge_config.has_credentials
                and (bridge.bridge_config.user, bridge.bridge_config.password)
                != (bridge_config.user, bridge_config.password)):
            raise SessionConflict(
                f"the SAM bridge at {key} is already in use with other credentials (user and "
                f"password); use the same ones everywhere in this process")
        if bridge is not None and bridge_config.timeouts is not None and bridge_config.timeouts != bridge.timeouts:
            raise SessionConflict(
                f"the SAM bridge at {key} is already in use with other timeouts ({bridge.timeouts}); "
                f"use the same ones everywhere in this process, or none after the first")
        if bridge is None:
            bridge = SAMBridge(self.reactor, bridge_config=bridge_config.with_defaults(self.timeouts))
            self._bridges[key] = bridge
        return bridge

    @property
    def sessions(self) -> list[SAMSession]:
        """The sessions open now."""
        return [e.session for e in self._entries.values() if e.session is not None and e.session.is_open]

    def adopt(self, session: SAMSession) -> None:
        """Make an existing session available to endpoints by its nickname.

        Endpoints then use it when they name it with the same SAM address
        and settings.  An adopted session is never closed by the registry
        except at reactor shutdown.
        """
        session_config = SessionConfig.make(session.nickname, None, session.style, session.options)
        key: tuple[str, Any] = (session.bridge.sam_address, session.nickname)
        if key in self._entries:
            raise SessionConflict(f"session {session.nickname!r} is already registered")
        self._bridges.setdefault(session.bridge.sam_address, session.bridge)
        entry = self._entries[key] = _Entry(session_config, session.bridge, session.nickname, session, users=1)
        session.closed.addCallback(lambda _: self._ended(key, entry))

    @property
    def router(self) -> I2P | None:
        """The router launched for (or adopted by) this process, once ready."""
        return self._router

    def adopt_router(self, i2p: I2P, data_directory: str | os.PathLike[str] | None = None) -> None:
        """Make *i2p* (from :func:`txi2p.launch` or :func:`txi2p.connect`) the
        router every endpoint asking for a launched one uses.

        For a router started with settings an endpoint string cannot give
        (``router_options``, ``reseed_file``).  Refused while another one is
        in use or starting.
        """
        if self._router_waiters is not None or (self._router is not None and _alive(self._router)):
            raise SessionConflict("this process already has a launched router; quit() it before adopting another")
        self._router = i2p
        self._router_directory = None if data_directory is None else os.path.realpath(data_directory)

    async def launched_router(self, data_directory: str | os.PathLike[str] | None = None,
                              progress: Progress | None = None) -> I2P:
        """The router launched for this process, started (by :func:`txi2p.launch`,
        with :attr:`launch_options`) on the first call; later calls share it.

        *data_directory* None takes whichever router there is (or launches
        one in a temporary directory); a directory other than the shared
        router's raises :class:`~txi2p.errors.SessionConflict`.
        """
        wanted = None if data_directory is None else os.path.realpath(data_directory)
        if self._router is not None and not _alive(self._router):
            self._router = self._router_directory = None  # it was quit: launch a new one
        if (wanted is not None and (self._router is not None or self._router_waiters is not None)
                and wanted != self._router_directory):
            raise SessionConflict(
                f"this process already has a launched router (data directory "
                f"{self._router_directory or 'temporary'}), not one in {wanted}: one launched router "
                f"per process; give every endpoint the same launch= value (or launch=true)")
        if self._router is not None:
            return self._router
        if self._router_waiters is not None:
            waiter: Deferred[I2P] = Deferred()
            self._router_waiters.append(waiter)
            return await waiter
        from txi2p.launcher import launch  # launcher uses this module

        def updates(percent: int, tag: str, summary: str) -> None:
            if progress is not None:
                progress(f"launching i2pd: {percent}% {summary}")

        _log.info("txi2p: launching an i2pd router for this process (data directory {where})",
                  where=wanted or "temporary")
        if progress is not None:
            progress(f"launching an i2pd router for this process (data directory {wanted or 'temporary'})")
        self._router_waiters, self._router_directory = [], wanted
        try:
            i2p = await launch(self.reactor, data_directory=wanted, progress_updates=updates,
                               **self.launch_options)
        except Exception as e:
            waiters, self._router_waiters, self._router_directory = self._router_waiters, None, None
            for w in waiters:
                w.errback(e)
            raise
        waiters, self._router_waiters, self._router = self._router_waiters, None, i2p
        _log.info("txi2p: the launched i2pd router is ready, SAM at {address}", address=i2p.sam_address)
        for w in waiters:
            w.callback(i2p)
        return i2p

    async def acquire(self, bridge: SAMBridge, session_config: SessionConfig,
                      progress: Progress | None = None, *,
                      start: StartSession | None = None) -> SAMSession:
        """The session for *session_config* on *bridge*, created (by *start*) if needed.

        Each call counts as one user; give it back with :meth:`release`.
        """
        key: tuple[str, Any] = (bridge.sam_address, session_config.nickname if session_config.nickname else ("transient", session_config))
        entry = self._entries.get(key)
        if entry is None and session_config.keyfile:
            key, entry = self._same_destination(bridge, session_config, key)
        elif entry is not None and session_config.nickname:
            different = entry.session_config.differences(session_config)
            if different:
                raise SessionConflict(
                    f"session {session_config.nickname!r} on the SAM bridge at {bridge.sam_address} is already "
                    f"in use with other {', '.join(different)}; use another session name, or the "
                    f"same settings")
        if entry is None:
            nickname = session_config.nickname or f"txi2p-{secrets.token_hex(5)}"
            entry = self._entries[key] = _Entry(session_config, bridge, nickname)
        if entry.session is not None and entry.session.is_open:
            entry.users += 1
            return entry.session
        if entry.waiters is not None:
            waiter: Deferred[SAMSession] = Deferred()
            entry.waiters.append(waiter)
            session = await waiter
            entry.users += 1
            return session
        entry.waiters = []
        try:
            session = await self._create(entry, progress, start)
        except Exception as e:
            waiters, entry.waiters = entry.waiters, None
            if self._entries.get(key) is entry:
                del self._entries[key]  # a failed start can be retried
            for w in waiters:
                w.errback(e)
            raise
        waiters, entry.waiters = entry.waiters, None
        entry.session = session
        entry.users += 1
        session.closed.addCallback(lambda _: self._ended(key, entry))
        for w in waiters:
            w.callback(session)
        return session

    def _same_destination(self, bridge: SAMBridge, session_config: SessionConfig,
                          key: tuple[str, Any]) -> tuple[tuple[str, Any], _Entry | None]:
        """The entry already holding *session_config*'s key file on *bridge*, if any.

        One destination is one session in a process (a second SESSION
        CREATE with the same key is refused by some routers and shares the
        destination half-way on others): a listener and a client endpoint
        naming the same key file share the session, whatever their names.
        """
        path = os.path.realpath(str(session_config.keyfile))
        for other_key, entry in self._entries.items():
            if (other_key[0] != bridge.sam_address or not entry.session_config.keyfile
                    or os.path.realpath(entry.session_config.keyfile) != path):
                continue
            different = [name for name in entry.session_config.differences(session_config) if name != "keyfile"]
            if different:
                raise SessionConflict(
                    f"the destination in {session_config.keyfile} already has a session ({entry.nickname!r}) on the SAM "
                    f"bridge at {bridge.sam_address} with other {', '.join(different)}; one destination is "
                    f"one session: give every endpoint using this key file the same settings")
            return other_key, entry
        return key, None

    async def _create(self, entry: _Entry, progress: Progress | None,
                      start: StartSession | None) -> SAMSession:
        session_config = entry.session_config

        def say(text: str) -> None:
            _log.info("txi2p: {text}", text=text)
            if progress is not None:
                progress(text)

        key = read_key_file(session_config.keyfile) if session_config.keyfile else None
        if session_config.keyfile and key is None:
            say(f"key file {session_config.keyfile} does not exist yet: a new destination will be written to it")
        session = await (start or _create_session)(entry.bridge, entry.nickname, key, session_config, say)
        if session_config.keyfile and key is None:
            write_key_file(session_config.keyfile, session.key)
            say(f"wrote the new destination's key to {session_config.keyfile} (mode 0600)")
        return session

    def _ended(self, key: tuple[str, Any], entry: _Entry) -> None:
        if self._entries.get(key) is entry:
            entry.session = None
            entry.users = 0
            del self._entries[key]

    def release(self, session: SAMSession) -> None:
        """One user of *session* is done; auto-close sessions close when none is left."""
        for key, entry in list(self._entries.items()):
            if entry.session is session:
                entry.users = max(0, entry.users - 1)
                if entry.users == 0 and entry.session_config.auto_close:
                    del self._entries[key]
                    session.close()
                return

    def close_all(self) -> Deferred[Any]:
        """Close every session (done at reactor shutdown)."""
        closing = [s.close() for s in self.sessions]
        self._entries.clear()
        return DeferredList(closing, consumeErrors=True)
