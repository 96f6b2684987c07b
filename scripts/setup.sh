#!/usr/bin/env bash
# Set up everything txi2p's demo and tests need on a fresh Debian machine:
# i2pd and iproute2 from apt, a virtualenv in .venv with txi2p and its
# test dependencies.  Safe to run again; does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v i2pd >/dev/null 2>&1 || [ -x /usr/sbin/i2pd ] || need_apt+=(i2pd)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "[setup] installing ${need_apt[*]} with apt-get (needs root)" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}" >&2
    # The Debian package starts a system i2pd on 127.0.0.1:7656; the
    # private test network runs its own routers in a namespace, so the
    # system one is not needed.
    if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now i2pd >/dev/null 2>&1 || true; fi
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating the virtualenv .venv" >&2
    "$PY" -m venv .venv
fi
stamp=.venv/.txi2p-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "[setup] installing txi2p and its test dependencies into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip >&2
    # compat mode puts the source tree on sys.path, so Twisted finds the
    # plugins in twisted/plugins/ (the default editable mode would not).
    .venv/bin/python -m pip install -q -e ".[test,dev]" --config-settings editable_mode=compat >&2
    touch "$stamp"
fi
