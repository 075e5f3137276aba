#!/usr/bin/env bash
# Benchmarks/run.sh — one command: build Switchboard (release), the C relay and the C load generator,
# run the same workloads against the C relay, the NIO floor (relay.c's protocol on SwiftNIO alone,
# Benchmarks/nio-floor: what NIO itself costs), the classic Twisted server and Switchboard, each RUNS times on
# a fresh server, interleaved (run 1 of every server, then run 2, …, so a slow spell of the machine hits all
# alike), and print one side-by-side table of medians with ratios.
#
#   Benchmarks/run.sh                          # all servers, all workloads, 5 runs each
#   RUNS=1 Benchmarks/run.sh                   # a quick look
#   SERVERS="relay switchboard" Benchmarks/run.sh
#   WORKLOADS="fanout-50x1000 paced-2000" Benchmarks/run.sh
#   HOLD=2000 Benchmarks/run.sh                # idle connections for the memory rows (default 10000)
#   WORKLOADS=crowd SERVERS="relay switchboard" Benchmarks/run.sh   # the 100 000-client rows (see below)
#   CROWD=50000 Benchmarks/run.sh              # clients in the crowd (default 100000, or what nofile allows)
#   TOOL_LIMIT=0.9 Benchmarks/run.sh           # tool CPU (cores) from which a run counts as saturated
#   WORKLOADS=history-rate Benchmarks/run.sh   # only the history-at-line-rate rows (Benchmarks/history-rate.sh)
#   Benchmarks/run.sh --help                   # this text; any other argument is refused
#
# Loopback only. Every run starts its server fresh on a free 127.0.0.1 port and stops it right after;
# the EXIT trap stops whatever this script started (and nothing else). Raw results (one JSON line per
# run) go to Benchmarks/out/results.jsonl, the table to Benchmarks/out/table.txt.
set -euo pipefail

SCRIPT=run.sh
cd "$(dirname "$0")/.."
# shellcheck source=Benchmarks/lib.sh
source Benchmarks/lib.sh
check_arguments "$@"

SERVERS=${SERVERS:-"relay nio twisted switchboard"}
RUNS=${RUNS:-5}
TOOL_LIMIT=${TOOL_LIMIT:-0.9}
# Twisted's chat announces every join to everyone (~N²/2 notice deliveries: 50 M at 10 000, tens of
# seconds on 2 cores); the relay announces nothing; Switchboard batches notices above 20 a second.
HOLD=${HOLD:-10000}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: RUNS must be a positive integer, not '$RUNS'" >&2; exit 2; }
[[ $HOLD =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: HOLD must be a positive integer, not '$HOLD'" >&2; exit 2; }
# The crowd: one process per side holds every connection, so the open-file hard limit (`ulimit -Hn`, which
# only root with CAP_SYS_RESOURCE can raise) caps it; by default it is 100 000 or as many as that allows,
# said in the log. Past the ephemeral port range (net.ipv4.ip_local_port_range, 28 232 ports by default)
# the tool connects from several loopback addresses: one per 20 000 clients, at least two.
nofile=$(ulimit -Hn)
if [[ -z ${CROWD:-} ]]; then
    CROWD=100000
    if [[ $nofile != unlimited ]] && ((nofile - 500 < CROWD)); then
        CROWD=$((nofile - 500))
        [[ " ${WORKLOADS:-crowd} " != *" crowd "* ]] || log "the open-file hard limit is $nofile: the crowd is $CROWD clients, not 100000 (see Benchmarks/README.md)"
    fi
fi
[[ $CROWD =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: CROWD must be a positive integer, not '$CROWD'" >&2; exit 2; }
CROWD_SOURCES=$(((CROWD + 19999) / 20000 + 1))
# 50 senders, each line to every other client: about 10 M deliveries whatever the crowd's size.
CROWD_MESSAGES=$(((10000000 + 50 * CROWD - 1) / (50 * CROWD)))
MAX_CLIENTS=$(((HOLD > CROWD ? HOLD : CROWD) + 1000))

# name|load generator arguments (--port and --server-pid are added per run). Fan-out bursts are sized to
# last ~0.3–0.5 s against the relay (and seconds against Twisted), long enough for CPU accounting.
ALL_WORKLOADS=(
    "fanout-50x1000|fanout --clients 50 --messages 1000 --timeout 120"
    "fanout-200x100|fanout --clients 200 --messages 100 --timeout 120"
    "paced-2000|paced --clients 50 --rate 2000 --duration 5 --timeout 60"
    # Churn cycles as ../shared/bench/loadgen.c --churn counts them: connect, read the welcome, close. The
    # -quit workload sends /quit instead and waits for the server to close (more work for the server).
    "churn-1|churn --connections 1000 --concurrency 1 --timeout 120"
    "churn-16|churn --connections 4000 --concurrency 16 --timeout 120"
    "churn-16-quit|churn --connections 4000 --concurrency 16 --quit --timeout 120"
    # The idle RSS is read 1 s after the last welcome (Switchboard batches join notices above 20 a second,
    # so a crowd no longer leaves a backlog of N²/2 notices to drain); then all leave at once, a newcomer
    # probes every 50 ms, and the RSS is read again 6 s after the server has worked the leave off (its
    # welcome to a probe says 1 client connected; the relay's says nothing: 6 s after the last close),
    # against the fresh server's idle RSS read before anyone came.
    "hold|crowd --connections $HOLD --senders 0 --settle 1 --after-leave 6 --sources 2 --timeout 900"
    # The crowd (relay and Switchboard only: Twisted names every join to everyone, N²/2 lines): welcome
    # all, hold idle, a 50-sender fan-out to all, then a mass leave with a newcomer probing every 50 ms.
    "crowd|crowd --connections $CROWD --senders 50 --messages $CROWD_MESSAGES --sources $CROWD_SOURCES --connect-concurrency 256 --settle 2 --after-leave 6 --timeout 900"
    # History at line rate (Switchboard only): after the table, Benchmarks/history-rate.sh with the same build
    # and RUNS: how fast a flood is stored on SQLite and PostgreSQL against the limit measured in its runs.
    "history-rate|"
)
pick_workloads
check_servers

start_work bench results.jsonl

# ---------------------------------------------------------------- build
build_c_tools
if [[ " $SERVERS " == *" switchboard "* ]]; then build_switchboard || log "switchboard does not build: its column will say n/a"; fi
if [[ " $SERVERS " == *" nio "* ]]; then build_nio_floor || log "nio-floor does not build: its column will say n/a"; fi
if [[ " $SERVERS " == *" twisted "* ]]; then ensure_twisted; fi

# ---------------------------------------------------------------- the tool checks itself first
# A tiny fan-out and churn against the relay: every delivery counted, every cycle completed, or nothing
# below is worth reading.
port=$(free_port)
start_server relay "$port" || { log "the relay does not start: cannot check the load generator"; exit 1; }
smoke=$("$LOADGEN" fanout --port "$port" --clients 3 --messages 5 --settle-ms 0 --timeout 10 --server-pid "$SERVER_PID" || true)
[[ $smoke == *" ok=1 "*" expected=30 deliveries=30 "* ]] || { log "load generator self-check failed: $smoke"; exit 1; }
for quit in "" --quit; do
    smoke=$("$LOADGEN" churn --port "$port" --connections 20 --concurrency 4 $quit --timeout 10 || true)
    [[ $smoke == *" ok=1 "*" completed=20 failed=0 "* ]] || { log "load generator self-check failed: $smoke"; exit 1; }
done
stop_server
log "load generator self-check passed"

# ---------------------------------------------------------------- workloads
measure() { # SERVER WORKLOAD RUN, with the tool's arguments in `args`
    local server=$1 workload=$2 run=$3 port output status=0
    [[ $server == twisted && $workload == crowd ]] && return 0  # N²/2 join notices: hours at 100 000
    [[ $workload == history-rate ]] && return 0  # its own script, after the table
    port=$(free_port)
    if ! start_server "$server" "$port"; then
        log "$server: not running, $workload run $run is n/a"
        record "$server" "$workload" "$run" ""
        return 0
    fi
    output=$(timeout 900 "$LOADGEN" "${args[@]}" --port "$port" --server-pid "$SERVER_PID" 2>>"$OUT/loadgen.log") || status=$?
    stop_server
    log "$server $workload run $run/$RUNS (exit $status): ${output:-no output}"
    record "$server" "$workload" "$run" "${output:-RESULT ok=0 error=no_output}"
}
each_run measure

# ---------------------------------------------------------------- table
python3 - "$RESULTS" "$HOLD" "$RUNS" "$TOOL_LIMIT" "$CROWD" <<'PY' | tee "$OUT/table.txt"
import json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
hold, runs_wanted, tool_limit, crowd = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
servers = ["relay", "nio", "twisted", "switchboard"]

def runs(server, workload):
    return [r["result"] for r in rows if r["server"] == server and r["workload"] == workload and r["result"]]

def per_delivery(key):  # server CPU seconds (cores × seconds) ÷ count, in ns or µs
    def f(r, scale):
        if r.get("server_cpu_s") is None or not r.get(key):
            return None
        return r["server_cpu_s"] / r[key] * scale
    return f

def kib_to_mib(kib):
    return kib / 1024 if kib is not None else None

def rss_ratio(r):  # RSS after everyone left ÷ the fresh server's idle RSS
    return r["rss_after_leave_kib"] / r["rss_idle_kib"] if r.get("rss_idle_kib") and r.get("rss_after_leave_kib") else None

def phase_cpu(r, prefix, key, scale):  # server CPU of one of the crowd's phases ÷ a count
    cpu = r.get(prefix + "server_cpu_s")
    return cpu / r[key] * scale if cpu is not None and r.get(key) else None

# label, workload, value(result) -> number or None, unit, better
METRICS = [
    ("fan-out 50x1000 deliveries/s", "fanout-50x1000", lambda r: r.get("deliveries_per_s"), "", "higher"),
    ("fan-out 50x1000 server CPU/delivery", "fanout-50x1000", lambda r: per_delivery("deliveries")(r, 1e9), "ns", "lower"),
    ("fan-out 200x100 deliveries/s", "fanout-200x100", lambda r: r.get("deliveries_per_s"), "", "higher"),
    ("fan-out 200x100 server CPU/delivery", "fanout-200x100", lambda r: per_delivery("deliveries")(r, 1e9), "ns", "lower"),
    ("paced 2000 lines/s latency p50", "paced-2000", lambda r: r.get("lat_p50_us", 0) / 1e3, "ms", "lower"),
    ("paced 2000 lines/s latency p99", "paced-2000", lambda r: r.get("lat_p99_us", 0) / 1e3, "ms", "lower"),
    ("paced 2000 lines/s server CPU/delivery", "paced-2000", lambda r: per_delivery("deliveries")(r, 1e9), "ns", "lower"),
    ("churn, 1 in flight: connections/s", "churn-1", lambda r: r.get("connections_per_s"), "", "higher"),
    ("churn, 1 in flight: server CPU/connection", "churn-1", lambda r: per_delivery("completed")(r, 1e6), "us", "lower"),
    ("churn, 16 in flight: connections/s", "churn-16", lambda r: r.get("connections_per_s"), "", "higher"),
    ("churn, 16 in flight: server CPU/connection", "churn-16", lambda r: per_delivery("completed")(r, 1e6), "us", "lower"),
    ("churn, 16 in flight: cycle p99", "churn-16", lambda r: r.get("cycle_p99_us", 0) / 1e3, "ms", "lower"),
    ("churn with /quit, 16 in flight: connections/s", "churn-16-quit", lambda r: r.get("connections_per_s"), "", "higher"),
    ("churn with /quit, 16 in flight: server CPU/connection", "churn-16-quit", lambda r: per_delivery("completed")(r, 1e6), "us", "lower"),
    (f"hold {hold} idle: seconds until all welcomed", "hold", lambda r: r.get("welcome_wall_s"), "s", "lower"),
    (f"hold {hold} idle: RSS per connection, 1 s after", "hold", lambda r: r.get("held_rss_per_connection_kib"), "KiB", "lower"),
    (f"hold {hold}, all left: RSS 6 s after", "hold", lambda r: kib_to_mib(r.get("rss_after_leave_kib")), "MiB", "lower"),
    (f"hold {hold}, all left: RSS 6 s after / idle RSS", "hold", rss_ratio, "x", "lower"),
    (f"hold {hold}, all left: newcomer's wait, max", "hold", lambda r: r.get("probe_max_us", 0) / 1e3, "ms", "lower"),
    (f"hold {hold}, all left: until a newcomer is alone", "hold", lambda r: r.get("leave_drained_s") if r.get("leave_drained_s", -1) >= 0 else None, "s", "lower"),
    (f"crowd {crowd}: seconds until all welcomed", "crowd", lambda r: r.get("welcome_wall_s"), "s", "lower"),
    (f"crowd {crowd} idle: RSS per connection", "crowd", lambda r: r.get("held_rss_per_connection_kib"), "KiB", "lower"),
    (f"crowd {crowd}: fan-out, 50 senders, deliveries/s", "crowd", lambda r: r.get("deliveries_per_s"), "", "higher"),
    (f"crowd {crowd}: fan-out, server CPU/delivery", "crowd", lambda r: phase_cpu(r, "fanout_", "deliveries", 1e9), "ns", "lower"),
    (f"crowd {crowd}: fan-out latency p99", "crowd", lambda r: r.get("fanout_lat_p99_us", 0) / 1e3, "ms", "lower"),
    (f"crowd {crowd}: all leave, RSS peak", "crowd", lambda r: kib_to_mib(r.get("leave_rss_peak_kib")), "MiB", "lower"),
    (f"crowd {crowd}: all leave, newcomer's wait p50", "crowd", lambda r: r.get("probe_p50_us", 0) / 1e3, "ms", "lower"),
    (f"crowd {crowd}: all leave, newcomer's wait max", "crowd", lambda r: r.get("probe_max_us", 0) / 1e3, "ms", "lower"),
    (f"crowd {crowd}: all leave, until a newcomer is alone", "crowd", lambda r: r.get("leave_drained_s") if r.get("leave_drained_s", -1) >= 0 else None, "s", "lower"),
    (f"crowd {crowd}: all left, RSS 6 s after / idle RSS", "crowd", rss_ratio, "x", "lower"),
]

def cell(server, workload, value):
    """(median or None, text, spread) over the runs that completed; marks saturated or failed runs."""
    results = runs(server, workload)
    if not results:
        return None, "n/a", None
    good = [r for r in results if r.get("ok") == 1 and value(r) is not None]
    if not good:  # "-": every run completed, the figure is not the server's to give (the relay's count)
        return None, "-" if all(r.get("ok") == 1 for r in results) else "FAIL", None
    values = [value(r) for r in good]
    median = statistics.median(values)
    v = median
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
    if any(r.get("tool_cores", 0) >= tool_limit for r in good):
        text += "!"  # the load generator was near a full core in at least one of these runs
    if len(good) < len(results):
        text += f" ({len(good)}/{len(results)})"
    spread = (max(values) - min(values)) / median if median and len(values) > 1 else None
    return median, text, spread

def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return f"{a / b:.2f}x"
    return "n/a"

header = ["metric", "better", "relay (C)", "nio floor", "twisted", "switchboard", "sb/relay", "sb/nio", "sb/twisted",
          "spread"]
table = [header]
used = [m for m in METRICS if any(runs(s, m[1]) for s in servers)]
for label, workload, value, unit, better in used:
    cells = {s: cell(s, workload, value) for s in servers}
    spreads = [c[2] for c in cells.values() if c[2] is not None]
    name = f"{label} ({unit})" if unit else label
    table.append([name, better] + [cells[s][1] for s in servers]
                 + [ratio(cells["switchboard"][0], cells["relay"][0]),
                    ratio(cells["switchboard"][0], cells["nio"][0]),
                    ratio(cells["switchboard"][0], cells["twisted"][0]),
                    f"{max(spreads) * 100:.0f}%" if spreads else "-"])

widths = [max(len(row[i]) for row in table) for i in range(len(header))]
for n, row in enumerate(table):
    cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])] + [c.rjust(w) for c, w in zip(row[2:], widths[2:])]
    print("  ".join(cells))
    if n == 0:
        print("  ".join("-" * w for w in widths))

print()
print("load generator CPU, highest over the runs (cores; a run at or above %.2f is marked ! above):" % tool_limit)
for workload in dict.fromkeys(m[1] for m in used):
    parts = []
    for s in servers:
        rs = [r for r in runs(s, workload) if r.get("tool_cores") is not None]
        if rs:
            parts.append(f"{s} {max(r['tool_cores'] for r in rs):.2f}")
    print(f"  {workload}: " + (", ".join(parts) if parts else "n/a"))
print()
print(f"median of {runs_wanted} runs, each on a fresh server; spread = widest (max-min)/median of the")
print("servers; server CPU/delivery = server CPU seconds (all threads) / deliveries; (k/n) = only k of n")
print("runs completed; FAIL = none did; n/a = server not available (see Benchmarks/out/results.jsonl)")
PY

# ---------------------------------------------------------------- history at line rate
if [[ " $WORKLOADS " == *" history-rate "* && " $SERVERS " == *" switchboard "* ]]; then
    if [[ -x ${SWITCHBOARD:-} ]]; then
        echo
        SWITCHBOARD_BINARY=$SWITCHBOARD RUNS=$RUNS TOOL_LIMIT=$TOOL_LIMIT Benchmarks/history-rate.sh | tee -a "$OUT/table.txt" \
            || log "history-rate.sh failed (exit ${PIPESTATUS[0]}): its rows are missing; see Benchmarks/out/history/"
    else
        log "switchboard did not build: no history-rate rows"
    fi
fi
