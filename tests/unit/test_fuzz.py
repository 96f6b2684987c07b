"""Fuzzing the SAM reply parser: only declared errors come out.

CI runs a small profile; a dedicated run takes 100,000+ cases per target:

    TXI2P_FUZZ_EXAMPLES=100000 bash scripts/test.sh tests/unit/test_fuzz.py
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.sans_io import decode
from txi2p import errors
from txi2p.sam import codec

EXAMPLES = int(os.environ.get("TXI2P_FUZZ_EXAMPLES", "2000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None)

# Bytes that look like SAM often enough to get past the first checks.
_words = st.sampled_from([b"HELLO", b"REPLY", b"SESSION", b"STATUS", b"STREAM", b"DATAGRAM", b"RAW",
                          b"RECEIVED", b"NAMING", b"PING", b"PONG", b"RESULT=OK", b"RESULT=I2P_ERROR",
                          b"SIZE=", b"SIZE=5", b"SIZE=99999999", b'MESSAGE="', b"\\", b'"', b"=", b" ",
                          b"\n", b"\r\n", b"\x00", b"\xff", b"DESTINATION=", b"FROM_PORT=1"])
_samish = st.lists(st.one_of(_words, st.binary(max_size=20)), max_size=40).map(b"".join)


def _drain(decoder: codec.SAMDecoder, events: list | None = None) -> None:
    """Take every event; each consumes bytes, so there are at most about as many as bytes."""
    bound = 2 * decoder.buffered + 2  # a Packet of SIZE=0 follows its line without a byte
    for _ in range(bound):
        event = decoder.next_event()
        if event is codec.NEED_DATA:
            return
        if events is not None:
            events.append(event)
    raise AssertionError(f"more than {bound} events from {bound // 2 - 1} bytes")


def _decode(chunks: list[bytes], peer_line: bool) -> tuple[list, bool]:
    """The events decoded from *chunks* fed one by one, and whether it ended in a protocol error."""
    return decode(chunks, peer_line, max_line=16, drain=_drain)  # small: long lines are common here


@FUZZ
@given(st.lists(_samish, max_size=6), st.booleans())
def test_decoder_raises_only_protocol_errors(chunks, peer_line):
    decode(chunks, peer_line, max_line=4096, drain=_drain)


# Whole lines a router sends, so that split streams are mostly valid.
_lines = st.sampled_from([
    b"HELLO REPLY RESULT=OK VERSION=3.3\n", b"PING some text\n", b"PONG x\n",
    b'SESSION STATUS RESULT=I2P_ERROR MESSAGE="no such \\"thing\\""\n',
    b"NAMING REPLY RESULT=OK NAME=ME VALUE=" + b"A" * 30 + b"\n",
    b"DATAGRAM RECEIVED DESTINATION=AAAA SIZE=5 FROM_PORT=1 TO_PORT=0\nhello",
    b"RAW RECEIVED SIZE=0\n", b"STREAM STATUS RESULT=CANT_REACH_PEER\n",
])


@st.composite
def _split_stream(draw):
    data = draw(st.lists(st.one_of(_lines, _samish), max_size=8).map(b"".join))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@FUZZ
@given(_split_stream(), st.booleans())
def test_decoding_does_not_depend_on_how_the_bytes_are_split(chunks, peer_line):
    """The same bytes in one piece or in several give the same events (and the same error or none)."""
    assert _decode(chunks, peer_line) == _decode([b"".join(chunks)], peer_line)


@FUZZ
@given(_samish)
def test_parse_line_raises_only_protocol_errors(line):
    try:
        reply = codec.parse_line(line)
    except errors.SAMProtocolError:
        return
    if isinstance(reply, codec.Reply):
        try:
            reply.raise_for_result()
        except errors.SAMError:
            pass
