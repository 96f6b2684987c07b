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

What a refusal teaches, and what to do about it, is one table too
(:data:`LESSONS`): :meth:`SAMDialect.lesson` takes the command (an
:class:`Attempt`) and the router's error, and gives a :class:`Lesson`: the
dialect after it, and whether to retry (as what), fail locally, or let the
router's error stand.  :meth:`SAMDialect.forbids` says what the dialect
already knows the router refuses, before the command is sent.  The
sessions only carry these out: no router workaround lives there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType

from txi2p.errors import CommandTimeout, I2PError
from txi2p.sam.codec import PACKET_STYLES

__all__ = ["FAIL", "LESSONS", "MAX_VERSION", "MIN_VERSION", "REFUSALS", "RETRY", "STAND", "Attempt", "Lesson",
           "SAMDialect", "refuses", "version_tuple"]

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

    def session_create_keys(self, style: str, extra: Mapping[str, str | None]
                            ) -> tuple[str, dict[str, str | None]]:
        """The STYLE and extra keys a *style* session is created with here: PRIMARY
        as this router spells it, and the ``unforwarded_port`` of a DATAGRAM/RAW
        session given no PORT."""
        keys = dict(extra)
        if style in PACKET_STYLES and "PORT" not in keys and self.unforwarded_port is not None:
            keys["PORT"] = self.unforwarded_port
        return (self.primary_style if style == "PRIMARY" else style), keys

    def lesson(self, attempt: Attempt, error: BaseException | None) -> Lesson:
        """What *error* (None: the command was answered) to *attempt* teaches, and what to do next.

        The first row of :data:`LESSONS` that fits decides; where none does,
        nothing is learned and the router's error stands.
        """
        said = _said(error)
        kinds = _answer_kinds(error)
        for rule in LESSONS:
            if rule.command == attempt.command and rule.answer in kinds and rule.fits(self, attempt, said):
                return Lesson(rule.teach(self, attempt), rule.then, rule.retry_as,
                              rule.why.format(a=attempt, said=said))
        return Lesson(self, STAND)

    def forbids(self, attempt: Attempt, refused_before: str = "") -> str | None:
        """Why *attempt* fails here without being sent (the dialect knows the router
        refuses it), or None.  *refused_before*: what the router said when it
        refused post-quantum types, if it did."""
        for rule in FORBIDDEN:
            if rule.command == attempt.command and rule.fits(self, attempt):
                return rule.why(self, attempt, refused_before)
        return None


#: What to do after a lesson (:attr:`Lesson.then`): send the command again
#: (the dialect now says how), fail locally (``UnsupportedByRouter``), or
#: let the router's error (or answer) stand.
RETRY = "retry"
FAIL = "fail"
STAND = "stand"

#: SESSION CREATE styles new in SAM API 0.9.66.
_NEW_DATAGRAM_STYLES = frozenset({"DATAGRAM2", "DATAGRAM3"})

#: Said when a router takes streams only on a PRIMARY's subsessions.
PRIMARY_STREAMS = ("this router takes streams only on a PRIMARY session's subsessions: "
                   "add_subsession('STREAM', name, from_port=...) and use that")


@dataclass(frozen=True)
class Attempt:
    """A command, as far as what a router answers to it can teach something.

    :ivar command: ``"SESSION CREATE"``, ``"SESSION ADD"``, ``"STREAM"``
        (CONNECT, ACCEPT or FORWARD) or ``"PING"`` (the probe).
    :ivar style: the style asked for, as the caller named it (PRIMARY, DATAGRAM2, ...).
    :ivar sent_style: the style on the wire (PRIMARY may go as MASTER).
    :ivar nickname: the session ID.
    :ivar where: the bridge's address (for the messages).
    :ivar enc_types: ``i2cp.leaseSetEncType`` as asked for, or "".
    :ivar unforwarded: a DATAGRAM/RAW session sent without PORT.
    """

    command: str
    style: str = ""
    sent_style: str = ""
    nickname: str = ""
    where: str = ""
    enc_types: str = ""
    unforwarded: bool = False

    @property
    def post_quantum(self) -> list[str]:
        """The post-quantum lease-set types (5-7) asked for."""
        return [t for t in (n.strip() for n in self.enc_types.split(",")) if t.isdigit() and int(t) > 4]


@dataclass(frozen=True)
class Lesson:
    """What a router's answer taught, and what to do next.

    :ivar dialect: the dialect after it (the same one where nothing was learned).
    :ivar then: :data:`RETRY`, :data:`FAIL` or :data:`STAND`.
    :ivar retry_as: for RETRY, the keys the retry sends differently (and
        ``ID`` with a suffix where the router keeps the first half-made).
    :ivar why: for the log (RETRY) or the local error (FAIL).
    """

    dialect: SAMDialect
    then: str
    retry_as: tuple[tuple[str, str], ...] = ()
    why: str = ""

    @property
    def nickname_suffix(self) -> str:
        """What the retry's session ID adds to the first one's ("" for the same ID)."""
        return dict(self.retry_as).get("ID", "")


def _said(error: BaseException | None) -> str:
    if isinstance(error, I2PError):
        return error.message or error.result
    return ""


def _answer_kinds(error: BaseException | None) -> tuple[str, ...]:
    """The :attr:`_Rule.answer` values that fit *error*."""
    if error is None:
        return ("answered",)
    if isinstance(error, I2PError):
        return ("refused", "error")
    if isinstance(error, CommandTimeout):
        return ("silent", "error")
    return ("error",)


@dataclass(frozen=True)
class _Rule:
    command: str
    answer: str  # "refused" (I2P_ERROR), "silent" (no answer in time), "error" (any), "answered"
    fits: Callable[[SAMDialect, Attempt, str], bool]
    teach: Callable[[SAMDialect, Attempt], SAMDialect]
    then: str
    why: str = ""  # formatted with a= the Attempt, said= the router's words
    retry_as: tuple[tuple[str, str], ...] = ()


def _same(dialect: SAMDialect, attempt: Attempt) -> SAMDialect:
    return dialect


#: The reactions to routers' answers, first fit first (see :meth:`SAMDialect.lesson`).
LESSONS: tuple[_Rule, ...] = (
    # Java I2P 2.7: "Unsupported crypto type: 6"; later sessions with such types fail locally.
    _Rule("SESSION CREATE", "refused",
          lambda d, a, said: bool(a.post_quantum) and refuses(said, "post_quantum_enc_types"),
          lambda d, a: d.learned(post_quantum_enc_types=False), FAIL,
          "the SAM bridge at {a.where} refused i2cp.leaseSetEncType={a.enc_types} ({said}); "
          "use 4,0 with this router"),
    # Routers older than SAM API 0.9.66 do not know DATAGRAM2/3: nothing to learn, said clearly.
    _Rule("SESSION CREATE", "refused", lambda d, a, said: a.style in _NEW_DATAGRAM_STYLES, _same, FAIL,
          "the SAM bridge at {a.where} refused STYLE={a.style} ({said}); DATAGRAM2 and DATAGRAM3 are new "
          "in SAM API 0.9.66 (i2pd 2.58, Java I2P 2.9): use DATAGRAM with this router"),
    # i2pd refuses PRIMARY (and closes the socket): it knows MASTER.
    _Rule("SESSION CREATE", "refused", lambda d, a, said: a.sent_style == "PRIMARY",
          lambda d, a: d.learned_primary_refused(), RETRY,
          "the router refused STYLE=PRIMARY ({said}); trying its older spelling, MASTER",
          (("STYLE", "MASTER"),)),
    # i2pd 2.56 never answers a DATAGRAM/RAW session without PORT, and keeps
    # the half-made session (its ID stays taken).
    _Rule("SESSION CREATE", "silent", lambda d, a, said: a.unforwarded,
          lambda d, a: d.learned(unforwarded_port="0"), RETRY,
          "the router did not answer a {a.style} session without PORT; trying again with PORT=0 as "
          "'{a.nickname}-p0' (it keeps '{a.nickname}' half-made)",
          (("PORT", "0"), ("ID", "-p0"))),
    # i2pd takes only STREAM subsessions (and ends the primary session on the refusal).
    _Rule("SESSION ADD", "refused",
          lambda d, a, said: a.style != "STREAM" and refuses(said, "subsession_styles"),
          lambda d, a: d.learned_subsession_refused(a.style), FAIL,
          "the router refused {a.style} subsessions ({said}); it may have ended the primary session "
          "too. Use a session of its own"),
    # Java I2P: streams only on a PRIMARY's subsessions (SAM 3.3).
    _Rule("STREAM", "refused",
          lambda d, a, said: a.style == "PRIMARY" and refuses(said, "streams_on_primary"),
          lambda d, a: d.learned(streams_on_primary=False), FAIL,
          PRIMARY_STREAMS + " (router said: {said})"),
    # The PING probe: the socket survived two PINGs, or it did not.
    _Rule("PING", "answered", lambda d, a, said: True, lambda d, a: d.learned_ping(True), STAND),
    _Rule("PING", "error", lambda d, a, said: True, lambda d, a: d.learned_ping(False), STAND),
)


@dataclass(frozen=True)
class _Forbidden:
    command: str
    fits: Callable[[SAMDialect, Attempt], bool]
    why: Callable[[SAMDialect, Attempt, str], str]


def _post_quantum_why(d: SAMDialect, a: Attempt, refused_before: str) -> str:
    why = (f"it refused them before ({refused_before})" if refused_before
           else f"it speaks SAM {d.version}, and routers that old (i2pd before 2.58) exit on them")
    return (f"i2cp.leaseSetEncType={a.enc_types}: txi2p does not send post-quantum types "
            f"({', '.join(a.post_quantum)}) to the SAM bridge at {a.where}: {why}; use 4,0 with this router")


#: What a dialect knows a router refuses: failed locally, never sent (see :meth:`SAMDialect.forbids`).
FORBIDDEN: tuple[_Forbidden, ...] = (
    _Forbidden("SESSION CREATE", lambda d, a: bool(a.post_quantum) and not d.post_quantum_enc_types,
               _post_quantum_why),
    _Forbidden("SESSION ADD", lambda d, a: a.style not in d.subsession_styles,
               lambda d, a, _: f"this router takes only {', '.join(sorted(d.subsession_styles))} "
                               f"subsessions; use a {a.style} session of its own"),
    _Forbidden("STREAM", lambda d, a: a.style == "PRIMARY" and not d.streams_on_primary,
               lambda d, a, _: PRIMARY_STREAMS),
)
