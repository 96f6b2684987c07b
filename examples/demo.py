"""txi2p demo: a private I2P network of real i2pd routers, and what runs on it.

Run with ``bash scripts/demo.sh`` (sets up i2pd and a virtualenv first).
Needs root or unprivileged user namespaces: the routers live in a private
network namespace.  Each step says what it waits for and how long it took.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.internet import defer, task, threads
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.web.client import Agent, readBody
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import Data

import txi2p
from txi2p import command, private
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.datagram import I2PDatagramEndpoint
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.errors import ClientKeyRequired
from txi2p.failover import FallbackClientEndpoint
from txi2p.multihome import multihomed_server_endpoint
from txi2p.registry import SessionRegistry
from txi2p.testing import (
    TEST_SESSION_OPTIONS,
    TEST_SOCKET_OPTIONS,
    PrivateI2PNetwork,
    enter_private_namespace,
    join_options,
    retry_unreachable,
    wait_until_reachable,
    wait_until_ready,
)
from txi2p.testing.network import RouterBuild
from txi2p.testing.ready import NetworkNotReady
from txi2p.tunnel import TunnelClient, TunnelServer
from txi2p.web import agent

T = TypeVar("T")


class Demo:
    """Prints each step with the time it took."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {text}", flush=True)

    async def step(self, title: str, run: Callable[[], Awaitable[T]]) -> T:
        self.say(f"== {title}")
        began = time.monotonic()
        result = await run()
        self.say(f"   done in {time.monotonic() - began:.1f}s")
        return result


class Greeter(Protocol):
    """Bob's side: answers each line with a greeting."""

    def dataReceived(self, data: bytes) -> None:
        assert self.transport is not None
        name = data.decode().strip()
        self.transport.write(f"Hello {name}, this is Bob on the other router.\n".encode())


class Asker(Protocol):
    """Alice's side: sends her name, waits for the reply line."""

    def __init__(self) -> None:
        self.reply: defer.Deferred[str] = defer.Deferred()
        self.buffer = b""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"Alice\n")

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if b"\n" in self.buffer and not self.reply.called:
            self.reply.callback(self.buffer.decode().strip())


async def stream_demo(demo: Demo, reactor: Any, sessions: list[Any]) -> None:
    alice, bob = sessions[0], sessions[1]
    demo.say(f"   Alice's destination (first SAM router) : {alice.b32}")
    demo.say(f"   Bob's destination   (second SAM router): {bob.b32}")

    async def talk() -> str:
        accepted = bob.accept(Factory.forProtocol(Greeter))
        demo.say("   waiting for the stream to open (lease set lookup, then STREAM CONNECT)")
        client = await alice.connect(bob.b32, Factory.forProtocol(Asker))
        await accepted
        demo.say("   stream open; waiting for Bob's reply over I2P")
        reply = await client.reply.addTimeout(60, reactor)
        client.transport.loseConnection()
        return str(reply)

    reply = await demo.step("Alice opens an I2P stream to Bob and says her name", talk)
    demo.say(f"   Bob replied: {reply!r}")


async def endpoint_demo(demo: Demo, reactor: Any, network: PrivateI2PNetwork, sessions: list[Any]) -> None:
    alice, bob = sessions[0], sessions[1]
    alice_sam, bob_sam = network.sam_addresses[:2]
    registry = SessionRegistry.for_reactor(reactor)
    for session in sessions:
        registry.adopt(session)  # endpoints naming these sessions reuse them
    opts = ":".join(f"{k}={v}" for k, v in TEST_SESSION_OPTIONS.items())
    listen = f"i2p:session={bob.nickname}:port=80:samaddr={bob_sam.replace(':', chr(92) + ':')}:{opts}"

    async def serve() -> Any:
        demo.say(f"   serverFromString(reactor, {listen[:60]!r}...)")
        root = Resource()
        root.putChild(b"", Data(b"<h1>Hello from a Twisted web site on I2P</h1>", "text/html"))
        site = Site(root)
        return await serverFromString(reactor, listen).listen(site)

    port = await demo.step("Bob serves a web site from an i2p: server endpoint string", serve)
    demo.say(f"   listening on {port.getHost().host} port {port.getHost().port}")

    async def fetch() -> bytes:
        web = agent(reactor, bridge_config=BridgeConfig(alice_sam), session_config=SessionConfig.build(
            nickname=alice.nickname, options=TEST_SESSION_OPTIONS))
        demo.say("   waiting for the HTTP response over I2P")
        response = await web.request(b"GET", f"http://{bob.b32}/".encode())
        return bytes(await readBody(response))

    body = await demo.step("Alice fetches it with txi2p.web.agent (an Agent over SAM, no proxy)", fetch)
    demo.say(f"   got: {body.decode()!r}")

    def stdlib_fetch() -> tuple[int, bytes]:
        import http.client

        from txi2p import socket

        def over_i2p(address: Any, timeout: Any, source_address: Any = None) -> Any:
            return socket.create_connection(address, timeout, session=alice.nickname, samaddr=alice_sam,
                                            **dict(TEST_SOCKET_OPTIONS))

        conn = http.client.HTTPConnection(bob.b32, 80, timeout=60)
        conn._create_connection = over_i2p  # type: ignore[attr-defined]
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    async def fetch_blocking() -> tuple[int, bytes]:
        demo.say("   (http.client in a worker thread, its socket from txi2p.socket.create_connection)")
        return await threads.deferToThread(stdlib_fetch)

    status, body = await demo.step("Blocking code fetches it too, with the standard library's http.client",
                                   fetch_blocking)
    demo.say(f"   HTTP {status}, {len(body)} bytes")
    await port.stopListening()


class Ponger(DatagramProtocol):
    """Answers each "ping N" datagram to whoever sent it."""

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.transport.write(b"pong" + datagram[4:], addr)


class Pinger(DatagramProtocol):
    def __init__(self) -> None:
        self.pongs: list[tuple[bytes, Any]] = []

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.pongs.append((datagram, addr))


async def datagram_demo(demo: Demo, reactor: Any, network: PrivateI2PNetwork) -> None:
    alice_sam, bob_sam = network.sam_addresses[:2]
    pinger, ponger = Pinger(), Ponger()

    async def start() -> list[Any]:
        demo.say("   waiting for two DATAGRAM sessions (SESSION CREATE takes ~20 s on i2pd)")
        ports = await defer.gatherResults([
            I2PDatagramEndpoint(reactor, bridge_config=BridgeConfig(alice_sam), session_config=SessionConfig.build(
                nickname="alice-dgram", style="DATAGRAM", options=TEST_SESSION_OPTIONS)).listen(pinger),
            I2PDatagramEndpoint(reactor, bridge_config=BridgeConfig(bob_sam), session_config=SessionConfig.build(
                nickname="bob-dgram", style="DATAGRAM", options=TEST_SESSION_OPTIONS)).listen(ponger),
        ])
        demo.say("   waiting until Bob's lease set can be found from Alice's router")
        await wait_until_reachable(reactor, ports[0].session, ports[1].session.b32)
        return list(ports)

    alice, bob = await demo.step("Alice and Bob open datagram sessions (repliable datagrams)", start)
    demo.say(f"   Alice {alice.getHost().host} (via {alice.mode}), Bob {bob.getHost().host} (via {bob.mode})")

    async def ping() -> list[float]:
        rtts = []
        for i in range(5):
            sent = time.monotonic()
            await alice.write(f"ping {i}".encode(), bob.getHost())
            demo.say(f"   sent 'ping {i}'; waiting for the pong")
            while len(pinger.pongs) <= i and time.monotonic() - sent < 10:
                await task.deferLater(reactor, 0.01, lambda: None)
            if len(pinger.pongs) > i:
                rtts.append(time.monotonic() - sent)
        return rtts

    rtts = await demo.step("Alice pings Bob with 5 datagrams; Bob answers to the sender's address", ping)
    if pinger.pongs:
        demo.say(f"   {len(pinger.pongs)} of 5 pongs came back from {pinger.pongs[0][1].host}; "
                 f"round trips {', '.join(f'{r * 1000:.0f} ms' for r in rtts)}")
    else:
        demo.say("   no pong came back (datagrams are unreliable)")
    await alice.stopListening()
    await bob.stopListening()


async def private_demo(demo: Demo, reactor: Any, network: PrivateI2PNetwork, sessions: list[Any],
                       workdir: str) -> None:
    alice = sessions[0]
    alice_sam, bob_sam = network.sam_addresses[:2]
    key = private.new_client_key()
    clients, key_file = os.path.join(workdir, "clients"), os.path.join(workdir, "alice.key")
    with open(clients, "w") as f:
        f.write(f"alice:{key}\n")
    private.write_client_key(key_file, key)

    async def serve() -> Any:
        demo.say("   a new destination: waiting for its session (i2pd answers after ~20 s)")
        server = I2PServerEndpoint(reactor, bridge_config=BridgeConfig(bob_sam),
                                   session_config=SessionConfig.build(nickname="demo-private",
                                                                      options=TEST_SESSION_OPTIONS),
                                   private=private.PrivateService(clients_file=clients))
        return await server.listen(Factory.forProtocol(Greeter))

    port = await demo.step("Bob serves a private service that only Alice's key can find (clients=<file>)", serve)
    b33 = port.getHost().host
    demo.say(f"   its address is the longer b33 name {b33}")

    async def talk() -> str:
        demo.say("   Alice's session with her key (clientKey=<file>) starts; waiting for her to reach it")
        endpoint = I2PClientEndpoint(reactor, b33, bridge_config=BridgeConfig(alice_sam),
                                     session_config=SessionConfig.build(nickname="demo-alice-key",
                                                                        options=TEST_SESSION_OPTIONS),
                                     client_key=private.ClientKey(file=key_file))
        proto = await retry_unreachable(reactor, lambda: endpoint.connect(Factory.forProtocol(Asker)),
                                        timeout=120)
        return await proto.reply

    demo.say(f"   got: {await demo.step('Alice, holding her key, connects to it', talk)!r}")

    async def refused() -> str:
        try:
            await alice.lookup(b33)
        except ClientKeyRequired as e:
            return str(e)
        raise AssertionError("a session without a key found the private service")

    text = await demo.step("A session without a key looks it up", refused)
    demo.say(f"   refused: {text[:150]}...")
    await port.stopListening()


async def shim_demo(demo: Demo, reactor: Any, network: PrivateI2PNetwork, sessions: list[Any]) -> None:
    alice_sam, bob_sam = network.sam_addresses[:2]
    opts = dict(TEST_SOCKET_OPTIONS)

    def blocking_code() -> str:
        from txi2p import socket

        bob = socket.socket(sessions[1].nickname, socket.SOCK_STREAM, bob_sam, **opts)
        bob.listen(5)
        alice = socket.socket(sessions[0].nickname, socket.SOCK_STREAM, alice_sam, **opts)
        alice.settimeout(60)
        alice.connect(bob.dest)
        conn, _ = bob.accept()
        with conn.makefile("rw") as f:
            alice.sendall(b"a line from blocking code\n")
            line = f.readline()
            f.write(line.upper())
            f.flush()
        reply = alice.makefile("rb").readline().decode().strip()
        for s in (alice, conn, bob):
            s.close()
        return reply

    async def run() -> str:
        demo.say("   (plain blocking calls in a worker thread; the reactor serves them)")
        return str(await threads.deferToThread(blocking_code))

    reply = await demo.step("Blocking code uses txi2p.socket, the classic i2p.socket API", run)
    demo.say(f"   Alice read back: {reply!r}")


async def tunnel_demo(demo: Demo, reactor: Any, network: PrivateI2PNetwork, sessions: list[Any]) -> None:
    alice_sam, bob_sam = network.sam_addresses[:2]
    root = Resource()
    root.putChild(b"", Data(b"an ordinary local web server, reached through I2P tunnels", "text/plain"))
    backend = reactor.listenTCP(0, Site(root), interface="127.0.0.1")

    async def start() -> tuple[Any, Any]:
        server = TunnelServer(reactor, I2PServerEndpoint(
            reactor, bridge_config=BridgeConfig(bob_sam),
            session_config=SessionConfig.build(nickname=sessions[1].nickname, options=TEST_SESSION_OPTIONS)),
            backend.getHost().port)
        client = TunnelClient(reactor, I2PClientEndpoint(
            reactor, sessions[1].b32, bridge_config=BridgeConfig(alice_sam),
            session_config=SessionConfig.build(nickname=sessions[0].nickname, options=TEST_SESSION_OPTIONS)), 0)
        for service in (server, client):
            service.startService()
            await service.when_listening()
        return server, client

    server, client = await demo.step("TunnelServer exposes a local web server; TunnelClient maps it to a "
                                     "local port on the other router", start)
    demo.say(f"   127.0.0.1:{backend.getHost().port} -> {server.b32} -> 127.0.0.1:{client.local_port}")

    async def fetch() -> bytes:
        response = await Agent(reactor).request(b"GET", f"http://127.0.0.1:{client.local_port}/".encode())
        return bytes(await readBody(response))

    body = await demo.step("An ordinary HTTP client fetches http://127.0.0.1:<client port>/", fetch)
    demo.say(f"   got: {body.decode()!r}")
    await client.stopService()
    await server.stopService()
    await backend.stopListening()


async def command_demo(demo: Demo, reactor: Any, network: PrivateI2PNetwork) -> None:
    sam = network.sam_addresses[0]

    async def check() -> int:
        out, err = io.StringIO(), io.StringIO()
        demo.say("   waiting for its test session (i2pd answers SESSION CREATE after ~20 s)")
        status = await command.run(reactor, ["check", "--sam", sam, "-o", "inbound.length=0",
                                             "-o", "outbound.length=0"], out=out, err=err)
        for line in out.getvalue().splitlines():
            demo.say(f"   | {line}")
        if status != 0:
            raise RuntimeError(f"txi2p check said:\n{err.getvalue()}")
        return status

    await demo.step(f"What a user runs first when something does not work: txi2p check --sam {sam}", check)


#: The launched router's address and NTCP2 port, beside the private network's (198.18.0.1..).
LAUNCHED_HOST, LAUNCHED_PORT = "198.18.0.250", 24250


async def launch_demo(demo: Demo, reactor: Any, network: PrivateI2PNetwork, sessions: list[Any],
                      workdir: str) -> None:
    alice = sessions[0]
    enter_private_namespace([LAUNCHED_HOST])

    async def start() -> Any:
        demo.say("   txi2p.launch() starts i2pd as a child process; its stages as it reaches them:")
        return await txi2p.launch(
            reactor, i2pd_binary=network.i2pd,
            progress_updates=lambda percent, tag, summary: demo.say(f"   {percent:3d}% {summary}"),
            router_options=join_options(LAUNCHED_HOST, LAUNCHED_PORT, network.netid),
            reseed_file=network.reseed_zip(os.path.join(workdir, "launched-seed.zip")), timeout=180)

    i2p = await demo.step("txi2p.launch(): a router of our own, joining the private network", start)
    try:
        demo.say(f"   {i2p!r}: SAM {i2p.sam_version} at {i2p.sam_address}")

        async def serve() -> Any:
            demo.say("   i2p.server_endpoint(...).listen(site): waiting for its session")
            root = Resource()
            root.putChild(b"", Data(b"served by a router txi2p launched\n", "text/plain"))
            site = i2p.server_endpoint(session_config=SessionConfig.build(nickname="demo-launched",
                                                                          options=TEST_SESSION_OPTIONS))
            return await site.listen(Site(root))

        port = await demo.step("The launched router serves a web site", serve)

        async def fetch() -> bytes:
            web = agent(reactor, bridge_config=BridgeConfig(network.sam_addresses[0]),
                        session_config=SessionConfig.build(nickname=alice.nickname, options=TEST_SESSION_OPTIONS))
            url = f"http://{port.getHost().destination.b32}/".encode()
            demo.say("   waiting for the new site's lease set to be found, then for the response")
            response = await retry_unreachable(reactor, lambda: web.request(b"GET", url), timeout=120)
            return bytes(await readBody(response))

        body = await demo.step("Alice fetches it from her router", fetch)
        demo.say(f"   got: {body.decode()!r}")
        await port.stopListening()
    finally:
        await demo.step("i2p.quit(): the launched router stops (and would if this process died)", i2p.quit)


#: The two homes of the multihoming step: beside the launched router's address.
HOMES = {"home 1": ("198.18.0.251", 24251), "home 2": ("198.18.0.252", 24252)}


async def multihome_demo(demo: Demo, reactor: Any, network: PrivateI2PNetwork, workdir: str) -> None:
    enter_private_namespace([host for host, _ in HOMES.values()])

    async def launch_home(name: str) -> Any:
        host, port = HOMES[name]
        return await txi2p.launch(reactor, i2pd_binary=network.i2pd, timeout=180,
                                  router_options=join_options(host, port, network.netid),
                                  reseed_file=network.reseed_zip(os.path.join(workdir, f"{host}-seed.zip")))

    async def start() -> list[Any]:
        demo.say("   two i2pd routers of our own (txi2p.launch), started together")
        return list(await defer.gatherResults([defer.Deferred.fromCoroutine(launch_home(name)) for name in HOMES]))

    homes = await demo.step("One service on two routers: launching its two homes", start)
    names = (f"demo-mh-client-{n}" for n in range(1000))
    used: list[str] = []
    try:
        async def serve() -> Any:
            demo.say("   multihomed_server_endpoint(homes, 80, key_file=...): one key, a session on each router")
            root = Resource()
            root.putChild(b"", Data(b"one service, two homes\n", "text/plain"))
            endpoint = multihomed_server_endpoint(
                homes, 80, key_file=os.path.join(workdir, "multihomed.key"), progress=lambda t: demo.say(f"   {t}"),
                session_config=SessionConfig.build(options=TEST_SESSION_OPTIONS))
            return await endpoint.listen(Site(root))

        port = await demo.step("The site listens on both homes under one address", serve)
        url = f"http://{port.getHost().host}/".encode()
        demo.say(f"   its address: {port.getHost().host}")

        async def fetch() -> bytes:
            deadline = time.monotonic() + 300
            while True:
                used.append(next(names))
                web = agent(reactor, bridge_config=BridgeConfig(network.sam_addresses[0]),
                            session_config=SessionConfig.build(nickname=used[-1], options=TEST_SESSION_OPTIONS))
                demo.say("   a new client on Alice's router asks for the page")
                try:
                    response = await web.request(b"GET", url).addTimeout(60, reactor)
                    return bytes(await readBody(response))
                except Exception as e:
                    if time.monotonic() > deadline:
                        raise
                    demo.say(f"   not yet ({type(e).__name__}); trying again in 5 s")
                    await task.deferLater(reactor, 5, lambda: None)

        demo.say(f"   got: {(await demo.step('A client fetches it', fetch)).decode()!r}")

        async def kill() -> None:
            demo.say("   SIGKILL to home 2's router; waiting until the site sees it gone")
            os.kill(homes[1].router.pid, signal.SIGKILL)
            while port.homes_up != 1:
                await task.deferLater(reactor, 0.5, lambda: None)

        await demo.step("Home 2's router dies", kill)
        body = await demo.step("A new client fetches the site again: home 1 serves it (waiting for a lookup "
                               "that finds home 1's lease set)", fetch)
        demo.say(f"   got: {body.decode()!r}")

        async def fall_back() -> bytes:
            dead, alive = homes[1].sam_address, network.sam_addresses[0]
            demo.say(f"   FallbackClientEndpoint: the bridge at {dead} (home 2's, dead) first, "
                     f"then Alice's at {alive}")
            session = SessionConfig.build(nickname=used[-1], options=TEST_SESSION_OPTIONS)
            client = FallbackClientEndpoint([
                I2PClientEndpoint(reactor, port.getHost().host, 80, bridge_config=BridgeConfig(bridge),
                                  session_config=session) for bridge in (dead, alive)])
            fetched: defer.Deferred[bytes] = defer.Deferred()
            await client.connect(Factory.forProtocol(lambda: _HTTPGet(fetched)))
            demo.say(f"   connected through bridge {client.current + 1} of 2")
            return await fetched.addTimeout(120, reactor)

        body = await demo.step("A client whose first SAM bridge is down connects through its second", fall_back)
        page = body.split(b"\r\n\r\n", 1)[-1]
        demo.say(f"   got: {page.decode()!r}")
        await port.stopListening()
    finally:
        for home in homes:
            await home.quit()


class _HTTPGet(Protocol):
    """Asks for ``/`` over HTTP/1.0 and fires *done* with the whole answer."""

    def __init__(self, done: defer.Deferred[bytes]) -> None:
        self.done = done
        self.received = b""

    def connectionMade(self) -> None:
        self.transport.write(b"GET / HTTP/1.0\r\nHost: site\r\n\r\n")

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Any = None) -> None:
        if not self.done.called:
            self.done.callback(self.received)


#: Networks started before the demo gives up: i2pd 2.45.1 test networks now
#: and then carry nothing at all, and a new one then does (as the tests'
#: fixture does, txi2p.testing.pytest_plugin).
NETWORK_ATTEMPTS = 2


async def ready_network(demo: Demo, reactor: Any) -> tuple[PrivateI2PNetwork, str, list[Any]]:
    """A started private network that carried a round trip, its directory and sessions."""
    # TXI2P_CLIENTS / TXI2P_FLOODFILLS pick the routers (docs/routers.rst).
    clients, floodfills = os.environ.get("TXI2P_CLIENTS"), os.environ.get("TXI2P_FLOODFILLS")
    for attempt in range(1, NETWORK_ATTEMPTS + 1):
        workdir = tempfile.mkdtemp(prefix="txi2p-demo-")
        network = PrivateI2PNetwork(workdir, clients=RouterBuild.parse_list(clients) if clients else 2,
                                    floodfills=RouterBuild.parse_list(floodfills) if floodfills else 2,
                                    progress=lambda t: demo.say(f"   {t}"))

        async def start(network: PrivateI2PNetwork = network) -> None:
            network.start()
            for line in network.describe().splitlines():
                demo.say(f"   {line}")

        try:
            await demo.step(f"Starting a private I2P network: {len(network.routers) - len(network.clients)} "
                            f"floodfills + {len(network.clients)} routers with SAM bridges", start)
            sessions = await demo.step(
                "Creating a destination on each router (i2pd answers SESSION CREATE after ~20 s) "
                "and waiting for a first round trip",
                lambda network=network: wait_until_ready(reactor, network, prefix="demo",
                                                         progress=lambda t: demo.say(f"   {t}")),
            )
        except NetworkNotReady as e:
            demo.say(f"The network carried no round trip ({e}); its routers' logs:\n{network.logs(30)}")
            network.stop()
            if attempt == NETWORK_ATTEMPTS:
                raise
            demo.say(f"Starting a new network (attempt {attempt + 1} of {NETWORK_ATTEMPTS})")
            continue
        except BaseException:
            network.stop()
            raise
        return network, workdir, sessions
    raise AssertionError("unreachable")


async def main(reactor: Any) -> None:
    demo = Demo()
    network, workdir, sessions = await ready_network(demo, reactor)
    try:
        await stream_demo(demo, reactor, sessions)
        await endpoint_demo(demo, reactor, network, sessions)
        await private_demo(demo, reactor, network, sessions, workdir)
        await shim_demo(demo, reactor, network, sessions)
        await tunnel_demo(demo, reactor, network, sessions)
        await datagram_demo(demo, reactor, network)
        await command_demo(demo, reactor, network)
        await launch_demo(demo, reactor, network, sessions, workdir)
        await multihome_demo(demo, reactor, network, workdir)
        for session in sessions:
            session.close()
        demo.say("All steps worked.")
    except Exception:
        demo.say("A step failed; the routers' logs:\n" + network.logs(30))
        raise
    finally:
        network.stop()
        demo.say(f"Routers stopped (logs kept in {workdir}).")


if __name__ == "__main__":
    warnings.filterwarnings("ignore", "Using readBody with a transport", DeprecationWarning)
    sys.exit(task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor))))
