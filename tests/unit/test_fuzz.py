"""Fuzzing the SAM reply parser: only declared errors come out.

CI runs a small profile; a dedicated run takes 100,000+ cases per target:

    TXI2P_FUZZ_EXAMPLES=100000 bash scripts/test.sh tests/unit/test_fuzz.py
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txi2p import errors
from txi2p.sam import codec

EXAMPLES = int(os.environ.get("TXI2P_FUZZ_EXAMPLES", "2000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

# Bytes that look like SAM often enough to get past the first checks.
_words = st.sampled_from([b"HELLO", b"REPLY", b"SESSION", b"STATUS", b"STREAM", b"DATAGRAM", b"RAW",
                          b"RECEIVED", b"NAMING", b"PING", b"PONG", b"RESULT=OK", b"RESULT=I2P_ERROR",
                          b"SIZE=", b"SIZE=5", b"SIZE=99999999", b'MESSAGE="', b"\\", b'"', b"=", b" ",
                          b"\n", b"\r\n", b"\x00", b"\xff", b"DESTINATION=", b"FROM_PORT=1"])
_samish = st.lists(st.one_of(_words, st.binary(max_size=20)), max_size=40).map(b"".join)


def _drain(decoder: codec.SAMDecoder) -> None:
    while decoder.next_event() is not codec.NEED_DATA:
        pass


@FUZZ
@given(st.lists(_samish, max_size=6), st.booleans())
def test_decoder_raises_only_protocol_errors(chunks, peer_line):
    decoder = codec.SAMDecoder(max_line=4096)
    if peer_line:
        decoder.expect_peer_line()
    try:
        for chunk in chunks:
            decoder.receive_data(chunk)
            _drain(decoder)
    except errors.SAMProtocolError:
        pass


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
