"""By hand: sessions closed while their streams receive must not crash the router.

i2pd 2.58.0 crashed (heap use-after-free) about 20 s after a session's
control connection closed while that session's streams were still
receiving (issue 27, docs/routers.rst).  txi2p closes a session's streams
first (:meth:`~txi2p.session.SAMSession.close`); this test drives the
sequence hard, so that it would crash such a router again if that order
came back.  Each round creates sessions on the first client router, opens
streams from each to a session on the second router that sends without
pause, closes every session once data flows on all of them, waits past
the router's cleanup (5 s) and the streams' receive timer (20 s), and
checks that the router is still running and its SAM bridge answers.

Not collected by default (``testpaths`` leaves ``tests/byhand`` out).  Run::

    I2PD=/path/to/i2pd .venv/bin/python -m pytest tests/byhand -x -ra

Environment: ``TXI2P_TEARDOWN_ROUNDS`` (default 3; each round is a test of
its own), ``TXI2P_TEARDOWN_SESSIONS`` (3 per round),
``TXI2P_TEARDOWN_STREAMS`` (4 per session), and
``TXI2P_TEARDOWN_ORDER=control-first`` to close the control connections
while the streams are still open, as txi2p did before (to see a router
crash).  For an ASan build of i2pd, ``ASAN_OPTIONS=detect_leaks=0``; its
report goes to the router's ``stdout.log`` (kept with ``--i2p-keep``) and
into this test's failure.
"""

from __future__ import annotations

import os
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater

from txi2p import errors
from txi2p.bridge import SAMBridge
from txi2p.session import SAMSession
from txi2p.testing import TEST_SESSION_OPTIONS

pytestmark = pytest.mark.integration

ROUNDS = int(os.environ.get("TXI2P_TEARDOWN_ROUNDS", "3"))
SESSIONS = int(os.environ.get("TXI2P_TEARDOWN_SESSIONS", "3"))
STREAMS = int(os.environ.get("TXI2P_TEARDOWN_STREAMS", "4"))
ORDER = os.environ.get("TXI2P_TEARDOWN_ORDER", "txi2p")
#: Bytes each stream must have received before the sessions close.
FLOWING = 64 * 1024
#: Seconds after the close by which the crash came: cleanup 5 s, then the 20 s receive timer.
AFTER_CLOSE = 30.0
CHUNK = b"x" * 16384


class Firehose(Protocol):
    """Sends without pause until the stream ends (a pull producer on its transport)."""

    def connectionMade(self):
        self.transport.registerProducer(self, False)

    def resumeProducing(self):
        self.transport.write(CHUNK)

    def stopProducing(self):
        pass


class Sink(Protocol):
    def __init__(self):
        self.received = 0
        self.flowing = defer.Deferred()

    def dataReceived(self, data):
        self.received += len(data)
        if self.received >= FLOWING and not self.flowing.called:
            self.flowing.callback(None)


async def stream_to(session: SAMSession, dest, deadline: float) -> Sink:
    """A stream that has received FLOWING bytes, retrying whole attempts until *deadline*."""
    while True:
        try:
            sink = await session.connect(dest, Factory.forProtocol(Sink), timeout=30)
            await sink.flowing.addTimeout(30, reactor)
            return sink
        except (errors.CantReachPeer, errors.SAMConnectionLost, errors.CommandTimeout, defer.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await deferLater(reactor, 1, lambda: None)


def router_state(router) -> str:
    try:
        out = (router.datadir / "stdout.log").read_text(errors="replace")
    except OSError:
        out = ""
    report = out[out.find("AddressSanitizer"):][:6000] if "AddressSanitizer" in out else out[-3000:]
    return f"router {router.index} log:\n{router.log_tail(30)}\nits stdout/stderr:\n{report}"


@pytest.fixture(scope="module")
def firehose(i2p_sessions):
    server = i2p_sessions[1]
    factory = Factory.forProtocol(Firehose)
    port = server.listen(factory)
    pytest_twisted.blockon(server.when_accepting())
    yield server
    port.stopListening()


@pytest.mark.parametrize("round_", range(1, ROUNDS + 1))
@pytest_twisted.ensureDeferred
async def test_sessions_closed_while_their_streams_receive(i2p_network, firehose, round_):
    router = i2p_network.clients[0]
    assert router.running(), f"the router died before round {round_}\n{router_state(router)}"
    bridge = SAMBridge(reactor, router.sam_address)
    sessions = await defer.gatherResults([
        defer.Deferred.fromCoroutine(bridge.create_session("STREAM", options=TEST_SESSION_OPTIONS))
        for _ in range(SESSIONS)], consumeErrors=True)
    deadline = time.monotonic() + 120
    try:
        await defer.gatherResults([
            defer.Deferred.fromCoroutine(stream_to(session, firehose.destination, deadline))
            for session in sessions for _ in range(STREAMS)], consumeErrors=True)
    except BaseException:
        for session in sessions:
            session.close()
        raise
    assert all(s.is_open for s in sessions)
    if ORDER == "control-first":
        for session in sessions:
            session.control.close()  # the order before issue 27: streams still open
    else:
        for session in sessions:
            session.close()
    await defer.gatherResults([s.when_closed() for s in sessions])
    await deferLater(reactor, AFTER_CLOSE, lambda: None)
    assert router.running(), (
        f"the router (SAM {router.sam_address}) died after round {round_}'s sessions closed "
        f"({SESSIONS} sessions x {STREAMS} streams, order {ORDER})\n{router_state(router)}")
    control = await bridge.control()  # its SAM bridge still answers
    control.close()
