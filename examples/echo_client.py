"""Send a line to an I2P echo server and print the answer.

    python examples/echo_client.py <xxx.b32.i2p or i2p:... client string> [message]
"""

import sys

from twisted.internet import defer, task
from twisted.internet.endpoints import clientFromString
from twisted.internet.protocol import Factory, Protocol


class Ask(Protocol):
    def __init__(self):
        self.answer = defer.Deferred()

    def dataReceived(self, data):
        if not self.answer.called:
            self.answer.callback(data)


async def main(reactor, target, message="hello over I2P"):
    description = target if target.startswith("i2p:") else f"i2p:{target}"
    proto = await clientFromString(reactor, description).connect(Factory.forProtocol(Ask))
    proto.transport.write(message.encode())
    print((await proto.answer).decode())
    proto.transport.loseConnection()


if __name__ == "__main__":
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, *sys.argv[1:])))
