"""The bridge: one SAM bridge, how it is reached, and what it speaks.

:class:`SAMBridge` reaches one SAM bridge (its :class:`~txi2p.config.BridgeConfig`),
opens control connections that have completed HELLO, keeps the bridge's
:class:`~txi2p.sam.dialect.SAMDialect` (learned on first contact, corrected
by the lessons of :meth:`~txi2p.sam.dialect.SAMDialect.lesson`), probes
whether PING is safe, and remembers which destinations' sessions ended
moments ago.  Name lookups are :mod:`txi2p.naming`'s, session creation
:mod:`txi2p.creation`'s; the sessions themselves are :mod:`txi2p.session`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeoutError
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectError
from twisted.internet.interfaces import (
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.logger import Logger

from txi2p.address import (
    Destination,
    HostsFile,
    NameRecord,
    PrivateKey,
)
from txi2p.config import (
    DEFAULT_SIGNATURE_TYPE,
    BridgeConfig,
    parse_sam_address,
)
from txi2p.creation import create_session
from txi2p.errors import (
    CommandTimeout,
    I2PError,
    TxI2PError,
    UnsupportedByRouter,
)
from txi2p.naming import Ask, Names
from txi2p.protocol import (
    SAMControlProtocol,
    Timeouts,
)
from txi2p.refused import failure_class
from txi2p.sam import codec
from txi2p.sam.dialect import FAIL, MAX_VERSION, MIN_VERSION, RETRY, Attempt, Lesson, SAMDialect
from txi2p.session import SAMSession, pass_through_firing

__all__ = ["SAMBridge"]

_log = Logger()

#: The timeouts of a bridge whose config names none.
_DEFAULT_TIMEOUTS = Timeouts()


def _resolved(bridge_config: BridgeConfig) -> BridgeConfig:
    """*bridge_config* with the default address (``$I2P_SAM_ADDRESS`` now) written in."""
    if bridge_config.sam_address is None and bridge_config.endpoint is None:
        return replace(bridge_config, sam_address=bridge_config.where)
    return bridge_config


class _ControlFactory(Factory):
    noisy = False

    def __init__(self, make: Callable[[], Protocol]) -> None:
        self._make = make

    def buildProtocol(self, addr: object) -> Protocol:
        return self._make()


class SAMBridge:
    """One SAM bridge: where it is and how to talk to it.

    :param reactor: the reactor to use.
    :param sam_address: ``host:port`` of the bridge (default
        :func:`default_sam_address`).
    :param endpoint: instead of *sam_address*, any client endpoint that reaches
        the bridge.
    :param user: SAM 3.2 user name, if the bridge requires authentication.
    :param password: SAM 3.2 password.
    :param timeouts: command timeouts.
    :param hosts: a :class:`~txi2p.address.HostsFile` consulted before the
        router for host names (default: ``$I2P_HOSTS_TXT`` or
        ``~/.i2p/hosts.txt`` if present).
    :param allow_remote: accept a *sam_address* that is not on loopback (SAM
        is unencrypted; use *user*/*password* where the bridge supports them).
    :param bridge_config: instead of *sam_address*, *endpoint*, *user*, *password*,
        *timeouts* and *allow_remote*, all of them in one
        :class:`~txi2p.config.BridgeConfig`.

    :ivar bridge_config: how this bridge is reached (a :class:`~txi2p.config.BridgeConfig`).
    """

    def __init__(
        self,
        reactor: Any,
        sam_address: str | None = None,
        *,
        endpoint: IStreamClientEndpoint | None = None,
        user: str | None = None,
        password: str | None = None,
        timeouts: Timeouts | None = None,
        hosts: HostsFile | None = None,
        allow_remote: bool = False,
        bridge_config: BridgeConfig | None = None,
    ) -> None:
        #: How this bridge is reached (its default address resolved now).
        self.bridge_config = _resolved(BridgeConfig.given(
            bridge_config, sam_address, endpoint, allow_remote, user, password, timeouts))
        self.reactor = reactor
        self._endpoint = self.bridge_config.endpoint or self._tcp_endpoint()
        if hosts is None:
            for path in HostsFile.default_paths():
                if path.exists():
                    hosts = HostsFile(path)
                    break
        #: This bridge's name lookups and the names it remembers.
        self.names = Names(hosts, lambda: self.dialect.not_found_results if self.dialect else frozenset())
        #: What the bridge speaks, once a connection has negotiated it.
        self.dialect: SAMDialect | None = None
        #: When the last session of each destination (by b32) ended here.
        self._released: dict[str, float] = {}
        #: Sessions closing now (their streams first), by destination b32: fire when ended.
        self._closing: dict[str, Deferred[None]] = {}
        self._ping_probe: Deferred[None] | None = None
        #: What the router said when it refused a command for good, by command (for later local refusals).
        self._refused: dict[str, str] = {}

    def _tcp_endpoint(self) -> IStreamClientEndpoint:
        host, port = parse_sam_address(self.sam_address)  # (checked by the BridgeConfig)
        return TCP4ClientEndpoint(self.reactor, host, port, timeout=self.timeouts.connect)

    @property
    def sam_address(self) -> str:
        """The bridge's ``host:port`` (or its endpoint's ``repr``)."""
        return self.bridge_config.where

    @property
    def timeouts(self) -> Timeouts:
        """The command timeouts: the config's, or the defaults."""
        return self.bridge_config.timeouts or _DEFAULT_TIMEOUTS

    @property
    def is_local(self) -> bool:
        """The bridge is on this host (so the router can connect back to us)."""
        return self.bridge_config.is_local

    def __repr__(self) -> str:
        return f"<SAMBridge {self.sam_address}>"

    # ------------------------------------------------------------ connections

    def hello_command(self) -> codec.Command:
        """HELLO for a new connection: the version learned so far, or the widest range."""
        low, high = self.dialect.hello_versions() if self.dialect else (MIN_VERSION, MAX_VERSION)
        return codec.hello(low, high, self.bridge_config.user, self.bridge_config.password)

    async def _connect(self, protocol: Protocol) -> None:
        d = self._endpoint.connect(_ControlFactory(lambda: protocol))
        d.addTimeout(self.timeouts.connect, self.reactor)
        try:
            await d
        except (ConnectError, DeferredTimeoutError, OSError) as e:
            raise failure_class(e)(
                f"could not connect to the SAM bridge at {self.sam_address}: {str(e).rstrip('.')}. "
                "Is an I2P router running there with SAM enabled? "
                "(i2pd: [sam] enabled = true; set I2P_SAM_ADDRESS or pass the "
                "address to use another one)"
            ) from e

    async def control(self) -> SAMControlProtocol:
        """A new control connection that has completed HELLO.

        Its ``dialect`` is the bridge's: what was learned on earlier
        connections stays known (unless the router now negotiates another
        version).
        """
        proto = SAMControlProtocol(self.reactor, self.hello_command(), self.sam_address, self.timeouts)
        await self._connect(proto)
        negotiated = await proto.ready
        self.dialect = negotiated if self.dialect is None else self.dialect.negotiated(
            negotiated.version)
        proto.dialect = self.dialect
        return proto

    def learn(self, dialect: SAMDialect) -> None:
        """Keep what a router's answer taught (see :mod:`txi2p.sam.dialect`)."""
        _log.info("SAM bridge {address}: learned {dialect}", address=self.sam_address, dialect=dialect)
        self.dialect = dialect

    def check(self, attempt: Attempt) -> None:
        """Raise UnsupportedByRouter where the dialect knows the router refuses *attempt*."""
        refusal = None if self.dialect is None else self.dialect.forbids(
            attempt, self._refused.get(attempt.command, ""))
        if refusal is not None:
            raise UnsupportedByRouter(message=refusal, command=attempt.command, local=True)

    def lesson(self, attempt: Attempt, error: BaseException | None) -> Lesson:
        """What *error* to *attempt* teaches (:meth:`SAMDialect.lesson`), learned here."""
        dialect = self.dialect or SAMDialect()
        lesson = dialect.lesson(attempt, error)
        if lesson.dialect is not dialect:
            self.learn(lesson.dialect)
            if lesson.then == FAIL and isinstance(error, I2PError):
                self._refused[attempt.command] = error.message  # said again by later local refusals
        return lesson

    def react(self, attempt: Attempt, error: BaseException) -> Lesson:
        """Learn from *error* to *attempt*; a lesson to retry is returned, any other
        raised (UnsupportedByRouter to fail locally, else *error* itself)."""
        lesson = self.lesson(attempt, error)
        if lesson.then == RETRY:
            return lesson
        if lesson.then == FAIL:
            raise UnsupportedByRouter(getattr(error, "result", None), lesson.why,
                                      getattr(error, "command", "") or attempt.command, local=True) from error
        raise error

    @contextmanager
    def lessons(self, attempt: Attempt) -> Iterator[None]:
        """Errors of the commands in the block, learned from and reacted to (:meth:`react`)."""
        try:
            yield
        except (I2PError, CommandTimeout) as e:
            self.react(attempt, e)
            raise

    def released(self, destination: Destination) -> None:
        """A session of *destination* ended (see :meth:`_wait_for_release`)."""
        self._released[destination.b32] = self.reactor.seconds()

    def closing(self, destination: Destination, ended: Deferred[None]) -> None:
        """A session of *destination* is closing; *ended* fires once it has ended."""
        self._closing[destination.b32] = ended

        def done(result: object) -> object:
            if self._closing.get(destination.b32) is ended:
                del self._closing[destination.b32]
            return result

        ended.addBoth(done)

    async def _wait_for_release(self, destination: Destination, say: Callable[[str], None]) -> None:
        """Let the router drop a destination whose session ended moments ago.

        i2pd keeps an ended session's destination for 5 s and hands it to
        a new session created with the same key meanwhile, then deletes it
        under that session (i2pd 2.56 aborts with heap corruption).
        """
        closing = self._closing.get(destination.b32)
        if closing is not None:
            say(f"waiting for the previous session of {destination.b32} to close")
            previous: Deferred[None] = Deferred()
            closing.addBoth(pass_through_firing(previous))
            await previous
        ended = self._released.get(destination.b32)
        linger = (self.dialect or SAMDialect()).destination_release
        wait = 0.0 if ended is None else ended + linger - self.reactor.seconds()
        if wait > 0:
            say(f"waiting {wait:.1f} s for the router to let go of {destination.b32}, "
                "whose previous session ended moments ago")
            await deferLater(self.reactor, wait, lambda: None)

    async def ping_allowed(self) -> bool:
        """Whether PING may be sent on this bridge's control connections.

        Where the dialect does not know yet, probes once on a connection of
        its own (two PINGs; a router that closes the connection after a
        PONG fails the second) and remembers the answer; callers that ask
        meanwhile wait for the same probe.
        """
        if self.dialect is None or self.dialect.ping is None:
            if self._ping_probe is None:
                self._ping_probe = Deferred.fromCoroutine(self._probe_ping())
            done: Deferred[None] = Deferred()
            self._ping_probe.addBoth(pass_through_firing(done))
            await done
        return bool(self.dialect is not None and self.dialect.ping)

    async def _probe_ping(self) -> None:
        try:
            control = await self.control()
        except TxI2PError:
            self._ping_probe = None  # not reached: ask again next time
            return
        try:
            if self.dialect is None or self.dialect.ping is not None:
                return
            try:
                await control.ping("txi2p-probe-1")
                await control.ping("txi2p-probe-2")
            except (TxI2PError, CancelledError) as e:
                self.lesson(Attempt("PING"), e)
            else:
                self.lesson(Attempt("PING"), None)
        finally:
            control.close()

    async def _one_command(self, command: codec.Command, timeout: float | None = None) -> codec.Reply:
        control = await self.control()
        try:
            return await control.command(command, timeout)
        finally:
            control.close()

    # ------------------------------------------------------------ questions

    async def generate_destination(self, signature_type: int | str = DEFAULT_SIGNATURE_TYPE) -> PrivateKey:
        """A new destination and its private keys (``DEST GENERATE``)."""
        reply = await self._one_command(codec.dest_generate(signature_type))
        priv = reply.get("PRIV")
        if not priv:
            raise I2PError(message="DEST REPLY without PRIV", command="DEST GENERATE", local=True)
        return PrivateKey.from_base64(priv)

    async def lookup(self, name: str | Destination, session: SAMSession | None = None) -> Destination:
        """The full destination for a host name, ``.b32.i2p`` name or base64.

        Base64 destinations are parsed locally; host names are looked up in
        the hosts file first; the rest is asked of the router (on the
        session's control connection if given).  Results are cached.
        """
        return await self.names.lookup(name, self._asker(session), session is not None)

    async def lookup_record(self, name: str | Destination, session: SAMSession | None = None) -> NameRecord:
        """*name*'s destination and the options its lease set publishes
        (``NAMING LOOKUP ... OPTIONS=true``), always asked of the router.

        Routers that do not know ``OPTIONS`` (i2pd) answer as for a plain
        lookup: the record's options are then empty.
        """
        return await self.names.lookup_record(name, self._asker(session), session is not None)

    def _asker(self, session: SAMSession | None) -> Ask:
        """How to send a question: on *session*'s control connection, or on one of its own."""
        return self._one_command if session is None else session.control.command

    # ------------------------------------------------------------ sessions

    async def create_session(
        self,
        style: str = "STREAM",
        nickname: str | None = None,
        key: PrivateKey | None = None,
        *,
        options: Mapping[str, object] | None = None,
        signature_type: int | str = DEFAULT_SIGNATURE_TYPE,
        extra: Mapping[str, str | None] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> SAMSession:
        """Create a session (``SESSION CREATE``) and return it once it is up.

        :param style: STREAM, DATAGRAM, DATAGRAM2, DATAGRAM3, RAW or
            PRIMARY (sent as MASTER to routers that only know that
            spelling).  A router without DATAGRAM2/3 (older than SAM API
            0.9.66) refuses them: :class:`~txi2p.errors.UnsupportedByRouter`.
        :param nickname: the session ID (random if None).
        :param key: the destination's private key, or None for a new one.
        :param options: session (I2CP) options, sent as given; see
            :func:`~txi2p.config.session_options` for the defaults.
        :param extra: style-specific keys (PORT, HOST, FROM_PORT, ...).
        :param progress: called with a sentence as each step starts.
        """
        return await create_session(self, style, nickname, key, options=options,
                                    signature_type=signature_type, extra=extra, progress=progress)
