#!/usr/bin/env bash
# Benchmarks/ab.sh OLD-BINARY NEW-BINARY — an A/B of two Switchboard builds: the same workloads, RUNS times
# each, old and new alternating (old run 1, new run 1, old run 2, …) on a fresh server and a fresh SQLite
# file per run, measured with ../shared/bench/loadgen.c (built here). Prints, per workload, the medians of
# throughput and of server CPU per unit of work (per delivery, per connection), new/old ratios, and the
# load generator's own CPU (cores), so a run the tool limited can be told apart.
#
#   Benchmarks/ab.sh /tmp/old/switchboard .build/release/switchboard
#   RUNS=3 WORKLOADS="fanout-50x200" Benchmarks/ab.sh OLD NEW
#   NEW_FLAGS="--history-on-join 0" Benchmarks/ab.sh OLD NEW   # flags for one side only (also OLD_FLAGS)
#
# Loopback only; every server this script starts is stopped on exit. Raw RESULT lines go to
# Benchmarks/out/ab.jsonl.
set -euo pipefail

SCRIPT=ab.sh
cd "$(dirname "$0")/.."
[[ $# -eq 2 && -x $1 && -x $2 ]] || { sed -n '2,12p' "$0" >&2; exit 2; }
OLD=$(realpath "$1")
NEW=$(realpath "$2")
RUNS=${RUNS:-5}
WORKLOADS=${WORKLOADS:-"fanout-50x200 churn-16"}
# shellcheck source=scripts/free-port.sh
source scripts/free-port.sh

LOADGEN_SOURCE=${LOADGEN_SOURCE:-../shared/bench/loadgen.c}
[[ -f $LOADGEN_SOURCE ]] || LOADGEN_SOURCE=/work/shared/bench/loadgen.c
WORK=$(mktemp -d)
mkdir -p Benchmarks/out
OUT=Benchmarks/out/ab.jsonl
: >"$OUT"
SERVER_PID=
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true
gcc -O2 -o "$WORK/loadgen" "$LOADGEN_SOURCE"

arguments() { # WORKLOAD — the load generator's arguments
    case $1 in
    fanout-50x200) echo "--clients 50 --messages 200 --timeout 120" ;;
    fanout-200x50) echo "--clients 200 --messages 50 --timeout 120" ;;
    churn-1) echo "--churn 2000 --concurrency 1 --timeout 120" ;;
    churn-16) echo "--churn 8000 --concurrency 16 --timeout 120" ;;
    *) echo "$SCRIPT: unknown workload $1" >&2; exit 2 ;;
    esac
}

# Flags for one side only (a setting the other build does not know): OLD_FLAGS, NEW_FLAGS.
declare -A EXTRA_FLAGS=([old]="${OLD_FLAGS:-}" [new]="${NEW_FLAGS:-}")

run_once() { # LABEL BINARY WORKLOAD RUN
    local label=$1 binary=$2 workload=$3 run=$4 port output
    port=$(free_port)
    rm -f "$WORK/db.sqlite"*
    "$binary" serve --listen "tcp:$port:interface=127.0.0.1" --database "sqlite:$WORK/db.sqlite" \
        --flood-rate 0 --log-level warning ${EXTRA_FLAGS[$label]:-} >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.05
    done
    # shellcheck disable=SC2046
    output=$("$WORK/loadgen" -p "$port" --server-pid "$SERVER_PID" -q $(arguments "$workload") || true)
    kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    printf '%s\t%s\t%s\t%s\n' "$label" "$workload" "$run" "$(grep '^RESULT' <<<"$output" || echo 'RESULT status=no_output')" >>"$OUT"
}

for run in $(seq 1 "$RUNS"); do
    for workload in $WORKLOADS; do
        run_once old "$OLD" "$workload" "$run"
        run_once new "$NEW" "$workload" "$run"
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
print(f"{'workload':<16}{'':<5}{'throughput':>14}{'server ns/unit':>16}{'loadgen cores':>15}{'runs ok':>9}")
for workload in dict.fromkeys(w for _, w, _ in rows):
    medians = {}
    for label in ("old", "new"):
        ok = [f for l, w, f in rows if l == label and w == workload and f.get("status") == "completed"]
        rate_key = "deliveries_per_s" if workload.startswith("fanout") else "conn_per_s"
        unit_key = "received" if workload.startswith("fanout") else "ok"
        rates = [number(f, rate_key) for f in ok]
        per_unit = [number(f, "server_cpu") * number(f, "elapsed_s") / number(f, unit_key) * 1e9 for f in ok
                    if number(f, unit_key)]
        tool = [number(f, "loadgen_cpu") for f in ok]
        medians[label] = (statistics.median(rates) if rates else float("nan"),
                          statistics.median(per_unit) if per_unit else float("nan"),
                          statistics.median(tool) if tool else float("nan"), len(ok))
        r, u, t, n = medians[label]
        print(f"{workload:<16}{label:<5}{r:>14,.0f}{u:>16,.1f}{t:>15.2f}{n:>9}")
    (ro, uo, _, _), (rn, un, _, _) = medians["old"], medians["new"]
    print(f"{workload:<16}{'new/old':<7}{rn / ro:>12.3f}{un / uo:>16.3f}")
PY
