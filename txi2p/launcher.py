"""Start an i2pd router for this process: :func:`launch`.

The router is a child of this process with a configuration of its own
(see :mod:`txi2p.i2pd`); it stops with :meth:`txi2p.i2p.I2P.quit`, at
reactor shutdown, and when this process dies, however it dies.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred

from txi2p.config import BridgeConfig, check_port
from txi2p.errors import SAMConnectionFailed, SessionConflict, TxI2PError
from txi2p.i2p import I2P
from txi2p.i2pd import (
    I2pdRouter,
    ProgressUpdates,
    Stage,
    apply_options,
    find_i2pd_binary,
    free_sam_port,
    installed_certificates,
    router_settings,
)
from txi2p.protocol import Timeouts
from txi2p.registry import SessionRegistry

__all__ = ["DEFAULT_TIMEOUT", "RESERVED_OPTIONS", "launch", "launch_settings"]

#: Seconds a launched router gets to be ready when no *timeout* is given
#: (a first start on the real network reseeds over HTTPS, then builds tunnels).
DEFAULT_TIMEOUT = 300.0

#: Options :func:`launch` sets itself: it reads the log, owns the process
#: and keeps SAM on loopback (``sam_port=`` chooses the port).
RESERVED_OPTIONS = frozenset({
    "log", "logfile", "loglevel", "daemon", "service", "datadir", "conf", "pidfile",
    "sam.enabled", "sam.address", "sam.port",
})


def launch_settings(binary: str, data_directory: Path, sam_port: int,
                    router_options: Mapping[str, object] | None = None,
                    reseed_file: str | os.PathLike[str] | None = None) -> dict[str, dict[str, str]]:
    """The configuration :func:`launch` gives a router (see :func:`txi2p.i2pd.router_settings`)."""
    reserved = sorted(RESERVED_OPTIONS.intersection(router_options or {}))
    if reserved:
        raise ValueError(f"router_options may not set {', '.join(reserved)}: launch() sets them "
                         "(sam_port= chooses the SAM port)")
    extra: dict[str, object] = {}
    certificates = installed_certificates(binary)
    if certificates is not None:
        extra["certsdir"] = certificates
    if reseed_file is not None:
        path = Path(reseed_file)
        if not path.is_file():
            raise ValueError(f"reseed_file {os.fspath(reseed_file)!r} is not a file")
        extra["reseed.zipfile"] = str(path.resolve())
    return apply_options(apply_options(router_settings(data_directory, sam_port), extra), router_options)


def launch(reactor: Any, *, data_directory: str | os.PathLike[str] | None = None,
           i2pd_binary: str | os.PathLike[str] | None = None,
           progress_updates: ProgressUpdates | None = None, sam_port: int | None = None,
           router_options: Mapping[str, object] | None = None,
           reseed_file: str | os.PathLike[str] | None = None, kill_on_exit: bool = True,
           timeout: float | None = None) -> Deferred[I2P]:
    """Start i2pd as a child process; fires with an :class:`~txi2p.i2p.I2P`
    once the router can carry a session.

    :param data_directory: where the router keeps its identity and netDb
        (kept, so later starts are faster).  None: a temporary directory,
        removed when the router stops.
    :param i2pd_binary: the i2pd to run (default: ``i2pd`` on ``$PATH``).
    :param progress_updates: called as ``progress_updates(percent, tag,
        summary)`` at each stage reached (:data:`txi2p.i2pd.STAGES`), 5 to 100.
    :param sam_port: the SAM bridge's port on 127.0.0.1 (default: a free one).
    :param router_options: i2pd's own options on top of txi2p's
        (``{"netid": "77", "reseed.threshold": 0}``).
    :param reseed_file: a reseed zip (i2pd's ``reseed.zipfile``), e.g. to
        join a private network.
    :param kill_on_exit: stop the router at reactor shutdown and when this
        process dies (default).  False: the router keeps running (and a
        temporary data directory is left behind).
    :param timeout: seconds to get ready (default :data:`DEFAULT_TIMEOUT`).

    Fails with :class:`~txi2p.i2pd.I2pdNotFound` (no i2pd; how to install
    it), :class:`~txi2p.i2pd.DataDirectoryInUse`, or
    :class:`~txi2p.i2pd.RouterFailed` (it exited or was not ready in time:
    the stage reached and its log's tail), after stopping the router.
    """
    return Deferred.fromCoroutine(_launch(
        reactor, data_directory, i2pd_binary, progress_updates, sam_port, router_options, reseed_file,
        kill_on_exit, DEFAULT_TIMEOUT if timeout is None else float(timeout)))


async def _launch(reactor: Any, data_directory: str | os.PathLike[str] | None,
                  i2pd_binary: str | os.PathLike[str] | None, progress_updates: ProgressUpdates | None,
                  sam_port: int | None, router_options: Mapping[str, object] | None,
                  reseed_file: str | os.PathLike[str] | None, kill_on_exit: bool, timeout: float) -> I2P:
    binary = find_i2pd_binary(i2pd_binary)
    port = free_sam_port() if sam_port is None else check_port("sam_port", sam_port)
    temporary = data_directory is None
    directory = Path(tempfile.mkdtemp(prefix="txi2p-i2pd-") if data_directory is None
                     else os.path.abspath(data_directory))
    try:
        settings = launch_settings(binary, directory, port, router_options, reseed_file)
    except BaseException:
        if temporary:
            os.rmdir(directory)
        raise
    router = I2pdRouter(reactor, binary, directory, settings, temporary=temporary, guard=kill_on_exit)
    router.start()
    trigger = reactor.addSystemEventTrigger("before", "shutdown", router.stop) if kill_on_exit else None
    registry = SessionRegistry.for_reactor(reactor)
    address = f"127.0.0.1:{port}"
    try:
        # a short connect timeout: the bridge is on this machine, and is tried once a second
        bridge = registry.bridge(BridgeConfig(address, timeouts=Timeouts(connect=2.0)))
    except SessionConflict:
        # this process used the address before (a multihomed service's home
        # that was down at start): the bridge it has, with its timeouts
        bridge = registry.bridge(BridgeConfig(address))

    async def hello() -> bool:
        try:
            control = await bridge.control()
        except (SAMConnectionFailed, TxI2PError, OSError):
            return False
        control.close()
        return True

    def progress(stage: Stage) -> None:
        if progress_updates is not None:
            progress_updates(stage.percent, stage.tag, stage.summary)

    try:
        await router.wait_ready(progress, hello, timeout)
    except BaseException:
        if trigger is not None:
            reactor.removeSystemEventTrigger(trigger)
        await router.stop()
        raise
    i2p = I2P(reactor, bridge, router=router, registry=registry)
    return i2p
