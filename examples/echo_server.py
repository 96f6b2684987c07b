"""An echo server on I2P, from an ``i2p:`` endpoint string.

    python examples/echo_server.py [i2p-server-endpoint-string]

Default string: ``i2p:echo.key`` — the destination's key is kept in
echo.key, so the server keeps its .b32.i2p address across restarts.
Needs an I2P router with SAM enabled ($I2P_SAM_ADDRESS, default
127.0.0.1:7656).

A private service that only listed clients can reach (see
docs/private-services.rst)::

    txi2p clientkey alice.key --name alice --auth dh   # prints the line for friends.txt
    python examples/echo_server.py "i2p:echo.key:clients=friends.txt:auth=dh"
    python examples/echo_client.py "i2p:<the b33 name it prints>:clientKey=alice.key"
"""

import sys

from twisted.internet import defer, task
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import globalLogBeginner, textFileLogObserver


class Echo(Protocol):
    def connectionMade(self):
        print(f"connection from {self.transport.getPeer().host}")

    def dataReceived(self, data):
        self.transport.write(data)


async def main(reactor, description="i2p:echo.key"):
    # txi2p logs each step of session start (it takes 20 s or more).
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    endpoint = serverFromString(reactor, description)
    port = await endpoint.listen(Factory.forProtocol(Echo))
    print(f"echo server listening on {port.getHost().host}")
    await defer.Deferred()  # run until interrupted


if __name__ == "__main__":
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, *sys.argv[1:])))
