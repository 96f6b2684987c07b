#!/usr/bin/env bash
# Make another Debian release's i2pd runnable here without touching the system:
#   bash scripts/i2pd-debian.sh SUITE [DIR]
# downloads that suite's i2pd package and the libraries it needs with a
# private apt configuration (its own sources, lists and cache under DIR),
# unpacks them into DIR/prefix, and writes DIR/i2pd: a wrapper that runs the
# binary through the prefix's own dynamic loader (the router keeps the
# wrapper's process id).  Prints the wrapper's path.  Nothing is installed
# on the system and the system's apt sources are not changed: the Debian
# URI is read from them.  Default DIR: .cache/i2pd-SUITE.
#
# Use the result for the test suite with I2PD=$(bash scripts/i2pd-debian.sh trixie).
set -euo pipefail
cd "$(dirname "$0")/.."
suite="${1:?usage: i2pd-debian.sh SUITE [DIR]}"
dir="$(realpath -m "${2:-.cache/i2pd-$suite}")"
wrapper="$dir/i2pd"
if [ -x "$wrapper" ] && "$wrapper" --version >/dev/null 2>&1; then
    echo "$wrapper"
    exit 0
fi

# The machine's own Debian mirror (deb822 or one-line sources).
uri=""
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ {print $2; exit}' "$f")
    [ -n "$uri" ] && case "$uri" in *-security*) uri="";; *) break;; esac
done
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "i2pd-debian.sh: no Debian URI found in the system's apt sources" >&2; exit 1; }

echo "[i2pd-debian] fetching Debian $suite's i2pd into $dir (the system is not changed)" >&2
mkdir -p "$dir/apt/sources.list.d" "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" \
         "$dir/apt/preferences.d" "$dir/debs" "$dir/prefix"
echo "deb $uri $suite main" > "$dir/apt/sources.list"
touch "$dir/apt/status"
opts=(-o "Dir::Etc::SourceList=$dir/apt/sources.list"
      -o "Dir::Etc::SourceParts=$dir/apt/sources.list.d"
      -o "Dir::Etc::Preferences=$dir/apt/preferences"
      -o "Dir::Etc::PreferencesParts=$dir/apt/preferences.d"
      -o "Dir::State::Lists=$dir/apt/lists"
      -o "Dir::State::Status=$dir/apt/status"
      -o "Dir::Cache=$dir/apt/cache"
      -o "APT::Get::List-Cleanup=0" -o "Debug::NoLocking=1")
apt-get -q "${opts[@]}" update >&2
packages=(i2pd libboost-program-options1.83.0 libc6 libgcc-s1 libminiupnpc18 libssl3t64
          libstdc++6 zlib1g)
(cd "$dir/debs" && apt-get -q "${opts[@]}" download "${packages[@]}" >&2)
for deb in "$dir"/debs/*.deb; do
    dpkg-deb -x "$deb" "$dir/prefix"
done
lib="$dir/prefix/usr/lib/x86_64-linux-gnu"
cat > "$wrapper" <<EOF
#!/bin/sh
# Debian $suite's i2pd, run from a private prefix by scripts/i2pd-debian.sh.
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$dir/prefix/usr/bin/i2pd" "\$@"
EOF
chmod +x "$wrapper"
# (sed, not head: head exits after one line and the router then dies of
# SIGPIPE, which pipefail turns into this script's failure)
"$wrapper" --version 2>&1 | sed -n 1p >&2
echo "$wrapper"
