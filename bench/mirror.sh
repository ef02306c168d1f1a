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
#      When BENCH_BEFORE mirrors too, 1 and 2 run for it as well, its rounds
#      alternating with this build's, and the table has a column for each.
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

# mirror LABEL BIN: starts BIN's `serve` on a fresh database, lets it mirror
# the newest posts, and sets, for LABEL: PORT_, PID_, RSS_IDLE_, MIRRORED_
# (mirror-wait's JSON), RSS_AFTER_ and STORED_ ("copies bytes").
mirror() {
    local label=$1 bin=$2 port pid
    port=$($TOOLS free-port)
    mkdir -p "$WORK/serve-$label"
    PIDFILES+=("$WORK/serve-$label.pid")
    $(serve_env "$port" "$WORK/serve-$label/agent.db") $TOOLS start "$WORK/serve-$label.pid" \
        "$WORK/serve-$label.log" "$port" /token.json "http://localhost:$port" -- "$bin" serve >/dev/null
    pid=$(cat "$WORK/serve-$label.pid")
    sleep 1
    printf -v "PORT_$label" %s "$port"
    printf -v "RSS_IDLE_$label" %s "$($TOOLS rss "$pid")"
    say "$label: mirroring $POSTS posts at every width"
    printf -v "MIRRORED_$label" %s \
        "$($TOOLS mirror-wait "$port" "/feed.json?limit=$POSTS" "http://localhost:$port" "$pid")"
    sleep 3
    printf -v "RSS_AFTER_$label" %s "$($TOOLS rss "$pid")"
    printf -v "STORED_$label" %s "$(python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n, size = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM mirror_images").fetchone()
print(f"{n} {size}")' "$WORK/serve-$label/agent.db")"
}

# --- 1. mirroring, by this build and by BEFORE's when it mirrors too ------------------
LABELS=(now)
mirror now "$BIN"
if [ -n "$BEFORE" ] && git -C "$ROOT" cat-file -e "$BEFORE:src/mirror/mod.rs" 2>/dev/null; then
    LABELS+=(before)
    mirror before "$BEFORE_BIN"
fi

# --- 2. /media against /token.json, on each server ------------------------------------
# Both servers copy the same post of the same account: the path is the same.
MEDIA_PATH=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.urlsplit(json.loads(sys.argv[1])["src"]).path)' "$MIRRORED_now")
# The same image bytes from nginx (one worker, sendfile): what a static file
# server does with an answer of that size on this machine.
mkdir -p "$WORK/www" "$WORK/nginx"
$TOOLS get "$PORT_now" "$MEDIA_PATH" "http://localhost:$PORT_now" >"$WORK/www/image.jpg"
MEDIA_BYTES=$(wc -c <"$WORK/www/image.jpg")
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
NGINX_PORT=$($TOOLS free-port)
sed -e "s|@PREFIX@|$WORK/nginx|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@ROOT@|$WORK/www|g" \
    "$ROOT/bench/nginx.conf.template" >"$WORK/nginx/nginx.conf"
PIDFILES+=("$WORK/nginx.pid")
$TOOLS start "$WORK/nginx.pid" "$WORK/nginx.log" "$NGINX_PORT" /image.jpg "http://localhost:$NGINX_PORT" -- \
    "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >/dev/null
say "/media ($MEDIA_PATH) against /token.json and nginx's copy, $ROUNDS rounds of $DURATION s"
# rate PORT PATH SECONDS: requests per second, from the server's own origin.
rate() {
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$3"s -H "Origin: http://localhost:$1" "http://127.0.0.1:$1$2" \
        | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx: " $0 > "/dev/stderr"}'
}
for label in "${LABELS[@]}"; do
    port_var="PORT_$label"
    rate "${!port_var}" /token.json 2 >/dev/null
    rate "${!port_var}" "$MEDIA_PATH" 2 >/dev/null
done
rate "$NGINX_PORT" /image.jpg 2 >/dev/null
declare -A RATES=()
for round in $(seq 1 "$ROUNDS"); do
    line="round $round:"
    for label in "${LABELS[@]}"; do
        port_var="PORT_$label"
        RATES[token_$label]+=" $(rate "${!port_var}" /token.json "$DURATION")"
        RATES[media_$label]+=" $(rate "${!port_var}" "$MEDIA_PATH" "$DURATION")"
        line+=" $label /token.json ${RATES[token_$label]##* }, /media ${RATES[media_$label]##* };"
    done
    RATES[nginx]+=" $(rate "$NGINX_PORT" /image.jpg "$DURATION")"
    echo "$line nginx ${RATES[nginx]##* } req/s" >&2
done
stop "$WORK/nginx.pid"
for label in "${LABELS[@]}"; do stop "$WORK/serve-$label.pid"; done

# --- 3. the binary and its idle memory -------------------------------------------------
RSS_NOW=$(idle "$BIN" now)
SIZE_NOW=$(stat -c %s "$BIN")
if [ -n "$BEFORE_BIN" ]; then
    RSS_BEFORE=$(idle "$BEFORE_BIN" before)
    SIZE_BEFORE=$(stat -c %s "$BEFORE_BIN")
fi

# figures LABEL: LABEL's mirror figures and median rates, as one JSON object.
figures() {
    local m="MIRRORED_$1" idle="RSS_IDLE_$1" after="RSS_AFTER_$1" stored="STORED_$1"
    # shellcheck disable=SC2086 # the rates are a list of words
    python3 -c '
import json, sys
m = json.loads(sys.argv[1])
copies, size = sys.argv[4].split()
m.update(idle_kb=int(sys.argv[2]), after_kb=int(sys.argv[3]), copies=int(copies),
         bytes=int(size), token=float(sys.argv[5]), media=float(sys.argv[6]))
print(json.dumps(m))' "${!m}" "${!idle}" "${!after}" "${!stored}" \
        "$(median ${RATES[token_$1]})" "$(median ${RATES[media_$1]})"
}
NOW_FIGURES=$(figures now)
BEFORE_FIGURES=null
[ "${#LABELS[@]}" -gt 1 ] && BEFORE_FIGURES=$(figures before)
# shellcheck disable=SC2086
NGINX_RATE=$(median ${RATES[nginx]})
python3 - "$NOW_FIGURES" "$BEFORE_FIGURES" "$BEFORE" "$MEDIA_BYTES" "$NGINX_RATE" \
    "$SIZE_NOW" "${SIZE_BEFORE:-0}" "$RSS_NOW" "${RSS_BEFORE:-0}" <<'PY'
import json, sys
now, before = json.loads(sys.argv[1]), json.loads(sys.argv[2])
label, media_bytes, nginx = sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
size_now, size_before, rss_now, rss_before = (int(v) for v in sys.argv[6:10])
mb = lambda kb: f"{kb / 1024:.1f} MB"
def row(name, f):
    cells = [f(now)] + ([f(before)] if before else [])
    print(f"| {name} | " + " | ".join(cells) + " |")
print()
print("| mirror | this build |" + (f" {label} |" if before else ""))
print("|---|---|" + ("---|" if before else ""))
row(f"{now['items']} posts mirrored at every width, from the first request",
    lambda f: f"{f['ms'] / 1000:.2f} s")
row("peak RSS while resizing (VmHWM; goal at most 64 MB)", lambda f: mb(f["hwm_kb"]))
row("RSS idle before / after mirroring", lambda f: f"{mb(f['idle_kb'])} / {mb(f['after_kb'])}")
row("stored", lambda f: f"{f['copies']} copies, {f['bytes'] / 1e6:.2f} MB")
row(f"/media hit ({media_bytes:,} bytes)", lambda f: f"{f['media']:,.0f} req/s")
row("/token.json, same server, same rounds", lambda f: f"{f['token']:,.0f} req/s")
row("/media ÷ /token.json (goal at least 0.7×)", lambda f: f"{f['media'] / f['token']:.2f}×")
row(f"/media ÷ nginx serving the same bytes ({nginx:,.0f} req/s)",
    lambda f: f"{f['media'] / nginx:.2f}×")
print()
print(f"binary: {size_now / 1e6:.2f} MB" + (f" ({label}: {size_before / 1e6:.2f} MB)" if label else ""))
print(f"idle RSS, fresh start: {mb(rss_now)}" + (f" ({label}: {mb(rss_before)})" if label else ""))
print()
print("load average at the end: " + " ".join(open("/proc/loadavg").read().split()[:3]))
PY
