#!/usr/bin/env bash
# Runs COMMAND with SWITCHBOARD_TEST_POSTGRES_URL pointing at a PostgreSQL server.
#
#   scripts/with-postgres.sh swift test
#   SWITCHBOARD_TEST_POSTGRES_URL=postgres://me@db:5432/postgres scripts/with-postgres.sh swift test
#
# When the variable is already set, the command simply runs against that server. Otherwise a throwaway
# cluster is started (trust auth, 127.0.0.1 on a free port, fsync off) in a fresh /tmp directory, and on
# every exit path it is stopped and its directory removed. As root the server runs as the `postgres` user.
# PostgreSQL's server binaries are looked up in /usr/lib/postgresql/*/bin and `pg_config --bindir`; as root
# with apt-get and none found, the `postgresql` package is installed (without its default cluster).
# Exits with the command's exit status.
set -euo pipefail

log() { echo "with-postgres: $*" >&2; }

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 64
fi

if [[ -n "${SWITCHBOARD_TEST_POSTGRES_URL:-}" ]]; then
    exec "$@"
fi

find_bindir() {
    local candidates=(/usr/lib/postgresql/15/bin)
    if command -v pg_config >/dev/null 2>&1; then
        candidates+=("$(pg_config --bindir 2>/dev/null || true)")
    fi
    local dir
    while IFS= read -r dir; do candidates+=("$dir"); done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r)
    if command -v initdb >/dev/null 2>&1; then candidates+=("$(dirname "$(command -v initdb)")"); fi
    for dir in "${candidates[@]}"; do
        if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

if ! bindir=$(find_bindir); then
    if is_root && command -v apt-get >/dev/null 2>&1; then
        log "PostgreSQL server not found; installing the postgresql package (no default cluster)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql-common >/dev/null
        # Debian creates and starts a "main" cluster on install unless told not to; we want none running.
        conf=/etc/postgresql-common/createcluster.conf
        if grep -qE '^[#[:space:]]*create_main_cluster' "$conf" 2>/dev/null; then
            sed -i -E 's/^[#[:space:]]*create_main_cluster.*/create_main_cluster = false/' "$conf"
        else
            echo "create_main_cluster = false" >>"$conf"
        fi
        apt-get install -y -qq postgresql >/dev/null
        bindir=$(find_bindir) || { log "installed postgresql but found no server binaries"; exit 1; }
    else
        log "no PostgreSQL server binaries (initdb, pg_ctl) found; install postgresql or set SWITCHBOARD_TEST_POSTGRES_URL"
        exit 1
    fi
fi

# As root the server must run as `postgres`; otherwise as ourselves.
as_server_user() {
    if is_root; then
        (cd "$dir" && runuser -u postgres -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

if is_root && ! id postgres >/dev/null 2>&1; then
    log "creating the postgres system user"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres
fi

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' && return 0
    fi
    local port
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# A short path: the Unix socket path (dir/.s.PGSQL.PORT) must fit in 107 bytes.
dir=$(mktemp -d /tmp/pg.XXXXXX)
started=0
child=

cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    if [[ "$started" -eq 1 ]]; then
        if as_server_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
            || as_server_user "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1; then
            log "stopped PostgreSQL"
        else
            log "could not stop PostgreSQL in $dir (see $dir/log)"
        fi
    fi
    if [[ "$started" -eq 0 || ! -e "$dir/data/postmaster.pid" ]]; then
        rm -rf "$dir"
    fi
    exit "$status"
}

# Forwards a signal to the command (TERM: background commands of a script ignore INT), waits for it, exits.
on_signal() {
    local code=$1
    if [[ -n "$child" ]]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    exit "$code"
}

trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

if is_root; then chown postgres:postgres "$dir"; fi
chmod 700 "$dir"

if ! as_server_user "$bindir/initdb" -D "$dir/data" -U postgres -E UTF8 --no-locale \
    --auth-local=trust --auth-host=trust --no-sync >"$dir/initdb.log" 2>&1; then
    log "initdb failed:"
    cat "$dir/initdb.log" >&2
    exit 1
fi

for attempt in 1 2 3; do
    port=$(free_port) || { log "no free TCP port found"; exit 1; }
    if as_server_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null 2>&1; then
        started=1
        break
    fi
    # The port may have been taken between choosing and binding; try another.
    if [[ -e "$dir/data/postmaster.pid" ]]; then started=1; break; fi
    if [[ "$attempt" -eq 3 ]]; then
        log "PostgreSQL did not start:"
        tail -n 20 "$dir/log" >&2 || true
        exit 1
    fi
done

export SWITCHBOARD_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir); SWITCHBOARD_TEST_POSTGRES_URL=$SWITCHBOARD_TEST_POSTGRES_URL"

# In the background so that INT/TERM reach our traps at once; stdin passed through explicitly.
set +e
"$@" <&0 &
child=$!
wait "$child"
status=$?
child=
set -e
exit "$status"
