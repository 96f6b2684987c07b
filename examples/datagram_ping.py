"""Datagram ping/pong over I2P.

    python examples/datagram_ping.py serve                 # prints its .b32.i2p address
    python examples/datagram_ping.py ping <xxx.b32.i2p> [count]

Repliable datagrams carry the sender's destination, so the server answers
each "ping N" to whoever sent it.  Datagrams may be lost: the pinger counts
the pongs that came back.  Needs an I2P router with SAM ($I2P_SAM_ADDRESS).

DATAGRAM_STYLE=DATAGRAM2 or DATAGRAM3 (both ends) uses the newer kinds of
SAM API 0.9.66 (i2pd 2.58; older routers refuse them, and the error says
so): with DATAGRAM3 the sender is only a .b32.i2p name, which the pong is
sent to.
"""

import os
import sys
import time

from twisted.internet import defer, task
from twisted.internet.protocol import DatagramProtocol

from txi2p.config import SessionConfig
from txi2p.datagram import I2PDatagramEndpoint

STYLE = os.environ.get("DATAGRAM_STYLE", "DATAGRAM")


class Ponger(DatagramProtocol):
    def datagramReceived(self, data, addr):
        print(f"{data!r} from {addr.host}")
        if data.startswith(b"ping "):
            self.transport.write(b"pong " + data[5:], addr)


class Pinger(DatagramProtocol):
    def __init__(self):
        self.sent_at = {}
        self.rtts = []

    def datagramReceived(self, data, addr):
        n = data[5:].decode()
        if n in self.sent_at:
            rtt = time.monotonic() - self.sent_at.pop(n)
            self.rtts.append(rtt)
            print(f"pong {n} from {addr.host}: {rtt * 1000:.0f} ms")


async def main(reactor, mode="serve", target=None, count="5"):
    if mode == "serve":
        port = await I2PDatagramEndpoint(reactor, session_config=SessionConfig.build(style=STYLE),
                                         progress=print).listen(Ponger())
        print(f"answering pings at {port.getHost().host}")
        await defer.Deferred()
    pinger = Pinger()
    port = await I2PDatagramEndpoint(reactor, session_config=SessionConfig.build(style=STYLE),
                                     progress=print).listen(pinger)
    for i in range(int(count)):
        pinger.sent_at[str(i)] = time.monotonic()
        await port.write(f"ping {i}".encode(), target)
        await task.deferLater(reactor, 1, lambda: None)
    await task.deferLater(reactor, 5, lambda: None)
    print(f"{len(pinger.rtts)} of {count} pongs came back")
    await port.stopListening()


if __name__ == "__main__":
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, *sys.argv[1:])))
