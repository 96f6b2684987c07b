"""One service on two routers (txi2p.multihome), on the private network.

The two homes are routers this test launches (joining the network, like
test_launch's): killing them disturbs no session another test uses.  The
clients are on the network's first router; each fetch is a new client (a
session of its own), so no cached lease set of another fetch is reused.
"""

from __future__ import annotations

import os
import signal
import time
from itertools import count

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import deferLater
from twisted.web.client import ResponseNeverReceived, readBody
from twisted.web.resource import Resource
from twisted.web.server import Site

import txi2p
from txi2p import errors
from txi2p.config import SessionConfig
from txi2p.endpoints import I2PServerPort
from txi2p.i2pd import free_sam_port
from txi2p.multihome import MultihomedPort
from txi2p.testing import TEST_SESSION_OPTIONS, enter_private_namespace, join_options
from txi2p.testing.network import find_i2pd

pytestmark = pytest.mark.integration

#: The homes' addresses and router ports: beside the network's and test_launch's.
HOMES = {"home1": ("198.18.0.210", 24210), "home2": ("198.18.0.211", 24211)}

BODY = b"one service, two homes\n"

#: The homes' retry back-off is capped this low here (I2PServerPort.MAX_BACKOFF, 60 s, in use): a
#: restarted home rejoins within seconds, so the tests wait for failover, not for the back-off
#: (test_multihome checks the cap).
TEST_MAX_BACKOFF = 4.0

#: A new client's fetch is given this long (lookup, tunnels, a dead lease set the floodfill still holds).
FAILOVER_BOUND = 420.0


class Counted(Resource):
    isLeaf = True

    def __init__(self):
        super().__init__()
        self.served = 0

    def render_GET(self, request):
        self.served += 1
        return BODY


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(I2PServerPort, "MAX_BACKOFF", TEST_MAX_BACKOFF)


async def launch_home(i2p_network, name, tmp_path, sam_port):
    host, port = HOMES[name]
    enter_private_namespace([host])
    return await txi2p.launch(reactor, data_directory=tmp_path / name, i2pd_binary=find_i2pd(),
                              router_options=join_options(host, port, i2p_network.netid),
                              reseed_file=i2p_network.reseed_zip(tmp_path / f"{name}-seed.zip"),
                              sam_port=sam_port, timeout=180)


async def until(check, what, timeout):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await deferLater(reactor, 0.5, lambda: None)


async def first_good(fetch_once, timeout=FAILOVER_BOUND):
    """The first response of *fetch_once* tries (retried while the service is not reachable), checked."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = await fetch_once()
        except (errors.TxI2PError, defer.TimeoutError, ConnectionError, ResponseNeverReceived):
            if time.monotonic() > deadline:
                raise
            await deferLater(reactor, 2, lambda: None)
        else:
            assert body == BODY  # never a wrong or partial page
            return body


class Clients:
    """New clients on the network's first router, each with a session of its own."""

    def __init__(self, i2p_network, b32):
        self.sam = i2p_network.sam_addresses[0]
        self.url = f"http://{b32}/".encode()
        self.names = (f"mh-client-{n}" for n in count())
        self.used = []

    async def fetch_once(self, timeout=150):
        client = await txi2p.connect(reactor, self.sam)
        name = next(self.names)
        self.used.append(client)
        agent = client.web_agent(session_config=SessionConfig.build(nickname=name, options=TEST_SESSION_OPTIONS))
        response = await agent.request(b"GET", self.url).addTimeout(timeout, reactor)
        return await readBody(response)

    async def fetch(self):
        """A new client's first response (retried while the service is not reachable), checked."""
        return await first_good(self.fetch_once)

    def close(self):
        for client in self.used:
            for session in client.sessions:
                if session.nickname.startswith("mh-client-"):
                    session.close()


class Service:
    """Two launched homes, the multihomed site on them, and its clients."""

    def __init__(self, i2p_network, tmp_path):
        self.network, self.tmp_path = i2p_network, tmp_path
        self.sam_ports = {name: free_sam_port() for name in HOMES}
        self.homes = {}
        self.port = self.clients = None
        self.progress = []

    async def relaunch(self, *names):
        launched = await defer.gatherResults([defer.Deferred.fromCoroutine(
            launch_home(self.network, name, self.tmp_path, self.sam_ports[name])) for name in names])
        self.homes.update(zip(names, launched, strict=True))

    async def start(self):
        await self.relaunch(*HOMES)
        options = ":".join(f"{k}={v}" for k, v in TEST_SESSION_OPTIONS.items())
        bridges = ",".join(rf"127.0.0.1\:{self.sam_ports[name]}" for name in HOMES)
        endpoint = serverFromString(reactor, f"i2p:{self.tmp_path / 'site.key'}:80:samaddr={bridges}:{options}")
        endpoint.progress = self.progress.append
        self.port = await endpoint.listen(Site(Counted()))
        assert isinstance(self.port, MultihomedPort) and self.port.homes_up == 2
        b32 = self.port.getHost().host
        assert [s.address.host for s in self.port.sessions] == [b32, b32]  # one destination on both routers
        self.clients = Clients(self.network, b32)
        assert await self.clients.fetch() == BODY

    async def kill(self, *names, up):
        for name in names:
            os.kill(self.homes[name].router.pid, signal.SIGKILL)
        await until(lambda: self.port.homes_up == up, "the lost home was not seen", 30)
        assert f"{up} of 2 homes up" in self.progress[-1]

    async def stop(self):
        if self.clients is not None:
            self.clients.close()
        if self.port is not None:
            await self.port.stopListening()
        for i2p in self.homes.values():
            await i2p.quit()


@pytest_twisted.ensureDeferred
async def test_a_site_on_two_routers_is_served_while_either_is_killed_and_after(i2p_network, i2p_sessions,
                                                                                tmp_path):
    service = Service(i2p_network, tmp_path)
    try:
        await service.start()
        port, clients = service.port, service.clients
        # home2 dies: home1 keeps serving new clients
        await service.kill("home2", up=1)
        assert await clients.fetch() == BODY
        # home2 comes back and rejoins, without a new listen()
        await service.relaunch("home2")
        await until(lambda: port.homes_up == 2, "the restarted home did not rejoin", 180)
        assert port.recoveries == 1 and "rejoined" in service.progress[-1]
        # home1 dies: the rejoined home2 serves new clients.  (A client that had reached home1 is not
        # checked here: on i2pd 2.45.1 it got no page for minutes, beyond this test's 600 s; see the
        # bench's failover section and docs/multihoming.rst.)
        await service.kill("home1", up=1)
        assert await clients.fetch() == BODY
    finally:
        await service.stop()


@pytest_twisted.ensureDeferred
async def test_both_homes_killed_then_back_without_restarting_the_application(i2p_network, i2p_sessions, tmp_path):
    service = Service(i2p_network, tmp_path)
    try:
        await service.start()
        port, clients = service.port, service.clients
        b32 = port.getHost().host
        # both dead: a new client gets no page but an error (a txi2p error, or, where the router answers
        # the connect before the peer does, no response within the client's timeout); the port still listens
        await service.kill("home1", "home2", up=0)
        assert port.listening and port.getHost().host == b32
        with pytest.raises((errors.TxI2PError, defer.TimeoutError, ResponseNeverReceived)):
            await clients.fetch_once(timeout=60)
        # both back: the service returns without a new listen()
        await service.relaunch(*HOMES)
        await until(lambda: port.homes_up == 2, "the restarted homes did not rejoin", 240)
        assert port.recoveries == 2 and port.getHost().host == b32
        assert await clients.fetch() == BODY
    finally:
        await service.stop()
