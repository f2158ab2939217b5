#!/usr/bin/env bash
# `rampart rules check` on stock CRS (setup example + plugins + rules): must report 0 unsupported.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
crs=${CRS_DIR:-$("$here/scripts/find-crs.sh")}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
{
  echo "Include $here/conf/modsecurity.conf"
  echo "Include $crs/crs-setup.conf.example"
  echo "IncludeOptional $crs/plugins/*-config.conf"
  echo "IncludeOptional $crs/plugins/*-before.conf"
  echo "Include $crs/rules/*.conf"
  echo "IncludeOptional $crs/plugins/*-after.conf"
} > "$tmp/main.conf"
bin=${RAMPART_BIN:-$here/target/debug/rampart}
"$bin" rules check "$tmp/main.conf"
