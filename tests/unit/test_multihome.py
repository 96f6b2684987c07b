"""One service on several routers (txi2p.multihome): refusals, one address, a home lost and back."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure

from txi2p.address import I2PAddress
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.endpoints import I2PServerEndpoint
from txi2p.errors import SAMConnectionFailed
from txi2p.multihome import MultihomedPort, MultihomedServerEndpoint, NoHomeUp
from txi2p.testing.fakes import fake_private_key

KEY = fake_private_key()


def _home(reactor, address, keyfile="site.key", port=80, **settings):
    return I2PServerEndpoint(reactor, port, bridge_config=BridgeConfig(address),
                             session_config=SessionConfig.build(keyfile=keyfile, **settings))


class _Inner:
    """An I2PListeningPort stand-in whose session ends when the test says."""

    def __init__(self):
        self.session = SimpleNamespace(closed=defer.Deferred(), closed_on_purpose=False,
                                       close_reason=Failure(ConnectionError("router gone")))
        self.stopped = False

    def getHost(self):
        return I2PAddress(KEY.destination, port=80)

    def stopListening(self):
        self.stopped = True

    def lose(self, on_purpose=False):
        self.session.closed_on_purpose = on_purpose
        self.session.closed.callback(None)


class _Router:
    """Plays one home's router: up (listens) or down (listen fails), counting the tries."""

    def __init__(self, endpoint, up=True):
        self.up = up
        self.tries = 0
        self.inners = []
        endpoint._listen_once = self.listen_once

    async def listen_once(self, factory):
        self.tries += 1
        if not self.up:
            raise SAMConnectionFailed("nothing listens there")
        inner = _Inner()
        self.inners.append(inner)
        return inner


@pytest.fixture
def logged():
    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def _service(tmp_path, ups=(True, True), keyfile_exists=True):
    clock = Clock()
    keyfile = tmp_path / "site.key"
    if keyfile_exists:
        keyfile.write_text("key")
    homes = [_home(clock, f"127.0.0.1:{7656 + n}", str(keyfile)) for n in range(len(ups))]
    routers = [_Router(home, up) for home, up in zip(homes, ups, strict=True)]
    progress = []
    return clock, MultihomedServerEndpoint(clock, homes, progress=progress.append), routers, progress


# --- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("homes", "match"), [
    (lambda r: [_home(r, "127.0.0.1:7656")], "two homes or more"),
    (lambda r: [], "two homes or more"),
    (lambda r: [_home(r, "127.0.0.1:7656"), _home(r, "localhost:7656")], "both on the SAM bridge at 127.0.0.1:7656"),
    (lambda r: [_home(r, "127.0.0.1:7656", None), _home(r, "127.0.0.1:7657", None)], "needs a key file"),
    (lambda r: [_home(r, "127.0.0.1:7656"), _home(r, "127.0.0.1:7657", "other.key")], "one key file"),
    (lambda r: [_home(r, "127.0.0.1:7656"), _home(r, "127.0.0.1:7657", signature_type=3)], "signature_type"),
    (lambda r: [_home(r, "127.0.0.1:7656"), _home(r, "127.0.0.1:7657", in_depth=1)], "options"),
    (lambda r: [_home(r, "127.0.0.1:7656"), _home(r, "127.0.0.1:7657", port=81)], "I2P port 81"),
    (lambda r: [_home(r, "127.0.0.1:7656"), I2PServerEndpoint(
        r, 80, bridge_config=BridgeConfig(launch=True), session_config=SessionConfig.build(keyfile="site.key"))],
     "launch="),
])
def test_homes_that_cannot_be_one_service_are_refused(homes, match):
    clock = Clock()
    with pytest.raises(ValueError, match=match):
        MultihomedServerEndpoint(clock, homes(clock))


@pytest.mark.parametrize(("string", "match"), [
    (r"i2p:site.key:80:samaddr=127.0.0.1\:7656,127.0.0.1\:7656", "both on the SAM bridge"),
    (r"i2p:site.key:80:samaddr=127.0.0.1\:7656,", "comma-separated list"),
    (r"i2p:site.key:80:samaddr=127.0.0.1\:7656,127.0.0.1\:7657:launch=true", "launch="),
    (r"i2p:site.key:80:samaddr=127.0.0.1\:7656,10.0.0.1\:7656", "not on this machine"),
    (r"i2p:80:samaddr=127.0.0.1\:7656,127.0.0.1\:7657:session=s", "needs a key file"),
    (r"i2p:site.key:80:samaddr=127.0.0.1\:7656,127.0.0.1\:7657:bogus=1", "unknown keyword 'bogus'"),
])
def test_multihomed_strings_are_refused_clearly(string, match):
    with pytest.raises(ValueError, match=match):
        serverFromString(Clock(), string.replace("i2p:80:", "i2p:keyfile=:port=80:"))


def test_a_string_with_several_bridges_is_one_home_per_bridge():
    endpoint = serverFromString(
        Clock(), r"i2p:site.key:80:samaddr=127.0.0.1\:7656,127.0.0.1\:7657,127.0.0.1\:7658:inbound.length=1")
    assert isinstance(endpoint, MultihomedServerEndpoint)
    assert [home.bridge_config.sam_address for home in endpoint.homes] == [
        "127.0.0.1:7656", "127.0.0.1:7657", "127.0.0.1:7658"]
    assert {home.session_config.keyfile for home in endpoint.homes} == {"site.key"}
    assert all(home.port == 80 and home.session_config.option_map["inbound.length"] == "1"
               for home in endpoint.homes)
    # one bridge: the endpoint of today
    assert isinstance(serverFromString(Clock(), r"i2p:site.key:80:samaddr=127.0.0.1\:7656"), I2PServerEndpoint)


# --- one port, one address; homes lost and back ------------------------------------------------

def test_one_port_one_address_every_home_listening(tmp_path):
    _clock, endpoint, routers, progress = _service(tmp_path)
    port = endpoint.listen(Factory()).result
    assert isinstance(port, MultihomedPort)
    assert port.getHost() == I2PAddress(KEY.destination, port=80)
    assert port.homes_up == 2 and [r.tries for r in routers] == [1, 1]
    assert progress[-1].endswith("2 of 2 homes up")
    port.stopListening()
    assert all(inner.stopped for r in routers for inner in r.inners)


def test_a_lost_home_is_retried_with_back_off_while_the_other_serves(tmp_path, logged):
    clock, endpoint, routers, progress = _service(tmp_path)
    port = endpoint.listen(Factory()).result
    routers[0].up = False
    routers[0].inners[0].lose()
    assert port.homes_up == 1 and port.getHost() == I2PAddress(KEY.destination, port=80)
    assert routers[1].inners[0].stopped is False
    assert any("home 1 (127.0.0.1:7656) lost (router gone)" in e.get("line", "") and "1 of 2 homes up" in e["line"]
               and e["log_level"] == LogLevel.warn for e in logged)
    clock.advance(1)  # first retry after 1 s: still down
    assert routers[0].tries == 2 and port.homes_up == 1
    clock.advance(1.9)
    assert routers[0].tries == 2  # then 2 s
    clock.advance(0.1)
    assert routers[0].tries == 3
    routers[0].up = True
    clock.advance(4)
    assert routers[0].tries == 4 and port.homes_up == 2 and port.recoveries == 1
    assert "rejoined" in progress[-1] and progress[-1].endswith("2 of 2 homes up")
    # the back-off starts again from 1 s after a rejoin
    routers[0].inners[-1].lose()
    clock.advance(1)
    assert routers[0].tries == 5 and port.homes_up == 2
    port.stopListening()
    assert clock.getDelayedCalls() == []


def test_a_home_that_stays_down_is_tried_at_most_a_minute_apart(tmp_path):
    """The listening ports' back-off: 1 s doubling, capped at I2PServerPort.MAX_BACKOFF (60 s)."""
    clock, endpoint, routers, _ = _service(tmp_path)
    port = endpoint.listen(Factory()).result
    routers[0].up = False
    routers[0].inners[0].lose()
    delays = []
    for _ in range(9):
        (retry,) = clock.getDelayedCalls()
        delays.append(retry.getTime() - clock.seconds())
        clock.advance(delays[-1])
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60] and routers[0].tries == 10
    port.stopListening()


def test_both_homes_lost_both_retried_and_back_without_a_new_listen(tmp_path):
    clock, endpoint, routers, _ = _service(tmp_path)
    port = endpoint.listen(Factory()).result
    for router in routers:
        router.up = False
        router.inners[0].lose()
    assert port.homes_up == 0 and port.listening and port.getHost() is not None
    clock.advance(1)
    for router in routers:
        router.up = True
    clock.advance(2)
    assert port.homes_up == 2 and port.recoveries == 2
    port.stopListening()


def test_a_home_down_at_start_joins_when_it_comes(tmp_path):
    clock, endpoint, routers, progress = _service(tmp_path, ups=(False, True))
    port = endpoint.listen(Factory()).result
    assert port.homes_up == 1
    routers[0].up = True
    clock.advance(1)
    assert port.homes_up == 2 and "listening at last" in progress[-1]


def test_no_home_up_at_start_is_an_error_naming_each(tmp_path):
    clock, endpoint, _routers, _ = _service(tmp_path, ups=(False, False))
    failures = []
    endpoint.listen(Factory()).addErrback(failures.append)
    assert failures and failures[0].check(NoHomeUp)
    assert "home 1 (127.0.0.1:7656): nothing listens there" in str(failures[0].value)
    assert "home 2 (127.0.0.1:7657)" in str(failures[0].value)
    assert clock.getDelayedCalls() == []


def test_a_session_closed_on_purpose_is_not_retried(tmp_path):
    clock, endpoint, routers, _ = _service(tmp_path)
    port = endpoint.listen(Factory()).result
    routers[0].inners[0].lose(on_purpose=True)
    assert port.homes_up == 1 and clock.getDelayedCalls() == []


def test_a_new_key_file_is_written_by_the_first_home_before_the_others_start(tmp_path):
    _clock, endpoint, routers, _ = _service(tmp_path, ups=(False, True, True), keyfile_exists=False)
    order = []
    for number, router in enumerate(routers, 1):
        listen = router.listen_once

        async def write_then_listen(factory, listen=listen, number=number):
            order.append((number, (tmp_path / "site.key").exists()))
            inner = await listen(factory)
            (tmp_path / "site.key").write_text("key")
            return inner
        endpoint.homes[number - 1]._listen_once = write_then_listen
    port = endpoint.listen(Factory()).result
    # home 1 failed, home 2 wrote the key, home 3 started after it
    assert order == [(1, False), (2, False), (3, True)]
    assert port.homes_up == 2
    port.stopListening()


def test_the_python_form_wraps_each_i2p_objects_server_endpoint(tmp_path):
    from txi2p.i2p import I2P
    from txi2p.multihome import multihomed_server_endpoint
    from txi2p.registry import SessionRegistry

    clock = Clock()
    registry = SessionRegistry(clock)
    i2ps = [I2P(clock, registry.bridge(f"127.0.0.1:{7656 + n}"), registry=registry) for n in range(2)]
    endpoint = multihomed_server_endpoint(i2ps, 80, key_file=str(tmp_path / "site.key"), private=True)
    assert [home.bridge_config.sam_address for home in endpoint.homes] == ["127.0.0.1:7656", "127.0.0.1:7657"]
    assert all(home.session_config.option_map["i2cp.leaseSetType"] == "5" for home in endpoint.homes)
    with pytest.raises(ValueError, match="two homes or more"):
        multihomed_server_endpoint(i2ps[:1], 80, key_file="site.key")
