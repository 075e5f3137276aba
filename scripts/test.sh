#!/usr/bin/env bash
# Runs every test: unit tests, storage tests on SQLite and PostgreSQL, and end-to-end tests of the real
# binary over loopback sockets. Starts a throwaway PostgreSQL 15 cluster (scripts/with-postgres.sh) unless
# SWITCHBOARD_TEST_POSTGRES_URL points at one already. Extra arguments go to `swift test`
# (e.g. scripts/test.sh --filter ChatSessionTests).
set -euo pipefail
cd "$(dirname "$0")/.."

# The C libraries the two system library targets link against.
if ! pkg-config --exists libpq sqlite3 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing libpq-dev and libsqlite3-dev" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpq-dev libsqlite3-dev pkg-config >/dev/null
    else
        echo "test.sh: libpq and sqlite3 development files are missing: install libpq-dev and libsqlite3-dev" >&2
        exit 1
    fi
fi

swift build --build-tests
# XCTest only: the suite has no swift-testing tests, and its empty summary line would be misleading.
exec scripts/with-postgres.sh swift test --skip-build --disable-swift-testing "$@"
