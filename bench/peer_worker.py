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
            deadline = time.monotonic() + 180
            while True:  # until the server's lease set is published
                try:
                    await asyncio.wait_for(transfer(CHUNK), 30)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(1)
        except Exception:
            emit({"error": error_text()})
            return
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

    asyncio.run(main())


def main() -> None:
    peer, sam_client, sam_server, options = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    try:
        runner = {"txi2p-tahoe": run_txi2p_tahoe, "i2plib": run_i2plib}[peer]
    except KeyError:
        emit({"error": f"unknown peer {peer!r}"})
        return
    try:
        runner(sam_client, sam_server, options)
    except Exception:
        emit({"error": error_text()})


if __name__ == "__main__":
    main()
