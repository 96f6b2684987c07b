"""I2P base64, destinations, b32 names, private keys, key files, hosts.txt."""

from __future__ import annotations

import base64
import hashlib
import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.interfaces import IAddress

from txi2p.address import (
    SIGNATURE_TYPES,
    Destination,
    HostsFile,
    I2PAddress,
    KeyFileError,
    PrivateKey,
    b64decode,
    b64encode,
    is_b32_name,
    read_key_file,
    write_key_file,
)
from txi2p.errors import InvalidKey
from txi2p.testing.fakes import fake_destination_bytes, fake_private_key


@given(st.binary(max_size=500))
def test_b64_roundtrip_uses_i2p_alphabet(data):
    text = b64encode(data)
    assert "+" not in text and "/" not in text
    assert b64decode(text) == data


def test_b64_alphabet():
    assert b64encode(b"\xfb\xff") == "-~8="
    with pytest.raises(InvalidKey):
        b64decode("+/8=")
    with pytest.raises(InvalidKey):
        b64decode("abcde")


@pytest.mark.parametrize("sig", sorted(SIGNATURE_TYPES))
def test_destination_every_signature_type(sig):
    raw = fake_destination_bytes(sig)
    dest = Destination.from_bytes(raw)
    assert dest.signature_type == sig
    assert len(dest.signing_public_key) == SIGNATURE_TYPES[sig][1]
    assert Destination.from_base64(dest.base64) == dest


def test_destination_ecies_crypto_type():
    dest = Destination.from_bytes(fake_destination_bytes(7, 4))
    assert dest.crypto_type == 4


def test_b32_is_sha256_base32():
    raw = fake_destination_bytes(7)
    expected = base64.b32encode(hashlib.sha256(raw).digest()).decode().lower().rstrip("=")
    dest = Destination.from_bytes(raw)
    assert dest.b32 == expected + ".b32.i2p"
    assert is_b32_name(dest.b32)
    assert len(dest.base64) == 524


@pytest.mark.parametrize("mutate,message", [
    (lambda b: b[:300], "at least 387"),
    (lambda b: b + b"x", "extra bytes"),
    (lambda b: b[:384] + b"\x05\x00\x04\x00\x63\x00\x00", "unknown signature type 99"),
    (lambda b: b[:384] + b"\x05\x00\x04\x00\x07\x00\x09", "unknown encryption type 9"),
    (lambda b: b[:384] + b"\x05\x00\x02\x00\x07", "shorter than 4"),
    (lambda b: b[:384] + b"\x05\x00\x05\x00\x07\x00\x00\x00", "expected 4"),
    (lambda b: b[:384] + b"\x09\x00\x00", "unknown certificate type"),
])
def test_malformed_destinations_raise_invalid_key(mutate, message):
    with pytest.raises(InvalidKey, match=message):
        Destination.from_bytes(mutate(fake_destination_bytes(7)))


def test_private_key_parse_and_never_shown():
    key = fake_private_key()
    assert len(key.blob) == 391 + 256 + 32
    again = PrivateKey.from_base64(key.base64)
    assert again.destination == key.destination
    assert key.base64 not in repr(key) and key.base64 not in str(key)
    assert key.b32 in repr(key)


def test_private_key_truncated():
    key = fake_private_key()
    with pytest.raises(InvalidKey, match="cut short"):
        PrivateKey.from_bytes(key.blob[:-1])
    with pytest.raises(InvalidKey, match="extra bytes"):
        PrivateKey.from_bytes(key.blob + b"\x00")


def test_private_key_offline_signature_block():
    dest = fake_destination_bytes(7)
    offline = b"\x00\x00\x00\x01" + b"\x00\x07" + os.urandom(32) + os.urandom(64) + os.urandom(32)
    key = PrivateKey.from_bytes(dest + os.urandom(256) + b"\x00" * 32 + offline)
    assert key.destination.signature_type == 7


def test_key_file_roundtrip_mode_0600(tmp_path):
    path = tmp_path / "web.key"
    key = fake_private_key()
    assert read_key_file(path) is None
    write_key_file(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path).destination == key.destination
    assert path.read_text().strip() == key.base64
    assert [p.name for p in tmp_path.iterdir()] == ["web.key"]  # no temp file left


def test_key_file_binary_format_is_read(tmp_path):
    path = tmp_path / "dest.dat"
    key = fake_private_key()
    path.write_bytes(key.blob)
    assert read_key_file(path).destination == key.destination


@pytest.mark.parametrize("content", [b"", b"   \n", b"not a key", None])
def test_corrupt_key_file_is_refused_and_untouched(tmp_path, content):
    path = tmp_path / "bad.key"
    data = content if content is not None else fake_private_key().base64[:-10].encode()
    path.write_bytes(data)
    with pytest.raises(KeyFileError, match=r"bad\.key"):
        read_key_file(path)
    assert path.read_bytes() == data


def test_key_file_error_never_contains_key(tmp_path):
    path = tmp_path / "k"
    text = fake_private_key().base64[:-4]
    path.write_text(text)
    with pytest.raises(KeyFileError) as info:
        read_key_file(path)
    assert text not in str(info.value)
    assert text[:40] not in str(info.value)


def test_i2p_address():
    dest = fake_private_key().destination
    addr = I2PAddress(dest, port=80)
    assert IAddress.providedBy(addr)
    assert addr.host == dest.b32 and addr.b32 == dest.b32 and addr.port == 80
    assert I2PAddress(dest, "site.i2p", 80).host == "site.i2p"
    assert addr == I2PAddress(dest, port=80)
    with pytest.raises(ValueError):
        I2PAddress(None)


def test_hosts_file(tmp_path):
    dest = fake_private_key().destination
    path = tmp_path / "hosts.txt"
    path.write_text(f"# comment\nexample.i2p={dest.base64}\nbroken.i2p=xyz\n\nnoequals\n")
    hosts = HostsFile(path)
    assert hosts.lookup("EXAMPLE.i2p") == dest
    assert hosts.lookup("broken.i2p") is None
    assert hosts.lookup("missing.i2p") is None
    assert HostsFile(tmp_path / "absent").lookup("example.i2p") is None


def _b33_fields(name):
    """Undo a b33 name: (flags, signature type, blinded type, key)."""
    assert name.endswith(".b32.i2p")
    text = name[:-len(".b32.i2p")].upper()
    data = bytearray(base64.b32decode(text + "=" * (-len(text) % 8)))
    import binascii
    crc = binascii.crc32(bytes(data[3:]))
    for i in range(3):
        data[i] ^= (crc >> (8 * i)) & 0xFF
    return data[0], data[1], data[2], bytes(data[3:])


@pytest.mark.parametrize(("secret", "client_auth", "flags"),
                         [(False, False, 0), (True, False, 2), (False, True, 4), (True, True, 6)])
def test_b33_name_of_a_private_service(secret, client_auth, flags):
    """flags, type 7 blinded as 11, the Ed25519 signing key, CRC-32 folded in."""
    dest = fake_private_key().destination
    name = dest.b33(secret=secret, client_auth=client_auth)
    assert len(name) == 56 + len(".b32.i2p") and is_b32_name(name)
    assert name != dest.b32
    assert _b33_fields(name) == (flags, 7, 11, dest.signing_public_key)
    assert len(dest.signing_public_key) == 32
    assert dest.signing_public_key == dest.raw[352:384]


def test_b33_checksum_covers_the_key():
    """Two destinations differ in every part of their names, not only the key."""
    a, b = fake_private_key().destination, fake_private_key().destination
    assert a.b33()[:5] != b.b33()[:5]


def test_b33_refuses_keys_that_cannot_be_blinded():
    dest = fake_private_key(signature_type=1).destination
    with pytest.raises(InvalidKey, match=r"signature type 1 .*cannot be a private service"):
        dest.b33()
