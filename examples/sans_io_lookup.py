"""Look a name up over a plain blocking socket, with txi2p's sans-I/O control channel.

    python examples/sans_io_lookup.py [NAME] [HOST:PORT]

No Twisted is imported: txi2p.sam.control decides what each line means
(HELLO first, each reply checked against the command it answers); this
script only moves bytes.  The same object can be driven by asyncio,
trio or anything else that reads and writes a socket.
"""

import socket
import sys

from txi2p.sam import codec
from txi2p.sam.control import Answered, ControlConnection, Ready, Refused
from txi2p.sam.events import Failed, Pinged


def answer(conn, sock):
    """Read until the command on the wire is answered; return that event."""
    while True:
        event = conn.next_event()
        if event is codec.NEED_DATA:
            data = sock.recv(65536)
            if not data:
                raise SystemExit("the bridge closed the connection")
            conn.receive_data(data)
        elif isinstance(event, Pinged):
            sock.sendall(event.data)
        elif isinstance(event, (Ready, Answered, Refused, Failed)):
            return event


def lookup(name, host="127.0.0.1", port=7656):
    conn = ControlConnection(codec.hello())
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(conn.send(conn.hello))
        hello = answer(conn, sock)
        if not isinstance(hello, Ready):
            raise SystemExit(f"HELLO failed: {hello}")
        sock.sendall(conn.send(codec.naming_lookup(name)))
        reply = answer(conn, sock)
    if isinstance(reply, Answered):
        return reply.reply.get("VALUE")
    raise SystemExit(f"lookup failed: {getattr(reply, 'error', reply)}")


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "ME"
    host, _, port = (sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:7656").rpartition(":")
    print(lookup(name, host, int(port)))
