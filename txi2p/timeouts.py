"""How long each kind of SAM command may take (a value; no Twisted)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Timeouts"]


@dataclass(frozen=True)
class Timeouts:
    """Seconds each kind of SAM command may take before it fails.

    A router can leave a command unanswered forever (i2pd does, for a
    ``SESSION ADD`` without ``FROM_PORT``), so every command has one.
    """

    #: TCP connection to the SAM bridge.
    connect: float = 10.0
    #: ``HELLO`` and ordinary commands (lookups, DEST GENERATE, ...).
    command: float = 30.0
    #: ``SESSION CREATE`` (i2pd answers only after a 20 s readiness check).
    session_create: float = 60.0
    #: ``STREAM CONNECT`` (includes the router's lease set lookup).  Longer
    #: than the routers' own connect timeout (Java I2P: 60 s), so that their
    #: answer (``CANT_REACH_PEER``) comes first.
    stream_connect: float = 90.0
    #: Interval between keep-alive PINGs (routers that support them), or 0.
    keepalive: float = 60.0
