"""The dialect is learned from what each router answers, and kept per bridge.

Each test plays one router's answers with txi2p.testing.fake_bridge (the
behaviours CI's real routers never show: i2pd 2.58's PONG-then-close,
Java's PORT on DATAGRAM subsessions), beside the real-router tests.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol

from txi2p import errors
from txi2p.bridge import SAMBridge
from txi2p.protocol import Timeouts
from txi2p.sam import codec
from txi2p.sam.dialect import SAMDialect
from txi2p.testing.fake_bridge import (
    I2PD_2_45,
    I2PD_2_56,
    I2PD_2_58,
    JAVA_2_7,
    FakeSAMBridge,
    RouterProfile,
)


@pytest.fixture
def fake_router():
    ports = []

    def start(profile: RouterProfile, timeouts: Timeouts | None = None
              ) -> tuple[FakeSAMBridge, SAMBridge]:
        fake = FakeSAMBridge(profile)
        port = reactor.listenTCP(0, fake, interface="127.0.0.1")
        ports.append(port)
        return fake, SAMBridge(reactor, f"127.0.0.1:{port.getHost().port}", timeouts=timeouts)

    yield start
    for port in ports:
        port.stopListening()


def test_the_version_says_only_what_the_spec_allows():
    assert SAMDialect.for_version("3.0").ping is False
    assert SAMDialect.for_version("3.3").ping is None  # not known until probed
    assert SAMDialect.for_version("3.3").primary_style == "PRIMARY"
    assert not SAMDialect.for_version("3.3").concurrent_accepts
    assert SAMDialect.for_version("3.3").listens_with_forward(True)
    assert not SAMDialect.for_version("3.3").listens_with_forward(False)
    assert SAMDialect.for_version("3.3").accepts_pending(5) == 1


def test_learned_values_survive_the_same_version_and_reset_on_another():
    learned = SAMDialect.for_version("3.3").learned_primary_refused()
    assert learned.negotiated("3.3").primary_style == "MASTER"
    assert learned.negotiated("3.1").primary_style == "MASTER"  # 3.1 never says PRIMARY
    assert learned.negotiated("3.1").ping is False


def test_a_dialect_tells_what_was_learned_from_what_is_only_assumed():
    spec = SAMDialect.for_version("3.3")
    assert spec.known() == {"version": "3.3"}  # HELLO answered it; the rest is the spec's default
    assert spec.assumed()["primary_style"] == "PRIMARY" and "version" not in spec.assumed()
    learned = spec.learned_ping(False).learned_primary_refused()
    assert learned.known() == {"version": "3.3", "primary_style": "MASTER", "ping": False}
    assert "primary_style" not in learned.assumed() and "ports" in learned.assumed()
    assert "learned_fields" not in learned.assumed() and "learned_fields" not in repr(learned)
    assert set(learned.known()) | set(learned.assumed()) == set(vars(learned)) - {"learned_fields"}
    # Learning a value equal to the default still counts as learned, and
    # what was learned is kept by the same version, dropped by another.
    assert spec.learned(ports=True).known() == {"version": "3.3", "ports": True}
    assert learned.negotiated("3.3").known() == learned.known()
    assert learned.negotiated("3.1").known() == {"version": "3.1"}
    assert SAMDialect().known() == {}  # no HELLO answered yet


@pytest_twisted.ensureDeferred
async def test_primary_refused_is_created_as_master_once_and_remembered(fake_router):
    fake, bridge = fake_router(I2PD_2_58)
    session = await bridge.create_session("PRIMARY", "p1")
    creates = [c for c in fake.commands if c.startswith("SESSION CREATE")]
    assert [c.split()[2] for c in creates] == ["STYLE=PRIMARY", "STYLE=MASTER"]
    assert bridge.dialect is not None and bridge.dialect.primary_style == "MASTER"
    # A new connection (new HELLO, same version) keeps what was learned:
    # the next PRIMARY session goes straight to MASTER.
    second = await bridge.create_session("PRIMARY", "p2")
    creates = [c for c in fake.commands if c.startswith("SESSION CREATE")]
    assert [c.split()[2] for c in creates][2:] == ["STYLE=MASTER"]
    assert session.style == second.style == "PRIMARY"
    session.close()
    second.close()


@pytest_twisted.ensureDeferred
async def test_a_router_that_refuses_both_spellings_fails_without_recursion(fake_router):
    profile = RouterProfile("no subsessions", frozenset({"3.3"}), frozenset(), "close")
    fake, bridge = fake_router(profile)
    with pytest.raises(errors.I2PError, match="Unknown STYLE"):
        await bridge.create_session("PRIMARY", "p")
    assert len([c for c in fake.commands if c.startswith("SESSION CREATE")]) == 2


@pytest_twisted.ensureDeferred
async def test_ping_probed_once_never_sent_on_a_session_where_it_closes(fake_router):
    fake, bridge = fake_router(I2PD_2_58)
    assert await bridge.ping_allowed() is False
    assert bridge.dialect is not None and bridge.dialect.ping is False
    pings = [c for c in fake.commands if c.startswith("PING")]
    # (the second PING may not reach the socket the router closed)
    assert pings[0] == "PING txi2p-probe-1" and len(pings) <= 2
    assert await bridge.ping_allowed() is False
    assert len([c for c in fake.commands if c.startswith("PING")]) == len(pings)  # not again
    control = await bridge.control()
    with pytest.raises(errors.SAMError, match="closes the connection on PING"):
        control.ping()
    control.close()


@pytest_twisted.ensureDeferred
async def test_ping_allowed_where_the_socket_survives(fake_router):
    _fake, bridge = fake_router(JAVA_2_7)
    assert await bridge.ping_allowed() is True


@pytest_twisted.ensureDeferred
async def test_ping_never_probed_below_32(fake_router):
    fake, bridge = fake_router(I2PD_2_45)
    assert await bridge.ping_allowed() is False
    assert not [c for c in fake.commands if c.startswith("PING")]


@pytest_twisted.ensureDeferred
async def test_datagram_subsession_sends_port_and_host(fake_router):
    fake, bridge = fake_router(JAVA_2_7)
    primary = await bridge.create_session("PRIMARY", "p")
    sub = await primary.add_subsession("DATAGRAM", "d", from_port=5, udp=("127.0.0.1", 4000))
    add = [c for c in fake.commands if c.startswith("SESSION ADD")][-1]
    assert "HOST=127.0.0.1" in add and "PORT=4000" in add
    assert sub.style == "DATAGRAM"
    with pytest.raises(ValueError, match="udp="):
        await primary.add_subsession("RAW", "r", from_port=6)
    primary.close()


@pytest_twisted.ensureDeferred
async def test_subsession_refusal_is_learned_and_then_refused_locally(fake_router):
    fake, bridge = fake_router(I2PD_2_58)
    primary = await bridge.create_session("PRIMARY", "p")
    with pytest.raises(errors.UnsupportedByRouter, match="refused DATAGRAM subsessions"):
        await primary.add_subsession("DATAGRAM", "d", udp=("127.0.0.1", 4000))
    sent = len(fake.commands)
    other = await bridge.create_session("PRIMARY", "q")
    with pytest.raises(errors.UnsupportedByRouter, match="takes only RAW, STREAM subsessions"):
        await other.add_subsession("DATAGRAM", "d2", udp=("127.0.0.1", 4000))
    assert not [c for c in fake.commands[sent:] if c.startswith("SESSION ADD")]
    other.close()


@pytest.mark.parametrize("profile", [I2PD_2_45, JAVA_2_7], ids=lambda p: p.name)
@pytest_twisted.ensureDeferred
async def test_unknown_name_is_name_not_found_on_every_router(fake_router, profile):
    _fake, bridge = fake_router(profile)
    name = "a" * 52 + ".b32.i2p"
    with pytest.raises(errors.NameNotFound, match="wait a few seconds and retry") as info:
        await bridge.lookup(name)
    assert info.value.result == profile.not_found
    assert isinstance(info.value, errors.KeyNotFound) and isinstance(info.value, errors.InvalidKey)
    assert name in str(info.value)


@pytest_twisted.ensureDeferred
async def test_me_needs_a_session(fake_router):
    fake, bridge = fake_router(JAVA_2_7)
    with pytest.raises(ValueError, match="look it up on the session"):
        await bridge.lookup("ME")
    assert not fake.commands


@pytest_twisted.ensureDeferred
async def test_unanswered_command_times_out_and_ends_the_session(fake_router):
    """i2pd 2.45 never answers SESSION ADD without FROM_PORT: the timeout must fire."""
    _fake, bridge = fake_router(I2PD_2_45)
    primary = await bridge.create_session("PRIMARY", "p")
    no_port = codec.Command("SESSION", "ADD", (("STYLE", "STREAM"), ("ID", "no-port")))
    with pytest.raises(errors.CommandTimeout, match="SESSION ADD"):
        await primary.control.command(no_port, timeout=0.2)
    # The connection's state is unknown after a timeout: the session ends.
    await primary.closed
    assert not primary.is_open
    with pytest.raises(errors.SessionClosed):
        await primary.lookup("ME")


@pytest_twisted.ensureDeferred
async def test_datagram_session_without_port_learned_from_silence(fake_router):
    """i2pd 2.56 never answers a DATAGRAM session without PORT: retried once with PORT=0."""
    fake, bridge = fake_router(I2PD_2_56, Timeouts(session_create=0.3))
    steps = []
    session = await bridge.create_session("DATAGRAM", "d1", progress=steps.append)
    creates = [c for c in fake.commands if c.startswith("SESSION CREATE")]
    assert len(creates) == 2 and "PORT=" not in creates[0] and "PORT=0" in creates[1]
    assert "ID=d1 " in creates[0] and "ID=d1-p0 " in creates[1] and session.nickname == "d1-p0"
    assert any("without PORT" in step for step in steps)
    assert bridge.dialect is not None and bridge.dialect.unforwarded_port == "0"
    await bridge.create_session("RAW", "r1")  # learned: no second timeout
    assert "PORT=0" in [c for c in fake.commands if c.startswith("SESSION CREATE")][-1]
    session.close()



@pytest_twisted.ensureDeferred
async def test_streams_on_a_primary_refused_once_then_locally(fake_router):
    """Java takes streams only on a PRIMARY's subsessions: said clearly, remembered."""
    fake, bridge = fake_router(JAVA_2_7)
    primary = await bridge.create_session("PRIMARY", "p")
    with pytest.raises(errors.UnsupportedByRouter, match="subsessions: add_subsession"):
        await primary.forward(Factory.forProtocol(Protocol))
    assert bridge.dialect is not None and not bridge.dialect.streams_on_primary
    sent = len(fake.commands)
    with pytest.raises(errors.UnsupportedByRouter):
        await primary.accept(Factory.forProtocol(Protocol))
    assert fake.commands[sent:] == []
    primary.close()


@pytest_twisted.ensureDeferred
async def test_concurrent_askers_share_one_ping_probe(fake_router):
    from twisted.internet import defer

    fake, bridge = fake_router(JAVA_2_7)
    answers = await defer.gatherResults([defer.Deferred.fromCoroutine(bridge.ping_allowed())
                                         for _ in range(3)])
    assert answers == [True, True, True]
    assert [c for c in fake.commands if c.startswith("PING")] == [
        "PING txi2p-probe-1", "PING txi2p-probe-2"]


def test_post_quantum_lease_set_types_only_from_sam_3_3():
    """i2pd before 2.58 (SAM 3.0/3.1) exits on a lease-set type it does not
    know; from 3.3 (i2pd 2.58 skips them, Java has them) they may be sent."""
    assert not SAMDialect.for_version("3.0").post_quantum_enc_types
    assert not SAMDialect.for_version("3.1").post_quantum_enc_types
    assert not SAMDialect.for_version("3.2").post_quantum_enc_types
    assert SAMDialect.for_version("3.3").post_quantum_enc_types


@pytest.mark.parametrize(("profile", "sent"), [("i2pd 2.45.1", False), ("i2pd 2.56.0", False),
                                               ("i2pd 2.58.0", True), ("Java I2P 2.7.0", "refused")])
@pytest_twisted.ensureDeferred
async def test_post_quantum_enc_types_never_reach_an_older_router(fake_sam, profile, sent):
    from twisted.internet import reactor

    from txi2p.bridge import SAMBridge
    from txi2p.errors import UnsupportedByRouter
    from txi2p.testing.fake_bridge import PROFILES

    fake, address = fake_sam(PROFILES[profile])
    bridge = SAMBridge(reactor, address)
    options = {"i2cp.leaseSetEncType": "6,4"}
    if sent == "refused":
        # the router says no: a clear error, learned, not asked again
        with pytest.raises(UnsupportedByRouter, match=r"refused i2cp.leaseSetEncType=6,4.*Unsupported crypto"):
            await bridge.create_session("STREAM", "pq", options=options)
        assert bridge.dialect.post_quantum_enc_types is False
        fake.commands.clear()
        with pytest.raises(UnsupportedByRouter, match=r"it refused them before.*use 4,0"):
            await bridge.create_session("STREAM", "pq2", options=options)
        assert not [c for c in fake.commands if c.startswith("SESSION CREATE")]
    elif sent:
        session = await bridge.create_session("STREAM", "pq", options=options)
        assert "i2cp.leaseSetEncType=6,4" in next(c for c in fake.commands if c.startswith("SESSION CREATE"))
        session.close()
    else:
        with pytest.raises(UnsupportedByRouter, match=r"post-quantum types \(6\).*use 4,0"):
            await bridge.create_session("STREAM", "pq", options=options)
        assert not [c for c in fake.commands if c.startswith("SESSION CREATE")]
    # plain X25519 goes everywhere
    session = await bridge.create_session("STREAM", "x", options={"i2cp.leaseSetEncType": "4,0"})
    session.close()


@pytest.mark.parametrize("value", ["6;4", "9", "4,", "x25519", "-1"])
def test_lease_set_enc_types_are_checked(value):
    from txi2p.config import enc_types, session_options

    with pytest.raises(ValueError, match="comma-separated list of encryption types"):
        session_options({"i2cp.leaseSetEncType": value})
    assert enc_types(session_options({"i2cp.leaseSetEncType": "6,4"})) == [6, 4]
