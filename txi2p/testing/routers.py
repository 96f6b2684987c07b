"""One router of a private test network: what runs it (:class:`RouterBuild`),
its place and configuration (:class:`I2PRouter`).  Importable from
:mod:`txi2p.testing.network` too."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from txi2p.i2pd import Settings, apply_options, render_config, router_settings

__all__ = ["JAVA_JARS", "I2PRouter", "NetworkStartError", "RouterBuild", "join_options"]


class NetworkStartError(RuntimeError):
    """The private network could not be started; the message says why."""


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
