#!/usr/bin/env bash
# Run the whole txi2p test suite: unit tests, and integration tests
# against a private network of real i2pd routers.  Extra arguments go
# to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -ra "$@"
