#!/usr/bin/env bash
# The peers' own test suites, run against this txi2p (fetched from PyPI at
# pinned versions each time they are missing; nothing of theirs is copied
# into this project).  In a virtualenv of their own, .venv/peers/venv:
#   1. this txi2p and the transitional txi2p-tahoe (compat/txi2p-tahoe),
#      then "tahoe-lafs[i2p]" and "foolscap[i2p]" as a user installs them;
#      the install is checked: pip kept this txi2p (version, Twisted plugin
#      scan without errors or MixedInstallWarning, i2p: strings give its
#      endpoints);
#   2. txi2p-tahoe 0.3.7's tests of its public API (the sdist's
#      test_address.py, test_plugins.py, sam/test/test_endpoints.py) through
#      tests/peers/peer_txi2p_tahoe.py, which names the tests that do not
#      apply and the expected failures, each with why;
#   3. Foolscap 24.9.0's foolscap.test.test_connection;
#   4. Tahoe-LAFS 1.20.0's test_i2p_provider, test_connections and
#      cli/test_create.
# A failure names the peer test.  Called by scripts/test.sh (PEERS=0 skips).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
[ -x .venv/bin/python ] || bash scripts/setup.sh
TAHOE_SDIST=txi2p-tahoe-0.3.7.tar.gz
TAHOE_SDIST_SHA256=f95b3dcda152f80088d7824dc4499ef779675a69dc759c850269d31f4ca13a26
work="$root/.venv/peers"
venv="$work/venv"
mkdir -p "$work"
say() { echo "=============== peers: $* ===============" >&2; }

if [ ! -x "$venv/bin/python" ]; then
    .venv/bin/python -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip -q --disable-pip-version-check)

say "install: this txi2p and the transitional txi2p-tahoe, then tahoe-lafs[i2p] and foolscap[i2p]"
rm -rf "$work/build"
"${pip[@]}" install --force-reinstall --no-deps "$root" "$root/compat/txi2p-tahoe"
"${pip[@]}" install "$root" "$root/compat/txi2p-tahoe"   # their dependencies (Twisted...)
rm -rf "$root/build" "$root/compat/txi2p-tahoe/build" "$root"/compat/txi2p-tahoe/*.egg-info
"${pip[@]}" install "tahoe-lafs[i2p]==1.20.0" "foolscap[i2p]==24.9.0"
"${pip[@]}" install pytest hypothesis testtools fixtures mock beautifulsoup4 html5lib "paramiko<2.9" \
    "prometheus-client==0.11.0"   # what Tahoe-LAFS's test modules import
version="$(.venv/bin/python -c 'import txi2p; print(txi2p.__version__)')"
(cd "$work" && "$venv/bin/python" -P - "$version" <<'PY'
import sys, warnings
from importlib import metadata
caught = warnings.catch_warnings(record=True)
seen = caught.__enter__()
warnings.simplefilter("always")
from twisted.python import log
errors = []
log.addObserver(lambda event: errors.append(event) if event.get("isError") else None)
import txi2p
from twisted.internet import reactor
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import IStreamClientEndpointStringParserWithReactor
from twisted.plugin import getPlugins
want = sys.argv[1]
got = {"txi2p": txi2p.__version__, "txi2p-tahoe": metadata.version("txi2p-tahoe")}
assert got == {"txi2p": want, "txi2p-tahoe": want}, f"pip did not keep this txi2p: {got}"
list(getPlugins(IStreamClientEndpointStringParserWithReactor))
assert not errors, f"the Twisted plugin scan logged errors: {errors}"
mixed = [str(w.message) for w in seen if type(w.message).__name__ == "MixedInstallWarning"]
assert not mixed, f"txi2p says the install is mixed: {mixed}"
endpoint = type(clientFromString(reactor, "i2p:example.i2p:80"))
assert endpoint.__module__ == "txi2p.endpoints", endpoint
print(f"install ok: txi2p {want} with the transitional txi2p-tahoe {want}, tahoe-lafs "
      f"{metadata.version('tahoe-lafs')}, foolscap {metadata.version('foolscap')}; plugin scan clean")
PY
)

say "txi2p-tahoe 0.3.7's own tests of its public API"
sdist="$work/txi2p-tahoe-0.3.7"
if [ ! -d "$sdist" ]; then
    .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
        "txi2p-tahoe==0.3.7" -d "$work"
    echo "$TAHOE_SDIST_SHA256  $work/$TAHOE_SDIST" | sha256sum -c --quiet
    tar -xzf "$work/$TAHOE_SDIST" -C "$work"
fi
status=0
: > "$work/empty.ini"
# -P and --import-mode=importlib: the sdist's own txi2p never comes on sys.path
(cd "$sdist" && PYTHONPATH="$root/tests/peers" "$venv/bin/python" -P -m pytest -c "$work/empty.ini" \
    --rootdir "$sdist" --import-mode=importlib -p peer_txi2p_tahoe -p no:cacheprovider \
    --txi2p-tahoe-tests="$sdist" -W ignore::DeprecationWarning -q -rfExX \
    txi2p/test/test_address.py txi2p/test/test_plugins.py txi2p/sam/test/test_endpoints.py) || status=1

say "Foolscap 24.9.0: foolscap.test.test_connection"
(cd "$work" && "$venv/bin/python" -P -m twisted.trial --reporter=text foolscap.test.test_connection) || status=1

say "Tahoe-LAFS 1.20.0: test_i2p_provider, test_connections, cli.test_create"
(cd "$work" && "$venv/bin/python" -P -m twisted.trial --reporter=text allmydata.test.test_i2p_provider \
    allmydata.test.test_connections allmydata.test.cli.test_create) || status=1
exit $status
