#!/usr/bin/env bash
# Benchmarks/visit-trigger.sh — what PostgreSQL's per-server visit count (migration 0006: a statement trigger
# on `connections` that adds each INSERT's accepted rows to `server_visits`) costs the history writer.
# Starts a throwaway PostgreSQL 15 (scripts/pg-cluster.sh), applies Migrations/postgres/*.sql, and times
# STATEMENTS multi-row INSERTs of 64 finished connections each (the shape of the history writer's batch
# under churn), each its own transaction, with the trigger and without it (dropped and created again),
# interleaved RUNS times. Prints the median wall time of each and their ratio, and checks that the count
# kept equals count(*).
#
#   Benchmarks/visit-trigger.sh                  # 5 runs of 2000 statements (128 000 rows) each way
#   RUNS=3 STATEMENTS=500 Benchmarks/visit-trigger.sh
#
# The EXIT trap stops the PostgreSQL it started and removes its directory.
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-} in -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;; esac
RUNS=${RUNS:-5}
STATEMENTS=${STATEMENTS:-2000}

dir=$(mktemp -d /tmp/vt.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() { scripts/pg-cluster.sh stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
scripts/pg-cluster.sh init "$dir" >/dev/null
scripts/pg-cluster.sh start "$dir" "$port" >/dev/null
psql=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres)
for file in Migrations/postgres/*.sql; do "${psql[@]}" -1 -f "$file" >/dev/null; done  # each in a transaction, as the server applies them
"${psql[@]}" -c "INSERT INTO servers (host, pid, endpoints, version, started_at, heartbeat_at) VALUES ('bench', 1, '', '', now(), now())"

# One file of STATEMENTS INSERTs; every run inserts fresh ids (an offset per run).
make_sql() {
    python3 - "$1" "$STATEMENTS" <<'PY'
import sys
offset, statements = int(sys.argv[1]), int(sys.argv[2])
for s in range(statements):
    rows = []
    for r in range(64):
        i = offset + s * 64 + r
        reason = "'refused: server full'" if i % 10 == 0 else "'connection closed'"
        rows.append(f"({i}, '127.0.0.1:{i % 60000}', 'guest{i}', now(), 1, now(), {reason}, 1, 2, 30, 40)")
    print("INSERT INTO connections (id, peer, nickname, connected_at, server_id, disconnected_at, close_reason, "
          "lines_in, lines_out, bytes_in, bytes_out) OVERRIDING SYSTEM VALUE VALUES " + ", ".join(rows) + ";")
PY
}

time_file() {  # seconds to run $1
    local start end
    start=$(date +%s.%N)
    "${psql[@]}" -f "$1" >/dev/null
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.3f}')"
}

with=() without=()
offset=1
for run in $(seq 1 "$RUNS"); do
    for mode in with without; do
        make_sql "$offset" >"$dir/batch.sql"
        offset=$((offset + STATEMENTS * 64))
        if [[ $mode == without ]]; then
            "${psql[@]}" -c "DROP TRIGGER connections_count_visits ON connections"
            seconds=$(time_file "$dir/batch.sql")
            "${psql[@]}" -c "CREATE TRIGGER connections_count_visits AFTER INSERT ON connections REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION count_server_visits()"
            without+=("$seconds")
        else
            seconds=$(time_file "$dir/batch.sql")
            with+=("$seconds")
        fi
        printf '== run %s %-7s %s s\n' "$run" "$mode" "$seconds" >&2
    done
done

# The rows inserted without the trigger were not counted: the check is against the rows inserted with it.
counted=$("${psql[@]}" -At -c "SELECT visits FROM server_visits WHERE server_id = 1")
expected=$((RUNS * STATEMENTS * 64 * 9 / 10))
python3 - "${with[*]}" "${without[*]}" "$counted" "$expected" "$((STATEMENTS * 64))" <<'PY'
import statistics, sys
with_, without = [float(x) for x in sys.argv[1].split()], [float(x) for x in sys.argv[2].split()]
counted, expected, rows = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
mw, mo = statistics.median(with_), statistics.median(without)
print(f"| INSERTs of 64 rows, {rows} rows a run | with the trigger | without | ratio |")
print("|---|---|---|---|")
print(f"| median wall time, s | {mw:.3f} | {mo:.3f} | {mw / mo:.3f} |")
print(f"server_visits counted {counted} accepted rows inserted with the trigger (expected {expected}): "
      + ("ok" if counted == expected else "MISMATCH"))
PY
