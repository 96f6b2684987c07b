"""``i2p:`` endpoint strings, for ``clientFromString``/``serverFromString``.

Parsing does no I/O and validates every keyword: an unknown keyword, a
non-integer port or a bad boolean raises ``ValueError`` naming it.
Keywords with a dot (``inbound.length=1``, ``i2cp.leaseSetEncType=4``) are
I2CP session options and pass through to the router.

Client: ``i2p:<host>[:<port>]`` or ``i2p:host=<host>[:port=<n>][:...]``
Server: ``i2p:<keyfile>[:<port>]`` or ``i2p:session=<name>[:keyfile=...][:...]``;
``samaddr=HOST1\\:PORT1,HOST2\\:PORT2`` makes a multihomed service (:mod:`txi2p.multihome`).

The keywords of txi2p 0.3.x (``api``, ``apiEndpoint``, ``options``,
``nickname``, ``sigType``, ``localPort``, ``autoClose``) are accepted too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import (
    IStreamClientEndpointStringParserWithReactor,
    IStreamServerEndpointStringParser,
)
from twisted.plugin import IPlugin
from zope.interface import implementer

from txi2p.address import signature_type_code
from txi2p.config import BridgeConfig, SessionConfig, parse_bool
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.failover import FallbackClientEndpoint
from txi2p.multihome import MultihomedServerEndpoint, split_sam_addresses
from txi2p.private import ClientKey, PrivateService, check_auth

__all__ = ["CLIENT_KEYWORDS", "SERVER_KEYWORDS", "I2PClientParser", "I2PServerParser"]

_COMMON = {
    "session": "session name (shared by every endpoint that names it)",
    "nickname": "txi2p 0.3.x name for session",
    "keyfile": "key file of the destination (created if missing)",
    "samaddr": r"SAM bridge host\:port (default $I2P_SAM_ADDRESS or 127.0.0.1\:7656), or several "
               r"(host1\:port1,host2\:port2): in server strings one service on several routers "
               r"(txi2p.multihome), in client strings the next bridge when one is down (txi2p.failover)",
    "apiEndpoint": r"txi2p 0.3.x: client endpoint string of the SAM bridge, e.g. tcp\:127.0.0.1\:7656 "
                   "(only with api=SAM)",
    "api": "txi2p 0.3.x: must be SAM",
    "in_depth": "inbound tunnel length (default 2)",
    "out_depth": "outbound tunnel length (default 2)",
    "options": r"txi2p 0.3.x: I2CP options as key\:value,key\:value",
    "sigType": "signature type of a new destination (number or name; default 7, Ed25519)",
    "autoClose": "close the session when no connection or listener uses it (true/false)",
    "allowRemote": "accept a samaddr that is not on this machine (SAM is unencrypted; true/false)",
    "launch": "true, or a data directory: use the i2pd router launched for this process (started at the "
              "first connect or listen; one per process, shared), instead of samaddr",
    "user": "SAM 3.2 user name",
    "password": "SAM 3.2 password",
}

#: Keywords of client strings, with what they mean.
CLIENT_KEYWORDS = {
    "host": "I2P host name, .b32.i2p name or base64 destination",
    "port": "I2P port to connect to",
    "localPort": "our I2P port (FROM_PORT)",
    "clientKey": "file holding this client's key for private services that list it (txi2p.private)",
    "recover": "after CantReachPeer or a timeout to a destination reached before, try once more through a "
               "fresh session (true/false; default true; txi2p.failover)",
    **_COMMON,
}

#: Keywords of server strings, with what they mean.
SERVER_KEYWORDS = {
    "port": "I2P port to accept (default: every port)",
    "pending": "STREAM ACCEPTs kept open at once (default 5)",
    "private": "a private service: encrypted lease set, reached only by its longer b33 name (true/false)",
    "clients": "file of NAME:KEY lines: a private service only these clients can reach (implies private)",
    "auth": "kind of client keys for clients=: psk (pre-shared keys, the default) or dh (clients' public keys)",
    **_COMMON,
}

def _fail(keyword: str, value: str, wanted: str) -> ValueError:
    return ValueError(f"i2p endpoint: {keyword}={value!r} is not {wanted}")


def _int(keyword: str, value: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[0-9]+", value) or not low <= int(value) <= high:
        raise _fail(keyword, value, f"an integer from {low} to {high}")
    return int(value)


def _bool(keyword: str, value: str) -> bool:
    try:
        return parse_bool(value)
    except ValueError:
        raise _fail(keyword, value, "a boolean (true or false)") from None


def _sig_type(value: str) -> int:
    try:
        return signature_type_code(value)
    except ValueError as e:
        raise _fail("sigType", value, f"a signature type ({e})") from None


def _options(value: str) -> dict[str, str]:
    out = {}
    for item in value.split(","):
        if not item:
            continue
        key, sep, val = item.partition(":")
        if not sep:
            key, sep, val = item.partition("=")
        if not sep or not key or not val:
            raise _fail("options", value, r"a list of key\:value pairs separated by commas")
        out[key] = val
    return out


_TCP = re.compile(r"^tcp:(?:host=)?([^:]+):(?:port=)?([0-9]+)$")


def _check_api(api: str | None, api_endpoint: str | None, samaddr: str | None) -> None:
    """``api=`` must be SAM; ``apiEndpoint=`` needs it beside it and excludes ``samaddr=``."""
    if api is not None and api.upper() != "SAM":
        if api.upper() == "BOB":
            raise ValueError("i2p endpoint: api=BOB is not supported (BOB is deprecated); use SAM")
        raise _fail("api", api, "SAM")
    if samaddr is not None and api_endpoint is not None:
        raise ValueError("i2p endpoint: give samaddr or apiEndpoint, not both")
    if api_endpoint is not None and api is None:
        # refused as txi2p 0.3.x refused it: apiEndpoint names the endpoint of the API api= names
        raise ValueError("i2p endpoint: apiEndpoint needs api=SAM beside it (as in txi2p 0.3.x); "
                         r"or give the bridge's address as samaddr=host\:port")


def _samaddr(value: str) -> dict[str, Any]:
    """``samaddr=host:port``: the bridge's address."""
    if "," in value:  # several bridges: split by the parsers before this point
        raise _fail("samaddr", value, r"one host\:port")
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise _fail("samaddr", value, r"host\:port")
    _int("samaddr port", port, 1, 65535)
    return {"sam_address": value}


def _api_endpoint(reactor: Any, value: str) -> dict[str, Any]:
    """``apiEndpoint=`` (0.3.x): ``tcp:host:port`` as an address, any other client endpoint string as it is."""
    match = _TCP.match(value)
    if match:
        _int("apiEndpoint port", match.group(2), 1, 65535)
        # txi2p 0.3.x configurations name the bridge explicitly: a remote one is meant
        return {"sam_address": f"{match.group(1)}:{match.group(2)}", "allow_remote": True}
    try:
        return {"endpoint": clientFromString(reactor, value)}
    except Exception as e:  # Twisted raises ValueError or others
        raise _fail("apiEndpoint", value, f"a client endpoint string ({e})") from e


#: The keywords that say how to reach a bridge (and so cannot go with ``launch=``).
_BRIDGE_KEYWORDS = frozenset({"api", "samaddr", "apiEndpoint", "allowRemote", "user", "password"})


def _bridge_config(reactor: Any, kwargs: dict[str, str]) -> BridgeConfig:
    """The keywords that say how to reach the bridge, as one :class:`BridgeConfig`."""
    api, samaddr, api_endpoint = (kwargs.pop(k, None) for k in ("api", "samaddr", "apiEndpoint"))
    _check_api(api, api_endpoint, samaddr)
    settings: dict[str, Any] = {
        "allow_remote": _bool("allowRemote", kwargs.pop("allowRemote")) if "allowRemote" in kwargs else False,
        "user": kwargs.pop("user", None), "password": kwargs.pop("password", None)}
    if samaddr is not None:
        settings.update(_samaddr(samaddr))
    elif api_endpoint is not None:
        settings.update(_api_endpoint(reactor, api_endpoint))
    try:
        return BridgeConfig(**settings)
    except ValueError as e:
        raise ValueError(f"i2p endpoint: {e}") from None


def _launch(value: str) -> bool | str | None:
    """``launch=true`` (a temporary data directory), ``false``, or a data directory."""
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true" or None
    try:
        parse_bool(lowered)
    except ValueError:
        pass
    else:  # yes, 1, off...: a boolean that could also be a directory's name
        raise _fail("launch", value, "true, false or a data directory (write true or false for a boolean)")
    if not value.strip() or "\0" in value:
        raise _fail("launch", value, "true, false or a data directory")
    return os.path.expanduser(value)


#: Session keywords -> (SessionConfig.build's argument, parser of the value).
_SESSION_KEYWORDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "keyfile": ("keyfile", lambda value: value or None),
    "in_depth": ("in_depth", lambda value: _int("in_depth", value, 0, 7)),
    "out_depth": ("out_depth", lambda value: _int("out_depth", value, 0, 7)),
    "sigType": ("signature_type", _sig_type),
    "autoClose": ("auto_close", lambda value: _bool("autoClose", value)),
}


def _check_keywords(kwargs: dict[str, str], allowed: dict[str, str]) -> dict[str, str]:
    """The I2CP options (keywords with a dot) taken out of *kwargs*; any other unknown keyword refused."""
    options: dict[str, str] = {}
    for key in list(kwargs):
        if "." in key:
            options[key] = kwargs.pop(key)
        elif key not in allowed:
            raise ValueError(
                f"i2p endpoint: unknown keyword {key!r}; known: {', '.join(sorted(allowed))} "
                "and I2CP options (names with a dot, like inbound.length)")
    if "options" in kwargs:
        options = {**_options(kwargs.pop("options")), **options}
    return options


def _nickname(kwargs: dict[str, str]) -> str | None:
    session = kwargs.pop("session", None)
    nickname = kwargs.pop("nickname", None)
    if session is not None and nickname is not None and session != nickname:
        raise ValueError("i2p endpoint: session and nickname name the same thing; give one")
    return session or nickname


def _session_config(kwargs: dict[str, str], options: dict[str, str]) -> SessionConfig:
    """The keywords that say what the session is, as one :class:`SessionConfig`."""
    settings: dict[str, Any] = {"nickname": _nickname(kwargs), "options": options or None}
    for keyword, (name, parse) in _SESSION_KEYWORDS.items():
        if keyword in kwargs:
            settings[name] = parse(kwargs.pop(keyword))
    return SessionConfig.build(**settings)


def _common(reactor: Any, kwargs: dict[str, str], allowed: dict[str, str]) -> dict[str, Any]:
    """The bridge (a launched router's with ``launch``) and the session of a string, as the endpoints take them."""
    options = _check_keywords(kwargs, allowed)
    launch = _launch(kwargs.pop("launch")) if "launch" in kwargs else None
    given = sorted(_BRIDGE_KEYWORDS & kwargs.keys())
    if launch and given:
        raise ValueError(f"i2p endpoint: launch= uses the router launched for this process (its bridge on "
                         f"127.0.0.1, no credentials); {'= and '.join(given)}= say how to reach another "
                         f"bridge: give launch= or them, not both")
    bridge_config = BridgeConfig(launch=launch) if launch else _bridge_config(reactor, kwargs)
    return {"bridge_config": bridge_config, "session_config": _session_config(kwargs, options)}


_BASE64_KEY = re.compile(r"^[A-Za-z0-9~-]{500,}$")


def _positional(args: tuple[str, ...], names: tuple[str, str], kwargs: dict[str, str]) -> None:
    # Twisted splits a positional base64 destination ending in "=" into a
    # keyword ("AAAA...": "="): put it back together.
    for key in [k for k, v in kwargs.items() if _BASE64_KEY.match(k) and set(v) <= {"="}]:
        args = (key + "=" + kwargs.pop(key), *args)
    if len(args) > len(names):
        raise ValueError(f"i2p endpoint: too many positional values {args!r}; "
                         f"at most {' and '.join(names)}")
    for name, value in zip(names, args, strict=False):
        if name in kwargs:
            raise ValueError(f"i2p endpoint: {name} given twice")
        kwargs[name] = value


@implementer(IPlugin, IStreamClientEndpointStringParserWithReactor)
class I2PClientParser:
    """``i2p:`` client strings -> :class:`~txi2p.endpoints.I2PClientEndpoint`."""

    prefix = "i2p"

    def parseStreamClient(self, reactor: Any, *args: str,  # type: ignore[override]
                          **kwargs: str) -> I2PClientEndpoint | FallbackClientEndpoint:
        # --- several bridges (txi2p.failover): samaddr=HOST1\:PORT1,HOST2\:PORT2, the next when one is down
        if "," in kwargs.get("samaddr", ""):
            return FallbackClientEndpoint([
                self._client(reactor, args, {**kwargs, "samaddr": address})
                for address in split_sam_addresses(kwargs["samaddr"])])
        # ---
        return self._client(reactor, args, kwargs)

    def _client(self, reactor: Any, args: tuple[str, ...], kwargs: dict[str, str]) -> I2PClientEndpoint:
        _positional(args, ("host", "port"), kwargs)
        host = kwargs.pop("host", None)
        if not host:
            raise ValueError("i2p endpoint: a client string needs a host (i2p:<host> or i2p:host=<host>)")
        port = _int("port", kwargs.pop("port"), 1, 65535) if "port" in kwargs else None
        local_port = _int("localPort", kwargs.pop("localPort"), 0, 65535) if "localPort" in kwargs else None
        client_key_file = kwargs.pop("clientKey", None) or None
        client_key = ClientKey(file=client_key_file) if client_key_file is not None else None
        recover = _bool("recover", kwargs.pop("recover")) if "recover" in kwargs else True  # txi2p.failover
        settings = _common(reactor, kwargs, CLIENT_KEYWORDS)
        return I2PClientEndpoint(reactor, host, port, from_port=local_port, client_key=client_key,
                                 recover=recover, **settings)


@implementer(IPlugin, IStreamServerEndpointStringParser)
class I2PServerParser:
    """``i2p:`` server strings -> :class:`~txi2p.endpoints.I2PServerEndpoint`."""

    prefix = "i2p"

    def parseStreamServer(self, reactor: Any, *args: str,  # type: ignore[override]
                          **kwargs: str) -> I2PServerEndpoint | MultihomedServerEndpoint:
        # --- multihoming (txi2p.multihome): samaddr=HOST1\:PORT1,HOST2\:PORT2, one home per bridge
        if "," in kwargs.get("samaddr", ""):
            homes = [self.parseStreamServer(reactor, *args, **{**kwargs, "samaddr": address})
                     for address in split_sam_addresses(kwargs["samaddr"])]
            return MultihomedServerEndpoint(reactor, [h for h in homes if isinstance(h, I2PServerEndpoint)])
        # ---
        _positional(args, ("keyfile", "port"), kwargs)
        port = _int("port", kwargs.pop("port"), 1, 65535) if "port" in kwargs else None
        pending = _int("pending", kwargs.pop("pending"), 1, 100) if "pending" in kwargs else 5
        private = _bool("private", kwargs.pop("private")) if "private" in kwargs else False
        clients_file = kwargs.pop("clients", None) or None
        auth = kwargs.pop("auth", "psk")
        settings = _common(reactor, kwargs, SERVER_KEYWORDS)
        check_auth(auth)
        service = PrivateService(clients_file=clients_file, auth=auth) if private or clients_file else False
        return I2PServerEndpoint(reactor, port, pending=pending, private=service, **settings)


