#!/usr/bin/env bash
# `make bench`: Rampart with the WAF on, Rampart with the WAF off and nginx + libmodsecurity
# (and a plain nginx proxy, for reference), all with stock OWASP CRS at paranoia 1 in blocking
# mode and the same base configuration (conf/modsecurity.conf + crs/crs-setup.conf), in front
# of the same static backend, driven by wrk through the same request shapes
# (scripts/bench/shapes/*.http). Prints requests/s, p99 latency and the ratios, then
# Rampart's resident memory with CRS loaded and after many requests.
#
# Settings (environment):
#   BENCH_DURATION=10        seconds measured per cell (server x shape)
#   BENCH_WARMUP=2           seconds of unmeasured load before each cell
#   BENCH_WORKERS=1          proxy workers on each side: Rampart --threads, nginx worker_processes
#   BENCH_BACKEND_WORKERS=1  static backend nginx worker_processes
#   BENCH_CONNECTIONS=16     wrk connections (-c)
#   BENCH_WRK_THREADS=1      wrk threads (-t)
#   BENCH_SHAPES="browser_get form_post json_post sqli"
#   BENCH_SERVERS="rampart-on rampart-off nginx-modsec nginx"   (nginx ones when installed)
#   BENCH_MEM_REQUESTS=100000  memory run: at least this many requests to Rampart WAF on...
#   BENCH_MEM_MAX_SECONDS=120  ...unless this many seconds passed first
#   BENCH_MEM_CHUNK=10         memory run: seconds per wrk run (one shape each, in turn)
#   BENCH_ONLY=all|throughput|memory
#   BENCH_INSTALL=1          apt-get install wrk, nginx, libnginx-mod-http-modsecurity if missing
#   BENCH_BUILD=1            cargo build --release first (0: use the existing binary)
#   RAMPART_BIN=path         binary to run (default: $CARGO_TARGET_DIR or target, release/rampart)
#   CRS_DIR                  OWASP CRS (default: scripts/find-crs.sh)
#   BENCH_KEEP=1             keep the temporary directory (configs, logs) for inspection
#
# The million-request memory check (stops at 1,000,000 requests or one hour):
#   BENCH_ONLY=memory BENCH_MEM_REQUESTS=1000000 BENCH_MEM_MAX_SECONDS=3600 make bench
#
# Everything runs on 127.0.0.1 on free ports; every process the script starts is stopped and
# its temporary directory removed on exit (also on Ctrl-C). Installed packages stay installed
# (their services are not started: a temporary policy-rc.d prevents it).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_WORKERS=${BENCH_WORKERS:-1}
BENCH_BACKEND_WORKERS=${BENCH_BACKEND_WORKERS:-1}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-16}
BENCH_WRK_THREADS=${BENCH_WRK_THREADS:-1}
BENCH_SHAPES=${BENCH_SHAPES:-browser_get form_post json_post sqli}
BENCH_SERVERS=${BENCH_SERVERS:-rampart-on rampart-off nginx-modsec nginx}
BENCH_MEM_REQUESTS=${BENCH_MEM_REQUESTS:-100000}
BENCH_MEM_MAX_SECONDS=${BENCH_MEM_MAX_SECONDS:-120}
BENCH_MEM_CHUNK=${BENCH_MEM_CHUNK:-10}
BENCH_ONLY=${BENCH_ONLY:-all}
BENCH_INSTALL=${BENCH_INSTALL:-1}
BENCH_BUILD=${BENCH_BUILD:-1}
shapes_dir=$here/scripts/bench/shapes
lua=$here/scripts/bench/shape.lua

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

# ---------------------------------------------------------------------------------------
# Cleanup: only what this script started or created.
# ---------------------------------------------------------------------------------------
tmp=$(mktemp -d /tmp/rampart-bench.XXXXXX)
chmod 755 "$tmp"
pids=()
policy_created=0
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ "${BENCH_KEEP:-0}" = 1 ]; then say "bench: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------------------
have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
modsec_module() {
  local m
  for m in /usr/lib/nginx/modules/ngx_http_modsecurity_module.so /usr/share/nginx/modules/ngx_http_modsecurity_module.so; do
    [ -f "$m" ] && { echo "$m"; return 0; }
  done
  return 1
}
install_missing() {
  local need=()
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  have_nginx || need+=(nginx)
  modsec_module >/dev/null || need+=(libnginx-mod-http-modsecurity)
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$BENCH_INSTALL" != 1 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "bench: not installing ${need[*]} (BENCH_INSTALL=$BENCH_INSTALL or no apt-get)"
    return 0
  fi
  local SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; else
      say "bench: not root and no password-less sudo: not installing ${need[*]}"; return 0; fi
  fi
  say "bench: installing ${need[*]}"
  # Keep Debian from starting the packaged nginx service on port 80.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  $SUDO apt-get update -qq || say "bench: apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 \
    || say "bench: apt-get install ${need[*]} failed; continuing with what is installed"
  if [ "$policy_created" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; policy_created=0; fi
}
install_missing
command -v wrk >/dev/null 2>&1 || die "wrk is required (apt-get install wrk)"
command -v curl >/dev/null 2>&1 || die "curl is required"
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || NGINX=""
MODSEC_SO=$(modsec_module || true)

CRS_DIR=${CRS_DIR:-$("$here/scripts/find-crs.sh")}
[ -d "$CRS_DIR/rules" ] || die "CRS not found (set CRS_DIR)"

# ---------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------
target_dir=${CARGO_TARGET_DIR:-$here/target}
RAMPART_BIN=${RAMPART_BIN:-$target_dir/release/rampart}
if [ "$BENCH_BUILD" = 1 ]; then
  say "bench: cargo build --release"
  (cd "$here" && cargo build --release --bin rampart >&2)
fi
[ -x "$RAMPART_BIN" ] || die "no binary at $RAMPART_BIN (run cargo build --release)"

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q . && ! grep -qx "$p" "$tmp/ports" 2>/dev/null; then
      echo "$p" >>"$tmp/ports"; echo "$p"; return 0
    fi
  done
  die "no free port"
}

# Parses a shape file into $tmp/shape-NAME.{method,path,headers,body}.
parse_shape() {
  local name=$1 f=$shapes_dir/$1.http
  [ -f "$f" ] || die "no shape $f"
  local line; line=$(head -n1 "$f")
  echo "${line%% *}" >"$tmp/shape-$name.method"
  line=${line#* }; echo "${line%% *}" >"$tmp/shape-$name.path"
  sed -n '2,/^$/p' "$f" | sed '/^$/d' >"$tmp/shape-$name.headers"
  # The body: everything after the first blank line, without the file's last newline.
  awk 'b { print } /^$/ && !b { b = 1 }' "$f" | head -c -1 >"$tmp/shape-$name.body" || true
}

# Sends one shape with curl; prints the status code.
send_shape() {
  local port=$1 name=$2 args=() h
  while IFS= read -r h; do args+=(-H "$h"); done <"$tmp/shape-$name.headers"
  [ -s "$tmp/shape-$name.body" ] && args+=(--data-binary "@$tmp/shape-$name.body")
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$(cat "$tmp/shape-$name.method")" \
    "${args[@]}" "http://127.0.0.1:$port$(cat "$tmp/shape-$name.path")" || echo 000
}

wait_port() { # port pid what
  for _ in $(seq 600); do
    kill -0 "$2" 2>/dev/null || die "$3 exited during startup (logs in $tmp; see above)"
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.1
  done
  die "$3 did not start listening on $1"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

# Runs wrk; prints the BENCH line (see scripts/bench/shape.lua).
run_wrk() { # port shape seconds
  BENCH_SHAPE=$shapes_dir/$2.http \
    wrk -t"$BENCH_WRK_THREADS" -c"$BENCH_CONNECTIONS" -d"$3"s --timeout 10s -s "$lua" \
    "http://127.0.0.1:$1/" >"$tmp/wrk.out" 2>&1 || { cat "$tmp/wrk.out" >&2; die "wrk failed"; }
  grep '^BENCH ' "$tmp/wrk.out" || { cat "$tmp/wrk.out" >&2; die "wrk printed no result"; }
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# ---------------------------------------------------------------------------------------
# Configuration shared by both WAFs
# ---------------------------------------------------------------------------------------
rules_list=(
  "$here/conf/modsecurity.conf"
  "$here/crs/crs-setup.conf"
  "$CRS_DIR/plugins/*-config.conf"
  "$CRS_DIR/plugins/*-before.conf"
  "$CRS_DIR/rules/*.conf"
  "$CRS_DIR/plugins/*-after.conf"
)
{
  for r in "${rules_list[@]}"; do echo "Include $r"; done
  echo "SecAuditLog $tmp/modsec-audit.log"
} >"$tmp/modsec-main.conf"

mkdir -p "$tmp/www"
# The static page (about 1 KB of HTML) every request gets from the backend.
{
  echo '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Example Shop</title>'
  echo '<link rel="stylesheet" href="/static/site.css"></head><body><header><nav><a href="/">Home</a>'
  echo '<a href="/products">Products</a> <a href="/account">Account</a></nav></header><main>'
  for i in 1 2 3 4 5 6; do
    echo "<section><h3>Review $i</h3><p>Great book, arrived quickly and well packed. Would buy again.</p></section>"
  done
  echo '</main><footer>&copy; Example Shop</footer></body></html>'
} >"$tmp/www/index.html"

# ---------------------------------------------------------------------------------------
# Machine header
# ---------------------------------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
crs_ver=$(sed -n 's/.*OWASP CRS ver\.\([0-9.]*\).*/\1/p' "$CRS_DIR/rules/REQUEST-901-INITIALIZATION.conf" 2>/dev/null | head -n1)
echo "Rampart bench  $(date -u '+%Y-%m-%d %H:%M UTC')  rampart $(cd "$here" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "machine: ${cpu}, $(nproc) cores, $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CRS ${crs_ver:-?} ($CRS_DIR), paranoia 1, blocking; base config conf/modsecurity.conf + crs/crs-setup.conf"
echo "workers: $BENCH_WORKERS per proxy (Rampart --threads, nginx worker_processes); backend: $BENCH_BACKEND_WORKERS"
echo "wrk $(wrk -v 2>&1 | head -n1 | awk '{ print $2 }'): -t$BENCH_WRK_THREADS -c$BENCH_CONNECTIONS, ${BENCH_DURATION}s per cell after ${BENCH_WARMUP}s warm-up, keep-alive, 127.0.0.1"
if [ -n "$NGINX" ]; then
  echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'); libmodsecurity $(dpkg-query -W -f='${Version}' libmodsecurity3 2>/dev/null || echo '?'), connector $(dpkg-query -W -f='${Version}' libnginx-mod-http-modsecurity 2>/dev/null || echo '?')"
fi

# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------
nginx_common() { # name port workers
  cat <<EOF
worker_processes $3;
pid $tmp/$1.pid;
$([ "$(id -u)" -eq 0 ] && echo "user root root;")
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  default_type text/html;
  client_body_temp_path $tmp/$1-body;
  proxy_temp_path $tmp/$1-proxy;
  fastcgi_temp_path $tmp/$1-fastcgi;
  uwsgi_temp_path $tmp/$1-uwsgi;
  scgi_temp_path $tmp/$1-scgi;
EOF
}

start_nginx() { # name port conf-file
  "$NGINX" -t -q -e "$tmp/$1-error.log" -p "$tmp" -c "$3" 2>"$tmp/$1-t.log" \
    || { cat "$tmp/$1-t.log" >&2; return 1; }
  "$NGINX" -e "$tmp/$1-error.log" -p "$tmp" -c "$3" -g 'daemon off; master_process on;' 2>>"$tmp/$1-error.log" &
  pids+=($!)
  eval "pid_$(tr - _ <<<"$1")=$!"
  wait_port "$2" "$!" "$1"
}

backend_port=$(free_port)
if [ -n "$NGINX" ]; then
  backend_kind="nginx static file"
  { nginx_common backend "$backend_port" "$BENCH_BACKEND_WORKERS"; cat <<EOF
  server {
    listen 127.0.0.1:$backend_port;
    root $tmp/www;
    location / {
      try_files /index.html =404;
      error_page 405 =200 \$uri;
    }
  }
}
EOF
  } >"$tmp/backend.conf"
  start_nginx backend "$backend_port" "$tmp/backend.conf" || die "static nginx backend failed to start"
else
  backend_kind="rampart backend"
  "$RAMPART_BIN" backend --listen "127.0.0.1:$backend_port" 2>"$tmp/backend.log" &
  pids+=($!)
  wait_port "$backend_port" "$!" "rampart backend"
fi

declare -A port expect_block label pidof
servers=()
want() { [[ " $BENCH_SERVERS " == *" $1 "* ]]; }

start_rampart() { # name mode
  local name=$1 p; p=$(free_port)
  {
    cat <<EOF
server:
  pid_file: $tmp/$name.pid
  upgrade_sock: $tmp/$name.sock
  grace_period: 1s
  graceful_shutdown_timeout: 1s
listeners:
  - address: 127.0.0.1:$p
upstreams:
  backend:
    servers:
      - address: 127.0.0.1:$backend_port
routes:
  - name: default
    upstream: backend
waf:
  mode: "$2"
  error_log: $tmp/$name-waf-error.log
  audit_log: $tmp/$name-audit.log
  rules:
EOF
    for r in "${rules_list[@]}"; do echo "    - $r"; done
  } >"$tmp/$name.yaml"
  (cd "$tmp" && exec "$RAMPART_BIN" run -c "$tmp/$name.yaml" --threads "$BENCH_WORKERS") >"$tmp/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_port "$p" "$pid" "$name" || { tail -n 20 "$tmp/$name.log" >&2; exit 1; }
  port[$name]=$p
  pidof[$name]=$pid
  servers+=("$name")
}

if [ "$BENCH_ONLY" = memory ]; then BENCH_SERVERS="rampart-on"; fi
want rampart-on && { start_rampart rampart-on On; label[rampart-on]="Rampart WAF on"; expect_block[rampart-on]=1; }
rss_loaded=0
[ -n "${pidof[rampart-on]:-}" ] && rss_loaded=$(rss_kb "${pidof[rampart-on]}")
want rampart-off && { start_rampart rampart-off Off; label[rampart-off]="Rampart WAF off"; expect_block[rampart-off]=0; }

if want nginx-modsec; then
  if [ -n "$NGINX" ] && [ -n "$MODSEC_SO" ]; then
    p=$(free_port)
    { echo "load_module $MODSEC_SO;"; nginx_common nginx-modsec "$p" "$BENCH_WORKERS"; cat <<EOF
  upstream backend { server 127.0.0.1:$backend_port; keepalive 32; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$p;
    modsecurity on;
    modsecurity_rules_file $tmp/modsec-main.conf;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
    } >"$tmp/nginx-modsec.conf"
    if start_nginx nginx-modsec "$p" "$tmp/nginx-modsec.conf"; then
      port[nginx-modsec]=$p; pidof[nginx-modsec]=$pid_nginx_modsec; servers+=(nginx-modsec)
      label[nginx-modsec]="nginx+ModSecurity"; expect_block[nginx-modsec]=1
    else
      say "bench: nginx + libmodsecurity failed to start with CRS; skipped"
    fi
  else
    say "bench: nginx + libmodsecurity not installed; skipped (apt-get install nginx libnginx-mod-http-modsecurity)"
  fi
fi
if want nginx && [ -n "$NGINX" ]; then
  p=$(free_port)
  { nginx_common nginx "$p" "$BENCH_WORKERS"; cat <<EOF
  upstream backend { server 127.0.0.1:$backend_port; keepalive 32; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$p;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  } >"$tmp/nginx.conf"
  if start_nginx nginx "$p" "$tmp/nginx.conf"; then
    port[nginx]=$p; pidof[nginx]=$pid_nginx; servers+=(nginx)
    label[nginx]="nginx (no WAF)"; expect_block[nginx]=0
  fi
fi
echo "backend: $backend_kind; servers: ${servers[*]}"

# ---------------------------------------------------------------------------------------
# Check that every server does what the comparison assumes: the WAFs block the SQL
# injection with 403 and pass the benign shapes with 200; the others pass everything.
# ---------------------------------------------------------------------------------------
read -r -a shape_list <<<"$BENCH_SHAPES"
for s in "${shape_list[@]}"; do parse_shape "$s"; done
echo
echo "check (status per shape):"
bad=0
for srv in "${servers[@]}"; do
  line=""
  for s in "${shape_list[@]}"; do
    want_status=200
    [ "$s" = sqli ] && [ "${expect_block[$srv]}" = 1 ] && want_status=403
    got=$(send_shape "${port[$srv]}" "$s")
    line+=" $s=$got"
    if [ "$got" != "$want_status" ]; then line+="(expected $want_status)"; bad=1; fi
  done
  printf '  %-18s%s\n' "${label[$srv]}" "$line"
done
if [ "$bad" = 1 ]; then
  for f in "$tmp"/*error.log; do [ -s "$f" ] && { say "--- $f"; tail -n 5 "$f" >&2; }; done
  die "a server does not behave as the comparison assumes (see above)"
fi

# ---------------------------------------------------------------------------------------
# Throughput
# ---------------------------------------------------------------------------------------
declare -A rps p99 note
served_on=0
if [ "$BENCH_ONLY" != memory ]; then
  echo
  for srv in "${servers[@]}"; do
    for s in "${shape_list[@]}"; do
      blocked_expected=0
      [ "$s" = sqli ] && [ "${expect_block[$srv]}" = 1 ] && blocked_expected=1
      [ "$BENCH_WARMUP" != 0 ] && run_wrk "${port[$srv]}" "$s" "$BENCH_WARMUP" >/dev/null
      r=$(run_wrk "${port[$srv]}" "$s" "$BENCH_DURATION")
      n=$(field requests "$r"); errs=$(field status_4xx5xx "$r")
      sockerr=$(( $(field connect_errors "$r") + $(field read_errors "$r") + $(field write_errors "$r") + $(field timeouts "$r") ))
      rps[$srv,$s]=$(field rps "$r"); p99[$srv,$s]=$(field p99_us "$r"); note[$srv,$s]=""
      if [ "$blocked_expected" = 1 ]; then [ "$errs" = "$n" ] || note[$srv,$s]="!"; else [ "$errs" = 0 ] || note[$srv,$s]="!"; fi
      [ "$sockerr" = 0 ] || note[$srv,$s]+="e"
      [ "$srv" = rampart-on ] && served_on=$((served_on + n))
      say "  $srv $s: $r"
    done
  done

  ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
  echo
  printf '%-12s' "shape"
  for srv in "${servers[@]}"; do printf ' | %-26s' "${label[$srv]}"; done
  has() { [[ " ${servers[*]} " == *" $1 "* ]]; }
  has rampart-on && has rampart-off && printf ' | %-9s' "on/off"
  has rampart-on && has nginx-modsec && printf ' | %-14s' "on/nginx+MS"
  echo
  printf '%-12s' ""
  for srv in "${servers[@]}"; do printf ' | %11s %14s' "req/s" "p99 ms"; done
  echo
  for s in "${shape_list[@]}"; do
    printf '%-12s' "$s"
    for srv in "${servers[@]}"; do
      printf ' | %11s %14s' "$(printf '%.0f' "${rps[$srv,$s]}")${note[$srv,$s]}" "$(ms "${p99[$srv,$s]}")"
    done
    has rampart-on && has rampart-off && printf ' | %8sx' "$(ratio "${rps[rampart-on,$s]}" "${rps[rampart-off,$s]}")"
    has rampart-on && has nginx-modsec && printf ' | %13sx' "$(ratio "${rps[rampart-on,$s]}" "${rps[nginx-modsec,$s]}")"
    echo
  done
  echo "(ratios are of requests/s; '!' marks a cell whose statuses were not all as expected"
  echo " -- 200 for benign shapes, 403 for sqli behind a WAF -- 'e' a cell with socket errors)"
fi

# ---------------------------------------------------------------------------------------
# Memory of Rampart with the WAF on
# ---------------------------------------------------------------------------------------
if [ "$BENCH_ONLY" != throughput ] && [ -n "${pidof[rampart-on]:-}" ]; then
  # wrk runs for a time, not a count: chunks of BENCH_MEM_CHUNK seconds, the shapes in turn,
  # until BENCH_MEM_REQUESTS requests were served or BENCH_MEM_MAX_SECONDS passed.
  pid=${pidof[rampart-on]}
  rss_before=$(rss_kb "$pid")
  mem_served=0; elapsed=0; i=0; trail=""; rss_peak=$rss_before
  while [ "$mem_served" -lt "$BENCH_MEM_REQUESTS" ] && [ "$elapsed" -lt "$BENCH_MEM_MAX_SECONDS" ]; do
    s=${shape_list[$((i % ${#shape_list[@]}))]}
    r=$(run_wrk "${port[rampart-on]}" "$s" "$BENCH_MEM_CHUNK")
    mem_served=$((mem_served + $(field requests "$r")))
    elapsed=$((elapsed + BENCH_MEM_CHUNK)); i=$((i + 1))
    k=$(rss_kb "$pid"); [ "$k" -gt "$rss_peak" ] && rss_peak=$k
    trail+=" $(awk -v k="$k" 'BEGIN { printf "%.1f", k / 1024 }')"
  done
  rss_after=$(rss_kb "$pid")
  echo
  echo "memory (Rampart WAF on, VmRSS of the process, $BENCH_WORKERS worker thread(s)):"
  echo "  CRS loaded, no request yet:                 $(mb "$rss_loaded")"
  echo "  after the checks and throughput cells ($served_on requests): $(mb "$rss_before")"
  echo "  after $mem_served more requests (${BENCH_MEM_CHUNK}s chunks of ${shape_list[*]} in turn): $(mb "$rss_after"), peak $(mb "$rss_peak")"
  echo "  VmRSS after each chunk (MB):$trail"
  echo "  growth over those $mem_served requests: $(awk -v a="$rss_after" -v b="$rss_before" 'BEGIN { printf "%+.1f MB", (a - b) / 1024 }')"
  # A reload (SIGHUP) compiles the rules again and frees the previous ruleset.
  log=$tmp/rampart-on.log
  reloads_done() { grep -c 'reload: configuration and rules reloaded' "$log" || true; }
  done_before=$(reloads_done)
  kill -HUP "$pid"
  for _ in $(seq 1 120); do
    [ "$(reloads_done)" -gt "$done_before" ] && break
    grep -q 'reload failed' "$log" && break
    sleep 0.5
  done
  if [ "$(reloads_done)" -gt "$done_before" ]; then
    run_wrk "${port[rampart-on]}" "${shape_list[0]}" "$BENCH_MEM_CHUNK" >/dev/null
    echo "  after a reload (SIGHUP) and ${BENCH_MEM_CHUNK}s more of ${shape_list[0]}: $(mb "$(rss_kb "$pid")")"
  else
    echo "  reload (SIGHUP) did not complete within 60s; see $log"
  fi
  if [ -n "${pidof[nginx-modsec]:-}" ]; then
    t=0; for c in $(pgrep -P "${pidof[nginx-modsec]}" || true); do t=$((t + $(rss_kb "$c"))); done
    echo "  (nginx+ModSecurity for reference: master $(mb "$(rss_kb "${pidof[nginx-modsec]}")"), workers $(mb "$t"))"
  fi
fi
