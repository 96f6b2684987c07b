"""What one SAM bridge does: the single place router differences live.

Routers that negotiate the same SAM version behave differently (i2pd 2.45
and 2.56 both answer 3.0; i2pd 2.58 and Java I2P both answer 3.3 but
differ on PRIMARY, PING and SESSION ADD), so a version number only says
what the router *may* do.  A :class:`SAMDialect` starts from what the SAM
specification allows for the negotiated version
(:meth:`SAMDialect.for_version`) and is corrected by what the router
answers (the ``learned_*`` methods).  The bridge keeps one dialect for all
its connections, so what was learned once is never asked again; the
protocols and sessions consult it instead of testing router names.  A
dialect remembers which fields an answer set (``learned_fields``); the
others are only assumed from the version (``txi2p check`` prints the two
apart).

What each field means, how it is learned, and which routers differ:

``primary_style``
    The spelling of a session with subsessions.  The specification says
    PRIMARY from 3.3; i2pd (every version) knows only MASTER and refuses
    PRIMARY with an I2P_ERROR (closing the socket).  Learned from that
    refusal: the session is created again as MASTER, once.
``ping``
    Whether PING may be sent on a control socket.  False below 3.2 (not in
    the specification); None (not known) from 3.2 until a probe on a
    connection of its own has shown that the socket survives a PING: i2pd
    2.58 answers PONG and *then* closes the socket (which would end a
    session), Java I2P keeps it.  Routers' own PINGs are always answered.
``subsession_styles``
    The styles ``SESSION ADD`` takes.  The specification says STREAM,
    DATAGRAM and RAW from 3.3; i2pd takes only STREAM (and ends the
    primary session on the refusal, like every I2P_ERROR it sends).
    Learned from the first refusal; later requests fail at once, locally.
``streams_on_primary``
    Whether STREAM CONNECT/ACCEPT/FORWARD may name a PRIMARY session itself.
    i2pd allows it (its MASTER session is also a stream session); Java I2P
    refuses all three ("primary session": SAM 3.3 puts streams on
    subsessions).  Learned from that refusal.
``concurrent_accepts``
    Whether several STREAM ACCEPTs may be pending at once.  Never assumed:
    i2pd up to 2.56 registers ACCEPTs that arrive together twice and hands
    one socket two streams; 2.58 closes a pending ACCEPT younger than 3 s
    when the next arrives.  Listeners on a local bridge use one STREAM
    FORWARD instead (every router has it; no race, no backlog limit).
``accept_settle``
    Seconds between a cancelled ACCEPT or FORWARD and the next: i2pd does
    not register an ACCEPT that arrives while a cancelled one is still
    registered, and resets a new FORWARD's acceptor when it processes the
    old one's end late.  Harmless elsewhere.
``unforwarded_port``
    The PORT to send with a DATAGRAM or RAW session whose packets come on
    the control connection (no HOST).  None: send no PORT (the
    specification; Java I2P would forward to PORT).  i2pd 2.56 parses PORT
    unconditionally and never answers without it; it ignores PORT=0
    without HOST.  Learned from that silence (one command timeout).
``destination_release``
    Seconds a router keeps an ended session's destination: i2pd keeps it
    5 s (more while streams close), gives it to a new session created with
    the same key in that time, and then deletes it under the new session
    (2.56 aborts with heap corruption).  A session re-created with a key
    whose session ended on the same bridge waits this long first.
``stream_close_settle``
    Seconds between closing a session's open streams (its data
    connections) and closing its control connection.  i2pd 2.58 (its code
    since at least 2.56) crashed when a control connection closed while
    that session's streams were still receiving: ending the session
    terminates its streams, but a stream re-arms its 20 s receive timer
    from a handler already queued, and that timer fires after the
    destination has been deleted (about 5 s later) and uses it (heap
    use-after-free; docs/routers.rst has the sequence).  Once the router
    has seen every data connection end, it queues no such handler, so
    closing the streams first and waiting this long avoids it; harmless
    elsewhere.  Not learned: no answer shows it.
``not_found_results``
    The RESULT codes a NAMING LOOKUP or STREAM CONNECT uses for "no such
    destination (yet)": KEY_NOT_FOUND (specification, Java I2P) and
    INVALID_KEY (i2pd), for a well-formed name.
``post_quantum_enc_types``
    Whether a session's ``i2cp.leaseSetEncType`` may list the post-quantum
    hybrid types (5, 6, 7: ML-KEM with X25519).  i2pd before 2.58 takes
    any number there: with 5 or 6 listed, i2pd 2.45.1 logged "Unknown
    crypto key type" and exited (2.56.0 has the same code); i2pd 2.58
    skips the types it cannot do.  Nothing a router answers shows this
    short of that crash, so it is not probed: it is allowed from SAM 3.3,
    which the routers that skip unknown types negotiate (i2pd 2.58, Java
    I2P) and the routers seen to exit do not (they answer 3.0 or 3.1).
    Java I2P 2.7.0 refuses the session instead (I2P_ERROR "Unsupported
    crypto type: 6"): learned from that refusal, later sessions with such
    types fail at once.
``error_replies``
    Reply kinds a router may use for an *error* answer to a command of any
    kind, besides the reply the specification gives that command (see
    :mod:`txi2p.sam.replies`).  i2pd answers a command it cannot carry out
    with ``SESSION STATUS RESULT=I2P_ERROR`` whatever the command was, and
    a ``STREAM CONNECT`` to a bad destination with ``SESSION STATUS
    RESULT=INVALID_KEY``.  Such a reply is only ever taken as an error; with
    ``RESULT=OK`` it is a protocol error.  Not learned (it must hold from the
    HELLO on): it is what every router is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType

__all__ = ["MAX_VERSION", "MIN_VERSION", "REFUSALS", "SAMDialect", "refuses", "version_tuple"]

MIN_VERSION = "3.0"
MAX_VERSION = "3.3"

#: Every subsession style of SAM 3.3.
_ALL_STYLES = frozenset({"STREAM", "DATAGRAM", "RAW"})


#: How routers word the I2P_ERROR refusals a dialect learns from: the
#: field each teaches -> the words (lower case) its MESSAGE holds.
REFUSALS = MappingProxyType({
    # Java I2P 2.7.0: "Error creating I2PSocketManager: Unsupported crypto type: 6"
    "post_quantum_enc_types": "crypto type",
    # Java I2P: STREAM CONNECT/ACCEPT/FORWARD naming a PRIMARY session
    "streams_on_primary": "primary session",
    # SESSION ADD of a style the router does not take ("... STYLE ...")
    "subsession_styles": "style",
})


def refuses(message: str | None, field: str) -> bool:
    """Whether an I2P_ERROR *message* is the refusal that teaches the dialect *field* (see :data:`REFUSALS`)."""
    return REFUSALS[field] in (message or "").lower()


#: A SAM version: ASCII digits only (``str.isdigit`` takes other scripts' digits too).
_VERSION = re.compile(r"([0-9]{1,4})(?:\.([0-9]{1,4}))?")


def version_tuple(version: str) -> tuple[int, int]:
    """``"3.1"`` -> ``(3, 1)``; raises ValueError for anything else."""
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"not a SAM version: {version[:20]!r}")
    return int(match.group(1)), int(match.group(2) or "0")


@dataclass(frozen=True)
class SAMDialect:
    """What one SAM bridge does (see the module documentation for each field).

    :ivar version: the negotiated SAM version.
    :ivar primary_style: ``"PRIMARY"`` or ``"MASTER"``.
    :ivar ping: PING may be sent (True), must not be (False), or is not
        known yet (None: probe it on a connection of its own first).
    :ivar ports: FROM_PORT/TO_PORT may be sent (3.2+; routers that ignore
        them, like i2pd, accept them).
    :ivar subsession_styles: styles ``SESSION ADD`` takes.
    :ivar pipelining: several commands may be written before the first
        reply (no router is known to guarantee it: always False so far).
    :ivar control_datagram_max: largest payload ``DATAGRAM SEND`` on the
        control socket carries (i2pd reads it into an 8 KiB buffer).
    :ivar udp_port_offset: the SAM UDP port relative to the TCP port.
    :ivar udp_packet_max: largest packet the SAM UDP port takes, header
        included (i2pd: 32768).
    :ivar streams_on_primary: STREAM commands may name a PRIMARY session.
    :ivar concurrent_accepts: several STREAM ACCEPTs may be pending at once.
    :ivar accept_settle: seconds to leave between a cancelled ACCEPT or
        FORWARD and the next one.
    :ivar unforwarded_port: PORT sent with a DATAGRAM/RAW session that
        forwards nowhere, or None.
    :ivar destination_release: seconds before a destination whose session
        ended may be created again.
    :ivar stream_close_settle: seconds between closing a session's streams
        and closing its control connection.
    :ivar not_found_results: RESULT codes that mean "not found (yet)".
    :ivar post_quantum_enc_types: ``i2cp.leaseSetEncType`` may list 5-7.
    :ivar error_replies: reply kinds that may answer any command with an error.
    :ivar learned_fields: the fields a router's answer set (``version``
        from HELLO, the rest through :meth:`learned`); every other field is
        the specification's default for the version, only assumed (see
        :meth:`assumed`).  Not part of equality.
    """

    version: str = MIN_VERSION
    primary_style: str = "MASTER"
    ping: bool | None = False
    ports: bool = False
    subsession_styles: frozenset[str] = frozenset({"STREAM"})
    pipelining: bool = False
    control_datagram_max: int = 7600
    udp_port_offset: int = -1
    concurrent_accepts: bool = False
    streams_on_primary: bool = True
    udp_packet_max: int = 32768
    accept_settle: float = 1.0
    unforwarded_port: str | None = None
    destination_release: float = 6.0
    stream_close_settle: float = 1.0
    not_found_results: frozenset[str] = frozenset({"KEY_NOT_FOUND", "INVALID_KEY"})
    post_quantum_enc_types: bool = False
    error_replies: frozenset[str] = frozenset({"SESSION STATUS"})
    learned_fields: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @classmethod
    def for_version(cls, version: str) -> SAMDialect:
        """What the specification allows a router that negotiated *version*."""
        v = version_tuple(version)
        answered = frozenset({"version"})
        if v >= (3, 3):
            return cls(version, "PRIMARY", None, True, _ALL_STYLES, control_datagram_max=31744,
                       post_quantum_enc_types=True, learned_fields=answered)
        if v >= (3, 2):
            return cls(version, "MASTER", None, True, learned_fields=answered)
        return cls(version, learned_fields=answered)

    def learned(self, **changes: object) -> SAMDialect:
        """A copy corrected by what the router answered (those fields count as learned)."""
        learned_fields = self.learned_fields | changes.keys()
        return replace(self, learned_fields=learned_fields, **changes)  # type: ignore[arg-type]

    def known(self) -> dict[str, object]:
        """The fields a router's answers set, by name (in field order)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in self.learned_fields}

    def assumed(self) -> dict[str, object]:
        """The fields no answer has set: defaults for the version, not probed."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "learned_fields" and f.name not in self.learned_fields}

    def negotiated(self, version: str) -> SAMDialect:
        """This dialect after a new HELLO answered *version*.

        The same version keeps everything learned; another one (a router
        replaced behind the same address) starts again from the
        specification.
        """
        return self if version == self.version else SAMDialect.for_version(version)

    def learned_primary_refused(self) -> SAMDialect:
        """The router refused ``STYLE=PRIMARY``: it speaks MASTER."""
        return self.learned(primary_style="MASTER")

    def learned_ping(self, survives: bool) -> SAMDialect:
        """A probe showed whether a control socket survives PING."""
        return self.learned(ping=survives)

    def learned_subsession_refused(self, style: str) -> SAMDialect:
        """The router refused ``SESSION ADD STYLE=<style>``."""
        return self.learned(subsession_styles=self.subsession_styles - {style})

    def hello_versions(self) -> tuple[str, str]:
        """MIN and MAX to send on further connections to the same bridge."""
        return MIN_VERSION, self.version

    def listens_with_forward(self, bridge_is_local: bool) -> bool:
        """Listen with one STREAM FORWARD (True) or with STREAM ACCEPTs.

        FORWARD needs the router to reach our local port, so only where the
        bridge is on this host; ACCEPTs are used one at a time unless
        ``concurrent_accepts``.
        """
        return bridge_is_local

    def accepts_pending(self, wanted: int) -> int:
        """How many STREAM ACCEPTs to keep pending when *wanted* would help."""
        return wanted if self.concurrent_accepts else 1
