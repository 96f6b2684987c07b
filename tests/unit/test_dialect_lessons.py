"""The dialect's lesson table, sans I/O: what each router answer teaches and what to do next.

No Twisted here: :meth:`SAMDialect.lesson` and :meth:`SAMDialect.forbids`
take a command and an error and answer with values.
"""

from __future__ import annotations

import sys

import pytest

from txi2p.errors import CommandTimeout, I2PError, SAMConnectionLost
from txi2p.sam.dialect import FAIL, RETRY, STAND, Attempt, SAMDialect

V33 = SAMDialect.for_version("3.3")
V31 = SAMDialect.for_version("3.1")


def refused(message: str) -> I2PError:
    return I2PError("I2P_ERROR", message, "SESSION CREATE")


def test_primary_refused_retries_as_master_and_learns_it():
    attempt = Attempt("SESSION CREATE", "PRIMARY", "PRIMARY", "p", "127.0.0.1:7656")
    lesson = V33.lesson(attempt, refused("Unknown STYLE"))
    assert lesson.then == RETRY and dict(lesson.retry_as) == {"STYLE": "MASTER"}
    assert lesson.dialect.primary_style == "MASTER" and "primary_style" in lesson.dialect.known()
    assert lesson.nickname_suffix == "" and "MASTER" in lesson.why
    # MASTER refused too: nothing more to learn, the router's error stands
    again = lesson.dialect.lesson(Attempt("SESSION CREATE", "PRIMARY", "MASTER", "p"), refused("Unknown STYLE"))
    assert again.then == STAND and again.dialect is lesson.dialect


def test_unforwarded_packet_session_unanswered_retries_with_port_0_under_a_new_id():
    attempt = Attempt("SESSION CREATE", "DATAGRAM", "DATAGRAM", "d1", unforwarded=True)
    lesson = V31.lesson(attempt, CommandTimeout("SESSION CREATE", 60))
    assert lesson.then == RETRY and lesson.nickname_suffix == "-p0"
    assert lesson.dialect.unforwarded_port == "0" and "without PORT" in lesson.why
    assert lesson.dialect.session_create_keys("RAW", {}) == ("RAW", {"PORT": "0"})
    assert V31.session_create_keys("RAW", {}) == ("RAW", {})
    assert lesson.dialect.session_create_keys("RAW", {"PORT": "9"}) == ("RAW", {"PORT": "9"})
    # a session sent with PORT (or a stream session) that times out: the timeout stands
    sent_port = Attempt("SESSION CREATE", "DATAGRAM", "DATAGRAM", "d1")
    assert V31.lesson(sent_port, CommandTimeout("SESSION CREATE", 60)).then == STAND


def test_post_quantum_refused_fails_locally_and_later_ones_are_never_sent():
    attempt = Attempt("SESSION CREATE", "STREAM", "STREAM", "s", "b:1", "6,4")
    assert V33.forbids(attempt) is None
    lesson = V33.lesson(attempt, refused("Error creating I2PSocketManager: Unsupported crypto type: 6"))
    assert lesson.then == FAIL and "use 4,0" in lesson.why and "6,4" in lesson.why
    assert not lesson.dialect.post_quantum_enc_types
    assert "refused them before (no)" in (lesson.dialect.forbids(attempt, "no") or "")
    assert "post-quantum types (6)" in (V31.forbids(attempt) or "")
    # the same words without post-quantum types asked: nothing learned
    plain = Attempt("SESSION CREATE", "STREAM", "STREAM", "s", "b:1", "4,0")
    assert V33.lesson(plain, refused("Unsupported crypto type: 6")).then == STAND


def test_datagram2_refused_fails_locally_saying_why_without_learning():
    attempt = Attempt("SESSION CREATE", "DATAGRAM2", "DATAGRAM2", "d")
    lesson = V33.lesson(attempt, refused("Unknown STYLE"))
    assert lesson.then == FAIL and "new in SAM API 0.9.66" in lesson.why and lesson.dialect is V33


def test_subsession_style_refused_is_learned_then_forbidden():
    attempt = Attempt("SESSION ADD", "DATAGRAM")
    assert V33.forbids(attempt) is None
    lesson = V33.lesson(attempt, refused("Unsupported STYLE"))
    assert lesson.then == FAIL and "refused DATAGRAM subsessions" in lesson.why
    assert "takes only RAW, STREAM subsessions" in (lesson.dialect.forbids(attempt) or "")
    assert lesson.dialect.forbids(Attempt("SESSION ADD", "STREAM")) is None
    # a STREAM subsession refused: the router's error stands
    assert V33.lesson(Attempt("SESSION ADD", "STREAM"), refused("bad STYLE")).then == STAND


def test_streams_on_a_primary_refused_is_learned_then_forbidden():
    attempt = Attempt("STREAM", "PRIMARY")
    lesson = V33.lesson(attempt, refused("Cannot use a primary session for streams"))
    assert lesson.then == FAIL and "(router said: Cannot use a primary session" in lesson.why
    assert not lesson.dialect.streams_on_primary
    assert "add_subsession" in (lesson.dialect.forbids(attempt) or "")
    assert lesson.dialect.forbids(Attempt("STREAM", "STREAM")) is None
    assert V33.lesson(Attempt("STREAM", "STREAM"), refused("primary session")).then == STAND


@pytest.mark.parametrize(("error", "survives"), [(None, True), (SAMConnectionLost("closed"), False),
                                                 (CommandTimeout("PING", 5), False)])
def test_the_ping_probe_teaches_whether_pings_are_safe(error, survives):
    lesson = V33.lesson(Attempt("PING"), error)
    assert lesson.then == STAND and lesson.dialect.ping is survives and "ping" in lesson.dialect.known()


def test_an_error_no_row_fits_teaches_nothing():
    lesson = V33.lesson(Attempt("NAMING LOOKUP"), refused("whatever"))
    assert lesson.then == STAND and lesson.dialect is V33


def test_the_lesson_table_needs_no_twisted():
    import subprocess

    code = ("import sys; import txi2p.sam.dialect; "
            "assert not any(m.startswith('twisted') for m in sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
