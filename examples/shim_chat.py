"""The classic blocking API: Alice listens, Bob connects (no Twisted code).

    python examples/shim_chat.py alice          # prints Alice's destination, waits
    python examples/shim_chat.py bob <alice-dest-or-b32>

Uses txi2p.socket, which runs a reactor in a background thread.  Needs an
I2P router with SAM ($I2P_SAM_ADDRESS, default 127.0.0.1:7656).
"""

import sys

from txi2p import socket

if sys.argv[1:2] == ["alice"]:
    s = socket.socket("Alice", socket.SOCK_STREAM)   # blocks until the session is up
    print("Alice is", s.dest)
    s.listen(10)
    conn, remotedest = s.accept()
    with conn.makefile("rw") as f:
        print("Bob says:", f.readline().strip())
        f.write("hello Bob\n")
        f.flush()
    conn.close()
else:
    s = socket.socket("Bob", socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(sys.argv[2])
    s.sendall(b"hello Alice\n")
    print("Alice says:", s.makefile("rb").readline().decode().strip())
    s.close()
