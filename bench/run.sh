#!/usr/bin/env bash
# The benchmark: token-agent (release build, `token-agent demo` with its
# in-process fake Graph API and seeded accounts) against nginx serving the
# same bytes as a static file, all on 127.0.0.1, driven by wrk.
#
#   bash bench/run.sh          the benchmark
#   bash bench/run.sh soak     only the soak (bench/soak.sh, 10 minutes)
#   bash bench/run.sh all      the benchmark, then the soak
#
# Settings (environment): BENCH_DURATION (s per run, 10), BENCH_WARMUP (s, 2),
# BENCH_ROUNDS (alternating rounds, 2), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2), BENCH_FEED_TTL (FEED_CACHE_TTL given to the agent, 5 s,
# so that the feed runs also show one upstream call per key per TTL),
# BENCH_STARTS (start-up is timed as the median of this many starts, 5),
# BENCH_SERVE (1: also start `token-agent serve` alone against the demo's
# fake to measure its start-up and memory without the fake inside).
#
# Needs root for `apt-get install -y wrk nginx` when they are missing.
set -euo pipefail

case "${1:-}" in
    "") ;;
    soak) exec bash "$(dirname "$0")/soak.sh" ;;
    all) bash "$0"; exec bash "$(dirname "$0")/soak.sh" ;;
    *) echo "usage: bash bench/run.sh [soak|all]" >&2; exit 2 ;;
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

# --- processes and clean-up ---------------------------------------------------
start_workspace token-agent-bench

# Stops one process started here (by its pid file) and waits for it.
stop() {
    local pid
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# wrk_run LABEL ROUND PORT PATH ORIGIN SECONDS: runs wrk; a ROUND above 0 is
# measured: its result (and the me/media upstream calls made during a feed
# run) goes to the results file.
RESULTS="$WORK/results.jsonl"
wrk_run() {
    local label=$1 round=$2 port=$3 path=$4 origin=$5 seconds=$6
    local out="$WORK/wrk-${label//[^A-Za-z0-9_.-]/_}-$round.txt" before after extra="{}"
    [ "$round" -gt 0 ] && [ "$port" = "$DEMO_PORT" ] && before=$($TOOLS upstream-calls "$port" me/media)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$seconds"s --latency \
        -H "Origin: $origin" "http://127.0.0.1:$port$path" >"$out"
    if [ "$round" -gt 0 ]; then
        if [ -n "${before:-}" ]; then
            after=$($TOOLS upstream-calls "$port" me/media)
            extra="{\"upstream_calls\": $((after - before))}"
        fi
        $TOOLS parse-wrk "$label" "$round" "$out" "$extra" >>"$RESULTS"
    fi
}

# --- the agent: `token-agent demo` ------------------------------------------------
DEMO_PORT=$($TOOLS free-port)
ORIGIN="http://localhost:$DEMO_PORT"
say "starting token-agent demo on 127.0.0.1:$DEMO_PORT (FEED_CACHE_TTL=$FEED_TTL), $STARTS times"
# Start-up is timed over several starts (a new demo database each time);
# the last one stays up for the load runs.
DEMO_STARTS=()
for i in $(seq 1 "$STARTS"); do
    PIDFILES+=("$WORK/demo-$i.pid")
    DEMO_STARTS+=("$(cd "$WORK" && env -u DATABASE_URL -u MEMCACHIER_SERVERS -u MEMCACHE_SERVERS \
        -u ALLOWED_DOMAINS -u STARTING_TOKEN PORT="$DEMO_PORT" RUST_LOG=warn FEED_CACHE_TTL="$FEED_TTL" \
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
FAKE_BASE=$($TOOLS fake-base "$WORK/feed.json")
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

# --- load -------------------------------------------------------------------------------
TARGETS=(
    "nginx /token.json (file)|$NGINX_PORT|/token.json"
    "/token.json|$DEMO_PORT|/token.json"
    "/token.js|$DEMO_PORT|/token.js"
    "/feed.json (cache hit)|$DEMO_PORT|/feed.json"
)
say "warm-up: $WARMUP s each"
for target in "${TARGETS[@]}"; do
    IFS='|' read -r label port path <<<"$target"
    wrk_run "$label" 0 "$port" "$path" "$ORIGIN" "$WARMUP"
done
for round in $(seq 1 "$ROUNDS"); do
    for target in "${TARGETS[@]}"; do
        IFS='|' read -r label port path <<<"$target"
        say "round $round/$ROUNDS: $label, $DURATION s"
        wrk_run "$label" "$round" "$port" "$path" "$ORIGIN" "$DURATION"
    done
done
RSS_DEMO_LOADED=$($TOOLS rss "$DEMO_PID")

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
    wrk_run "serve-token" 0 "$SERVE_PORT" /token.json "$SERVE_ORIGIN" "$DURATION"
    wrk_run "serve-feed" 0 "$SERVE_PORT" /feed.json "$SERVE_ORIGIN" "$DURATION"
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
{"cores": $CORES, "cpu": "$CPU", "threads": $THREADS, "connections": $CONNECTIONS,
 "duration": $DURATION, "warmup": $WARMUP, "rounds": $ROUNDS, "feed_ttl": $FEED_TTL,
 "rss_demo_idle": $RSS_DEMO_IDLE, "rss_demo_idle_parts": $RSS_DEMO_PARTS, "rss_demo_loaded": $RSS_DEMO_LOADED,
 "start_demo_ms": $START_DEMO_MS, "loadavg": "$(cut -d' ' -f1-3 /proc/loadavg)" $SERVE_FACTS}
EOF
$TOOLS report "$RESULTS" "$WORK/facts.json"
