# Benchmarks/lib.sh — what the benchmark scripts (run.sh, cluster.sh, yardstick.sh) share: the --help
# header, logging, ports, stopping only what the script started, and building the C tools and the server.
# Sourced, never run. Before sourcing, the script sets SCRIPT (its name, for messages) and cds to the
# repository's top; afterwards it sets WORK (a temporary directory) before building anything.
# shellcheck shell=bash

ROOT=$PWD
OUT=$ROOT/Benchmarks/out
STARTED_PIDS=()

# The header comment of the script that sourced this file, without the #! line.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

# check_arguments "$@" — the scripts are configured with environment variables: --help, or nothing.
check_arguments() {
    case $# in
    0) return 0 ;;
    *)
        case $1 in
        -h | --help) usage; exit 0 ;;
        *) printf '%s: unknown argument %s (configure with environment variables)\n\n' "$SCRIPT" "$1" >&2; usage >&2; exit 2 ;;
        esac
        ;;
    esac
}

log() { printf '== %s\n' "$*" >&2; }

# pick_workloads — WORKLOAD_NAMES from ALL_WORKLOADS ("name|arguments" entries) and WORKLOADS, by default
# all of them; an unknown name in WORKLOADS is refused (exit 2).
pick_workloads() {
    local entry w
    WORKLOAD_NAMES=()
    for entry in "${ALL_WORKLOADS[@]}"; do WORKLOAD_NAMES+=("${entry%%|*}"); done
    WORKLOADS=${WORKLOADS:-"${WORKLOAD_NAMES[*]}"}
    for w in $WORKLOADS; do
        [[ " ${WORKLOAD_NAMES[*]} " == *" $w "* ]] || { echo "$SCRIPT: unknown workload $w (known: ${WORKLOAD_NAMES[*]})" >&2; exit 2; }
    done
}

# each_run MEASURE — for every run (1…RUNS), chosen workload and server, in that order (so a slow spell of
# the machine hits every server alike), calls MEASURE SERVER WORKLOAD RUN with the workload's arguments in
# the array `args`.
each_run() {
    local run entry workload server
    for ((run = 1; run <= RUNS; run++)); do
        for entry in "${ALL_WORKLOADS[@]}"; do
            workload=${entry%%|*}
            [[ " $WORKLOADS " == *" $workload "* ]] || continue
            read -r -a args <<<"${entry#*|}"
            for server in $SERVERS; do "$1" "$server" "$workload" "$run"; done
        done
    done
}

# check_servers — every name in SERVERS is relay, nio, twisted or switchboard, or the script stops (exit 2).
check_servers() {
    local s
    for s in $SERVERS; do
        case $s in relay | nio | twisted | switchboard) ;; *) echo "$SCRIPT: unknown server $s (relay nio twisted switchboard)" >&2; exit 2 ;; esac
    done
}

# free_port: one definition for the scripts and the benchmarks.
# shellcheck source=scripts/free-port.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/free-port.sh"

listening() { # PORT — is anything listening on 127.0.0.1:PORT? (no connection made)
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# start_work NAME RESULTS-FILE — a temporary WORK directory and an empty $OUT/RESULTS-FILE (as RESULTS); on
# exit, also on Ctrl-C, every process this script started is stopped and WORK removed. Raises the open-file
# limit, which the tool and the servers inherit: 10 000 idle connections need 10 000+ descriptors each.
start_work() {
    mkdir -p "$OUT"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-$1.XXXXXX")
    RESULTS=$OUT/$2
    : >"$RESULTS"
    trap stop_work EXIT
    trap 'exit 130' INT TERM
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

stop_work() {
    if [[ ${#STARTED_PIDS[@]} -gt 0 ]]; then stop_pids 5 "${STARTED_PIDS[@]}"; fi
    rm -rf "$WORK"
}

# start_postgres_work NAME RESULTS-FILE — start_work's counterpart for a script that may start a throwaway
# PostgreSQL in $PGDIR (set PGDIR first, empty if not yet made): WORK, an empty $OUT/RESULTS-FILE (as
# RESULTS), $LOGS emptied of logs, trap_postgres_cleanup, the open-file limit raised, the load logged.
start_postgres_work() {
    mkdir -p "$OUT" "$LOGS"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-$1.XXXXXX")
    PG_STARTED=0
    RESULTS=$OUT/$2
    : >"$RESULTS"
    rm -f "$LOGS"/*.log
    trap_postgres_cleanup
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    log "load at the start: $(uptime)"
}

# trap_postgres_cleanup — for a script that may start a throwaway PostgreSQL in $PGDIR (PG_STARTED=1 once
# started): on exit, also on Ctrl-C, TERM or HUP, every process it started is stopped, then PostgreSQL;
# PGDIR is removed unless a cluster still runs there (its log says why), and WORK is removed.
trap_postgres_cleanup() {
    trap postgres_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

postgres_cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    if [[ ${#STARTED_PIDS[@]} -gt 0 ]]; then stop_pids 20 "${STARTED_PIDS[@]}"; fi
    if [[ ${PG_STARTED:-0} -eq 1 ]]; then pg_stop "$PGDIR" || log "could not stop PostgreSQL in $PGDIR (see $PGDIR/log)"; fi
    if [[ -n ${PGDIR:-} && (${PG_STARTED:-0} -eq 0 || ! -e $PGDIR/data/postmaster.pid) ]]; then rm -rf "$PGDIR"; fi
    rm -rf "$WORK"
    exit "$status"
}

# wait_listening PID PORT SECONDS NAME — until PORT listens (0), PID exits or SECONDS pass (1, said in the log).
wait_listening() {
    local pid=$1 port=$2 seconds=$3 name=$4 i
    for ((i = 0; i < seconds * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { log "$name exited during start-up"; return 1; }
        listening "$port" && return 0
        sleep 0.1
    done
    log "$name did not listen on $port within $seconds s"
    return 1
}

forget_pids() { # PID... — no longer ours to stop
    local kept=() p
    for p in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do [[ " $* " == *" $p "* ]] || kept+=("$p"); done
    STARTED_PIDS=("${kept[@]+"${kept[@]}"}")
}

# stop_pids SECONDS PID... — TERM all, up to SECONDS to go, then KILL. Only ever given PIDs this script
# started (STARTED_PIDS).
stop_pids() {
    local seconds=$1 pid i alive
    shift
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for ((i = 0; i < seconds * 10; i++)); do
        alive=0
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive -eq 1 ]] || break
        sleep 0.1
    done
    for pid in "$@"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    forget_pids "$@"
}

# build_c_tools — the project's load generator ($LOADGEN) and the C relay ($WORK/relay), cc -O2.
build_c_tools() {
    log "compiling the C load generator and the C relay"
    LOADGEN=$WORK/loadgen
    cc -O2 -o "$LOADGEN" "$ROOT/Benchmarks/loadgen/loadgen.c"
    cc -O2 -o "$WORK/relay" "$ROOT/Benchmarks/baseline/relay.c"
}

# build_switchboard — the release build ($SWITCHBOARD) and SWITCHBOARD_FLAGS; returns 1 if it does not build.
# SWITCHBOARD_BINARY=PATH in the environment: that binary instead, nothing built (measuring another build).
# The flags are policies, not performance, each passed only when `serve --help` lists it: flood control
# (default 10 lines/s) would throttle every workload; the client cap (default 10 000) would refuse part of
# a large `hold` (MAX_CLIENTS, default 20 000, when the script sets it); the send queue (default 256 KiB) would disconnect a client that a fan-out burst gets ahead
# of — the relay's queues are unbounded.
build_switchboard() {
    SWITCHBOARD=""
    SWITCHBOARD_FLAGS=()
    if [[ -n ${SWITCHBOARD_BINARY:-} ]]; then
        [[ -x $SWITCHBOARD_BINARY ]] || { log "SWITCHBOARD_BINARY=$SWITCHBOARD_BINARY is not an executable"; return 1; }
        SWITCHBOARD=$(realpath "$SWITCHBOARD_BINARY")
        log "using $SWITCHBOARD (SWITCHBOARD_BINARY), not building"
    else
        log "building switchboard (release)"
        swift build -c release --product switchboard >&2 || return 1
        SWITCHBOARD=$ROOT/.build/release/switchboard
    fi
    local help
    help=$(timeout 30 "$SWITCHBOARD" serve --help 2>&1 || true)
    if [[ $help == *--flood-rate* ]]; then SWITCHBOARD_FLAGS+=(--flood-rate 0); fi
    if [[ $help == *--max-clients* ]]; then SWITCHBOARD_FLAGS+=(--max-clients "${MAX_CLIENTS:-20000}"); fi
    if [[ $help == *--max-sendq* ]]; then SWITCHBOARD_FLAGS+=(--max-sendq 67108864); fi
}

# build_nio_floor — $NIO_FLOOR: relay.c's protocol on SwiftNIO alone (Benchmarks/nio-floor), release; returns 1 if
# it does not build. What NIO itself costs here, so a table can tell NIO's share of Switchboard's cost.
build_nio_floor() {
    log "building nio-floor (release)"
    NIO_FLOOR=""
    swift build -c release --product nio-floor >&2 || return 1
    NIO_FLOOR=$ROOT/.build/release/nio-floor
}

# ensure_twisted — Benchmarks/.venv with Twisted from PyPI, made once and reused.
ensure_twisted() {
    VENV=$ROOT/Benchmarks/.venv
    if ! "$VENV/bin/python" -c 'import twisted' 2>/dev/null; then
        log "making $VENV with Twisted"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet twisted >&2
    fi
}

# start_server NAME PORT — starts a fresh relay, twisted or switchboard (SQLite history in $WORK) on
# 127.0.0.1:PORT, sets SERVER_PID, waits (bounded) until it listens. Its stderr goes to $OUT/NAME.log.
start_server() {
    local name=$1 port=$2
    SERVER_PID=""
    case $name in
    relay)
        "$WORK/relay" "$port" 2>>"$OUT/relay.log" &
        ;;
    nio)
        [[ -n ${NIO_FLOOR:-} ]] || return 1
        "$NIO_FLOOR" "$port" 2>>"$OUT/nio.log" &
        ;;
    twisted)
        rm -f "$WORK"/twisted.sqlite*
        "$VENV/bin/python" "$ROOT/Benchmarks/twisted/chat.py" "$port" "$WORK/twisted.sqlite" 2>>"$OUT/twisted.log" &
        ;;
    switchboard)
        [[ -n $SWITCHBOARD ]] || return 1
        rm -f "$WORK"/bench.sqlite*
        "$SWITCHBOARD" serve --listen "tcp:$port:interface=127.0.0.1" --database "sqlite:$WORK/bench.sqlite" \
            "${SWITCHBOARD_FLAGS[@]+"${SWITCHBOARD_FLAGS[@]}"}" 2>>"$OUT/switchboard.log" &
        ;;
    *) return 1 ;;
    esac
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    wait_listening "$SERVER_PID" "$port" 20 "$name (see $OUT/$name.log)" && return 0
    stop_server
    return 1
}

stop_server() {
    [[ -n ${SERVER_PID:-} ]] || return 0
    stop_pids 5 "$SERVER_PID"
    SERVER_PID=""
}

# record SERVER WORKLOAD RUN TEXT [KEY=VALUE...] — appends one JSON line to $RESULTS; TEXT is the tool's output
# (its RESULT line, if any, becomes "result": k=v fields, numbers as numbers; empty = the server was not
# available); the KEY=VALUE extras are added to the result (numbers as numbers).
record() {
    python3 - "$@" >>"$RESULTS" <<'PY'
import json, sys
server, workload, run, text, extras = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
def value(v):
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v
result = None
for line in text.splitlines():
    if line.startswith("RESULT "):
        result = {k: value(v) for k, _, v in (f.partition("=") for f in line.split()[1:])}
if result is not None:
    for extra in extras:
        k, _, v = extra.partition("=")
        result[k] = value(v)
print(json.dumps({"server": server, "workload": workload, "run": int(run), "result": result}))
PY
}
