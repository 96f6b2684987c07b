"""SAM sessions: destinations that open and accept streams.

:class:`SAMBridge` knows how to reach one SAM bridge (address, optional
credentials, timeouts) and what it speaks (its :class:`SAMDialect`, learned
on first contact).  It creates :class:`SAMSession` objects and answers
session-less questions (name lookups, DEST GENERATE).

A :class:`SAMSession` is one destination on the router, held open by its
control connection: it connects streams to other destinations, accepts
streams, forwards them, looks up names, and for PRIMARY sessions adds
subsessions.  Closing the control connection ends the session.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal, overload

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeoutError
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.error import CannotListenError, ConnectError
from twisted.internet.interfaces import (
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from txi2p.address import (
    BLINDED_SIGNATURE_TYPES,
    Destination,
    HostsFile,
    I2PAddress,
    NameRecord,
    PrivateKey,
    b33_flags,
    is_b32_name,
    signature_type_code,
)
from txi2p.config import (
    DEFAULT_OPTIONS,
    DEFAULT_SAM_ADDRESS,
    DEFAULT_SIGNATURE_TYPE,
    LEASE_SET_ENC_TYPES,
    BridgeConfig,
    check_port,
    default_sam_address,
    enc_types,
    is_loopback,
    parse_sam_address,
    session_options,
)
from txi2p.errors import (
    ClientKeyRequired,
    CommandTimeout,
    I2PError,
    InvalidKey,
    NameNotFound,
    SAMError,
    SessionClosed,
    TxI2PError,
    UnsupportedByRouter,
)
from txi2p.listening import (
    FORWARD_PEER_LINE_TIMEOUT,
    AcceptSettle,
    ForwardGate,
    ForwardingPort,
    I2PListeningPort,
    _Acceptor,
    _Forwarder,
)
from txi2p.listening import LISTEN_LINGER_TIME as LISTEN_LINGER_TIME
from txi2p.private import ENCRYPTED_LEASE_SET, check_blindable
from txi2p.protocol import (
    SAMControlProtocol,
    SAMStreamProtocol,
    Timeouts,
    _abort_transport,
    close_after_flush,
)
from txi2p.refused import failure_class
from txi2p.sam import codec
from txi2p.sam.dialect import FAIL, MAX_VERSION, MIN_VERSION, RETRY, Attempt, Lesson, SAMDialect

__all__ = [
    "DEFAULT_OPTIONS",
    "DEFAULT_SAM_ADDRESS",
    "DEFAULT_SIGNATURE_TYPE",
    "LEASE_SET_ENC_TYPES",
    "ForwardingPort",
    "SAMBridge",
    "SAMSession",
    "SAMSubsession",
    "default_sam_address",
    "enc_types",
    "is_loopback",
    "own_address",
    "parse_sam_address",
    "session_options",
]

_log = Logger()

#: Names a bridge object remembers (the oldest is forgotten first).
MAX_CACHED_NAMES = 4096

#: A ``NAMING REPLY`` key that carries one of the lease set's options (``OPTIONS=true``).
_OPTION_PREFIX = "OPTION:"

def pass_through_firing(waiter: Deferred[None]) -> Callable[[Any], Any]:
    """A callback that fires *waiter* and passes its result on unchanged."""
    def callback(result: Any) -> Any:
        if not waiter.called:
            waiter.callback(None)
        return result
    return callback


def _local_destination(name: object) -> Destination | str:
    """*name* as a destination where it is one (a Destination, or base64
    parsed locally), else the name to look up; a bad value raises ValueError."""
    if isinstance(name, Destination):
        return name
    if not isinstance(name, str) or not name:
        raise ValueError(f"an I2P address must be a non-empty str, not {name!r}")
    if len(name) >= 516 and not name.endswith(".i2p"):
        return Destination.from_base64(name)
    return name


def own_address(destination: Destination, options: Mapping[str, str]) -> I2PAddress:
    """The address peers reach a session of *destination* and *options* by.

    Its :attr:`~txi2p.address.Destination.b32` name, or for a private
    service (``i2cp.leaseSetType=5``) its
    :meth:`~txi2p.address.Destination.b33` name, flagged as the options
    ask for a secret (``i2cp.leaseSetSecret``) or per-client keys
    (``i2cp.leaseSetAuthType`` 1 or 2).
    """
    if options.get("i2cp.leaseSetType") != ENCRYPTED_LEASE_SET:
        return I2PAddress(destination)
    return I2PAddress(destination, host=destination.b33(
        secret=bool(options.get("i2cp.leaseSetSecret")),
        client_auth=options.get("i2cp.leaseSetAuthType") in ("1", "2")))


class _ControlFactory(Factory):
    noisy = False

    def __init__(self, make: Callable[[], Protocol]) -> None:
        self._make = make

    def buildProtocol(self, addr: object) -> Protocol:
        return self._make()


class SAMBridge:
    """One SAM bridge: where it is and how to talk to it.

    :param reactor: the reactor to use.
    :param address: ``host:port`` of the bridge (default
        :func:`default_sam_address`).
    :param endpoint: instead of *address*, any client endpoint that reaches
        the bridge.
    :param user: SAM 3.2 user name, if the bridge requires authentication.
    :param password: SAM 3.2 password.
    :param timeouts: command timeouts.
    :param hosts: a :class:`~txi2p.address.HostsFile` consulted before the
        router for host names (default: ``$I2P_HOSTS_TXT`` or
        ``~/.i2p/hosts.txt`` if present).
    :param allow_remote: accept an *address* that is not on loopback (SAM
        is unencrypted; use *user*/*password* where the bridge supports them).
    :param config: instead of *address*, *endpoint*, *user*, *password*,
        *timeouts* and *allow_remote*, all of them in one
        :class:`~txi2p.config.BridgeConfig`.

    :ivar config: how this bridge is reached (a :class:`~txi2p.config.BridgeConfig`).
    """

    def __init__(
        self,
        reactor: Any,
        address: str | None = None,
        *,
        endpoint: IStreamClientEndpoint | None = None,
        user: str | None = None,
        password: str | None = None,
        timeouts: Timeouts | None = None,
        hosts: HostsFile | None = None,
        allow_remote: bool = False,
        config: BridgeConfig | None = None,
    ) -> None:
        self.config = config = BridgeConfig.given(config, address, endpoint, allow_remote, user, password,
                                                  timeouts)
        self.reactor = reactor
        self.timeouts = config.timeouts or Timeouts()
        self.address = config.where
        if config.endpoint is None:
            host, port = config.check_address(self.address)
            self.endpoint: IStreamClientEndpoint = TCP4ClientEndpoint(
                reactor, host, port, timeout=self.timeouts.connect)
        else:
            self.endpoint = config.endpoint
        self.user = config.user
        self.password = config.password
        if hosts is None:
            for path in HostsFile.default_paths():
                if path.exists():
                    hosts = HostsFile(path)
                    break
        self.hosts = hosts
        #: What the bridge speaks, once a connection has negotiated it.
        self.dialect: SAMDialect | None = None
        self._names: dict[str, Destination] = {}
        #: When the last session of each destination (by b32) ended here.
        self._released: dict[str, float] = {}
        #: Sessions closing now (their streams first), by destination b32: fire when ended.
        self._closing: dict[str, Deferred[None]] = {}
        self._ping_probe: Deferred[None] | None = None
        #: What the router said when it refused a command for good, by command (for later local refusals).
        self._refused: dict[str, str] = {}

    @property
    def is_local(self) -> bool:
        """The bridge is on this host (so the router can connect back to us)."""
        return self.config.is_local

    def __repr__(self) -> str:
        return f"<SAMBridge {self.address}>"

    # ------------------------------------------------------------ connections

    def hello_command(self) -> codec.Command:
        """HELLO for a new connection: the version learned so far, or the widest range."""
        low, high = self.dialect.hello_versions() if self.dialect else (MIN_VERSION, MAX_VERSION)
        return codec.hello(low, high, self.user, self.password)

    async def _connect(self, protocol: Protocol) -> None:
        d = self.endpoint.connect(_ControlFactory(lambda: protocol))
        d.addTimeout(self.timeouts.connect, self.reactor)
        try:
            await d
        except (ConnectError, DeferredTimeoutError, OSError) as e:
            raise failure_class(e)(
                f"could not connect to the SAM bridge at {self.address}: {e}. "
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
        proto = SAMControlProtocol(self.reactor, self.hello_command(), self.address, self.timeouts)
        await self._connect(proto)
        negotiated = await proto.ready
        self.dialect = negotiated if self.dialect is None else self.dialect.negotiated(
            negotiated.version)
        proto.dialect = self.dialect
        return proto

    def learn(self, dialect: SAMDialect) -> None:
        """Keep what a router's answer taught (see :mod:`txi2p.sam.dialect`)."""
        _log.info("SAM bridge {address}: learned {dialect}", address=self.address, dialect=dialect)
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
        parsed = _local_destination(name)
        if isinstance(parsed, Destination):
            return parsed
        key = parsed.lower()
        cached = self._names.get(key)
        if cached is not None:
            return cached
        if self.hosts is not None and not is_b32_name(key):
            found = self.hosts.lookup(key)
            if found is not None:
                self._remember(key, found)
                return found
        dest, _ = await self._ask_router(parsed, session, options=False)
        flags = b33_flags(key)
        if parsed != "ME" and not (flags is not None and (flags.secret or flags.client_auth)):
            # (a service that lets in only some clients is found again by
            # each session: another session here may hold no key for it)
            self._remember(key, dest)
        return dest

    def _remember(self, key: str, dest: Destination) -> None:
        """Cache a name's destination, forgetting the oldest beyond :data:`MAX_CACHED_NAMES`."""
        self._names[key] = dest
        while len(self._names) > MAX_CACHED_NAMES:
            del self._names[next(iter(self._names))]

    async def lookup_record(self, name: str | Destination, session: SAMSession | None = None) -> NameRecord:
        """*name*'s destination and the options its lease set publishes
        (``NAMING LOOKUP ... OPTIONS=true``), always asked of the router.

        Routers that do not know ``OPTIONS`` (i2pd) answer as for a plain
        lookup: the record's options are then empty.
        """
        parsed = _local_destination(name)
        asked = parsed.b32 if isinstance(parsed, Destination) else parsed
        dest, reply = await self._ask_router(asked, session, options=True)
        options = {k[len(_OPTION_PREFIX):]: v for k, v in reply.fields.items() if k.startswith(_OPTION_PREFIX)}
        return NameRecord(asked, dest, options)

    async def _ask_router(self, name: str, session: SAMSession | None,
                          options: bool) -> tuple[Destination, codec.Reply]:
        """``NAMING LOOKUP`` *name*: the destination the router answers,
        checked against a ``.b32.i2p`` name, and the whole reply."""
        if name == "ME" and session is None:
            # Java I2P closes a session-less connection on it; i2pd answers
            # with its own shared destination: neither is a session's.
            raise ValueError('"ME" names a session\'s own destination: look it up on the session')
        key = name.lower()
        command = codec.naming_lookup(name, options=options)
        try:
            if session is not None:
                reply = await session.control.command(command)
            else:
                reply = await self._one_command(command)
        except SAMError as e:
            dialect = self.dialect
            if (dialect is not None and e.result in dialect.not_found_results
                    and key.endswith(".i2p") and not isinstance(e, NameNotFound)):
                raise NameNotFound(e.result, e.message, e.command, name=name) from e
            raise
        value = reply.get("VALUE")
        if not value:
            raise InvalidKey(message=f"no VALUE for {name!r}", command="NAMING LOOKUP", local=True)
        dest = Destination.from_base64(value)
        flags = b33_flags(key)
        if flags is not None and dest.signature_type in BLINDED_SIGNATURE_TYPES:
            answered = dest.b33(secret=flags.secret, client_auth=flags.client_auth)
        else:
            answered = dest.b32
        if is_b32_name(key) and answered != key:
            raise InvalidKey(message=f"the router answered {name} with {answered}",
                             command="NAMING LOOKUP", local=True)
        return dest, reply

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
            :func:`session_options` for the defaults.
        :param extra: style-specific keys (PORT, HOST, FROM_PORT, ...).
        :param progress: called with a sentence as each step starts.
        """
        say = progress or (lambda text: None)
        nickname = nickname or f"txi2p-{secrets.token_hex(6)}"
        codec.check_token("session name", nickname)
        styles = ("STREAM", *codec.PACKET_STYLES, "PRIMARY")
        if style not in styles:
            raise ValueError(f"style must be one of {', '.join(styles)}, not {style!r}")
        opts = session_options(options)
        if opts.get("i2cp.leaseSetType") == ENCRYPTED_LEASE_SET:  # refused before the router sees it
            check_blindable(key.destination.signature_type if key is not None
                            else signature_type_code(signature_type))
        if key is not None:
            await self._wait_for_release(key.destination, say)
        say(f"connecting to the SAM bridge at {self.address}")
        retry: _TryAgain | None = None
        for _ in range(_SESSION_CREATE_TRIES):
            control = await self.control()
            try:
                reply = await self._session_create(control, style, nickname, key, opts, signature_type,
                                                   extra, say)
                private = _created_key(reply, key)
            except BaseException as e:
                control.close()  # a session not made: its control connection goes too
                if not isinstance(e, _TryAgain):
                    raise
                retry, nickname = e, e.nickname
                continue
            break
        else:
            assert retry is not None
            raise I2PError(
                message=f"SESSION CREATE failed {_SESSION_CREATE_TRIES} times at the SAM bridge at "
                f"{self.address}, each time teaching txi2p something new (last: {retry.__cause__}); "
                "not trying again", command="SESSION CREATE", local=True) from retry.__cause__
        session = SAMSession(self, control, nickname, style, private, opts)
        say(f"session {nickname!r} is up: {session.b32}")
        _log.info("SAM session {nickname} ({style}) up at {address}: {b32}",
                  nickname=nickname, style=style, address=self.address, b32=session.b32)
        if self.timeouts.keepalive:
            probe = Deferred.fromCoroutine(self.ping_allowed())
            probe.addCallback(lambda allowed: control.start_keepalive() if allowed else None)
            probe.addErrback(lambda f: f.trap(TxI2PError, CancelledError))
        return session

    async def _session_create(self, control: SAMControlProtocol, style: str, nickname: str,
                              key: PrivateKey | None, opts: dict[str, str], signature_type: int | str,
                              extra: Mapping[str, str | None] | None,
                              say: Callable[[str], None]) -> codec.Reply:
        """Send one SESSION CREATE on *control*: its reply.

        What the dialect knows the router refuses fails here; a refusal
        that teaches the bridge something to retry with (see
        :meth:`SAMDialect.lesson <txi2p.sam.dialect.SAMDialect.lesson>`)
        raises ``_TryAgain``; the caller closes *control*.
        """
        assert self.dialect is not None
        wire_style, keys = self.dialect.session_create_keys(style, extra or {})
        attempt = Attempt("SESSION CREATE", style, wire_style, nickname, self.address,
                          opts.get("i2cp.leaseSetEncType", ""),
                          unforwarded=style in codec.PACKET_STYLES and "PORT" not in keys)
        self.check(attempt)
        command = codec.session_create(
            wire_style, nickname, key.base64 if key else "TRANSIENT",
            signature_type=None if key else signature_type,
            options=opts, extra=keys.items(),
        )
        say(f"waiting for the router to build tunnels for session {nickname!r} "
            f"(i2pd answers after its 20 s readiness check; Java I2P sooner)")
        try:
            return await control.command(command, self.timeouts.session_create)
        except (I2PError, CommandTimeout) as e:
            lesson = self.react(attempt, e)
            say(lesson.why)
            raise _TryAgain(nickname + lesson.nickname_suffix) from e


#: SESSION CREATE tries: the first, and one for each thing a refusal can
#: teach (MASTER for PRIMARY, PORT=0 for an unforwarded DATAGRAM/RAW session).
_SESSION_CREATE_TRIES = 3


class _TryAgain(Exception):
    """A refused SESSION CREATE taught the bridge something: create it again as *nickname*."""

    def __init__(self, nickname: str) -> None:
        super().__init__(nickname)
        self.nickname = nickname


def _created_key(reply: codec.Reply, key: PrivateKey | None) -> PrivateKey:
    """The session's private key from a SESSION STATUS reply (checked against *key*)."""
    blob = reply.get("DESTINATION")
    private = PrivateKey.from_base64(blob) if blob else key
    if private is None:
        raise I2PError(message="SESSION STATUS without DESTINATION", command="SESSION CREATE", local=True)
    if key is not None and private.destination != key.destination:
        raise I2PError(message="the router created a different destination than the key given",
                       command="SESSION CREATE", local=True)
    return private


class SAMSession:
    """One destination on the router, held by its control connection.

    Made by :meth:`SAMBridge.create_session`.

    :ivar nickname: the session ID on the router.
    :ivar style: STREAM, DATAGRAM, RAW or PRIMARY.
    :ivar key: the :class:`~txi2p.address.PrivateKey` (never logged).
    :ivar address: our :class:`~txi2p.address.I2PAddress`.
    :ivar closed: fires (with None) when the session has ended, whatever
        the reason; ``close_reason`` then holds it.
    :ivar closed_on_purpose: :meth:`close` was called (by its owner, or by
        the registry at reactor shutdown), as opposed to the router or the
        connection ending it.
    """

    def __init__(self, bridge: SAMBridge, control: SAMControlProtocol, nickname: str,
                 style: str, key: PrivateKey, options: Mapping[str, str],
                 parent: SAMSession | None = None) -> None:
        self.bridge = bridge
        self.control = control
        self.nickname = nickname
        self.style = style
        self.key = key
        self.options = dict(options)
        self.address = own_address(key.destination, self.options)
        self.closed: Deferred[None] = Deferred()
        self.close_reason: Failure | None = None
        self.closed_on_purpose = False
        #: The :class:`~txi2p.datagram.I2PDatagramPort` of a DATAGRAM or RAW session.
        self.packet_port: Any = None
        #: Data connections not established yet (handshaking, or an ACCEPT waiting).
        self._streams: set[SAMStreamProtocol] = set()
        #: Established streams (connected, accepted, forwarded) -> fires when the connection is lost.
        self._open_streams: dict[SAMStreamProtocol, Deferred[None]] = {}
        self._subsessions: set[SAMSubsession] = set()
        self._closing: Deferred[None] | None = None
        self._acceptor: _Acceptor | None = None
        self._accept_settle = AcceptSettle(bridge.reactor)
        #: The PRIMARY session of a subsession, else None.
        self.parent = parent
        if parent is None:
            control.on_close = self._control_lost
        else:
            parent.closed.addCallback(lambda _: self._control_lost(parent.close_reason or Failure(
                SessionClosed("the primary session ended"))))

    def __repr__(self) -> str:
        return f"<SAMSession {self.nickname} {self.style} {self.b32}>"

    @property
    def destination(self) -> Destination:
        return self.key.destination

    @property
    def b32(self) -> str:
        return self.key.destination.b32

    @property
    def is_open(self) -> bool:
        """Neither ended nor closing."""
        return self.close_reason is None and self._closing is None

    def _control_lost(self, reason: Failure) -> None:
        self.close_reason = reason
        if self.parent is None:
            self.bridge.released(self.destination)
        _log.info("SAM session {nickname} ended: {reason}", nickname=self.nickname,
                  reason=reason.getErrorMessage())
        if self._acceptor is not None:
            self._acceptor.stop()
        for stream in list(self._streams):
            if not stream.established.called:
                stream.established.cancel()
        self.closed.callback(None)

    def _check_open(self) -> None:
        if self.close_reason is not None:
            raise SessionClosed(
                f"session {self.nickname!r} has ended: {self.close_reason.getErrorMessage()}"
            )
        if self._closing is not None:
            raise SessionClosed(f"session {self.nickname!r} is closing")

    def _check_streams_allowed(self) -> None:
        self.bridge.check(Attempt("STREAM", self.style))

    def _stream_lessons(self) -> AbstractContextManager[None]:
        """A stream command's refusal, learned from (see :meth:`SAMBridge.lessons`)."""
        return self.bridge.lessons(Attempt("STREAM", self.style))

    @overload
    async def lookup(self, name: str | Destination, options: Literal[False] = False) -> Destination: ...

    @overload
    async def lookup(self, name: str | Destination, options: Literal[True]) -> NameRecord: ...

    async def lookup(self, name: str | Destination, options: bool = False) -> Destination | NameRecord:
        """Resolve *name* through this session (``NAMING LOOKUP``; ``"ME"`` is us).

        With *options*, a :class:`~txi2p.address.NameRecord`: the
        destination and the options its lease set publishes (service
        records; SAM API 0.9.66, Java I2P; i2pd ignores the request, so its
        records have none).

        A private service's name that says it needs a client key, looked up
        by a session that holds none, fails saying so.
        """
        self._check_open()
        try:
            if options:
                return await self.bridge.lookup_record(name, self)
            return await self.bridge.lookup(name, self)
        except NameNotFound as e:
            flags = b33_flags(name) if isinstance(name, str) else None
            if flags is None or not (flags.client_auth or flags.secret):
                raise
            option = "i2cp.leaseSetPrivKey" if flags.client_auth else "i2cp.leaseSetSecret"
            held = (f"its {option} is not one the service accepts, or the router does not use an "
                    f"{option} given over SAM (Java I2P 2.7.0 does not; see docs/routers.rst)"
                    if option in self.options else f"it has no {option}")
            raise ClientKeyRequired(
                e.result, f"session {self.nickname!r}: {held}; router: {e.message or e.result}",
                e.command, name=e.name or str(name), local=True) from e

    def _stream(self, command: codec.Command, factory: IProtocolFactory,
                peer: I2PAddress | None, timeout: float,
                route: Callable[[int | None], IProtocolFactory | None] | None = None,
                on_lost: Callable[[Failure], None] | None = None) -> SAMStreamProtocol:
        proto = self._tracked(lambda lost: SAMStreamProtocol(
            self.bridge.reactor, self.bridge.hello_command(), command, factory,
            self.address, peer, timeout, self.bridge.address, route, lost), on_lost)
        self._streams.add(proto)
        proto.established.addBoth(self._stream_done, proto)
        return proto

    def _tracked(self, make: Callable[[Callable[[Failure], None]], SAMStreamProtocol],
                 on_lost: Callable[[Failure], None] | None) -> SAMStreamProtocol:
        """A data connection from *make*, kept in ``_open_streams`` from established to lost.

        *make* gets the ``on_lost`` to build it with (the caller's
        *on_lost*, called after the session has forgotten the stream).
        """
        lost_d: Deferred[None] = Deferred()

        def lost(reason: Failure) -> None:
            self._open_streams.pop(proto, None)
            if not lost_d.called:
                lost_d.callback(None)
            if on_lost is not None:
                on_lost(reason)

        def established(user: object) -> object:
            if user is not None and not lost_d.called:  # (a FORWARD's own connection has no user)
                self._open_streams[proto] = lost_d
            return user

        proto = make(lost)
        proto.established.addCallback(established)
        return proto

    def _stream_done(self, result: object, proto: SAMStreamProtocol) -> object:
        self._streams.discard(proto)
        if isinstance(result, Failure) and result.check(CancelledError) and proto.is_accept:
            self._accept_settle.cancelled()
        return result

    def _end_lingering_acceptor(self) -> None:
        """A direct accept()/forward() takes over from listen()'s lingering acceptor.

        (Its own accepts, made while it has listeners, are not affected.)
        """
        acceptor = self._acceptor
        if acceptor is not None and not acceptor.listeners and acceptor.lingering:
            acceptor.stop()

    async def connect(
        self,
        destination: str | Destination,
        factory: IProtocolFactory,
        *,
        port: int | None = None,
        from_port: int | None = None,
        timeout: float | None = None,
        on_lost: Callable[[Failure], None] | None = None,
    ) -> IProtocol:
        """Open a stream to *destination* and give it to a protocol from *factory*.

        :param destination: a base64 destination, ``.b32.i2p`` name or host
            name (resolved first, see :meth:`SAMBridge.lookup`).
        :param port: the I2P port to connect to (``TO_PORT``).
        :param from_port: our I2P port (``FROM_PORT``).
        :param on_lost: called with the reason when the stream ends.
        :returns: the connected protocol.
        """
        self._check_open()
        host = destination if isinstance(destination, str) and destination.endswith(".i2p") else ""
        dest = await self.lookup(destination)
        peer = I2PAddress(dest, host, port)
        command = codec.stream_connect(self.nickname, dest.base64, from_port=from_port, to_port=port)
        self._check_streams_allowed()
        proto = self._stream(command, factory, peer,
                             self.bridge.timeouts.stream_connect if timeout is None else timeout,
                             on_lost=on_lost)
        await self.bridge._connect(proto)
        with self._stream_lessons():
            return await proto.established

    def accept(self, factory: IProtocolFactory, *,
               route: Callable[[int | None], IProtocolFactory | None] | None = None,
               on_lost: Callable[[Failure], None] | None = None,
               on_acknowledged: Callable[[], None] | None = None) -> Deferred[IProtocol]:
        """Wait for one incoming stream (``STREAM ACCEPT``).

        Fires with the protocol *factory* built for it (or the factory
        *route* picks for the stream's ``TO_PORT``; see
        :class:`~txi2p.protocol.SAMStreamProtocol`).  Cancel the Deferred
        to stop waiting.  Several accepts may be pending at once.
        """
        async def run() -> IProtocol:
            self._check_open()
            self._check_streams_allowed()
            self._end_lingering_acceptor()
            await self._accept_settle.settle(self.bridge.dialect)
            proto = self._stream(codec.stream_accept(self.nickname), factory, None,
                                 self.bridge.timeouts.command, route, on_lost)
            proto.on_acknowledged = on_acknowledged
            await self.bridge._connect(proto)
            with self._stream_lessons():
                return await proto.established

        return Deferred.fromCoroutine(run())

    async def forward(self, factory: IProtocolFactory, *, host: str = "127.0.0.1",
                      port: int = 0,
                      route: Callable[[int | None], IProtocolFactory | None] | None = None
                      ) -> ForwardingPort:
        """Have the router connect to a local port for each incoming stream.

        Listens on *host*:*port* (0 picks a free port) and sends ``STREAM
        FORWARD``; every stream then arrives as a new TCP connection that
        starts with the peer's destination line, and is handed to a
        protocol from *factory*.  Stop it with ``stopListening()``.
        """
        self._check_open()
        self._check_streams_allowed()
        self._end_lingering_acceptor()
        await self._accept_settle.settle(self.bridge.dialect)
        reactor = self.bridge.reactor

        def build() -> SAMStreamProtocol:
            return self._tracked(lambda lost: SAMStreamProtocol(
                reactor, None, None, factory, self.address, timeout=FORWARD_PEER_LINE_TIMEOUT,
                address=self.bridge.address, route=route, on_lost=lost), None)

        forward_factory = ForwardGate(build, f"STREAM FORWARD of session {self.nickname}")
        listening = await TCP4ServerEndpoint(reactor, port, interface=host).listen(forward_factory)
        local_port = listening.getHost().port
        command = codec.stream_forward(self.nickname, local_port, host=host)
        keeper = self._stream(command, Factory.forProtocol(Protocol), None, self.bridge.timeouts.command)
        # The FORWARD connection must stay open: it has no peer, so it
        # "establishes" right after STREAM STATUS OK and then idles.
        try:
            await self.bridge._connect(keeper)
            with self._stream_lessons():
                await keeper.established
        except BaseException:
            await listening.stopListening()
            raise
        return ForwardingPort(listening, keeper)

    async def add_subsession(self, style: str, nickname: str, *, from_port: int = 0,
                             to_port: int | None = None,
                             options: Mapping[str, object] | None = None,
                             udp: tuple[str, int] | None = None) -> SAMSubsession:
        """Add a subsession to a PRIMARY session (``SESSION ADD``).

        :param udp: for DATAGRAM and RAW, the ``(host, port)`` the router
            forwards received packets to (``HOST``/``PORT``; Java I2P
            requires them).
        :raises UnsupportedByRouter: the router does not take *style*
            subsessions (i2pd takes only STREAM, and ends the primary
            session when asked for another: txi2p remembers the refusal
            and refuses later requests itself).
        """
        self._check_open()
        if self.style != "PRIMARY":
            raise ValueError("subsessions need a PRIMARY session")
        if style != "STREAM" and udp is None:
            raise ValueError(f"a {style} subsession needs udp=(host, port) to forward packets to")
        attempt = Attempt("SESSION ADD", style)
        self.bridge.check(attempt)
        extra = [] if udp is None else [("HOST", udp[0]), ("PORT", str(udp[1]))]
        with self.bridge.lessons(attempt):
            await self.control.command(codec.session_add(
                style, nickname, from_port=from_port, to_port=to_port, options=options, extra=extra))
        return SAMSubsession(self, nickname, style)

    def listen(self, factory: IProtocolFactory, port: int | None = None, *,
                pending: int = 5, on_stop: Callable[[], None] | None = None) -> I2PListeningPort:
        """Accept incoming streams for I2P *port* (every port if None).

        Keeps *pending* STREAM ACCEPTs open so that streams arriving together
        are served at once.  Returns an ``IListeningPort``; ``getHost()`` is
        our :class:`~txi2p.address.I2PAddress`.
        """
        self._check_open()
        if port is not None:
            check_port("port", port)
        acceptor = self._acceptor
        if acceptor is None:
            dialect = self.bridge.dialect or SAMDialect()
            if dialect.listens_with_forward(self.bridge.is_local):
                acceptor = self._acceptor = _Forwarder(self, 1, self._accept_settle)
            else:
                acceptor = self._acceptor = _Acceptor(self, dialect.accepts_pending(pending))
        if port in acceptor.listeners:
            raise CannotListenError(self.b32, port or 0, OSError(
                f"session {self.nickname!r} already listens on I2P port {port if port is not None else '*'}"))
        listener = I2PListeningPort(self, port, factory, on_stop)
        factory.doStart()
        acceptor.listeners[port] = listener
        acceptor.resume()
        acceptor.fill()
        return listener

    def when_accepting(self) -> Deferred[None]:
        """Fires once the router takes incoming streams for :meth:`listen`'s ports.

        ``listen()`` returns at once; streams that arrive before this fires
        wait in the router's backlog (128 on i2pd), and more are dropped.
        """
        if self._acceptor is None:
            raise ValueError("nothing is listening on this session")
        return self._acceptor.when_ready()

    def _listeners_changed(self, listener: I2PListeningPort, removed: bool) -> None:
        acceptor = self._acceptor
        if acceptor is None:
            return
        if removed and acceptor.listeners.get(listener.port) is listener:
            del acceptor.listeners[listener.port]
        if not acceptor.listeners:
            # Streams arriving now are refused (no listener routes them);
            # a listen() within LISTEN_LINGER_TIME takes the acceptor over.
            acceptor.linger()

    def when_closed(self) -> Deferred[None]:
        """A new Deferred that fires once the session has ended."""
        d: Deferred[None] = Deferred()
        self.closed.addBoth(pass_through_firing(d))
        return d

    def close(self) -> Deferred[None]:
        """End the session; fires when done.

        Its streams (and its subsessions') are closed first; once the
        router has seen them end (the dialect's ``stream_close_settle``),
        the control connection is closed, which ends the session.  i2pd
        2.58 crashed when a session ended while its streams still
        received (see :mod:`txi2p.sam.dialect`).  Without open streams
        the control connection is closed at once.
        """
        self.closed_on_purpose = True
        if self._closing is None and self.close_reason is None:
            self._closing = Deferred.fromCoroutine(self._close())
            self._closing.addErrback(lambda f: _log.failure("closing {session}", f, session=self.nickname))
            if self.parent is None:
                self.bridge.closing(self.destination, self.when_closed())
        return self.when_closed()

    async def _close(self) -> None:
        try:
            await self._close_streams()
        finally:
            self.control.close()

    async def _close_streams(self) -> None:
        """Close this session's streams, its subsessions' too, and let the router see them end.

        Stops accepting first (no new stream arrives meanwhile).  Waits
        until every stream's connection is lost, at most
        ``stream_close_settle`` (then aborts those left), and then that
        long again for the router; never longer.
        """
        sessions = [self, *self._subsessions]
        for session in sessions:
            if session._acceptor is not None:
                session._acceptor.stop()
            for pending in list(session._streams):
                if not pending.established.called:
                    pending.established.cancel()
        streams = {proto: lost for session in sessions for proto, lost in session._open_streams.items()}
        if not streams:
            return
        reactor = self.bridge.reactor
        settle = (self.bridge.dialect or SAMDialect()).stream_close_settle
        _log.debug("{session}: closing {count} streams before the session",
                   session=self.nickname, count=len(streams))
        for proto in streams:
            if proto.transport is not None:
                close_after_flush(proto.transport)
        gone: Deferred[None] = Deferred()

        def check(result: object = None) -> object:
            if not gone.called and all(lost.called for lost in streams.values()):
                gone.callback(None)
            return result

        for lost in streams.values():
            lost.addBoth(check)
        timer = reactor.callLater(settle, lambda: None if gone.called else gone.callback(None))
        check()
        await gone
        if timer.active():
            timer.cancel()
        for proto, lost in streams.items():
            if not lost.called and proto.transport is not None:
                _abort_transport(proto.transport)  # e.g. a router that reads nothing more
        await deferLater(reactor, settle, lambda: None)


class SAMSubsession(SAMSession):
    """A subsession of a PRIMARY session: same destination, own nickname."""

    def __init__(self, parent: SAMSession, nickname: str, style: str) -> None:
        super().__init__(parent.bridge, parent.control, nickname, style, parent.key,
                         parent.options, parent)
        self.parent: SAMSession = parent
        parent._subsessions.add(self)

    async def remove(self) -> None:
        """``SESSION REMOVE`` this subsession."""
        await self.control.command(codec.session_remove(self.nickname))

    def close(self) -> Deferred[None]:
        """``SESSION REMOVE`` it, its streams closed first (as :meth:`SAMSession.close`)."""
        self.closed_on_purpose = True
        if self._closing is None:
            self._closing = Deferred.fromCoroutine(self._close())
            self._closing.addErrback(lambda f: _log.failure("closing {session}", f, session=self.nickname))
        d: Deferred[None] = Deferred()
        self._closing.addBoth(pass_through_firing(d))
        return d

    async def _close(self) -> None:
        try:
            if self.close_reason is None:
                await self._close_streams()
                await self.remove()
        except (SAMError, SessionClosed):
            pass
        finally:
            self.parent._subsessions.discard(self)


