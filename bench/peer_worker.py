"""Drive one peer library through the benchmark's bulk transfer.

Runs in the peers' own virtualenv (``bench/.peers``), never in ours: the
PyPI package txi2p-tahoe is imported as ``txi2p`` too.  The benchmark
starts it as a subprocess and talks JSON lines over stdin/stdout:

    argv: <peer> <sam client host:port> <sam server host:port> <options json>
    out:  {"ready": true} | {"error": "..."}
    in:   {"size": N}     -> out: {"wall": s, "cpu": s} | {"error": "..."}
    in:   EOF             -> exit

The peer creates its own two sessions (one per router) once, then each
request moves N bytes one way over a new stream and waits for a one-byte
acknowledgement, like the benchmark's raw client.  Peers are not patched:
what fails is reported with its error.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

CHUNK = 64 * 1024


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def error_text() -> str:
    lines = traceback.format_exc().strip().splitlines()
    return lines[-1] + " (at " + (lines[-3].strip() if len(lines) >= 3 else "?") + ")"


class StreamMismatch(Exception):
    """The bytes that arrived are not the bytes written: reported as the peer's error."""


async def until_published(attempt: Any) -> None:
    """Run *attempt* (30 s each) until the server's lease set is published (180 s at most).

    A :class:`StreamMismatch` (bytes arrived wrong) is raised at once: retrying would hide it.
    """
    import asyncio

    deadline = time.monotonic() + 180
    while True:
        try:
            await asyncio.wait_for(attempt(), 30)
            return
        except StreamMismatch:
            raise
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def serve_asyncio_requests(transfer: Any) -> None:
    """Say ready, then run one transfer per request line until stdin closes (asyncio peers)."""
    import asyncio

    emit({"ready": True})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        try:
            result = await asyncio.wait_for(transfer(json.loads(line)["size"]), 600)
        except Exception:
            result = {"error": error_text()}
        emit(result)


def run_txi2p_tahoe(sam_client: str, sam_server: str, options: dict[str, str]) -> None:
    import tempfile

    from twisted.internet import defer, reactor, task, threads
    from twisted.internet.endpoints import TCP4ClientEndpoint
    from twisted.internet.protocol import Factory, Protocol

    from txi2p.sam.endpoints import SAMI2PStreamClientEndpoint, SAMI2PStreamServerEndpoint

    def sam(address: str) -> Any:
        host, port = address.rsplit(":", 1)
        return TCP4ClientEndpoint(reactor, host, int(port))

    state: dict[str, Any] = {}

    class Sink(Protocol):
        def connectionMade(self) -> None:
            self.count = 0

        def dataReceived(self, data: bytes) -> None:
            self.count += len(data)
            if self.count >= state["size"]:
                self.transport.write(b"k")

    class Source(Protocol):
        def __init__(self) -> None:
            self.done: defer.Deferred[None] = defer.Deferred()

        def connectionMade(self) -> None:
            block = b"x" * CHUNK
            self.transport.writeSequence([block] * (state["size"] // CHUNK))

        def dataReceived(self, data: bytes) -> None:
            if not self.done.called:
                self.done.callback(None)
                self.transport.loseConnection()

    @defer.inlineCallbacks
    def setup() -> Any:
        keyfile = tempfile.mktemp(prefix="tahoe-bench-", suffix=".key")
        server = SAMI2PStreamServerEndpoint.new(sam(sam_server), keyfile, nickname="peer-tahoe-srv",
                                                options=options)
        port = yield server.listen(Factory.forProtocol(Sink))
        dest = port.getHost().destination
        state["client"] = SAMI2PStreamClientEndpoint.new(sam(sam_client), dest, nickname="peer-tahoe-cli",
                                                         options=options)

    @defer.inlineCallbacks
    def transfer(size: int) -> Any:
        state["size"] = size
        source = Source()
        wall, cpu = time.monotonic(), time.process_time()
        yield state["client"].connect(Factory.forProtocol(lambda: source))
        yield source.done
        return {"wall": time.monotonic() - wall, "cpu": time.process_time() - cpu}

    @defer.inlineCallbacks
    def warm_up() -> Any:
        # the server's lease set is published some seconds after its session
        # comes up: small transfers until one goes through
        deadline = time.monotonic() + 180
        while True:
            try:
                yield transfer(CHUNK).addTimeout(30, reactor)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                yield task.deferLater(reactor, 1, lambda: None)

    @defer.inlineCallbacks
    def main() -> Any:
        try:
            yield setup()
            yield warm_up()
        except Exception:
            emit({"error": error_text()})
            return
        emit({"ready": True})
        while True:
            line = yield threads.deferToThread(sys.stdin.readline)
            if not line:
                return
            try:
                result = yield transfer(json.loads(line)["size"]).addTimeout(600, reactor)
            except Exception:
                result = {"error": error_text()}
            emit(result)

    main().addBoth(lambda _: reactor.stop())
    reactor.run()


def run_i2plib(sam_client: str, sam_server: str, options: dict[str, str]) -> None:
    import asyncio

    import i2plib

    def address(text: str) -> tuple[str, int]:
        host, port = text.rsplit(":", 1)
        return host, int(port)

    async def transfer(size: int) -> dict[str, Any]:
        wall, cpu = time.monotonic(), time.process_time()
        srv_reader, srv_writer = await i2plib.stream_accept("peer-i2plib-srv", sam_address=address(sam_server))
        cli_reader, cli_writer = await i2plib.stream_connect("peer-i2plib-cli", state["dest"],
                                                             sam_address=address(sam_client))
        await srv_reader.readline()  # the peer's destination
        block = b"x" * CHUNK

        async def send() -> None:
            for _ in range(size // CHUNK):
                cli_writer.write(block)
                await cli_writer.drain()

        async def receive() -> None:
            got = 0
            while got < size:
                chunk = await srv_reader.read(256 * 1024)
                if not chunk:
                    break
                got += len(chunk)
            srv_writer.write(b"k")
            await srv_writer.drain()

        await asyncio.gather(send(), receive())
        assert await cli_reader.read(1) == b"k"
        for writer in (cli_writer, srv_writer):
            writer.close()
        return {"wall": time.monotonic() - wall, "cpu": time.process_time() - cpu}

    state: dict[str, Any] = {}

    async def main() -> None:
        try:
            dest = await i2plib.new_destination(sam_address=address(sam_server))
            state["dest"] = dest.base64
            state["sessions"] = await asyncio.gather(
                i2plib.create_session("peer-i2plib-srv", sam_address=address(sam_server), destination=dest,
                                      options=options),
                i2plib.create_session("peer-i2plib-cli", sam_address=address(sam_client), options=options))
            await until_published(lambda: transfer(CHUNK))
        except Exception:
            emit({"error": error_text()})
            return
        await serve_asyncio_requests(transfer)

    asyncio.run(main())


def run_i2psam(sam_client: str, sam_server: str, options: dict[str, str]) -> None:
    import asyncio
    import contextlib

    from i2psam import SAMClient, SAMConfig
    from i2psam.client import Session

    def sam(address: str) -> Any:
        host, port = address.rsplit(":", 1)
        # Only the port: SAMConfig(host="127.0.0.1"), as in its README, turns the
        # host into an IPv4Address, which asyncio.open_connection() rejects with
        # TypeError on every connection; its default host is that address.
        if host != "127.0.0.1":
            raise ValueError(f"i2psam is given only the port here, and the SAM bridge is on {host}")
        return SAMClient(SAMConfig(port=int(port)))

    async def session(stack: contextlib.AsyncExitStack, client: Any, nickname: str, destination: str) -> Any:
        # SAMClient.session() builds SESSION CREATE from a model that keeps only
        # the fields it declares (STYLE, ID, DESTINATION, SIGNATURE_TYPE, the
        # ports, i2cp.leaseSetEncType) and silently drops any other option
        # (inbound.length, ...): with the router's default tunnels, its
        # sessions took 103 s to carry a first stream in a trial here (i2pd
        # 2.45.1).  So the same SESSION CREATE line as the other contenders'
        # goes through its raw_request(), on a control connection it keeps
        # open, and its Session wraps the result; the streams and their data
        # go through its own Session.connect_stream/accept_stream and
        # Connection.write/read.
        control = await stack.enter_async_context(client.connection())
        line = " ".join([f"SESSION CREATE STYLE=STREAM ID={nickname} DESTINATION={destination} "
                         "SIGNATURE_TYPE=7"] + [f"{k}={v}" for k, v in options.items()])
        reply = await control.raw_request(line)
        if "RESULT=OK" not in reply:
            raise ConnectionError(f"SESSION CREATE: {reply.strip()}")
        return Session(client, control, nickname, destination)

    async def transfer(size: int) -> dict[str, Any]:
        wall, cpu = time.monotonic(), time.process_time()
        block = b"x" * CHUNK

        async def send(conn: Any) -> None:
            for _ in range(size // CHUNK):
                await conn.write(block)

        async def receive(conn: Any) -> None:
            got, last, kept = 0, b"", []
            while got < size:
                last = await conn.read(256 * 1024)
                got += len(last)
                if size <= 2 * CHUNK:  # the warm-up's transfers: their bytes are checked too
                    kept.append(last)
            if got != size:
                newlines = last.count(b"\n")
                raise StreamMismatch(f"{got} bytes arrived for the {size} written in writes of {CHUNK} bytes"
                                     + (f"; the last read held {newlines} newline(s), and none was written"
                                        if newlines else ""))
            if kept and (newlines := b"".join(kept).count(b"\n")):
                raise StreamMismatch(f"the {size} bytes written in writes of {CHUNK} bytes arrived with "
                                     f"{newlines} newline(s) among them, and none was written")
            await conn.write(b"k")

        async with contextlib.AsyncExitStack() as stack:
            accepting = asyncio.ensure_future(stack.enter_async_context(state["server"].accept_stream()))
            stack.callback(accepting.cancel)
            await asyncio.sleep(0.05)  # the ACCEPT is registered first, as the bench's Twisted client does
            client = await stack.enter_async_context(state["client"].connect_stream(state["dest"]))
            _, server = await accepting
            await asyncio.gather(send(client), receive(server))
            ack = await client.read(1)
            if ack != b"k":
                raise StreamMismatch(f"the acknowledgement b'k' arrived as {ack!r}")
        return {"wall": time.monotonic() - wall, "cpu": time.process_time() - cpu}

    state: dict[str, Any] = {}

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            try:
                server_sam, client_sam = sam(sam_server), sam(sam_client)
                keys = await server_sam.dest_generate()
                state["dest"] = keys.pub
                state["server"], state["client"] = await asyncio.gather(
                    session(stack, server_sam, "peer-i2psam-srv", keys.priv),
                    session(stack, client_sam, "peer-i2psam-cli", "TRANSIENT"))
                await until_published(lambda: transfer(2 * CHUNK))  # two writes: the bytes checked
            except Exception:
                emit({"error": error_text()})
                return
            await serve_asyncio_requests(transfer)

    asyncio.run(main())


def main() -> None:
    peer, sam_client, sam_server, options = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    try:
        runners = {"txi2p-tahoe": run_txi2p_tahoe, "i2plib": run_i2plib, "i2psam": run_i2psam}
        runner = runners[peer]
    except KeyError:
        emit({"error": f"unknown peer {peer!r}"})
        return
    try:
        runner(sam_client, sam_server, options)
    except Exception:
        emit({"error": error_text()})


if __name__ == "__main__":
    main()
