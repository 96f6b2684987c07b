#!/usr/bin/env bash
# Run the txi2p demo on a private I2P network of real i2pd routers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/demo.py "$@"
