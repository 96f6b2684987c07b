"""txi2p.testing's router configuration, without starting routers."""

from __future__ import annotations

import pytest

from txi2p.testing import PrivateI2PNetwork


def test_add_tunnels_writes_a_tunnels_d_file(tmp_path):
    net = PrivateI2PNetwork(tmp_path, clients=1, floodfills=1, i2pd="/bin/false")
    router = net.clients[0]
    (router.datadir / "tunnels.d").mkdir(parents=True)
    path = net.add_tunnels(router, "bench-server", "[web]\ntype = server\nhost = 127.0.0.1\nport = 8080\n")
    assert path == router.datadir / "tunnels.d" / "bench-server.conf"
    assert "type = server" in path.read_text()
    # the router's main config reads that directory
    assert f"tunnelsdir = {router.datadir / 'tunnels.d'}" in router.config_text(77, None)


@pytest.mark.parametrize("name", ["../escape", "a b", "x.conf", ""])
def test_add_tunnels_refuses_odd_file_names(tmp_path, name):
    net = PrivateI2PNetwork(tmp_path, clients=1, floodfills=1, i2pd="/bin/false")
    with pytest.raises(ValueError, match="tunnel file name"):
        net.add_tunnels(net.clients[0], name, "")
