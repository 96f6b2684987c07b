"""Fetch a page from an I2P web site through SAM (no HTTP proxy).

    python examples/fetch.py http://xxx.b32.i2p/
"""

import sys

from twisted.internet import defer, task
from twisted.web.client import readBody

from txi2p.web import agent


async def main(reactor, url):
    response = await agent(reactor, progress=print).request(b"GET", url.encode())
    print(response.code, response.phrase.decode())
    print((await readBody(response)).decode(errors="replace"))


if __name__ == "__main__":
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, *sys.argv[1:])))
