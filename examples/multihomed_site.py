"""One web site on several routers: it stays up while any one of them runs.

    python examples/multihomed_site.py site.key 127.0.0.1:7656 127.0.0.1:7666

Each SAM address is a router of its own (on this machine or, with
allowRemote, another one: SAM is not encrypted, so tunnel it).  Every
router publishes the site's destination from site.key (created by the
first router up if missing); when one stops, the others keep serving, and
the stopped one is started again (1 s, 2 s, 4 s... up to 60 s apart)
until it rejoins.  The log says how many homes are up.

The same as an endpoint string, for any program that takes one:

    twistd -n web --listen "i2p:site.key:80:samaddr=127.0.0.1\\:7656,127.0.0.1\\:7666"

docs/multihoming.rst says what a client sees while a home is down.
"""

import sys

from twisted.internet import defer, task
from twisted.internet.endpoints import serverFromString
from twisted.web.server import Site
from twisted.web.static import Data


async def main(reactor, keyfile, *sam_addresses):
    bridges = ",".join(address.replace(":", "\\:") for address in sam_addresses)
    endpoint = serverFromString(reactor, f"i2p:{keyfile}:80:samaddr={bridges}")
    endpoint.progress = print  # "... home 2 (127.0.0.1:7666) lost ...; 1 of 2 homes up"
    port = await endpoint.listen(Site(Data(b"Served from one of several homes.\n", "text/plain")))
    print(f"serving http://{port.getHost().host}/ from {port.homes_up} of {len(sam_addresses)} homes")
    await defer.Deferred()  # until interrupted


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, *sys.argv[1:])))
