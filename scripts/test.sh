#!/usr/bin/env bash
# Run the whole txi2p test suite: the unit tests once, then the integration
# tests against private networks of real routers, once per router of the
# matrix CI covers:
#   system  - the i2pd Debian 12 installs (2.45.1), every router
#   trixie  - Debian 13's i2pd (2.56.0), run from a private prefix made by
#             scripts/i2pd-debian.sh (nothing is installed on the system)
# (Not a network mixing both: i2pd 2.56 ignores floodfills older than API
# 0.9.59, i2pd 2.45.1 is 0.9.57; see docs/routers.rst.)
# ROUTERS="system trixie" (the default) picks the passes; after the unit
# pass, scripts/peers.sh runs the peers' suites (PEERS=0 skips it).  With
# arguments, runs pytest once with them against the system i2pd instead.
# The last line sums every pass: "matrix: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ $# -gt 0 ]; then
    exec .venv/bin/python -m pytest -ra "$@"
fi

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
system_i2pd="$(command -v i2pd || echo /usr/sbin/i2pd)"
status=0
failed_passes=()
run_pass() {
    local name="$1"; shift
    echo "=============== txi2p tests: $name ===============" >&2
    # The output is also kept, so that a failed pass's end (its failures, or
    # pytest-timeout's thread stacks) is repeated after the last pass.
    local rc=0
    .venv/bin/python -m pytest -ra --junitxml="$results/$name.xml" "$@" 2>&1 | tee "$results/$name.log" || rc=$?
    if [ "$rc" -ne 0 ]; then
        status=1
        failed_passes+=("$name")
    fi
}

run_pass unit tests/unit
# The peers' own suites (txi2p-tahoe 0.3.7, Foolscap, Tahoe-LAFS) against
# this txi2p, and the install a Tahoe-LAFS user makes (scripts/peers.sh).
if [ "${PEERS:-1}" != 0 ]; then
    echo "=============== txi2p tests: peers ===============" >&2
    peers_rc=0
    bash scripts/peers.sh 2>&1 | tee "$results/peers.log" || peers_rc=$?
    if [ "$peers_rc" -ne 0 ]; then
        status=1
        failed_passes+=("peers")
    fi
fi
for routers in ${ROUTERS:-system trixie}; do
    case "$routers" in
        system)
            I2PD="$system_i2pd" run_pass "integration-i2pd-system" tests/integration ;;
        trixie)
            trixie="$(bash scripts/i2pd-debian.sh trixie)"
            I2PD="$trixie" run_pass "integration-i2pd-trixie" tests/integration ;;
        *)
            echo "test.sh: unknown router set '$routers' (system, trixie)" >&2
            exit 2 ;;
    esac
done

for name in "${failed_passes[@]}"; do
    echo "=============== the end of failed pass $name ===============" >&2
    [ -f "$results/$name.xml" ] || [ "$name" = peers ] ||
        echo "(pytest wrote no report: it was ended before the pass finished)" >&2
    tail -n 150 "$results/$name.log" >&2
done
.venv/bin/python - "$results" <<'EOF'
import pathlib, sys, xml.etree.ElementTree as ET
totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in totals}
    for k in totals:
        totals[k] += counts[k]
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    print(f"  {path.stem}: {passed} passed, {counts['failures'] + counts['errors']} failed, "
          f"{counts['skipped']} skipped", file=sys.stderr)
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"matrix: {passed} passed, {failed} failed, {totals['skipped']} skipped")
EOF
exit $status
