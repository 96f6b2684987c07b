"""Private services' client keys: files, options, redaction, endpoints."""

from __future__ import annotations

import stat

import pytest
import pytest_twisted
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.testing import MemoryReactorClock

from txi2p import private
from txi2p.address import b64decode
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.errors import InvalidKey
from txi2p.sam import codec
from txi2p.testing.fakes import fake_private_key

DEST = fake_private_key().destination


def test_new_keys_are_32_random_bytes():
    a, b = private.new_client_key(), private.new_client_key()
    assert len(b64decode(a)) == 32 and a != b


def test_service_options_list_every_client():
    alice, bob = private.new_client_key(), private.new_client_key()
    options = private.service_options({"bob": bob, "alice": alice})
    assert options == {
        "i2cp.leaseSetType": "5",
        "i2cp.leaseSetAuthType": "2",
        "i2cp.leaseSetClient.psk.0": f"YWxpY2U=:{alice}",  # names in base64
        "i2cp.leaseSetClient.psk.1": f"Ym9i:{bob}",
        "i2cp.leaseSetPrivKey": alice,  # Java's router checks the lease set with it
    }
    assert private.client_options(alice) == {"i2cp.leaseSetPrivKey": alice}


@pytest.mark.parametrize(("clients", "match"), [
    ({}, "at least one client"),
    ({"a b": "x"}, "client name"),
    ({"a": "AAAA"}, "32 bytes in I2P base64, this one is 3"),
    ({"a": "not base64!"}, "32 bytes in I2P base64"),
])
def test_service_options_refuse_bad_clients(clients, match):
    with pytest.raises(ValueError, match=match):
        private.service_options(clients)


def test_clients_file_and_client_key_file(tmp_path):
    alice, bob = private.new_client_key(), private.new_client_key()
    listing = tmp_path / "clients"
    listing.write_text(f"# friends\nalice:{alice}\n\nbob:{bob}\n")
    assert private.read_clients_file(listing) == {"alice": alice, "bob": bob}
    key_file = tmp_path / "alice.key"
    private.write_client_key(key_file, alice)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert private.read_client_key(key_file) == alice
    with pytest.raises(ValueError, match="never overwritten"):
        private.write_client_key(key_file, bob)
    assert private.read_client_key(key_file) == alice


@pytest.mark.parametrize(("text", "match"), [
    ("alice\n", "line 1: a client is NAME:KEY"),
    ("# nobody\n", "lists no client"),
    ("alice:{k}\nalice:{k}\n", "line 2: client 'alice' is listed twice"),
])
def test_bad_clients_files(tmp_path, text, match):
    listing = tmp_path / "clients"
    listing.write_text(text.format(k=private.new_client_key()))
    with pytest.raises(ValueError, match=match):
        private.read_clients_file(listing)


def test_client_keys_never_shown():
    key = private.new_client_key()
    command = codec.session_create("STREAM", "s", options={
        **private.service_options({"alice": key}), **private.client_options(key)})
    assert key in command.encode().decode()
    assert key not in repr(command)
    assert all(key in s for s in command.secrets) and len(command.secrets) == 2  # PrivKey given twice: one arg
    reply = codec.Reply("SESSION", "STATUS", {"RESULT": "I2P_ERROR", "MESSAGE": f"bad option alice:{key}"})
    assert key not in repr(reply.without_secrets(command.secrets).fields)


def test_endpoints_take_client_keys_and_read_their_files_only_when_used(tmp_path):
    reactor = MemoryReactorClock()
    key = private.new_client_key()
    client = I2PClientEndpoint(reactor, DEST.b33(client_auth=True), client_key=key)
    assert dict(client._session_spec().options)["i2cp.leaseSetPrivKey"] == key
    assert key not in repr(client._session_spec())
    server = I2PServerEndpoint(reactor, clients={"alice": key})
    options = dict(server._session_spec().options)
    assert options["i2cp.leaseSetType"] == "5" and options["i2cp.leaseSetClient.psk.0"] == f"YWxpY2U=:{key}"
    # files: named in strings, read at connect()/listen() time, not before
    key_file, listing = tmp_path / "me.key", tmp_path / "clients"
    client = clientFromString(reactor, f"i2p:{DEST.b33(client_auth=True)}:clientKey={key_file}")
    server = serverFromString(reactor, f"i2p:k.key:80:clients={listing}:auth=psk")
    assert dict(server._spec.options)["i2cp.leaseSetType"] == "5"
    with pytest.raises(FileNotFoundError):
        client._session_spec()
    private.write_client_key(key_file, key)
    listing.write_text(f"alice:{key}\n")
    assert dict(client._session_spec().options)["i2cp.leaseSetPrivKey"] == key
    assert dict(server._session_spec().options)["i2cp.leaseSetAuthType"] == "2"
    assert not reactor.tcpClients


@pytest.mark.parametrize(("make", "match"), [
    (lambda r: I2PClientEndpoint(r, DEST.b32, client_key="x", client_key_file="f"), "not both"),
    (lambda r: I2PServerEndpoint(r, clients={"a": private.new_client_key()}, clients_file="f"), "not both"),
    (lambda r: I2PServerEndpoint(r, clients={"a": private.new_client_key()}, auth="dh"), "auth must be"),
    (lambda r: serverFromString(r, "i2p:k.key:clients=f:auth=dh"), "auth"),
    (lambda r: I2PClientEndpoint(r, DEST.b32, client_key="short"), "32 bytes"),
])
def test_bad_client_key_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make(MemoryReactorClock())


def test_b33_flags_read_back_from_names():
    from txi2p.address import B33Flags, b33_flags

    assert b33_flags(DEST.b32) is None
    assert b33_flags("example.i2p") is None
    assert b33_flags(DEST.b33()) == B33Flags(False, False)
    assert b33_flags(DEST.b33(client_auth=True)) == B33Flags(False, True)
    assert b33_flags(DEST.b33(secret=True).upper().replace(".B32.I2P", ".b32.i2p")) == B33Flags(True, False)


@pytest_twisted.ensureDeferred
async def test_looking_up_a_private_service_without_its_key_says_so(fake_sam):
    from twisted.internet import reactor

    from txi2p.errors import ClientKeyRequired, NameNotFound
    from txi2p.session import SAMBridge
    from txi2p.testing.fake_bridge import I2PD_2_56

    fake, address = fake_sam(I2PD_2_56)
    session = await SAMBridge(reactor, address).create_session("STREAM", "c")
    try:
        with pytest.raises(ClientKeyRequired) as refused:
            await session.lookup(DEST.b33(client_auth=True))
        assert isinstance(refused.value, NameNotFound)
        assert "lets in only the clients it lists" in str(refused.value)
        assert "it has no i2cp.leaseSetPrivKey" in str(refused.value)
        # an open private service's name, or a plain one: the usual error
        with pytest.raises(NameNotFound) as plain:
            await session.lookup(DEST.b33())
        assert not isinstance(plain.value, ClientKeyRequired)
        # a b33 answered with its destination is checked against the name
        fake.names[DEST.b33(client_auth=True)] = DEST.base64
        assert await session.lookup(DEST.b33(client_auth=True)) == DEST
        # not cached: another session on this bridge may hold no key for it
        del fake.names[DEST.b33(client_auth=True)]
        with pytest.raises(ClientKeyRequired):
            await session.lookup(DEST.b33(client_auth=True))
        other = fake_private_key().destination
        fake.names[other.b33()] = DEST.base64
        with pytest.raises(InvalidKey, match="answered"):
            await session.lookup(other.b33())
    finally:
        session.close()
