"""Fetch a page from an I2P site with the standard library's http.client.

    python examples/http_client_blocking.py xxx.b32.i2p [/path]

Blocking code, no Twisted in sight: http.client's own connect() runs over
txi2p.socket.create_connection (a transient session; the first call
waits while the router builds its tunnels: i2pd takes about 20 s).
"""

import http.client
import sys

from txi2p import socket as i2p


def main(host: str, path: str = "/") -> None:
    conn = http.client.HTTPConnection(host, 80, timeout=120)
    conn._create_connection = i2p.create_connection  # the one line that puts it on I2P
    print(f"connecting to {host} (starting a session first)...", file=sys.stderr)
    conn.request("GET", path)
    response = conn.getresponse()
    print(response.status, response.reason, file=sys.stderr)
    sys.stdout.buffer.write(response.read())
    conn.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
