"""The public API of txi2p 0.3.x (``txi2p-tahoe``), as thin adapters.

Foolscap and Tahoe-LAFS call these names; they are re-exported where
0.3.x had them (``txi2p.generateDestination``, ``txi2p.testAPI``,
``txi2p.utils``, ``txi2p.sam.SAMI2PStreamClientEndpoint``,
``txi2p.sam.SAMI2PStreamServerEndpoint``) and built on this package's own
endpoints and sessions.  Differences from 0.3.x, all fixes, are listed in
docs/migrating.rst.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, clientFromString
from twisted.internet.interfaces import IStreamClientEndpoint
from zope.interface import implementer

from txi2p.address import I2PAddress, signature_type_code, write_key_file
from txi2p.bridge import SAMBridge
from txi2p.config import DEFAULT_SIGNATURE_TYPE, BridgeConfig, SessionConfig
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.errors import SAMConnectionFailed
from txi2p.registry import SessionRegistry
from txi2p.session import SAMSession

__all__ = [
    "DEFAULT_API",
    "DEFAULT_ENDPOINT",
    "SAMI2PStreamClientEndpoint",
    "SAMI2PStreamServerEndpoint",
    "SAMSession",
    "generateDestination",
    "getSession",
    "testAPI",
]

DEFAULT_ENDPOINT = {"SAM": "tcp:127.0.0.1:7656"}
DEFAULT_API = "SAM"

def _reactor_of(endpoint: Any) -> Any:
    reactor = getattr(endpoint, "_reactor", None)
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    return reactor


def _sam_address_of(endpoint: Any) -> str | None:
    """``host:port`` of a TCP endpoint, so named sessions are shared across calls."""
    if isinstance(endpoint, TCP4ClientEndpoint):
        return f"{endpoint._host}:{endpoint._port}"
    if isinstance(endpoint, HostnameEndpoint):
        host = endpoint._hostText
        return f"{host}:{endpoint._port}"
    return None


def _signature_type(sig_type: int | str | None) -> int | str:
    if sig_type is None:
        return DEFAULT_SIGNATURE_TYPE
    try:
        return signature_type_code(sig_type)
    except ValueError as e:
        raise ValueError(f"sigType: {e}") from None


def _bridge_config(samEndpoint: Any) -> BridgeConfig:
    """The :class:`BridgeConfig` of a 0.3.x ``samEndpoint``: by address for TCP endpoints.

    As in 0.3.x, any object with a ``connect(factory)`` method will do: it
    need not declare ``IStreamClientEndpoint``.
    """
    if not callable(getattr(samEndpoint, "connect", None)):
        raise TypeError(f"samEndpoint must be a Twisted client endpoint (an object with "
                        f"connect(factory)), not {samEndpoint!r}")
    address = _sam_address_of(samEndpoint)
    if address:
        return BridgeConfig(address)
    if not IStreamClientEndpoint.providedBy(samEndpoint):
        samEndpoint = _DuckEndpoint(samEndpoint)
    return BridgeConfig(endpoint=samEndpoint)


@implementer(IStreamClientEndpoint)
class _DuckEndpoint:
    """An object with ``connect(factory)`` that does not declare ``IStreamClientEndpoint``."""

    def __init__(self, endpoint: Any) -> None:
        self._endpoint = endpoint

    def connect(self, protocolFactory: Any) -> Any:
        return self._endpoint.connect(protocolFactory)

    def __repr__(self) -> str:
        return repr(self._endpoint)


class SAMI2PStreamClientEndpoint(I2PClientEndpoint):
    """txi2p 0.3.x's client endpoint: an :class:`I2PClientEndpoint`."""

    @classmethod
    def new(cls, samEndpoint: Any, host: str, port: int | None = None, nickname: str | None = None,
            autoClose: bool = False, keyfile: str | None = None, localPort: int | None = None,
            options: Mapping[str, object] | None = None,
            sigType: int | str | None = None) -> SAMI2PStreamClientEndpoint:
        """Connect to *host* through the SAM bridge at *samEndpoint*."""
        session_config = SessionConfig.build(nickname=nickname, keyfile=keyfile, options=options,
                                             signature_type=_signature_type(sigType), auto_close=bool(autoClose))
        return cls(_reactor_of(samEndpoint), host, int(port) if port else None,
                   bridge_config=_bridge_config(samEndpoint), session_config=session_config,
                   from_port=int(localPort) if localPort else None)


class SAMI2PStreamServerEndpoint(I2PServerEndpoint):
    """txi2p 0.3.x's server endpoint: an :class:`I2PServerEndpoint`."""

    @classmethod
    def new(cls, samEndpoint: Any, keyfile: str, port: int | None = None, nickname: str | None = None,
            autoClose: bool = False, options: Mapping[str, object] | None = None,
            sigType: int | str | None = None) -> SAMI2PStreamServerEndpoint:
        """Listen on the destination in *keyfile* (created if missing)."""
        session_config = SessionConfig.build(nickname=nickname, keyfile=keyfile, options=options,
                                             signature_type=_signature_type(sigType), auto_close=bool(autoClose))
        return cls(_reactor_of(samEndpoint), int(port) if port else None,
                   bridge_config=_bridge_config(samEndpoint), session_config=session_config)


def _api(api: str | None, apiEndpoint: Any) -> tuple[str, Any]:
    if not api:
        if apiEndpoint:
            raise ValueError("api must be specified if apiEndpoint is given")
        api = DEFAULT_API
    if api == "BOB":
        raise ValueError("the BOB API is not supported (BOB is deprecated); use 'SAM'")
    if api != "SAM":
        raise ValueError(f"Specified I2P API is invalid or unsupported: {api!r} (use 'SAM')")
    return api, apiEndpoint or DEFAULT_ENDPOINT[api]


def _bridge(reactor: Any, apiEndpoint: Any) -> SAMBridge:
    if isinstance(apiEndpoint, str):
        apiEndpoint = clientFromString(reactor, apiEndpoint)
    return SAMBridge(reactor, bridge_config=_bridge_config(apiEndpoint))


def testAPI(reactor: Any, api: str | None = None, apiEndpoint: Any = None) -> Deferred[bool]:
    """Fire with True if a SAM bridge answers HELLO at *apiEndpoint*.

    Fails with Twisted's own connection error (``ConnectionRefusedError``,
    ``ConnectError``...) when nothing is there, as 0.3.x did.
    """
    _, endpoint = _api(api, apiEndpoint)
    bridge = _bridge(reactor, endpoint)

    async def run() -> bool:
        try:
            control = await bridge.control()
        except SAMConnectionFailed as e:
            raise (e.__cause__ or e) from None
        control.close()
        return True

    return Deferred.fromCoroutine(run())


def generateDestination(reactor: Any, keyfile: str, api: str | None = None,
                        apiEndpoint: Any = None) -> Deferred[I2PAddress]:
    """Make a new destination, write its key to *keyfile*, fire with its address.

    Raises ValueError if *keyfile* exists (it is never overwritten).  The
    key file is written atomically with mode 0600, in the format 0.3.x
    wrote (one line of I2P base64).
    """
    _, endpoint = _api(api, apiEndpoint)
    if os.path.exists(keyfile):
        raise ValueError(f"keyfile {keyfile!r} already exists")
    bridge = _bridge(reactor, endpoint)

    async def run() -> I2PAddress:
        key = await bridge.generate_destination()
        if os.path.exists(keyfile):
            raise ValueError(f"keyfile {keyfile!r} already exists")
        write_key_file(keyfile, key)
        return I2PAddress(key.destination)

    return Deferred.fromCoroutine(run())


def getSession(nickname: str, samEndpoint: Any = None, autoClose: bool = False, *, style: str = "STREAM",
               keyfile: str | None = None, localPort: int | None = None,
               options: Mapping[str, object] | None = None,
               sigType: int | str | None = None) -> Deferred[SAMSession]:
    """Fire with the SAM session named *nickname*, created if there is none yet.

    The session is the one endpoints naming *nickname* on that bridge share
    (:class:`~txi2p.registry.SessionRegistry`); asked for again with other
    settings it fails with :class:`~txi2p.errors.SessionConflict`.  Without
    *samEndpoint*, the default bridge (``I2P_SAM_ADDRESS`` or
    127.0.0.1:7656).  *localPort* is accepted and ignored: a session has no
    local port of its own here (endpoints take ``localPort`` per connection).
    """
    del localPort  # txi2p 0.3.x passed it to SESSION CREATE's FROM_PORT; see above
    reactor = _reactor_of(samEndpoint)
    registry = SessionRegistry.for_reactor(reactor)
    bridge = registry.bridge(_bridge_config(samEndpoint) if samEndpoint is not None else BridgeConfig())
    spec = SessionConfig.build(nickname=nickname, keyfile=keyfile, style=style, options=options,
                               signature_type=_signature_type(sigType), auto_close=bool(autoClose))
    return Deferred.fromCoroutine(registry.acquire(bridge, spec))
