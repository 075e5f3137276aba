#!/usr/bin/env bash
# Benchmarks/ab.sh OLD-BINARY NEW-BINARY — an A/B of two Switchboard builds: the same workloads, RUNS times
# each, old and new alternating (old run 1, new run 1, new run 2, old run 2, …) on a fresh server and a fresh SQLite
# file per run, measured with ../shared/bench/loadgen.c (built here). Prints, per workload, the medians of
# throughput and of server CPU per unit of work (per delivery, per connection), new/old ratios, and the
# load generator's own CPU (cores), so a run the tool limited can be told apart.
#
#   Benchmarks/ab.sh /tmp/old/switchboard .build/release/switchboard
#   RUNS=4 WORKLOADS="fanout-50x200" Benchmarks/ab.sh OLD NEW
#   NEW_FLAGS="--history-on-join 0" Benchmarks/ab.sh OLD NEW   # flags for one side only (also OLD_FLAGS)
#
# Two CPU figures per unit: "window", the server's CPU while the load generator ran (its --server-pid), and
# "total", all the server's CPU from start to graceful stop (SIGTERM) less the median of the same binary's
# `idle` runs (start, stop, no load). The window leaves out what a server does after the clients are done —
# chiefly the history writer storing the last lines and rows — and a short run (fan-out 50×200 lasts about
# 0.06 s here) swings with how much of it fell inside; the total counts it. Workloads: fanout-50x200,
# fanout-200x50, fanout-50x2000, churn-1, churn-16 (8 000 connections), churn-16-long (40 000).
#
# Loopback only; every server this script starts is stopped on exit. Raw RESULT lines go to
# Benchmarks/out/ab.jsonl.
set -euo pipefail

SCRIPT=ab.sh
cd "$(dirname "$0")/.."
[[ $# -eq 2 && -x $1 && -x $2 ]] || { sed -n '2,19p' "$0" >&2; exit 2; }
OLD=$(realpath "$1")
NEW=$(realpath "$2")
RUNS=${RUNS:-6}
WORKLOADS=${WORKLOADS:-"fanout-50x200 churn-16"}
WORKLOADS="idle $WORKLOADS"  # the baseline the total figure subtracts
# shellcheck source=scripts/free-port.sh
source scripts/free-port.sh

LOADGEN_SOURCE=${LOADGEN_SOURCE:-../shared/bench/loadgen.c}
[[ -f $LOADGEN_SOURCE ]] || LOADGEN_SOURCE=/work/shared/bench/loadgen.c
WORK=$(mktemp -d)
mkdir -p Benchmarks/out
OUT=Benchmarks/out/ab.jsonl
: >"$OUT"
SERVER_PID=
SHELL_PID=
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null
    [[ -n $SHELL_PID ]] && wait "$SHELL_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true
gcc -O2 -o "$WORK/loadgen" "$LOADGEN_SOURCE"

arguments() { # WORKLOAD — the load generator's arguments
    case $1 in
    fanout-50x200) echo "--clients 50 --messages 200 --timeout 120" ;;
    fanout-200x50) echo "--clients 200 --messages 50 --timeout 120" ;;
    fanout-50x2000) echo "--clients 50 --messages 2000 --timeout 120" ;;
    churn-1) echo "--churn 2000 --concurrency 1 --timeout 120" ;;
    churn-16) echo "--churn 8000 --concurrency 16 --timeout 120" ;;
    churn-16-long) echo "--churn 40000 --concurrency 16 --timeout 120" ;;
    *) echo "$SCRIPT: unknown workload $1" >&2; exit 2 ;;
    esac
}

# Flags for one side only (a setting the other build does not know): OLD_FLAGS, NEW_FLAGS.
declare -A EXTRA_FLAGS=([old]="${OLD_FLAGS:-}" [new]="${NEW_FLAGS:-}")

run_once() { # LABEL BINARY WORKLOAD RUN
    local label=$1 binary=$2 workload=$3 run=$4 port output total
    port=$(free_port)
    rm -f "$WORK/db.sqlite"* "$WORK/times"
    # A subshell that outlives the server and then prints its children's CPU (bash's `times`, second line).
    (
        "$binary" serve --listen "tcp:$port:interface=127.0.0.1" --database "sqlite:$WORK/db.sqlite" \
            --flood-rate 0 --log-level warning ${EXTRA_FLAGS[$label]:-} >"$WORK/server.log" 2>&1
        times >"$WORK/times"
    ) &
    SHELL_PID=$!
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.05
    done
    SERVER_PID=$(pgrep -P "$SHELL_PID" | head -1)
    if [[ $workload == idle ]]; then
        output="RESULT mode=idle status=completed"
    else
        # shellcheck disable=SC2046
        output=$("$WORK/loadgen" -p "$port" --server-pid "$SERVER_PID" -q $(arguments "$workload") || true)
        output=$(grep '^RESULT' <<<"$output" || echo 'RESULT status=no_output')
    fi
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SHELL_PID" 2>/dev/null || true
    SERVER_PID= SHELL_PID=
    total=$(python3 -c 'import re,sys; m=[float(a)*60+float(b) for a,b in re.findall(r"(\d+)m([\d.]+)s", open(sys.argv[1]).read().splitlines()[1])]; print(f"{sum(m):.4f}")' "$WORK/times" 2>/dev/null || echo nan)
    printf '%s\t%s\t%s\t%s total_cpu=%s\n' "$label" "$workload" "$run" "$output" "$total" >>"$OUT"
}

for run in $(seq 1 "$RUNS"); do
    for workload in $WORKLOADS; do
        # Which build goes first alternates from run to run (old-new, new-old, …): the second of a pair ran
        # a few per cent cheaper than the first in churn (measured 2026-12-07: a set with the builds swapped
        # moved the ratio by about 9 %), so a fixed order would bias the ratio. Use an even RUNS.
        if ((run % 2)); then
            run_once old "$OLD" "$workload" "$run"
            run_once new "$NEW" "$workload" "$run"
        else
            run_once new "$NEW" "$workload" "$run"
            run_once old "$OLD" "$workload" "$run"
        fi
    done
    echo "$SCRIPT: run $run of $RUNS done" >&2
done

python3 - "$OUT" <<'PY'
import statistics, sys
rows = []
for line in open(sys.argv[1]):
    label, workload, run, result = line.rstrip("\n").split("\t")
    fields = dict(f.split("=", 1) for f in result.split()[1:] if "=" in f)
    rows.append((label, workload, fields))
def number(fields, key):
    try:
        return float(fields[key])
    except (KeyError, ValueError):
        return None
def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")
idle = {label: median(number(f, "total_cpu") for l, w, f in rows if l == label and w == "idle") for label in ("old", "new")}
print(f"idle run (start and graceful stop, no load), server CPU: old {idle['old']:.3f} s, new {idle['new']:.3f} s")
print(f"{'workload':<16}{'':<5}{'throughput':>14}{'window ns/unit':>16}{'total ns/unit':>15}{'loadgen cores':>15}{'runs ok':>9}")
for workload in dict.fromkeys(w for _, w, _ in rows if w != "idle"):
    medians = {}
    for label in ("old", "new"):
        ok = [f for l, w, f in rows if l == label and w == workload and f.get("status") == "completed"]
        rate_key = "deliveries_per_s" if workload.startswith("fanout") else "conn_per_s"
        unit_key = "received" if workload.startswith("fanout") else "ok"
        units = [number(f, unit_key) for f in ok]
        window = [number(f, "server_cpu") * number(f, "elapsed_s") / u * 1e9 for f, u in zip(ok, units) if u]
        total = [(number(f, "total_cpu") - idle[label]) / u * 1e9 for f, u in zip(ok, units)
                 if u and number(f, "total_cpu") is not None]
        medians[label] = (median(number(f, rate_key) for f in ok), median(window), median(total),
                          median(number(f, "loadgen_cpu") for f in ok), len(ok))
        r, w, t, c, n = medians[label]
        print(f"{workload:<16}{label:<5}{r:>14,.0f}{w:>16,.1f}{t:>15,.1f}{c:>15.2f}{n:>9}")
    (ro, wo, to, _, _), (rn, wn, tn, _, _) = medians["old"], medians["new"]
    print(f"{workload:<16}{'new/old':<7}{rn / ro:>12.3f}{wn / wo:>16.3f}{tn / to:>15.3f}")
PY
