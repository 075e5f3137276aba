#!/usr/bin/env bash
# Benchmarks/run.sh — one command: build the servers and the load generator, run the same workloads
# against the C relay, the classic Twisted server and Switchboard, and print one side-by-side table.
#
#   Benchmarks/run.sh                      # all three servers
#   SERVERS="relay twisted" Benchmarks/run.sh
#   HOLD=10000 Benchmarks/run.sh           # idle connections for the memory row (default 2000)
#   Benchmarks/run.sh --help               # this text; any other argument is refused
#
# Loopback only. Every server is started fresh for each workload on a free 127.0.0.1 port and stopped
# right after; the EXIT trap stops whatever this script started (and nothing else). Raw JSON results
# go to Benchmarks/out/results.jsonl, the table to Benchmarks/out/table.txt.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; } # the header above
case $# in
0) ;;
*)
    case $1 in
    -h | --help) usage; exit 0 ;;
    *) printf 'run.sh: unknown argument %s (configure with environment variables)\n\n' "$1" >&2; usage >&2; exit 2 ;;
    esac
    ;;
esac

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/Benchmarks/out
VENV=$ROOT/Benchmarks/.venv
SERVERS=${SERVERS:-"relay twisted switchboard"}
# Every join is announced to everyone already connected, so opening N connections costs ~N²/2 notice
# deliveries: 2 M at 2000, 50 M at 10 000 (minutes of CPU on this 2-core machine for a chat server).
HOLD=${HOLD:-2000}
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
RESULTS=$OUT/results.jsonl
: >"$RESULTS"

STARTED_PIDS=()
SERVER_PID=""

stop_pid() { # PID — TERM, up to 5 s to go, then KILL; only ever called with PIDs this script started
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*" >&2; }

# Both the tool and the servers inherit this: 10 000 idle connections need 10 000+ descriptors each.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- build
log "building switchboard-bench (release)"
swift build -c release --package-path "$ROOT/Benchmarks" --product switchboard-bench >&2
BENCH=$ROOT/Benchmarks/.build/release/switchboard-bench

SWITCHBOARD=""
SWITCHBOARD_FLAGS=()
if [[ " $SERVERS " == *" switchboard "* ]]; then
    log "building switchboard (release)"
    if swift build -c release --product switchboard >&2; then
        SWITCHBOARD=$ROOT/.build/release/switchboard
        # Policies, not performance: flood control (default 10 lines/s) would throttle every workload,
        # and the client cap (default 10 000) would refuse part of `hold`. Passed only when the flag exists.
        help=$(timeout 30 "$SWITCHBOARD" serve --help 2>&1 || true)
        if [[ $help == *--flood-rate* ]]; then SWITCHBOARD_FLAGS+=(--flood-rate 0); fi
        if [[ $help == *--max-clients* ]]; then SWITCHBOARD_FLAGS+=(--max-clients 20000); fi
    else
        log "switchboard does not build yet: its column will say n/a"
    fi
fi

log "compiling the C relay"
cc -O2 -o "$WORK/relay" "$ROOT/Benchmarks/baseline/relay.c"

if [[ " $SERVERS " == *" twisted "* ]]; then
    if ! "$VENV/bin/python" -c 'import twisted' 2>/dev/null; then
        log "making $VENV with Twisted"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet twisted >&2
    fi
fi

# ---------------------------------------------------------------- servers
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

listening() { # PORT — is anything listening on 127.0.0.1:PORT? (no connection made)
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# start_server NAME PORT — starts NAME on PORT, sets SERVER_PID, waits (bounded) until it listens.
start_server() {
    local name=$1 port=$2 i
    SERVER_PID=""
    case $name in
    relay)
        "$WORK/relay" "$port" 2>>"$OUT/relay.log" &
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
    for ((i = 0; i < 200; i++)); do # up to 20 s
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "$name exited during start-up (see $OUT/$name.log)"
            return 1
        fi
        listening "$port" && return 0
        sleep 0.1
    done
    log "$name did not listen on $port within 20 s"
    stop_server
    return 1
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    stop_pid "$SERVER_PID"
    local kept=() pid
    for pid in "${STARTED_PIDS[@]}"; do [[ $pid == "$SERVER_PID" ]] || kept+=("$pid"); done
    STARTED_PIDS=("${kept[@]+"${kept[@]}"}")
    SERVER_PID=""
}

# record SERVER WORKLOAD JSON — appends one result line (JSON may be empty: the tool produced nothing).
record() {
    python3 - "$1" "$2" "$3" >>"$RESULTS" <<'PY'
import json, sys
server, workload, text = sys.argv[1:4]
try:
    result = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
except (ValueError, IndexError):
    result = None
print(json.dumps({"server": server, "workload": workload, "result": result}))
PY
}

# bench SERVER WORKLOAD ARGS… — one tool run, bounded twice: its own --timeout and `timeout`.
# Returns non-zero when the run was not complete.
bench() {
    local server=$1 workload=$2 output status=0
    shift 2
    output=$(timeout 400 "$BENCH" "$@" --json 2>>"$OUT/bench.log") || status=$?
    if [[ -n $output ]]; then log "$server $workload: $output"; fi
    record "$server" "$workload" "$output"
    return "$status"
}

# ---------------------------------------------------------------- workloads
# name|tool arguments (PORT and PID are filled in per run); fan-outs run 3 times, the median is kept.
WORKLOADS=(
    "fanout-50x200|fanout --clients 50 --messages 200 --timeout 60"
    "fanout-200x50|fanout --clients 200 --messages 50 --timeout 60"
    "paced-2000|paced --clients 50 --rate 2000 --duration 5 --timeout 60"
    "churn-2000|churn --connections 2000 --concurrency 50 --timeout 120"
    # --settle 10: joining N clients queues ~N²/2 join notices; the idle RSS is read once they have drained
    # (with 1 s, 10 000 connections measured the backlog in flight: 6.6 KiB instead of 3.3 KiB each).
    "hold|hold --connections $HOLD --settle 10 --timeout 300"
)

for server in $SERVERS; do
    for entry in "${WORKLOADS[@]}"; do
        workload=${entry%%|*}
        read -r -a args <<<"${entry#*|}"
        port=$(free_port)
        if ! start_server "$server" "$port"; then
            log "$server: not running, $workload is n/a"
            record "$server" "$workload" ""
            continue
        fi
        extra=(--port "$port")
        if [[ $workload == hold ]]; then extra+=(--pid "$SERVER_PID"); fi
        repeats=1
        if [[ $workload == fanout-* ]]; then repeats=3; fi
        for ((r = 0; r < repeats; r++)); do
            # A failed run (timeout, refused, incomplete) is not repeated: it would only fail again, slowly.
            bench "$server" "$workload" "${args[@]}" "${extra[@]}" || break
        done
        stop_server
    done
done

# ---------------------------------------------------------------- table
python3 - "$RESULTS" "$HOLD" <<'PY' | tee "$OUT/table.txt"
import json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
servers = ["relay", "twisted", "switchboard"]

def runs(server, workload):
    return [r["result"] for r in rows if r["server"] == server and r["workload"] == workload and r["result"]]

def pick(server, workload, key):
    """Median over the successful runs (a failed run shows as FAIL when nothing succeeded)."""
    results = runs(server, workload)
    good = [r[key] for r in results if r.get("ok") and r.get(key) is not None]
    if good:
        return statistics.median(good)
    return "FAIL" if results else None

METRICS = [
    # label, workload, key, scale, unit, better
    ("fan-out 50x200 deliveries/s", "fanout-50x200", "deliveries_per_second", 1, "", "higher"),
    ("fan-out 50x200 latency p99", "fanout-50x200", "latency_p99_us", 1e-3, "ms", "lower"),
    ("fan-out 200x50 deliveries/s", "fanout-200x50", "deliveries_per_second", 1, "", "higher"),
    ("fan-out 200x50 latency p99", "fanout-200x50", "latency_p99_us", 1e-3, "ms", "lower"),
    ("paced 2000 lines/s latency p50", "paced-2000", "latency_p50_us", 1e-3, "ms", "lower"),
    ("paced 2000 lines/s latency p99", "paced-2000", "latency_p99_us", 1e-3, "ms", "lower"),
    ("churn 2000 (k=50) connections/s", "churn-2000", "connections_per_second", 1, "", "higher"),
    ("churn 2000 (k=50) cycle p99", "churn-2000", "latency_p99_us", 1e-3, "ms", "lower"),
    (f"hold {sys.argv[2]} idle: RSS per connection", "hold", "rss_per_connection_kib", 1, "KiB", "lower"),
]

def fmt(value, scale):
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    v = value * scale
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"

def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return f"{a / b:.2f}x"
    return "n/a"

header = ["metric", "better", "relay (C)", "twisted", "switchboard", "sb/relay", "sb/twisted"]
table = [header]
for label, workload, key, scale, unit, better in METRICS:
    values = {s: pick(s, workload, key) for s in servers}
    name = f"{label} ({unit})" if unit else label
    table.append([name, better] + [fmt(values[s], scale) for s in servers]
                 + [ratio(values["switchboard"], values["relay"]), ratio(values["switchboard"], values["twisted"])])

widths = [max(len(row[i]) for row in table) for i in range(len(header))]
for n, row in enumerate(table):
    cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])] + [c.rjust(w) for c, w in zip(row[2:], widths[2:])]
    print("  ".join(cells))
    if n == 0:
        print("  ".join("-" * w for w in widths))

cpu = []
for s in servers:
    r = runs(s, "fanout-50x200")
    ok = [x for x in r if x.get("ok")]
    if ok:
        cpu.append(f"{s} {statistics.median(x['tool_cpu_percent'] for x in ok):.0f}%")
print()
print("tool CPU during fan-out 50x200 (of wall time; near 100% = the tool was the bottleneck): "
      + (", ".join(cpu) if cpu else "n/a"))
print("fan-outs: median of 3 runs; n/a = server not available; FAIL = the run did not complete (see results.jsonl)")
PY
