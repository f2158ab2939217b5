#!/usr/bin/env bash
# Prints the directory of an OWASP CRS v4 installation, fetching a release when none is found.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
is_crs() { [ -d "$1/rules" ] && ls "$1"/rules/REQUEST-901-*.conf >/dev/null 2>&1; }
for d in "${CRS_DIR:-}" "$here/../shared/crs" /usr/share/modsecurity-crs /etc/modsecurity/crs "$here/.cache/coreruleset"; do
  if [ -n "$d" ] && is_crs "$d"; then cd "$d" && pwd; exit 0; fi
done
ver=4.28.0
mkdir -p "$here/.cache"
echo "CRS not found; downloading CRS v$ver into .cache/coreruleset" >&2
curl -fsSL "https://github.com/coreruleset/coreruleset/archive/refs/tags/v$ver.tar.gz" -o "$here/.cache/crs.tgz"
rm -rf "$here/.cache/coreruleset" && mkdir -p "$here/.cache/coreruleset"
tar -xzf "$here/.cache/crs.tgz" -C "$here/.cache/coreruleset" --strip-components=1
cd "$here/.cache/coreruleset" && pwd
