"""A headless Java I2P router with SAM in the private test network.

Java I2P joins an i2pd network when its ``router.networkID`` matches
i2pd's ``netid``, local addresses are allowed (198.18/15 is not routable
for it otherwise), reseeding is off and the floodfills' ``router.info``
files lie in its netDb.  Five jars are enough
(:data:`~txi2p.testing.network.JAVA_JARS`); SAM starts from its clients
config.  What else it takes, each found by a failure first:

* Java opens its outgoing connections unbound, so on ``lo`` they would
  come from the peer's own address and i2pd drops them ("Host mismatch"):
  the namespace's local routes give Java's address as the source
  (:func:`route_from`; hence one Java router per network).
* Java reads its netDb before the netDb is marked ready and silently drops
  what it read then: ``router.maxJobRunners=1`` orders the two.
* Java uses only reachable (``R`` cap) routers as inbound gateways; i2pd
  gets ``R`` only from an SSU2 peer test, the first of which finds no
  peers on a fresh network.  The i2pd routers run SSU2 and take SIGTSTP
  as "offline" (then SIGCONT, "online", starts a test), and the network
  nudges its floodfills so until their ``router.info`` says ``R``
  (:func:`router_info_caps`) before Java is seeded and started.
* Java's 0-hop sessions do not look up remote lease sets: test sessions
  need ``TXI2P_TEST_HOPS=1`` (:data:`JAVA_SESSION_OPTIONS`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from txi2p.address import Destination, b64encode
from txi2p.errors import TxI2PError
from txi2p.testing.routers import JAVA_JARS, I2PRouter

__all__ = ["JAVA_SESSION_OPTIONS", "java_router_command", "route_from", "router_info_caps",
           "router_info_hash", "seed_java_netdb"]

#: Session options for sessions on a Java router of the test network: one
#: hop (a 0-hop Java session does not look up remote lease sets).
JAVA_SESSION_OPTIONS: Mapping[str, str] = {
    "inbound.length": "1",
    "outbound.length": "1",
    "inbound.quantity": "2",
    "outbound.quantity": "2",
    "i2cp.leaseSetEncType": "4,0",
}


def router_info_hash(router_info: bytes) -> bytes:
    """The router's hash: SHA-256 of the identity that starts a ``router.info``."""
    _identity, length = Destination.parse(router_info)
    return hashlib.sha256(router_info[:length]).digest()


def _mapping(data: bytes, offset: int) -> tuple[dict[str, str], int]:
    """An I2P Mapping (2-byte size, then ``len key = len value ;``) at *offset*."""
    size = int.from_bytes(data[offset:offset + 2], "big")
    i, end, found = offset + 2, offset + 2 + size, {}
    while i < end:
        key_len = data[i]
        key = data[i + 1:i + 1 + key_len].decode(errors="replace")
        i += 1 + key_len + 1
        value_len = data[i]
        found[key] = data[i + 1:i + 1 + value_len].decode(errors="replace")
        i += 1 + value_len + 1
    return found, end


def router_info_caps(router_info: bytes) -> str:
    """The ``caps`` option of a ``router.info`` (e.g. ``"XfR"``), or ``""``."""
    try:
        _identity, i = Destination.parse(router_info)
        i += 8  # published
        count, i = router_info[i], i + 1
        for _ in range(count):
            i += 9  # cost, expiration
            i += 1 + router_info[i]  # transport style
            _options, i = _mapping(router_info, i)
        peers = router_info[i]
        i += 1 + 32 * peers
        options, _end = _mapping(router_info, i)
    except (IndexError, ValueError, TxI2PError):
        return ""
    return options.get("caps", "")


def seed_java_netdb(router: I2PRouter, router_infos: Iterable[Path]) -> None:
    """Put floodfills' ``router.info`` files where a Java router reads its netDb."""
    for path in router_infos:
        digest = b64encode(router_info_hash(path.read_bytes()))
        folder = router.datadir / "netDb" / f"r{digest[0]}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / f"routerInfo-{digest}.dat")


def route_from(source: str, hosts: Iterable[str]) -> None:
    """Give *source* as the source address of unbound connections to *hosts*.

    Only inside the private namespace (every address is 198.18.0.x there).
    """
    ip = shutil.which("ip") or "ip"
    for host in hosts:
        subprocess.run([ip, "route", "change", "local", host, "dev", "lo", "table", "local",
                        "proto", "kernel", "scope", "host", "src", source], check=True)


def _config(router: I2PRouter, netid: int) -> str:
    return "\n".join([
        "# Written by txi2p.testing for a private test network.",
        f"router.networkID={netid}",
        "router.reseedDisable=true",
        "router.floodfillParticipant=false",
        "i2np.allowLocal=true",
        f"i2np.ntcp.hostname={router.host}",
        f"i2np.ntcp.port={router.port}",
        "i2np.ntcp.autoip=false",
        "i2np.ntcp.enable=true",
        "i2np.udp.enable=false",
        "i2np.upnp.enable=false",
        "time.disabled=true",
        "i2cp.disableInterface=true",
        "i2np.ntcp.ipv6=false",
        # Java's outbound maximum; larger values are clamped.
        "i2np.bandwidth.inboundKBytesPerSecond=16384",
        "i2np.bandwidth.outboundKBytesPerSecond=16384",
        "i2np.bandwidth.inboundBurstKBytesPerSecond=16384",
        "i2np.bandwidth.outboundBurstKBytesPerSecond=16384",
        "router.sharePercentage=80",
        # One job runner: the netDb is marked ready before its files are
        # read (with more, a router info read too early is dropped).
        "router.maxJobRunners=1",
        "",
    ])


def _clients(router: I2PRouter) -> str:
    assert router.sam_port is not None
    # (SAMBridge refuses empty option values; in the router it uses the
    # in-JVM I2CP connection anyway.)
    args = (f"sam.keys 127.0.0.1 {router.sam_port} "
            f"sam.udp.host=127.0.0.1 sam.udp.port={router.sam_port - 1}")
    return "\n".join([
        "clientApp.0.main=net.i2p.sam.SAMBridge",
        "clientApp.0.name=SAM application bridge",
        f"clientApp.0.args={args}",
        "clientApp.0.onBoot=true",
        "clientApp.0.startOnLoad=true",
        "",
    ])


def java_router_command(router: I2PRouter, netid: int) -> list[str]:
    """Write the router's config files and return the command that runs it."""
    assert router.build is not None
    d = str(router.datadir)
    (router.datadir / "router.config").write_text(_config(router, netid))
    (router.datadir / "clients.config").write_text(_clients(router))
    (router.datadir / "logs").mkdir(exist_ok=True)
    (router.datadir / "logger.config").write_text(
        "logger.defaultLevel=WARN\nlogger.record.net.i2p.sam=INFO\n"
        "logger.record.net.i2p.router.client=INFO\n")
    jars = os.pathsep.join(os.path.join(router.build.path, jar) for jar in JAVA_JARS)
    return ["java", "-Xmx256m", "-Djava.awt.headless=true", "-cp", jars,
            *(f"-Di2p.dir.{name}={d}" for name in ("base", "config", "router", "app", "log", "pid")),
            "net.i2p.router.RouterLaunch"]
