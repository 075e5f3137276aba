#!/usr/bin/env bash
# Runs COMMAND with SWITCHBOARD_TEST_POSTGRES_URL pointing at a PostgreSQL server.
#
#   scripts/with-postgres.sh swift test
#   SWITCHBOARD_TEST_POSTGRES_URL=postgres://me@db:5432/postgres scripts/with-postgres.sh swift test
#
# When the variable is already set, the command simply runs against that server. Otherwise a throwaway
# cluster is started with scripts/pg-cluster.sh (the recipe the tests' own private clusters use: trust auth,
# 127.0.0.1 on a free port, fsync off) in a fresh /tmp directory, and on every exit path it is stopped and
# its directory removed. As root with apt-get and no server binaries, the `postgresql` package is installed
# (without its default cluster). Exits with the command's exit status.
set -euo pipefail

# shellcheck source=scripts/pg-cluster.sh
source "$(dirname "$0")/pg-cluster.sh"

log() { echo "with-postgres: $*" >&2; }

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 64
fi

if [[ -n "${SWITCHBOARD_TEST_POSTGRES_URL:-}" ]]; then
    exec "$@"
fi

bindir=$(pg_bindir --install)

# shellcheck source=scripts/free-port.sh
source "$(dirname "${BASH_SOURCE[0]}")/free-port.sh"

# A short path: the Unix socket path (dir/.s.PGSQL.PORT) must fit in 107 bytes.
dir=$(mktemp -d /tmp/pg.XXXXXX)
started=0
child=

cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    if [[ "$started" -eq 1 ]]; then
        if pg_stop "$dir"; then
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

pg_init "$dir" || exit 1

for attempt in 1 2 3; do
    port=$(free_port) || { log "no free TCP port found"; exit 1; }
    if pg_start "$dir" "$port" 2>/dev/null; then
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
