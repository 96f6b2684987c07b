"""The bench's baselines: a plain-socket SAM client, a minimal Twisted one, and local TCP ends.

None of this uses txi2p: it is what txi2p is measured against.
"""

from __future__ import annotations

import socket as std_socket
import threading
import time
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, task
from twisted.internet.protocol import Protocol

from txi2p.testing import TEST_SESSION_OPTIONS

MIB = 1024 * 1024
CHUNK = 64 * 1024


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
    except OSError as e:
        if not pipelined:
            print(f"[bench] raw NAMING LOOKUP {replies + 1} of {n}: {e!r}", flush=True)
        # a router that drops pipelined commands: count what came back
    elapsed = time.monotonic() - started
    reader.close()
    s.close()
    return elapsed, replies
