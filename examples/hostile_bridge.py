"""Run each of txi2p's hostile-bridge scenarios against a lookup and print what comes out.

    python examples/hostile_bridge.py

No router needed: the bridge is in-process (txi2p.testing.hostile_bridge).
Use the same pattern to see what your own program does when a router misbehaves.
"""

from twisted.internet import defer, task

from txi2p import SAMBridge
from txi2p.errors import TxI2PError
from txi2p.testing.hostile_bridge import SCENARIOS, HostileSAMBridge


async def main(reactor):
    for name, scenario in SCENARIOS.items():
        port = reactor.listenTCP(0, HostileSAMBridge(scenario), interface="127.0.0.1")
        bridge = SAMBridge(reactor, f"127.0.0.1:{port.getHost().port}")
        try:
            dest = await bridge.lookup("example.i2p")
            print(f"{name}: looked up {dest.b32}")
        except TxI2PError as e:
            print(f"{name}: {type(e).__name__}: {e}")
        finally:
            await port.stopListening()


if __name__ == "__main__":
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor)))
