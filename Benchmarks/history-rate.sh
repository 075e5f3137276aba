#!/usr/bin/env bash
# Benchmarks/history-rate.sh — one command: how fast a flood of chat lines is STORED (committed to the
# history tables, not just relayed), on SQLite and on PostgreSQL, against the limit measured in the same
# run on the same rows:
#
#   sqlite-server    a fresh Switchboard on a fresh SQLite file; `loadgen fanout` floods it (CLIENTS clients,
#                    each sending MESSAGES lines at full speed, --flood-rate 0); time from the first line sent
#                    until the server's metrics say every line is committed
#                    (switchboard_history_events_written_total, polled every 10 ms)
#   sqlite-limit     the same rows (read back from that server's table) inserted by Benchmarks/baseline/
#                    sqlite-insert.c into a fresh file with the same schema: one transaction, one prepared
#                    statement, C
#   postgres-server  the same flood against a server on a fresh PostgreSQL database
#   postgres-limit   the same rows `COPY … FROM STDIN` through psql into a fresh database with the same schema
#                    (psql's \timing of the COPY)
#
#   Benchmarks/history-rate.sh                     # 5 runs of each, interleaved (about 2 minutes)
#   RUNS=1 Benchmarks/history-rate.sh              # a quick look
#   DATABASES=sqlite Benchmarks/history-rate.sh    # sqlite, postgres or both (default)
#   CLIENTS=4 MESSAGES=50000 Benchmarks/history-rate.sh   # the flood: CLIENTS × MESSAGES lines (200 000)
#   TOOL_LIMIT=0.9 Benchmarks/history-rate.sh      # load-generator CPU (cores) that marks a run saturated
#   Benchmarks/history-rate.sh --help              # this text; any other argument is refused
#
# Each run does the four in the order above, so a slow spell of the machine hits a server and its limit
# alike; the ratio is taken within a run. CPU is read from /proc (every thread of the server, split into the
# event loop and the pool threads; the postmaster and all its children) over the time measured. PostgreSQL is
# a throwaway cluster (scripts/pg-cluster.sh, in /tmp, fsync off as in the tests), stopped and removed on
# every exit path. The table goes to stdout and Benchmarks/out/history-table.md, one JSON line per
# measurement to Benchmarks/out/history-results.jsonl, logs to Benchmarks/out/history/.
set -euo pipefail

SCRIPT=history-rate.sh
cd "$(dirname "$0")/.."
# shellcheck source=Benchmarks/lib.sh
source Benchmarks/lib.sh
check_arguments "$@"

LOGS=$OUT/history
RUNS=${RUNS:-5}
CLIENTS=${CLIENTS:-4}
MESSAGES=${MESSAGES:-50000}
DATABASES=${DATABASES:-"sqlite postgres"}
TOOL_LIMIT=${TOOL_LIMIT:-0.9}
for v in RUNS CLIENTS MESSAGES; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$SCRIPT: $v must be a positive integer, not '${!v}'" >&2; exit 2; }
done
[[ $CLIENTS -ge 2 ]] || { echo "$SCRIPT: CLIENTS must be at least 2 (a line needs someone to deliver it to)" >&2; exit 2; }
for d in $DATABASES; do
    case $d in sqlite | postgres) ;; *) echo "$SCRIPT: unknown database $d (sqlite postgres)" >&2; exit 2 ;; esac
done
LINES=$((CLIENTS * MESSAGES))

# shellcheck source=scripts/pg-cluster.sh
source "$ROOT/scripts/pg-cluster.sh"

PGDIR=""
start_postgres_work history history-results.jsonl

# ---------------------------------------------------------------- build
build_c_tools
log "compiling the C SQLite limit"
cc -O2 -o "$WORK/sqlite-insert" "$ROOT/Benchmarks/baseline/sqlite-insert.c" -lsqlite3
build_switchboard || { log "switchboard does not build"; exit 1; }

# ---------------------------------------------------------------- PostgreSQL
POSTMASTER=""
if [[ " $DATABASES " == *" postgres "* ]]; then
    PGDIR=$(mktemp -d /tmp/pg.XXXXXX) # short: the socket path DIR/.s.PGSQL.PORT must fit in 107 bytes
    BINDIR=$(pg_bindir --install)
    pg_init "$PGDIR"
    for attempt in 1 2 3; do
        PGPORT=$(free_port)
        if pg_start "$PGDIR" "$PGPORT" 2>/dev/null; then PG_STARTED=1; break; fi
        if [[ -e $PGDIR/data/postmaster.pid ]]; then PG_STARTED=1; break; fi
        [[ $attempt -lt 3 ]] || { log "PostgreSQL did not start:"; tail -n 20 "$PGDIR/log" >&2 || true; exit 1; }
    done
    POSTMASTER=$(head -n 1 "$PGDIR/data/postmaster.pid")
    log "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT (postmaster $POSTMASTER)"
fi
psql_() { # DB ARGS... — psql against the throwaway cluster, quiet, unaligned, stopping at the first error
    local db=$1
    shift
    "$BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$db" "$@"
}

# cpu_seconds PID — CPU seconds so far of PID, its live children and (cutime + cstime) the children it has
# reaped: a PostgreSQL backend that served a psql and has exited counts in its postmaster's.
cpu_seconds() {
    PYTHONPATH=Benchmarks python3 - "$@" <<'PY'
import os, sys
from proctree import children, thread_ns, threads
stat = open(f"/proc/{sys.argv[1]}/stat").read()
reaped = sum(int(x) for x in stat[stat.rfind(")") + 2:].split()[13:15]) / os.sysconf("SC_CLK_TCK")
pids = {pid for arg in sys.argv[1:] for pid in children(arg)}
total = sum(thread_ns(pid, tid) for pid in pids for tid in threads(pid))
print(f"{total / 1e9 + reaped:.4f}")
PY
}

# flood LOADGEN METRICS-PORT SERVER-PID DB-PID LINES CLIENTS LOADGEN-ARGS... — runs the load generator and, at
# the same time, polls the server's metrics until every line is committed. Prints one RESULT line: the load
# generator's fields, and stored_s (first line sent → all committed), stored_rows_per_s, and the CPU over that
# time (server: all threads, its event loop and its pool threads; db: the postmaster and its children).
flood() {
    PYTHONPATH=Benchmarks python3 - "$@" <<'PY'
import http.client, os, subprocess, sys, threading, time
from proctree import children, thread_ns, threads
loadgen, mport, server, db, lines, clients = sys.argv[1:7]
args = sys.argv[7:]
lines, clients = int(lines), int(clients)

def metric(name):
    for attempt in range(3):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", int(mport), timeout=5)
            conn.request("GET", "/metrics")
            body = conn.getresponse().read().decode()
            conn.close()
            for line in body.splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return int(float(line.rsplit(" ", 1)[1]))
            return 0
        except OSError:
            time.sleep(0.05)
    raise SystemExit("RESULT mode=flood ok=0 error=no_metrics")

# PostgreSQL: which backend does what, from pg_stat_activity (FLOOD_PSQL: a psql command line for the server's
# database): the cluster link's NOTIFY and LISTEN connections (by their last statement), the server's other
# connections (its pool: history, and the heartbeat's), and the rest (WAL writer, checkpointer, autovacuum…).
link_backends, server_backends = set(), set()
def classify():
    if not os.environ.get("FLOOD_PSQL"):
        return
    out = subprocess.run(os.environ["FLOOD_PSQL"].split() + ["-c",
        "SELECT pid, left(query, 40) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"],
        capture_output=True, text=True).stdout
    for line in out.splitlines():
        pid, _, query = line.partition("|")
        if query.startswith(("SELECT pg_notify", "LISTEN", "SELECT 1", "INSERT INTO cluster_payloads")):
            link_backends.add(pid.strip())
        else:
            server_backends.add(pid.strip())

def cpu():  # {role: ns}: the server's loop, pool and other threads; the database's processes
    roles = {"loop": 0, "pool": 0, "other": 0, "db": 0, "db_link": 0, "db_server": 0}
    for tid in threads(server):
        try:
            comm = open(f"/proc/{server}/task/{tid}/comm").read().strip()
            ns = int(open(f"/proc/{server}/task/{tid}/schedstat").read().split()[0])
        except OSError:
            continue
        roles["loop" if comm.startswith("NIO-ELT") else "pool" if comm.startswith("TP-#") else "other"] += ns
    if db:
        for pid in children(db):
            for tid in threads(pid):
                ns = thread_ns(pid, tid)
                roles["db"] += ns
                roles[f"pid {pid}"] = roles.get(f"pid {pid}", 0) + ns
    return roles

baseline = metric("switchboard_history_events_written_total")
# Every client's connection row, then every line; the rows of their closes come after all the lines (the tool
# closes only once every line is delivered, so every line was queued before any close).
target = baseline + clients + lines
cpu0 = cpu()
tool = subprocess.Popen([loadgen] + args, stdout=subprocess.PIPE, text=True)
result = {}
def read():
    for line in tool.stdout:
        if line.startswith("RESULT "):
            result["at"] = time.monotonic()
            result["line"] = line.strip()
reader = threading.Thread(target=read)
reader.start()
started = time.monotonic()
stored_at, written, last_change, last_written = None, baseline, started, baseline
while True:
    written = metric("switchboard_history_events_written_total")
    now = time.monotonic()
    if written >= target:
        stored_at = now
        break
    if written != last_written:
        last_written, last_change = written, now
    # Nothing committed for 30 s after the tool is done: the rest is not coming.
    if tool.poll() is not None and now - last_change > 30:
        break
    if now - started > 600:
        break
    time.sleep(0.01)
cpu1 = cpu()
classify()  # after the flood: by now the link's backends have sent NOTIFYs
for role, pids in (("db_link", link_backends), ("db_server", server_backends)):
    for pid in pids:
        # A backend that started during the flood counts whole.
        for snapshot in (cpu0, cpu1):
            snapshot[role] += snapshot.get(f"pid {pid}", 0)
tool.wait()
reader.join()
line = result.get("line", "RESULT mode=fanout ok=0 error=no_output")
fields = dict(f.partition("=")[::2] for f in line.split()[1:])
if stored_at is None or "at" not in result or "wall_s" not in fields:
    print(f"{line} stored_ok=0 lines={lines} written={written - baseline} expected_events={target - baseline}")
    sys.exit(0)
# The tool's measured phase runs from its first send to the last delivery, and it prints right after it.
first_send = result["at"] - float(fields["wall_s"])
stored_s = stored_at - first_send
extra = [f"stored_ok=1", f"lines={lines}", f"stored_s={stored_s:.4f}", f"stored_rows_per_s={lines / stored_s:.0f}"]
span = stored_s
for role in ("loop", "pool", "other", "db", "db_link", "db_server"):
    seconds = (cpu1[role] - cpu0[role]) / 1e9
    extra.append(f"{role}_cpu_s={seconds:.4f}")
extra.append(f"server_all_cpu_s={sum(cpu1[r] - cpu0[r] for r in ('loop', 'pool', 'other')) / 1e9:.4f}")
print(line + " " + " ".join(extra))
PY
}

# start_history_server DATABASE-URL PORT METRICS-PORT LOGFILE — a fresh server with metrics; sets SERVER_PID.
start_history_server() {
    local url=$1 port=$2 mport=$3 logfile=$4 pid
    "$SWITCHBOARD" serve --listen "tcp:$port:interface=127.0.0.1" --metrics "tcp:$mport:interface=127.0.0.1" \
        --database "$url" "${SWITCHBOARD_FLAGS[@]+"${SWITCHBOARD_FLAGS[@]}"}" 2>>"$logfile" &
    pid=$!
    STARTED_PIDS+=("$pid")
    wait_listening "$pid" "$port" 30 "server (see $logfile)" || return 1
    wait_listening "$pid" "$mport" 10 "server metrics (see $logfile)" || return 1
    SERVER_PID=$pid
}

# server_run KIND RUN URL — floods a fresh server on URL, records the result; leaves the stored rows in
# $WORK/rows.tsv (connection_id, nickname, kind, body, sent_at, in id order) for the limit. Returns 1 when the
# run failed (no rows for the limit).
server_run() {
    local kind=$1 run=$2 url=$3 port mport output rows status=0
    local logfile=$LOGS/$kind-server-$run.log
    port=$(free_port)
    mport=$(free_port)
    rm -f "$WORK/rows.tsv"
    if ! start_history_server "$url" "$port" "$mport" "$logfile"; then
        record "$kind-server" flood "$run" "RESULT ok=0 error=server_did_not_start"
        [[ -z ${SERVER_PID:-} ]] || stop_server
        return 1
    fi
    local psql=""
    [[ $kind != postgres ]] || psql="$BINDIR/psql -X -q -A -t -h 127.0.0.1 -p $PGPORT -U postgres -d ${url##*/}"
    output=$(FLOOD_PSQL=$psql flood "$LOADGEN" "$mport" "$SERVER_PID" "$POSTMASTER" "$LINES" "$CLIENTS" \
        fanout --port "$port" --clients "$CLIENTS" --messages "$MESSAGES" --settle-ms 0 --timeout 300 \
        --server-pid "$SERVER_PID" 2>>"$LOGS/loadgen.log") || status=$?
    # A graceful stop: the closes are written too, and the file or database is left alone for the export.
    stop_server
    case $kind in
    sqlite)
        rows=$(sqlite3 "$WORK/server.sqlite" "SELECT count(*) FROM messages")
        sqlite3 -separator $'\t' "$WORK/server.sqlite" \
            "SELECT connection_id, nickname, kind, body, sent_at FROM messages ORDER BY id" >"$WORK/rows.tsv"
        ;;
    postgres)
        rows=$(psql_ "${url##*/}" -c "SELECT count(*) FROM messages")
        psql_ "${url##*/}" -c "COPY (SELECT connection_id, nickname, kind, body, sent_at FROM messages ORDER BY id) TO STDOUT" \
            >"$WORK/rows.tsv"
        ;;
    esac
    log "$kind server run $run/$RUNS (exit $status): ${output:-no output} rows_final=$rows"
    record "$kind-server" flood "$run" "${output:-RESULT ok=0 error=no_output}" "rows_final=$rows"
    [[ $output == *" stored_ok=1 "* && $rows -eq $LINES ]]
}

# sqlite_limit RUN — the rows of the server run, inserted from C into a fresh file with the same schema (and
# the same `servers` and `connections` rows, for the foreign keys).
sqlite_limit() {
    local run=$1 output status=0
    rm -f "$WORK"/limit.sqlite*
    "$SWITCHBOARD" migrate --database "sqlite:$WORK/limit.sqlite" 2>>"$LOGS/migrate.log" >/dev/null
    sqlite3 "$WORK/limit.sqlite" "ATTACH '$WORK/server.sqlite' AS s;
        INSERT INTO servers SELECT * FROM s.servers; INSERT INTO connections SELECT * FROM s.connections;"
    output=$("$WORK/sqlite-insert" "$WORK/limit.sqlite" "$WORK/rows.tsv" 2>>"$LOGS/limit.log") || status=$?
    log "sqlite limit run $run/$RUNS (exit $status): ${output:-no output}"
    record sqlite-limit insert "$run" "${output:-RESULT ok=0 error=no_output}"
}

# postgres_limit RUN SERVER-DB — the rows of the server run, COPYed through psql into a fresh database with
# the same schema (and the same `servers` and `connections` rows). psql's \timing of the COPY statement is the time.
postgres_limit() {
    local run=$1 serverdb=$2 db="limit_$1" output ms cpu0 cpu1 rows status=0
    psql_ postgres -c "CREATE DATABASE $db" >/dev/null
    "$SWITCHBOARD" migrate --database "postgres://postgres@127.0.0.1:$PGPORT/$db" 2>>"$LOGS/migrate.log" >/dev/null
    local table
    for table in servers connections; do
        psql_ "$serverdb" -c "COPY $table TO STDOUT" | psql_ "$db" -c "COPY $table FROM STDIN"
    done
    {
        echo '\timing on'
        echo 'COPY messages (connection_id, nickname, kind, body, sent_at) FROM STDIN;'
        cat "$WORK/rows.tsv"
        echo '\.'
    } >"$WORK/copy.sql"
    cpu0=$(cpu_seconds "$POSTMASTER")
    output=$("$BINDIR/psql" -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$db" -f "$WORK/copy.sql" 2>>"$LOGS/limit.log") || status=$?
    cpu1=$(cpu_seconds "$POSTMASTER")
    rows=$(psql_ "$db" -c "SELECT count(*) FROM messages")
    ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$output" | tail -n 1)
    psql_ postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
    if [[ $status -ne 0 || -z $ms ]]; then
        log "postgres limit run $run/$RUNS failed (exit $status): $output"
        record postgres-limit copy "$run" "RESULT ok=0 error=copy_failed"
        return
    fi
    output=$(python3 -c "import sys; rows, ms, cpu = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]); \
print(f'RESULT mode=copy ok=1 rows={rows} wall_s={ms / 1e3:.4f} db_cpu_s={cpu:.4f} rows_per_s={rows / (ms / 1e3):.0f}')" \
        "$rows" "$ms" "$(python3 -c "print($cpu1 - $cpu0)")")
    log "postgres limit run $run/$RUNS: $output"
    record postgres-limit copy "$run" "$output"
}

# ---------------------------------------------------------------- the runs
for ((run = 1; run <= RUNS; run++)); do
    for kind in $DATABASES; do
        case $kind in
        sqlite)
            rm -f "$WORK"/server.sqlite*
            if server_run sqlite "$run" "sqlite:$WORK/server.sqlite"; then
                sqlite_limit "$run"
            else
                record sqlite-limit insert "$run" "RESULT ok=0 error=no_rows_from_the_server_run"
            fi
            ;;
        postgres)
            db="history_$run"
            psql_ postgres -c "CREATE DATABASE $db" >/dev/null
            if server_run postgres "$run" "postgres://postgres@127.0.0.1:$PGPORT/$db"; then
                postgres_limit "$run" "$db"
            else
                record postgres-limit copy "$run" "RESULT ok=0 error=no_rows_from_the_server_run"
            fi
            psql_ postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
            ;;
        esac
    done
done

log "load at the end: $(uptime)"

# ---------------------------------------------------------------- table
python3 - "$RESULTS" "$RUNS" "$TOOL_LIMIT" "$LINES" "$CLIENTS" "$MESSAGES" <<'PY' | tee "$OUT/history-table.md"
import json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
runs_wanted, tool_limit, lines, clients, messages = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])

def good(server):
    out = {}
    for r in rows:
        res = r["result"]
        # A server run counts only if every line was stored (and still there after the stop).
        stored = res and (not server.endswith("-server") or (res.get("stored_ok") == 1 and res.get("rows_final") == lines))
        if r["server"] == server and res and res.get("ok") == 1 and stored:
            out[r["run"]] = res
    return out

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def fmt(v, f="{:,.0f}"):
    return "–" if v is None else f.format(v)

print(f"| database | runs ok | server rows/s stored | limit rows/s | server ÷ limit | runs' ratios | server µs CPU/row (loop + pool) | DB µs CPU/row | limit µs CPU/row | tool cores |")
print("|---|---|---|---|---|---|---|---|---|---|")
verdicts = []
for kind, limit_name in (("sqlite", "C, one transaction, prepared INSERT"), ("postgres", "COPY through psql")):
    server, limit = good(f"{kind}-server"), good(f"{kind}-limit")
    every = [r for r in rows if r["server"] == f"{kind}-server"]
    if not every:
        continue
    s_rate = med(r["stored_rows_per_s"] for r in server.values())
    l_rate = med(r["rows_per_s"] for r in limit.values())
    ratios = [server[k]["stored_rows_per_s"] / limit[k]["rows_per_s"] for k in sorted(server) if k in limit]
    ratio = med(ratios)
    s_cpu = med((r["loop_cpu_s"] + r["pool_cpu_s"]) / r["lines"] * 1e6 for r in server.values())
    s_loop = med(r["loop_cpu_s"] / r["lines"] * 1e6 for r in server.values())
    s_pool = med(r["pool_cpu_s"] / r["lines"] * 1e6 for r in server.values())
    db_cpu = med(r["db_cpu_s"] / r["lines"] * 1e6 for r in server.values()) if kind == "postgres" else None
    db_link = med(r.get("db_link_cpu_s", 0) / r["lines"] * 1e6 for r in server.values()) if kind == "postgres" else None
    db_server = med(r.get("db_server_cpu_s", 0) / r["lines"] * 1e6 for r in server.values()) if kind == "postgres" else None
    db_other = med((r["db_cpu_s"] - r.get("db_server_cpu_s", 0) - r.get("db_link_cpu_s", 0)) / r["lines"] * 1e6
                   for r in server.values()) if kind == "postgres" else None
    l_cpu = med((r.get("cpu_s") or r.get("db_cpu_s")) / r["rows"] * 1e6 for r in limit.values())
    tool = med(r.get("tool_cores") for r in server.values())
    mark = "!" if any(r.get("tool_cores", 0) >= tool_limit for r in server.values()) else ""
    print(f"| {kind}{mark} | {len(server)}/{len(every)} | {fmt(s_rate)} | {fmt(l_rate)} | {fmt(ratio, '{:.2f}×')} | "
          f"{', '.join(f'{x:.2f}' for x in ratios) or '–'} | {fmt(s_cpu, '{:.2f}')} ({fmt(s_loop, '{:.2f}')} + {fmt(s_pool, '{:.2f}')}) | "
          f"{fmt(db_cpu, '{:.2f}')}{'' if db_link is None else f' ({db_server:.2f} pool + {db_link:.2f} link + {db_other:.2f} other)'} | {fmt(l_cpu, '{:.2f}')} | {fmt(tool, '{:.2f}')} |")
    if ratio is not None:
        verdicts.append((f"{kind}: lines stored ≥ 0.5× the limit ({limit_name})", f"{ratio:.2f}×", ratio >= 0.5))

print()
print(f"Medians of {runs_wanted} runs; a flood of {lines:,} lines ({clients} clients × {messages:,}, `loadgen fanout`, every")
print("client sending at full speed) into a fresh server; stored = first line sent → every line committed (the")
print("server's `switchboard_history_events_written_total`). Limit: the same rows, read back from that server's")
print("table, into a fresh database of the same schema — SQLite: one transaction, one prepared INSERT, from C")
print("(`Benchmarks/baseline/sqlite-insert.c`); PostgreSQL: `COPY messages … FROM STDIN` through psql (its")
print("`\\timing`). Server CPU per row: its event loop + its pool threads over the stored time; DB: the postmaster")
print("and its children over the same time — the backends of the server's pool (history; the heartbeat's too), of its")
print("cluster link (which NOTIFYs every tick's lines even with no other server: not history's work) and the rest (WAL")
print("writer, checkpointer, autovacuum); limit: the C program's CPU (SQLite) or the postmaster's and its")
print(f"children's (PostgreSQL). ! = the load generator reached {tool_limit} of a core in a run.")
if verdicts:
    print()
    print("| target | result | met? |")
    print("|---|---|---|")
    for name, result, met in verdicts:
        print(f"| {name} | {result} | {'yes' if met else 'no'} |")
PY
