"""txi2p benchmarks on the private I2P network, side by side with a raw SAM client.

    bash scripts/bench.sh            # full run: 64 MiB transfers, 7 repetitions
    bash scripts/bench.sh --quick    # CI: small sizes, once each; checks nothing fails

Every figure is measured in the same run on the same network, contenders
interleaved (raw, ours, peer, raw, ours, ...) because throughput here swings
by several times from one minute to the next; each is reported as the
median of the repetitions with its spread, and as a ratio to the baseline
measured in that run (the raw SAM client, or i2pd's own tunnels for the
tunnel relay).  Writes bench/results/latest.json, latest.md and
throughput.png.  With --profile, the txi2p contenders run under
pyinstrument and its reports go to bench/results/profile-*.txt.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import socket as std_socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer, task, threads
from twisted.internet.protocol import Factory, Protocol

from txi2p import socket as i2p
from txi2p.address import PrivateKey
from txi2p.endpoints import I2PServerEndpoint
from txi2p.registry import SessionRegistry
from txi2p.sam import codec
from txi2p.testing import TEST_SESSION_OPTIONS, PrivateI2PNetwork, wait_until_ready
from txi2p.testing.ready import create_sessions
from txi2p.tunnel import TunnelClient, TunnelServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PEERS_PYTHON = HERE / ".peers" / "bin" / "python"
PEERS = ("txi2p-tahoe", "i2plib")
SECTIONS = ("bulk", "tunnels", "shim", "concurrency", "control")
MIB = 1024 * 1024
CHUNK = 64 * 1024


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


class Profiler:
    """pyinstrument around the txi2p contenders when --profile is given."""

    def __init__(self, enabled: bool) -> None:
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
            path = RESULTS / f"profile-{name}.txt"
            path.write_text(profiler.output_text(unicode=True, show_all=False))
            say(f"profile of {name}: {path}")


# ------------------------------------------------------------------ raw SAM client


def raw_line(sock: std_socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("SAM closed the connection")
        data += chunk
    return data


def raw_hello(address: str, timeout: float | None = None) -> std_socket.socket:
    host, port = address.rsplit(":", 1)
    s = std_socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(b"HELLO VERSION MIN=3.0 MAX=3.1\n")
    assert b"RESULT=OK" in raw_line(s)
    return s


def raw_command(sock: std_socket.socket, line: str) -> bytes:
    sock.sendall(line.encode() + b"\n")
    reply = raw_line(sock)
    if b"RESULT=OK" not in reply:
        raise ConnectionError(f"{line.split(' DESTINATION=')[0]}: {reply.decode(errors='replace').strip()}")
    return reply


def receive_exactly(sock: std_socket.socket, size: int) -> int:
    got = 0
    while got < size:
        chunk = sock.recv(256 * 1024)
        if not chunk:
            break
        got += len(chunk)
    return got


def send_blocks(sendall: Callable[[bytes], Any], size: int) -> None:
    block = b"x" * CHUNK
    for _ in range(size // CHUNK):
        sendall(block)


class RawSessions:
    """The raw client's own two sessions (one per router), held by plain control sockets.

    Separate from txi2p's sessions, so neither contender's acceptors meet
    the other's inside the router.
    """

    def __init__(self, sam_client: str, sam_server: str) -> None:
        self.sam_client, self.sam_server = sam_client, sam_server
        self.client_id, self.server_id = "bench-raw-cli", "bench-raw-srv"
        self.controls: list[std_socket.socket] = []
        self.dest = ""

    def create(self) -> None:
        """Create both sessions (in parallel), then wait until a stream goes through."""
        options = " ".join(f"{k}={v}" for k, v in TEST_SESSION_OPTIONS.items())
        made: dict[str, std_socket.socket] = {}

        def one(sam: str, nickname: str) -> None:
            control = raw_hello(sam)
            raw_command(control, f"SESSION CREATE STYLE=STREAM ID={nickname} DESTINATION=TRANSIENT "
                                 f"SIGNATURE_TYPE=7 {options}")
            made[nickname] = control

        workers = [threading.Thread(target=one, args=(self.sam_client, self.client_id)),
                   threading.Thread(target=one, args=(self.sam_server, self.server_id))]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        if len(made) != 2:
            raise ConnectionError("the raw client's sessions could not be created")
        self.controls = list(made.values())
        reply = raw_command(made[self.server_id], "NAMING LOOKUP NAME=ME")
        self.dest = reply.split(b"VALUE=")[1].split()[0].decode()
        deadline = time.monotonic() + 180
        while True:  # until the server's lease set is published
            try:
                self.transfer(CHUNK, timeout=20)
                return
            except (OSError, ConnectionError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def transfer(self, size: int, timeout: float = 300) -> None:
        raw_transfer(self.sam_client, self.sam_server, self.client_id, self.server_id, self.dest, size,
                     timeout)

    def close(self) -> None:
        for control in self.controls:
            control.close()


def raw_transfer(sam_client: str, sam_server: str, client_id: str, server_id: str, dest: str,
                 size: int, timeout: float = 300) -> None:
    """The physical ceiling: plain sockets, HELLO, STREAM ACCEPT/CONNECT, sendall/recv."""
    server = raw_hello(sam_server, timeout)
    raw_command(server, f"STREAM ACCEPT ID={server_id} SILENT=false")
    received = {"n": 0}

    def receive() -> None:
        try:
            raw_line(server)  # the peer's destination
            received["n"] = receive_exactly(server, size)
            server.sendall(b"k")
        except OSError:
            pass

    t = threading.Thread(target=receive)
    t.start()
    ok = False
    try:
        client = raw_hello(sam_client, timeout)
        raw_command(client, f"STREAM CONNECT ID={client_id} DESTINATION={dest} SILENT=false")
        send_blocks(client.sendall, size)
        assert client.recv(1) == b"k"
        ok = True
    finally:
        if not ok:  # wake the receiving thread
            try:
                server.shutdown(std_socket.SHUT_RDWR)
            except OSError:
                pass
        t.join()
    client.close()
    server.close()
    assert received["n"] == size, received


# ------------------------------------------------------------------ Twisted without txi2p


class TwistedRawSAM(Protocol):
    """A minimal Twisted SAM client written here: HELLO, one STREAM command, then data.

    Measures what the reactor itself costs, so that txi2p's own share of
    the CPU per MiB can be told apart from Twisted's.
    """

    def __init__(self, command: str, size: int, sink: bool) -> None:
        self.command, self.size, self.sink = command, size, sink
        self.buffer = b""
        self.lines_wanted = 3 if sink else 2  # HELLO reply, STREAM reply (+ the peer line)
        self.count = 0
        self.reads = 0
        self.done: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        self.transport.write(b"HELLO VERSION MIN=3.0 MAX=3.1\n")

    def dataReceived(self, data: bytes) -> None:
        if self.lines_wanted:
            self.buffer += data
            while self.lines_wanted and b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                self.lines_wanted -= 1
                if self.lines_wanted >= (1 if self.sink else 0) and b"RESULT=OK" not in line:
                    self.done.errback(ConnectionError(line.decode(errors="replace")))
                    return
                if line.startswith(b"HELLO"):
                    self.transport.write(self.command.encode() + b"\n")
                elif not self.sink and not self.lines_wanted:
                    block = b"x" * CHUNK
                    self.transport.writeSequence([block] * (self.size // CHUNK))
            if self.lines_wanted:
                return
            data, self.buffer = self.buffer, b""
            if not data:
                return
        self.reads += 1
        if self.sink:
            self.count += len(data)
            if self.count >= self.size:
                self.transport.write(b"k")
                self.transport.loseConnection()
                self.done.callback(None)
        elif not self.done.called:
            self.done.callback(None)
            self.transport.loseConnection()


async def twisted_raw_transfer(reactor: Any, raw: Any, size: int) -> None:
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

    def endpoint(address: str) -> TCP4ClientEndpoint:
        host, port = address.rsplit(":", 1)
        return TCP4ClientEndpoint(reactor, host, int(port))

    sink = TwistedRawSAM(f"STREAM ACCEPT ID={raw.server_id} SILENT=false", size, sink=True)
    await connectProtocol(endpoint(raw.sam_server), sink)
    await task.deferLater(reactor, 0.05, lambda: None)  # the ACCEPT is registered first
    source = TwistedRawSAM(f"STREAM CONNECT ID={raw.client_id} DESTINATION={raw.dest} SILENT=false",
                           size, sink=False)
    await connectProtocol(endpoint(raw.sam_client), source)
    await defer.gatherResults([sink.done, source.done]).addTimeout(600, reactor)
    TwistedRawSAM.last_reads = sink.reads  # type: ignore[attr-defined]


# ------------------------------------------------------------------ txi2p streams


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
                              wave: int = 50) -> tuple[float, int]:
    """*n* streams open at once, then *size* bytes on each at the same moment.

    The streams are opened in waves of *wave*, each wave accepted before the
    next starts: i2pd 2.45.1 cannot decrypt a burst of about a thousand new
    streams' first messages at once (its ECIES ratchet tags run out: "Can't
    handle ECIES-X25519-AEAD-Ratchet message"), and those streams stall.
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
    go: defer.Deferred[None] = defer.Deferred()
    sources: list[defer.Deferred[Any]] = []
    try:
        for start in range(0, n, wave):
            count = min(wave, n - start)
            sources += [defer.Deferred.fromCoroutine(client.connect(
                server.destination, Factory.forProtocol(lambda: GatedSource(size, go)))) for _ in range(count)]
            try:
                await until_accepted(start + count).addTimeout(120, reactor)
            except defer.TimeoutError:
                say(f"    only {accepted['n']} of {start + count} streams accepted after 120 s")
        for d in sources:
            d.addTimeout(120, reactor)
        protos = await defer.DeferredList(sources, consumeErrors=True)
        started = time.monotonic()
        go.callback(None)
        done = await defer.DeferredList(
            [p.done.addTimeout(600, reactor) for ok, p in protos if ok], consumeErrors=True)
        elapsed = time.monotonic() - started
        failures = sum(1 for ok, _ in protos if not ok) + sum(1 for ok, _ in done if not ok)
        return elapsed, failures
    finally:
        if not go.called:
            go.callback(None)
        await port.stopListening()


# ------------------------------------------------------------------ peers


class PeerWorker:
    """One peer library, driven through bench/peer_worker.py in its own virtualenv."""

    def __init__(self, name: str, sam_client: str, sam_server: str) -> None:
        self.name = name
        self.error: str | None = None
        self.process: subprocess.Popen[str] | None = None
        if not PEERS_PYTHON.exists():
            self.error = f"not installed ({PEERS_PYTHON} missing: scripts/bench.sh makes it)"
            return
        self.process = subprocess.Popen(
            [str(PEERS_PYTHON), str(HERE / "peer_worker.py"), name, sam_client, sam_server,
             json.dumps(dict(TEST_SESSION_OPTIONS))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            cwd=tempfile.gettempdir())

    def _reply(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            return {"error": f"worker exited with code {self.process.wait()}"}
        reply: dict[str, Any] = json.loads(line)
        return reply

    def wait_ready(self) -> bool:
        if self.process is None:
            return False
        reply = self._reply()
        if "error" in reply:
            self.error = reply["error"]
            self.close()
            return False
        return True

    def transfer(self, size: int) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps({"size": size}) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


# ------------------------------------------------------------------ tunnels


class TcpSink:
    """A local TCP server that reads the expected bytes and answers b"k" (threads)."""

    def __init__(self) -> None:
        self.listener = std_socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.expected = 0
        self.received: list[int] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: std_socket.socket) -> None:
        with conn:
            got = receive_exactly(conn, self.expected)
            self.received.append(got)
            if got == self.expected:
                conn.sendall(b"k")

    def close(self) -> None:
        self.listener.close()


def tcp_transfer(port: int, size: int, timeout: float = 300) -> None:
    with std_socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        send_blocks(s.sendall, size)
        if s.recv(1) != b"k":
            raise ConnectionError("the tunnel closed before the sink acknowledged")


def tcp_warm_up(port: int, deadline: float) -> int:
    """Small transfers until one goes through (lease sets being published); returns tries."""
    tries = 0
    while True:
        tries += 1
        try:
            tcp_transfer(port, CHUNK, timeout=30)
            return tries
        except (OSError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def native_tunnel_config(section: str, body: dict[str, object]) -> str:
    options = {f"{k}": v for k, v in TEST_SESSION_OPTIONS.items()}
    lines = [f"[{section}]"] + [f"{k} = {v}" for k, v in {**body, **options}.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ control plane


def raw_fresh_listen(sam_server: str, sam_client: str, client_id: str, nickname: str) -> float:
    """SESSION CREATE + STREAM ACCEPT with plain sockets until a first stream arrives."""
    started = time.monotonic()
    control = raw_hello(sam_server)
    options = " ".join(f"{k}={v}" for k, v in TEST_SESSION_OPTIONS.items())
    raw_command(control, f"SESSION CREATE STYLE=STREAM ID={nickname} DESTINATION=TRANSIENT "
                         f"SIGNATURE_TYPE=7 {options}")
    reply = raw_command(control, "NAMING LOOKUP NAME=ME")
    dest = reply.split(b"VALUE=")[1].split()[0].decode()
    acceptor = raw_hello(sam_server)
    raw_command(acceptor, f"STREAM ACCEPT ID={nickname} SILENT=false")
    stop = threading.Event()
    t = threading.Thread(target=connect_until_accepted, args=(sam_client, client_id, dest, stop))
    t.start()
    raw_line(acceptor)  # the first stream's peer line
    elapsed = time.monotonic() - started
    stop.set()
    t.join()
    acceptor.close()
    control.close()
    return elapsed


def connect_until_accepted(sam_client: str, client_id: str, dest: str, stop: threading.Event) -> None:
    """The same connecting side for both contenders: STREAM CONNECT until one succeeds."""
    while not stop.is_set():
        try:
            s = raw_hello(sam_client, timeout=30)
            s.sendall(f"STREAM CONNECT ID={client_id} DESTINATION={dest} SILENT=false\n".encode())
            ok = b"RESULT=OK" in raw_line(s)
            if ok:
                stop.wait(60)
                s.close()
                return
            s.close()
        except OSError:
            pass
        stop.wait(0.5)


async def ours_fresh_listen(reactor: Any, sam_server: str, sam_client: str, client_id: str,
                            nickname: str, registry: SessionRegistry) -> float:
    """I2PServerEndpoint.listen() on a new session until a first stream arrives."""
    first: defer.Deferred[None] = defer.Deferred()

    class First(Protocol):
        def connectionMade(self) -> None:
            if not first.called:
                first.callback(None)

    started = time.monotonic()
    endpoint = I2PServerEndpoint(reactor, session=nickname, sam_address=sam_server,
                                 options=TEST_SESSION_OPTIONS, auto_close=True, registry=registry)
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


def raw_lookups(sam: str, name: str, n: int, pipelined: bool) -> tuple[float, int]:
    """*n* NAMING LOOKUPs on one plain socket; returns (seconds, replies received)."""
    s = raw_hello(sam, timeout=5)
    reader = s.makefile("rb")
    line = f"NAMING LOOKUP NAME={name}\n".encode()
    started = time.monotonic()
    replies = 0
    try:
        if pipelined:
            s.sendall(line * n)
            while replies < n and reader.readline().endswith(b"\n"):
                replies += 1
        else:
            for _ in range(n):
                s.sendall(line)
                if not reader.readline().endswith(b"\n"):
                    break
                replies += 1
    except OSError:
        pass  # a router that drops pipelined commands: count what came back
    elapsed = time.monotonic() - started
    reader.close()
    s.close()
    return elapsed, replies


async def ours_lookups(control: Any, name: str, n: int) -> None:
    for _ in range(n):
        await control.command(codec.naming_lookup(name))


# ------------------------------------------------------------------ the run


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float, Any]:
    wall, cpu = time.monotonic(), time.process_time()
    result = await fn()
    return time.monotonic() - wall, time.process_time() - cpu, result


class Bench:
    def __init__(self, reactor: Any, args: argparse.Namespace) -> None:
        self.reactor = reactor
        self.quick = args.quick
        self.reps = 1 if args.quick else args.reps
        self.size = (4 if args.quick else args.mib) * MIB
        self.profiler = Profiler(args.profile)
        self.only = set(args.only.split(",")) if args.only else set(SECTIONS)
        if self.only - set(SECTIONS):
            raise SystemExit(f"--only: unknown section(s) {', '.join(sorted(self.only - set(SECTIONS)))}")
        self.failures: list[str] = []
        self.results: dict[str, Any] = {
            "quick": self.quick, "repetitions": self.reps, "transfer_mib": self.size // MIB,
            "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}

    def failed(self, what: str) -> None:
        say(f"  FAILED: {what}")
        self.failures.append(what)

    async def run(self) -> dict[str, Any]:
        reactor = self.reactor
        workdir = tempfile.mkdtemp(prefix="txi2p-bench-")
        self.network = network = PrivateI2PNetwork(workdir, clients=2, progress=lambda t: say(t))
        say("starting the private network")
        started = time.monotonic()
        network.start()
        self.peers: list[PeerWorker] = []
        try:
            self.sam1, self.sam2 = network.sam_addresses[:2]
            say(f"starting the peers ({', '.join(PEERS)}) in their own virtualenv; their sessions come up "
                "while ours do")
            self.peers = [PeerWorker(name, self.sam1, self.sam2) for name in PEERS]
            peers_ready = defer.DeferredList([threads.deferToThread(p.wait_ready) for p in self.peers])
            self.raw = RawSessions(self.sam1, self.sam2)
            raw_ready = threads.deferToThread(self.raw.create)
            # the concurrency section gets sessions of its own: i2pd's ratchet
            # state after the other sections' traffic fails bursts of new streams
            conc_sessions = defer.Deferred.fromCoroutine(create_sessions(
                reactor, [self.sam1, self.sam2], prefix="bench-conc"))
            sessions = await wait_until_ready(reactor, network, prefix="bench", progress=say)
            self.results["router_session_start_s"] = round(time.monotonic() - started, 1)
            self.alice, self.bob = sessions[:2]
            self.registry = SessionRegistry.for_reactor(reactor)
            for s in sessions:
                self.registry.adopt(s)
            say("waiting for the raw client's and the peers' sessions")
            await raw_ready
            await peers_ready
            self.conc_sessions = await conc_sessions
            sessions += self.conc_sessions
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
        server = TunnelServer(self.reactor, self.bob.nickname, sink.port, sam_address=self.sam2,
                              options=TEST_SESSION_OPTIONS, registry=self.registry)
        server.startService()
        await server.when_listening()
        client = TunnelClient(self.reactor, self.alice.nickname, 0, server.b32 or "", sam_address=self.sam1,
                              options=TEST_SESSION_OPTIONS, registry=self.registry)
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
        opts = {"in_depth": 0, "out_depth": 0, "inbound_quantity": 4, "outbound_quantity": 4,
                "i2cp_leaseSetEncType": "4,0"}
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
        alice, bob = self.conc_sessions[:2]
        counts = [1, 10, 100] if self.quick else [1, 10, 100, 1000]
        conc: dict[str, Any] = {}
        say(f"concurrency: {', '.join(map(str, counts))} streams at once on one session")
        # memory first, before the transfers' buffers raise the process's high-water mark
        n_idle = 100 if self.quick else 1000
        say(f"  opening {n_idle} idle streams to measure memory")
        opened = {"n": 0}

        class Idle(Protocol):
            def connectionMade(self) -> None:
                opened["n"] += 1

        idle_port = bob.listen(Factory.forProtocol(Idle))
        await bob.when_accepting()
        gc.collect()
        tracemalloc.start()
        before = rss_kib()
        protos: list[Any] = []
        deadline = time.monotonic() + 300
        for start in range(0, n_idle, 50):  # in waves, as above
            protos += await defer.gatherResults([
                defer.Deferred.fromCoroutine(alice.connect(bob.destination, Factory.forProtocol(Protocol)))
                .addTimeout(120, self.reactor) for _ in range(min(50, n_idle - start))])
            while opened["n"] < len(protos) and time.monotonic() < deadline:
                await task.deferLater(self.reactor, 0.05, lambda: None)
        if opened["n"] < n_idle:
            self.failed(f"only {opened['n']} of {n_idle} idle streams were accepted")
        await task.deferLater(self.reactor, 2, lambda: None)
        gc.collect()
        after = rss_kib()
        traced, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        for p in protos:
            p.transport.loseConnection()
        await idle_port.stopListening()
        # both ends of every stream are in this process
        conc["rss_kib_per_stream"] = (after - before) / (2 * n_idle)
        conc["python_kib_per_stream"] = traced / 1024 / (2 * n_idle)
        conc["idle_streams"] = n_idle
        say(f"  per stream end: RSS {conc['rss_kib_per_stream']:.1f} KiB, Python heap "
            f"{conc['python_kib_per_stream']:.1f} KiB ({n_idle} streams, both ends here)")
        for n in counts:
            per = max(64 * 1024, (self.size // 4) // n // CHUNK * CHUNK)
            try:
                wall, failed = await concurrent_transfer(self.reactor, alice, bob, per, n)
            except Exception as e:
                self.failed(f"{n} concurrent streams: {e!r}")
                continue
            conc[str(n)] = {"streams": n, "bytes_each": per, "mbps": n * per / wall / 1e6, "failed": failed}
            if failed:
                self.failed(f"{failed} of {n} concurrent streams")
            say(f"  {n} concurrent streams of {per // 1024} KiB: {n * per / wall / 1e6:.1f} MB/s total, "
                f"{failed} failed")
        self.results["concurrency"] = conc

    # 6: control plane
    async def control(self) -> None:
        alice, bob, sam1, sam2 = self.alice, self.bob, self.sam1, self.sam2
        lookups = 50 if self.quick else 1000
        say(f"control plane: {lookups} NAMING LOOKUPs on one connection, one at a time and pipelined")
        raw_wall, _ = await threads.deferToThread(raw_lookups, sam1, bob.b32, lookups, False)
        control = await alice.bridge.control()
        ours_wall, _, _ = await timed(lambda: defer.Deferred.fromCoroutine(ours_lookups(control, bob.b32, lookups)))
        control.close()
        pipe_wall, pipe_replies = await threads.deferToThread(raw_lookups, sam1, bob.b32, lookups, True)
        ctl: dict[str, Any] = {
            "lookups": lookups,
            "raw_sequential_per_s": lookups / raw_wall,
            "txi2p_sequential_per_s": lookups / ours_wall,
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


# ------------------------------------------------------------------ outputs


def _fmt(s: dict[str, float], unit: str = "") -> str:
    if not s.get("n"):
        return "-"
    return f"{s['median']:.2f}{unit} [{s['min']:.2f}-{s['max']:.2f}]"


def _ratio(value: float | None, goal: str) -> str:
    if value is None:
        return "-"
    bound = float(goal.split()[-1])
    met = value >= bound if goal.startswith(">=") else value <= bound
    return f"{value:.2f} ({'met' if met else 'missed'})"


def _best(v: dict[str, Any]) -> str:
    best = v.get("ratio_throughput_best")
    return f"; best runs {best:.2f}" if best is not None else ""


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# txi2p benchmarks ({results['started']}, {'quick' if results['quick'] else 'full'} run)",
        "",
        f"Bulk transfers of {results['transfer_mib']} MiB, {results['repetitions']} repetitions interleaved, "
        f"{results['cpus']} CPUs; median [min-max]; ratios to the baseline measured in the same run.",
        "",
    ]
    b = results.get("bulk")
    if b:
        lines += ["| bulk, one stream | MB/s | ratio to raw (goal >= 0.97) | CPU ms per MiB | "
                  "ratio to raw (goal <= 1.1) |", "|---|---|---|---|---|"]
        for name, v in b.items():
            lines.append(f"| {name} | {_fmt(v['mbps'])} | "
                         f"{_ratio(v.get('ratio_throughput'), '>= 0.97') if name != 'raw' else 'baseline'}"
                         f"{_best(v)} | "
                         f"{_fmt(v['cpu_ms_per_mib'])} | "
                         f"{_ratio(v.get('ratio_cpu'), '<= 1.1') if name != 'raw' else 'baseline'} |")
        events = {k: v["receive_events_per_mib"]["median"] for k, v in b.items()
                  if v.get("receive_events_per_mib", {}).get("n")}
        lines += ["", f"txi2p's CPU per MiB is {b['txi2p']['ratio_cpu_to_twisted']:.2f} x that of a minimal "
                      "Twisted SAM client written in the bench (\"twisted, no txi2p\"): the rest of the gap to "
                      "raw is the reactor's cost per read. Receive events per MiB (median): "
                      + ", ".join(f"{k} {v:.0f}" for k, v in events.items()) + "."]
        lines.append("")
    for name, status in results.get("peers", {}).items():
        if status != "ready":
            lines.append(f"- peer **{name}**: {status}")
    lines.append("")
    t = results.get("tunnels")
    if t:
        lines += ["| tunnel relay | MB/s | ratio |", "|---|---|---|",
                  f"| i2pd native tunnels | {_fmt(t['i2pd native'])} | baseline |",
                  f"| txi2p TunnelServer + TunnelClient | {_fmt(t['txi2p'])} | "
                  f"{_ratio(t['ratio_throughput'], '>= 0.9')}{_best(t)} (goal >= 0.9) |", ""]
    s = results.get("shim")
    if s:
        lines += [f"| shim sendall/recv, {s['transfer_mib']:.0f} MiB | MB/s | ratio |", "|---|---|---|",
                  f"| raw | {_fmt(s['raw'])} | baseline |",
                  f"| txi2p.socket | {_fmt(s['shim'])} | {_ratio(s['ratio_throughput'], '>= 0.8')}{_best(s)} "
                  "(goal >= 0.8) |", ""]
    c = results.get("concurrency")
    if c:
        lines += ["| concurrent streams | bytes each | total MB/s | failed |", "|---|---|---|---|"]
        for value in c.values():
            if isinstance(value, dict):
                lines.append(f"| {value['streams']} | {value['bytes_each'] // 1024} KiB | {value['mbps']:.1f} | "
                             f"{value['failed']} |")
        lines += ["", f"Memory per open stream end ({c['idle_streams']} idle streams, both ends in the bench "
                      f"process): RSS {c['rss_kib_per_stream']:.1f} KiB, Python heap (tracemalloc) "
                      f"{c.get('python_kib_per_stream', float('nan')):.1f} KiB (goal < 30 KiB).", ""]
    ctl = results.get("control")
    if ctl:
        lines += [
            f"NAMING LOOKUP, {ctl['lookups']} on one connection: one at a time raw "
            f"{ctl['raw_sequential_per_s']:.0f}/s, txi2p {ctl['txi2p_sequential_per_s']:.0f}/s; "
            f"pipelined (all sent at once, raw): {ctl['raw_pipelined_replies']} of {ctl['lookups']} answered "
            f"(txi2p pipelines on this router: {ctl['txi2p_pipelines']}).",
            "",
            "| listen() to a first accepted stream (s) | raw | txi2p |", "|---|---|---|",
            f"| ready session (listen, connect, 64 KiB) | "
            f"{_fmt(ctl['ready_session_listen_to_first_stream_s']['raw'])} | "
            f"{_fmt(ctl['ready_session_listen_to_first_stream_s']['txi2p'])} |",
            f"| new session (router's session start included) | "
            f"{_fmt(ctl['new_session_listen_to_first_stream_s']['raw'])} | "
            f"{_fmt(ctl['new_session_listen_to_first_stream_s']['txi2p'])} |",
            "",
            f"Private network start to first ready sessions: {results.get('router_session_start_s')} s.",
            ""]
    if results.get("failures"):
        lines += ["**Failures:** " + "; ".join(results["failures"]), ""]
    if results.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        say("matplotlib is not installed: no plot")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [v for v in results.get("concurrency", {}).values() if isinstance(v, dict)]
    if not points:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p["streams"] for p in points], [p["mbps"] for p in points], marker="o", label="txi2p, total")
    bulk = results.get("bulk", {})
    for name, style in (("raw", "--"), ("txi2p-tahoe", ":")):
        if name in bulk and bulk[name]["mbps"]["n"]:
            ax.axhline(bulk[name]["mbps"]["median"], color="grey", linestyle=style, label=f"{name}, 1 stream")
    ax.set_xscale("log")
    ax.set_xlabel("concurrent streams on one session")
    ax.set_ylabel("total throughput (MB/s)")
    ax.set_title("txi2p throughput on the private I2P network")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def results_dir(quick: bool) -> Path:
    """Full runs write bench/results/; quick runs bench/results/quick/ (the committed figures stay)."""
    return RESULTS / "quick" if quick else RESULTS


def write_outputs(results: dict[str, Any], notes: Path | None) -> None:
    out = results_dir(results["quick"])
    out.mkdir(parents=True, exist_ok=True)
    if notes is not None and notes.exists() and not results["quick"]:
        results["notes"] = [line[2:].strip() for line in notes.read_text().splitlines() if line.startswith("- ")]
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "latest.md").write_text(markdown(results))
    plot(results, out / "throughput.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, once each (for CI)")
    parser.add_argument("--mib", type=int, default=64, help="size of a bulk transfer in MiB")
    parser.add_argument("--reps", type=int, default=7, help="repetitions of each measurement")
    parser.add_argument("--only", help=f"comma-separated sections to run (of {','.join(SECTIONS)})")
    parser.add_argument("--profile", action="store_true", help="profile the txi2p contenders (pyinstrument)")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)

    async def run(reactor: Any) -> None:
        started = time.monotonic()
        results = await Bench(reactor, args).run()
        results["duration_s"] = round(time.monotonic() - started)
        write_outputs(results, HERE / "NOTES.md")
        out = results_dir(args.quick)
        say(f"wrote {out / 'latest.json'}, latest.md and throughput.png in {results['duration_s']} s")
        print((out / "latest.md").read_text())
        if results["failures"]:
            raise SystemExit(f"{len(results['failures'])} measurement(s) failed: see above")

    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
