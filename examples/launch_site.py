"""Start a router of our own, serve a page on I2P through it, stop it.

    python examples/launch_site.py [DATA_DIRECTORY]

Needs i2pd installed (apt-get install i2pd), no router running: txi2p
starts one as a child of this process (txi2p.launch), with its SAM bridge
on a free loopback port, and stops it on Ctrl-C (the router never
outlives this process).  With a DATA_DIRECTORY, the router keeps its
identity there; the site keeps its address in site.key either way.

On the real network the first start reseeds and builds tunnels: allow a
few minutes.  Inside ``txi2p testnet -- bash`` there is no way out to
reseed from: see docs/launching.rst for joining the private network.
"""

import sys

from twisted.internet import defer, task
from twisted.web.server import Site
from twisted.web.static import Data

import txi2p
from txi2p.config import SessionConfig


def progress(percent, tag, summary):
    print(f"[{percent:3d}%] {summary}", flush=True)


async def main(reactor, data_directory=None):
    i2p = await txi2p.launch(reactor, data_directory=data_directory, progress_updates=progress)
    print(f"router ready: SAM {i2p.sam_address}, version {i2p.sam_version}")
    endpoint = i2p.server_endpoint(session_config=SessionConfig.build(nickname="launched-site", keyfile="site.key"))
    port = await endpoint.listen(Site(Data(b"Hello from a router txi2p launched.\n", "text/plain")))
    print(f"serving http://{port.getHost().host}/ (Ctrl-C stops the site and the router)")
    await defer.Deferred()  # until interrupted; reactor shutdown stops the router


if __name__ == "__main__":
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, *sys.argv[1:2])))
