"""Foolscap connection-hint handlers for ``i2p:`` hints, built on :class:`~txi2p.i2p.I2P`.

The names and arguments are those of Foolscap's ``foolscap.connections.i2p``
(``default``, ``sam_endpoint``, ``launch``, ``local_i2p``); ``launch`` and
``local_i2p`` work here (Foolscap's raise ``NotImplementedError``)::

    from txi2p import foolscap as txi2p_foolscap

    tub.removeAllConnectionHintHandlers()
    tub.addConnectionHintHandler("i2p", txi2p_foolscap.launch())

A handler reaches its router on the first hint it is asked for, once (a
launched router is shared by every hint of that handler), and hands out
client endpoints of that :class:`~txi2p.i2p.I2P`.  The session keywords
Foolscap users pass (``nickname``, ``keyfile``, ``options``, ``port``)
are those of :class:`~txi2p.config.SessionConfig`; others are refused.
Needs Foolscap installed.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from foolscap.ipb import IConnectionHintHandler, InvalidHintError
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.python.failure import Failure
from zope.interface import implementer

from txi2p.config import BridgeConfig, SessionConfig
from txi2p.i2p import I2P, connect
from txi2p.launcher import launch as launch_router

__all__ = ["I2PHintHandler", "default", "launch", "local_i2p", "sam_address_of", "sam_endpoint"]

#: ``i2p:HOST`` or ``i2p:HOST:PORT``, as Foolscap writes them.
HINT = re.compile(r"^i2p:([A-Za-z0-9.\-]+)(?::(\d{1,5}))?$")

#: Where i2pd keeps its configuration when no directory is named.
I2PD_CONFIG_DIRS = ("~/.i2pd", "/etc/i2pd", "/var/lib/i2pd")

_SESSION_KEYWORDS = frozenset({"nickname", "keyfile", "options", "port"})


def _session(kwargs: Mapping[str, Any]) -> tuple[SessionConfig | None, int | None]:
    unknown = sorted(set(kwargs) - _SESSION_KEYWORDS)
    if unknown:
        raise TypeError(f"unknown keyword(s) {', '.join(unknown)}: an I2P hint handler takes "
                        f"{', '.join(sorted(_SESSION_KEYWORDS))}")
    port = kwargs.get("port")
    if not {"nickname", "keyfile", "options"} & set(kwargs):
        return None, port
    return SessionConfig.build(nickname=kwargs.get("nickname"), keyfile=kwargs.get("keyfile"),
                               options=kwargs.get("options")), port


@implementer(IConnectionHintHandler)  # type: ignore[misc]  # foolscap has no type stubs
class I2PHintHandler:
    """Turns ``i2p:`` hints into client endpoints of one :class:`~txi2p.i2p.I2P`.

    :param reach: ``reach(reactor)`` -> ``Deferred[I2P]``, called once, at the first hint.
    :param description: what :meth:`describe` says.
    """

    def __init__(self, reach: Callable[[Any], Deferred[I2P]], description: str = "i2p", **kwargs: Any) -> None:
        self._reach = reach
        self._description = description
        self._session_config, self._port = _session(kwargs)
        self._reached: I2P | None = None
        self._waiting: list[Deferred[I2P]] = []

    def i2p(self, reactor: Any) -> Deferred[I2P]:
        """The handler's :class:`~txi2p.i2p.I2P`, reached (or launched) once; a
        failure is every waiting hint's, and the next hint tries again."""
        if self._reached is not None:
            return succeed(self._reached)
        waiting: Deferred[I2P] = Deferred()
        self._waiting.append(waiting)
        if len(self._waiting) == 1:
            self._reach(reactor).addCallbacks(self._got, self._failed)
        return waiting

    def _got(self, i2p: I2P) -> None:
        self._reached = i2p
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(i2p)

    def _failed(self, failure: Failure) -> None:
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.errback(failure)

    def quit(self) -> Deferred[None]:
        """Quit the handler's :class:`~txi2p.i2p.I2P` if it was reached (a launched
        router stops; it would at reactor shutdown anyway)."""
        if self._reached is None:
            return succeed(None)
        i2p, self._reached = self._reached, None
        return i2p.quit()

    def hint_to_endpoint(self, hint: str, reactor: Any, update_status: Callable[[str], Any]) -> Deferred[Any]:
        """``(endpoint, host)`` for *hint* (a Deferred, as Foolscap allows)."""
        match = HINT.match(hint)
        if not match:
            raise InvalidHintError("unrecognized I2P hint")
        host = match.group(1)
        port = int(match.group(2)) if match.group(2) else self._port

        async def endpoint() -> tuple[IStreamClientEndpoint, str]:
            update_status(self._description)
            i2p = await self.i2p(reactor)
            return i2p.client_endpoint(host, port, session_config=self._session_config), host

        return Deferred.fromCoroutine(endpoint())

    def describe(self) -> str:
        return self._description


def default(reactor: Any, **kwargs: Any) -> I2PHintHandler:
    """A router that runs already, at ``$I2P_SAM_ADDRESS`` or ``127.0.0.1:7656``."""
    del reactor  # the hint's reactor is used
    return I2PHintHandler(lambda r: connect(r), **kwargs)


def sam_endpoint(sam_port_endpoint: IStreamClientEndpoint, **kwargs: Any) -> I2PHintHandler:
    """A router that runs already, whose SAM bridge *sam_port_endpoint* reaches."""
    bridge = BridgeConfig(endpoint=sam_port_endpoint)
    return I2PHintHandler(lambda r: connect(r, bridge), **kwargs)


def launch(i2p_configdir: str | os.PathLike[str] | None = None, i2p_binary: str | None = None,
           **launch_options: Any) -> I2PHintHandler:
    """A router launched for this handler (:func:`txi2p.launch`) at its first hint.

    :param i2p_configdir: its data directory (None: a temporary one).
    :param i2p_binary: the i2pd to run.
    :param launch_options: more keywords of :func:`txi2p.launch`
        (``router_options``, ``reseed_file``, ``progress_updates``, ...),
        and the session keywords of every handler (``nickname``, ...).
    """
    session = {k: v for k, v in launch_options.items() if k in _SESSION_KEYWORDS}
    router = {k: v for k, v in launch_options.items() if k not in _SESSION_KEYWORDS}
    return I2PHintHandler(lambda r: launch_router(r, data_directory=i2p_configdir, i2pd_binary=i2p_binary,
                                                  **router), "i2p (launched)", **session)


def sam_address_of(i2p_configdir: str | os.PathLike[str] | None = None) -> str:
    """``host:port`` of the SAM bridge an i2pd configuration directory sets up.

    Reads ``i2pd.conf`` in *i2p_configdir* (None: the first of
    :data:`I2PD_CONFIG_DIRS` that has one); i2pd's defaults where it says
    nothing (``127.0.0.1:7656``).  Raises ValueError when SAM is disabled
    there, FileNotFoundError when there is no configuration.
    """
    candidates = [i2p_configdir] if i2p_configdir is not None else list(I2PD_CONFIG_DIRS)
    for directory in candidates:
        path = Path(os.path.expanduser(os.fspath(directory))) / "i2pd.conf"
        if path.is_file():
            break
    else:
        raise FileNotFoundError(f"no i2pd.conf in {', '.join(os.fspath(c) for c in candidates)}")
    parser = configparser.ConfigParser(interpolation=None, strict=False, inline_comment_prefixes=("#", ";"))
    parser.read_string("[top]\n" + path.read_text(errors="replace"), source=str(path))
    sam = parser["sam"] if parser.has_section("sam") else {}
    if str(sam.get("enabled", "true")).strip().lower() in ("false", "0", "no"):
        raise ValueError(f"{path} has SAM disabled ([sam] enabled = false)")
    host = str(sam.get("address", "127.0.0.1")).strip() or "127.0.0.1"
    port = str(sam.get("port", "7656")).strip() or "7656"
    return f"{host}:{port}"


def local_i2p(i2p_configdir: str | os.PathLike[str] | None = None, **kwargs: Any) -> I2PHintHandler:
    """The running i2pd whose configuration directory is *i2p_configdir*
    (its SAM bridge found by :func:`sam_address_of`, read now)."""
    address = sam_address_of(i2p_configdir)
    return I2PHintHandler(lambda r: connect(r, address), **kwargs)
