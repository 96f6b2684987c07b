"""Faults a real router will not produce on demand, bad input, and secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import globalLogPublisher
from twisted.python import usage

from txi2p import errors
from txi2p.address import read_key_file, write_key_file
from txi2p.bridge import SAMBridge
from txi2p.i2ptunnel import Options
from txi2p.protocol import SAMControlProtocol, Timeouts
from txi2p.sam import codec
from txi2p.testing.fakes import fake_private_key


class FakeBridge(Protocol):
    """A SAM bridge that misbehaves in the way its factory says."""

    def dataReceived(self, data):
        mode = self.factory.mode
        if mode == "silent":
            return
        if mode == "garbage":
            self.transport.write(b"\x00\xffTHIS IS NOT SAM\n")
        elif mode == "half-reply":
            self.transport.write(b"HELLO REPLY RESULT=O")
            self.transport.loseConnection()


@pytest.fixture
def fake_bridge():
    ports = []

    def start(mode):
        factory = Factory.forProtocol(FakeBridge)
        factory.mode = mode
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        ports.append(port)
        return f"127.0.0.1:{port.getHost().port}"

    yield start
    for port in ports:
        port.stopListening()


@pytest.mark.parametrize("mode,error,match", [
    ("silent", errors.CommandTimeout, r"HELLO VERSION: no reply from the SAM bridge at 127\.0\.0\.1:\d+ within 1 s"),
    ("garbage", errors.SAMProtocolError, "not a SAM reply|NUL|not UTF-8"),
    ("half-reply", errors.SAMConnectionLost, "closed"),
])
@pytest_twisted.ensureDeferred
async def test_misbehaving_bridge_fails_clearly_within_the_timeout(fake_bridge, mode, error, match):
    bridge = SAMBridge(reactor, fake_bridge(mode), timeouts=Timeouts(command=1, connect=1))
    started = time.monotonic()
    with pytest.raises(error, match=match):
        await bridge.lookup("x.i2p")
    assert time.monotonic() - started < 5


@pytest_twisted.ensureDeferred
async def test_refused_connection_names_the_address_and_what_to_check():
    port = reactor.listenTCP(0, Factory(), interface="127.0.0.1")
    address = f"127.0.0.1:{port.getHost().port}"
    await port.stopListening()
    with pytest.raises(errors.SAMConnectionFailed) as info:
        await SAMBridge(reactor, address).generate_destination()
    assert address in str(info.value) and "SAM enabled" in str(info.value)


# ---------------------------------------------------------------- secrets


def _session_create_refused(key, message):
    """SESSION CREATE with *key*, answered with an I2P_ERROR whose MESSAGE is
    *message*: the error raised and the log events written meanwhile."""
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport

    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        proto = SAMControlProtocol(Clock(), codec.hello(), "sam")
        proto.makeConnection(StringTransport())
        proto.dataReceived(b"HELLO REPLY RESULT=OK VERSION=3.3\n")
        d = proto.command(codec.session_create("STREAM", "s", key.base64))
        proto.dataReceived(f'SESSION STATUS RESULT=I2P_ERROR MESSAGE="{message}"\n'.encode())
        failures = []
        d.addErrback(failures.append)
        return failures[0].value, logged
    finally:
        globalLogPublisher.removeObserver(logged.append)


def test_private_key_echoed_by_a_router_never_reaches_messages_or_logs():
    from twisted.logger import formatEvent

    key = fake_private_key()
    # Java I2P echoes the command, private key and all, in some errors
    err, logged = _session_create_refused(key, f"bad options in SESSION CREATE DESTINATION={key.base64} FOO")
    secret = key.base64[-200:]  # the private part of the blob
    texts = [str(err), repr(err), err.message, repr(key), str(key)]
    texts += [str(event) for event in logged]
    texts += [formatEvent(event) for event in logged]
    assert "redacted" in err.message
    for text in texts:
        assert secret not in text and key.base64 not in text


#: A key-file writer that stops for good at the step named by argv[2]
#: (``os.fsync`` of the new content, or ``os.replace`` into place) and
#: says so on stdout: the test then kills it there.
_STOPPED_WRITER = """
import os, sys, time
from txi2p.address import write_key_file
from txi2p.testing.fakes import fake_private_key

def stop(*args, **kwargs):
    print("stopped", flush=True)
    time.sleep(60)

setattr(os, sys.argv[2], stop)
write_key_file(sys.argv[1], fake_private_key(11))
print("finished", flush=True)
"""


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_key_file_is_never_half_written(tmp_path, step):
    """A writer killed mid-write leaves the previous key whole, mode 0600.

    The writer is stopped and killed at a known step, after the new key's
    bytes are written and before it is in place (no timing): a write in
    place, or a rename before the data is synced, fails this test.
    """
    path = tmp_path / "k.key"
    old = fake_private_key(7)
    write_key_file(path, old)
    proc = subprocess.Popen([sys.executable, "-c", _STOPPED_WRITER, str(path), step],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        said = proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert said == "stopped", f"the writer never called os.{step} (it said {said!r})"
    assert read_key_file(path) == old
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "k.key"]
    assert all(name.endswith(".tmp") for name in leftovers)  # only ever a temp file, never the key


def test_corrupt_key_file_is_not_replaced_by_an_endpoint(tmp_path):
    from txi2p.config import SessionConfig
    from txi2p.registry import SessionRegistry

    path = tmp_path / "node.key"
    path.write_text("garbage")
    registry = SessionRegistry(reactor)
    d = defer.Deferred.fromCoroutine(registry.acquire(SAMBridge(reactor, "127.0.0.1:1"),
                                                      SessionConfig.make("n", str(path))))
    failures = []
    d.addErrback(failures.append)
    assert failures and failures[0].check(errors.TxI2PError)
    assert "node.key" in str(failures[0].value)
    assert path.read_text() == "garbage"


# ---------------------------------------------------------------- exposure


@pytest.mark.parametrize("text", [
    "i2p:site.i2p:samaddr=10.0.0.5\\:7656",
    "i2p:site.i2p:samaddr=sam.example.org\\:7656",
])
def test_remote_sam_needs_an_explicit_option(text):
    with pytest.raises(ValueError, match="not on this machine"):
        clientFromString(reactor, text)
    assert clientFromString(reactor, text + ":allowRemote=true").bridge_config.allow_remote


def test_remote_sam_through_03x_api_endpoint_is_explicit():
    ep = serverFromString(reactor, "i2p:k.key:80:api=SAM:apiEndpoint=tcp\\:10.0.0.5\\:7656")
    assert ep.bridge_config.sam_address == "10.0.0.5:7656" and ep.bridge_config.allow_remote


def test_credentials_go_into_hello():
    bridge = SAMBridge(reactor, "127.0.0.1:7656", user="alice", password="s3cret pass")
    hello = bridge.hello_command()
    assert hello.encode() == b'HELLO VERSION MIN=3.0 MAX=3.3 USER=alice PASSWORD="s3cret pass"\n'
    assert "s3cret" not in repr(hello)


# ---------------------------------------------------------------- tunnel configs


@pytest.mark.parametrize("ini,match", [
    ("[a]\ntype = server\nport = 80\nbogus = 1\n", "unknown setting"),
    ("[a]\ntype = server\nport = http\n", "port must be an integer"),
    ("[a]\ntype = server\nport = 70000\n", "port must be from"),
    ("[a]\ntype = client\nport = 8081\n", "--dest is required"),
    ("[a]\ntype = tunnel\nport = 1\n", "type must be 'server' or 'client'"),
    ("[a]\ntype = server\nport = 80\nsession = a b\n", "session"),
    ("[a]\ntype = server\nport = 80\ntimeout = soon\n", "timeout"),
    ("[a]\ntype = server\nport = 80\nsamaddr = nowhere\n", "SAM address"),
    ("not an ini file\n", "not a valid INI"),
    ("", "no \\[tunnel\\] sections"),
])
def test_bad_tunnel_configs_fail_before_anything_starts(tmp_path, ini, match):
    path = tmp_path / "tunnels.ini"
    path.write_text(ini)
    with pytest.raises(usage.UsageError, match=match):
        Options().parseOptions(["--config", str(path)])


def test_good_tunnel_config_and_command_lines(tmp_path):
    path = tmp_path / "t.ini"
    path.write_text("[web]\ntype = server\nport = 8080\nkeyfile = w.key\noption.inbound.quantity = 3\n"
                    "[c]\ntype = client\ndest = x.i2p\nport = 8081\nnconnect = 5\ntimeout = 60\n")
    opts = Options()
    opts.parseOptions(["--config", str(path)])
    server, client = opts["specs"]
    assert server["options"] == {"inbound.quantity": "3"} and server["host"] == "127.0.0.1"
    assert client["interface"] == "127.0.0.1" and client["nconnect"] == 5 and client["timeout"] == 60
    opts = Options()
    opts.parseOptions(["client", "--dest", "x.i2p", "--port", "8081", "--option", "inbound.length=1"])
    assert opts["specs"][0]["options"] == {"inbound.length": "1"}
    with pytest.raises(usage.UsageError, match="cannot read"):
        Options().parseOptions(["--config", str(tmp_path / "missing.ini")])
    with pytest.raises(usage.UsageError, match="server' or 'client"):
        Options().parseOptions([])


def test_write_key_file_mode(tmp_path):
    path = tmp_path / "k"
    old = os.umask(0)
    try:
        write_key_file(path, fake_private_key())
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_close_after_flush_unregisters_the_producer_first():
    """A paused producer on a TCP transport would turn the close into a resume."""
    from twisted.internet.testing import StringTransport

    from txi2p.protocol import close_after_flush

    class HalfCloseable(StringTransport):
        write_closed = False

        def loseWriteConnection(self):
            self.write_closed = True

    for half in (False, True):
        transport = HalfCloseable()
        transport.registerProducer(StringTransport(), True)
        close_after_flush(transport, half=half)
        assert transport.producer is None
        assert transport.write_closed if half else transport.disconnecting


def test_tunnel_sides_take_half_closes():
    """Without IHalfCloseableProtocol, Twisted turns a peer's half-close into a full close."""
    from twisted.internet.interfaces import IHalfCloseableProtocol

    from txi2p.tunnel import _Side

    assert IHalfCloseableProtocol.implementedBy(_Side)


@pytest.mark.parametrize("part", [slice(-300, None), slice(600, 700), slice(None, None)])
def test_partial_key_echo_is_redacted(part):
    """Any part of the key a command carried is cut out of the reply's error and logs."""
    from twisted.logger import formatEvent

    key = fake_private_key()
    echoed = key.base64[part]
    err, logged = _session_create_refused(key, f"bad key ...{echoed} here")
    assert err.message.startswith("bad key ...<redacted>") and err.message.endswith(" here")
    texts = [str(err), repr(err), err.message] + [formatEvent(event) for event in logged]
    for text in texts:
        for start in range(0, len(echoed) - errors.SECRET_RUN + 1):
            assert echoed[start:start + errors.SECRET_RUN] not in text


def test_password_echo_is_redacted():
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport

    proto = SAMControlProtocol(Clock(), codec.hello(user="alice", password="hunter2"), "sam")
    proto.makeConnection(StringTransport())
    failures = []
    proto.ready.addErrback(failures.append)
    proto.dataReceived(b'HELLO REPLY RESULT=I2P_ERROR MESSAGE="wrong PASSWORD=hunter2 for alice"\n')
    assert failures and "hunter2" not in str(failures[0].value)
    assert "alice" in str(failures[0].value)


def test_redact_secrets_leaves_other_text():
    secret = fake_private_key().base64
    assert errors.redact_secrets("STYLE=STREAM unknown option", [secret]) == "STYLE=STREAM unknown option"
    assert errors.redact_secrets(f"a {secret[100:130]} b {secret[5:40]}", [secret]) == "a <redacted> b <redacted>"
