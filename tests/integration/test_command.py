"""The txi2p command against the real routers of the private network."""

from __future__ import annotations

import io

import pytest
import pytest_twisted
from twisted.internet import reactor

from txi2p.address import read_key_file
from txi2p.command import run
from txi2p.testing import TEST_SESSION_OPTIONS

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
