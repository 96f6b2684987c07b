"""What one SAM bridge supports: the single place router quirks live.

SAM bridges differ.  i2pd 2.45.1 answers ``HELLO ... MAX=3.3`` with 3.0,
knows only ``STYLE=MASTER``, drops a second command sent in the same write
and closes the control socket on ``PING``; Java I2P negotiates 3.3, knows
``PRIMARY`` and PINGs idle sockets itself.  A :class:`SAMDialect` is made
from the negotiated version (:meth:`SAMDialect.for_version`) and corrected
by what the router answers (:meth:`SAMDialect.learned`); the protocols
consult it instead of testing router names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["MAX_VERSION", "MIN_VERSION", "SAMDialect", "version_tuple"]

MIN_VERSION = "3.0"
MAX_VERSION = "3.3"


def version_tuple(version: str) -> tuple[int, int]:
    """``"3.1"`` -> ``(3, 1)``; raises ValueError for anything else."""
    major, _, minor = version.partition(".")
    if not major.isdigit() or not (minor or "0").isdigit():
        raise ValueError(f"not a SAM version: {version!r}")
    return int(major), int(minor or "0")


@dataclass(frozen=True)
class SAMDialect:
    """The capabilities of one SAM bridge.

    :ivar version: the negotiated SAM version.
    :ivar primary_style: ``"PRIMARY"`` or ``"MASTER"`` for sessions with
        subsessions.
    :ivar ping: PING may be sent on a control socket (3.2+; i2pd 2.45.1
        closes the session on it).
    :ivar ports: FROM_PORT/TO_PORT are honoured (3.2+).
    :ivar subsession_styles: styles ``SESSION ADD`` accepts.
    :ivar pipelining: several commands may be written before the first
        reply (no router is known to guarantee it: always False so far).
    :ivar control_datagram_max: largest payload ``DATAGRAM SEND`` on the
        control socket carries (i2pd reads it into an 8 KiB buffer).
    :ivar udp_port_offset: the SAM UDP port relative to the TCP port.
    :ivar udp_packet_max: largest packet the SAM UDP port takes, header
        included (i2pd: 32768, so raw payloads top out about 530 bytes
        below MAX_RAW there).
    :ivar concurrent_accepts: several STREAM ACCEPTs may arrive at once on
        one session.  i2pd before its SAM 3.3 support registers two that
        arrive together twice and then hands one socket two streams; txi2p
        therefore always sends ACCEPTs one after another.  It also does
        not register an ACCEPT that arrives while a cancelled one is still
        registered (see SAMSession._settle_accepts).
    """

    version: str = MIN_VERSION
    primary_style: str = "MASTER"
    ping: bool = False
    ports: bool = False
    subsession_styles: frozenset[str] = frozenset({"STREAM"})
    pipelining: bool = False
    control_datagram_max: int = 7600
    udp_port_offset: int = -1
    concurrent_accepts: bool = False
    udp_packet_max: int = 32768

    @classmethod
    def for_version(cls, version: str) -> SAMDialect:
        """The dialect a router that negotiated *version* is assumed to speak."""
        v = version_tuple(version)
        if v >= (3, 3):
            return cls(version, "PRIMARY", True, True,
                       frozenset({"STREAM", "DATAGRAM", "RAW"}), False, 31744, -1, True)
        if v >= (3, 2):
            return cls(version, "MASTER", True, True, concurrent_accepts=True)
        return cls(version)

    def learned(self, **changes: object) -> SAMDialect:
        """A copy corrected by what the router answered (e.g. ``primary_style="MASTER"``)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def hello_versions(self) -> tuple[str, str]:
        """MIN and MAX to send on further connections to the same bridge."""
        return MIN_VERSION, self.version
