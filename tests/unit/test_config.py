"""One BridgeConfig and one SessionConfig through every front door.

The fake bridge plays a Java I2P bridge with SAM authentication on (the
routers in CI have none), so these tests show, at protocol level, that
every front door carries the credentials to every connection it opens.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, clientFromString, serverFromString
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage

from txi2p.config import BridgeConfig, SessionConfig, check_port, parse_bool
from txi2p.datagram import I2PDatagramEndpoint
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.errors import I2PError, SessionConflict
from txi2p.i2ptunnel import Options, makeService, tunnel_spec
from txi2p.protocol import Timeouts
from txi2p.registry import SessionRegistry
from txi2p.testing.fake_bridge import JAVA_2_7, FakeSAMBridge
from txi2p.tunnel import TunnelClient, TunnelServer

DEST = "site.i2p"


def hellos(fake: FakeSAMBridge) -> list[str]:
    return [c for c in fake.commands if c.startswith("HELLO")]


@pytest.fixture
def auth_sam():
    """A fake Java I2P bridge that wants USER=alice PASSWORD=s3cret: ``(fake, config)``."""
    from twisted.internet import reactor

    fake = FakeSAMBridge(JAVA_2_7, credentials=("alice", "s3cret"))
    port = reactor.listenTCP(0, fake, interface="127.0.0.1")
    address = f"127.0.0.1:{port.getHost().port}"
    yield fake, BridgeConfig(address, user="alice", password="s3cret")
    port.stopListening()


# ------------------------------------------------------------------ the values


def test_bridge_config_is_checked_when_made():
    assert BridgeConfig().where  # the default address, resolved when asked
    assert BridgeConfig("127.0.0.1:7656").is_local
    assert not BridgeConfig("10.0.0.5:7656", allow_remote=True).is_local
    with pytest.raises(ValueError, match="not on this machine"):
        BridgeConfig("10.0.0.5:7656")
    with pytest.raises(ValueError, match="host:port"):
        BridgeConfig("127.0.0.1")
    with pytest.raises(ValueError, match="not both"):
        BridgeConfig("127.0.0.1:7656", TCP4ClientEndpoint(MemoryReactorClock(), "127.0.0.1", 7656))
    with pytest.raises(ValueError, match="both a user and a password"):
        BridgeConfig("127.0.0.1:7656", user="alice")
    with pytest.raises(ValueError, match="one-line"):
        BridgeConfig("127.0.0.1:7656", user="alice", password="a\nb")
    config = BridgeConfig("127.0.0.1:7656", user="alice", password="s3cret")
    assert "s3cret" not in repr(config)
    with pytest.raises(AttributeError):
        config.user = "bob"  # type: ignore[misc]  # frozen


def test_session_config_is_checked_once_and_carries_the_defaults():
    config = SessionConfig.build(nickname="web", options={"inbound.quantity": 3}, in_depth=1)
    assert config.option_map["inbound.quantity"] == "3"
    assert config.option_map["inbound.length"] == "1"
    assert config.option_map["i2cp.leaseSetEncType"] == "4,0"
    for bad in ({"nickname": "two words"}, {"style": "SOMETHING"}, {"in_depth": 9},
                {"options": {"i2cp.leaseSetEncType": "3"}}, {"signature_type": True}):
        with pytest.raises(ValueError):
            SessionConfig.build(**bad)  # type: ignore[arg-type]


def test_one_port_check_and_one_boolean_syntax():
    assert check_port("p", 1) == 1 and check_port("p", 0, allow_zero=True) == 0
    for bad in (0, 65536, True, "80"):
        with pytest.raises(ValueError, match="from 1 to 65535"):
            check_port("p", bad)
    assert parse_bool("Yes") and not parse_bool("off") and parse_bool(1)
    with pytest.raises(ValueError):
        parse_bool("maybe")


def test_every_front_door_takes_the_same_values():
    reactor = MemoryReactorClock()
    bridge = BridgeConfig("127.0.0.1:7999", user="alice", password="s3cret")
    session = SessionConfig.build(nickname="shared", in_depth=1)
    client = I2PClientEndpoint(reactor, "site.i2p", bridge_config=bridge, session_config=session)
    server = I2PServerEndpoint(reactor, bridge_config=bridge, session_config=session)
    assert client.bridge_config is bridge and server.bridge_config is bridge
    assert client.session_config == server.session_config == session
    dgram = I2PDatagramEndpoint(reactor, bridge_config=bridge,
                                session_config=SessionConfig.build(nickname="d", style="RAW"))
    assert dgram.bridge_config is bridge and dgram.kind == "RAW"
    tunnel_server = TunnelServer(reactor, I2PServerEndpoint(
        reactor, bridge_config=bridge, session_config=SessionConfig.build(nickname="web")), 8080)
    assert tunnel_server.receive.bridge_config is bridge  # type: ignore[attr-defined]
    tunnel_client = TunnelClient(reactor, I2PClientEndpoint(
        reactor, "site.i2p", bridge_config=bridge, session_config=SessionConfig.build(nickname="proxy")), 8081)
    assert tunnel_client._send_endpoint.bridge_config is bridge
    # the endpoint strings build the same value
    parsed = clientFromString(reactor, "i2p:site.i2p:samaddr=127.0.0.1\\:7999:user=alice:password=s3cret")
    assert parsed.bridge_config == bridge
    assert serverFromString(reactor, "i2p:k.key:samaddr=127.0.0.1\\:7999:user=alice:password=s3cret"
                            ).bridge_config == bridge
    # the value only: the settings one by one are not taken beside it (issue 26: one way to configure)
    with pytest.raises(TypeError):
        I2PClientEndpoint(reactor, "site.i2p", bridge_config=bridge, sam_address="127.0.0.1:7656")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        I2PServerEndpoint(reactor, session="x", session_config=session)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        I2PDatagramEndpoint(reactor, bridge_config=bridge, user="bob", password="x")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="needs a session of style STREAM"):
        I2PClientEndpoint(reactor, "site.i2p", session_config=SessionConfig.build(style="RAW"))


def test_a_session_config_holds_auto_close_and_the_signature_type():
    """Given beside a SessionConfig, they are refused (not silently dropped); a
    config that says nothing of auto_close gets each front door's own default."""
    reactor = MemoryReactorClock()
    session = SessionConfig.build(nickname="shared")
    for make in (lambda **kw: I2PClientEndpoint(reactor, "site.i2p", session_config=session, **kw),
                 lambda **kw: I2PServerEndpoint(reactor, session_config=session, **kw)):
        with pytest.raises(TypeError, match="auto_close"):
            make(auto_close=True)
        with pytest.raises(TypeError, match="signature_type"):
            make(signature_type=7)
    with pytest.raises(TypeError, match="signature_type"):
        I2PDatagramEndpoint(reactor, session_config=SessionConfig.build(nickname="d", style="DATAGRAM"),
                            signature_type="EdDSA_SHA512_Ed25519")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"must be a txi2p\.config\.SessionConfig"):
        I2PClientEndpoint(reactor, "site.i2p", session_config="shared")  # type: ignore[arg-type]
    # a server's session closes with its port, a client's stays; a config says for itself
    assert I2PServerEndpoint(reactor, session_config=SessionConfig.build(nickname="s")
                             ).session_config.auto_close is True
    assert I2PClientEndpoint(reactor, "site.i2p", session_config=SessionConfig.build(nickname="c")
                             ).session_config.auto_close is False
    assert I2PServerEndpoint(reactor, session_config=SessionConfig.build(nickname="s2", auto_close=True)
                             ).session_config.auto_close is True
    assert I2PClientEndpoint(reactor, "site.i2p", session_config=SessionConfig.build(
        signature_type="EdDSA_SHA512_Ed25519")).session_config.signature_type == "EdDSA_SHA512_Ed25519"
    assert I2PClientEndpoint(reactor, "site.i2p").session_config.signature_type == 7
    with pytest.raises(ValueError, match="user and a password"):
        clientFromString(reactor, "i2p:site.i2p:user=alice")


def test_twistd_i2ptunnel_takes_the_bridge_settings(tmp_path):
    options = Options()
    options.parseOptions(["client", "--dest", "site.i2p", "--port", "8081", "--samaddr", "10.0.0.5:7656",
                          "--allow-remote", "--sam-user", "alice", "--sam-password", "s3cret",
                          "--client-key", "me.key"])
    spec = options["specs"][0]
    assert spec["bridge_config"] == BridgeConfig("10.0.0.5:7656", allow_remote=True, user="alice", password="s3cret")
    assert spec["client_key_file"] == "me.key"
    with pytest.raises(usage.UsageError, match="not on this machine"):
        Options().parseOptions(["client", "--dest", "site.i2p", "--port", "1", "--samaddr", "10.0.0.5:7656"])
    with pytest.raises(usage.UsageError, match="user and a password"):
        Options().parseOptions(["server", "--port", "8080", "--sam-user", "alice"])
    ini = tmp_path / "tunnels.ini"
    ini.write_text("[web]\ntype = server\nport = 8080\nprivate = yes\nclients = web.clients\nauth = dh\n"
                   "sam-user = alice\nsam-password = s3cret\n")
    options = Options()
    options.parseOptions(["--config", str(ini)])
    spec = options["specs"][0]
    assert (spec["private"], spec["clients_file"], spec["auth"]) == (True, "web.clients", "dh")
    assert spec["bridge_config"].user == "alice"
    with pytest.raises(usage.UsageError, match="private must be true or false"):
        tunnel_spec("server", {"port": "1", "private": "perhaps"}, "")
    service = makeService(options)
    tunnel = next(iter(service))
    assert tunnel.receive.bridge_config.user == "alice"  # type: ignore[attr-defined]


# ------------------------------------------------------------------ the registry


def test_bridges_are_shared_by_where_they_are_and_credentials_and_timeouts_must_agree():
    registry = SessionRegistry(MemoryReactorClock())
    with_auth = BridgeConfig("127.0.0.1:7656", user="alice", password="one")
    bridge = registry.bridge(with_auth)
    assert registry.bridge(BridgeConfig("127.0.0.1:7656", user="alice", password="one")) is bridge
    assert registry.bridge(BridgeConfig("127.0.0.1:7656")) is bridge  # none given: the bridge as it is
    with pytest.raises(SessionConflict, match="other credentials"):
        registry.bridge(BridgeConfig("127.0.0.1:7656", user="alice", password="two"))
    assert bridge.bridge_config == with_auth
    # timeouts likewise: the same ones or none, not others silently dropped
    quick = Timeouts(command=5)
    timed = registry.bridge(BridgeConfig("127.0.0.1:7657", timeouts=quick))
    assert registry.bridge(BridgeConfig("127.0.0.1:7657", timeouts=Timeouts(command=5))) is timed
    assert registry.bridge(BridgeConfig("127.0.0.1:7657")) is timed and timed.timeouts == quick
    with pytest.raises(SessionConflict, match="other timeouts"):
        registry.bridge(BridgeConfig("127.0.0.1:7657", timeouts=Timeouts(command=9)))
    with pytest.raises(SessionConflict, match="other timeouts"):
        registry.bridge(BridgeConfig("127.0.0.1:7656", timeouts=Timeouts(command=9)))


# ------------------------------------------------------------------ credentials on the wire


@pytest_twisted.ensureDeferred
async def test_endpoints_carry_the_credentials_to_the_bridge(auth_sam):
    from twisted.internet import reactor

    fake, config = auth_sam
    registry = SessionRegistry(reactor)
    endpoint = I2PClientEndpoint(reactor, "site.i2p", bridge_config=config,
                                 session_config=SessionConfig.build(nickname="c"), registry=registry)
    session = await endpoint.acquire_session()
    assert "c" in fake.sessions
    assert hellos(fake) and all("USER=alice PASSWORD=s3cret" in h for h in hellos(fake))
    registry.release(session)
    await registry.close_all()


@pytest_twisted.ensureDeferred
async def test_a_bridge_refusing_the_credentials_is_a_clear_error(auth_sam):
    from twisted.internet import reactor

    fake, config = auth_sam
    wrong = BridgeConfig(config.sam_address, user="alice", password="guess")
    endpoint = I2PClientEndpoint(reactor, "site.i2p", bridge_config=wrong, registry=SessionRegistry(reactor))
    with pytest.raises(I2PError, match="Authorization failed"):
        await endpoint.acquire_session()
    none = I2PClientEndpoint(reactor, "site.i2p", bridge_config=BridgeConfig(config.sam_address),
                             registry=SessionRegistry(reactor))
    with pytest.raises(I2PError, match="USER and PASSWORD required"):
        await none.acquire_session()
    assert not fake.sessions


@pytest_twisted.ensureDeferred
async def test_tunnels_carry_the_credentials_to_the_bridge(auth_sam):
    from twisted.internet import reactor

    fake, config = auth_sam
    registry = SessionRegistry(reactor)
    tunnel = TunnelClient(reactor, I2PClientEndpoint(reactor, DEST, bridge_config=config, registry=registry,
                                                     session_config=SessionConfig.build(nickname="proxy")), 0)
    tunnel.startService()
    await tunnel.when_listening()
    assert tunnel.b32 and "proxy" in fake.sessions
    assert all("USER=alice PASSWORD=s3cret" in h for h in hellos(fake))
    await tunnel.stopService()
    await registry.close_all()


@pytest_twisted.ensureDeferred
async def test_twistd_i2ptunnel_carries_the_credentials_to_the_bridge(auth_sam):
    from twisted.internet import reactor

    fake, config = auth_sam
    options = Options()
    options.parseOptions(["client", "--dest", DEST, "--port", "0", "--session", "twistd-proxy",
                          "--samaddr", config.sam_address, "--sam-user", "alice", "--sam-password", "s3cret"])
    service = makeService(options)
    service.startService()
    tunnel = next(iter(service))
    await tunnel.when_listening()
    assert "twistd-proxy" in fake.sessions
    assert all("USER=alice PASSWORD=s3cret" in h for h in hellos(fake))
    await service.stopService()
    await SessionRegistry.for_reactor(reactor).close_all()


class _Inbox(DatagramProtocol):
    def __init__(self) -> None:
        self.stopped = False

    def doStop(self) -> None:
        self.stopped = True


@pytest_twisted.ensureDeferred
async def test_datagram_sessions_come_from_the_registry_with_their_key_files(auth_sam, tmp_path):
    from twisted.internet import reactor

    fake, config = auth_sam
    registry = SessionRegistry(reactor)
    keyfile = tmp_path / "d.key"

    def endpoint(style="DATAGRAM"):
        return I2PDatagramEndpoint(reactor, bridge_config=config, delivery="control", registry=registry,
                                   session_config=SessionConfig.build(nickname="d", keyfile=str(keyfile),
                                                                      style=style))

    inbox = _Inbox()
    port = await endpoint().listen(inbox)
    assert keyfile.exists()  # written by the registry, as for stream sessions
    assert all("USER=alice PASSWORD=s3cret" in h for h in hellos(fake))
    # the same name again shares the session (one SESSION CREATE) ...
    assert await endpoint().acquire_port() is port
    registry.release(port.session)
    assert len([c for c in fake.commands if c.startswith("SESSION CREATE")]) == 1
    # ... which carries one protocol, and other settings are a conflict
    with pytest.raises(SessionConflict, match="already carries a protocol"):
        await endpoint().listen(_Inbox())
    with pytest.raises(SessionConflict, match="other style"):
        await endpoint("RAW").listen(_Inbox())
    await port.stopListening()
    assert inbox.stopped and not port.session.is_open
    # a stream endpoint naming the datagram session's key file is the same destination: refused
    again = await endpoint().listen(_Inbox())
    with pytest.raises(SessionConflict, match="one destination is one session"):
        await I2PServerEndpoint(reactor, bridge_config=config, session_config=SessionConfig.build(
            keyfile=str(keyfile)), registry=registry).acquire_session()
    await again.stopListening()
    await registry.close_all()
    await defer.succeed(None)


def test_the_shim_carries_the_credentials_and_shares_datagram_sessions_by_name(tmp_path):
    """txi2p.socket against the fake bridge, in a process of its own (the shim runs its own reactor thread)."""
    script = textwrap.dedent("""
        from twisted.internet import reactor
        from txi2p import socket as i2p
        from txi2p.config import BridgeConfig
        from txi2p.testing.fake_bridge import JAVA_2_7, FakeSAMBridge

        context = i2p._ShimContext.get()
        fake = FakeSAMBridge(JAVA_2_7, credentials=("alice", "s3cret"))
        port = context.call(lambda: reactor.listenTCP(0, fake, interface="127.0.0.1"))
        address = "127.0.0.1:%d" % port.getHost().port
        config = BridgeConfig(address, user="alice", password="s3cret")
        stream = i2p.socket("s", i2p.SOCK_STREAM, bridge=config)
        one = i2p.socket("d", i2p.SOCK_DGRAM, bridge=config)
        two = i2p.socket("d", i2p.SOCK_DGRAM, bridge=config)
        assert one.dest == two.dest, "sockets naming one datagram session share it"
        creates = [c for c in fake.commands if c.startswith("SESSION CREATE")]
        assert len(creates) == 2, creates
        hellos = [c for c in fake.commands if c.startswith("HELLO")]
        assert hellos and all("USER=alice PASSWORD=s3cret" in h for h in hellos), hellos
        one.close()
        assert context.registry.sessions and two._session.is_open
        two.close()
        import time
        time.sleep(0.5)
        assert not two._session.is_open, "the session ends with its last socket"
        try:  # other credentials for a bridge in use: refused in this process
            i2p.socket("x", i2p.SOCK_STREAM, bridge=BridgeConfig(address, user="alice", password="guess"))
        except Exception as e:
            assert "other credentials" in str(e), e
        else:
            raise AssertionError("other credentials accepted")
        other = context.call(lambda: reactor.listenTCP(0, fake, interface="127.0.0.1"))
        try:  # and by the bridge
            i2p.socket("x", i2p.SOCK_STREAM, bridge=BridgeConfig(
                "127.0.0.1:%d" % other.getHost().port, user="alice", password="guess"))
        except OSError as e:  # the shim's NetworkError, as for every refusal
            assert isinstance(e, i2p.NetworkError) and "Authorization failed" in str(e), repr(e)
        else:
            raise AssertionError("wrong password accepted")
        from txi2p.sam import TunnelClient  # the classic blocking tunnels take it too
        tunnel = TunnelClient("blocking-tunnel", 0, "site.i2p", bridge=config)
        assert tunnel.dest and "blocking-tunnel" in fake.sessions
        tunnel.close()
        stream.close()
        print("OK")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith("OK"), done.stdout + done.stderr


def test_the_web_agent_takes_the_same_values_and_checks_them_at_once():
    from txi2p.web import I2PAgentEndpointFactory

    bridge = BridgeConfig("127.0.0.1:7999", user="alice", password="s3cret")
    factory = I2PAgentEndpointFactory(MemoryReactorClock(), bridge_config=bridge)
    from twisted.web.client import URI

    assert factory.endpointForURI(URI.fromBytes(b"http://site.i2p/")).bridge_config is bridge
    with pytest.raises(TypeError):
        I2PAgentEndpointFactory(MemoryReactorClock(), no_such_argument=1)
    with pytest.raises(TypeError):  # the value only, not the settings one by one beside it
        I2PAgentEndpointFactory(MemoryReactorClock(), bridge_config=bridge, sam_address="127.0.0.1:7656")


@pytest_twisted.ensureDeferred
async def test_datagram_sessions_close_quietly_with_the_registry(auth_sam):
    """At reactor shutdown the registry closes every session, datagram ones too: their
    protocols stop, and nothing is logged as lost."""
    from twisted.internet import reactor
    from twisted.logger import LogLevel, globalLogPublisher

    _fake, config = auth_sam
    registry = SessionRegistry(reactor)
    inbox = _Inbox()
    port = await I2PDatagramEndpoint(reactor, bridge_config=config, delivery="control", registry=registry,
                                     session_config=SessionConfig.build(nickname="quiet", style="DATAGRAM")
                                     ).listen(inbox)
    warnings = []

    def observe(event):
        if event.get("log_level") in (LogLevel.warn, LogLevel.error):
            warnings.append(event)

    globalLogPublisher.addObserver(observe)
    try:
        await registry.close_all()
    finally:
        globalLogPublisher.removeObserver(observe)
    assert inbox.stopped and not port.listening
    assert not warnings, [e.get("log_format") for e in warnings]
