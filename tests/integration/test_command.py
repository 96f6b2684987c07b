"""The txi2p command against the real routers of the private network."""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.web.client import readBody

from txi2p import testing
from txi2p.address import read_key_file
from txi2p.command import run
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.testing import TEST_SESSION_OPTIONS
from txi2p.testing.network import find_i2pd
from txi2p.web import agent

pytestmark = pytest.mark.integration


async def txi2p(*argv):
    out, err = io.StringIO(), io.StringIO()
    status = await run(reactor, list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


@pytest_twisted.ensureDeferred
async def test_check_starts_a_session_and_reports_the_dialect(i2p_network):
    options = [arg for key, value in TEST_SESSION_OPTIONS.items() for arg in ("-o", f"{key}={value}")]
    status, out, err = await txi2p("check", "--sam", i2p_network.sam_addresses[0], *options)
    assert status == 0, err
    assert "SAM version:" in out and "PING keep-alive:" in out
    assert "session:         up in" in out and "lookup of ME:    its own destination" in out
    assert "the router works for txi2p" in out
    assert "starting a transient STREAM session" in err


@pytest_twisted.ensureDeferred
async def test_keygen_and_lookup_through_a_router(i2p_network, i2p_sessions, tmp_path):
    sam = i2p_network.sam_addresses[0]
    path = tmp_path / "new.key"
    status, out, err = await txi2p("keygen", str(path), "--sam", sam)
    assert status == 0, err
    assert read_key_file(path).b32 in out
    bob = i2p_sessions[1]  # published long ago (the network carried a round trip)
    status, out, err = await txi2p("lookup", bob.b32, "--sam", sam)
    assert status == 0, err
    assert f"destination: {bob.destination.base64}" in out
    status, _, err = await txi2p("lookup", "nowhere-at-all.i2p", "--sam", sam)
    assert status == 1 and "nowhere-at-all.i2p" in err


# ---------------------------------------------------------------- serve


@pytest_twisted.ensureDeferred
async def test_serve_a_directory_fetched_over_i2p_from_another_router(i2p_network, i2p_sessions, registry,
                                                                      tmp_path):
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    body = os.urandom(100_000)
    (site / "sub" / "file.bin").write_bytes(body)
    key = tmp_path / "site.key"
    options = [arg for k, v in TEST_SESSION_OPTIONS.items() for arg in ("-o", f"{k}={v}")]
    out, err, stop = io.StringIO(), io.StringIO(), defer.Deferred()
    done = defer.Deferred.fromCoroutine(run(
        reactor, ["serve", str(site), "--key", str(key), "--sam", i2p_network.sam_addresses[1], *options],
        out, err, stop=stop))
    try:
        for _ in range(120 * 4):
            if "serving" in out.getvalue() or done.called:
                break
            await deferLater(reactor, 0.25, lambda: None)
        assert "serving" in out.getvalue(), err.getvalue()
        b32 = read_key_file(key).b32
        assert out.getvalue() == f"serving {site} at http://{b32}/\n"
        assert "starting a session" in err.getvalue()  # progress while the session starts
        web = agent(reactor, bridge_config=BridgeConfig(i2p_network.sam_addresses[0]),
                    session_config=SessionConfig.build(nickname=i2p_sessions[0].nickname,
                                                       options=TEST_SESSION_OPTIONS))
        url = f"http://{b32}/sub/file.bin".encode()
        response = await testing.retry_unreachable(reactor, lambda: web.request(b"GET", url))
        assert response.code == 200
        got = await readBody(response).addTimeout(120, reactor)
        assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    finally:
        if not stop.called:
            stop.callback(None)
        status = await done
    text = err.getvalue()
    assert status == 0, text
    assert "starting it again" not in text and "Traceback" not in text, text


# ---------------------------------------------------------------- testnet
#
# ``txi2p testnet`` makes a network namespace of its own (nested in the one
# this test process entered for the shared network: that works as root and
# in a user namespace), so its routers never meet the suite's.

HELLO = """
import os, socket, sys
host, port = os.environ["I2P_SAM_ADDRESS"].rsplit(":", 1)
with socket.create_connection((host, int(port)), timeout=10) as s:
    s.sendall(b"HELLO VERSION MIN=3.0 MAX=3.3\\n")
    reply = s.makefile("rb").readline().decode().strip()
print(reply, "|", os.environ.get("I2P_SAM_ADDRESSES"), "|", os.readlink("/proc/self/ns/net"))
sys.exit(0 if reply.startswith("HELLO REPLY RESULT=OK") else 5)
"""


def start_testnet(tmp_path, *argv):
    if find_i2pd() is None:
        pytest.skip("i2pd is not installed (apt-get install i2pd, or set $I2PD)")
    out, err = tmp_path / "testnet.out", tmp_path / "testnet.err"
    work = tmp_path / "tmp"  # the network's data directory goes here
    work.mkdir()
    env = {**os.environ, "TMPDIR": str(work), "PYTHONUNBUFFERED": "1"}
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([sys.executable, "-m", "txi2p", "testnet", "--routers", "1", "--no-wait", *argv],
                                stdout=o, stderr=e, stdin=subprocess.DEVNULL, env=env)
    return proc, out, err, work


async def wait_for(check, timeout, what):
    for _ in range(int(timeout / 0.1)):
        if check():
            return
        await deferLater(reactor, 0.1, lambda: None)
    raise AssertionError(f"timed out waiting for {what}")


async def finished(proc, err, timeout=60):
    try:
        await wait_for(lambda: proc.poll() is not None, timeout, "txi2p testnet to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.read_text(errors="replace")
    if proc.returncode == 1 and "cannot make a private network namespace" in text:
        pytest.skip(text.strip().splitlines()[-1])
    return text


def routers_left(work):
    """Processes still running from the network's directory under *work*."""
    left = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(work).encode() in cmdline.read_bytes():
                left.append(cmdline.parent.name)
        except OSError:
            pass
    return left


@pytest_twisted.ensureDeferred
async def test_testnet_runs_a_command_inside_its_own_network(i2p_network, i2p_sessions, tmp_path):
    proc, out, err, work = start_testnet(tmp_path, "--", sys.executable, "-c", HELLO)
    text = await finished(proc, err)
    assert proc.returncode == 0, text
    reply, addresses, netns = (part.strip() for part in out.read_text().split("|"))
    assert reply.startswith("HELLO REPLY RESULT=OK")
    assert addresses == "127.0.0.1:7656"
    assert netns != os.readlink("/proc/self/ns/net")  # its own namespace, inside the suite's
    assert "waiting for the SAM bridges to accept connections" in text  # progress while it waits
    assert "exited with status 0" in text and "Traceback" not in text
    assert routers_left(work) == [] and list(work.iterdir()) == []
    # the suite's network, on the same addresses one namespace up, still works
    peer = i2p_sessions[1]
    status, printed, errors = await txi2p("lookup", peer.b32, "--sam", i2p_network.sam_addresses[0])
    assert status == 0 and peer.destination.base64 in printed, errors


@pytest_twisted.ensureDeferred
async def test_testnet_prints_how_to_reach_it_and_stops_on_ctrl_c(tmp_path):
    proc, out, err, work = start_testnet(tmp_path)
    try:
        await wait_for(lambda: "Ctrl-C stops the routers" in out.read_text() or proc.poll() is not None, 60,
                       "the SAM addresses")
        if proc.poll() is None:
            printed = out.read_text()
            assert "I2P_SAM_ADDRESS=127.0.0.1:7656" in printed
            assert routers_left(work)  # running until Ctrl-C
            enter = next(line for line in printed.splitlines() if "nsenter --target" in line)
            if shutil.which("nsenter"):  # the printed line works: a program inside reaches the bridge
                argv = [*shlex.split(enter.split(" -- ")[0]), "--", "env", "I2P_SAM_ADDRESS=127.0.0.1:7656",
                        sys.executable, "-c", HELLO]
                inside = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                assert inside.returncode == 0 and "RESULT=OK" in inside.stdout, inside.stderr
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        text = await finished(proc, err)  # skips if namespaces are not allowed here
    assert proc.returncode == 0, text
    assert "stopping the routers" in text and "Traceback" not in text
    assert routers_left(work) == [] and list(work.iterdir()) == []
