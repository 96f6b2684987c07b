"""Creating a session: ``SESSION CREATE`` on a control connection of its own, with its retries.

:func:`create_session` is :meth:`SAMBridge.create_session
<txi2p.bridge.SAMBridge.create_session>`: it checks the request, waits
for a destination the router may still hold, sends ``SESSION CREATE``
as the bridge's dialect says (see
:meth:`~txi2p.sam.dialect.SAMDialect.session_create_keys`), and where
the router's refusal teaches the dialect something to retry with (see
:meth:`~txi2p.sam.dialect.SAMDialect.lesson`), sends it again on a new
connection, at most :data:`SESSION_CREATE_TRIES` times in all.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger

from txi2p.address import PrivateKey, signature_type_code
from txi2p.config import Progress, session_options
from txi2p.errors import CommandTimeout, I2PError, TxI2PError
from txi2p.private import ENCRYPTED_LEASE_SET, check_blindable
from txi2p.protocol import SAMControlProtocol
from txi2p.sam import codec
from txi2p.sam.dialect import Attempt
from txi2p.session import SAMSession

if TYPE_CHECKING:
    from txi2p.bridge import SAMBridge

__all__ = ["SESSION_CREATE_TRIES", "create_session"]

_log = Logger()

#: SESSION CREATE tries: the first, and one for each thing a refusal can
#: teach (MASTER for PRIMARY, PORT=0 for an unforwarded DATAGRAM/RAW session).
SESSION_CREATE_TRIES = 3

#: The styles a session may have.
_STYLES = ("STREAM", *codec.PACKET_STYLES, "PRIMARY")


class _TryAgain(Exception):
    """A refused SESSION CREATE taught the bridge something: create it again as *nickname*."""

    def __init__(self, nickname: str) -> None:
        super().__init__(nickname)
        self.nickname = nickname


async def create_session(bridge: SAMBridge, style: str, nickname: str | None, key: PrivateKey | None, *,
                         options: Mapping[str, object] | None, signature_type: int | str,
                         extra: Mapping[str, str | None] | None,
                         progress: Progress | None) -> SAMSession:
    """A new session on *bridge*, up (see :meth:`SAMBridge.create_session
    <txi2p.bridge.SAMBridge.create_session>` for the arguments)."""
    say = progress or (lambda text: None)
    nickname = nickname or f"txi2p-{secrets.token_hex(6)}"
    codec.check_token("session name", nickname)
    if style not in _STYLES:
        raise ValueError(f"style must be one of {', '.join(_STYLES)}, not {style!r}")
    opts = session_options(options)
    if opts.get("i2cp.leaseSetType") == ENCRYPTED_LEASE_SET:  # refused before the router sees it
        check_blindable(key.destination.signature_type if key is not None
                        else signature_type_code(signature_type))
    if key is not None:
        await bridge._wait_for_release(key.destination, say)
    say(f"connecting to the SAM bridge at {bridge.sam_address}")
    send = _Create(bridge, style, key, opts, signature_type, extra or {}, say)
    control, nickname, private = await send.with_retries(nickname)
    session = SAMSession(bridge, control, nickname, style, private, opts)
    say(f"session {nickname!r} is up: {session.b32}")
    _log.info("SAM session {nickname} ({style}) up at {address}: {b32}",
              nickname=nickname, style=style, address=bridge.sam_address, b32=session.b32)
    if bridge.timeouts.keepalive:
        probe = Deferred.fromCoroutine(bridge.ping_allowed())
        probe.addCallback(lambda allowed: control.start_keepalive() if allowed else None)
        probe.addErrback(lambda f: f.trap(TxI2PError, CancelledError))
    return session


class _Create:
    """One session's SESSION CREATE, sent until it is up or nothing more can be learned."""

    def __init__(self, bridge: SAMBridge, style: str, key: PrivateKey | None, opts: dict[str, str],
                 signature_type: int | str, extra: Mapping[str, str | None],
                 say: Callable[[str], None]) -> None:
        self.bridge = bridge
        self.style = style
        self.key = key
        self.opts = opts
        self.signature_type = signature_type
        self.extra = extra
        self.say = say

    async def with_retries(self, nickname: str) -> tuple[SAMControlProtocol, str, PrivateKey]:
        """The session's control connection, its ID (a retry may change it) and key."""
        retry: _TryAgain | None = None
        for _ in range(SESSION_CREATE_TRIES):
            control = await self.bridge.control()
            try:
                return control, nickname, _created_key(await self.once(control, nickname), self.key)
            except BaseException as e:
                control.close()  # a session not made: its control connection goes too
                if not isinstance(e, _TryAgain):
                    raise
                retry, nickname = e, e.nickname
        assert retry is not None
        raise I2PError(
            message=f"SESSION CREATE failed {SESSION_CREATE_TRIES} times at the SAM bridge at "
            f"{self.bridge.sam_address}, each time teaching txi2p something new (last: {retry.__cause__}); "
            "not trying again", command="SESSION CREATE", local=True) from retry.__cause__

    async def once(self, control: SAMControlProtocol, nickname: str) -> codec.Reply:
        """Send one SESSION CREATE on *control*: its reply.

        What the dialect knows the router refuses fails here; a refusal
        that teaches the bridge something to retry with raises
        ``_TryAgain``; the caller closes *control*.
        """
        bridge = self.bridge
        assert bridge.dialect is not None
        wire_style, keys = bridge.dialect.session_create_keys(self.style, self.extra)
        attempt = Attempt("SESSION CREATE", self.style, wire_style, nickname, bridge.sam_address,
                          self.opts.get("i2cp.leaseSetEncType", ""),
                          unforwarded=self.style in codec.PACKET_STYLES and "PORT" not in keys)
        bridge.check(attempt)
        command = codec.session_create(
            wire_style, nickname, self.key.base64 if self.key else "TRANSIENT",
            signature_type=None if self.key else self.signature_type,
            options=self.opts, extra=keys.items(),
        )
        self.say(f"waiting for the router to build tunnels for session {nickname!r} "
                 f"(i2pd answers after its 20 s readiness check; Java I2P sooner)")
        try:
            return await control.command(command, bridge.timeouts.session_create)
        except (I2PError, CommandTimeout) as e:
            lesson = bridge.react(attempt, e)
            self.say(lesson.why)
            raise _TryAgain(nickname + lesson.nickname_suffix) from e


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
