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


def test_router_builds_parse_and_mix(tmp_path):
    from txi2p.testing.network import RouterBuild

    assert RouterBuild.parse("i2pd:/opt/i2pd") == RouterBuild("i2pd", "/opt/i2pd")
    assert RouterBuild.parse("/usr/sbin/i2pd") == RouterBuild("i2pd", "/usr/sbin/i2pd")
    assert RouterBuild.parse("java:/opt/i2p/lib") == RouterBuild("java", "/opt/i2p/lib")
    assert RouterBuild.parse_list("i2pd:/a, java:/b,") == [RouterBuild("i2pd", "/a"),
                                                           RouterBuild("java", "/b")]
    net = PrivateI2PNetwork(tmp_path, floodfills=["i2pd:/a"], clients=["i2pd:/b", "java:/c"])
    assert [r.build for r in net.routers] == [RouterBuild("i2pd", "/a"), RouterBuild("i2pd", "/b"),
                                              RouterBuild("java", "/c")]
    assert [r.floodfill for r in net.routers] == [True, False, False]
    assert net.has_java and net.clients[1].sam_port == 7666
    # i2pd routers of a network with a Java router run SSU2 and take SIGTSTP
    text = net.routers[0].config_text(77, None, ssu2=True)
    assert "[ssu2]\nenabled = true" in text and "handle_sigtstp = true" in text
    assert "[ssu2]\nenabled = false" in net.routers[0].config_text(77, None)


def test_java_floodfills_and_second_java_router_are_refused(tmp_path):
    with pytest.raises(ValueError, match="floodfill routers must be i2pd"):
        PrivateI2PNetwork(tmp_path, floodfills=["java:/c"], clients=1, i2pd="/bin/false")
    with pytest.raises(ValueError, match="at most one Java router"):
        PrivateI2PNetwork(tmp_path, clients=["java:/c", "java:/d"], i2pd="/bin/false")


def test_missing_builds_say_what_is_missing(tmp_path):
    from txi2p.testing.network import NetworkStartError, RouterBuild

    with pytest.raises(NetworkStartError, match=r"lacks i2p\.jar"):
        RouterBuild("java", str(tmp_path)).check()
    with pytest.raises(NetworkStartError, match="missing or not executable"):
        RouterBuild("i2pd", str(tmp_path / "nope")).check()


def _mapping(pairs):
    body = b"".join(bytes([len(k)]) + k + b"=" + bytes([len(v)]) + v + b";" for k, v in pairs)
    return len(body).to_bytes(2, "big") + body


def test_router_info_caps_and_java_netdb_seed(tmp_path):
    import hashlib

    from txi2p.address import b64encode
    from txi2p.testing.fakes import fake_destination_bytes
    from txi2p.testing.java import router_info_caps, router_info_hash, seed_java_netdb
    from txi2p.testing.network import I2PRouter, RouterBuild

    identity = fake_destination_bytes()
    address = (bytes(9) + bytes([5]) + b"NTCP2"
               + _mapping([(b"host", b"198.18.0.1"), (b"port", b"24000")]))
    info = (identity + (0).to_bytes(8, "big") + bytes([1]) + address + bytes([0])
            + _mapping([(b"caps", b"XfR"), (b"netId", b"77")]) + bytes(64))
    assert router_info_caps(info) == "XfR"
    assert router_info_caps(info[:300]) == ""
    assert router_info_hash(info) == hashlib.sha256(identity).digest()
    source = tmp_path / "router.info"
    source.write_bytes(info)
    java = I2PRouter(3, "198.18.0.3", 24002, False, tmp_path / "java", 7656, RouterBuild("java", "/x"))
    seed_java_netdb(java, [source])
    digest = b64encode(hashlib.sha256(identity).digest())
    assert (tmp_path / "java" / "netDb" / f"r{digest[0]}" / f"routerInfo-{digest}.dat").read_bytes() == info
