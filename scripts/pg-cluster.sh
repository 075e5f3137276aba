#!/usr/bin/env bash
# The one recipe for a throwaway PostgreSQL cluster (DESIGN.md, "Test PostgreSQL without Docker"), used by
# scripts/with-postgres.sh (sourced) and by the tests' PrivatePostgresCluster (run as a command):
#
#   scripts/pg-cluster.sh bindir [--install]  print the server binaries' directory; --install installs the
#                                             postgresql package (as root, with apt-get) when there is none
#   scripts/pg-cluster.sh init DIR            initdb into DIR/data (DIR: an existing, short path)
#   scripts/pg-cluster.sh start DIR PORT      start it on 127.0.0.1:PORT, socket in DIR, log in DIR/log
#   scripts/pg-cluster.sh stop DIR            stop it (fast: open connections are cut), immediate if that fails
#
# Trust authentication, fsync off. As root the server runs as the `postgres` user (created when missing),
# and DIR is handed to it. Binaries: /usr/lib/postgresql/15/bin first, then `pg_config --bindir`, then the
# newest /usr/lib/postgresql/*/bin, then initdb on PATH.

pg_log() { echo "pg-cluster: $*" >&2; }

pg_is_root() { [[ "$(id -u)" -eq 0 ]]; }

pg_find_bindir() {
    local candidates=(/usr/lib/postgresql/15/bin) dir
    if command -v pg_config >/dev/null 2>&1; then
        candidates+=("$(pg_config --bindir 2>/dev/null || true)")
    fi
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

# Prints the bin directory; with --install, installs the server first when there is none (root + apt-get).
pg_bindir() {
    local dir
    if dir=$(pg_find_bindir); then echo "$dir"; return 0; fi
    if [[ "${1:-}" != --install ]]; then
        pg_log "no PostgreSQL server binaries (initdb, pg_ctl) found; install postgresql"
        return 1
    fi
    if ! pg_is_root || ! command -v apt-get >/dev/null 2>&1; then
        pg_log "no PostgreSQL server binaries (initdb, pg_ctl) found, and cannot install them (not root with apt-get)"
        return 1
    fi
    pg_log "PostgreSQL server not found; installing the postgresql package (no default cluster)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql-common >/dev/null
    # Debian creates and starts a "main" cluster on install unless told not to; we want none running.
    local conf=/etc/postgresql-common/createcluster.conf
    if grep -qE '^[#[:space:]]*create_main_cluster' "$conf" 2>/dev/null; then
        sed -i -E 's/^[#[:space:]]*create_main_cluster.*/create_main_cluster = false/' "$conf"
    else
        echo "create_main_cluster = false" >>"$conf"
    fi
    apt-get install -y -qq postgresql >/dev/null
    pg_find_bindir || { pg_log "installed postgresql but found no server binaries"; return 1; }
}

# Runs a server tool in DIR, as `postgres` when root (the server refuses to run as root).
pg_as_server_user() {
    local dir=$1
    shift
    if pg_is_root; then
        (cd "$dir" && runuser -u postgres -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

pg_init() {
    local dir=$1 bindir
    bindir=$(pg_bindir) || return 1
    if pg_is_root; then
        if ! id postgres >/dev/null 2>&1; then
            pg_log "creating the postgres system user"
            useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres
        fi
        chown postgres:postgres "$dir"
    fi
    chmod 700 "$dir"
    if ! pg_as_server_user "$dir" "$bindir/initdb" -D "$dir/data" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=trust --no-sync >"$dir/initdb.log" 2>&1; then
        pg_log "initdb failed:"
        cat "$dir/initdb.log" >&2
        return 1
    fi
}

pg_start() {
    local dir=$1 port=$2 bindir
    bindir=$(pg_bindir) || return 1
    if ! pg_as_server_user "$dir" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null 2>&1; then
        pg_log "PostgreSQL did not start on port $port:"
        tail -n 20 "$dir/log" >&2 2>/dev/null || true
        return 1
    fi
}

pg_stop() {
    local dir=$1 bindir
    bindir=$(pg_bindir) || return 1
    pg_as_server_user "$dir" "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
        || pg_as_server_user "$dir" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    command=${1:-}
    shift || true
    case "$command" in
        bindir) pg_bindir "$@" ;;
        init) [[ $# -eq 1 ]] || { echo "usage: $0 init DIR" >&2; exit 64; }; pg_init "$1" ;;
        start) [[ $# -eq 2 ]] || { echo "usage: $0 start DIR PORT" >&2; exit 64; }; pg_start "$1" "$2" ;;
        stop) [[ $# -eq 1 ]] || { echo "usage: $0 stop DIR" >&2; exit 64; }; pg_stop "$1" ;;
        *) echo "usage: $0 bindir [--install] | init DIR | start DIR PORT | stop DIR" >&2; exit 64 ;;
    esac
fi
