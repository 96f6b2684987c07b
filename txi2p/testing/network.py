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
from dataclasses import dataclass, field
from pathlib import Path

from txi2p.child_guard import guarded_command
from txi2p.i2pd import (
    Settings,
    apply_options,
    prepare_data_directory,
    render_config,
    router_command,
    router_settings,
)
from txi2p.testing.java import java_router_command, route_from, router_info_caps, seed_java_netdb
from txi2p.testing.namespace import TESTNET_PREFIX, enter_private_namespace

__all__ = ["TESTNET_FILES", "I2PRouter", "NetworkStartError", "PrivateI2PNetwork", "RouterBuild", "find_i2pd",
           "join_options"]

Progress = Callable[[str], None]


#: Files every test-network router's data directory gets.  i2pd 2.45.1
#: crashes when its address book downloads from an empty URL (3 minutes
#: after start, then every few minutes): a hosts.txt makes it skip the
#: default subscription, and a subscriptions.txt of comments leaves no
#: subscription at all (an empty "subscriptions =" still yields one empty URL).
TESTNET_FILES = {
    "hosts.txt": "# private test network: no hosts\n",
    "subscriptions.txt": "# private test network: none\n",
}


def join_options(host: str, port: int, netid: int, *, floodfill: bool = False, ssu2: bool = False,
                 exploratory_length: int | None = None) -> dict[str, object]:
    """i2pd options (``router_options`` of :func:`txi2p.launch`) for a router
    that joins a private network: its 198.18.0.x *host* and *port*, the
    network's *netid*, no NAT/IPv6, reserved ranges allowed, NTCP2 published.

    A joining router also needs the network's reseed zip (``reseed_file=``,
    see :meth:`PrivateI2PNetwork.reseed_zip`) and *host* on ``lo`` in the
    private namespace (:func:`~txi2p.testing.namespace.enter_private_namespace`).
    """
    options: dict[str, object] = {
        "host": host, "address4": host, "port": port, "ipv4": True, "ipv6": False, "nat": False,
        "netid": netid, "reservedrange": False, "floodfill": floodfill,
        "ntcp2.enabled": True, "ntcp2.published": True, "ntcp2.port": port,
    }
    if ssu2:
        # A Java router uses only routers with the R (reachable) cap as
        # inbound gateways, which i2pd routers get only from an SSU2 peer
        # test; SIGTSTP then SIGCONT (offline, online) starts one.
        options.update({"ssu2.enabled": True, "ssu2.published": True, "ssu2.port": port,
                        "unix.handle_sigtstp": True})
    else:
        options["ssu2.enabled"] = False
    if exploratory_length is not None:
        options.update({"exploratory.inbound.length": exploratory_length,
                        "exploratory.outbound.length": exploratory_length})
    return options


class NetworkStartError(RuntimeError):
    """The private network could not be started; the message says why."""


def find_i2pd() -> str | None:
    """Path of the i2pd binary, from ``$I2PD`` or ``$PATH``."""
    explicit = os.environ.get("I2PD")
    if explicit:
        return explicit
    return shutil.which("i2pd") or (
        "/usr/sbin/i2pd" if os.path.exists("/usr/sbin/i2pd") else None
    )


#: The jars a headless Java I2P router with SAM needs.
JAVA_JARS = ("i2p.jar", "router.jar", "mstreaming.jar", "streaming.jar", "sam.jar")


@dataclass(frozen=True)
class RouterBuild:
    """What runs one router: an i2pd binary, or the jars of a Java I2P build.

    :ivar kind: ``"i2pd"`` or ``"java"``.
    :ivar path: the i2pd executable (a wrapper script is fine), or the
        directory holding the Java jars (:data:`JAVA_JARS`).
    """

    kind: str
    path: str

    @classmethod
    def parse(cls, spec: str | RouterBuild) -> RouterBuild:
        """``"i2pd:PATH"``, ``"java:DIR"``, or a bare path (an i2pd binary)."""
        if isinstance(spec, RouterBuild):
            return spec
        kind, sep, path = spec.partition(":")
        if not sep or kind not in ("i2pd", "java"):
            kind, path = "i2pd", spec
        if not path:
            raise ValueError(f"router build {spec!r}: give i2pd:PATH or java:DIR")
        return cls(kind, os.path.abspath(os.path.expanduser(path)))

    @classmethod
    def parse_list(cls, text: str) -> list[RouterBuild]:
        """Comma-separated specs (``$TXI2P_ROUTERS``), e.g. ``i2pd:/a,java:/b``."""
        return [cls.parse(part.strip()) for part in text.split(",") if part.strip()]

    def check(self) -> None:
        """Raise :class:`NetworkStartError` if this build cannot run here."""
        if self.kind == "java":
            missing = [j for j in JAVA_JARS if not os.path.exists(os.path.join(self.path, j))]
            if missing:
                raise NetworkStartError(
                    f"Java I2P build {self.path} lacks {', '.join(missing)} (build them with "
                    "'ant buildCore buildRouter buildMinistreaming buildStreaming buildSAM')")
            if shutil.which("java") is None:
                raise NetworkStartError("Java I2P needs a Java runtime (apt-get install openjdk-17-jre-headless)")
        elif not os.access(self.path, os.X_OK):
            raise NetworkStartError(f"i2pd binary {self.path} is missing or not executable")

    def version(self) -> str:
        """What the build says of its version (runs it once)."""
        if self.kind == "java":
            jars = os.pathsep.join(os.path.join(self.path, j) for j in JAVA_JARS)
            out = subprocess.run(["java", "-cp", jars, "net.i2p.router.RouterVersion"],
                                 capture_output=True, text=True, timeout=60).stdout
            line = out.splitlines()[0] if out else "?"
            return "Java I2P " + line.rpartition(":")[2].strip()
        out = subprocess.run([self.path, "--version"], capture_output=True, text=True,
                             timeout=60).stdout
        return out.splitlines()[0] if out else "?"

    def __str__(self) -> str:
        return f"{self.kind}:{self.path}"


@dataclass
class I2PRouter:
    """One router process of the private network."""

    index: int
    host: str
    port: int
    floodfill: bool
    datadir: Path
    sam_port: int | None = None
    build: RouterBuild | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def is_java(self) -> bool:
        return self.build is not None and self.build.kind == "java"

    @property
    def sam_address(self) -> str:
        """``host:port`` of this router's SAM bridge (inside the namespace)."""
        if self.sam_port is None:
            raise ValueError(f"router {self.index} has no SAM bridge")
        return f"127.0.0.1:{self.sam_port}"

    @property
    def http_proxy_address(self) -> str | None:
        """``host:port`` of this router's HTTP proxy to I2P sites (i2pd client
        routers; inside the namespace), or None."""
        if self.sam_port is None or self.is_java:
            return None
        return f"127.0.0.1:{self.sam_port + 2}"

    @property
    def logfile(self) -> Path:
        if self.is_java:
            return self.datadir / "logs" / "log-0.txt"
        return self.datadir / "i2pd.log"

    def settings(self, netid: int, exploratory_length: int | None, ssu2: bool = False) -> Settings:
        """This router's configuration: txi2p's for every router it starts
        (:func:`txi2p.i2pd.router_settings`) with :func:`join_options` and the
        test network's own (HTTP proxy, address book, reseeding) on top."""
        options = join_options(self.host, self.port, netid, floodfill=self.floodfill, ssu2=ssu2,
                               exploratory_length=exploratory_length)
        options.update({
            # the test network's routers share the CA-less certificates dir of their own
            "certsdir": self.datadir / "certificates",
            # no bandwidth cap: the default class L (32 KB/s) throttles the test traffic
            "bandwidth": "X",
            "share": 100,
            "nettime.enabled": False,
            "reseed.verify": False,
            "reseed.threshold": 0,
            "reseed.urls": "https://127.0.0.1:1/",
            # kept on: i2pd 2.45.1 segfaults on a base64 STREAM CONNECT without it
            # (TESTNET_FILES keep it from downloading anything)
            "addressbook.enabled": True,
            "addressbook.defaulturl": "",
            "addressbook.subscriptions": "",
        })
        if not self.floodfill:
            options["reseed.zipfile"] = self.datadir / "reseed.zip"
        options.update(self._http_proxy(exploratory_length))
        return apply_options(router_settings(self.datadir, self.sam_port), options)

    def config_text(self, netid: int, exploratory_length: int | None, ssu2: bool = False) -> str:
        return render_config(self.settings(netid, exploratory_length, ssu2),
                             header="Written by txi2p.testing for a private test network.")

    def _http_proxy(self, hops: int | None) -> dict[str, object]:
        if self.http_proxy_address is None:
            return {}
        host, _, port = self.http_proxy_address.partition(":")
        length = 1 if hops is None else hops
        return {"httpproxy.enabled": True, "httpproxy.address": host, "httpproxy.port": port,
                "httpproxy.addresshelper": False, "httpproxy.inbound.length": length,
                "httpproxy.outbound.length": length}

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.logfile.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


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
        if not client_builds or not floodfill_builds:
            raise ValueError("a network needs at least one floodfill and one client")
        if len(client_builds) + len(floodfill_builds) > 250:
            raise ValueError("at most 250 routers")
        if any(b is not None and b.kind == "java" for b in floodfill_builds):
            raise ValueError("floodfill routers must be i2pd (Java routers can be clients)")
        if sum(b is not None and b.kind == "java" for b in client_builds) > 1:
            raise ValueError("at most one Java router per network (its connections get their "
                             "source address from the namespace's routes)")
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


def _accepts(port: int | None) -> bool:
    if port is None:
        return True
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
