"""The sans-I/O SAM codec: commands to bytes, bytes to events."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.sans_io import decode
from txi2p import errors
from txi2p.sam import codec
from txi2p.testing.fakes import fake_private_key

DEST = fake_private_key().destination.base64


# ---------------------------------------------------------------- commands


def test_hello_default_range():
    assert codec.hello().encode() == b"HELLO VERSION MIN=3.0 MAX=3.3\n"


def test_hello_with_credentials_quotes_free_text():
    cmd = codec.hello("3.2", "3.3", user="alice", password='p w"d')
    assert cmd.encode() == b'HELLO VERSION MIN=3.2 MAX=3.3 USER=alice PASSWORD="p w\\"d"\n'
    assert "p w" not in repr(cmd)


def test_session_create_stream():
    cmd = codec.session_create("STREAM", "web", signature_type=7,
                               options={"inbound.length": 2, "i2cp.leaseSetEncType": "4,0"})
    assert cmd.encode() == (
        b"SESSION CREATE STYLE=STREAM ID=web DESTINATION=TRANSIENT SIGNATURE_TYPE=7 "
        b"inbound.length=2 i2cp.leaseSetEncType=4,0\n"
    )


@pytest.mark.parametrize("style", ["STREAM", "DATAGRAM", "RAW", "PRIMARY", "MASTER"])
def test_session_create_styles(style):
    assert codec.session_create(style, "x").encode().startswith(f"SESSION CREATE STYLE={style} ".encode())


def test_session_create_datagram_forwarding_keys():
    cmd = codec.session_create("DATAGRAM", "d", extra=[("PORT", "7000"), ("HOST", "127.0.0.1"), ("FROM_PORT", None)])
    assert b" PORT=7000 HOST=127.0.0.1" in cmd.encode()
    assert b"FROM_PORT" not in cmd.encode()


def test_session_create_private_key_never_in_repr():
    key = fake_private_key()
    cmd = codec.session_create("STREAM", "x", key.base64)
    assert key.base64.encode() in cmd.encode()
    assert key.base64 not in repr(cmd)
    assert "<redacted>" in repr(cmd)


def test_session_add_remove():
    assert codec.session_add("STREAM", "sub", from_port=80).encode() == \
        b"SESSION ADD STYLE=STREAM ID=sub FROM_PORT=80\n"
    assert codec.session_remove("sub").encode() == b"SESSION REMOVE ID=sub\n"
    with pytest.raises(ValueError, match="subsession style"):
        codec.session_add("PRIMARY", "sub")


def test_stream_commands():
    assert codec.stream_connect("s", DEST, to_port=80, from_port=1).encode() == (
        f"STREAM CONNECT ID=s DESTINATION={DEST} SILENT=false FROM_PORT=1 TO_PORT=80\n".encode())
    assert codec.stream_accept("s").encode() == b"STREAM ACCEPT ID=s SILENT=false\n"
    assert codec.stream_forward("s", 9000, host="127.0.0.1", silent=True).encode() == (
        b"STREAM FORWARD ID=s PORT=9000 HOST=127.0.0.1 SILENT=true\n")


def test_datagram_and_raw_send_carry_payload():
    cmd = codec.datagram_send(DEST, b"hi\nthere", to_port=5)
    assert cmd.encode() == f"DATAGRAM SEND DESTINATION={DEST} SIZE=8 TO_PORT=5\n".encode() + b"hi\nthere"
    raw = codec.raw_send(DEST, b"x", protocol=18)
    assert raw.encode().endswith(b"SIZE=1 PROTOCOL=18\nx")


def test_naming_dest_ping_quit_auth():
    assert codec.naming_lookup("ME").encode() == b"NAMING LOOKUP NAME=ME\n"
    assert codec.naming_lookup("a.i2p", options=True).encode() == b"NAMING LOOKUP NAME=a.i2p OPTIONS=true\n"
    assert codec.dest_generate(7).encode() == b"DEST GENERATE SIGNATURE_TYPE=7\n"
    assert codec.ping("abc 1").encode() == b"PING abc 1\n"
    assert codec.pong("abc 1").encode() == b"PONG abc 1\n"
    assert codec.quit().encode() == b"QUIT\n"
    assert codec.auth_enable().encode() == b"AUTH ENABLE\n"
    assert codec.auth_disable().encode() == b"AUTH DISABLE\n"
    assert codec.auth_add("u", "p").encode() == b"AUTH ADD USER=u PASSWORD=p\n"
    assert codec.auth_remove("u").encode() == b"AUTH REMOVE USER=u\n"


@pytest.mark.parametrize("bad", ["a b", "a\nb", "a=b", "", 'a"b', "a\tb", "tab\x00"])
def test_bad_session_names_rejected_with_argument_name(bad):
    with pytest.raises(ValueError, match="session name"):
        codec.session_create("STREAM", bad)


@pytest.mark.parametrize("key,value,what", [
    ("inbound length", "2", "option name"),
    ("a=b", "2", "option name"),
    ("inbound.length", "2 3", "option inbound.length"),
    ("inbound.length", "2\n", "option inbound.length"),
])
def test_bad_options_rejected(key, value, what):
    with pytest.raises(ValueError, match=what):
        codec.session_create("STREAM", "s", options={key: value})


def test_option_values_may_hold_equals_signs():
    cmd = codec.session_create("STREAM", "s", options={"i2cp.accessList": "abc=,def="})
    assert b"i2cp.accessList=abc=,def=" in cmd.encode()


@pytest.mark.parametrize("port", [-1, 65536, "80", 1.5, True])
def test_bad_ports_rejected(port):
    with pytest.raises(ValueError, match="to_port"):
        codec.stream_connect("s", DEST, to_port=port)


def test_ping_text_without_newline():
    with pytest.raises(ValueError):
        codec.ping("a\nb")


def test_bad_style():
    with pytest.raises(ValueError, match="style"):
        codec.session_create("BOB", "s")


# ---------------------------------------------------------------- replies


def test_reply_keys_in_any_order_and_unknown_kept():
    r = codec.parse_line(b"SESSION STATUS DESTINATION=abc RESULT=OK NEWKEY=1 FLAG")
    assert r.name == "SESSION STATUS"
    assert r.ok and r.result == "OK"
    assert dict(r.fields) == {"DESTINATION": "abc", "RESULT": "OK", "NEWKEY": "1", "FLAG": ""}


def test_reply_quoted_message_with_escapes():
    r = codec.parse_line(b'SESSION STATUS RESULT=I2P_ERROR MESSAGE="Unknown \\"STYLE\\" \\\\ x"')
    assert r.message == 'Unknown "STYLE" \\ x'
    with pytest.raises(errors.I2PError) as info:
        r.raise_for_result("SESSION CREATE")
    assert info.value.message == 'Unknown "STYLE" \\ x'
    assert info.value.command == "SESSION CREATE"
    assert 'Unknown "STYLE"' in str(info.value)


def test_reply_crlf_tolerated():
    assert codec.parse_line(b"HELLO REPLY RESULT=OK VERSION=3.1\r").get("VERSION") == "3.1"


@pytest.mark.parametrize("result,cls", sorted(errors.RESULT_ERRORS.items()))
def test_every_result_has_its_class(result, cls):
    r = codec.parse_line(f"STREAM STATUS RESULT={result} MESSAGE=why".encode())
    with pytest.raises(cls) as info:
        r.raise_for_result()
    assert isinstance(info.value, errors.SAMError)
    assert info.value.result == result and info.value.message == "why"


def test_unknown_result_is_still_a_sam_error():
    with pytest.raises(errors.UnknownResult) as info:
        codec.parse_line(b"STREAM STATUS RESULT=NEW_THING").raise_for_result()
    assert info.value.result == "NEW_THING"


def test_error_classes_are_distinct():
    assert len(set(errors.RESULT_ERRORS.values())) == len(errors.RESULT_ERRORS)
    for required in ["CANT_REACH_PEER", "DUPLICATED_ID", "DUPLICATED_DEST", "I2P_ERROR", "INVALID_KEY",
                     "INVALID_ID", "KEY_NOT_FOUND", "PEER_NOT_FOUND", "TIMEOUT", "NOVERSION"]:
        assert required in errors.RESULT_ERRORS


def test_ping_pong_lines():
    assert codec.parse_line(b"PING 12345") == codec.Ping("12345")
    assert codec.parse_line(b"PONG") == codec.Pong("")


@pytest.mark.parametrize("garbage", [b"hello", b"", b"123 456", b"A", b'SESSION STATUS MESSAGE="open',
                                     b"\xff\xfe", b"SESSION STATUS \x00", b"SESSION STATUS =x"])
def test_garbage_lines(garbage):
    with pytest.raises(errors.SAMProtocolError):
        codec.parse_line(garbage)


# ---------------------------------------------------------------- decoder


def events(decoder):
    out = []
    while True:
        e = decoder.next_event()
        if e is codec.NEED_DATA:
            return out
        out.append(e)


def test_decoder_byte_at_a_time():
    d = codec.SAMDecoder()
    data = b"HELLO REPLY RESULT=OK VERSION=3.0\nNAMING REPLY RESULT=OK NAME=ME VALUE=x\n"
    got = []
    for i in range(len(data)):
        d.receive_data(data[i:i + 1])
        got.extend(events(d))
    assert [e.name for e in got] == ["HELLO REPLY", "NAMING REPLY"]


def test_decoder_peer_line_and_data_in_one_read():
    d = codec.SAMDecoder()
    d.receive_data(b"STREAM STATUS RESULT=OK\n")
    assert events(d)[0].ok
    d.expect_peer_line()
    d.receive_data(DEST.encode() + b" FROM_PORT=5 TO_PORT=80\nfirst data")
    (peer,) = events(d)
    assert isinstance(peer, codec.PeerLine)
    assert peer.destination == DEST and peer.port("FROM_PORT") == 5 and peer.port("TO_PORT") == 80
    assert d.take_remaining() == b"first data"


def test_decoder_peer_line_without_ports():
    d = codec.SAMDecoder()
    d.expect_peer_line()
    d.receive_data(DEST.encode() + b"\n")
    (peer,) = events(d)
    assert peer.port("FROM_PORT") is None


def test_decoder_bad_peer_line():
    d = codec.SAMDecoder()
    d.expect_peer_line()
    d.receive_data(b"STREAM STATUS RESULT=OK\n")
    with pytest.raises(errors.SAMProtocolError):
        d.next_event()


def test_decoder_datagram_received_with_payload_split():
    d = codec.SAMDecoder()
    d.receive_data(f"DATAGRAM RECEIVED DESTINATION={DEST} SIZE=10 FROM_PORT=1 TO_PORT=2\n".encode() + b"12345")
    assert events(d) == []
    d.receive_data(b"\n7890RAW RECEIVED SIZE=2 PROTOCOL=18\nab")
    dgram, raw = events(d)
    assert dgram == codec.Packet("DATAGRAM", b"12345\n7890", dgram.fields)
    assert dgram.destination == DEST and dgram.fields["TO_PORT"] == "2"
    assert raw.kind == "RAW" and raw.payload == b"ab" and raw.destination is None


@pytest.mark.parametrize("size", [b"", b"-1", b"abc", b"99999999", "\u00b2".encode()])
def test_decoder_bad_packet_size(size):
    d = codec.SAMDecoder()
    d.receive_data(b"RAW RECEIVED SIZE=" + size + b"\n")
    with pytest.raises(errors.SAMProtocolError):
        d.next_event()


def test_decoder_line_too_long():
    d = codec.SAMDecoder(max_line=100)
    d.receive_data(b"x" * 101)
    with pytest.raises(errors.SAMProtocolError, match="longer than"):
        d.next_event()


# ---------------------------------------------------------------- properties

_key = st.from_regex(r"[A-Z][A-Z_.a-z0-9]{0,12}", fullmatch=True)
_value = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\'), min_size=1, max_size=30)
_free = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@given(st.dictionaries(_key, _value, max_size=6), st.one_of(st.none(), _free))
def test_reply_roundtrip(fields, message):
    fields = {k: v for k, v in fields.items() if k != "MESSAGE"}
    line = "NAMING REPLY " + " ".join(f"{k}={v}" for k, v in fields.items())
    if message is not None:
        line += " MESSAGE=" + codec._quote("message", message) if message else ""
        if message:
            fields["MESSAGE"] = message
    reply = codec.parse_line(line.encode())
    assert reply.name == "NAMING REPLY"
    assert dict(reply.fields) == fields


@given(st.dictionaries(st.from_regex(r"[a-z][a-z.]{0,10}", fullmatch=True), _value, max_size=5),
       st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True))
def test_command_encoding_parses_back(options, name):
    cmd = codec.session_create("STREAM", name, options=options)
    reply = codec.parse_line(cmd.encode().rstrip(b"\n"))
    assert reply.name == "SESSION CREATE"
    assert reply.fields["ID"] == name
    for k, v in options.items():
        assert reply.fields[k] == v


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=8), st.booleans())
def test_random_bytes_raise_only_declared_errors(chunks, peer):
    decode(chunks, peer, max_line=1000, drain=lambda decoder, found: found.extend(events(decoder)))


@given(st.binary(max_size=300))
def test_parse_line_raises_only_declared_errors(line):
    try:
        codec.parse_line(line)
    except errors.SAMProtocolError:
        pass


def test_one_default_signature_type():
    from txi2p import config

    assert config.DEFAULT_SIGNATURE_TYPE is codec.DEFAULT_SIGNATURE_TYPE == 7
    assert codec.dest_generate().encode() == b"DEST GENERATE SIGNATURE_TYPE=7\n"
