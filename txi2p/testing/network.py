"""A private I2P network of real routers, for tests and demos.

Floodfill routers bootstrap the network; every other router is a client
router with its own SAM bridge.  All of them run in a private network
namespace (see :mod:`txi2p.testing.namespace`) on 198.18.0.x addresses,
because i2pd refuses peers on loopback and private ranges.

Each router is any i2pd binary (any version) or a Java I2P router given
the directory of its jars (:class:`RouterBuild`), so a network can mix
them: a 2.45 floodfill with 2.56 client routers, a client on one version
and a server on another, or a Java router among i2pd ones.

Typical use::

    net = PrivateI2PNetwork(tmpdir, clients=2)
    net.start()                   # seconds: processes and bootstrap
    ...                           # SAM bridges at net.sam_addresses
    net.stop()

    mixed = PrivateI2PNetwork(tmpdir, floodfills=["i2pd:/usr/sbin/i2pd"] * 2,
                              clients=["i2pd:/opt/i2pd-2.58/i2pd", "java:/opt/i2p/lib"])

:mod:`txi2p.testing.ready` adds the round-trip readiness probe and
:mod:`txi2p.testing.pytest_plugin` the pytest fixtures.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from txi2p.child_guard import guarded_command
from txi2p.config import Progress
from txi2p.i2pd import prepare_data_directory, router_command
from txi2p.testing.java import java_router_command, route_from, router_info_caps, seed_java_netdb
from txi2p.testing.namespace import TESTNET_PREFIX, enter_private_namespace
from txi2p.testing.routers import JAVA_JARS, I2PRouter, NetworkStartError, RouterBuild, join_options

__all__ = ["JAVA_JARS", "TESTNET_FILES", "I2PRouter", "NetworkStartError", "PrivateI2PNetwork", "RouterBuild", "find_i2pd",
           "join_options"]


#: Files every test-network router's data directory gets.  i2pd 2.45.1
#: crashes when its address book downloads from an empty URL (3 minutes
#: after start, then every few minutes): a hosts.txt makes it skip the
#: default subscription, and a subscriptions.txt of comments leaves no
#: subscription at all (an empty "subscriptions =" still yields one empty URL).
TESTNET_FILES = {
    "hosts.txt": "# private test network: no hosts\n",
    "subscriptions.txt": "# private test network: none\n",
}


def find_i2pd() -> str | None:
    """Path of the i2pd binary, from ``$I2PD`` or ``$PATH``."""
    explicit = os.environ.get("I2PD")
    if explicit:
        return explicit
    return shutil.which("i2pd") or (
        "/usr/sbin/i2pd" if os.path.exists("/usr/sbin/i2pd") else None
    )


class PrivateI2PNetwork:
    """A private network of I2P routers on this machine.

    :param directory: where each router's data dir and log go (kept after
        :meth:`stop`, so logs can be read).
    :param clients: the client routers, each with a SAM bridge: a number
        (that many of the default i2pd), or one :class:`RouterBuild` (or
        spec string, see :meth:`RouterBuild.parse`) per router.
    :param floodfills: the floodfill routers (no SAM bridge), likewise; i2pd
        only.  Two make the first lease set publication reliable: with
        one, a publication that is not confirmed in time excludes it for
        tens of seconds.
    :param sam_base_port: SAM port of the first client router; the others
        follow 10 apart (i2pd's SAM UDP port is the TCP port minus 1).
    :param i2pd: the default i2pd binary (default :func:`find_i2pd`).
    :param progress: called with a sentence whenever a step starts.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        clients: int | Sequence[str | RouterBuild] = 2,
        floodfills: int | Sequence[str | RouterBuild] = 2,
        *,
        sam_base_port: int = 7656,
        router_base_port: int = 24000,
        netid: int = 77,
        exploratory_length: int | None = None,
        i2pd: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.netid = netid
        self.exploratory_length = exploratory_length
        self.i2pd = i2pd or find_i2pd()
        self._progress = progress or (lambda message: None)
        client_builds = self._builds(clients)
        floodfill_builds = self._builds(floodfills)
        _check_builds(client_builds, floodfill_builds)
        self.routers: list[I2PRouter] = []
        builds = [(True, b) for b in floodfill_builds] + [(False, b) for b in client_builds]
        for i, (floodfill, build) in enumerate(builds):
            self.routers.append(
                I2PRouter(
                    index=i + 1,
                    host=f"{TESTNET_PREFIX}{i + 1}",
                    port=router_base_port + i,
                    floodfill=floodfill,
                    datadir=self.directory / f"router{i + 1}",
                    sam_port=None
                    if floodfill
                    else sam_base_port + 10 * (i - len(floodfill_builds)),
                    build=build,
                )
            )

    def _builds(self, spec: int | Sequence[str | RouterBuild]) -> list[RouterBuild | None]:
        if isinstance(spec, int):
            return [None] * spec  # the default i2pd, resolved at start()
        return [RouterBuild.parse(item) for item in spec]

    @property
    def has_java(self) -> bool:
        return any(r.is_java for r in self.routers)

    def describe(self) -> str:
        """One line per router: its role, address and build (runs each build once)."""
        versions: dict[RouterBuild, str] = {}
        lines = []
        for router in self.routers:
            build = router.build
            if build is not None and build not in versions:
                try:
                    versions[build] = build.version()
                except (OSError, subprocess.SubprocessError) as e:
                    versions[build] = f"? ({e})"
            role = "floodfill" if router.floodfill else f"SAM {router.sam_address}"
            lines.append(f"router {router.index} ({router.host}, {role}): "
                         f"{versions.get(build, '?') if build else '?'}")
        return "\n".join(lines)

    @property
    def clients(self) -> list[I2PRouter]:
        """The client routers, each with a SAM bridge."""
        return [r for r in self.routers if not r.floodfill]

    @property
    def sam_addresses(self) -> list[str]:
        """``host:port`` of every SAM bridge, one per client router."""
        return [r.sam_address for r in self.clients]

    def _start_router(self, router: I2PRouter) -> None:
        assert router.build is not None
        # Routers started from the main thread die with this process, even a
        # SIGKILLed one (txi2p.child_guard: the kernel's signal follows the
        # thread that started them, so not from other threads).
        guard = threading.current_thread() is threading.main_thread()
        if router.is_java:
            command = java_router_command(router, self.netid)
            command = guarded_command(command) if guard else command
        else:
            conf = router.datadir / "i2pd.conf"
            conf.write_text(router.config_text(self.netid, self.exploratory_length, self.has_java))
            command = router_command(router.build.path, router.datadir, conf, guard=guard)
        out = open(router.datadir / "stdout.log", "wb")
        router.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    def _wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        self._progress(f"waiting for {what}")
        deadline = time.monotonic() + timeout
        while not check():
            for router in self.routers:
                if router.process is not None and router.process.poll() is not None:
                    raise NetworkStartError(
                        f"router {router.index} exited with code "
                        f"{router.process.returncode} while waiting for {what}\n"
                        + self.logs()
                    )
            if time.monotonic() > deadline:
                raise NetworkStartError(f"timed out waiting for {what}\n" + self.logs())
            time.sleep(0.1)

    def start(self, timeout: float = 60.0) -> None:
        """Start every router and wait until each SAM bridge accepts TCP.

        Enters the private namespace first (see
        :func:`~txi2p.testing.namespace.enter_private_namespace`).
        """
        self._resolve_builds()
        self._progress("entering a private network namespace")
        enter_private_namespace(r.host for r in self.routers)
        for java in (r for r in self.routers if r.is_java):
            route_from(java.host, (r.host for r in self.routers if not r.is_java))
        self._prepare_directories()
        floodfills = self._start_floodfills(timeout)
        self._start_i2pd_clients()
        self._start_java_clients(floodfills, timeout)
        self._wait_for(
            "the SAM bridges to accept connections",
            lambda: all(_accepts(r.sam_port) for r in self.clients),
            timeout,
        )

    def _resolve_builds(self) -> None:
        """The default i2pd for routers without a build; every build checked."""
        for router in self.routers:
            if router.build is None:
                if self.i2pd is None:
                    raise NetworkStartError(
                        "i2pd is not installed (apt-get install i2pd, or set $I2PD)")
                router.build = RouterBuild("i2pd", self.i2pd)
        for build in {r.build for r in self.routers if r.build is not None}:
            build.check()

    def _prepare_directories(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for router in self.routers:
            if router.datadir.exists():
                shutil.rmtree(router.datadir)
            prepare_data_directory(router.datadir, TESTNET_FILES)

    def _start_floodfills(self, timeout: float) -> list[I2PRouter]:
        """Start the floodfills; they once each wrote its router.info."""
        floodfills = [r for r in self.routers if r.floodfill]
        self._progress(f"starting {len(floodfills)} floodfill router(s)")
        for router in floodfills:
            self._start_router(router)
        self._wait_for(
            "the floodfill routers to write router.info",
            lambda: all((r.datadir / "router.info").exists() for r in floodfills),
            timeout,
        )
        time.sleep(0.2)  # router.info is written in one go; be safe anyway
        return floodfills

    def _start_i2pd_clients(self) -> None:
        i2pd_clients = [r for r in self.clients if not r.is_java]
        for router in i2pd_clients:
            self.reseed_zip(router.datadir / "reseed.zip")
        self._progress(f"starting {len(i2pd_clients)} i2pd client router(s) with SAM bridges")
        for router in i2pd_clients:
            self._start_router(router)

    def _start_java_clients(self, floodfills: list[I2PRouter], timeout: float) -> None:
        java_clients = [r for r in self.clients if r.is_java]
        if not java_clients:
            return
        # Java needs reachable (R) floodfills in its netDb from the start:
        # it does not pick up their updated router.info later.
        self._make_reachable(floodfills, timeout)
        self._progress("starting the Java I2P router")
        for router in java_clients:
            seed_java_netdb(router, [ff.datadir / "router.info" for ff in floodfills])
            self._start_router(router)

    def reseed_zip(self, path: str | os.PathLike[str]) -> Path:
        """Write a reseed zip of the floodfills' router.info at *path* (for a
        router joining this network: ``reseed_file=`` of :func:`txi2p.launch`)."""
        with zipfile.ZipFile(path, "w") as bundle:
            for ff in (r for r in self.routers if r.floodfill):
                bundle.write(ff.datadir / "router.info", f"routerInfo-ff{ff.index}.dat")
        return Path(path)

    def _make_reachable(self, floodfills: list[I2PRouter], timeout: float) -> None:
        """Nudge the floodfills until their router.info has the R cap (for Java)."""
        self._progress("waiting for the floodfills to be reachable (R cap) for the Java router")
        deadline = time.monotonic() + timeout
        time.sleep(2.0)
        while True:
            pending = [r for r in floodfills
                       if "R" not in router_info_caps((r.datadir / "router.info").read_bytes())]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise NetworkStartError("the floodfills did not get the R cap (an SSU2 peer test) "
                                        "in time\n" + self.logs())
            for router in pending:
                if router.process is not None:
                    router.process.send_signal(signal.SIGTSTP)
            time.sleep(0.2)
            for router in pending:
                if router.process is not None:
                    router.process.send_signal(signal.SIGCONT)
            time.sleep(2.0)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop every router (SIGTERM, then SIGKILL after *timeout*).

        i2pd 2.45.1 often takes 10 s or more to exit on SIGTERM; a test
        network's state is disposable, so it is not waited for longer.
        """
        for router in self.routers:
            if router.running():
                assert router.process is not None
                router.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for router in self.routers:
            if router.process is None:
                continue
            try:
                router.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                router.process.kill()
                router.process.wait()

    def kill(self, router: I2PRouter) -> None:
        """SIGKILL one router (for fault tests)."""
        if router.running():
            assert router.process is not None
            router.process.kill()
            router.process.wait()

    def restart(self, router: I2PRouter, timeout: float = 60.0) -> None:
        """Start a stopped router again with the same data dir."""
        if router.running():
            raise RuntimeError(f"router {router.index} is still running")
        self._start_router(router)
        if router.sam_port:
            self._wait_for(
                f"router {router.index}'s SAM bridge",
                lambda: _accepts(router.sam_port),
                timeout,
            )

    def add_tunnels(self, router: I2PRouter, name: str, config: str) -> Path:
        """Give *router* i2pd's own client/server tunnels, at once.

        *config* is ``tunnels.conf`` text (one ``[section]`` per tunnel); it
        goes to ``tunnels.d/<name>.conf`` and a running router reloads its
        tunnel configuration (SIGHUP).  A server tunnel whose ``keys`` file
        does not exist yet gets new keys, written there by i2pd.  Returns
        the file written.
        """
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"tunnel file name {name!r}: letters, digits, '-' and '_' only")
        path = router.datadir / "tunnels.d" / f"{name}.conf"
        path.write_text(config)
        if router.running():
            assert router.process is not None
            router.process.send_signal(signal.SIGHUP)
        return path

    def logs(self, lines: int = 60) -> str:
        """The tail of every router's log, for a failure report."""
        parts = []
        for router in self.routers:
            parts.append(
                f"----- router {router.index} ({router.host}, "
                f"{'floodfill' if router.floodfill else 'SAM ' + router.sam_address}) "
                f"log tail -----\n{router.log_tail(lines)}"
            )
        return "\n".join(parts)

    def __enter__(self) -> PrivateI2PNetwork:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _check_builds(clients: list[RouterBuild | None], floodfills: list[RouterBuild | None]) -> None:
    """Refuse a network its routers cannot make."""
    if not clients or not floodfills:
        raise ValueError("a network needs at least one floodfill and one client")
    if len(clients) + len(floodfills) > 250:
        raise ValueError("at most 250 routers")
    if any(b is not None and b.kind == "java" for b in floodfills):
        raise ValueError("floodfill routers must be i2pd (Java routers can be clients)")
    if sum(b is not None and b.kind == "java" for b in clients) > 1:
        raise ValueError("at most one Java router per network (its connections get their "
                         "source address from the namespace's routes)")


def _accepts(port: int | None) -> bool:
    if port is None:
        return True
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
