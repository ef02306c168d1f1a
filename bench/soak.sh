#!/usr/bin/env bash
# The soak: one `token-agent demo` (release build, in-process fake Graph API,
# ADMIN_PASSWORD set, short HTTP timeouts) under legitimate traffic (token
# URLs with allowed Origin or Referer, /feed.json hits and misses, the
# hashtag feed, /, /status and /admin with Basic auth) while hostile clients
# hold half-sent request heads, idle connections and unfinished form bodies
# open and ask for answers they never read, all on 127.0.0.1, for a bounded
# time. It ends with a table: non-2xx answers, requests done, RSS early and
# late, descriptors before and after, connections dropped by the timeouts.
#
#   bash bench/soak.sh          (or: bash bench/run.sh soak)
#
# Settings (environment): BENCH_SOAK_SECONDS (600), BENCH_SOAK_WARMUP (s of
# the legitimate mix before the idle readings, 5), BENCH_SOAK_RATE
# (legitimate req/s, 500; 0 for as fast as they go), BENCH_SOAK_CONNECTIONS
# (legitimate connections, 16), BENCH_SOAK_CLOSE_SHARE (share of legitimate
# requests sent with Connection: close, 0.05), BENCH_SOAK_HALF_OPEN
# (half-sent heads held at a time, 40), BENCH_SOAK_IDLE (idle connections
# held at a time, 20), BENCH_SOAK_BODIES (form POSTs whose body is stalled
# or trickled, held at a time, 10), BENCH_SOAK_NON_READERS (connections that
# never read their answers, at a time, 4), BENCH_SOAK_NON_READER_REQUESTS
# (pipelined requests each sends, 20000), BENCH_SOAK_HEADER_TIMEOUT (5),
# BENCH_SOAK_IDLE_TIMEOUT (10), BENCH_SOAK_BODY_TIMEOUT (5),
# BENCH_SOAK_SEND_TIMEOUT (10), BENCH_SOAK_MAX_CONNECTIONS (512; the
# agent's HTTP_* settings),
# BENCH_SOAK_FEED_TTL (FEED_CACHE_TTL, 30), BENCH_SOAK_FEED_LIMITS (the
# `limit` values asked of /feed.json, one cache key each, 25,6,12,50).
#
# Each feed key misses once per TTL; the fake allows 200 calls per account
# and hour, and above 80% of that the agent serves its cached copies, so the
# defaults stay below it for a 10-minute run.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="python3 $ROOT/bench/tools.py"
SOAK="python3 $ROOT/bench/soak.py"
SECONDS_=${BENCH_SOAK_SECONDS:-600}
WARMUP=${BENCH_SOAK_WARMUP:-5}
RATE=${BENCH_SOAK_RATE:-500}
CONNECTIONS=${BENCH_SOAK_CONNECTIONS:-16}
CLOSE_SHARE=${BENCH_SOAK_CLOSE_SHARE:-0.05}
HALF_OPEN=${BENCH_SOAK_HALF_OPEN:-40}
IDLE=${BENCH_SOAK_IDLE:-20}
BODIES=${BENCH_SOAK_BODIES:-10}
NON_READERS=${BENCH_SOAK_NON_READERS:-4}
NON_READER_REQUESTS=${BENCH_SOAK_NON_READER_REQUESTS:-20000}
HEADER_TIMEOUT=${BENCH_SOAK_HEADER_TIMEOUT:-5}
IDLE_TIMEOUT=${BENCH_SOAK_IDLE_TIMEOUT:-10}
BODY_TIMEOUT=${BENCH_SOAK_BODY_TIMEOUT:-5}
SEND_TIMEOUT=${BENCH_SOAK_SEND_TIMEOUT:-10}
MAX_CONNECTIONS=${BENCH_SOAK_MAX_CONNECTIONS:-512}
FEED_TTL=${BENCH_SOAK_FEED_TTL:-30}
FEED_LIMITS=${BENCH_SOAK_FEED_LIMITS:-25,6,12,50}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

CORES=$(nproc)
say "machine: $CORES cores, $(sed -n 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n 1)"

build_release

# --- processes and clean-up (as in run.sh) ---------------------------------------
start_workspace token-agent-soak

# background NAME CMD...: starts CMD in the background, its pid in NAME.pid.
background() {
    local name=$1
    shift
    PIDFILES+=("$WORK/$name.pid")
    "$@" &
    echo $! >"$WORK/$name.pid"
}

# --- the agent ----------------------------------------------------------------------
PORT=$($TOOLS free-port)
ORIGIN="http://localhost:$PORT"
PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
say "starting token-agent demo on 127.0.0.1:$PORT (HTTP_HEADER_TIMEOUT_SECONDS=$HEADER_TIMEOUT, HTTP_IDLE_TIMEOUT_SECONDS=$IDLE_TIMEOUT, HTTP_BODY_TIMEOUT_SECONDS=$BODY_TIMEOUT, HTTP_SEND_TIMEOUT_SECONDS=$SEND_TIMEOUT, HTTP_MAX_CONNECTIONS=$MAX_CONNECTIONS, FEED_CACHE_TTL=$FEED_TTL)"
PIDFILES+=("$WORK/demo.pid")
(cd "$WORK" && env -u DATABASE_URL -u MEMCACHIER_SERVERS -u MEMCACHE_SERVERS -u ALLOWED_DOMAINS \
    -u STARTING_TOKEN -u APP_URL -u APP_NAME PORT="$PORT" RUST_LOG=warn FEED_CACHE_TTL="$FEED_TTL" \
    ADMIN_PASSWORD="$PASSWORD" HTTP_HEADER_TIMEOUT_SECONDS="$HEADER_TIMEOUT" \
    HTTP_IDLE_TIMEOUT_SECONDS="$IDLE_TIMEOUT" HTTP_BODY_TIMEOUT_SECONDS="$BODY_TIMEOUT" \
    HTTP_SEND_TIMEOUT_SECONDS="$SEND_TIMEOUT" HTTP_MAX_CONNECTIONS="$MAX_CONNECTIONS" \
    $TOOLS start "$WORK/demo.pid" "$WORK/demo.log" "$PORT" /token.json "$ORIGIN" -- "$BIN" demo) >/dev/null
AGENT=$(cat "$WORK/demo.pid")
sleep 1
FDS_FRESH=$(ls "/proc/$AGENT/fd" | wc -l)

LEGIT_ARGS=(--port="$PORT" --connections="$CONNECTIONS" --rate="$RATE" --close-share="$CLOSE_SHARE"
    --idle-timeout="$IDLE_TIMEOUT" --feed-limits="$FEED_LIMITS")
# The legitimate load signs in to /admin with it.
export ADMIN_PASSWORD=$PASSWORD
say "warm-up: every URL of the mix once, the database-backed pages 32 at once, then $WARMUP s of the mix"
$SOAK legit "$WORK/warm-up.json" "${LEGIT_ARGS[@]}" --seconds="$WARMUP" --check=1
$SOAK quiet-fds "$AGENT" "$PORT" >"$WORK/idle.json"
FDS_IDLE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fds"])' "$WORK/idle.json")
$SOAK snapshot "$AGENT" "$PORT" >"$WORK/before.json"
echo "open fds: $FDS_FRESH at start, $FDS_IDLE idle after the warm-up" >&2
LOG_LINES=$(wc -l <"$WORK/demo.log")

# --- the soak -------------------------------------------------------------------------
START=$(($(date +%s) + 2))
say "soak: $SECONDS_ s; legitimate: $CONNECTIONS connections, $RATE req/s; hostile: $HALF_OPEN half-open heads, $IDLE idle connections, $BODIES unfinished bodies and $NON_READERS non-readers at a time"
background hostile $SOAK hostile "$WORK/hostile.json" --port="$PORT" --seconds="$SECONDS_" \
    --start="$START" --half-open="$HALF_OPEN" --idle="$IDLE" --bodies="$BODIES" \
    --non-readers="$NON_READERS" --non-reader-requests="$NON_READER_REQUESTS" \
    --header-timeout="$HEADER_TIMEOUT" --idle-timeout="$IDLE_TIMEOUT" \
    --body-timeout="$BODY_TIMEOUT" --send-timeout="$SEND_TIMEOUT"
background watch $SOAK watch "$AGENT" "$PORT" "$START" "$SECONDS_" "$WORK/watch.jsonl"
background legit $SOAK legit "$WORK/legit.json" "${LEGIT_ARGS[@]}" --seconds="$SECONDS_" --start="$START"
for name in legit hostile watch; do
    wait "$(cat "$WORK/$name.pid")" || { echo "the $name process failed" >&2; exit 1; }
done
kill -0 "$AGENT" 2>/dev/null || { echo "the agent is gone; see its log:" >&2; tail -n 20 "$WORK/demo.log" >&2; exit 1; }

say "waiting for the agent to drop back to $FDS_IDLE descriptors"
# At most 90 s: longer than the fake's idle timeout (75 s), which bounds
# upstream connections pooled during the soak.
$SOAK settle "$AGENT" "$PORT" "$FDS_IDLE" 90 >"$WORK/after.json"

# What the agent logged at WARN or ERROR during the soak (not at start-up).
tail -n +"$((LOG_LINES + 1))" "$WORK/demo.log" | grep -E '\b(WARN|ERROR)\b' >"$WORK/warnings.log" || true
LOG_WARNINGS=$(wc -l <"$WORK/warnings.log")
cat >"$WORK/facts.json" <<EOF
{"cores": $CORES, "seconds": $SECONDS_, "rate": $RATE, "connections": $CONNECTIONS,
 "close_share": $CLOSE_SHARE, "half_open": $HALF_OPEN, "idle": $IDLE, "bodies": $BODIES,
 "non_readers": $NON_READERS, "non_reader_requests": $NON_READER_REQUESTS,
 "header_timeout": $HEADER_TIMEOUT, "idle_timeout": $IDLE_TIMEOUT, "body_timeout": $BODY_TIMEOUT,
 "send_timeout": $SEND_TIMEOUT, "max_connections": $MAX_CONNECTIONS,
 "feed_ttl": $FEED_TTL, "fds_fresh": $FDS_FRESH, "idle_fds": $(cat "$WORK/idle.json"), "log_warnings": $LOG_WARNINGS,
 "before": $(cat "$WORK/before.json"), "after": $(cat "$WORK/after.json"),
 "loadavg": "$(cut -d' ' -f1-3 /proc/loadavg)"}
EOF
$SOAK report "$WORK/facts.json" "$WORK/legit.json" "$WORK/hostile.json" "$WORK/watch.jsonl"
if [ "$LOG_WARNINGS" -gt 0 ]; then
    echo "agent log during the soak, first WARN/ERROR lines:"
    head -n 5 "$WORK/warnings.log"
fi
