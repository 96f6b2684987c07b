"""A private I2P network of real i2pd routers, for tests and demos.

One floodfill router bootstraps the network; every other router is a
client router with its own SAM bridge.  All of them run in a private
network namespace (see :mod:`txi2p.testing.namespace`) on 198.18.0.x
addresses, because i2pd refuses peers on loopback and private ranges.

Typical use::

    net = PrivateI2PNetwork(tmpdir, clients=2)
    net.start()                   # seconds: processes and bootstrap
    ...                           # SAM bridges at net.sam_addresses
    net.stop()

:mod:`txi2p.testing.ready` adds the round-trip readiness probe and
:mod:`txi2p.testing.pytest_plugin` the pytest fixtures.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from txi2p.testing.namespace import TESTNET_PREFIX, enter_private_namespace

__all__ = ["I2PRouter", "NetworkStartError", "PrivateI2PNetwork", "find_i2pd"]

Progress = Callable[[str], None]


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


@dataclass
class I2PRouter:
    """One i2pd process of the private network."""

    index: int
    host: str
    port: int
    floodfill: bool
    datadir: Path
    sam_port: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def sam_address(self) -> str:
        """``host:port`` of this router's SAM bridge (inside the namespace)."""
        if self.sam_port is None:
            raise ValueError(f"router {self.index} has no SAM bridge")
        return f"127.0.0.1:{self.sam_port}"

    @property
    def logfile(self) -> Path:
        return self.datadir / "i2pd.log"

    def config_text(self, netid: int, exploratory_length: int | None) -> str:
        sam = (
            f"enabled = true\naddress = 127.0.0.1\nport = {self.sam_port}\n"
            if self.sam_port
            else "enabled = false\n"
        )
        return f"""\
# Written by txi2p.testing for a private test network.
log = file
logfile = {self.logfile}
loglevel = info
host = {self.host}
address4 = {self.host}
port = {self.port}
ipv4 = true
ipv6 = false
nat = false
netid = {netid}
reservedrange = false
floodfill = {str(self.floodfill).lower()}
# no bandwidth cap: the default class L (32 KB/s) throttles the test traffic
bandwidth = X
share = 100
daemon = false
service = false
tunconf = {self.datadir / "tunnels.conf"}
tunnelsdir = {self.datadir / "tunnels.d"}
certsdir = {self.datadir / "certificates"}
pidfile = {self.datadir / "i2pd.pid"}

[ntcp2]
enabled = true
published = true
port = {self.port}

[ssu2]
enabled = false

[http]
enabled = false

[httpproxy]
enabled = false

[socksproxy]
enabled = false

[sam]
{sam}
[bob]
enabled = false

[i2cp]
enabled = false

[i2pcontrol]
enabled = false

[upnp]
enabled = false

[nettime]
enabled = false

[reseed]
verify = false
threshold = 0
urls = https://127.0.0.1:1/
{self._reseed_line()}

[addressbook]
enabled = true
defaulturl =
subscriptions =

{self._exploratory(exploratory_length)}"""

    @staticmethod
    def _exploratory(length: int | None) -> str:
        if length is None:
            return ""
        return (
            f"[exploratory]\ninbound.length = {length}\n"
            f"outbound.length = {length}\n"
        )

    def _reseed_line(self) -> str:
        bundle = self.datadir / "reseed.zip"
        return f"zipfile = {bundle}" if not self.floodfill else ""

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.logfile.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


class PrivateI2PNetwork:
    """A private network of i2pd routers on this machine.

    :param directory: where each router's data dir and log go (kept after
        :meth:`stop`, so logs can be read).
    :param clients: number of client routers, each with a SAM bridge.
    :param floodfills: number of floodfill routers (no SAM bridge).  Two make
        the first lease set publication reliable: with one, a publication
        that is not confirmed in time excludes it for tens of seconds.
    :param sam_base_port: SAM port of the first client router; the others
        follow 10 apart (i2pd's SAM UDP port is the TCP port minus 1).
    :param progress: called with a sentence whenever a step starts.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        clients: int = 2,
        floodfills: int = 2,
        *,
        sam_base_port: int = 7656,
        router_base_port: int = 24000,
        netid: int = 77,
        exploratory_length: int | None = None,
        i2pd: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        if clients < 1 or floodfills < 1:
            raise ValueError("a network needs at least one floodfill and one client")
        if clients + floodfills > 250:
            raise ValueError("at most 250 routers")
        self.directory = Path(directory)
        self.netid = netid
        self.exploratory_length = exploratory_length
        self.i2pd = i2pd or find_i2pd()
        self._progress = progress or (lambda message: None)
        self.routers: list[I2PRouter] = []
        for i in range(floodfills + clients):
            floodfill = i < floodfills
            self.routers.append(
                I2PRouter(
                    index=i + 1,
                    host=f"{TESTNET_PREFIX}{i + 1}",
                    port=router_base_port + i,
                    floodfill=floodfill,
                    datadir=self.directory / f"router{i + 1}",
                    sam_port=None
                    if floodfill
                    else sam_base_port + 10 * (i - floodfills),
                )
            )

    @property
    def clients(self) -> list[I2PRouter]:
        """The client routers, each with a SAM bridge."""
        return [r for r in self.routers if not r.floodfill]

    @property
    def sam_addresses(self) -> list[str]:
        """``host:port`` of every SAM bridge, one per client router."""
        return [r.sam_address for r in self.clients]

    def _start_router(self, router: I2PRouter) -> None:
        assert self.i2pd is not None
        conf = router.datadir / "i2pd.conf"
        conf.write_text(router.config_text(self.netid, self.exploratory_length))
        out = open(router.datadir / "stdout.log", "wb")
        router.process = subprocess.Popen(
            [self.i2pd, f"--datadir={router.datadir}", f"--conf={conf}"],
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
        if self.i2pd is None:
            raise NetworkStartError(
                "i2pd is not installed (apt-get install i2pd, or set $I2PD)"
            )
        self._progress("entering a private network namespace")
        enter_private_namespace(r.host for r in self.routers)
        self.directory.mkdir(parents=True, exist_ok=True)
        for router in self.routers:
            if router.datadir.exists():
                shutil.rmtree(router.datadir)
            router.datadir.mkdir(parents=True)
            (router.datadir / "tunnels.conf").write_text("")
            # i2pd 2.45.1 crashes when its address book downloads from an
            # empty URL (3 minutes after start, then every few minutes): a
            # hosts.txt makes it skip the default subscription, and a
            # subscriptions.txt of comments leaves no subscription at all
            # (an empty "subscriptions =" still yields one empty URL).
            (router.datadir / "hosts.txt").write_text("# private test network: no hosts\n")
            (router.datadir / "subscriptions.txt").write_text("# private test network: none\n")
            (router.datadir / "tunnels.d").mkdir()
            (router.datadir / "certificates").mkdir()
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
        for router in self.clients:
            with zipfile.ZipFile(router.datadir / "reseed.zip", "w") as bundle:
                for ff in floodfills:
                    bundle.write(ff.datadir / "router.info", f"routerInfo-ff{ff.index}.dat")
        self._progress(f"starting {len(self.clients)} client router(s) with SAM bridges")
        for router in self.clients:
            self._start_router(router)
        self._wait_for(
            "the SAM bridges to accept connections",
            lambda: all(_accepts(r.sam_port) for r in self.clients),
            timeout,
        )

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
