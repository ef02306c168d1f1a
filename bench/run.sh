#!/usr/bin/env bash
# The benchmark: token-agent (release build, `token-agent demo` with its
# in-process fake Graph API and seeded accounts) against nginx serving the
# same bytes as a static file and against a minimal hyper server answering
# the same bytes and headers (bench/ceiling, the framework's ceiling), all
# on 127.0.0.1, driven by wrk. Each run also reports the server's CPU time
# per request; a short run of each target under bench/alloc_count.c
# reports heap allocations per request.
#
#   bash bench/run.sh          the benchmark
#   bash bench/run.sh workers  /token.json with WORKER_THREADS=1 and 2, and
#                              nginx and the ceiling, alternating
#   bash bench/run.sh mirror   what the image mirror costs (bench/mirror.sh)
#   bash bench/run.sh soak     only the soak (bench/soak.sh, 10 minutes)
#   bash bench/run.sh all      the benchmark, then the soak
#
# Settings (environment): BENCH_DURATION (s per run, 10), BENCH_WARMUP (s, 2),
# BENCH_ROUNDS (alternating rounds, 2), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2), BENCH_FEED_TTL (FEED_CACHE_TTL given to the agent, 5 s,
# so that the feed runs also show one upstream call per key per TTL),
# BENCH_STARTS (start-up is timed as the median of this many starts, 5),
# BENCH_SERVE (1: also start `token-agent serve` alone against the demo's
# fake to measure its start-up and memory without the fake inside),
# BENCH_WORKERS (WORKER_THREADS of the agent and the ceiling; the agent's
# default when unset), BENCH_ALLOCS (1: the allocation runs, 3 s each),
# BENCH_COMPARE (another build of token-agent, e.g. the last release: its
# demo runs beside this one, and its /token.json and /feed.json take their
# turns in the same rounds, for an A/B in one run).
#
# Needs root for `apt-get install -y wrk nginx` when they are missing.
set -euo pipefail

MODE=bench
case "${1:-}" in
    "") ;;
    workers) MODE=workers ;;
    mirror) exec bash "$(dirname "$0")/mirror.sh" ;;
    soak) exec bash "$(dirname "$0")/soak.sh" ;;
    all) bash "$0"; exec bash "$(dirname "$0")/soak.sh" ;;
    *) echo "usage: bash bench/run.sh [workers|mirror|soak|all]" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="python3 $ROOT/bench/tools.py"
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
FEED_TTL=${BENCH_FEED_TTL:-5}
SERVE=${BENCH_SERVE:-1}
STARTS=${BENCH_STARTS:-5}
ALLOCS=${BENCH_ALLOCS:-1}
WORKERS=${BENCH_WORKERS:-}
COMPARE=${BENCH_COMPARE:-}
if [ "$MODE" = workers ]; then SERVE=0; ALLOCS=0; STARTS=1; fi

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

CORES=$(nproc)
CPU=$(sed -n 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n 1)
say "machine: $CORES cores, $CPU"

# --- tools ------------------------------------------------------------------
NGINX=$(command -v nginx || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
if ! command -v wrk >/dev/null || [ -z "$NGINX" ]; then
    say "installing wrk and nginx"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx >/dev/null
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi

build_release
say "building the hyper ceiling (bench/ceiling)"
CEILING_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/ceiling"
(cd "$ROOT/bench/ceiling" && CARGO_TARGET_DIR="$CEILING_TARGET" cargo build --release --quiet)
CEILING="$CEILING_TARGET/release/hyper-ceiling"

# --- processes and clean-up ---------------------------------------------------
start_workspace token-agent-bench

# wrk_run LABEL ROUND PORT PATH ORIGIN SECONDS PID: runs wrk; a ROUND above
# 0 is measured: its result, the CPU seconds PID (and its children) used,
# and the me/media upstream calls made during a feed run go to the results
# file.
RESULTS="$WORK/results.jsonl"
wrk_run() {
    local label=$1 round=$2 port=$3 path=$4 origin=$5 seconds=$6 pid=$7
    local out="$WORK/wrk-${label//[^A-Za-z0-9_.-]/_}-$round.txt" before="" after cpu_before cpu_after extra
    [ "$round" -gt 0 ] && [ "$path" = /feed.json ] && [ "$port" = "$DEMO_PORT" ] \
        && before=$($TOOLS upstream-calls "$port" me/media)
    cpu_before=$($TOOLS cpu "$pid")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$seconds"s --latency \
        -H "Origin: $origin" "http://127.0.0.1:$port$path" >"$out"
    cpu_after=$($TOOLS cpu "$pid")
    if [ "$round" -gt 0 ]; then
        extra="{\"cpu_s\": $(python3 -c "print(round($cpu_after - $cpu_before, 3))")"
        if [ -n "$before" ]; then
            after=$($TOOLS upstream-calls "$port" me/media)
            extra="$extra, \"upstream_calls\": $((after - before))"
        fi
        $TOOLS parse-wrk "$label" "$round" "$out" "$extra}" >>"$RESULTS"
    fi
}

# alloc_run LABEL PORT PATH COUNT_FILE: heap allocations per request of the
# server counting into COUNT_FILE, over a 3 s run after a 1 s warm-up.
ALLOCATIONS="$WORK/allocations.jsonl"
alloc_run() {
    local label=$1 port=$2 path=$3 file=$4 out="$WORK/alloc-${1//[^A-Za-z0-9_.-]/_}.txt" before after
    wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -H "Origin: $ORIGIN" "http://127.0.0.1:$port$path" >/dev/null
    before=$($TOOLS allocations "$file")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -H "Origin: $ORIGIN" "http://127.0.0.1:$port$path" >"$out"
    after=$($TOOLS allocations "$file")
    $TOOLS parse-wrk "$label" 0 "$out" "{\"allocations\": $((after - before))}" >>"$ALLOCATIONS"
}

# --- the agent: `token-agent demo` ------------------------------------------------
# demo_env VAR=VALUE... COMMAND...: runs COMMAND in the demo's environment.
demo_env() {
    env -u DATABASE_URL -u MEMCACHIER_SERVERS -u MEMCACHE_SERVERS -u ALLOWED_DOMAINS \
        -u STARTING_TOKEN -u WORKER_THREADS ${WORKERS:+WORKER_THREADS=$WORKERS} \
        RUST_LOG=warn FEED_CACHE_TTL="$FEED_TTL" "$@"
}
DEMO_PORT=$($TOOLS free-port)
ORIGIN="http://localhost:$DEMO_PORT"
say "starting token-agent demo on 127.0.0.1:$DEMO_PORT (FEED_CACHE_TTL=$FEED_TTL), $STARTS times"
# Start-up is timed over several starts (a new demo database each time);
# the last one stays up for the load runs.
DEMO_STARTS=()
for i in $(seq 1 "$STARTS"); do
    PIDFILES+=("$WORK/demo-$i.pid")
    DEMO_STARTS+=("$(cd "$WORK" && demo_env PORT="$DEMO_PORT" \
        $TOOLS start "$WORK/demo-$i.pid" "$WORK/demo.log" "$DEMO_PORT" /token.json "$ORIGIN" -- "$BIN" demo)")
    [ "$i" -lt "$STARTS" ] && stop "$WORK/demo-$i.pid"
done
cp "$WORK/demo-$STARTS.pid" "$WORK/demo.pid"
START_DEMO_MS=$(median "${DEMO_STARTS[@]}")
DEMO_PID=$(cat "$WORK/demo.pid")
echo "start -> first 200: ${DEMO_STARTS[*]} ms (median $START_DEMO_MS)" >&2
sleep 1
RSS_DEMO_IDLE=$($TOOLS rss "$DEMO_PID")
RSS_DEMO_PARTS=$($TOOLS rss-parts "$DEMO_PID")

mkdir -p "$WORK/www"
$TOOLS get "$DEMO_PORT" /token.json "$ORIGIN" >"$WORK/www/token.json"
$TOOLS get "$DEMO_PORT" /feed.json "$ORIGIN" >"$WORK/feed.json"
# That first feed request starts the demo mirroring its posts: the rounds
# wait until it is done, so that they measure hits and not the resizing.
$TOOLS mirror-wait "$DEMO_PORT" /feed.json "$ORIGIN" "$DEMO_PID" >/dev/null
$TOOLS get "$DEMO_PORT" /feed.json "$ORIGIN" >"$WORK/feed.json"
# nginx serves the same feed bytes too: what sending an answer that size
# costs this machine, whatever the server.
cp "$WORK/feed.json" "$WORK/www/feed.json"
FAKE_BASE=$($TOOLS fake-base "$WORK/demo.log")
echo "token.json: $(wc -c <"$WORK/www/token.json") bytes; feed.json: $(wc -c <"$WORK/feed.json") bytes; fake at $FAKE_BASE" >&2

# --- nginx --------------------------------------------------------------------------
NGINX_PORT=$($TOOLS free-port)
mkdir -p "$WORK/nginx"
sed -e "s|@PREFIX@|$WORK/nginx|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@ROOT@|$WORK/www|g" \
    "$ROOT/bench/nginx.conf.template" >"$WORK/nginx/nginx.conf"
say "starting nginx (1 worker) on 127.0.0.1:$NGINX_PORT"
PIDFILES+=("$WORK/nginx.pid")
$TOOLS start "$WORK/nginx.pid" "$WORK/nginx.log" "$NGINX_PORT" /token.json "$ORIGIN" -- \
    "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >/dev/null
cmp -s <($TOOLS get "$NGINX_PORT" /token.json "$ORIGIN") "$WORK/www/token.json" \
    || { echo "nginx does not serve the same bytes" >&2; exit 1; }

# --- the hyper ceiling: the same bytes and headers, no routing ----------------------
CEILING_PORT=$($TOOLS free-port)
CEILING_WORKERS=${WORKERS:-$(sed -n 's/^pub const DEFAULT_WORKER_THREADS: usize = \([0-9]*\);/\1/p' "$ROOT"/src/config/*.rs | head -n 1)}
$TOOLS headers "$DEMO_PORT" /token.json "$ORIGIN" >"$WORK/ceiling.headers"
say "starting the hyper ceiling ($CEILING_WORKERS workers) on 127.0.0.1:$CEILING_PORT"
PIDFILES+=("$WORK/ceiling.pid")
$TOOLS start "$WORK/ceiling.pid" "$WORK/ceiling.log" "$CEILING_PORT" /token.json "$ORIGIN" -- \
    "$CEILING" "$CEILING_PORT" "$CEILING_WORKERS" "$WORK/www/token.json" "$WORK/ceiling.headers" >/dev/null
cmp -s <($TOOLS get "$CEILING_PORT" /token.json "$ORIGIN") "$WORK/www/token.json" \
    || { echo "the ceiling does not serve the same bytes" >&2; exit 1; }

# --- load -------------------------------------------------------------------------------
NGINX_PID=$(cat "$WORK/nginx.pid")
CEILING_PID=$(cat "$WORK/ceiling.pid")
TARGETS=(
    "nginx /token.json (file)|$NGINX_PORT|/token.json|$NGINX_PID"
    "hyper ceiling /token.json|$CEILING_PORT|/token.json|$CEILING_PID"
)
if [ "$MODE" = workers ]; then
    # The same agent with one worker thread, next to the one above.
    ONE_PORT=$($TOOLS free-port)
    say "starting token-agent demo with WORKER_THREADS=1 on 127.0.0.1:$ONE_PORT"
    PIDFILES+=("$WORK/demo-one.pid")
    (cd "$WORK" && WORKERS=1 demo_env PORT="$ONE_PORT" ALLOWED_DOMAINS="$ORIGIN" \
        $TOOLS start "$WORK/demo-one.pid" "$WORK/demo-one.log" "$ONE_PORT" /token.json "$ORIGIN" -- "$BIN" demo >/dev/null)
    TARGETS+=(
        "/token.json, $CEILING_WORKERS workers|$DEMO_PORT|/token.json|$DEMO_PID"
        "/token.json, 1 worker|$ONE_PORT|/token.json|$(cat "$WORK/demo-one.pid")"
    )
else
    TARGETS+=(
        "/token.json|$DEMO_PORT|/token.json|$DEMO_PID"
        "/token.js|$DEMO_PORT|/token.js|$DEMO_PID"
        "/feed.json (cache hit)|$DEMO_PORT|/feed.json|$DEMO_PID"
        "nginx /feed.json (file)|$NGINX_PORT|/feed.json|$NGINX_PID"
    )
fi
if [ -n "$COMPARE" ]; then
    # The other build's demo, in a folder of its own, on its own port and
    # allowing this run's origin.
    COMPARE_PORT=$($TOOLS free-port)
    mkdir -p "$WORK/compare"
    say "starting the compared build's demo ($COMPARE) on 127.0.0.1:$COMPARE_PORT"
    PIDFILES+=("$WORK/demo-compare.pid")
    (cd "$WORK/compare" && demo_env PORT="$COMPARE_PORT" ALLOWED_DOMAINS="$ORIGIN" \
        $TOOLS start "$WORK/demo-compare.pid" "$WORK/demo-compare.log" "$COMPARE_PORT" /token.json "$ORIGIN" -- "$COMPARE" demo >/dev/null)
    COMPARE_PID=$(cat "$WORK/demo-compare.pid")
    $TOOLS get "$COMPARE_PORT" /feed.json "$ORIGIN" >/dev/null
    $TOOLS mirror-wait "$COMPARE_PORT" /feed.json "$ORIGIN" "$COMPARE_PID" >/dev/null
    TARGETS+=(
        "compared /token.json|$COMPARE_PORT|/token.json|$COMPARE_PID"
        "compared /feed.json (cache hit)|$COMPARE_PORT|/feed.json|$COMPARE_PID"
    )
fi
say "warm-up: $WARMUP s each"
for target in "${TARGETS[@]}"; do
    IFS='|' read -r label port path pid <<<"$target"
    wrk_run "$label" 0 "$port" "$path" "$ORIGIN" "$WARMUP" "$pid"
done
for round in $(seq 1 "$ROUNDS"); do
    for target in "${TARGETS[@]}"; do
        IFS='|' read -r label port path pid <<<"$target"
        say "round $round/$ROUNDS: $label, $DURATION s"
        wrk_run "$label" "$round" "$port" "$path" "$ORIGIN" "$DURATION" "$pid"
    done
done
RSS_DEMO_LOADED=$($TOOLS rss "$DEMO_PID")

# --- allocations per request: the agent and the ceiling again, counted ---------------
touch "$ALLOCATIONS"
if [ "$ALLOCS" = 1 ]; then
    say "allocations per request: each target for 3 s under bench/alloc_count.c"
    cc -O2 -shared -fPIC -o "$WORK/alloc_count.so" "$ROOT/bench/alloc_count.c"
    COUNTED_PORT=$($TOOLS free-port)
    COUNTED_ORIGIN="http://localhost:$COUNTED_PORT"
    PIDFILES+=("$WORK/demo-counted.pid")
    (cd "$WORK" && demo_env PORT="$COUNTED_PORT" LD_PRELOAD="$WORK/alloc_count.so" \
        ALLOC_COUNT_FILE="$WORK/allocations-demo" \
        $TOOLS start "$WORK/demo-counted.pid" "$WORK/demo-counted.log" "$COUNTED_PORT" /token.json \
        "$COUNTED_ORIGIN" -- "$BIN" demo >/dev/null)
    ORIGIN="$COUNTED_ORIGIN" alloc_run "/token.json" "$COUNTED_PORT" /token.json "$WORK/allocations-demo"
    ORIGIN="$COUNTED_ORIGIN" alloc_run "/token.js" "$COUNTED_PORT" /token.js "$WORK/allocations-demo"
    ORIGIN="$COUNTED_ORIGIN" alloc_run "/feed.json (cache hit)" "$COUNTED_PORT" /feed.json "$WORK/allocations-demo"
    stop "$WORK/demo-counted.pid"
    if [ -n "$COMPARE" ]; then
        COUNTED_PORT=$($TOOLS free-port)
        COUNTED_ORIGIN="http://localhost:$COUNTED_PORT"
        PIDFILES+=("$WORK/compare-counted.pid")
        mkdir -p "$WORK/compare-counted"
        (cd "$WORK/compare-counted" && demo_env PORT="$COUNTED_PORT" LD_PRELOAD="$WORK/alloc_count.so" \
            ALLOC_COUNT_FILE="$WORK/allocations-compare" \
            $TOOLS start "$WORK/compare-counted.pid" "$WORK/compare-counted.log" "$COUNTED_PORT" /token.json \
            "$COUNTED_ORIGIN" -- "$COMPARE" demo >/dev/null)
        ORIGIN="$COUNTED_ORIGIN" alloc_run "compared /token.json" "$COUNTED_PORT" /token.json "$WORK/allocations-compare"
        ORIGIN="$COUNTED_ORIGIN" alloc_run "compared /feed.json (cache hit)" "$COUNTED_PORT" /feed.json "$WORK/allocations-compare"
        stop "$WORK/compare-counted.pid"
    fi
    COUNTED_PORT=$($TOOLS free-port)
    PIDFILES+=("$WORK/ceiling-counted.pid")
    LD_PRELOAD="$WORK/alloc_count.so" ALLOC_COUNT_FILE="$WORK/allocations-ceiling" \
        $TOOLS start "$WORK/ceiling-counted.pid" "$WORK/ceiling.log" "$COUNTED_PORT" /token.json "$ORIGIN" -- \
        "$CEILING" "$COUNTED_PORT" "$CEILING_WORKERS" "$WORK/www/token.json" "$WORK/ceiling.headers" >/dev/null
    alloc_run "hyper ceiling /token.json" "$COUNTED_PORT" /token.json "$WORK/allocations-ceiling"
    stop "$WORK/ceiling-counted.pid"
fi

# --- `serve` alone, against the demo's fake -----------------------------------------------
SERVE_FACTS=""
if [ "$SERVE" = 1 ]; then
    SERVE_PORT=$($TOOLS free-port)
    SERVE_ORIGIN="http://localhost:$SERVE_PORT"
    TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$WORK/www/token.json")
    serve_env=(env -u MEMCACHIER_SERVERS -u MEMCACHE_SERVERS PORT="$SERVE_PORT" RUST_LOG=warn
        DATABASE_URL="sqlite://$WORK/serve/agent.db" ALLOWED_DOMAINS="$SERVE_ORIGIN"
        STARTING_TOKEN="$TOKEN" INSTAGRAM_GRAPH_URL="$FAKE_BASE/graph.instagram.com"
        INSTAGRAM_OAUTH_URL="$FAKE_BASE/api.instagram.com" FACEBOOK_GRAPH_URL="$FAKE_BASE/graph.facebook.com"
        FEED_CACHE_TTL="$FEED_TTL")
    say "starting token-agent serve alone on 127.0.0.1:$SERVE_PORT (new SQLite file each time), $STARTS times"
    FRESH=()
    for i in $(seq 1 "$STARTS"); do
        rm -rf "$WORK/serve"
        PIDFILES+=("$WORK/serve-$i.pid")
        FRESH+=("$("${serve_env[@]}" $TOOLS start "$WORK/serve-$i.pid" "$WORK/serve.log" \
            "$SERVE_PORT" /token.json "$SERVE_ORIGIN" -- "$BIN" serve)")
        [ "$i" -lt "$STARTS" ] && stop "$WORK/serve-$i.pid"
    done
    cp "$WORK/serve-$STARTS.pid" "$WORK/serve.pid"
    START_SERVE_FRESH_MS=$(median "${FRESH[@]}")
    echo "start -> first 200: ${FRESH[*]} ms (median $START_SERVE_FRESH_MS)" >&2
    sleep 1
    RSS_SERVE_IDLE=$($TOOLS rss "$(cat "$WORK/serve.pid")")
    RSS_SERVE_PARTS=$($TOOLS rss-parts "$(cat "$WORK/serve.pid")")
    say "serve: /token.json and /feed.json, $DURATION s each (for its memory under load)"
    wrk_run "serve-token" 0 "$SERVE_PORT" /token.json "$SERVE_ORIGIN" "$DURATION" "$(cat "$WORK/serve.pid")"
    wrk_run "serve-feed" 0 "$SERVE_PORT" /feed.json "$SERVE_ORIGIN" "$DURATION" "$(cat "$WORK/serve.pid")"
    RSS_SERVE_LOADED=$($TOOLS rss "$(cat "$WORK/serve.pid")")
    grep -H -E "Requests/sec|Non-2xx" "$WORK"/wrk-serve-*-0.txt >&2 || true
    stop "$WORK/serve.pid"
    say "restarting serve on its existing SQLite file, $STARTS times"
    WARM=()
    for i in $(seq 1 "$STARTS"); do
        PIDFILES+=("$WORK/serve-warm-$i.pid")
        WARM+=("$("${serve_env[@]}" $TOOLS start "$WORK/serve-warm-$i.pid" "$WORK/serve.log" \
            "$SERVE_PORT" /token.json "$SERVE_ORIGIN" -- "$BIN" serve)")
        stop "$WORK/serve-warm-$i.pid"
    done
    START_SERVE_WARM_MS=$(median "${WARM[@]}")
    echo "start -> first 200: ${WARM[*]} ms (median $START_SERVE_WARM_MS)" >&2
    SERVE_FACTS=", \"rss_serve_idle\": $RSS_SERVE_IDLE, \"rss_serve_idle_parts\": $RSS_SERVE_PARTS,
        \"rss_serve_loaded\": $RSS_SERVE_LOADED,
        \"start_serve_fresh_ms\": $START_SERVE_FRESH_MS, \"start_serve_warm_ms\": $START_SERVE_WARM_MS"
fi

cat >"$WORK/facts.json" <<EOF
{"mode": "$MODE", "workers": $CEILING_WORKERS, "cores": $CORES, "cpu": "$CPU", "threads": $THREADS, "connections": $CONNECTIONS,
 "duration": $DURATION, "warmup": $WARMUP, "rounds": $ROUNDS, "feed_ttl": $FEED_TTL,
 "rss_demo_idle": $RSS_DEMO_IDLE, "rss_demo_idle_parts": $RSS_DEMO_PARTS, "rss_demo_loaded": $RSS_DEMO_LOADED,
 "start_demo_ms": $START_DEMO_MS, "loadavg": "$(cut -d' ' -f1-3 /proc/loadavg)" $SERVE_FACTS}
EOF
$TOOLS report "$RESULTS" "$WORK/facts.json" "$ALLOCATIONS"
