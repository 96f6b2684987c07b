"""launch(), connect() and the I2P object, without a real router: configuration
rendering, stage parsing, fake i2pd binaries (shell scripts), the child guard,
and the fake SAM bridge."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.web.client import URI

import txi2p
from txi2p.config import BridgeConfig, SessionConfig
from txi2p.endpoints import I2PClientEndpoint
from txi2p.errors import SAMConnectionFailed
from txi2p.i2p import I2PWebEndpoints
from txi2p.i2pd import (
    STAGES,
    DataDirectoryInUse,
    I2pdNotFound,
    RouterFailed,
    StageTracker,
    apply_options,
    find_i2pd_binary,
    free_sam_port,
    render_config,
    router_settings,
)
from txi2p.launcher import launch_settings
from txi2p.registry import SessionRegistry
from txi2p.testing.fake_bridge import I2PD_2_45

#: The lines of a real i2pd 2.45.1 start on the private network (abridged).
LOG_2_45 = """\
13:49:51@153/none - i2pd v2.45.1 (0.9.57) starting...
13:49:51@153/info - NetDb: 0 routers loaded (0 floodfils)
13:49:51@153/warn - Reseed: Can't load reseed certificates from /x/certificates/reseed
13:49:51@153/info - Reseed: Downloading SU3 from https://reseed.example/i2pseeds.su3
13:49:51@153/info - NetDb: RouterInfo added: U5Wadiv6~r6HpjmO9nwlcP4EsEdx6mTn4Ua7T-L1CWM=
13:49:51@153/info - Clients: Starting SAM bridge at 127.0.0.1:17700
13:49:53@353/info - I2NP: Outbound tunnel 2114694714 has been created
13:49:58@353/info - I2NP: Inbound tunnel 3346715517 has been created
""".splitlines()


def test_the_config_has_sam_on_loopback_and_the_rest_off(tmp_path):
    text = render_config(router_settings(tmp_path, 7777))
    assert "[sam]\nenabled = true\naddress = 127.0.0.1\nport = 7777" in text
    for section in ("http", "httpproxy", "socksproxy", "bob", "i2cp", "i2pcontrol", "upnp"):
        assert f"[{section}]\nenabled = false" in text
    assert "floodfill = false" in text and "loglevel = info" in text
    assert f"logfile = {tmp_path / 'i2pd.log'}" in text
    assert "[sam]\nenabled = false" in render_config(router_settings(tmp_path, None))


def test_router_options_are_i2pds_names_on_top():
    settings = apply_options(router_settings(__import__("pathlib").Path("/d"), 1), {
        "netid": 77, "reservedrange": False, "reseed.zipfile": "/z.zip", "exploratory.inbound.length": 0})
    assert settings[""]["netid"] == "77" and settings[""]["reservedrange"] == "false"
    assert settings["reseed"] == {"zipfile": "/z.zip"}
    assert settings["exploratory"] == {"inbound.length": "0"}
    text = render_config(settings)
    assert text.index("netid = 77") < text.index("[http]")  # top-level options come before any section
    for bad in ({"net id": 1}, {"[sam]": 1}, {"netid": "1\nfloodfill = true"}):
        with pytest.raises(ValueError):
            apply_options(settings, bad)


def test_launch_refuses_options_it_sets_itself(tmp_path):
    with pytest.raises(ValueError, match=r"sam\.address"):
        launch_settings("/bin/true", tmp_path, 1, {"sam.address": "0.0.0.0"})
    with pytest.raises(ValueError, match="reseed_file"):
        launch_settings("/bin/true", tmp_path, 1, reseed_file=tmp_path / "missing.zip")
    zipped = tmp_path / "seed.zip"
    zipped.write_bytes(b"PK")
    settings = launch_settings("/bin/true", tmp_path, 1, {"reseed.threshold": 0}, reseed_file=zipped)
    assert settings["reseed"] == {"zipfile": str(zipped), "threshold": "0"}


def test_stages_rise_from_the_log_and_ready_needs_a_hello():
    tracker = StageTracker()
    seen = tracker.see("spawned")
    for line in LOG_2_45:
        seen += tracker.feed(line)
    assert [s.tag for s in seen] == ["starting", "process", "netdb", "reseeding", "peers", "sam_started",
                                     "tunnel", "tunnels"]
    assert not tracker.ready  # the bridge has not answered a HELLO yet
    seen += tracker.see("sam")
    assert tracker.ready and seen[-1].percent == 100
    percents = [s.percent for s in seen]
    assert percents == sorted(set(percents)) and percents[0] == 5
    assert [s.percent for s in STAGES] == sorted({s.percent for s in STAGES})


def test_a_reused_data_directory_reports_peers_before_a_reseed_line():
    tracker = StageTracker()
    seen = tracker.feed("NetDb: 42 routers loaded (2 floodfils)") + tracker.feed("Reseed: Downloading SU3")
    assert [s.tag for s in seen] == ["peers"]  # never goes back to "reseeding"
    quiet = StageTracker()
    assert quiet.feed("Reseed: 13 certificates loaded") == []  # every start loads them: not a reseed


def test_a_missing_binary_says_how_to_install(tmp_path, monkeypatch):
    with pytest.raises(I2pdNotFound, match="apt-get install i2pd"):
        find_i2pd_binary(tmp_path / "nope")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("shutil.which", lambda *a, **k: None)
    with pytest.raises(I2pdNotFound, match=r"not found on \$PATH"):
        find_i2pd_binary()


def test_free_sam_ports_leave_the_udp_port_free():
    port = free_sam_port()
    assert 1 < port < 65536


def _fake_i2pd(tmp_path, body):
    script = tmp_path / "bin" / "i2pd"
    script.parent.mkdir(exist_ok=True)
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return str(script)


@pytest_twisted.ensureDeferred
async def test_a_router_that_exits_fails_with_its_stage_and_log_tail(tmp_path):
    binary = _fake_i2pd(tmp_path, """\
        for a in "$@"; do case "$a" in --datadir=*) d="${a#--datadir=}";; esac; done
        echo "12:00:00@1/none - i2pd v9.9.9 (0.9.99) starting..." > "$d/i2pd.log"
        echo "12:00:00@1/error - Daemon: something broke" >> "$d/i2pd.log"
        echo "on stdout before exiting"
        exit 3
        """)
    stages = []
    with pytest.raises(RouterFailed) as caught:
        await txi2p.launch(reactor, i2pd_binary=binary, timeout=30,
                           progress_updates=lambda p, tag, s: stages.append(tag))
    error = caught.value
    assert error.stage == "process" and stages == ["starting", "process"]
    assert "exit code 3" in str(error) and "something broke" in error.log_tail
    assert "on stdout before exiting" in error.log_tail


@pytest_twisted.ensureDeferred
async def test_a_temporary_data_directory_is_removed_and_a_given_one_kept(tmp_path, monkeypatch):
    made = []
    real = __import__("tempfile").mkdtemp
    monkeypatch.setattr("tempfile.mkdtemp", lambda **kw: made.append(real(dir=tmp_path, **kw)) or made[-1])
    binary = _fake_i2pd(tmp_path, "exit 1\n")
    with pytest.raises(RouterFailed):
        await txi2p.launch(reactor, i2pd_binary=binary, timeout=30)
    assert made and not os.path.exists(made[0])
    kept = tmp_path / "kept"
    with pytest.raises(RouterFailed):
        await txi2p.launch(reactor, i2pd_binary=binary, data_directory=kept, timeout=30)
    assert (kept / "i2pd.conf").exists()


@pytest_twisted.ensureDeferred
async def test_a_router_never_ready_is_stopped_after_the_timeout(tmp_path):
    binary = _fake_i2pd(tmp_path, "exec sleep 60\n")
    started = time.monotonic()
    with pytest.raises(RouterFailed, match="not ready after 1 s") as caught:
        await txi2p.launch(reactor, i2pd_binary=binary, data_directory=tmp_path / "d", timeout=1)
    assert caught.value.stage == "starting"
    assert time.monotonic() - started < 30  # stopped (SIGTERM), not waited for
    assert not (tmp_path / "d" / "txi2p.lock").exists() or _lock_is_free(tmp_path / "d")


def _lock_is_free(directory):
    import fcntl

    fd = os.open(directory / "txi2p.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


@pytest_twisted.ensureDeferred
async def test_a_data_directory_in_use_is_refused(tmp_path):
    binary = _fake_i2pd(tmp_path, "exec sleep 60\n")
    first = txi2p.launch(reactor, i2pd_binary=binary, data_directory=tmp_path / "d", timeout=5)
    with pytest.raises(DataDirectoryInUse, match="another router txi2p started"):
        await txi2p.launch(reactor, i2pd_binary=binary, data_directory=tmp_path / "d", timeout=5)
    with pytest.raises(RouterFailed):
        await first
    # an i2pd txi2p did not start, found by its pid file
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "i2pd").symlink_to("/bin/sleep")  # an "i2pd" process
    other = subprocess.Popen([str(tmp_path / "other" / "i2pd"), "60"])
    try:
        deadline = time.monotonic() + 10
        while b"i2pd" not in open(f"/proc/{other.pid}/cmdline", "rb").read():
            assert time.monotonic() < deadline, "the stand-in i2pd did not start"
            time.sleep(0.05)
        (tmp_path / "d" / "i2pd.pid").write_text(f"{other.pid}\n")
        with pytest.raises(DataDirectoryInUse, match=f"process {other.pid}"):
            await txi2p.launch(reactor, i2pd_binary=binary, data_directory=tmp_path / "d", timeout=5)
    finally:
        other.kill()
        other.wait()


def test_the_guarded_child_dies_with_its_parent_even_on_sigkill(tmp_path):
    """The parent (a Python process) starts ``sleep`` through the child guard
    and is SIGKILLed; the sleep must be gone."""
    pidfile = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import subprocess, time
        from txi2p.child_guard import guarded_command
        child = subprocess.Popen(guarded_command(["/bin/sleep", "120"]))
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(120)
        """)])
    try:
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text()):
            assert time.monotonic() < deadline, "the parent did not start its child"
            time.sleep(0.05)
        child = int(pidfile.read_text())
        time.sleep(0.5)  # the guard has exec'd sleep by now
        assert b"sleep" in open(f"/proc/{child}/cmdline", "rb").read()
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child):
            assert time.monotonic() < deadline, "the child outlived its SIGKILLed parent"
            time.sleep(0.05)
    finally:
        parent.kill()


def _alive(pid):
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest_twisted.ensureDeferred
async def test_connect_checks_the_bridge_and_hands_out_endpoints(fake_sam):
    fake, address = fake_sam(I2PD_2_45)
    i2p = await txi2p.connect(reactor, address)
    assert i2p.sam_address == address and i2p.sam_version == "3.0"
    assert fake.commands and fake.commands[0].startswith("HELLO")
    endpoint = i2p.client_endpoint("example.i2p", 80)
    assert endpoint.host == "example.i2p" and endpoint.bridge_config is i2p.bridge_config
    config = SessionConfig.build(nickname="site", options={"inbound.length": "1"})
    assert i2p.server_endpoint(80, session_config=config).session_config.nickname == "site"
    with pytest.raises(ValueError):  # a key file given twice
        i2p.server_endpoint(80, key_file="k", session_config=SessionConfig.build(keyfile="j"))
    assert i2p.datagram_endpoint(style="RAW").kind == "RAW"
    await i2p.quit()  # not launched: nothing to stop


@pytest_twisted.ensureDeferred
async def test_connect_fails_as_txi2p_check_does_where_nothing_listens():
    port = free_sam_port()
    with pytest.raises(SAMConnectionFailed, match="Is an I2P router running there"):
        await txi2p.connect(reactor, f"127.0.0.1:{port}")


@pytest_twisted.ensureDeferred
async def test_the_web_agent_wraps_https_in_the_callers_tls(fake_sam):
    _, address = fake_sam(I2PD_2_45)
    i2p = await txi2p.connect(reactor, address)
    asked = []

    class Pinned:
        def creatorForNetloc(self, host, port):
            asked.append((host, port))
            from twisted.internet.ssl import optionsForClientTLS

            return optionsForClientTLS("example.i2p")

    factory = I2PWebEndpoints(i2p, Pinned())
    endpoint = factory.endpointForURI(URI.fromBytes(b"https://example.i2p/"))
    assert asked == [(b"example.i2p", 443)] and endpoint._wrappedEndpoint.host == "example.i2p"
    assert factory.endpointForURI(URI.fromBytes(b"http://example.i2p/")).host == "example.i2p"
    with pytest.raises(ValueError, match="not an I2P host"):
        factory.endpointForURI(URI.fromBytes(b"https://example.com/"))
    assert i2p.web_agent(tls_context_factory=Pinned()) is not None


# --- i2p: endpoint strings with launch= (one launched router per process) ---


def _ready_fake_i2pd(tmp_path, starts):
    """An "i2pd" (Python) that logs built tunnels and answers HELLO on its SAM
    port; each start adds a line to *starts*."""
    script = tmp_path / "bin" / "i2pd"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(f"""\
        import socket, sys
        args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
        with open({str(starts)!r}, "a") as f:
            f.write(args["datadir"] + "\\n")
        conf = open(args["conf"]).read().split("[sam]", 1)[1]
        port = int(conf.split("port = ", 1)[1].split()[0])
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(5)
        with open(args["datadir"] + "/i2pd.log", "a") as log:
            log.write({chr(10).join(LOG_2_45)!r} + "\\n")
        while True:
            conn, _ = server.accept()
            if conn.makefile("rb").readline().startswith(b"HELLO"):
                conn.sendall(b"HELLO REPLY RESULT=OK VERSION=3.1\\n")
            conn.close()
        """))
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def launch_registry(monkeypatch):
    """The reactor's registry, launching with the options a test sets (undone after it)."""
    from txi2p.registry import SessionRegistry

    registry = SessionRegistry.for_reactor(reactor)
    monkeypatch.setattr(registry, "launch_options", {})
    yield registry
    if registry._router is not None:
        pytest_twisted.blockon(registry._router.quit())
        registry._router = registry._router_directory = None


def test_launch_in_strings_parses_true_false_or_a_directory():
    from twisted.internet.endpoints import clientFromString, serverFromString

    server = serverFromString(reactor, "i2p:site.key:80:launch=true")
    assert server.launch is True and server.port == 80
    assert clientFromString(reactor, "i2p:example.i2p:launch=/var/lib/me").launch == "/var/lib/me"
    assert clientFromString(reactor, "i2p:example.i2p:launch=~/i2p").launch == os.path.expanduser("~/i2p")
    assert clientFromString(reactor, "i2p:example.i2p:launch=false").launch is None
    for bad, said in (("launch=yes", "write true or false"), ("launch=", "a data directory"),
                      (r"launch=true:samaddr=127.0.0.1\:7656", "samaddr= say how to reach another bridge"),
                      (r"launch=/d:api=SAM:apiEndpoint=tcp\:127.0.0.1\:7656", "api= and apiEndpoint= say"),
                      ("launch=true:user=me:password=secret", "password= and user= say"),
                      ("launch=true:allowRemote=true", "allowRemote= say")):
        with pytest.raises(ValueError, match=said):
            clientFromString(reactor, f"i2p:example.i2p:{bad}")
    # the Python form: one BridgeConfig says how to reach the bridge
    for bridge_settings in ({"sam_address": "127.0.0.1:7656"}, {"user": "me", "password": "secret"},
                            {"allow_remote": True}, {"udp_port": 7655}):
        with pytest.raises(ValueError, match="not both"):
            BridgeConfig(launch=True, **bridge_settings)
    for bad in ("", 1, b"/d"):
        with pytest.raises(ValueError, match="True or a data directory"):
            BridgeConfig(launch=bad)
    assert BridgeConfig(launch=False).launch is None
    assert BridgeConfig(launch=pathlib.Path("/d")).launch == "/d"
    with pytest.raises(ValueError, match="launched_router"):
        SessionRegistry(reactor).bridge(BridgeConfig(launch=True))


@pytest_twisted.ensureDeferred
async def test_a_launch_string_starts_no_router_before_listen_and_two_share_one(tmp_path, launch_registry):
    from twisted.internet.defer import DeferredList
    from twisted.internet.endpoints import serverFromString

    starts = tmp_path / "starts"
    binary = _fake_i2pd(tmp_path, f"""\
        echo started >> {starts}
        exec sleep 60
        """)
    launch_registry.launch_options.update(i2pd_binary=binary, timeout=2)
    first = serverFromString(reactor, f"i2p:{tmp_path / 'a.key'}:80:launch=true")
    second = serverFromString(reactor, f"i2p:{tmp_path / 'b.key'}:81:launch=true")
    assert not starts.exists()  # parsing did no I/O
    said = []
    first._progress = said.append
    results = await DeferredList([first.listen(None), second.listen(None)], consumeErrors=True)
    assert [ok for ok, _ in results] == [False, False]
    assert all(f.check(RouterFailed) for _, f in results)  # both waited for the one launch
    assert starts.read_text().splitlines() == ["started"]
    assert said[0].startswith("launching an i2pd router for this process")
    assert launch_registry._router is None  # a failed launch can be retried


@pytest_twisted.ensureDeferred
async def test_the_launched_router_is_shared_and_another_directory_refused(tmp_path, launch_registry):
    from twisted.internet.endpoints import clientFromString

    from txi2p.errors import SessionConflict

    starts = tmp_path / "starts"
    launch_registry.launch_options.update(i2pd_binary=_ready_fake_i2pd(tmp_path, starts), timeout=30)
    directory = str(tmp_path / "router")
    first = clientFromString(reactor, f"i2p:example.i2p:launch={directory}")
    second = clientFromString(reactor, "i2p:other.i2p:80:launch=true")
    bridge = await first._launched_or_given_bridge()
    assert await second._launched_or_given_bridge() is bridge
    i2p = launch_registry._router
    assert i2p.bridge is bridge and i2p.router.running
    assert starts.read_text().splitlines() == [directory]
    with pytest.raises(SessionConflict, match="one launched router per process"):
        await clientFromString(reactor, f"i2p:example.i2p:launch={tmp_path / 'elsewhere'}").connect(None)
    await i2p.quit()
    assert not i2p.router.running
    await second._launched_or_given_bridge()  # quit: the next one launches anew
    assert len(starts.read_text().splitlines()) == 2


@pytest_twisted.ensureDeferred
async def test_an_adopted_router_is_the_shared_one(fake_sam, launch_registry):
    from txi2p.errors import SessionConflict

    _, address = fake_sam(I2PD_2_45)
    i2p = await txi2p.connect(reactor, address)
    launch_registry.adopt_router(i2p)
    endpoint = I2PClientEndpoint(reactor, "example.i2p", bridge_config=BridgeConfig(launch=True))
    assert await endpoint._launched_or_given_bridge() is i2p.bridge
    with pytest.raises(SessionConflict, match="already has a launched router"):
        launch_registry.adopt_router(i2p)
    launch_registry._router = None


@pytest_twisted.ensureDeferred
async def test_launching_on_an_address_the_process_used_before_takes_its_bridge(tmp_path):
    """A multihomed home down at start gave the registry a bridge for its
    address (default timeouts); launching that router later uses it instead
    of failing on launch()'s own shorter connect timeout."""
    registry = SessionRegistry.for_reactor(reactor)
    port = free_sam_port()
    known = registry.bridge(BridgeConfig(f"127.0.0.1:{port}"))
    i2p = await txi2p.launch(reactor, i2pd_binary=_ready_fake_i2pd(tmp_path, tmp_path / "starts"),
                             sam_port=port, timeout=30)
    try:
        assert i2p.bridge is known
    finally:
        await i2p.quit()
