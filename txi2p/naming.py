"""Names: ``NAMING LOOKUP``, the hosts file, and the names a bridge remembers.

:class:`Names` is a bridge's name cache and the rules of a lookup: base64
destinations are parsed locally, host names are found in the hosts file
first, the rest is asked of the router (through a function the bridge or
session gives it), and the answer is checked against a ``.b32.i2p`` name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from txi2p.address import (
    BLINDED_SIGNATURE_TYPES,
    Destination,
    HostsFile,
    NameRecord,
    b33_flags,
    is_b32_name,
)
from txi2p.errors import InvalidKey, NameNotFound, SAMError
from txi2p.sam import codec

__all__ = ["MAX_CACHED_NAMES", "Ask", "Names", "local_destination"]

#: Names a bridge object remembers (the oldest is forgotten first).
MAX_CACHED_NAMES = 4096

#: A ``NAMING REPLY`` key that carries one of the lease set's options (``OPTIONS=true``).
_OPTION_PREFIX = "OPTION:"

#: Sends one command and gives its reply (a session's control connection, or a connection of its own).
Ask = Callable[[codec.Command], Awaitable[codec.Reply]]


def local_destination(name: object) -> Destination | str:
    """*name* as a destination where it is one (a Destination, or base64
    parsed locally), else the name to look up; a bad value raises ValueError."""
    if isinstance(name, Destination):
        return name
    if not isinstance(name, str) or not name:
        raise ValueError(f"an I2P address must be a non-empty str, not {name!r}")
    if len(name) >= 516 and not name.endswith(".i2p"):
        return Destination.from_base64(name)
    return name


class Names:
    """One bridge's name lookups and the names it remembers.

    :param hosts: a hosts file consulted before the router for host names.
    :param not_found: the RESULT codes that mean "no such name (yet)" on
        this bridge (its dialect's ``not_found_results``), asked when a
        lookup fails.
    """

    def __init__(self, hosts: HostsFile | None, not_found: Callable[[], frozenset[str]]) -> None:
        self.hosts = hosts
        self._not_found = not_found
        #: Names and their destinations, oldest first.
        self.cached: dict[str, Destination] = {}

    async def lookup(self, name: str | Destination, ask: Ask, in_session: bool) -> Destination:
        """The full destination for a host name, ``.b32.i2p`` name or base64 (see
        :meth:`SAMBridge.lookup <txi2p.bridge.SAMBridge.lookup>`)."""
        parsed = local_destination(name)
        if isinstance(parsed, Destination):
            return parsed
        key = parsed.lower()
        cached = self.cached.get(key)
        if cached is not None:
            return cached
        if self.hosts is not None and not is_b32_name(key):
            found = self.hosts.lookup(key)
            if found is not None:
                self.remember(key, found)
                return found
        dest, _ = await self._ask_router(parsed, ask, in_session, options=False)
        flags = b33_flags(key)
        if parsed != "ME" and not (flags is not None and (flags.secret or flags.client_auth)):
            # (a service that lets in only some clients is found again by
            # each session: another session here may hold no key for it)
            self.remember(key, dest)
        return dest

    def remember(self, key: str, dest: Destination) -> None:
        """Cache a name's destination, forgetting the oldest beyond :data:`MAX_CACHED_NAMES`."""
        self.cached[key] = dest
        while len(self.cached) > MAX_CACHED_NAMES:
            del self.cached[next(iter(self.cached))]

    async def lookup_record(self, name: str | Destination, ask: Ask, in_session: bool) -> NameRecord:
        """*name*'s destination and the options its lease set publishes (see
        :meth:`SAMBridge.lookup_record <txi2p.bridge.SAMBridge.lookup_record>`)."""
        parsed = local_destination(name)
        asked = parsed.b32 if isinstance(parsed, Destination) else parsed
        dest, reply = await self._ask_router(asked, ask, in_session, options=True)
        options = {k[len(_OPTION_PREFIX):]: v for k, v in reply.fields.items() if k.startswith(_OPTION_PREFIX)}
        return NameRecord(asked, dest, options)

    async def _ask_router(self, name: str, ask: Ask, in_session: bool,
                          options: bool) -> tuple[Destination, codec.Reply]:
        """``NAMING LOOKUP`` *name*: the destination the router answers,
        checked against a ``.b32.i2p`` name, and the whole reply."""
        if name == "ME" and not in_session:
            # Java I2P closes a session-less connection on it; i2pd answers
            # with its own shared destination: neither is a session's.
            raise ValueError('"ME" names a session\'s own destination: look it up on the session')
        key = name.lower()
        try:
            reply = await ask(codec.naming_lookup(name, options=options))
        except SAMError as e:
            if e.result in self._not_found() and key.endswith(".i2p") and not isinstance(e, NameNotFound):
                raise NameNotFound(e.result, e.message, e.command, name=name) from e
            raise
        value = reply.get("VALUE")
        if not value:
            raise InvalidKey(message=f"no VALUE for {name!r}", command="NAMING LOOKUP", local=True)
        dest = Destination.from_base64(value)
        _check_answer(name, dest)
        return dest, reply


def _check_answer(name: str, dest: Destination) -> None:
    """Refuse a destination the router answered for a ``.b32.i2p`` (or b33) *name* that is not it."""
    key = name.lower()
    flags = b33_flags(key)
    if flags is not None and dest.signature_type in BLINDED_SIGNATURE_TYPES:
        answered = dest.b33(secret=flags.secret, client_auth=flags.client_auth)
    else:
        answered = dest.b32
    if is_b32_name(key) and answered != key:
        raise InvalidKey(message=f"the router answered {name} with {answered}",
                         command="NAMING LOOKUP", local=True)
