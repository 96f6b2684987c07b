"""A Foolscap Tub serving an adder over I2P on a test-network router, for the
Foolscap tests (test_compat with Foolscap's own handler, test_launch with txi2p's)."""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.endpoints import clientFromString
from twisted.internet.task import deferLater

from txi2p.address import read_key_file
from txi2p.sam import SAMI2PStreamServerEndpoint
from txi2p.testing import TEST_SESSION_OPTIONS


async def adder_tub(foolscap_pb, sam_address, keyfile, nickname):
    """A started Tub serving ``add`` at ``i2p:<its b32>:1234``: ``(tub, furl, b32)``."""

    class Adder(foolscap_pb.Referenceable):
        def remote_add(self, a, b):
            return a + b

    tub = foolscap_pb.Tub()
    tub.startService()
    host, port = sam_address.rsplit(":", 1)
    tub.listenOn(SAMI2PStreamServerEndpoint.new(
        clientFromString(reactor, f"tcp:{host}:{port}"), str(keyfile), port=1234, nickname=nickname,
        options=dict(TEST_SESSION_OPTIONS)))
    # The key file appears once the server's session is up (~20 s).
    for _ in range(240):
        if keyfile.exists():
            break
        await deferLater(reactor, 0.5, lambda: None)
    b32 = read_key_file(keyfile).b32
    tub.setLocation(f"i2p:{b32}:1234")
    return tub, tub.registerReference(Adder(), "adder"), b32


def client_tub(foolscap_pb, handler):
    """A started Tub whose only way out is *handler*, for ``i2p:`` hints."""
    tub = foolscap_pb.Tub()
    tub.removeAllConnectionHintHandlers()
    tub.addConnectionHintHandler("i2p", handler)
    tub.startService()
    return tub
