#!/usr/bin/env bash
# Benchmarks/cluster.sh — one command: several servers on one PostgreSQL database, measured. Builds
# Switchboard (release) and the C load generator, starts a throwaway PostgreSQL 15, and runs, RUNS times
# each and interleaved (every run index does every workload, so a ratio is taken within one run):
#
#   single-paced-2000    one server:  50 clients, 25 send 2000 lines/s in all, latency at the other 25
#   cross-paced-2000     two servers: the 25 senders on A, the 25 receivers on B (every measured delivery
#                        crosses PostgreSQL: said on A, NOTIFY, LISTEN on B, delivered by B)
#   single-paced-20000   the same at 20 000 lines/s for 10 s (lines arrive one at a time, not in bursts)
#   cross-paced-20000
#   single-burst         5 senders × 400 000 lines as fast as they go, 5 receivers: lines/s at saturation
#   cross-burst          the senders on A, the receivers on B
#
# Every workload gets a fresh database and fresh servers. Besides the load generator's own CPU figures, the
# CPU of every thread of both servers and of every PostgreSQL process is read from /proc before and after
# the run and split by role (event loop, history pool, NOTIFY and LISTEN threads and their backends).
# Prints markdown tables of medians and the targets (also in Benchmarks/out/cluster-table.md); one JSON line
# per run goes to Benchmarks/out/cluster-results.jsonl, server logs to Benchmarks/out/cluster/.
#
#   Benchmarks/cluster.sh                       # 3 runs of every workload (about 3 minutes)
#   RUNS=1 Benchmarks/cluster.sh                # a quick look
#   WORKLOADS="single-paced-2000 cross-paced-2000" Benchmarks/cluster.sh
#   TOOL_LIMIT=0.9 Benchmarks/cluster.sh        # load-generator CPU (cores) that marks a run saturated
#   Benchmarks/cluster.sh --help                # this text; any other argument is refused
#
# PostgreSQL runs with pg_stat_statements loaded, to count the NOTIFY statements (each one transaction),
# the payloads they carry and the history INSERTs of every run. The EXIT trap stops whatever this script
# started (servers, PostgreSQL) and nothing else.
set -euo pipefail

SCRIPT=cluster.sh
cd "$(dirname "$0")/.."
# shellcheck source=Benchmarks/lib.sh
source Benchmarks/lib.sh
check_arguments "$@"

LOGS=$OUT/cluster
RUNS=${RUNS:-3}
TOOL_LIMIT=${TOOL_LIMIT:-0.9}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "cluster.sh: RUNS must be a positive integer, not '$RUNS'" >&2; exit 2; }

# name|servers|load generator arguments (--port, --port2 and the PIDs are added per run)
PACED="paced --clients 50 --senders 25"
BURST="fanout --clients 10 --senders 5 --messages 400000 --timeout 120"
ALL_WORKLOADS=(
    "single-paced-2000|1|$PACED --rate 2000 --duration 5 --timeout 60"
    "cross-paced-2000|2|$PACED --rate 2000 --duration 5 --timeout 60"
    "single-paced-20000|1|$PACED --rate 20000 --duration 10 --timeout 90"
    "cross-paced-20000|2|$PACED --rate 20000 --duration 10 --timeout 90"
    "single-burst|1|$BURST"
    "cross-burst|2|$BURST"
)
pick_workloads

# shellcheck source=scripts/pg-cluster.sh
source "$ROOT/scripts/pg-cluster.sh"

PGDIR=$(mktemp -d /tmp/pg.XXXXXX) # short: the socket path DIR/.s.PGSQL.PORT must fit in 107 bytes
start_postgres_work cluster cluster-results.jsonl

# ---------------------------------------------------------------- build
build_c_tools
build_switchboard

# ---------------------------------------------------------------- the tool checks itself first
# Against the relay (one server, so no --port2): with --senders the counting must stay exact.
port=$(free_port)
"$WORK/relay" "$port" 2>/dev/null &
relay=$!
STARTED_PIDS+=("$relay")
wait_listening "$relay" "$port" 5 relay
smoke=$("$LOADGEN" fanout --port "$port" --clients 4 --senders 2 --messages 5 --settle-ms 0 --timeout 10 || true)
[[ $smoke == *" ok=1 "*" expected=30 deliveries=30 "*" recv_deliveries=20 "* ]] || { log "load generator self-check failed: $smoke"; exit 1; }
smoke=$("$LOADGEN" paced --port "$port" --clients 4 --senders 1 --rate 1000 --duration 0.1 --settle-ms 0 --timeout 10 || true)
[[ $smoke == *" ok=1 "*" expected=300 deliveries=300 "* ]] || { log "load generator self-check failed: $smoke"; exit 1; }
stop_pids 20 "$relay"
log "load generator self-check passed"

# ---------------------------------------------------------------- PostgreSQL
BINDIR=$(pg_bindir --install)
pg_init "$PGDIR"
# Counts statements per database (the NOTIFY batches, the history INSERTs); loaded at start.
echo "shared_preload_libraries = 'pg_stat_statements'" >>"$PGDIR/data/postgresql.conf"
for attempt in 1 2 3; do
    PGPORT=$(free_port)
    if pg_start "$PGDIR" "$PGPORT" 2>/dev/null; then PG_STARTED=1; break; fi
    if [[ -e $PGDIR/data/postmaster.pid ]]; then PG_STARTED=1; break; fi
    [[ $attempt -lt 3 ]] || { log "PostgreSQL did not start:"; tail -n 20 "$PGDIR/log" >&2 || true; exit 1; }
done
POSTMASTER=$(head -n 1 "$PGDIR/data/postmaster.pid")
sql() { # DB SQL — one value per line, fields separated by |
    "$BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$1" -c "$2"
}
sql postgres "CREATE EXTENSION pg_stat_statements" >/dev/null
log "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT (postmaster $POSTMASTER)"

# notify_statements|notify_payloads|history_inserts of database DB so far. A NOTIFY statement is
# `SELECT pg_notify($1, $2), pg_notify($1, $3), …`: one transaction, as many payloads as pg_notify calls.
counters() {
    sql postgres "
        SELECT coalesce(sum(calls) FILTER (WHERE query LIKE 'SELECT pg_notify(%'), 0) || '|' ||
               coalesce(sum(calls * ((length(query) - length(replace(query, 'pg_notify(', ''))) / 10))
                        FILTER (WHERE query LIKE 'SELECT pg_notify(%'), 0) || '|' ||
               coalesce(sum(calls) FILTER (WHERE query LIKE '%INSERT INTO messages%'), 0)
        FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$1')"
}

# start_cluster_server LOGFILE PORT URL — starts a server, sets SERVER_PID, waits (bounded) until it listens.
start_cluster_server() {
    local logfile=$1 port=$2 url=$3 pid
    "$SWITCHBOARD" serve --listen "tcp:$port:interface=127.0.0.1" --database "$url" \
        "${SWITCHBOARD_FLAGS[@]+"${SWITCHBOARD_FLAGS[@]}"}" 2>>"$logfile" &
    pid=$!
    STARTED_PIDS+=("$pid")
    # Up to 30 s: a cluster server waits up to 5 s for the others' rosters before it listens.
    wait_listening "$pid" "$port" 30 "server (see $logfile)" || return 1
    SERVER_PID=$pid
}

# cpu_snapshot FILE PID... — CPU (ns, schedstat) of every thread of the PIDs and of every PostgreSQL process
# (the postmaster's children), as JSON: {"time": s, "threads": {"TID": [PID, comm, ns]}}.
cpu_snapshot() {
    python3 - "$POSTMASTER" "$@" <<'PY'
import json, os, sys, time
postmaster, out, pids = sys.argv[1], sys.argv[2], sys.argv[3:]
def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None
for entry in os.listdir("/proc"):
    if entry.isdigit():
        stat = read(f"/proc/{entry}/stat")
        if stat and stat[stat.rfind(")") + 2:].split()[1] == postmaster:
            pids.append(entry)
pids.append(postmaster)
threads = {}
for pid in pids:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        continue
    for tid in tids:
        comm, sched = read(f"/proc/{pid}/task/{tid}/comm"), read(f"/proc/{pid}/task/{tid}/schedstat")
        if comm and sched:
            threads[tid] = [pid, comm.strip(), int(sched.split()[0])]
json.dump({"time": time.monotonic(), "threads": threads}, open(out, "w"))
PY
}

# backend_roles DB FILE A_PID [B_PID] — which server each backend of DB serves, and as what, from
# pg_stat_activity (its last statement) and ss (whose socket is on the other end): {"PID": "A notify"}.
backend_roles() {
    local db=$1 file=$2
    shift 2
    sql postgres "SELECT pid, client_port, left(query, 40) FROM pg_stat_activity WHERE datname = '$db'" >"$WORK/activity"
    ss -Htnp "dport = :$PGPORT" >"$WORK/sockets" 2>/dev/null || true
    python3 - "$WORK/activity" "$WORK/sockets" "$file" "$@" <<'PY'
import json, re, sys
activity, sockets, out, servers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
owner = {}  # client port -> server letter
for line in open(sockets):
    m = re.search(r':(\d+)\s+\S+:\d+\s+users:\(\("[^"]*",pid=(\d+)', line)
    if m and m.group(2) in servers:
        owner[m.group(1)] = "AB"[servers.index(m.group(2))]
roles = {}
for line in open(activity):
    pid, port, query = (line.rstrip("\n").split("|", 2) + ["", ""])[:3]
    if not pid:
        continue
    kind = ("notify" if query.startswith("SELECT pg_notify")
            else "listen" if query.startswith(("LISTEN", "SELECT 1")) else "pool")
    roles[pid] = f"{owner.get(port, '?')} {kind}"
json.dump(roles, open(out, "w"))
PY
}

# cpu_roles BEFORE AFTER ROLES A_PID [B_PID] — key=value pairs: cores (CPU ÷ the interval) by role.
cpu_roles() {
    python3 - "$@" <<'PY'
import json, sys
before, after, roles = (json.load(open(f)) for f in sys.argv[1:4])
servers = sys.argv[4:]
span = after["time"] - before["time"]
sums = {}
for tid, (pid, comm, ns) in after["threads"].items():
    if tid not in before["threads"]:
        continue
    if pid in servers:
        who = "AB"[servers.index(pid)]
        what = ("loop" if comm.startswith("NIO-ELT") else "pool" if comm.startswith("TP-#")
                else "notify" if comm == "sb-link-notify" else "listen" if comm == "sb-link-listen" else "other")
        key = f"cpu_{who}_{what}"
    else:
        key = "cpu_pg_" + roles.get(pid, "other").replace(" ", "_").replace("?", "x")
    sums[key] = sums.get(key, 0) + (ns - before["threads"][tid][2]) / 1e9
print(" ".join(f"{k}={v / span:.3f}" for k, v in sorted(sums.items())))
PY
}

# ---------------------------------------------------------------- workloads
for ((run = 1; run <= RUNS; run++)); do
    for entry in "${ALL_WORKLOADS[@]}"; do
        workload=${entry%%|*}
        [[ " $WORKLOADS " == *" $workload "* ]] || continue
        rest=${entry#*|}
        servers=${rest%%|*}
        read -r -a args <<<"${rest#*|}"
        db="bench_${run}_${workload//-/_}"
        sql postgres "CREATE DATABASE $db" >/dev/null
        url="postgres://postgres@127.0.0.1:$PGPORT/$db"
        pids=()
        extra=()
        ok=1
        port=$(free_port)
        if start_cluster_server "$LOGS/$workload-$run-A.log" "$port" "$url"; then
            pids+=("$SERVER_PID")
            extra=(--port "$port" --server-pid "$SERVER_PID")
        else
            ok=0
        fi
        if [[ $ok -eq 1 && $servers -eq 2 ]]; then
            port2=$(free_port)
            if start_cluster_server "$LOGS/$workload-$run-B.log" "$port2" "$url"; then
                pids+=("$SERVER_PID")
                extra+=(--port2 "$port2" --server-pid2 "$SERVER_PID")
            else
                ok=0
            fi
        fi
        if [[ $ok -eq 0 ]]; then
            [[ ${#pids[@]} -eq 0 ]] || stop_pids 20 "${pids[@]}"
            log "$workload run $run: a server did not start"
            record switchboard "$workload" "$run" "RESULT ok=0 error=server_did_not_start"
            continue
        fi
        IFS='|' read -r n0 p0 h0 <<<"$(counters "$db")"
        cpu_snapshot "$WORK/cpu0" "${pids[@]}"
        # In the background and waited for, so that a signal reaches the traps at once (not after the run).
        status=0
        timeout 900 "$LOADGEN" "${args[@]}" "${extra[@]}" --db-pid "$POSTMASTER" >"$WORK/result" 2>>"$LOGS/loadgen.log" &
        tool=$!
        STARTED_PIDS+=("$tool")
        wait "$tool" || status=$?
        forget_pids "$tool"
        output=$(cat "$WORK/result")
        cpu_snapshot "$WORK/cpu1" "${pids[@]}"
        IFS='|' read -r n1 p1 h1 <<<"$(counters "$db")"
        rows=$(sql "$db" "SELECT count(*) FROM messages")
        backend_roles "$db" "$WORK/roles" "${pids[@]}"
        read -r -a roles <<<"$(cpu_roles "$WORK/cpu0" "$WORK/cpu1" "$WORK/roles" "${pids[@]}")"
        stop_pids 20 "${pids[@]}"
        # After a graceful stop: what history kept (the rest was dropped from a full queue, or left unwritten).
        rows_final=$(sql "$db" "SELECT count(*) FROM messages")
        sql postgres "DROP DATABASE $db WITH (FORCE)" >/dev/null
        log "$workload run $run/$RUNS (exit $status): ${output:-no output}"
        record switchboard "$workload" "$run" "${output:-RESULT ok=0 error=no_output}" \
            "servers=$servers" "notify_statements=$((n1 - n0))" "notify_payloads=$((p1 - p0))" \
            "history_inserts=$((h1 - h0))" "history_rows=$rows" "history_rows_final=$rows_final" \
            "${roles[@]+"${roles[@]}"}"
    done
done

log "load at the end: $(uptime)"

# ---------------------------------------------------------------- table
python3 - "$RESULTS" "$RUNS" "$TOOL_LIMIT" <<'PY' | tee "$OUT/cluster-table.md"
import json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
runs_wanted, tool_limit = int(sys.argv[2]), float(sys.argv[3])

def results(workload, good=True):
    rs = [r["result"] for r in rows if r["workload"] == workload and r["result"]]
    return [r for r in rs if r.get("ok") == 1] if good else rs

def lines(r):  # lines said in the measured phase
    return r.get("lines") or r.get("messages", 0) * r.get("senders", 0)

def per_s(r, key):
    return r[key] / r["wall_s"] if r.get("wall_s") else None

COLUMNS = [
    ("lines/s at the receivers", lambda r: r.get("recv_lines_per_s"), "{:,.0f}"),
    ("deliveries/s", lambda r: r.get("deliveries_per_s"), "{:,.0f}"),
    ("p50 ms", lambda r: r.get("lat_p50_us", 0) / 1e3, "{:.2f}"),
    ("p99 ms", lambda r: r.get("lat_p99_us", 0) / 1e3, "{:.2f}"),
    ("max ms", lambda r: r.get("lat_max_us", 0) / 1e3, "{:.1f}"),
    ("A cores", lambda r: r.get("server_cores"), "{:.2f}"),
    ("B cores", lambda r: r.get("server2_cores"), "{:.2f}"),
    ("PG cores", lambda r: r.get("db_cores"), "{:.2f}"),
    ("tool cores", lambda r: r.get("tool_cores"), "{:.2f}"),
    ("NOTIFY tx/s", lambda r: per_s(r, "notify_statements"), "{:,.0f}"),
    ("payloads/s", lambda r: per_s(r, "notify_payloads"), "{:,.0f}"),
    ("lines/payload", lambda r: lines(r) / r["notify_payloads"] if r.get("notify_payloads") else None, "{:.1f}"),
    ("history rows/s", lambda r: per_s(r, "history_rows"), "{:,.0f}"),
    ("history kept %", lambda r: 100 * r["history_rows_final"] / lines(r) if lines(r) else None, "{:.0f}"),
]

def median(workload, value):
    vs = [value(r) for r in results(workload)]
    vs = [v for v in vs if v is not None]
    return statistics.median(vs) if vs else None

workloads = list(dict.fromkeys(r["workload"] for r in rows))
print("| workload | runs ok | " + " | ".join(c[0] for c in COLUMNS) + " |")
print("|---|---|" + "---|" * len(COLUMNS))
for w in workloads:
    good, every = results(w), results(w, good=False)
    cells = []
    for _, value, fmt in COLUMNS:
        m = median(w, value)
        cells.append("–" if m is None else fmt.format(m))
    mark = "!" if any(r.get("tool_cores", 0) >= tool_limit for r in good) else ""
    print(f"| {w}{mark} | {len(good)}/{len(every)} | " + " | ".join(cells) + " |")

print()
print(f"Median of {runs_wanted} runs, each workload on a fresh database and fresh servers. A = the senders' server,")
print("B = the receivers' (cross-server rows); PG = the postmaster and all its children. Latency and lines/s are")
print("measured at the receivers. NOTIFY tx = NOTIFY statements (one transaction each; pg_stat_statements);")
print("payloads = pg_notify calls in them. History rows/s: rows in `messages` at the end of the measured phase ÷")
print("its length; history kept: rows after a graceful stop ÷ lines said. ! = the tool reached "
      f"{tool_limit} of a core in a run.")

# Where the CPU went, by role: median cores over the runs (/proc, the whole run including set-up).
ROLES = [("A loop", "cpu_A_loop"), ("A pool", "cpu_A_pool"), ("A NOTIFY", "cpu_A_notify"), ("A LISTEN", "cpu_A_listen"),
         ("B loop", "cpu_B_loop"), ("B pool", "cpu_B_pool"), ("B NOTIFY", "cpu_B_notify"), ("B LISTEN", "cpu_B_listen"),
         ("PG A pool", "cpu_pg_A_pool"), ("PG A NOTIFY", "cpu_pg_A_notify"), ("PG A LISTEN", "cpu_pg_A_listen"),
         ("PG B pool", "cpu_pg_B_pool"), ("PG B NOTIFY", "cpu_pg_B_notify"), ("PG B LISTEN", "cpu_pg_B_listen"),
         ("PG other", "cpu_pg_other")]
print()
print("CPU by role (cores, median): server threads (loop = the event loop; pool = history and other database")
print("work; NOTIFY/LISTEN = the cluster link's threads) and the PostgreSQL backends serving each of them.")
print()
print("| workload | " + " | ".join(r[0] for r in ROLES) + " |")
print("|---|" + "---|" * len(ROLES))
for w in workloads:
    cells = []
    for _, key in ROLES:
        m = median(w, lambda r: r.get(key))
        cells.append("–" if m is None else f"{m:.2f}")
    print(f"| {w} | " + " | ".join(cells) + " |")

def by_run(workload):
    return {r["run"]: r["result"] for r in rows if r["workload"] == workload and r["result"] and r["result"].get("ok") == 1}

print()
verdicts = []
single, cross = by_run("single-paced-2000"), by_run("cross-paced-2000")
ratios = [cross[k]["lat_p99_us"] / single[k]["lat_p99_us"]
          for k in sorted(single) if k in cross and single[k]["lat_p99_us"]]
if ratios:
    print("cross/single p99 at 2000 lines/s, run by run: " + ", ".join(f"{x:.2f}x" for x in ratios))
    r = statistics.median(ratios)
    verdicts.append(("cross-server p99 ≤ 3× single-server p99 (2000 lines/s, same run)",
                     f"{r:.2f}x (median of the runs' ratios)", r <= 3))
single20, cross20 = by_run("single-paced-20000"), by_run("cross-paced-20000")
ratios20 = [cross20[k]["lat_p99_us"] / single20[k]["lat_p99_us"]
            for k in sorted(single20) if k in cross20 and single20[k]["lat_p99_us"]]
if ratios20:
    print("cross/single p99 at 20000 lines/s, run by run: " + ", ".join(f"{x:.2f}x" for x in ratios20))
burst = median("cross-burst", lambda r: r.get("recv_lines_per_s"))
if burst is not None:
    verdicts.append(("≥ 20 000 cross-server lines/s through one PostgreSQL (burst)", f"{burst:,.0f} lines/s", burst >= 20000))
kept = [r for r in results("cross-paced-20000")]
if kept:
    rate = statistics.median(r["recv_lines_per_s"] for r in kept)
    p99 = statistics.median(r["lat_p99_us"] for r in kept) / 1e3
    every = results("cross-paced-20000", good=False)
    verdicts.append(("≥ 20 000 cross-server lines/s, paced (lines sent one at a time), every line delivered",
                     f"{rate:,.0f} lines/s in {len(kept)}/{len(every)} runs, p99 {p99:.1f} ms",
                     rate >= 19800 and len(kept) == len(every)))
    hist = statistics.median(100 * r["history_rows_final"] / lines(r) for r in kept)
    verdicts.append(("history keeps every line at 20 000 lines/s (not a target of the issue)",
                     f"{hist:.0f} % kept", hist >= 99.9))
if verdicts:
    print()
    print("| target | result | met? |")
    print("|---|---|---|")
    for name, result, met in verdicts:
        print(f"| {name} | {result} | {'yes' if met else 'no'} |")
PY
