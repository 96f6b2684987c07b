#!/usr/bin/env bash
# Run the txi2p benchmarks on a private I2P network (--quick for a short CI run).
# The peer libraries (i2plib, txi2p-tahoe) go into a virtualenv of their own,
# bench/.peers: txi2p-tahoe is imported as "txi2p" too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -c "import matplotlib, pyinstrument" 2>/dev/null \
    || .venv/bin/python -m pip install -q matplotlib pyinstrument >&2
if [ ! -x bench/.peers/bin/python ] || ! bench/.peers/bin/python -c "import i2plib, txi2p" 2>/dev/null; then
    echo "[bench] installing the peers (i2plib 0.0.14, txi2p-tahoe 0.3.7) into bench/.peers" >&2
    python3 -m venv bench/.peers
    bench/.peers/bin/python -m pip install -q "i2plib==0.0.14" "txi2p-tahoe==0.3.7" >&2 \
        || echo "[bench] could not install the peers: they are reported as not installed" >&2
fi
exec .venv/bin/python bench/run.py "$@"
