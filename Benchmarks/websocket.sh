#!/usr/bin/env bash
# Benchmarks/websocket.sh — the browser side (issue 25): Switchboard's WebSocket chat (`--web`, /chat) against
# the anchor most people would pick for browser chat, Node.js with the `ws` package (Benchmarks/node-ws, the
# broadcast server of ws' README), and against Switchboard's own telnet fan-out; the memory of idle WebSocket
# clients; and /api/stats on a history of 1 000 000 connections and 1 000 000 lines under 50 concurrent
# requests. Builds Switchboard (release) and the load generator (its --ws and http modes), runs every workload
# RUNS times on a fresh server, interleaved (run 1 of every server, then run 2, …), and prints medians with
# ratios and the server CPU per delivery.
#
#   Benchmarks/websocket.sh                      # every server and workload, 5 runs each
#   RUNS=1 Benchmarks/websocket.sh               # a quick look
#   SERVERS="ws node-ws" Benchmarks/websocket.sh
#   WORKLOADS="fanout-50x200 stats" Benchmarks/websocket.sh
#   HOLD=2000 Benchmarks/websocket.sh            # idle clients for the memory row (default 10000)
#   Benchmarks/websocket.sh --help               # this text; any other argument is refused
#
# Needs node and Debian's node-ws (apt-get install nodejs node-ws). Loopback only; stops only what it started.
# Raw results: Benchmarks/out/websocket-results.jsonl; the table: Benchmarks/out/websocket-table.txt.
set -euo pipefail

SCRIPT=websocket.sh
cd "$(dirname "$0")/.."
# shellcheck source=Benchmarks/lib.sh
source Benchmarks/lib.sh
check_arguments "$@"

SERVERS=${SERVERS:-"ws node-ws telnet"}
RUNS=${RUNS:-5}
HOLD=${HOLD:-10000}
TOOL_LIMIT=${TOOL_LIMIT:-0.9}
STATS_ROWS=${STATS_ROWS:-1000000}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "websocket.sh: RUNS must be a positive integer, not '$RUNS'" >&2; exit 2; }
[[ $HOLD =~ ^[1-9][0-9]*$ ]] || { echo "websocket.sh: HOLD must be a positive integer, not '$HOLD'" >&2; exit 2; }
[[ $STATS_ROWS =~ ^[1-9][0-9]*$ ]] || { echo "websocket.sh: STATS_ROWS must be a positive integer" >&2; exit 2; }
for s in $SERVERS; do
    case $s in ws | node-ws | telnet) ;;
    *) echo "websocket.sh: unknown server $s (ws node-ws telnet)" >&2; exit 2 ;;
    esac
done

# name|load generator arguments (--port, --server-pid and --ws are added per run). `stats` is Switchboard's
# /api/stats alone (ws), over keep-alive connections, after one request that reads the history cold.
ALL_WORKLOADS=(
    "fanout-50x200|fanout --clients 50 --messages 200 --timeout 120"
    "fanout-200x50|fanout --clients 200 --messages 50 --timeout 120"
    "hold|hold --connections $HOLD --settle 1 --timeout 600"
    "stats|http --path /api/stats --concurrency 50 --requests 5000 --timeout 120"
)
pick_workloads

command -v node >/dev/null || { echo "websocket.sh: node is missing (apt-get install nodejs)" >&2; exit 1; }
# Debian's node-ws lives in /usr/share/nodejs, which a Node.js not packaged by Debian does not search.
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
node -e "require('ws')" 2>/dev/null || { echo "websocket.sh: the ws package is missing (apt-get install node-ws)" >&2; exit 1; }
start_work websocket websocket-results.jsonl

# ---------------------------------------------------------------- build
build_c_tools
build_switchboard || { log "switchboard does not build"; exit 1; }

# The history for `stats`: STATS_ROWS connections over the last 30 days (one every 30 days / STATS_ROWS, each
# staying 10 minutes) and as many public lines, written once with SQL into a file each run copies.
seed_history() {
    log "seeding $STATS_ROWS connections and $STATS_ROWS lines"
    "$SWITCHBOARD" migrate --database "sqlite:$WORK/seed.sqlite" 2>>"$OUT/websocket-switchboard.log" >/dev/null
    python3 - "$WORK/seed.sqlite" "$STATS_ROWS" <<'PY'
import sqlite3, sys
path, rows = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
step = 30 * 86400 / rows
# Times as the server writes them: ISO 8601 UTC with microseconds.
stamp = "strftime('%Y-%m-%dT%H:%M:%S', 'now', '-' || CAST(({age}) AS INTEGER) || ' seconds') || '.000000Z'"
db.executescript(f"""
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {rows - 1})
INSERT INTO connections (peer, nickname, connected_at, disconnected_at, close_reason, lines_in, lines_out, bytes_in, bytes_out)
SELECT '127.0.0.1:' || (10000 + i % 50000), 'guest' || i, {stamp.format(age=f"i * {step} + 1")},
       {stamp.format(age=f"max(0, i * {step} + 1 - 600)")}, 'quit', 1, 20, 40, 900 FROM n;
INSERT INTO messages (connection_id, nickname, kind, body, sent_at)
SELECT id, nickname, 'say', 'hello there', connected_at FROM connections;
-- What the history writer would have added to the rollups for these rows (migrations message_rollups and
-- connection_rollups).
INSERT INTO message_hours (hour, lines) SELECT substr(sent_at, 1, 13), count(*) FROM messages GROUP BY 1;
INSERT INTO connection_minutes (minute, connects, disconnects)
SELECT minute, sum(c), sum(d) FROM (
    SELECT substr(connected_at, 1, 16) AS minute, 1 AS c, 0 AS d FROM connections
    UNION ALL SELECT substr(disconnected_at, 1, 16), 0, 1 FROM connections) GROUP BY minute;
INSERT INTO nickname_last_said (nickname_key, nickname, said_at)
SELECT lower(nickname), nickname, max(sent_at) FROM messages GROUP BY lower(nickname);
""")
db.commit()
print(db.execute("SELECT count(*) FROM connections").fetchone()[0], db.execute("SELECT count(*) FROM messages").fetchone()[0])
PY
}
[[ " $WORKLOADS " == *" stats "* ]] && seed_history >&2

# ---------------------------------------------------------------- servers
# start_ws_server SERVER PORT [DATABASE] — sets SERVER_PID; the client port is PORT for every server.
start_ws_server() {
    local server=$1 port=$2 database=${3:-}
    SERVER_PID=""
    case $server in
    ws | telnet)
        rm -f "$WORK"/bench.sqlite*
        if [[ -n $database ]]; then cp "$database" "$WORK/bench.sqlite"; fi
        local chat web=()
        if [[ $server == ws ]]; then
            chat=$(free_port)
            web=(--web "tcp:$port:interface=127.0.0.1")
        else
            chat=$port
        fi
        "$SWITCHBOARD" serve --listen "tcp:$chat:interface=127.0.0.1" "${web[@]+"${web[@]}"}" \
            --database "sqlite:$WORK/bench.sqlite" "${SWITCHBOARD_FLAGS[@]}" 2>>"$OUT/websocket-switchboard.log" &
        ;;
    node-ws)
        node "$ROOT/Benchmarks/node-ws/server.js" "$port" 2>>"$OUT/websocket-node.log" &
        ;;
    esac
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    wait_listening "$SERVER_PID" "$port" 30 "$server (see $OUT/websocket-*.log)"
}

stop_ws_server() {
    [[ -n ${SERVER_PID:-} ]] && stop_pids 5 "$SERVER_PID"
    SERVER_PID=""
}

# ---------------------------------------------------------------- the tool checks itself first
for server in node-ws ws; do
    port=$(free_port)
    start_ws_server "$server" "$port" || { log "$server does not start"; exit 1; }
    smoke=$("$LOADGEN" fanout --ws --port "$port" --clients 3 --messages 5 --settle-ms 0 --timeout 10 || true)
    [[ $smoke == *" ok=1 "*" expected=30 deliveries=30 "* ]] || { log "WebSocket self-check against $server failed: $smoke"; exit 1; }
    smoke=$("$LOADGEN" churn --ws --port "$port" --connections 20 --concurrency 4 --timeout 10 || true)
    [[ $smoke == *" ok=1 "*" completed=20 failed=0 "* ]] || { log "WebSocket self-check against $server failed: $smoke"; exit 1; }
    stop_ws_server
done
log "WebSocket load generator self-check passed"

# ---------------------------------------------------------------- workloads
measure() { # SERVER WORKLOAD RUN, with the tool's arguments in `args`
    local server=$1 workload=$2 run=$3 port output status=0 ws=(--ws) cold=""
    case $workload in
    stats) [[ $server == ws ]] || return 0; ws=() ;;
    *) [[ $server == telnet ]] && ws=() ;;
    esac
    port=$(free_port)
    if ! start_ws_server "$server" "$port" "$([[ $workload == stats ]] && echo "$WORK/seed.sqlite")"; then
        log "$server: not running, $workload run $run is n/a"
        stop_ws_server
        record "$server" "$workload" "$run" ""
        return 0
    fi
    if [[ $workload == stats ]]; then
        # The first request reads the history (nothing is cached yet); the measured ones are answered from the
        # reading, refreshed in the background every 5 s while they run.
        cold=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "http://127.0.0.1:$port/api/stats" || true)
    fi
    output=$(timeout 900 "$LOADGEN" "${args[@]}" "${ws[@]+"${ws[@]}"}" --port "$port" --server-pid "$SERVER_PID" \
        2>>"$OUT/websocket-loadgen.log") || status=$?
    if [[ -n $cold ]]; then
        read -r code seconds <<<"$cold"
        [[ $code == 200 ]] || output="RESULT ok=0 error=cold_status_$code"
        output="${output} cold_ms=$(python3 -c "print(round(float('$seconds') * 1000, 1))")"
    fi
    stop_ws_server
    log "$server $workload run $run/$RUNS (exit $status): ${output:-no output}"
    record "$server" "$workload" "$run" "${output:-RESULT ok=0 error=no_output}"
}
each_run measure

# ---------------------------------------------------------------- table
PYTHONPATH=Benchmarks python3 - "$RESULTS" "$HOLD" "$RUNS" "$TOOL_LIMIT" "$STATS_ROWS" <<'PY' | tee "$OUT/websocket-table.txt"
import json, sys
from mediantable import fanout_metrics, print_table, runs_of

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
hold, runs_wanted, tool_limit, stats_rows = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
servers = ["ws", "node-ws", "telnet"]
titles = {"ws": "switchboard ws", "node-ws": "node + ws", "telnet": "switchboard telnet"}

runs = runs_of(rows)

def per(key, scale):
    def f(r):
        cpu = r.get("server_cpu_s")
        return cpu / r[key] * scale if cpu is not None and r.get(key) else None
    return f

METRICS = fanout_metrics(per("deliveries", 1e9)) + [
    (f"hold {hold} idle: RSS per connection", "hold", lambda r: r.get("rss_per_connection_kib"), "KiB", "lower"),
    (f"hold {hold} idle: seconds until all welcomed", "hold", lambda r: r.get("wall_s"), "s", "lower"),
    (f"/api/stats, {stats_rows:,} rows, 50 concurrent: p99", "stats", lambda r: r.get("req_p99_us", 0) / 1e3, "ms", "lower"),
    (f"/api/stats, {stats_rows:,} rows, 50 concurrent: p50", "stats", lambda r: r.get("req_p50_us", 0) / 1e3, "ms", "lower"),
    ("/api/stats requests/s", "stats", lambda r: r.get("requests_per_s"), "", "higher"),
    ("/api/stats first request (reads the history)", "stats", lambda r: r.get("cold_ms"), "ms", "lower"),
]

ratios = [("ws/node", "ws", "node-ws"), ("ws/telnet", "ws", "telnet")]
print_table(runs, servers, titles, METRICS, ratios, tool_limit, [
    f"median of {runs_wanted} runs, each on a fresh server; ratios are of the medians (for the CPU, RSS and",
    "latency rows lower is better, so there a ratio under 1 favours switchboard ws); - = not measured",
])
PY
