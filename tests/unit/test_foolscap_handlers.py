"""txi2p.foolscap: Foolscap's i2p hint handlers, working, against the fake bridge."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

pytest.importorskip("foolscap.ipb")

from foolscap.ipb import InvalidHintError

from txi2p import foolscap as handlers
from txi2p.i2pd import RouterFailed
from txi2p.testing.fake_bridge import I2PD_2_45


def test_local_i2p_reads_the_sam_bridge_from_i2pd_conf(tmp_path):
    (tmp_path / "i2pd.conf").write_text("log = file\n[http]\nenabled = true\n[sam]\naddress = 127.0.0.1\n"
                                        "port = 7700  # ours\n")
    assert handlers.sam_address_of(tmp_path) == "127.0.0.1:7700"
    (tmp_path / "i2pd.conf").write_text("# i2pd's defaults\nbandwidth = L\n")
    assert handlers.sam_address_of(tmp_path) == "127.0.0.1:7656"
    (tmp_path / "i2pd.conf").write_text("[sam]\nenabled = false\n")
    with pytest.raises(ValueError, match="SAM disabled"):
        handlers.local_i2p(tmp_path)
    with pytest.raises(FileNotFoundError):
        handlers.sam_address_of(tmp_path / "none")


@pytest_twisted.ensureDeferred
async def test_a_hint_becomes_an_endpoint_of_the_configured_router(tmp_path, fake_sam):
    fake, address = fake_sam(I2PD_2_45)
    _, port = address.split(":")
    (tmp_path / "i2pd.conf").write_text(f"[sam]\nport = {port}\n")
    handler = handlers.local_i2p(tmp_path, nickname="tub", options={"inbound.length": "1"})
    statuses = []
    endpoint, name = await handler.hint_to_endpoint("i2p:example.i2p:1234", reactor, statuses.append)
    assert name == "example.i2p" and endpoint.host == "example.i2p" and endpoint.port == 1234
    assert endpoint.session_config.nickname == "tub" and endpoint.bridge_config.where == address
    assert statuses == ["i2p"] and fake.commands[0].startswith("HELLO")
    again, _ = await handler.hint_to_endpoint("i2p:other.i2p", reactor, statuses.append)
    assert again.port is None and len(fake.commands) == 1  # the bridge was checked once
    with pytest.raises(InvalidHintError):
        handler.hint_to_endpoint("tcp:example.com:80", reactor, statuses.append)
    with pytest.raises(TypeError, match="unknown keyword"):
        handlers.default(reactor, autoClose=True)


@pytest_twisted.ensureDeferred
async def test_a_launch_that_fails_fails_the_hint_and_is_tried_again(tmp_path):
    script = tmp_path / "i2pd"
    script.write_text("#!/bin/sh\necho cannot start\nexit 2\n")
    script.chmod(0o755)
    handler = handlers.launch(i2p_binary=str(script), timeout=30, nickname="tub")
    for _ in range(2):  # a second hint launches again
        with pytest.raises(RouterFailed, match="exit code 2"):
            await handler.hint_to_endpoint("i2p:example.i2p", reactor, lambda status: None)
    assert handler.describe() == "i2p (launched)"
