#!/usr/bin/env bash
# Instructions per request, counted by valgrind (callgrind), for one or more
# builds of the agent: robust where wall-clock figures are not (a busy or
# shared machine, no hardware counters in a VM). Each build runs `demo`
# under callgrind; after a warm-up the counters are zeroed, wrk drives
# PATH for BENCH_SECONDS, and the instructions executed in that window
# (all threads, the process's user space: the kernel is not counted) are
# divided by the requests the agent's /metrics counted.
#
#   bash bench/instructions.sh [PATH] BINARY...
#   e.g. bash bench/instructions.sh /token.json old/token-agent new/token-agent
#
# Settings: BENCH_SECONDS (8), BENCH_CONNECTIONS (16), BENCH_ROUNDS (1:
# more alternate the builds), BENCH_PROFILE (1: print where each build's
# instructions go, by crate and by function, per request; needs a binary
# with symbols: `cargo build --profile bench-symbols` makes
# target/bench-symbols/token-agent, the release build unstripped).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="python3 $ROOT/bench/tools.py"
SECONDS_=${BENCH_SECONDS:-8}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
ROUNDS=${BENCH_ROUNDS:-1}
PROFILE=${BENCH_PROFILE:-0}
URL_PATH=/token.json
if [ "${1:0:1}" = / ] && [ ! -f "$1" ]; then URL_PATH=$1; shift; fi
[ $# -ge 1 ] || { echo "usage: bash bench/instructions.sh [PATH] BINARY..." >&2; exit 2; }
command -v valgrind >/dev/null && command -v wrk >/dev/null \
    || { echo "needs valgrind and wrk (apt-get install valgrind wrk)" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
start_workspace token-agent-instructions

# measure BINARY ROUND: prints "instructions requests" for one run.
measure() {
    local bin=$1 round=$2 port origin pid out before after
    port=$($TOOLS free-port)
    origin="http://localhost:$port"
    out="$WORK/callgrind-$round-$(basename "$(dirname "$bin")").out"
    (cd "$WORK" && exec env -u DATABASE_URL -u MEMCACHIER_SERVERS -u MEMCACHE_SERVERS -u ALLOWED_DOMAINS \
        -u STARTING_TOKEN -u WORKER_THREADS PORT="$port" RUST_LOG=warn \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" demo >"$WORK/demo.log" 2>&1) &
    echo $! >"$WORK/demo-$round.pid"
    PIDFILES+=("$WORK/demo-$round.pid")
    pid=$(cat "$WORK/demo-$round.pid")
    for _ in $(seq 1 600); do
        [ "$($TOOLS status "$port" "$URL_PATH" "$origin")" = 200 ] && break
        sleep 0.2
    done
    # A feed's first request starts the demo mirroring its posts: measure
    # the hits once that is done (slow under valgrind), not the resizing.
    if [ "${URL_PATH%%\?*}" = /feed.json ]; then
        $TOOLS mirror-wait "$port" "$URL_PATH" "$origin" "$pid" 900 >/dev/null
    fi
    wrk -t1 -c"$CONNECTIONS" -d2s -H "Origin: $origin" "http://127.0.0.1:$port$URL_PATH" >/dev/null
    before=$($TOOLS served "$port" "$URL_PATH")
    callgrind_control --zero "$pid" >/dev/null 2>&1
    wrk -t1 -c"$CONNECTIONS" -d"$SECONDS_"s -H "Origin: $origin" "http://127.0.0.1:$port$URL_PATH" >/dev/null
    callgrind_control --dump=measured "$pid" >/dev/null 2>&1
    after=$($TOOLS served "$port" "$URL_PATH")
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    local dump
    dump=$(grep -l "^desc: Trigger: .*measured" "$out"* | head -n 1)
    echo "$(sed -n 's/^summary: //p' "$dump") $((after - before)) $dump"
}

say "instructions per request on $URL_PATH, $SECONDS_ s of wrk ($CONNECTIONS connections) per build"
for round in $(seq 1 "$ROUNDS"); do
    for bin in "$@"; do
        read -r instructions requests dump < <(measure "$bin" "$round")
        printf '%-60s %12s requests %10.0f instructions/request\n' "$bin (round $round)" "$requests" \
            "$(python3 -c "print($instructions / max($requests, 1))")"
        if [ "$PROFILE" = 1 ]; then
            $TOOLS profile "$dump" "$requests"
        fi
    done
done
