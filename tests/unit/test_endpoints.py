"""Endpoint strings, endpoint arguments and the session registry, without a router."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock

from txi2p.config import BridgeConfig, SessionConfig
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.errors import InvalidKey, SessionConflict
from txi2p.registry import SessionRegistry
from txi2p.testing.fakes import fake_private_key

DEST = fake_private_key().destination
B32 = DEST.b32


@pytest.fixture
def reactor():
    return MemoryReactorClock()


def test_client_short_form(reactor):
    ep = clientFromString(reactor, f"i2p:{B32}:80")
    assert isinstance(ep, I2PClientEndpoint)
    assert ep.host == B32 and ep.port == 80
    assert reactor.tcpClients == []  # no I/O at parse time


def test_client_long_form_with_every_keyword(reactor):
    ep = clientFromString(
        reactor,
        f"i2p:host={B32}:port=8080:session=alice:keyfile=/tmp/a.key:samaddr=127.0.0.1\\:7700"
        ":in_depth=1:out_depth=3:inbound.quantity=2:localPort=5:sigType=7:autoClose=false")
    assert ep.port == 8080 and ep.from_port == 5
    spec = ep._spec
    assert spec.nickname == "alice" and spec.keyfile == "/tmp/a.key" and not spec.auto_close
    opts = dict(spec.options)
    assert opts["inbound.length"] == "1" and opts["outbound.length"] == "3"
    assert opts["inbound.quantity"] == "2"
    assert ep.bridge_config.sam_address == "127.0.0.1:7700"


def test_client_base64_destination(reactor):
    ep = clientFromString(reactor, f"i2p:{DEST.base64}")
    assert ep.host == DEST.base64


def test_server_short_form_tahoe_style(reactor):
    ep = serverFromString(reactor, "i2p:/tmp/node.key:3457:api=SAM:apiEndpoint=tcp\\:127.0.0.1\\:7656")
    assert isinstance(ep, I2PServerEndpoint)
    assert ep._spec.keyfile == "/tmp/node.key" and ep.port == 3457
    assert ep.bridge_config.sam_address == "127.0.0.1:7656"
    assert reactor.tcpClients == []


def test_server_long_form(reactor):
    ep = serverFromString(reactor, "i2p:session=site:keyfile=site.key:port=80:samaddr=127.0.0.1\\:7656"
                                   ":in_depth=0:out_depth=0:i2cp.leaseSetEncType=4:pending=3")
    assert ep._spec.nickname == "site" and ep.port == 80 and ep.pending == 3
    assert dict(ep._spec.options)["i2cp.leaseSetEncType"] == "4"


def test_txi2p_03_keywords(reactor):
    ep = serverFromString(reactor, "i2p:k.key:nickname=old:options=inbound.length\\:1,outbound.length\\:1"
                                   ":sigType=EdDSA_SHA512_Ed25519:autoClose=true")
    assert ep._spec.nickname == "old" and ep._spec.signature_type == 7 and ep._spec.auto_close
    assert dict(ep._spec.options)["inbound.length"] == "1"
    other = clientFromString(reactor, f"i2p:{B32}:api=SAM:apiEndpoint=unix\\:/tmp/sam.sock")
    assert other.bridge_config.endpoint is not None


@pytest.mark.parametrize("text,match", [
    ("i2p:{b32}:bogus=1", "unknown keyword 'bogus'"),
    ("i2p:{b32}:port=http", "port='http' is not an integer"),
    ("i2p:{b32}:port=70000", "port='70000'"),
    ("i2p:{b32}:autoClose=maybe", "autoClose='maybe' is not a boolean"),
    ("i2p:{b32}:in_depth=9", "in_depth='9'"),
    ("i2p:{b32}:api=BOB", "BOB is deprecated"),
    ("i2p:{b32}:api=FOO", "api='FOO'"),
    ("i2p:{b32}:apiEndpoint=tcp\\:127.0.0.1\\:7656", "apiEndpoint needs api=SAM"),
    ("i2p:{b32}:sigType=nonsense", "sigType='nonsense'"),
    ("i2p:{b32}:options=novalue", "options="),
    ("i2p:{b32}:samaddr=nohost", "samaddr="),
    ("i2p:{b32}:session=a\\:b:nickname=c", "session and nickname"),
    ("i2p:{b32}:80:90", "too many positional"),
    ("i2p:port=80", "needs a host"),
    ("i2p:bad.b32.i2p", "not a valid .b32.i2p"),
])
def test_client_bad_strings(reactor, text, match):
    with pytest.raises(ValueError, match=match):
        clientFromString(reactor, text.format(b32=B32))


def test_client_bad_base64_destination(reactor):
    with pytest.raises(InvalidKey):
        clientFromString(reactor, "i2p:" + "A" * 520)


@pytest.mark.parametrize("text,match", [
    ("i2p:k.key:host=x.i2p", "unknown keyword 'host'"),
    ("i2p:k.key:pending=0", "pending='0'"),
    ("i2p:k.key:autoClose=nope", "autoClose"),
    ("i2p:k.key:apiEndpoint=tcp\\:127.0.0.1\\:7656", "apiEndpoint needs api=SAM"),
    ("i2p:session=a b", "session"),
    ("i2p:k.key:private=maybe", "private"),
    ("i2p:k.key:private=true:sigType=1", "Ed25519 .7. or RedDSA .11."),
    ("i2p:k.key:private=true:options=i2cp.leaseSetType\\:3", "i2cp.leaseSetType=3"),
])
def test_server_bad_strings(reactor, text, match):
    with pytest.raises(ValueError, match=match):
        serverFromString(reactor, text)


def test_false_means_false(reactor):
    assert not clientFromString(reactor, f"i2p:{B32}:autoClose=false")._spec.auto_close
    assert not clientFromString(reactor, f"i2p:{B32}:autoClose=False")._spec.auto_close
    assert clientFromString(reactor, f"i2p:{B32}:autoClose=true")._spec.auto_close


def test_python_arguments_validated(reactor):
    with pytest.raises(ValueError, match="port"):
        I2PClientEndpoint(reactor, B32, port=0)
    with pytest.raises(ValueError, match="session"):
        I2PClientEndpoint(reactor, B32, session_config=SessionConfig.build(nickname="a=b"))
    with pytest.raises(ValueError, match="in_depth"):
        I2PServerEndpoint(reactor, session_config=SessionConfig.build(in_depth=-1))
    with pytest.raises(ValueError, match="SAM address"):
        I2PServerEndpoint(reactor, bridge_config=BridgeConfig("nowhere"))


# ---------------------------------------------------------------- registry


class FakeSession:
    def __init__(self, name):
        self.nickname = name
        self.is_open = True
        self.closed = defer.Deferred()
        self.key = fake_private_key()

    def close(self):
        self.is_open = False
        self.closed.callback(None)
        return self.closed


class FakeBridge:
    sam_address = "fake:1"

    def __init__(self):
        self.starts = []

    def create_session(self, style, name, key, **kw):
        d = defer.Deferred()
        self.starts.append((name, d))
        return d


def acquire(registry, bridge, spec):
    return defer.Deferred.fromCoroutine(registry.acquire(bridge, spec))


def test_registry_shares_one_start_between_early_callers(reactor):
    registry, bridge = SessionRegistry(reactor), FakeBridge()
    spec = SessionConfig.make("web")
    d1, d2 = acquire(registry, bridge, spec), acquire(registry, bridge, spec)
    assert len(bridge.starts) == 1
    session = FakeSession("web")
    bridge.starts[0][1].callback(session)
    assert d1.result is session and d2.result is session
    assert registry.sessions == [session]


def test_registry_conflicting_settings_raise(reactor):
    registry, bridge = SessionRegistry(reactor), FakeBridge()
    acquire(registry, bridge, SessionConfig.make("web", options={"inbound.length": "1"}))
    d = acquire(registry, bridge, SessionConfig.make("web", options={"inbound.length": "2"}))
    failure = []
    d.addErrback(failure.append)
    assert failure and failure[0].check(SessionConflict)
    assert "options" in str(failure[0].value)


def test_registry_failed_start_can_be_retried(reactor):
    registry, bridge = SessionRegistry(reactor), FakeBridge()
    spec = SessionConfig.make("web")
    d1, d2 = acquire(registry, bridge, spec), acquire(registry, bridge, spec)
    bridge.starts[0][1].errback(RuntimeError("router said no"))
    for d in (d1, d2):
        errs = []
        d.addErrback(errs.append)
        assert errs and errs[0].check(RuntimeError)
    acquire(registry, bridge, spec)
    assert len(bridge.starts) == 2


def test_registry_auto_close_and_recreate_after_end(reactor):
    registry, bridge = SessionRegistry(reactor), FakeBridge()
    spec = SessionConfig.make("web", auto_close=True)
    acquire(registry, bridge, spec)
    session = FakeSession("web")
    bridge.starts[0][1].callback(session)
    registry.release(session)
    assert not session.is_open
    acquire(registry, bridge, spec)
    assert len(bridge.starts) == 2


def test_registry_for_reactor_is_kept_on_the_reactor(reactor):
    assert SessionRegistry.for_reactor(reactor) is SessionRegistry.for_reactor(reactor)
    assert SessionRegistry.for_reactor(MemoryReactorClock()) is not SessionRegistry.for_reactor(reactor)


def test_unnamed_clients_share_a_transient_session(reactor):
    registry, bridge = SessionRegistry(reactor), FakeBridge()
    spec = SessionConfig.make(None)
    acquire(registry, bridge, spec)
    acquire(registry, bridge, spec)
    assert len(bridge.starts) == 1
    assert bridge.starts[0][0].startswith("txi2p-")


# ---------------------------------------------------------------- port routing


class _Listener:
    def __init__(self, port):
        self.port = port
        self.factory = f"factory-{port}"


@pytest.mark.parametrize("listeners,to_port,expected", [
    ([80, None], 80, "factory-80"),
    ([80, None], 81, "factory-None"),
    ([80, 443], 443, "factory-443"),
    ([80, 443], 22, None),          # no listener for that port: rejected
    ([80, 443], None, "factory-80"),  # router reports no port: lowest port
    ([None, 80], None, "factory-None"),
])
def test_streams_routed_by_to_port(listeners, to_port, expected):
    from txi2p.listening import _Acceptor

    acceptor = _Acceptor.__new__(_Acceptor)
    acceptor.listeners = {p: _Listener(p) for p in listeners}
    assert acceptor.route(to_port) == expected


def test_stream_with_unrouted_port_is_rejected():
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport

    from txi2p import errors
    from txi2p.address import I2PAddress
    from txi2p.protocol import SAMStreamProtocol
    from txi2p.sam import codec

    proto = SAMStreamProtocol(Clock(), codec.hello(), codec.stream_accept("s"), None,
                              I2PAddress(DEST), None, 30, "sam", route=lambda port: None)
    transport = StringTransport()
    proto.makeConnection(transport)
    peer = fake_private_key().destination
    proto.dataReceived(b"HELLO REPLY RESULT=OK VERSION=3.3\nSTREAM STATUS RESULT=OK\n"
                       + peer.base64.encode() + b" FROM_PORT=1 TO_PORT=22\n")
    errs = []
    proto.established.addErrback(errs.append)
    assert errs and errs[0].check(errors.StreamRejected)
    assert "22" in str(errs[0].value)
    assert transport.disconnecting or transport.disconnected


class _FakeInner:
    """An I2PListeningPort stand-in whose session ends when the test says."""

    def __init__(self, on_purpose):
        from types import SimpleNamespace

        from twisted.internet import defer
        from twisted.python.failure import Failure

        from txi2p.address import I2PAddress

        key = fake_private_key()
        self.session = SimpleNamespace(closed=defer.Deferred(), closed_on_purpose=on_purpose,
                                       close_reason=Failure(ConnectionError("gone")))
        self.address = I2PAddress(key.destination)
        self.stopped = False

    def getHost(self):
        return self.address

    def stopListening(self):
        self.stopped = True


@pytest.mark.parametrize("on_purpose", [True, False])
def test_port_stops_quietly_when_its_session_is_closed_and_restarts_when_lost(on_purpose):
    """Reactor shutdown closes every session: ports must not warn and restart then."""
    from twisted.internet.task import Clock
    from twisted.logger import LogLevel, globalLogPublisher

    from txi2p.endpoints import I2PServerEndpoint, I2PServerPort

    clock = Clock()
    endpoint = I2PServerEndpoint(clock, session_config=SessionConfig.build(nickname="quiet"))
    port = I2PServerPort(endpoint, Factory())
    inner = _FakeInner(on_purpose)
    port._attach(inner)
    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        inner.session.closed.callback(None)
    finally:
        globalLogPublisher.removeObserver(logged.append)
    warnings = [e for e in logged if e.get("log_level") in (LogLevel.warn, LogLevel.error)]
    assert inner.stopped and port.inner is None
    if on_purpose:
        assert not warnings and not port.listening and clock.getDelayedCalls() == []
    else:
        assert warnings and port.listening and len(clock.getDelayedCalls()) == 1  # starting it again
        port.stopListening()
        assert clock.getDelayedCalls() == []


@pytest_twisted.ensureDeferred
async def test_one_key_file_is_one_session_whatever_the_names(fake_sam, tmp_path):
    """Tahoe's storage node listens and connects out with one key file: one SESSION CREATE."""
    from twisted.internet import reactor

    from txi2p.address import write_key_file
    from txi2p.testing.fake_bridge import I2PD_2_45

    fake, sam = fake_sam(I2PD_2_45)
    keyfile = tmp_path / "node.key"
    write_key_file(keyfile, fake.key)  # the fake answers SESSION CREATE with its key
    registry = SessionRegistry(reactor)
    bridge = registry.bridge(sam)
    server, client = await defer.gatherResults([
        defer.Deferred.fromCoroutine(registry.acquire(bridge, SessionConfig.make("txi2p-server-1", str(keyfile)))),
        defer.Deferred.fromCoroutine(registry.acquire(bridge, SessionConfig.make(None, str(tmp_path / "." / "node.key")))),
    ])
    assert server is client
    assert len([c for c in fake.commands if c.startswith("SESSION CREATE")]) == 1
    again = await registry.acquire(bridge, SessionConfig.make("another-name", str(keyfile)))
    assert again is server
    with pytest.raises(SessionConflict, match="one destination is one session"):
        await registry.acquire(bridge, SessionConfig.make("x", str(keyfile), options={"inbound.length": "1"}))
    # another key file is another session
    other = tmp_path / "other.key"
    fake.key = fake_private_key()
    write_key_file(other, fake.key)
    assert await registry.acquire(bridge, SessionConfig.make(None, str(other))) is not server
    await registry.close_all()


def test_a_bridge_in_use_is_not_given_other_credentials():
    registry = SessionRegistry(MemoryReactorClock())
    bridge = registry.bridge("127.0.0.1:7656", user="alice", password="one")
    assert registry.bridge("127.0.0.1:7656", user="alice", password="one") is bridge
    assert registry.bridge("127.0.0.1:7656") is bridge  # no credentials given: the bridge as it is
    with pytest.raises(SessionConflict, match="other credentials"):
        registry.bridge("127.0.0.1:7656", user="alice", password="two")
    with pytest.raises(SessionConflict, match="other credentials"):
        registry.bridge("127.0.0.1:7656", user="bob", password="one")
    assert registry.bridge("127.0.0.1:7657", user="bob", password="two") is not bridge


def test_private_service_endpoint(reactor):
    """private=true asks for an encrypted lease set; nothing else changes."""
    endpoint = serverFromString(reactor, "i2p:k.key:80:private=true")
    options = dict(endpoint._spec.options)
    assert options["i2cp.leaseSetType"] == "5"
    plain = dict(serverFromString(reactor, "i2p:k.key:80")._spec.options)
    assert "i2cp.leaseSetType" not in plain
    assert {k: v for k, v in options.items() if k != "i2cp.leaseSetType"} == plain
    assert not reactor.tcpClients  # no I/O before listen()
    same = I2PServerEndpoint(reactor, 80, private=True, session_config=SessionConfig.build(
        keyfile="k.key", options={"i2cp.leaseSetType": 5}))
    assert dict(same._spec.options)["i2cp.leaseSetType"] == "5"


def test_a_private_session_is_reached_by_its_b33_name():
    from txi2p.session import own_address

    assert own_address(DEST, {}).host == B32
    assert own_address(DEST, {"i2cp.leaseSetType": "3"}).host == B32
    assert own_address(DEST, {"i2cp.leaseSetType": "5"}).host == DEST.b33()
    assert own_address(DEST, {"i2cp.leaseSetType": "5", "i2cp.leaseSetAuthType": "1"}).host == \
        DEST.b33(client_auth=True)
    assert own_address(DEST, {"i2cp.leaseSetType": "5", "i2cp.leaseSetSecret": "s"}).host == \
        DEST.b33(secret=True)
    assert own_address(DEST, {"i2cp.leaseSetType": "5"}).destination == DEST


@pytest_twisted.ensureDeferred
async def test_a_private_session_of_a_key_that_cannot_be_blinded_is_refused_before_any_io(reactor):
    from txi2p.bridge import SAMBridge

    bridge = SAMBridge(reactor, "127.0.0.1:7656")
    key = fake_private_key(signature_type=1)
    with pytest.raises(ValueError, match="signature type is 1"):
        await bridge.create_session("STREAM", "private", key, options={"i2cp.leaseSetType": "5"})
    assert not reactor.tcpClients
