"""One BridgeConfig and one SessionConfig, given to every front door.

    python examples/shared_settings.py

The bridge is ``$I2P_SAM_ADDRESS`` (default 127.0.0.1:7656); set
``I2P_SAM_USER`` and ``I2P_SAM_PASSWORD`` for a bridge with SAM
authentication (Java I2P's ``sam.auth=true``), and ``I2P_SAM_REMOTE=1``
for one on another machine.  The same two values start an echo service
(a stream endpoint), a tunnel from a local port to it, and a datagram
port; the tunnel's connection comes back through I2P to the echo
service.  Each session start takes about 20 s on i2pd.
"""

from __future__ import annotations

import os

from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol

from txi2p.config import BridgeConfig, SessionConfig, parse_bool
from txi2p.datagram import I2PDatagramEndpoint
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.tunnel import TunnelClient


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Ask(Protocol):
    def __init__(self) -> None:
        self.answer: defer.Deferred[bytes] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        if not self.answer.called:
            self.answer.callback(data)


def bridge_from_environment() -> BridgeConfig:
    """The one place this program reads how to reach the bridge."""
    user = os.environ.get("I2P_SAM_USER") or None
    return BridgeConfig(os.environ.get("I2P_SAM_ADDRESS") or None,
                        allow_remote=parse_bool(os.environ.get("I2P_SAM_REMOTE", "0")),
                        user=user, password=os.environ.get("I2P_SAM_PASSWORD") if user else None)


async def main(reactor) -> None:
    bridge = bridge_from_environment()
    print(f"the SAM bridge: {bridge.where} ({'with' if bridge.user else 'without'} authentication)")
    service = SessionConfig.build(nickname="shared-echo", in_depth=1)
    print("starting the echo service's session (about 20 s on i2pd) ...")
    port = await I2PServerEndpoint(reactor, bridge_config=bridge, session_config=service,
                                   progress=print).listen(Factory.forProtocol(Echo))
    b32 = port.getHost().host
    print(f"echo service at {b32}")

    print("starting a tunnel from a local port to it (another session) ...")
    tunnel = TunnelClient(reactor, I2PClientEndpoint(reactor, b32, bridge_config=bridge, progress=print,
                                                     session_config=SessionConfig.build(nickname="shared-proxy")), 0)
    tunnel.startService()
    await tunnel.when_listening()
    ask = await TCP4ClientEndpoint(reactor, "127.0.0.1", tunnel.local_port).connect(Factory.forProtocol(Ask))
    print(f"through 127.0.0.1:{tunnel.local_port}, waiting for the echo over I2P ...")
    ask.transport.write(b"hello through the tunnel")
    print("echoed:", (await ask.answer).decode())
    ask.transport.loseConnection()

    print("starting a datagram port with the same bridge settings ...")
    dgram = await I2PDatagramEndpoint(reactor, bridge_config=bridge, progress=print, session_config=SessionConfig.build(
        nickname="shared-datagrams", style="DATAGRAM")).listen(DatagramProtocol())
    print(f"datagram port at {dgram.getHost().host}")

    await dgram.stopListening()
    await tunnel.stopService()
    await port.stopListening()


if __name__ == "__main__":
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor)))
