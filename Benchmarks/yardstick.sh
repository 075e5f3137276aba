#!/usr/bin/env bash
# Benchmarks/yardstick.sh — the cross-check: the issue's table, measured with the independent C load
# generator ../shared/bench/loadgen.c instead of this project's own, so run.sh's figures can be compared
# with a tool we did not write. Builds that tool, the relay and Switchboard (release) as run.sh does, and
# runs every workload RUNS times against a fresh relay, Twisted and Switchboard, interleaved (run 1 of every
# server, then run 2, …), so a slow spell of the machine hits all three alike. Prints a markdown table of
# medians with ratios (also in Benchmarks/out/yardstick-table.md); one JSON line per run goes to
# Benchmarks/out/yardstick-results.jsonl.
#
#   Benchmarks/yardstick.sh                          # 5 runs of everything (about 10 minutes, most of it Twisted's hold)
#   RUNS=3 SERVERS="relay switchboard" Benchmarks/yardstick.sh
#   WORKLOADS="fanout-50x200 fanout-200x50" Benchmarks/yardstick.sh
#   LOADGEN_C=/path/to/loadgen.c Benchmarks/yardstick.sh   # default ../shared/bench/loadgen.c
#   Benchmarks/yardstick.sh --help                   # this text; any other argument is refused
#
# Workloads, as the issue ran them: fan-out `-c 50 -m 200 -b 1` and `-c 200 -m 50 -b 1`; paced `-c 50 -m 200
# -b 1 -r 2000`; churn `--churn 2000 --concurrency 1` and `16`; hold `--hold 10000`, with the server's RSS read
# 1 s after the last welcome. The tool's own CPU is in every result; a run where it used 0.9 of a core or more
# is marked `!` (it may have measured the tool). Only processes the script started are stopped (EXIT trap).
set -euo pipefail

SCRIPT=yardstick.sh
cd "$(dirname "$0")/.."
# shellcheck source=Benchmarks/lib.sh
source Benchmarks/lib.sh
check_arguments "$@"

RUNS=${RUNS:-5}
SERVERS=${SERVERS:-"relay twisted switchboard"}
LOADGEN_C=${LOADGEN_C:-$ROOT/../shared/bench/loadgen.c}
HOLD=10000
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "$SCRIPT: RUNS must be a positive integer, not '$RUNS'" >&2; exit 2; }
[[ -f $LOADGEN_C ]] || { echo "$SCRIPT: no load generator at $LOADGEN_C (set LOADGEN_C)" >&2; exit 2; }

# name|the shared tool's arguments (-q, -p PORT and --server-pid are added per run)
ALL_WORKLOADS=(
    "fanout-50x200|-c 50 -m 200 -b 1 -t 120"
    "fanout-200x50|-c 200 -m 50 -b 1 -t 120"
    "paced-2000|-c 50 -m 200 -b 1 -r 2000 -t 60"
    "churn-1|--churn 2000 --concurrency 1 -t 120"
    "churn-16|--churn 2000 --concurrency 16 -t 120"
    "hold|--hold $HOLD --hold-secs 1.5 -t 600"
)
pick_workloads
check_servers

start_work yardstick yardstick-results.jsonl

build_c_tools
SHARED_LOADGEN=$WORK/shared-loadgen
cc -O2 -o "$SHARED_LOADGEN" "$LOADGEN_C"
if [[ " $SERVERS " == *" switchboard "* ]]; then build_switchboard || log "switchboard does not build: its column will say n/a"; fi
if [[ " $SERVERS " == *" twisted "* ]]; then ensure_twisted; fi

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -1; }

# run_hold PORT — the shared tool prints HOLD_READY once every connection has its welcome; the RSS is read
# 1 s later (the tool holds them 1.5 s), as the issue measured it. Prints the RESULT line plus rss fields.
run_hold() {
    local port=$1 before after line result=""
    before=$(rss_kib "$SERVER_PID")
    exec 3< <(timeout 900 "$SHARED_LOADGEN" -q -p "$port" --server-pid "$SERVER_PID" "${args[@]}" 2>>"$OUT/yardstick-loadgen.log")
    after=-1
    while IFS= read -r line <&3; do
        case $line in
        HOLD_READY*) sleep 1; after=$(rss_kib "$SERVER_PID"); result="$line" ;;
        RESULT*) result="$line ${result#HOLD_READY }" ;;
        esac
    done
    exec 3<&-
    printf '%s rss_before_kib=%s rss_after_kib=%s\n' "$result" "$before" "$after"
}

measure() { # SERVER WORKLOAD RUN, with the shared tool's arguments in `args`
    local server=$1 workload=$2 run=$3 port output=""
    port=$(free_port)
    if start_server "$server" "$port"; then
        if [[ $workload == hold ]]; then
            output=$(run_hold "$port")
        else
            output=$(timeout 900 "$SHARED_LOADGEN" -q -p "$port" --server-pid "$SERVER_PID" "${args[@]}" \
                2>>"$OUT/yardstick-loadgen.log" | grep '^RESULT' || true)
        fi
        stop_server
    fi
    log "$server $workload run $run/$RUNS: ${output:-no result}"
    record "$server" "$workload" "$run" "$output"
}
each_run measure

python3 - "$RESULTS" "$HOLD" "$RUNS" <<'PY' | tee "$OUT/yardstick-table.md"
import json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
hold, runs_wanted = int(sys.argv[2]), int(sys.argv[3])
servers = ["relay", "twisted", "switchboard"]

def completed(r):
    return r.get("status") == "completed"

def ns_per(count):  # server CPU (cores over the measured time) × time ÷ count
    return lambda r: r["server_cpu"] * r["elapsed_s"] / r[count] * 1e9 if r.get(count) else None

# label, workload, value(result), better, unit
METRICS = [
    ("fan-out 50×200 deliveries/s", "fanout-50x200", lambda r: r["deliveries_per_s"], "higher", ""),
    ("fan-out 50×200 server CPU per delivery", "fanout-50x200", ns_per("received"), "lower", "ns"),
    ("fan-out 200×50 deliveries/s", "fanout-200x50", lambda r: r["deliveries_per_s"], "higher", ""),
    ("fan-out 200×50 server CPU per delivery", "fanout-200x50", ns_per("received"), "lower", "ns"),
    ("paced 2000 lines/s p99", "paced-2000", lambda r: r["p99_ms"], "lower", "ms"),
    ("churn, 1 in flight, conn/s", "churn-1", lambda r: r["conn_per_s"], "higher", ""),
    ("churn, 16 in flight, conn/s", "churn-16", lambda r: r["conn_per_s"], "higher", ""),
    ("churn, 16 in flight, server CPU per connection", "churn-16",
     lambda r: r["server_cpu"] * r["elapsed_s"] / r["ok"] * 1e6 if r.get("ok") else None, "lower", "µs"),
    (f"{hold:,} idle, KiB/conn (1 s after the last welcome)", "hold",
     lambda r: (r["rss_after_kib"] - r["rss_before_kib"]) / hold if r.get("rss_after_kib", -1) > 0 else None,
     "lower", ""),
    (f"{hold:,} connect: seconds until all welcomed", "hold", lambda r: r["establish_s"], "lower", ""),
]

def cell(server, workload, value):
    results = [r["result"] for r in rows if r["server"] == server and r["workload"] == workload]
    if not results:
        return None, "n/a"
    good = [r for r in results if r and completed(r) and value(r) is not None]
    if not good:
        return None, "FAIL"
    median = statistics.median(value(r) for r in good)
    text = f"{median:,.0f}" if median >= 100 else f"{median:.2f}"
    if any(r.get("loadgen_cpu", 0) >= 0.9 for r in good):
        text += "!"
    if len(good) < len(results):
        text += f" ({len(good)}/{len(results)})"
    return median, text

def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b else "–"

used = [m for m in METRICS if any(r["workload"] == m[1] for r in rows)]
print("| workload | better | C relay | Twisted + adbapi | Switchboard | Switchboard ÷ relay | ÷ Twisted |")
print("|---|---|---|---|---|---|---|")
for label, workload, value, better, unit in used:
    cells = {s: cell(s, workload, value) for s in servers}
    name = f"{label} ({unit})" if unit else label
    print(f"| {name} | {better} | {cells['relay'][1]} | {cells['twisted'][1]} | {cells['switchboard'][1]} | "
          f"{ratio(cells['switchboard'][0], cells['relay'][0])} | {ratio(cells['switchboard'][0], cells['twisted'][0])} |")
print()
print("Load generator CPU, highest over the runs (cores; `!` above marks a run at 0.9 or more):")
for workload in dict.fromkeys(m[1] for m in used):
    parts = []
    for s in servers:
        cpus = [r["result"]["loadgen_cpu"] for r in rows
                if r["server"] == s and r["workload"] == workload and r["result"] and "loadgen_cpu" in r["result"]]
        if cpus:
            parts.append(f"{s} {max(cpus):.2f}")
    print(f"- {workload}: " + (", ".join(parts) if parts else "n/a"))
print()
print(f"Median of {runs_wanted} runs, each on a fresh server, servers interleaved within every run; the tool is "
      "../shared/bench/loadgen.c.")
PY
