"""The classic i2p.sam tunnels from blocking code.

    python examples/tunnel_blocking.py server 8080     # expose 127.0.0.1:8080 on I2P
    python examples/tunnel_blocking.py client <dest> 8081   # reach <dest> at 127.0.0.1:8081

Both block until the tunnel is ready (the session takes 20 s or more) and
run until interrupted.
"""

import sys
import time

from txi2p import sam

if sys.argv[1] == "server":
    t = sam.TunnelServer("my-site", int(sys.argv[2]))
    print(f"serving 127.0.0.1:{sys.argv[2]} at {t.service.b32}")
else:
    t = sam.TunnelClient("my-client", int(sys.argv[3]), sys.argv[2])
    print(f"http://127.0.0.1:{sys.argv[3]}/ now reaches {t.remotedest}")
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    t.close()
