#!/usr/bin/env bash
# Runs every test: unit tests, storage tests on SQLite and PostgreSQL, and end-to-end tests of the real
# binary over loopback sockets. Starts a throwaway PostgreSQL 15 cluster (scripts/with-postgres.sh) unless
# SWITCHBOARD_TEST_POSTGRES_URL points at one already. Without arguments every test class runs, two at a
# time in separate processes (scripts/test-shards.sh), and then the examples' package (Examples/, its own
# build and tests); arguments go to `swift test` of the server's package instead (e.g.
# scripts/test.sh --filter ChatSessionTests).
#
# Strict: everything the suite needs is provided here (PostgreSQL and its server binaries, openssl, a debug build),
# and SWITCHBOARD_TEST_STRICT=1 makes a test that finds one of them missing fail instead of skipping. The
# last line counts passed, failed and skipped tests; on a machine like CI's, skipped is 0.
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

# The web tests' outside tools (issue 25): Prometheus' promtool checks the /metrics output; headless
# Chromium and its WebDriver run the browser tests. Debian's packages; skipped when present.
web_packages=()
command -v promtool >/dev/null || web_packages+=(prometheus)
command -v chromium >/dev/null || web_packages+=(chromium)
command -v chromedriver >/dev/null || web_packages+=(chromium-driver)
if [[ ${#web_packages[@]} -gt 0 ]]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing ${web_packages[*]}" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${web_packages[@]}" >/dev/null
    else
        echo "test.sh: ${web_packages[*]} missing: the tests that need them fail in strict mode" >&2
    fi
fi

# openssl: the TLS tests make their certificates with `openssl req` and connect with `openssl s_client`.
if ! command -v openssl >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing openssl" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
    else
        echo "test.sh: openssl is missing: install it (the TLS tests need openssl req and s_client)" >&2
        exit 1
    fi
fi

# PostgreSQL's server binaries: the tests that stop and restart a cluster of their own need them even when
# SWITCHBOARD_TEST_POSTGRES_URL names an outside server. When they cannot be installed, those tests say so
# and fail (strict mode).
scripts/pg-cluster.sh bindir --install >/dev/null || true

export SWITCHBOARD_TEST_STRICT=1

swift build --build-tests
# The examples build against this working tree (a package of their own, with their own .build/ in Examples/).
if [[ $# -eq 0 ]]; then
    swift build --build-tests --package-path Examples
fi

log=$(mktemp /tmp/switchboard-test.XXXXXX)
trap 'rm -f "$log"' EXIT
# XCTest only: the suite has no swift-testing tests, and its empty summary line would be misleading.
# The whole suite runs two test classes at a time (scripts/test-shards.sh; SWITCHBOARD_TEST_JOBS=1 for one
# at a time); with arguments, `swift test` runs what they select.
set +e
if [[ $# -eq 0 ]]; then
    scripts/with-postgres.sh scripts/test-shards.sh "$log"
    status=$?
    # The examples need no database: real sockets and a web server of their own on loopback.
    echo "test.sh: the examples (Examples/)"
    swift test --package-path Examples --skip-build --disable-swift-testing 2>&1 | tee -a "$log"
    examples_status=${PIPESTATUS[0]}
    if [[ "$examples_status" -ne 0 && "$status" -eq 0 ]]; then status=$examples_status; fi
else
    scripts/with-postgres.sh swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
fi
set -e

count() { grep -cE "^Test Case '[^']+' $1 \(" "$log" || true; }
passed=$(count passed)
failed=$(count failed)
skipped=$(count skipped)
if [[ "$skipped" -gt 0 ]]; then
    echo "test.sh: skipped tests (each says why above):"
    grep -E "^Test Case '[^']+' skipped \(" "$log" | sed -E "s/^Test Case '([^']+)'.*/  \1/"
fi
if [[ "$status" -ne 0 && "$failed" -eq 0 ]]; then
    echo "test.sh: swift test exited with status $status (a crash or a build problem?)"
    failed=1
fi
flaky=$(grep -c '^test-shards: FLAKY' "$log" || true)
if [[ "$flaky" -gt 0 ]]; then
    echo "test.sh: $flaky class(es) failed beside others and passed when run again alone (FLAKY above; their first failures are counted below)"
fi
echo "test.sh: $passed passed, $failed failed, $skipped skipped"
exit "$status"
