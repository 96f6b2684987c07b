#!/usr/bin/env bash
# Serve a directory as an I2P web site with twistd (no proxy, no tunnel
# configuration): the key file keeps the site's .b32.i2p address stable.
#   bash examples/web_site.sh ./public
# The address is in the log ("listening on xxx.b32.i2p") and in site.key.
set -euo pipefail
exec twistd -n web --listen "i2p:session=site:keyfile=site.key:port=80" --path "${1:-.}"
