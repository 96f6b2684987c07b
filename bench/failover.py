"""The bench's failover section: one site on two launched routers (txi2p.multihome), one killed.

Each repetition: one site on two homes (routers launched beside the
network, joining it); home 2 is not up yet, so that two client endpoints
on the network's first router (one with txi2p.failover's recovery, one
with ``recover=False``) reach home 1 and cache its lease set; home 2 is
launched and joins; then home 1 is killed (SIGKILL) and, at once and side
by side, three clients fetch until their first good response:

* a new client (a session of its own per try),
* the client that had reached home 1, with the recovery,
* the same without the recovery (bounded: quick mode 60 s, else 720 s).

The seconds from the kill to each first response are the figures.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

from report import summary
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import deferLater
from twisted.web.client import Agent, ResponseNeverReceived, readBody
from twisted.web.resource import Resource
from twisted.web.server import Site

import txi2p
from txi2p import errors
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.endpoints import I2PClientEndpoint
from txi2p.i2pd import free_sam_port
from txi2p.testing import TEST_SESSION_OPTIONS, enter_private_namespace, join_options

#: The homes' addresses and router ports (beside the network's and the launch section's).
HOMES = {"home1": ("198.18.0.231", 24231), "home2": ("198.18.0.232", 24232)}
BODY = b"failover bench\n"
RETRYABLE = (errors.TxI2PError, defer.TimeoutError, ConnectionError, ResponseNeverReceived)


class _Page(Resource):
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        return BODY


class _OneEndpoint:
    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint

    def endpointForURI(self, uri: Any) -> Any:
        return self.endpoint


async def _until(reactor: Any, check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await deferLater(reactor, 0.5, lambda: None)
    return True


async def _first_response(reactor: Any, fetch: Callable[[], Any], bound: float) -> float | None:
    """Seconds until *fetch* gives the page (None: not within *bound*)."""
    started = time.monotonic()
    while time.monotonic() - started < bound:
        try:
            if await fetch() == BODY:
                return time.monotonic() - started
        except RETRYABLE:
            pass
        await deferLater(reactor, 1, lambda: None)
    return None


class FailoverRun:
    def __init__(self, reactor: Any, network: Any, i2pd: str, say: Callable[[str], None]) -> None:
        self.reactor, self.network, self.i2pd, self.say = reactor, network, i2pd, say
        self.workdir = Path(tempfile.mkdtemp(prefix="txi2p-bench-failover-"))
        self.sam_ports = {name: free_sam_port() for name in HOMES}
        self.homes: dict[str, Any] = {}
        self.names = (f"bench-fo-{n}" for n in count())
        self.clients: list[Any] = []

    async def launch(self, *names: str) -> None:
        async def one(name: str) -> Any:
            host, port = HOMES[name]
            enter_private_namespace([host])
            return await txi2p.launch(self.reactor, data_directory=self.workdir / name, i2pd_binary=self.i2pd,
                                      router_options=join_options(host, port, self.network.netid),
                                      reseed_file=self.network.reseed_zip(self.workdir / f"{name}-seed.zip"),
                                      sam_port=self.sam_ports[name], timeout=300)
        launched = await defer.gatherResults([defer.Deferred.fromCoroutine(one(n)) for n in names])
        self.homes.update(zip(names, launched, strict=True))

    def kill(self, name: str) -> None:
        os.kill(self.homes[name].router.pid, signal.SIGKILL)

    async def new_client_fetch(self, url: bytes) -> bytes:
        client = await txi2p.connect(self.reactor, self.network.sam_addresses[0])
        self.clients.append(client)
        agent = client.web_agent(session_config=SessionConfig.build(nickname=next(self.names),
                                                                     options=TEST_SESSION_OPTIONS))
        return await readBody(await agent.request(b"GET", url).addTimeout(150, self.reactor))

    def cached_client(self, b32: str, recover: bool) -> Callable[[], Any]:
        endpoint = I2PClientEndpoint(self.reactor, b32, 80, recover=recover,
                                     bridge_config=BridgeConfig(self.network.sam_addresses[0]),
                                     session_config=SessionConfig.build(nickname=next(self.names),
                                                                        options=TEST_SESSION_OPTIONS))
        agent = Agent.usingEndpointFactory(self.reactor, _OneEndpoint(endpoint))
        url = f"http://{b32}/".encode()

        async def fetch() -> bytes:
            return await readBody(await agent.request(b"GET", url).addTimeout(90, self.reactor))
        return fetch

    async def once(self, bound: float) -> dict[str, float | None]:
        reactor = self.reactor
        # Home 2 starts later: a lease set it published before dying could
        # stay the floodfills' newest for minutes (i2pd 2.56.0: the clients
        # below then found no live home within 420 s), so only home 1 ever
        # published before the clients first reach it.
        await self.launch("home1")
        bridges = ",".join(rf"127.0.0.1\:{self.sam_ports[n]}" for n in HOMES)
        options = ":".join(f"{k}={v}" for k, v in TEST_SESSION_OPTIONS.items())
        endpoint = serverFromString(reactor, f"i2p:{self.workdir / 'site.key'}:80:samaddr={bridges}:{options}")
        port = await endpoint.listen(Site(_Page()))
        try:
            b32 = port.getHost().host
            url = f"http://{b32}/".encode()
            cached = {True: self.cached_client(b32, True), False: self.cached_client(b32, False)}
            for fetch in cached.values():
                if await _first_response(reactor, fetch, 420) is None:
                    raise RuntimeError("a client did not reach the first home")
            await self.launch("home2")
            if not await _until(reactor, lambda: port.homes_up == 2, 240):
                raise RuntimeError("the restarted home did not rejoin")
            await deferLater(reactor, 5, lambda: None)  # its lease set published
            self.kill("home1")
            self.say("  home 1 killed: three clients fetch side by side")
            new, recovered, plain = await defer.gatherResults([defer.Deferred.fromCoroutine(c) for c in (
                _first_response(reactor, lambda: self.new_client_fetch(url), bound),
                _first_response(reactor, cached[True], bound),
                _first_response(reactor, cached[False], bound))])
            return {"new_client": new, "had_reached_dead_home_with_recovery": recovered,
                    "had_reached_dead_home_without_recovery": plain}
        finally:
            await port.stopListening()
            for client in self.clients:
                for session in client.sessions:
                    if session.nickname.startswith("bench-fo-"):
                        session.close()
            for i2p in self.homes.values():
                await i2p.quit()
            self.homes.clear()


async def measure(reactor: Any, network: Any, i2pd: str, reps: int, quick: bool,
                  say: Callable[[str], None], failed: Callable[[str], None]) -> dict[str, Any]:
    """The failover figures: seconds from a home's death to each kind of client's first response."""
    bound = 60.0 if quick else 720.0
    say(f"failover: one site on two launched routers, home 1 killed; seconds to the first response "
        f"(bounded at {bound:g} s), {reps} repetition(s)")
    times: dict[str, list[float]] = {}
    missed: dict[str, int] = {}
    for rep in range(reps):
        try:
            figures = await FailoverRun(reactor, network, i2pd, say).once(bound)
        except Exception as e:
            failed(f"failover (repetition {rep + 1}): {e!r}")
            continue
        for kind, seconds in figures.items():
            times.setdefault(kind, [])
            if seconds is None:
                missed[kind] = missed.get(kind, 0) + 1
                say(f"  {kind.replace('_', ' ')}: no response within {bound:g} s")
            else:
                times[kind].append(seconds)
                say(f"  {kind.replace('_', ' ')}: {seconds:.1f} s")
    return {"seconds_to_first_response": {k: summary(v) for k, v in times.items()},
            "not_within_bound": missed, "bound_s": bound}
