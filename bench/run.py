"""txi2p benchmarks on the private I2P network, side by side with a raw SAM client.

    bash scripts/bench.sh            # full run: 64 MiB transfers, 7 repetitions, per router
    bash scripts/bench.sh --quick    # CI: small sizes, once each; checks nothing fails
    .venv/bin/python bench/run.py --i2pd PATH --router LABEL [--quick] ...   # one router

scripts/bench.sh runs this once per router of the matrix (ROUTERS: the
system i2pd and Debian 13's, as scripts/test.sh) and then writes the
routers' key figures side by side (report.py).

Every figure is measured in the same run on the same network, contenders
interleaved (raw, ours, peer, raw, ours, ...) because throughput here swings
by several times from one minute to the next; each is reported as the
median of the repetitions with its spread, and as a ratio to the baseline
measured in that run (the raw SAM client, or i2pd's own tunnels for the
tunnel relay).  Writes bench/results[/quick]/<router>/latest.json,
latest.md and throughput.png, with the routers' versions.  With --profile,
the txi2p contenders run under pyinstrument and its reports go to
bench/results/profile-<router>-*.txt.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import resource
import socket as std_socket
import sys
import tempfile
import threading
import time
import traceback
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from baselines import (
    CHUNK,
    MIB,
    RawSessions,
    TcpSink,
    TwistedRawSAM,
    connect_until_accepted,
    raw_fresh_listen,
    raw_lookups,
    send_blocks,
    tcp_transfer,
    tcp_warm_up,
    twisted_raw_transfer,
)
from failover import measure as measure_failover
from peers import PEERS, PeerWorker
from report import RESULTS, results_dir, say, summary, write_outputs
from twisted.internet import defer, task, threads
from twisted.internet.protocol import Factory, Protocol

import txi2p as txi2p_package
from txi2p import socket as i2p
from txi2p.address import PrivateKey
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.registry import SessionRegistry
from txi2p.sam import codec
from txi2p.testing import (
    TEST_SESSION_OPTIONS,
    PrivateI2PNetwork,
    enter_private_namespace,
    join_options,
    wait_until_ready,
)
from txi2p.testing.ready import create_sessions
from txi2p.tunnel import TunnelClient, TunnelServer

HERE = Path(__file__).resolve().parent
#: The address and NTCP2 port of the router the launch section starts (beside the network's).
LAUNCH_ADDRESS = ("198.18.0.230", 24230)

SECTIONS = ("bulk", "tunnels", "shim", "concurrency", "control", "launch", "failover")


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Profiler:
    """pyinstrument around the txi2p contenders when --profile is given."""

    def __init__(self, enabled: bool, router: str) -> None:
        self.router = router
        self.profilers: dict[str, Any] = {}
        if enabled:
            from pyinstrument import Profiler as Pyinstrument
            self.factory = Pyinstrument

    async def run(self, name: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        if not hasattr(self, "factory"):
            return await fn()
        profiler = self.profilers.setdefault(name, self.factory(async_mode="disabled"))
        profiler.start()
        try:
            return await fn()
        finally:
            profiler.stop()

    def write(self) -> None:
        for name, profiler in self.profilers.items():
            path = RESULTS / f"profile-{self.router}-{name}.txt"
            path.write_text(profiler.output_text(unicode=True, show_all=False))
            say(f"profile of {name}: {path}")


class Sink(Protocol):
    size = 0
    reads = 0  # dataReceived calls of the latest sink, for the results

    def connectionMade(self) -> None:
        self.count = 0
        Sink.reads = 0

    def dataReceived(self, data: bytes) -> None:
        Sink.reads += 1
        self.count += len(data)
        if self.count >= self.size:
            self.transport.write(b"k")


class Source(Protocol):
    def __init__(self, size: int) -> None:
        self.size = size
        self.done: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        block = b"x" * CHUNK
        self.transport.writeSequence([block] * (self.size // CHUNK))

    def dataReceived(self, data: bytes) -> None:
        if not self.done.called:
            self.done.callback(None)
            self.transport.loseConnection()


async def ours_transfer(reactor: Any, client: Any, server: Any, size: int, n: int = 1) -> int:
    """*n* streams of *size* bytes from *client* to *server*; returns how many failed."""
    sink = type("S", (Sink,), {"size": size})
    port = server.listen(Factory.forProtocol(sink))
    await server.when_accepting()
    try:
        async def one() -> None:
            proto = await client.connect(server.destination, Factory.forProtocol(lambda: Source(size)))
            await proto.done

        results = await defer.DeferredList(
            [defer.Deferred.fromCoroutine(one()).addTimeout(600, reactor) for _ in range(n)],
            consumeErrors=True)
        failures = [r for ok, r in results if not ok]
        if failures:
            say(f"    {len(failures)} of {n} streams failed, first: {failures[0].getErrorMessage()}")
        return len(failures)
    finally:
        await port.stopListening()


class GatedSource(Source):
    """A Source that waits for *go* before sending."""

    def __init__(self, size: int, go: defer.Deferred[None]) -> None:
        super().__init__(size)
        self.go = go

    def connectionMade(self) -> None:
        self.go.addCallback(lambda _: Source.connectionMade(self))


async def concurrent_transfer(reactor: Any, client: Any, server: Any, size: int, n: int,
                              wave: int = 50, sending: int = 100,
                              when_open: Callable[[], Awaitable[None]] | None = None) -> tuple[float, int]:
    """*n* streams open at once, *size* bytes on each, at most *sending* sending at a time.

    i2pd 2.45.1 cannot decrypt bursts of garlic messages for hundreds of
    streams at once ("Can't handle ECIES-X25519-AEAD-Ratchet message") and
    those streams stall: so the streams are opened in waves of *wave*, each
    accepted before the next, and once all are open the data flows through
    a window of *sending* streams (a stream starts when another finishes).
    *when_open* is awaited once all are open, before any byte is sent.
    Returns (seconds from the first byte to the last acknowledgement, failures).
    """
    accepted = {"n": 0}
    waiters: list[tuple[int, defer.Deferred[None]]] = []

    class CountingSink(Sink):
        def connectionMade(self) -> None:
            super().connectionMade()
            accepted["n"] += 1
            for want, d in list(waiters):
                if accepted["n"] >= want:
                    waiters.remove((want, d))
                    d.callback(None)

    def until_accepted(want: int) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        if accepted["n"] >= want:
            d.callback(None)
        else:
            waiters.append((want, d))
        return d

    CountingSink.size = size
    port = server.listen(Factory.forProtocol(CountingSink))
    await server.when_accepting()
    gates: list[defer.Deferred[None]] = []
    sources: list[defer.Deferred[Any]] = []

    def gated() -> GatedSource:
        gate: defer.Deferred[None] = defer.Deferred()
        gates.append(gate)
        return GatedSource(size, gate)

    try:
        for start in range(0, n, wave):
            count = min(wave, n - start)
            sources += [defer.Deferred.fromCoroutine(client.connect(server.destination, Factory.forProtocol(gated)))
                        for _ in range(count)]
            try:
                await until_accepted(start + count).addTimeout(60, reactor)
            except defer.TimeoutError:
                say(f"    only {accepted['n']} of {start + count} streams accepted after 60 s: "
                    f"opening no more ({n - start - count} not tried, counted as failed)")
                break
        for d in sources:
            d.addTimeout(60, reactor)
        protos = await defer.DeferredList(sources, consumeErrors=True)
        if when_open is not None:
            await when_open()
        opened = [p for ok, p in protos if ok]
        queue = list(opened)

        def start_next(_: object = None) -> object:
            if queue:
                proto = queue.pop(0)
                proto.done.addBoth(start_next)
                proto.go.callback(None)
            return _

        started = time.monotonic()
        for _ in range(min(sending, len(queue))):
            start_next()
        done = await defer.DeferredList([p.done.addTimeout(180, reactor) for p in opened], consumeErrors=True)
        elapsed = time.monotonic() - started
        failures = (n - len(protos)) + sum(1 for ok, _ in protos if not ok) + sum(1 for ok, _ in done if not ok)
        return elapsed, failures
    finally:
        for gate in gates:
            if not gate.called:
                gate.callback(None)
        await port.stopListening()


def native_tunnel_config(section: str, body: dict[str, object]) -> str:
    lines = [f"[{section}]"] + [f"{k} = {v}" for k, v in {**body, **TEST_SESSION_OPTIONS}.items()]
    return "\n".join(lines) + "\n"


async def ours_fresh_listen(reactor: Any, sam_server: str, sam_client: str, client_id: str,
                            nickname: str, registry: SessionRegistry) -> float:
    """I2PServerEndpoint.listen() on a new session until a first stream arrives."""
    first: defer.Deferred[None] = defer.Deferred()

    class First(Protocol):
        def connectionMade(self) -> None:
            if not first.called:
                first.callback(None)

    started = time.monotonic()
    endpoint = I2PServerEndpoint(reactor, bridge_config=BridgeConfig(sam_server), registry=registry,
                                 session_config=SessionConfig.build(nickname=nickname, options=TEST_SESSION_OPTIONS,
                                                                    auto_close=True))
    port: Any = await endpoint.listen(Factory.forProtocol(First))
    stop = threading.Event()
    connector = threads.deferToThread(connect_until_accepted, sam_client, client_id,
                                      port.getHost().destination.base64, stop)
    await first.addTimeout(300, reactor)
    elapsed = time.monotonic() - started
    stop.set()
    await connector
    await port.stopListening()
    return elapsed


async def ours_lookups(control: Any, name: str, n: int) -> None:
    for _ in range(n):
        await control.command(codec.naming_lookup(name))


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float, Any]:
    wall, cpu = time.monotonic(), time.process_time()
    result = await fn()
    return time.monotonic() - wall, time.process_time() - cpu, result


def router_versions(network: PrivateI2PNetwork) -> tuple[str, list[str]]:
    """The network's router version line(s), and network.describe()'s lines."""
    lines = network.describe().splitlines()
    versions = sorted({line.split("): ", 1)[1] for line in lines if "): " in line})
    return " / ".join(versions) or "?", lines


class Bench:
    def __init__(self, reactor: Any, args: argparse.Namespace) -> None:
        self.reactor = reactor
        self.quick = args.quick
        self.i2pd = args.i2pd
        self.reps = 1 if args.quick else args.reps
        self.size = (4 if args.quick else args.mib) * MIB
        self.profiler = Profiler(args.profile, args.router)
        self.only = set(args.only.split(",")) if args.only else set(SECTIONS)
        self.failures: list[str] = []
        self.results: dict[str, Any] = {
            "router": args.router, "router_version": "?", "i2pd": args.i2pd,
            "sections": [s for s in SECTIONS if s in self.only],
            "quick": self.quick, "repetitions": self.reps, "transfer_mib": self.size // MIB,
            "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "started_epoch": round(time.time())}

    def failed(self, what: str) -> None:
        say(f"  FAILED: {what}")
        self.failures.append(what)

    async def run(self) -> dict[str, Any]:
        reactor = self.reactor
        workdir = tempfile.mkdtemp(prefix="txi2p-bench-")
        self.network = network = PrivateI2PNetwork(workdir, clients=2, i2pd=self.i2pd, progress=lambda t: say(t))
        self.results["i2pd"] = network.i2pd
        say(f"starting the private network ({network.i2pd})")
        started = time.monotonic()
        self.peers: list[PeerWorker] = []
        try:
            network.start()
            version, described = router_versions(network)
            self.results.update(router_version=version, network=described)
            say(f"routers: {version}")
            self.sam1, self.sam2 = network.sam_addresses[:2]
            # Our first sessions and the round-trip probe come first: with a
            # dozen sessions starting at once on a fresh two-router network,
            # lease set publication sometimes fails for minutes.
            sessions = await wait_until_ready(reactor, network, prefix="bench", progress=say)
            self.results["router_session_start_s"] = round(time.monotonic() - started, 1)
            say(f"starting the peers ({', '.join(PEERS)}) in their own virtualenv, the raw client's sessions "
                "and the concurrency sessions, all at once")
            self.peers = [PeerWorker(name, self.sam1, self.sam2) for name in PEERS]
            peers_ready = defer.DeferredList([threads.deferToThread(p.wait_ready) for p in self.peers])
            self.raw = RawSessions(self.sam1, self.sam2)
            raw_ready = threads.deferToThread(self.raw.create)
            # each stream count gets a pair of sessions of its own: i2pd's
            # ratchet state after earlier bursts fails the next burst
            self.counts = [1, 10, 100] if self.quick else [1, 10, 100, 1000]
            conc_sessions = defer.gatherResults([defer.Deferred.fromCoroutine(create_sessions(
                reactor, [self.sam1, self.sam2], prefix=f"bench-c{n}-")) for n in self.counts])
            self.alice, self.bob = sessions[:2]
            self.registry = SessionRegistry.for_reactor(reactor)
            for s in sessions:
                self.registry.adopt(s)
            say("waiting for the raw client's and the peers' sessions")
            await raw_ready
            await peers_ready
            pairs = await conc_sessions
            self.conc_sessions = dict(zip(self.counts, pairs, strict=True))
            sessions += [s for pair in pairs for s in pair]
            self.results["peers"] = {p.name: ("ready" if p.error is None else f"does not run here: {p.error}")
                                     for p in self.peers}
            for p in self.peers:
                say(f"  {p.name}: {self.results['peers'][p.name]}")
            for section in SECTIONS:
                if section in self.only:
                    await getattr(self, section)()
                    self.results["failures"] = self.failures
                    write_outputs(self.results, HERE / "NOTES.md")  # a partial run still leaves results
            for s in sessions:
                s.close()
        finally:
            for p in self.peers:
                p.close()
            if hasattr(self, "raw"):
                self.raw.close()
            network.stop()
        self.profiler.write()
        self.results["failures"] = self.failures
        return self.results

    # 1+2: bulk throughput and CPU per MiB
    async def bulk(self) -> None:
        size, alice, bob = self.size, self.alice, self.bob
        live = [p for p in self.peers if p.error is None]
        names = ["raw", "twisted, no txi2p", "txi2p"] + [p.name for p in live]
        say(f"bulk: {size // MIB} MiB one way, {' / '.join(names)}, {self.reps} repetitions interleaved")
        samples: dict[str, dict[str, list[float]]] = {
            k: {"mbps": [], "cpu_ms_per_mib": [], "receive_events_per_mib": []} for k in names}
        for rep in range(self.reps):
            for name in names:
                if name == "raw":
                    wall, cpu, _ = await timed(lambda: threads.deferToThread(
                        self.raw.transfer, size))
                elif name == "twisted, no txi2p":
                    wall, cpu, _ = await timed(lambda: defer.Deferred.fromCoroutine(
                        twisted_raw_transfer(self.reactor, self.raw, size)))
                    samples[name]["receive_events_per_mib"].append(
                        TwistedRawSAM.last_reads / (size / MIB))  # type: ignore[attr-defined]
                elif name == "txi2p":
                    wall, cpu, failed = await timed(lambda: self.profiler.run("bulk", lambda: defer.Deferred
                                                    .fromCoroutine(ours_transfer(self.reactor, alice, bob, size))))
                    if failed:
                        self.failed("bulk transfer (txi2p)")
                        continue
                    samples[name]["receive_events_per_mib"].append(Sink.reads / (size / MIB))
                else:
                    peer = next(p for p in live if p.name == name)
                    reply = await threads.deferToThread(peer.transfer, size)
                    if "error" in reply:
                        say(f"  rep {rep + 1} {name}: error {reply['error']}")
                        peer.error = reply["error"]
                        continue
                    wall, cpu = reply["wall"], reply["cpu"]
                samples[name]["mbps"].append(size / wall / 1e6)
                samples[name]["cpu_ms_per_mib"].append(cpu / (size / MIB) * 1000)
                say(f"  rep {rep + 1} {name}: {size / wall / 1e6:.1f} MB/s, "
                    f"{cpu / (size / MIB) * 1000:.2f} ms CPU/MiB")
        bulk: dict[str, Any] = {k: {m: summary(v) for m, v in d.items()} for k, d in samples.items()}
        raw = bulk["raw"]
        bulk["txi2p"]["ratio_cpu_to_twisted"] = (bulk["txi2p"]["cpu_ms_per_mib"]["median"]
                                                 / bulk["twisted, no txi2p"]["cpu_ms_per_mib"]["median"])
        for name in names[1:]:
            bulk[name]["ratio_throughput"] = bulk[name]["mbps"]["median"] / raw["mbps"]["median"]
            bulk[name]["ratio_throughput_best"] = bulk[name]["mbps"]["max"] / raw["mbps"]["max"]
            bulk[name]["ratio_cpu"] = bulk[name]["cpu_ms_per_mib"]["median"] / raw["cpu_ms_per_mib"]["median"]
        self.results["bulk"] = bulk
        self.results["peers"].update({p.name: f"failed during the run: {p.error}" for p in live if p.error})

    # 3: TunnelServer + TunnelClient vs i2pd's own tunnels
    async def tunnels(self) -> None:
        size = self.size
        say("tunnels: setting up i2pd's own server/client tunnels and txi2p's TunnelServer/TunnelClient")
        sink = TcpSink()
        client_router, server_router = self.network.clients[:2]
        keys = server_router.datadir / "bench-native-server.dat"  # i2pd takes it relative to its datadir
        self.network.add_tunnels(server_router, "bench-server", native_tunnel_config(
            "bench-native-server", {"type": "server", "host": "127.0.0.1", "port": sink.port,
                                    "keys": keys.name, "signaturetype": 7}))
        deadline = time.monotonic() + 30
        while not (keys.exists() and keys.stat().st_size > 0):
            if time.monotonic() > deadline:
                self.failed("i2pd did not create its server tunnel's keys")
                return
            await task.deferLater(self.reactor, 0.2, lambda: None)
        native_b32 = PrivateKey.from_bytes(keys.read_bytes()).b32
        with std_socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            native_port = probe.getsockname()[1]
        self.network.add_tunnels(client_router, "bench-client", native_tunnel_config(
            "bench-native-client", {"type": "client", "address": "127.0.0.1", "port": native_port,
                                    "destination": native_b32}))
        server = TunnelServer(self.reactor, I2PServerEndpoint(
            self.reactor, bridge_config=BridgeConfig(self.sam2), registry=self.registry,
            session_config=SessionConfig.build(nickname=self.bob.nickname, options=TEST_SESSION_OPTIONS)), sink.port)
        server.startService()
        await server.when_listening()
        client = TunnelClient(self.reactor, I2PClientEndpoint(
            self.reactor, server.b32 or "", bridge_config=BridgeConfig(self.sam1), registry=self.registry,
            session_config=SessionConfig.build(nickname=self.alice.nickname, options=TEST_SESSION_OPTIONS)), 0)
        client.startService()
        await client.when_listening()
        ports = {"i2pd native": native_port, "txi2p": client.local_port or 0}
        try:
            sink.expected = CHUNK
            for name, port in ports.items():
                say(f"  waiting for the {name} tunnels to carry a first stream (lease sets being published)")
                tries = await threads.deferToThread(tcp_warm_up, port, time.monotonic() + 180)
                say(f"  {name}: ready after {tries} tries")
            sink.expected = size
            samples: dict[str, list[float]] = {k: [] for k in ports}
            for rep in range(self.reps):
                for name, port in ports.items():
                    wall, _, _ = await timed(lambda port=port: threads.deferToThread(tcp_transfer, port, size))
                    samples[name].append(size / wall / 1e6)
                    say(f"  rep {rep + 1} {name}: {size / wall / 1e6:.1f} MB/s")
        except Exception as e:
            self.failed(f"tunnel transfer: {e!r}")
            return
        finally:
            await client.stopService()
            await server.stopService()
            sink.close()
        result: dict[str, Any] = {k: summary(v) for k, v in samples.items()}
        result["ratio_throughput"] = result["txi2p"]["median"] / result["i2pd native"]["median"]
        result["ratio_throughput_best"] = result["txi2p"]["max"] / result["i2pd native"]["max"]
        self.results["tunnels"] = result

    # 4: the shim's sendall/recv loop
    async def shim(self) -> None:
        alice, bob, sam1, sam2 = self.alice, self.bob, self.sam1, self.sam2
        say("shim: txi2p.socket sendall/recv loop vs raw")
        opts = dict(TEST_SESSION_OPTIONS)  # the same settings as alice's and bob's sessions
        size = self.size // 2

        def shim_transfer() -> None:
            server = i2p.socket(bob.nickname, i2p.SOCK_STREAM, sam2, **opts)
            server.listen(5)
            client = i2p.socket(alice.nickname, i2p.SOCK_STREAM, sam1, **opts)
            client.settimeout(300)
            client.connect(server.dest)
            conn, _ = server.accept()
            got = {"n": 0}

            def receive() -> None:
                while got["n"] < size:
                    chunk = conn.recv(256 * 1024)
                    if not chunk:
                        break
                    got["n"] += len(chunk)
                conn.sendall(b"k")

            t = threading.Thread(target=receive)
            t.start()
            send_blocks(client.sendall, size)
            assert client.recv(1) == b"k"
            t.join()
            for s in (client, conn, server):
                s.close()
            assert got["n"] == size

        samples: dict[str, list[float]] = {"raw": [], "shim": []}
        for rep in range(self.reps):
            for name in ("raw", "shim"):
                if name == "raw":
                    wall, _, _ = await timed(lambda: threads.deferToThread(
                        self.raw.transfer, size))
                else:
                    wall, _, _ = await timed(lambda: self.profiler.run(
                        "shim", lambda: threads.deferToThread(shim_transfer)))
                samples[name].append(size / wall / 1e6)
                say(f"  rep {rep + 1} {name}: {size / wall / 1e6:.1f} MB/s")
        result: dict[str, Any] = {k: summary(v) for k, v in samples.items()}
        result["ratio_throughput"] = result["shim"]["median"] / result["raw"]["median"]
        result["ratio_throughput_best"] = result["shim"]["max"] / result["raw"]["max"]
        result["transfer_mib"] = size / MIB
        self.results["shim"] = result

    # 5: concurrency and RSS per stream
    async def concurrency(self) -> None:
        counts = self.counts
        conc: dict[str, Any] = {}
        say(f"concurrency: {', '.join(map(str, counts))} streams at once on one session (a pair of sessions "
            "of its own for each)")
        # The largest count first, on fresh sessions, with the memory of its
        # open streams measured before any byte moves.
        memory: dict[str, float] = {}

        async def measure_memory() -> None:
            await task.deferLater(self.reactor, 2, lambda: None)
            gc.collect()
            memory["rss"] = rss_kib() - memory["rss_before"]
            memory["traced"], _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()

        for n in sorted(counts, key=lambda c: (c != max(counts), c)):
            alice, bob = self.conc_sessions[n][:2]
            per = max(64 * 1024, (self.size // 4) // n // CHUNK * CHUNK)
            when_open = None
            if n == max(counts):
                gc.collect()
                tracemalloc.start()
                memory["rss_before"] = rss_kib()
                when_open = measure_memory
            try:
                wall, failed = await concurrent_transfer(self.reactor, alice, bob, per, n, when_open=when_open)
            except Exception as e:
                self.failed(f"{n} concurrent streams: {e!r}")
                continue
            finally:
                if tracemalloc.is_tracing():
                    tracemalloc.stop()
            conc[str(n)] = {"streams": n, "bytes_each": per, "mbps": n * per / wall / 1e6, "failed": failed}
            if failed:
                self.failed(f"{failed} of {n} concurrent streams")
            say(f"  {n} concurrent streams of {per // 1024} KiB: {n * per / wall / 1e6:.1f} MB/s total, "
                f"{failed} failed")
            if "traced" in memory and "rss_kib_per_stream" not in conc:
                # both ends of every stream are in this process
                conc["rss_kib_per_stream"] = memory["rss"] / (2 * n)
                conc["python_kib_per_stream"] = memory["traced"] / 1024 / (2 * n)
                conc["idle_streams"] = n
                say(f"  with the {n} open before sending, per stream end: RSS {conc['rss_kib_per_stream']:.1f} "
                    f"KiB, Python heap {conc['python_kib_per_stream']:.1f} KiB")
        self.results["concurrency"] = conc

    # 6: control plane
    async def control(self) -> None:
        alice, bob, sam1, sam2 = self.alice, self.bob, self.sam1, self.sam2
        lookups = 50 if self.quick else 1000
        rounds = max(self.reps, 3)
        per_round = lookups // rounds
        say(f"control plane: {per_round * rounds} NAMING LOOKUPs one at a time, raw and txi2p interleaved in "
            f"{rounds} rounds of {per_round}, then {lookups} pipelined")
        control = await alice.bridge.control()
        rates: dict[str, list[float]] = {"raw": [], "txi2p": []}
        raw_replies = 0
        for i in range(rounds):
            # alternate which goes first, so neither always meets a warmer router
            for name in (("raw", "txi2p") if i % 2 == 0 else ("txi2p", "raw")):
                if name == "raw":
                    wall, replies = await threads.deferToThread(raw_lookups, sam1, bob.b32, per_round, False)
                    raw_replies += replies
                    rates["raw"].append(replies / wall)
                else:
                    wall, _, _ = await timed(
                        lambda: defer.Deferred.fromCoroutine(ours_lookups(control, bob.b32, per_round)))
                    rates["txi2p"].append(per_round / wall)
        control.close()
        if raw_replies < per_round * rounds:
            self.failed(f"the raw client got {raw_replies} of {per_round * rounds} NAMING LOOKUP replies "
                        "one at a time")
        pipe_wall, pipe_replies = await threads.deferToThread(raw_lookups, sam1, bob.b32, lookups, True)
        ctl: dict[str, Any] = {
            "lookups": per_round * rounds,
            "lookup_rounds": rounds,
            "raw_sequential": summary(rates["raw"]),
            "txi2p_sequential": summary(rates["txi2p"]),
            "raw_sequential_per_s": summary(rates["raw"])["median"],
            "raw_sequential_replies": raw_replies,
            "txi2p_sequential_per_s": summary(rates["txi2p"])["median"],
            "raw_pipelined_replies": pipe_replies,
            "raw_pipelined_per_s": pipe_replies / pipe_wall if pipe_replies else 0.0,
            "txi2p_pipelines": alice.bridge.dialect.pipelining if alice.bridge.dialect else None,
        }
        say(f"  one at a time: raw {ctl['raw_sequential_per_s']:.0f}/s, txi2p {ctl['txi2p_sequential_per_s']:.0f}/s; "
            f"pipelined (raw): {pipe_replies} of {lookups} answered")

        # listen() on a ready session, after an earlier listener on it stopped
        say("  listen() to a first accepted stream on a ready session, raw vs txi2p")
        ready: dict[str, list[float]] = {"raw": [], "txi2p": []}
        for _ in range(self.reps):
            wall, _, _ = await timed(lambda: threads.deferToThread(
                self.raw.transfer, CHUNK))
            ready["raw"].append(wall)
            wall, _, _ = await timed(lambda: defer.Deferred.fromCoroutine(
                ours_transfer(self.reactor, alice, bob, CHUNK)))
            ready["txi2p"].append(wall)
        ctl["ready_session_listen_to_first_stream_s"] = {k: summary(v) for k, v in ready.items()}

        # listen() on a new session vs the router's own session start
        fresh_reps = 1 if self.quick else 3
        say(f"  listen() on a new session to a first accepted stream, raw vs txi2p side by side "
            f"({fresh_reps} time(s), ~30 s each: the router builds tunnels and publishes the lease set)")
        fresh: dict[str, list[float]] = {"raw": [], "txi2p": []}
        for rep in range(fresh_reps):
            raw_d = threads.deferToThread(raw_fresh_listen, sam2, sam1, self.raw.client_id,
                                          f"bench-raw-fresh{rep}")
            ours_d = defer.Deferred.fromCoroutine(ours_fresh_listen(
                self.reactor, sam2, sam1, self.raw.client_id, f"bench-fresh{rep}", self.registry))
            for name, d in (("raw", raw_d), ("txi2p", ours_d)):
                try:
                    fresh[name].append(await d)
                except Exception as e:
                    self.failed(f"fresh listen ({name}): {e!r}")
            say(f"    raw {fresh['raw'][-1] if fresh['raw'] else float('nan'):.1f} s, "
                f"txi2p {fresh['txi2p'][-1] if fresh['txi2p'] else float('nan'):.1f} s")
        ctl["new_session_listen_to_first_stream_s"] = {k: summary(v) for k, v in fresh.items()}
        self.results["control"] = ctl

    # launch to ready: txi2p.launch() of a router joining the private network
    async def launch(self) -> None:
        host, port = LAUNCH_ADDRESS
        enter_private_namespace([host])
        directory = Path(tempfile.mkdtemp(prefix="txi2p-bench-launch-")) / "router"
        reseed = self.network.reseed_zip(directory.parent / "seed.zip")
        restarts = 0 if self.quick else self.reps
        say(f"launch: txi2p.launch() to ready (SAM answering, exploratory tunnels built), a first start "
            f"from the network's reseed file, then {restarts} restart(s) with the data directory kept")
        times: dict[str, list[float]] = {"first_start": [], "restart_kept_data_directory": []}
        for rep in range(1 + restarts):
            kind = "first_start" if rep == 0 else "restart_kept_data_directory"
            try:
                started = time.monotonic()
                launched = await txi2p_package.launch(
                    self.reactor, data_directory=directory, i2pd_binary=self.i2pd, reseed_file=reseed,
                    router_options=join_options(host, port, self.network.netid), timeout=300)
                times[kind].append(time.monotonic() - started)
                await launched.quit()
            except Exception as e:
                self.failed(f"launch ({kind}): {e!r}")
                continue
            say(f"  {kind.replace('_', ' ')}: {times[kind][-1]:.1f} s")
        self.results["launch"] = {"launch_to_ready_s": {k: summary(v) for k, v in times.items()}}

    # failover of a multihomed site (txi2p.multihome, txi2p.failover): bench/failover.py
    async def failover(self) -> None:
        self.results["failover"] = await measure_failover(self.reactor, self.network, self.network.i2pd,
                                                          self.reps, self.quick, say, self.failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, once each (for CI)")
    parser.add_argument("--mib", type=int, default=64, help="size of a bulk transfer in MiB")
    parser.add_argument("--reps", type=int, default=7, help="repetitions of each measurement")
    parser.add_argument("--only", help=f"comma-separated sections to run (of {','.join(SECTIONS)})")
    parser.add_argument("--profile", action="store_true", help="profile the txi2p contenders (pyinstrument)")
    parser.add_argument("--i2pd", help="the i2pd binary every router runs (default: $I2PD or the system i2pd)")
    parser.add_argument("--router", help="a label for that router, used in output paths and headings "
                                         "(default: system, when --i2pd is not given)")
    args = parser.parse_args()
    if args.router is None:
        if args.i2pd is not None or os.environ.get("I2PD"):
            parser.error("--i2pd or $I2PD needs --router LABEL (the results go to bench/results[/quick]/LABEL/)")
        args.router = "system"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", args.router):
        parser.error(f"--router {args.router!r}: letters, digits, '.', '_' and '-' only")
    if args.i2pd is not None and not os.access(args.i2pd, os.X_OK):
        parser.error(f"--i2pd {args.i2pd}: not an executable")
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    if only - set(SECTIONS):
        parser.error(f"--only: unknown section(s) {', '.join(sorted(only - set(SECTIONS)))} "
                     f"(of {', '.join(SECTIONS)})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)

    async def run(reactor: Any) -> None:
        started = time.monotonic()
        bench = Bench(reactor, args)
        try:
            results = await bench.run()
        except Exception as e:  # the results say so too, for the side-by-side table
            traceback.print_exc()
            bench.failed(f"the run stopped: {type(e).__name__}: {(str(e).splitlines() or [''])[0]}")
            results = bench.results
            results["failures"] = bench.failures
        results["duration_s"] = round(time.monotonic() - started)
        write_outputs(results, HERE / "NOTES.md")
        out = results_dir(args.quick, args.router)
        say(f"wrote {out / 'latest.json'}, latest.md and throughput.png in {results['duration_s']} s")
        print((out / "latest.md").read_text())
        if results["failures"]:
            raise SystemExit(f"{len(results['failures'])} measurement(s) failed: see above")

    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
