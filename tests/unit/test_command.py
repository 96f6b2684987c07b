"""The txi2p command, against the in-process fake bridge of each router profile."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.logger import Logger

from txi2p.address import read_key_file, write_key_file
from txi2p.command import run
from txi2p.testing.fake_bridge import PROFILES
from txi2p.testing.fakes import fake_private_key


async def txi2p(*argv):
    out, err = io.StringIO(), io.StringIO()
    status = await run(reactor, list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest_twisted.ensureDeferred
async def test_check_reports_what_each_router_speaks(fake_sam, profile):
    fake, sam = fake_sam(PROFILES[profile])
    fake.names["ME"] = fake.key.destination.base64
    status, out, err = await txi2p("check", "--sam", sam, "-o", "inbound.length=0")
    assert status == 0, err
    version = "3.3" if "3.3" in PROFILES[profile].versions else "3.0"  # what each answers for MAX=3.3
    assert f"SAM version:     {version}" in out
    keeps = PROFILES[profile].ping == "keep"
    assert ("PING keep-alive: yes" in out) == keeps and ("closes on PING" in out) == (not keeps)
    assert "up in" in out and fake.key.b32 in out and "its own destination" in out
    assert "the router works for txi2p" in out
    # What check probed is apart from what it only assumed: it never asks
    # for a PRIMARY session, so the spelling is assumed, not learned.
    learned = next(line for line in out.splitlines() if line.startswith("learned:"))
    assumed = next(line for line in out.splitlines() if line.startswith("assumed:"))
    assert f"version='{version}'" in learned
    assert ("ping=" in learned) == (version == "3.3")  # probed only where the spec leaves it open
    assert "primary_style=" in assumed and "primary_style=" not in learned
    assert "ports=" in assumed and "ports=" not in learned
    assert "install:         ok" in out  # txi2p alone (tests/unit/test_installation.py: when it is not)
    assert "connecting to the SAM bridge" in err and "readiness check" in err  # progress while it waits
    create = next(c for c in fake.commands if c.startswith("SESSION CREATE"))
    assert "inbound.length=0" in create


@pytest_twisted.ensureDeferred
async def test_keygen_writes_a_new_key_file_and_never_overwrites(fake_sam, tmp_path):
    _, sam = fake_sam(PROFILES["i2pd 2.58.0"])
    path = tmp_path / "site.key"
    status, out, _ = await txi2p("keygen", str(path), "--sam", sam)
    assert status == 0
    key = read_key_file(path)
    assert key.b32 in out and oct(path.stat().st_mode & 0o777) == "0o600"
    status, _, err = await txi2p("keygen", str(path), "--sam", sam)
    assert status == 1 and "never overwritten" in err
    assert read_key_file(path) == key


@pytest_twisted.ensureDeferred
async def test_address_of_a_key_file_and_of_a_destination(tmp_path):
    key = fake_private_key()
    path = tmp_path / "k.key"
    write_key_file(path, key)
    for source in (str(path), key.destination.base64):
        status, out, _ = await txi2p("address", source)
        assert status == 0
        assert f"b32:         {key.b32}" in out and f"destination: {key.destination.base64}" in out
    dashed = next(k for k in iter(fake_private_key, None) if k.destination.base64.startswith("-"))
    status, out, err = await txi2p("address", dashed.destination.base64)  # not taken for an option
    assert status == 0, err
    assert f"b32:         {dashed.b32}" in out
    status, _, err = await txi2p("address", "not-a-destination")
    assert status == 1 and "neither a key file nor a base64 destination" in err
    (tmp_path / "bad.key").write_text("garbage")
    status, _, err = await txi2p("address", str(tmp_path / "bad.key"))
    assert status == 1 and "bad.key" in err and "left untouched" in err


@pytest.mark.parametrize("profile", ["i2pd 2.45.1", "Java I2P 2.7.0"])
@pytest_twisted.ensureDeferred
async def test_lookup_found_and_not_found(fake_sam, profile):
    fake, sam = fake_sam(PROFILES[profile])
    dest = fake_private_key().destination
    fake.names["site.i2p"] = dest.base64
    status, out, _ = await txi2p("lookup", "site.i2p", "--sam", sam)
    assert status == 0 and dest.b32 in out and dest.base64 in out
    status, _, err = await txi2p("lookup", "nowhere.i2p", "--sam", sam)
    assert status == 1 and "nowhere.i2p" in err and "wait a few seconds and retry" in err


@pytest_twisted.ensureDeferred
async def test_errors_say_what_to_check():
    status, _, err = await txi2p("lookup", "site.i2p", "--sam", "127.0.0.1:1")
    assert status == 1 and "could not connect to the SAM bridge at 127.0.0.1:1" in err and "refused.." not in err
    status, _, err = await txi2p("check", "--sam", "10.1.2.3:7656")
    assert status == 1 and "not on this machine" in err and "allow_remote" in err
    status, _, err = await txi2p("check", "-o", "inbound.length")
    assert status == 1 and "KEY=VALUE" in err
    status, _, err = await txi2p("frobnicate")
    assert status == 2 and "invalid choice" in err


def test_python_dash_m_runs_the_command(tmp_path):
    key = fake_private_key()
    write_key_file(tmp_path / "k.key", key)
    done = subprocess.run([sys.executable, "-m", "txi2p", "address", str(tmp_path / "k.key")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and key.b32 in done.stdout
    done = subprocess.run([sys.executable, "-m", "txi2p", "address", "nope"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "error" in done.stderr


@pytest_twisted.ensureDeferred
async def test_clientkey_writes_a_key_file_and_prints_the_service_line(tmp_path):
    from txi2p import private

    path = tmp_path / "friend.key"
    status, out, err = await txi2p("clientkey", str(path), "--name", "friend")
    assert status == 0, err
    key = private.read_client_key(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert f"friend:{key}" in out.splitlines()
    status, out, err = await txi2p("clientkey", str(path))
    assert status == 1 and "never overwritten" in err
    status, out, err = await txi2p("clientkey", str(tmp_path / "x.key"), "--name", "no spaces")
    assert status == 1 and "client name" in err and not (tmp_path / "x.key").exists()
    # dh: the service lists the key's public half, never the key
    path = tmp_path / "dh.key"
    status, out, err = await txi2p("clientkey", str(path), "--name", "friend", "--auth", "dh")
    assert status == 0, err
    key = private.read_client_key(path)
    assert f"friend:{private.client_public_key(key)}" in out.splitlines() and key not in out


# ---------------------------------------------------------------- serve, testnet


def started(*argv):
    """Run a command that runs until stopped: (its Deferred status, out, err, stop)."""
    out, err, stop = io.StringIO(), io.StringIO(), defer.Deferred()
    return defer.Deferred.fromCoroutine(run(reactor, list(argv), out, err, stop=stop)), out, err, stop


async def until_printed(stream, text, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        if text in stream.getvalue():
            return
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"{text!r} never printed:\n{stream.getvalue()}")


@pytest_twisted.ensureDeferred
async def test_serve_argument_errors_say_what_to_check(tmp_path):
    status, _, err = await txi2p("serve", str(tmp_path / "nope"))
    assert status == 1 and "is not a directory" in err
    status, _, err = await txi2p("serve", str(tmp_path), "--sam", "10.1.2.3:7656")
    assert status == 1 and "not on this machine" in err
    status, _, err = await txi2p("serve", str(tmp_path), "-o", "inbound.length")
    assert status == 1 and "KEY=VALUE" in err
    status, _, err = await txi2p("serve", str(tmp_path), "--port", "0")
    assert status == 1 and "port must be an integer from 1 to 65535" in err
    status, _, err = await txi2p("serve", str(tmp_path), "--sam", "127.0.0.1:1")
    assert status == 1 and "could not connect to the SAM bridge at 127.0.0.1:1" in err
    status, _, err = await txi2p("serve")
    assert status == 2 and "DIR" in err


@pytest_twisted.ensureDeferred
async def test_serve_stopped_while_its_session_starts(tmp_path):
    """A router that never answers: Ctrl-C (the stop) still ends it at once, cleanly."""
    silent = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
    try:
        done, _, err, stop = started("serve", str(tmp_path), "--sam", f"127.0.0.1:{silent.getHost().port}")
        await until_printed(err, "starting a session")
        await deferLater(reactor, 0.2, lambda: None)
        Logger(namespace="txi2p.endpoints").warn("the session of {b32} ended", b32="site.b32.i2p")
        stop.callback(None)
        assert await done.addTimeout(5, reactor) == 0
        assert "[txi2p] warn: the session of site.b32.i2p ended" in err.getvalue()  # logged warnings show
        assert "stopped before the site was up" in err.getvalue()
    finally:
        await silent.stopListening()


class FakeNetwork:
    """Stands for PrivateI2PNetwork: no routers, SAM addresses given by the test."""

    def __init__(self, directory, clients, floodfills, *, i2pd, progress, sam, start_raises=None):
        self.directory, self.i2pd, self.progress = directory, i2pd, progress
        self.routers = [SimpleNamespace(host=f"198.18.0.{i + 1}") for i in range(floodfills + clients)]
        self.sam_addresses = [sam] * clients
        self.clients = [SimpleNamespace(sam_address=sam)] * clients
        self.start_raises = start_raises
        self.started = self.stopped = False

    def start(self):
        self.progress("starting (fake)")
        if self.start_raises is not None:
            raise self.start_raises
        self.started = True

    def describe(self):
        return "router 3 (198.18.0.3, fake)"

    def stop(self):
        self.stopped = True

    def logs(self, lines=60):
        return "(fake logs)"


@pytest.fixture
def fake_testnet(monkeypatch, fake_sam):
    """``txi2p testnet`` builds FakeNetworks on a fake SAM bridge; returns the list of them."""
    from txi2p.testing import namespace, network

    fake, sam = fake_sam(PROFILES["i2pd 2.45.1"])
    made = []
    settings = SimpleNamespace(fake=fake, sam=sam, made=made, start_raises=None, namespaces=[])

    def make(directory, clients, floodfills, *, i2pd, progress):
        net = FakeNetwork(directory, clients, floodfills, i2pd=i2pd, progress=progress, sam=sam,
                          start_raises=settings.start_raises)
        made.append(net)
        return net

    def enter(addresses, fresh=False):  # never move the test process itself
        settings.namespaces.append((list(addresses), fresh))
        return True

    monkeypatch.setattr(network, "PrivateI2PNetwork", make)
    monkeypatch.setattr(namespace, "enter_private_namespace", enter)
    return settings


@pytest_twisted.ensureDeferred
async def test_testnet_errors_before_anything_starts(fake_testnet, monkeypatch, tmp_path):
    from txi2p.testing import namespace, network

    status, _, err = await txi2p("testnet", "--routers", "0")
    assert status == 2 and "not a number from 1 to 50" in err
    status, _, err = await txi2p("testnet", "--i2pd", str(tmp_path / "no-i2pd"))
    assert status == 1 and "missing or not executable" in err and "--i2pd PATH" in err
    monkeypatch.setattr(network, "find_i2pd", lambda: None)
    status, _, err = await txi2p("testnet")
    assert status == 1 and "i2pd is not installed: apt-get install i2pd" in err
    status, _, err = await txi2p("testnet", "--i2pd", "/bin/true", "--", "no-such-command-here", "x")
    assert status == 1 and "no-such-command-here: command not found" in err
    assert fake_testnet.made == []

    def refuse(addresses, fresh=False):
        raise namespace.NamespaceUnavailable("not root, and unprivileged user+network namespaces are "
                                             "not available: Operation not permitted")

    monkeypatch.setattr(namespace, "enter_private_namespace", refuse)
    status, _, err = await txi2p("testnet", "--i2pd", "/bin/true")
    assert status == 1 and "cannot make a private network namespace" in err and "run as root" in err
    net = fake_testnet.made[-1]
    assert net.stopped and not net.directory.exists()


@pytest_twisted.ensureDeferred
async def test_testnet_runs_a_command_inside_and_exits_with_its_status(fake_testnet, capfd):
    script = "import os, sys; print('child sees', os.environ['I2P_SAM_ADDRESSES']); sys.exit(3)"
    status, _, err = await txi2p("testnet", "--i2pd", "/bin/true", "--routers", "2", "--no-wait",
                                 "--", sys.executable, "-c", script)
    assert status == 3, err
    sam = fake_testnet.sam
    assert f"child sees {sam},{sam}" in capfd.readouterr().out
    [net] = fake_testnet.made
    assert net.started and net.stopped and not net.directory.exists()
    assert len(net.routers) == 4 and fake_testnet.namespaces == [([f"198.18.0.{i}" for i in range(1, 5)], True)]
    assert f"inside the network (I2P_SAM_ADDRESS={sam})" in err and "exited with status 3" in err


@pytest_twisted.ensureDeferred
async def test_testnet_stop_ends_the_command_then_the_routers(fake_testnet):
    done, _, err, stop = started("testnet", "--i2pd", "/bin/true", "--no-wait", "--",
                                 sys.executable, "-c", "import time; time.sleep(60)")
    await until_printed(err, "inside the network")
    stop.callback(None)
    assert await done.addTimeout(15, reactor) == 128 + 15  # SIGTERM
    assert "(SIGTERM)" in err.getvalue() and "stopping the routers" in err.getvalue()
    assert fake_testnet.made[0].stopped


@pytest_twisted.ensureDeferred
async def test_testnet_without_a_command_says_how_to_reach_it(fake_testnet, tmp_path):
    fake_testnet.fake.names["ME"] = fake_testnet.fake.key.destination.base64
    done, out, err, stop = started("testnet", "--i2pd", "/bin/true", "--routers", "1", "--keep")
    await until_printed(out, "Ctrl-C stops the routers")
    [net] = fake_testnet.made
    assert not net.stopped
    text = out.getvalue()
    assert f"I2P_SAM_ADDRESS={fake_testnet.sam}" in text
    assert f"nsenter --target {os.getpid()} --net -- env I2P_SAM_ADDRESS={fake_testnet.sam}" in text
    # without --no-wait it made a session on the router first (the readiness probe), and closed it
    assert any(c.startswith("SESSION CREATE") and "testnet-probe1" in c for c in fake_testnet.fake.commands)
    assert "the network is up" in err.getvalue()
    stop.callback(None)
    assert await done.addTimeout(5, reactor) == 0
    assert net.stopped and net.directory.exists() and f"kept the routers' data and logs in {net.directory}" in \
        err.getvalue()
    net.directory.rmdir()


@pytest.mark.parametrize("command", [[], ["--", "true"]])
@pytest_twisted.ensureDeferred
async def test_testnet_interrupted_while_starting_stops_the_routers(fake_testnet, command):
    fake_testnet.start_raises = KeyboardInterrupt()
    status, _, err = await txi2p("testnet", "--i2pd", "/bin/true", *command)
    assert status == (130 if command else 0)
    assert "interrupted while starting" in err and "stopping the routers" in err and "Traceback" not in err
    assert fake_testnet.made[0].stopped


@pytest_twisted.ensureDeferred
async def test_testnet_ends_when_a_router_does(fake_testnet):
    done, _, err, _ = started("testnet", "--i2pd", "/bin/true", "--no-wait")
    await until_printed(err, "the SAM bridges are up")
    [net] = fake_testnet.made
    net.routers[2] = SimpleNamespace(host="198.18.0.3", index=3, log_tail=lambda lines: "the last words",
                                     process=SimpleNamespace(poll=lambda: 9, returncode=9))
    assert await done.addTimeout(5, reactor) == 1
    assert "error: router 3 exited (status 9); the end of its log:\nthe last words" in err.getvalue()
    assert net.stopped
