"""The txi2p command, against the in-process fake bridge of each router profile."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import pytest_twisted
from twisted.internet import reactor

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
    assert status == 1 and "could not connect to the SAM bridge at 127.0.0.1:1" in err
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
