#!/usr/bin/env bash
# Run the txi2p benchmarks on a private I2P network (--quick for a short CI run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -c "import matplotlib" 2>/dev/null || .venv/bin/python -m pip install -q matplotlib >&2
exec .venv/bin/python bench/run.py "$@"
