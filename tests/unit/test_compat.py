"""txi2p 0.3.x's adapters accept and refuse what 0.3.x documented."""

from __future__ import annotations

import pytest
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.testing import MemoryReactorClock

import txi2p
import txi2p.utils
from txi2p.address import I2PAddress
from txi2p.sam import SAMI2PStreamClientEndpoint, SAMI2PStreamServerEndpoint
from txi2p.testing.fakes import fake_private_key


@pytest.fixture
def sam():
    return TCP4ClientEndpoint(MemoryReactorClock(), "127.0.0.1", 7656)


def test_names_where_03x_had_them():
    assert txi2p.generateDestination is txi2p.utils.generateDestination
    assert txi2p.testAPI is txi2p.utils.testAPI
    assert txi2p.I2PAddress is I2PAddress


def test_client_new(sam):
    ep = SAMI2PStreamClientEndpoint.new(sam, "site.i2p", 80, nickname="n", autoClose=True,
                                        keyfile="k", localPort=5, options={"inbound.length": "1"},
                                        sigType="EdDSA_SHA512_Ed25519")
    assert ep.host == "site.i2p" and ep.port == 80 and ep.from_port == 5
    assert ep._spec.nickname == "n" and ep._spec.auto_close and ep._spec.signature_type == 7
    assert ep.bridge_config.sam_address == "127.0.0.1:7656"  # named sessions shared across .new() calls
    assert sam._reactor.tcpClients == []  # no I/O until connect()


def test_server_new(sam):
    ep = SAMI2PStreamServerEndpoint.new(sam, "node.key", 3457, options={"outbound.length": 1})
    assert ep._spec.keyfile == "node.key" and ep.port == 3457


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(sigType="FANCY"), ValueError, "sigType"),
    (dict(sigType=99), ValueError, "sigType"),
    (dict(nickname="a b"), ValueError, "session"),
])
def test_client_new_refusals(sam, kwargs, error, match):
    with pytest.raises(error, match=match):
        SAMI2PStreamClientEndpoint.new(sam, "site.i2p", **kwargs)


def test_sam_endpoint_must_be_an_endpoint():
    with pytest.raises(TypeError, match="samEndpoint"):
        SAMI2PStreamClientEndpoint.new("tcp:127.0.0.1:7656", "site.i2p")


@pytest.mark.parametrize("api,endpoint,match", [
    ("BOB", "tcp:127.0.0.1:2827", "BOB is deprecated"),
    ("FOO", None, "invalid or unsupported"),
    (None, "tcp:127.0.0.1:7656", "api must be specified"),
])
def test_api_arguments(api, endpoint, match, tmp_path):
    reactor = MemoryReactorClock()
    with pytest.raises(ValueError, match=match):
        txi2p.generateDestination(reactor, str(tmp_path / "k"), api, endpoint)
    with pytest.raises(ValueError, match=match):
        txi2p.testAPI(reactor, api, endpoint)


def test_generate_destination_refuses_existing_keyfile(tmp_path):
    keyfile = tmp_path / "k"
    keyfile.write_text("old")
    with pytest.raises(ValueError, match="already exists"):
        txi2p.generateDestination(MemoryReactorClock(), str(keyfile), "SAM")
    assert keyfile.read_text() == "old"


def test_i2p_address_03x_signature():
    dest = fake_private_key().destination
    addr = I2PAddress(dest.base64, "site.i2p", 80)
    assert addr.destination == dest.base64  # compares with the 0.3.x string form
    assert addr.host == "site.i2p" and addr.port == 80
    assert I2PAddress(addr).host == "site.i2p"
    assert I2PAddress(dest.base64).host == dest.b32
    assert I2PAddress(dest.base64, port=80) == I2PAddress(dest, "other.i2p", 80)
