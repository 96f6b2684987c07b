#!/usr/bin/env bash
# Run the txi2p benchmarks on private I2P networks, once per router of the
# matrix CI covers (--quick for a short CI run; other arguments such as
# --only and --profile go to every pass):
#   system  - the apt i2pd (Debian 12: 2.45.1)
#   trixie  - Debian 13's i2pd (2.56.0), run from a private prefix made by
#             scripts/i2pd-debian.sh (nothing is installed on the system)
# ROUTERS="system trixie" (the default; the names of scripts/test.sh) picks
# the passes.  Each pass writes bench/results[/quick]/<router>/latest.json,
# latest.md and throughput.png; then bench/results[/quick]/latest.md puts
# the routers' key figures side by side.
# The peer libraries (i2plib, txi2p-tahoe, i2psam) go into a virtualenv of
# their own, bench/.peers: txi2p-tahoe is imported as "txi2p" too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -c "import matplotlib, pyinstrument" 2>/dev/null \
    || .venv/bin/python -m pip install -q matplotlib pyinstrument >&2
if [ ! -x bench/.peers/bin/python ] || ! bench/.peers/bin/python -c "import i2plib, txi2p, i2psam" 2>/dev/null; then
    echo "[bench] installing the peers (i2plib 0.0.14, txi2p-tahoe 0.3.7, i2psam 1.0.0) into bench/.peers" >&2
    python3 -m venv bench/.peers
    bench/.peers/bin/python -m pip install -q "i2plib==0.0.14" "txi2p-tahoe==0.3.7" "i2psam==1.0.0" >&2 \
        || echo "[bench] could not install the peers: they are reported as not installed" >&2
fi

quick=()
for arg in "$@"; do
    [ "$arg" = "--quick" ] && quick=(--quick)
done
system_i2pd="$(command -v i2pd || echo /usr/sbin/i2pd)"
since="$(date +%s)"
routers=()
status=0
for router in ${ROUTERS:-system trixie}; do
    case "$router" in
        system)
            i2pd="$system_i2pd" ;;
        trixie)
            i2pd="$(bash scripts/i2pd-debian.sh trixie)" ;;
        *)
            echo "bench.sh: unknown router '$router' (system, trixie)" >&2
            exit 2 ;;
    esac
    echo "=============== txi2p bench: $router ($i2pd) ===============" >&2
    # a pass that fails still writes its results (with its failures): go on
    # with the next router, and fail at the end; a usage error (2) stops here
    rc=0
    .venv/bin/python bench/run.py --i2pd "$i2pd" --router "$router" "$@" || rc=$?
    [ "$rc" -eq 2 ] && exit 2
    [ "$rc" -eq 0 ] || status=1
    routers+=("$router")
done
# the routers side by side (a pass that wrote no results of its own is marked stale)
.venv/bin/python bench/report.py "${quick[@]}" --since "$since" "${routers[@]}" || status=1
exit $status
