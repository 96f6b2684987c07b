"""A headless Java I2P router with SAM in the private test network.

Java I2P joins an i2pd network when its ``router.networkID`` matches
i2pd's ``netid``, local addresses are allowed (198.18/15 is not routable
for it otherwise), reseeding is off and a floodfill's ``router.info`` lies
in its netDb.  Five jars are enough (:data:`~txi2p.testing.network.JAVA_JARS`);
SAM starts from its clients config.  Java uses only reachable (``R``)
routers as inbound gateways, so the i2pd routers of such a network run
SSU2 too (see :class:`~txi2p.testing.network.PrivateI2PNetwork`), and its
sessions need at least one hop to look up remote lease sets
(:data:`JAVA_SESSION_OPTIONS`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from txi2p.address import Destination, b64encode

if TYPE_CHECKING:
    from txi2p.testing.network import I2PRouter

__all__ = ["JAVA_SESSION_OPTIONS", "java_router_command", "router_info_hash", "seed_java_netdb"]

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


def seed_java_netdb(router: I2PRouter, router_infos: Iterable[Path]) -> None:
    """Put floodfills' ``router.info`` files where a Java router reads its netDb."""
    netdb = router.datadir / "netDb"
    netdb.mkdir(parents=True, exist_ok=True)
    for path in router_infos:
        digest = b64encode(router_info_hash(path.read_bytes()))
        shutil.copyfile(path, netdb / f"routerInfo-{digest}.dat")


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
        "i2np.bandwidth.inboundKBytesPerSecond=100000",
        "i2np.bandwidth.outboundKBytesPerSecond=100000",
        "router.sharePercentage=100",
        "router.hideFloodfillParticipant=true",
        "",
    ])


def _clients(router: I2PRouter) -> str:
    assert router.sam_port is not None
    args = (f"sam.keys 127.0.0.1 {router.sam_port} i2cp.tcp.host= i2cp.tcp.port= "
            f"sam.udp.host=127.0.0.1 sam.udp.port={router.sam_port - 1}")
    return "\n".join([
        "clientApp.0.main=net.i2p.sam.SAMBridge",
        "clientApp.0.name=SAM application bridge",
        f"clientApp.0.args={args}",
        "clientApp.0.delay=0",
        "clientApp.0.onBoot=true",
        "clientApp.0.startOnLoad=true",
        "",
    ])


def java_router_command(router: I2PRouter, netid: int) -> list[str]:
    """Write the router's config files and return the command that runs it."""
    assert router.build is not None
    from txi2p.testing.network import JAVA_JARS

    d = str(router.datadir)
    (router.datadir / "router.config").write_text(_config(router, netid))
    (router.datadir / "clients.config").write_text(_clients(router))
    (router.datadir / "logs").mkdir(exist_ok=True)
    (router.datadir / "logger.config").write_text(
        "logger.defaultLevel=WARN\nlogger.record.net.i2p.sam=INFO\n"
        "logger.logFileName=logs/log-router-@.txt\nlogger.consoleBufferSize=0\n")
    jars = os.pathsep.join(os.path.join(router.build.path, jar) for jar in JAVA_JARS)
    return ["java", "-Xmx256m", "-Djava.awt.headless=true", "-cp", jars,
            *(f"-Di2p.dir.{name}={d}" for name in ("base", "config", "router", "app", "log", "pid")),
            "net.i2p.router.RouterLaunch"]
