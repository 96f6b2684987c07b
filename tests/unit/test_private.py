"""Private services' client keys: files, options, redaction, endpoints."""

from __future__ import annotations

import stat

import pytest
import pytest_twisted
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.testing import MemoryReactorClock

from txi2p import private
from txi2p.address import b64decode, b64encode
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


# RFC 7748, section 6.1: Alice's and Bob's keys and their shared secret
_ALICE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
_ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
_BOB = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
_BOB_PUBLIC = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
_SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")


def test_x25519_matches_rfc_7748():
    base = (9).to_bytes(32, "little")
    assert private.x25519(_ALICE, base) == _ALICE_PUBLIC
    assert private.x25519(_BOB, base) == _BOB_PUBLIC
    assert private.x25519(_ALICE, _BOB_PUBLIC) == private.x25519(_BOB, _ALICE_PUBLIC) == _SHARED
    # RFC 7748 section 5.2, first vector (a point other than the base)
    assert private.x25519(
        bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
    ) == bytes.fromhex("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    assert private.client_public_key(b64encode(_ALICE)) == b64encode(_ALICE_PUBLIC)
    with pytest.raises(ValueError, match="32-byte"):
        private.x25519(_ALICE[:31], base)


def test_dh_service_lists_public_keys_and_one_of_its_own():
    alice = private.new_client_key()
    alice_public = private.client_public_key(alice)
    options = private.service_options({"alice": alice_public}, "dh")
    assert options["i2cp.leaseSetAuthType"] == "1" and options["i2cp.leaseSetType"] == "5"
    assert options["i2cp.leaseSetClient.dh.0"] == f"YWxpY2U=:{alice_public}"
    # the service's own entry: Java's router checks the lease set with its
    # private half, which the service holds (and no client's)
    own_name, _, own_public = options["i2cp.leaseSetClient.dh.1"].partition(":")
    assert b64decode(own_name) == private.SERVICE_OWN_CLIENT.encode()
    assert private.client_public_key(options["i2cp.leaseSetPrivKey"]) == own_public
    assert alice not in options.values() and len(options) == 5
    # a client's session carries its private key, whatever the kind
    assert private.client_options(alice) == {"i2cp.leaseSetPrivKey": alice}
    # the service's private key is redacted; the public keys need not be
    command = codec.session_create("STREAM", "s", "TRANSIENT", options=options)
    assert options["i2cp.leaseSetPrivKey"] not in repr(command)


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
    client = I2PClientEndpoint(reactor, DEST.b33(client_auth=True), client_key=private.ClientKey(key))
    assert dict(client._session_spec().options)["i2cp.leaseSetPrivKey"] == key
    assert key not in repr(client._session_spec())
    server = I2PServerEndpoint(reactor, private=private.PrivateService(clients={"alice": key}))
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
    (lambda r: I2PClientEndpoint(r, DEST.b32, client_key=private.ClientKey("x", file="f")), "not both"),
    (lambda r: I2PServerEndpoint(r, private=private.PrivateService(clients={"a": private.new_client_key()},
                                                                   clients_file="f")), "not both"),
    (lambda r: I2PServerEndpoint(r, private=private.PrivateService(clients={"a": private.new_client_key()},
                                                                   auth="ecdh")), "auth must be"),
    (lambda r: serverFromString(r, "i2p:k.key:clients=f:auth=rsa"), "auth"),
    (lambda r: I2PServerEndpoint(r, private=private.PrivateService(
        clients={private.SERVICE_OWN_CLIENT: private.new_client_key()}, auth="dh")), "its own key"),
    (lambda r: I2PClientEndpoint(r, DEST.b32, client_key=private.ClientKey("short")), "32 bytes"),
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

    from txi2p.bridge import SAMBridge
    from txi2p.errors import ClientKeyRequired, NameNotFound
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


@pytest.mark.parametrize("answers_options", [True, False])
@pytest_twisted.ensureDeferred
async def test_lookup_with_options_returns_the_lease_sets_options(fake_sam, answers_options):
    """``lookup(name, options=True)`` sends ``OPTIONS=true`` and returns the
    ``OPTION:`` fields; a router that ignores it gives a record without."""
    from dataclasses import replace

    from twisted.internet import reactor

    from txi2p.address import NameRecord
    from txi2p.bridge import SAMBridge
    from txi2p.testing.fake_bridge import I2PD_2_58

    fake, address = fake_sam(replace(I2PD_2_58, lookup_options=answers_options))
    fake.names[DEST.b32] = DEST.base64
    fake.name_options[DEST.b32] = {"_smtp._tcp": "0 0 25 mail.i2p", "note": "a b"}
    session = await SAMBridge(reactor, address).create_session("STREAM", "c")
    try:
        def lookups():
            sent = [c for c in fake.commands if c.startswith("NAMING")]
            fake.commands.clear()
            return sent

        lookups()
        record = await session.lookup(DEST.b32, options=True)
        assert lookups() == [f"NAMING LOOKUP NAME={DEST.b32} OPTIONS=true"]
        expected = fake.name_options[DEST.b32] if answers_options else {}
        assert record == NameRecord(DEST.b32, DEST, expected)
        # a destination is asked for by its name; the plain lookup is unchanged
        assert (await session.lookup(DEST, options=True)).destination == DEST
        assert lookups() == [f"NAMING LOOKUP NAME={DEST.b32} OPTIONS=true"]
        assert await session.lookup(DEST.b32) == DEST
        assert lookups() == [f"NAMING LOOKUP NAME={DEST.b32}"]
    finally:
        session.close()
