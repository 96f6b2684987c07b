"""The classic i2p.socket name forms: http:// and a trailing / dropped, destinations untouched."""

from __future__ import annotations

import pytest

from txi2p.socket.names import host_name
from txi2p.socket.sockets import socket
from txi2p.testing.fakes import fake_private_key


@pytest.mark.parametrize("given,expected", [
    ("http://duck.i2p/", "duck.i2p"),
    ("duck.i2p/", "duck.i2p"),
    ("http://duck.i2p", "duck.i2p"),
    ("HTTP://duck.i2p/", "duck.i2p"),
    ("duck.i2p", "duck.i2p"),
    ("http://xxx.b32.i2p/", "xxx.b32.i2p"),
    ("https://duck.i2p/", "https://duck.i2p"),  # only http://, as the classic module
])
def test_host_name_forms(given, expected):
    assert host_name(given) == expected


def test_destinations_of_256_characters_or_more_are_unchanged():
    destination = fake_private_key().destination.base64
    assert host_name(destination) == destination
    assert host_name("A" * 254 + "/") == "A" * 254
    assert host_name("A" * 255 + "/") == "A" * 255 + "/"


def test_socket_connect_target_takes_the_classic_forms():
    assert socket._connect_target(("http://duck.i2p/", 80)) == "duck.i2p"
    assert socket._connect_target("duck.i2p/") == "duck.i2p"
    with pytest.raises(ValueError):
        socket._connect_target("http://")
