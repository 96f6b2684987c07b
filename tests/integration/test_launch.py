"""txi2p.launch() on the private network: a launched i2pd joins it (reseed_file,
router_options), serves a site another router's client fetches, reports its
stages, stops on quit(), keeps a given data directory, and never outlives the
process that launched it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.web.client import readBody
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import Data

import txi2p
from txi2p.config import SessionConfig
from txi2p.testing import TEST_SESSION_OPTIONS, enter_private_namespace, join_options, retry_unreachable
from txi2p.testing.network import find_i2pd

from . import tubs
from .tubs import adder_tub

pytestmark = pytest.mark.integration

#: Addresses and ports of launched routers: beside the test network's (198.18.0.1.., 24000..).
LAUNCHED = {name: (f"198.18.0.{200 + i}", 24200 + i) for i, name in enumerate(("site", "killed", "stopped", "foolscap", "string"))}


def joining(i2p_network, name, tmp_path):
    """launch() keywords that make a router join *i2p_network*."""
    host, port = LAUNCHED[name]
    enter_private_namespace([host])  # this process's namespace, with the network's addresses
    return {
        "i2pd_binary": find_i2pd(),
        "router_options": join_options(host, port, i2p_network.netid),
        "reseed_file": i2p_network.reseed_zip(tmp_path / f"{name}-seed.zip"),
        "timeout": 180,
    }


async def fetched_elsewhere(i2p_network, i2p_sessions, port):
    """The body of the site *port* serves, fetched by the test network's first router."""
    client = await txi2p.connect(reactor, i2p_network.sam_addresses[0])
    web = client.web_agent(session_config=SessionConfig.build(nickname=i2p_sessions[0].nickname, options=TEST_SESSION_OPTIONS))
    url = f"http://{port.getHost().destination.b32}/".encode()
    return await readBody(await retry_unreachable(reactor, lambda: web.request(b"GET", url), timeout=120))


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest_twisted.ensureDeferred
async def test_a_launched_router_serves_a_site_and_keeps_its_data_directory(i2p_network, i2p_sessions,
                                                                             registry, tmp_path):
    directory = tmp_path / "router"
    progress = []
    i2p = await txi2p.launch(reactor, data_directory=directory,
                             progress_updates=lambda *update: progress.append(update),
                             **joining(i2p_network, "site", tmp_path))
    try:
        percents = [p for p, _, _ in progress]
        assert percents[0] == 5 and percents[-1] == 100 and percents == sorted(set(percents)), progress
        assert progress[-1][1] == "done" and "peers" in [tag for _, tag, _ in progress]
        assert i2p.sam_version is not None and i2p.sam_address.startswith("127.0.0.1:")
        with pytest.raises(txi2p.DataDirectoryInUse):
            await txi2p.launch(reactor, data_directory=directory, i2pd_binary=find_i2pd())

        root = Resource()
        root.putChild(b"", Data(b"served by a launched router\n", "text/plain"))
        site = i2p.server_endpoint(session_config=SessionConfig.build(nickname="launched-site", options=TEST_SESSION_OPTIONS))
        port = await site.listen(Site(root))
        try:
            assert await fetched_elsewhere(i2p_network, i2p_sessions, port) == b"served by a launched router\n"
        finally:
            await port.stopListening()
    finally:
        pid = i2p.router.pid
        await i2p.quit()
    assert gone(pid)
    identity = (directory / "router.keys").read_bytes()

    # the same data directory again: the same router (identity kept)
    progress.clear()
    again = await txi2p.launch(reactor, data_directory=directory,
                               progress_updates=lambda *update: progress.append(update),
                               **joining(i2p_network, "site", tmp_path))
    try:
        assert (directory / "router.keys").read_bytes() == identity
        assert (directory / "i2pd.log.old").exists()  # the first run's log, kept
        assert progress[-1][0] == 100
    finally:
        await again.quit()


@pytest_twisted.ensureDeferred
async def test_a_launch_string_serves_a_site_through_the_shared_router(i2p_network, i2p_sessions, registry,
                                                                       tmp_path):
    """``i2p:<key>:80:launch=<dir>``: the reactor's registry launches the router
    (joining the test network by its launch_options) at listen()."""
    from twisted.internet.endpoints import serverFromString

    from txi2p.registry import SessionRegistry

    shared = SessionRegistry.for_reactor(reactor)
    shared.launch_options = joining(i2p_network, "string", tmp_path)
    options = ":".join(f"{k}={v}" for k, v in TEST_SESSION_OPTIONS.items())
    site = serverFromString(reactor, f"i2p:{tmp_path / 'site.key'}:80:launch={tmp_path / 'router'}:{options}")
    assert shared.router is None  # nothing launched before listen()
    root = Resource()
    root.putChild(b"", Data(b"served through launch=\n", "text/plain"))
    try:
        port = await site.listen(Site(root))
        launched = shared.router
        assert launched is not None and launched.router.running
        other = serverFromString(reactor, f"i2p:{tmp_path / 'other.key'}:81:launch=true:{options}")
        assert await other._launched_or_given_bridge() is launched.bridge  # shared, not a second router
        try:
            assert await fetched_elsewhere(i2p_network, i2p_sessions, port) == b"served through launch=\n"
        finally:
            await port.stopListening()
    finally:
        shared.launch_options = {}
        if shared.router is not None:
            pid = shared.router.router.pid
            await shared.router.quit()
            assert gone(pid)


CHILD = """
import json, sys
from twisted.internet import defer, task
import txi2p

async def main(reactor):
    options = json.loads(sys.argv[1])
    i2p = await txi2p.launch(reactor, **options)
    print(json.dumps({"pid": i2p.router.pid, "dir": str(i2p.router.data_directory)}), flush=True)
    if sys.argv[2] == "wait":
        await defer.Deferred()  # until killed

task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor)))
"""


@pytest.mark.parametrize("end", ["sigkill", "reactor_stop"])
def test_the_router_never_outlives_the_process(i2p_network, tmp_path, end):
    """A process launches a router, then is SIGKILLed (or its reactor stops):
    the router goes with it."""
    options = joining(i2p_network, "killed" if end == "sigkill" else "stopped", tmp_path)
    options["reseed_file"] = str(options["reseed_file"])
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), json.dumps(options),
                              "wait" if end == "sigkill" else "stop"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line, child.stderr.read()
        launched = json.loads(line)
        if end == "sigkill":
            assert not gone(launched["pid"])
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        deadline = time.monotonic() + 30
        while not gone(launched["pid"]):
            assert time.monotonic() < deadline, f"router {launched['pid']} outlived its parent ({end})"
            time.sleep(0.1)
        if end == "reactor_stop":
            assert not os.path.exists(launched["dir"])  # a temporary data directory, removed
    finally:
        child.kill()
        child.wait()


@pytest_twisted.ensureDeferred
async def test_a_router_that_exits_at_start_fails_with_its_log(i2p_network, tmp_path):
    stages = []
    with pytest.raises(txi2p.RouterFailed) as caught:
        await txi2p.launch(reactor, i2pd_binary=find_i2pd(), router_options={"nosuchoption": 1}, timeout=60,
                           progress_updates=lambda p, tag, s: stages.append(tag))
    assert "exited" in str(caught.value) and "nosuchoption" in caught.value.log_tail
    assert caught.value.stage == stages[-1]


@pytest_twisted.ensureDeferred
async def test_a_missing_binary_says_how_to_install_i2pd(tmp_path):
    with pytest.raises(txi2p.I2pdNotFound, match="apt-get install i2pd"):
        await txi2p.launch(reactor, i2pd_binary=tmp_path / "i2pd")


@pytest_twisted.ensureDeferred
async def test_a_foolscap_tub_connects_through_a_launched_router(i2p_network, i2p_sessions, tmp_path):
    """txi2p.foolscap.launch(): the handler Foolscap's own module cannot give."""
    foolscap_pb = pytest.importorskip("foolscap.api")
    from txi2p import foolscap as txi2p_foolscap

    options = joining(i2p_network, "foolscap", tmp_path)
    handler = txi2p_foolscap.launch(i2p_binary=options.pop("i2pd_binary"), nickname="foolscap-launched",
                                    options=dict(TEST_SESSION_OPTIONS), **options)
    server_tub = client_tub = None
    try:
        server_tub, furl, _ = await adder_tub(foolscap_pb, i2p_network.sam_addresses[1], tmp_path / "tub.key",
                                              "foolscap-launched-server")
        client_tub = tubs.client_tub(foolscap_pb, handler)
        rref, errors = None, []
        for _ in range(3):  # the launched router looks the fresh server up: it may not find it at once
            try:
                rref = await client_tub.getReference(furl).addTimeout(60, reactor)
                break
            except Exception as e:
                errors.append(repr(e))
                await deferLater(reactor, 2.0, lambda: None)
        assert rref is not None, f"no Foolscap connection through the launched router: {errors}"
        assert await rref.callRemote("add", 2, 3).addTimeout(60, reactor) == 5
        assert handler.describe() == "i2p (launched)"
    finally:
        for tub in (client_tub, server_tub):
            if tub is not None:
                await tub.stopService()
        await handler.quit()
