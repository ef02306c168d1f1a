# Shared by bench/run.sh and bench/soak.sh: messages, the release build, and
# processes that never outlive the script. Source it after setting ROOT.

say() { printf '\n== %s\n' "$*" >&2; }

# /metrics answers only a bearer of METRICS_TOKEN (or the admin): the agents
# the bench starts inherit this one, and bench/tools.py sends it.
export METRICS_TOKEN="${METRICS_TOKEN:-bench-metrics-$$}"

# Every client of a bench is this machine's one address: the per-client
# bound would count wrk's connections, or the soak's legitimate and hostile
# clients together, as one client's. The soak's hostile clients are bounded
# by the server-wide limits instead.
export HTTP_MAX_CONNECTIONS_PER_CLIENT="${HTTP_MAX_CONNECTIONS_PER_CLIENT:-100000}"

# Builds the release binary (honouring CARGO_TARGET_DIR) and sets BIN.
build_release() {
    say "building the release binary"
    (cd "$ROOT" && cargo build --release --quiet)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/token-agent"
    [ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
}

# Makes WORK, a temp folder named after $1, and stops every process whose
# pid file is listed in PIDFILES when the script ends, however it ends.
start_workspace() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$WORK"
    PIDFILES=()
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    local pidfile pid
    for pidfile in "${PIDFILES[@]}"; do
        pid=$(cat "$pidfile" 2>/dev/null || true)
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        # The demo keeps its SQLite file in a folder named after its pid.
        rm -rf "/tmp/token-agent-demo-$pid"
    done
    rm -rf "$WORK"
}

# Stops one process started here (by its pid file) and waits for it.
stop() {
    local pid
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
}

# The median of the numbers given.
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
