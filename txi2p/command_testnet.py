"""``txi2p testnet``: a private network of i2pd routers in a network
namespace of its own, until stopped or around a command run inside it."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from twisted.internet import defer
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from txi2p.command_stop import CommandError, Stopped, Until, sigint_ignored, signals_interrupt

__all__ = ["testnet"]

#: What ``testnet`` says when the namespace cannot be made.
_NO_NAMESPACE = ("cannot make a private network namespace: {} (run as root, or allow "
                 "unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1, "
                 "and on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0)")


class _Child(ProcessProtocol):
    """The command run inside the network."""

    def __init__(self) -> None:
        self.status: int | None = None
        self._waiting: list[Deferred[int]] = []

    def processEnded(self, reason: Failure) -> None:
        ended: Any = reason.value  # ProcessDone or ProcessTerminated
        code, number = ended.exitCode, ended.signal
        self.status = code if code is not None else 128 + (number or 0)
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(self.status)

    def ended(self) -> Deferred[int]:
        """Fires with its exit status (128 + N for signal N); cancelling it leaves the child."""
        if self.status is not None:
            return succeed(self.status)
        d: Deferred[int] = Deferred(lambda d: self._waiting.remove(d) if d in self._waiting else None)
        self._waiting.append(d)
        return d

    def signal(self, name: str) -> None:
        if self.status is None and self.transport is not None:
            with contextlib.suppress(Exception):  # it may have exited meanwhile
                self.transport.signalProcess(name)


def _user_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/user")
    except OSError:
        return "?"


def _child_command(args: argparse.Namespace) -> tuple[list[str], str | None]:
    """The command to run inside (empty: none) and its executable; refused if not found."""
    child = list(args.child[1:] if args.child[:1] == ["--"] else args.child)
    executable = shutil.which(child[0]) if child else None
    if child and executable is None:
        raise CommandError(f"{child[0]}: command not found (nothing was started)")
    return child, executable


def _i2pd(args: argparse.Namespace) -> str:
    """The i2pd to run (absolute), checked."""
    from txi2p.testing import network

    i2pd = args.i2pd or network.find_i2pd()
    if i2pd is None:
        raise CommandError("i2pd is not installed: apt-get install i2pd, or give --i2pd PATH (or set $I2PD)")
    try:
        network.RouterBuild("i2pd", os.path.abspath(i2pd)).check()
    except network.NetworkStartError as e:
        raise CommandError(f"{e} (--i2pd PATH, or $I2PD)") from None
    return os.path.abspath(i2pd)


def _start(net: Any) -> None:
    """Start *net*'s routers in a namespace of their own (even inside another test network's)."""
    from txi2p.testing import namespace, network

    try:
        with signals_interrupt():
            namespace.enter_private_namespace([r.host for r in net.routers], fresh=True)
            net.start()
    except namespace.NamespaceUnavailable as e:
        raise CommandError(_NO_NAMESPACE.format(e)) from None
    except network.NetworkStartError as e:
        raise CommandError(str(e)) from None


async def _wait_ready(reactor: Any, net: Any, until: Until, say: Callable[[str], None]) -> None:
    """Once a session on every router is up and a stream went across (Stopped if stopped first)."""
    from txi2p.testing.ready import NetworkNotReady, wait_until_ready

    try:
        sessions = await until.until(Deferred.fromCoroutine(
            wait_until_ready(reactor, net, progress=say, prefix="testnet-probe")))
    except NetworkNotReady as e:
        raise CommandError(f"{e}\n{net.logs(20)}") from None
    await gatherResults([session.close() for session in sessions])


def _up(net: Any, took: float, no_wait: bool) -> str:
    """What is up after *took* seconds."""
    if no_wait:
        return f"the SAM bridges are up ({took:.1f} s); the network carries streams in 20-40 s"
    across = " and a stream went from one router to another" if len(net.clients) > 1 else ""
    return f"the network is up ({took:.0f} s): sessions come up{across}"


async def _watch(reactor: Any, net: Any, until: Until) -> int:
    """Until stopped (0), or a router's end (CommandError)."""
    while not until.stopped:
        for router in net.routers:
            process = getattr(router, "process", None)
            if process is not None and process.poll() is not None:
                raise CommandError(f"router {router.index} exited (status {process.returncode}); "
                                   f"the end of its log:\n{router.log_tail(20)}")
        await deferLater(reactor, 1.0, lambda: None)
    return 0


async def testnet(reactor: Any, args: argparse.Namespace, until: Until, out: TextIO,
                  say: Callable[[str], None]) -> int:
    """Run ``txi2p testnet`` with *args*; the exit status."""
    from txi2p.testing import network

    child, executable = _child_command(args)
    i2pd = _i2pd(args)
    # Let the reactor start first: from then on its handlers catch SIGINT and
    # SIGTERM (it starts no thread: a user namespace needs a single thread).
    await deferLater(reactor, 0, lambda: None)
    directory = Path(tempfile.mkdtemp(prefix="txi2p-testnet-"))
    net = network.PrivateI2PNetwork(directory, clients=args.routers, floodfills=2, i2pd=i2pd, progress=say)
    started = time.monotonic()
    user_ns = _user_namespace()
    stopped = 130 if child else 0
    try:
        try:
            _start(net)
        except KeyboardInterrupt:
            say("interrupted while starting")
            return stopped
        say("routers:\n" + net.describe())
        if not args.no_wait:
            try:
                await _wait_ready(reactor, net, until, say)
            except Stopped:
                return stopped
        say(_up(net, time.monotonic() - started, args.no_wait))
        if executable is not None:
            return await _run_child(reactor, executable, child, net.sam_addresses, until, out, say)
        _print_testnet(net, user_ns != _user_namespace(), out)
        return await _watch(reactor, net, until)
    finally:
        say("stopping the routers")
        net.stop()
        if args.keep:
            say(f"kept the routers' data and logs in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


def _print_testnet(net: Any, user_ns: bool, out: TextIO) -> None:
    shell = os.environ.get("SHELL") or "/bin/sh"
    enter = f"nsenter --target {os.getpid()} --net" + (" --user --preserve-credentials" if user_ns else "")
    lines = [
        "SAM bridges (reachable only inside this network's namespace):",
        *(f"  I2P_SAM_ADDRESS={address}" for address in net.sam_addresses),
        "a shell inside it (from another terminal):",
        f"  {enter} -- env I2P_SAM_ADDRESS={net.sam_addresses[0]} {shell}",
        "or run a program inside a new network: txi2p testnet -- PROGRAM [ARGS ...]",
        "the test suite's sessions use 0-hop tunnels here: inbound.length=0 outbound.length=0 (e.g. "
        "txi2p check -o inbound.length=0 -o outbound.length=0, or in_depth=0:out_depth=0 in i2p: strings)",
        "Ctrl-C stops the routers.",
    ]
    print("\n".join(lines), file=out, flush=True)


async def _run_child(reactor: Any, executable: str, argv: list[str], sam_addresses: list[str],
                     until: Until, out: TextIO, say: Callable[[str], None]) -> int:
    env = {**os.environ, "I2P_SAM_ADDRESS": sam_addresses[0], "I2P_SAM_ADDRESSES": ",".join(sam_addresses)}
    say(f"running {' '.join(argv)} inside the network (I2P_SAM_ADDRESS={sam_addresses[0]})")
    out.flush()
    child = _Child()
    with sigint_ignored():
        reactor.spawnProcess(child, executable, argv, env=env, childFDs={0: 0, 1: 1, 2: 2})
        try:
            status: int = await until.until(child.ended())
        except Stopped:
            say(f"stopping {argv[0]} (SIGTERM)")
            child.signal("TERM")
            try:
                status = await child.ended().addTimeout(10, reactor)
            except defer.TimeoutError:
                say(f"{argv[0]} did not exit in 10 s: SIGKILL")
                child.signal("KILL")
                status = await child.ended()
    say(f"{argv[0]} exited with status {status}")
    return status
