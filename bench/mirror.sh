#!/usr/bin/env bash
# What the image mirror costs, on 127.0.0.1 (bash bench/run.sh mirror):
#
#   1. `token-agent serve` alone, against the fake Graph API and CDN of a
#      `token-agent demo` beside it, copies the newest MIRROR_POSTS (24)
#      posts at every width: the time from the first feed request until every
#      item carries its copies, the server's peak resident memory meanwhile
#      (VmHWM), its memory once idle again, and the bytes stored.
#   2. /media (a 640-wide copy, from memory) against /token.json on the same
#      server, alternating rounds of wrk.
#   3. The binary's size and its idle memory, against the same figures of the
#      binary built from BENCH_BEFORE (a git revision, e.g. one from before the
#      mirror; none by default), each started fresh against the same fake.
#
# Settings: BENCH_DURATION (s per run, 10), BENCH_ROUNDS (2), BENCH_CONNECTIONS
# (64), BENCH_THREADS (2), BENCH_BEFORE (a git revision to compare with), or
# BENCH_BEFORE_BIN (a release binary already built from it, named in the table
# by BENCH_BEFORE when given).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="python3 $ROOT/bench/tools.py"
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
BEFORE=${BENCH_BEFORE:-}
POSTS=24

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
command -v wrk >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}
build_release
BEFORE_BIN=${BENCH_BEFORE_BIN:-}
[ -n "$BEFORE_BIN" ] && BEFORE=${BEFORE:-before}
if [ -n "$BEFORE" ] && [ -z "$BEFORE_BIN" ]; then
    say "building $BEFORE for the comparison"
    BEFORE_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/bench-before"
    rm -rf "$BEFORE_DIR/src"
    git -C "$ROOT" worktree add --force --detach "$BEFORE_DIR/src" "$BEFORE" >/dev/null
    (cd "$BEFORE_DIR/src" && CARGO_TARGET_DIR="$BEFORE_DIR/target" cargo build --release --quiet)
    BEFORE_BIN="$BEFORE_DIR/target/release/token-agent"
    git -C "$ROOT" worktree remove --force "$BEFORE_DIR/src"
fi
start_workspace token-agent-mirror

# --- the demo, for its fake Graph API and CDN ---------------------------------
DEMO_PORT=$($TOOLS free-port)
DEMO_ORIGIN="http://localhost:$DEMO_PORT"
PIDFILES+=("$WORK/demo.pid")
(cd "$WORK" && env -u DATABASE_URL -u MEMCACHIER_SERVERS -u MEMCACHE_SERVERS -u ALLOWED_DOMAINS \
    -u STARTING_TOKEN RUST_LOG=warn PORT="$DEMO_PORT" MIRROR_POSTS=0 \
    $TOOLS start "$WORK/demo.pid" "$WORK/demo.log" "$DEMO_PORT" /token.json "$DEMO_ORIGIN" -- "$BIN" demo >/dev/null)
$TOOLS get "$DEMO_PORT" /token.json "$DEMO_ORIGIN" >"$WORK/token.json"
$TOOLS get "$DEMO_PORT" "/feed.json?limit=$POSTS" "$DEMO_ORIGIN" >"$WORK/feed.json"
FAKE_BASE=$($TOOLS fake-base "$WORK/demo.log")
CDN_HOST=$($TOOLS cdn-host "$WORK/feed.json")
TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$WORK/token.json")
say "the demo's fake at $FAKE_BASE, its CDN at $CDN_HOST"

# serve_env PORT DB: the environment of `serve` against the demo's fake.
serve_env() {
    echo env -u MEMCACHIER_SERVERS -u MEMCACHE_SERVERS PORT="$1" RUST_LOG=warn \
        DATABASE_URL="sqlite://$2" ALLOWED_DOMAINS="http://localhost:$1" STARTING_TOKEN="$TOKEN" \
        INSTAGRAM_GRAPH_URL="$FAKE_BASE/graph.instagram.com" \
        INSTAGRAM_OAUTH_URL="$FAKE_BASE/api.instagram.com" \
        FACEBOOK_GRAPH_URL="$FAKE_BASE/graph.facebook.com" \
        MEDIA_CDN_HOSTS="$CDN_HOST" MIRROR_POSTS="$POSTS"
}

# idle BIN LABEL: starts BIN fresh, waits a second, prints its idle RSS (kB).
idle() {
    local port db
    port=$($TOOLS free-port)
    db="$WORK/idle-$2/agent.db"
    mkdir -p "$(dirname "$db")"
    PIDFILES+=("$WORK/idle-$2.pid")
    $(serve_env "$port" "$db") $TOOLS start "$WORK/idle-$2.pid" "$WORK/idle-$2.log" "$port" /token.json \
        "http://localhost:$port" -- "$1" serve >/dev/null
    sleep 1
    $TOOLS rss "$(cat "$WORK/idle-$2.pid")"
    stop "$WORK/idle-$2.pid"
}

# --- 1. mirroring ------------------------------------------------------------------
PORT=$($TOOLS free-port)
ORIGIN="http://localhost:$PORT"
mkdir -p "$WORK/serve"
PIDFILES+=("$WORK/serve.pid")
$(serve_env "$PORT" "$WORK/serve/agent.db") $TOOLS start "$WORK/serve.pid" "$WORK/serve.log" "$PORT" \
    /token.json "$ORIGIN" -- "$BIN" serve >/dev/null
PID=$(cat "$WORK/serve.pid")
sleep 1
RSS_IDLE=$($TOOLS rss "$PID")
say "mirroring $POSTS posts at every width"
MIRRORED=$($TOOLS mirror-wait "$PORT" "/feed.json?limit=$POSTS" "$ORIGIN" "$PID")
echo "$MIRRORED" >&2
sleep 3
RSS_AFTER=$($TOOLS rss "$PID")
STORED=$(python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n, size = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM mirror_images").fetchone()
print(f"{n} {size}")' "$WORK/serve/agent.db")

# --- 2. /media against /token.json ---------------------------------------------------
MEDIA_PATH=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.urlsplit(json.loads(sys.argv[1])["src"]).path)' "$MIRRORED")
# The same image bytes from nginx (one worker, sendfile): what a static file
# server does with an answer of that size on this machine.
mkdir -p "$WORK/www" "$WORK/nginx"
$TOOLS get "$PORT" "$MEDIA_PATH" "$ORIGIN" >"$WORK/www/image.jpg"
MEDIA_BYTES=$(wc -c <"$WORK/www/image.jpg")
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
NGINX_PORT=$($TOOLS free-port)
sed -e "s|@PREFIX@|$WORK/nginx|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@ROOT@|$WORK/www|g" \
    "$ROOT/bench/nginx.conf.template" >"$WORK/nginx/nginx.conf"
PIDFILES+=("$WORK/nginx.pid")
$TOOLS start "$WORK/nginx.pid" "$WORK/nginx.log" "$NGINX_PORT" /image.jpg "$ORIGIN" -- \
    "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >/dev/null
say "/media ($MEDIA_PATH) against /token.json and nginx's copy, $ROUNDS rounds of $DURATION s"
rate() {
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$3"s -H "Origin: $ORIGIN" "http://127.0.0.1:$1$2" \
        | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx: " $0 > "/dev/stderr"}'
}
rate "$PORT" /token.json 2 >/dev/null
rate "$PORT" "$MEDIA_PATH" 2 >/dev/null
rate "$NGINX_PORT" /image.jpg 2 >/dev/null
TOKEN_RATES=()
MEDIA_RATES=()
NGINX_RATES=()
for round in $(seq 1 "$ROUNDS"); do
    TOKEN_RATES+=("$(rate "$PORT" /token.json "$DURATION")")
    MEDIA_RATES+=("$(rate "$PORT" "$MEDIA_PATH" "$DURATION")")
    NGINX_RATES+=("$(rate "$NGINX_PORT" /image.jpg "$DURATION")")
    echo "round $round: /token.json ${TOKEN_RATES[-1]}, /media ${MEDIA_RATES[-1]}, nginx ${NGINX_RATES[-1]} req/s" >&2
done
stop "$WORK/nginx.pid"
stop "$WORK/serve.pid"

# --- 3. the binary and its idle memory -------------------------------------------------
RSS_NOW=$(idle "$BIN" now)
SIZE_NOW=$(stat -c %s "$BIN")
if [ -n "$BEFORE_BIN" ]; then
    RSS_BEFORE=$(idle "$BEFORE_BIN" before)
    SIZE_BEFORE=$(stat -c %s "$BEFORE_BIN")
fi

TOKEN_RATE=$(median "${TOKEN_RATES[@]}")
MEDIA_RATE=$(median "${MEDIA_RATES[@]}")
NGINX_RATE=$(median "${NGINX_RATES[@]}")
read -r COPIES BYTES <<<"$STORED"
python3 - "$MIRRORED" <<EOF
import json, sys
m = json.loads(sys.argv[1])
mb = lambda kb: f"{kb / 1024:.1f} MB"
print()
print("| mirror | figure |")
print("|---|---|")
print(f"| {m['items']} posts mirrored at every width, from the first request | {m['ms'] / 1000:.2f} s |")
print(f"| peak RSS while resizing (VmHWM) | {mb(m['hwm_kb'])} (goal at most 64 MB) |")
print(f"| RSS idle before / after mirroring | {mb($RSS_IDLE)} / {mb($RSS_AFTER)} |")
print(f"| stored | $COPIES copies, {$BYTES / 1e6:.2f} MB |")
print(f"| /media hit ($MEDIA_BYTES bytes) | {$MEDIA_RATE:,.0f} req/s |")
print(f"| /token.json, same server, same rounds | {$TOKEN_RATE:,.0f} req/s |")
ratio = $MEDIA_RATE / $TOKEN_RATE
print(f"| /media ÷ /token.json | {ratio:.2f}× (goal at least 0.7×) |")
print(f"| nginx, the same image bytes as a file | {$NGINX_RATE:,.0f} req/s (/media is {$MEDIA_RATE / $NGINX_RATE:.2f}× of it) |")
print(f"| binary | {$SIZE_NOW / 1e6:.2f} MB{' (' + '$BEFORE' + ': ' + f'{${SIZE_BEFORE:-0} / 1e6:.2f}' + ' MB)' if '$BEFORE' else ''} |")
print(f"| idle RSS, fresh start | {mb($RSS_NOW)}{' (' + '$BEFORE' + ': ' + mb(${RSS_BEFORE:-0}) + ')' if '$BEFORE' else ''} |")
print()
print("load average at the end: " + " ".join(open("/proc/loadavg").read().split()[:3]))
EOF
