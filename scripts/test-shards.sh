#!/usr/bin/env bash
# Runs every XCTest class of the (already built) test bundle, JOBS classes at a time, each in its own
# process: the suite's wall time is mostly tests that wait (timers, a 30 s chaos run, PostgreSQL restarts),
# so two at once use the machine's cores instead of idling one. scripts/test.sh calls this, inside
# scripts/with-postgres.sh; run alone, it needs SWITCHBOARD_TEST_POSTGRES_URL the same way.
#
#   scripts/test-shards.sh LOG                            # every class; JOBS from SWITCHBOARD_TEST_JOBS (2)
#   scripts/test-shards.sh LOG SwitchboardEndToEndTests   # only the classes of these test modules
#
# Every class's output is printed and appended to LOG whole, one class after another (never interleaved),
# in the order the classes finish, followed by one line saying how it ended. Exits 0 when every class
# passed.
#
# Why whole classes, each its own process: tests of a class may share set-up, and a crash (a failed
# precondition) takes down one class's process, not the run. Classes never share a database (each test
# creates its own), a port (port 0 or a free port each), or a file (temporary directories).
set -euo pipefail
cd "$(dirname "$0")/.."

log=${1:?usage: scripts/test-shards.sh LOG [MODULE...]}
shift
modules=("$@")
jobs=${SWITCHBOARD_TEST_JOBS:-2}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "test-shards.sh: SWITCHBOARD_TEST_JOBS must be a positive integer, not '$jobs'" >&2; exit 2; }

bundle="$(swift build --show-bin-path)/switchboardPackageTests.xctest"
[[ -x $bundle ]] || { echo "test-shards.sh: no test bundle at $bundle (run swift build --build-tests first)" >&2; exit 2; }

# The classes, long ones first, so the jobs end close together. Those named here took seconds each in a
# serial run; every other class follows in the bundle's order. The chaos run (30 s of hundreds of busy
# clients) goes first, beside classes that mostly wait for PostgreSQL clusters and timers; the other
# CPU-heavy class (10 000 clients leaving at once) comes after it. A class missing from this list only
# costs balance, never coverage: what runs is what the bundle lists.
slow_first=(
    ChaosEndToEndTests SecretsEndToEndTests DatabaseTroubleEndToEndTests ServerOwnershipEndToEndTests
    CrashRegressionEndToEndTests ClusterEndToEndTests HardeningEndToEndTests ChatEndToEndTests
    PromisesEndToEndTests HistoryCommandEndToEndTests ClusterLinkTests StartupEndToEndTests HistoryWriterTests
    PostgresConnectionTests DatabaseFileGoneEndToEndTests TelnetLineParserFuzzTests
)
# Classes whose assertions bound latency under load they make themselves (a 30 s cross-server flood with a 1 s
# welcome bound): they run after the others, one at a time, so the load they measure is their own.
alone=(ClusterFloodEndToEndTests)
listed=$(swift test --skip-build --list-tests 2>/dev/null | sed -n 's|^\([A-Za-z0-9_]*\.[A-Za-z0-9_]*\)/.*|\1|p' | awk '!seen[$0]++')
if [[ ${#modules[@]} -gt 0 ]]; then
    listed=$(grep -E "^($(IFS='|'; echo "${modules[*]}"))\." <<<"$listed" || true)
fi
[[ -n $listed ]] || { echo "test-shards.sh: no test classes to run" >&2; exit 2; }
solo=()
for name in "${alone[@]}"; do
    match=$(grep -E "\\.$name\$" <<<"$listed" || true)
    [[ -n $match ]] && solo+=("$match")
done
classes=()
for name in "${slow_first[@]}"; do
    match=$(grep -E "\\.$name\$" <<<"$listed" || true)
    [[ -n $match ]] && classes+=("$match")
done
while read -r class; do
    [[ " ${classes[*]} ${solo[*]} " == *" $class "* ]] || classes+=("$class")
done <<<"$listed"

work=$(mktemp -d /tmp/switchboard-shards.XXXXXX)
trap 'rm -rf "$work"' EXIT
: >"$log"

# run_class CLASS — one class in its own process; its output and exit status kept in $work.
run_class() {
    local class=$1 started status
    started=$(date +%s)
    set +e
    "$bundle" "$class" >"$work/$class.out" 2>&1
    status=$?
    set -e
    echo "$status" >"$work/$class.status"
    # One writer at a time appends a finished class to the log (flock keeps the outputs whole).
    {
        flock 9
        tee -a "$log" <"$work/$class.out"
        printf 'test-shards: %-60s %s in %ss\n' "$class" "$([[ $status -eq 0 ]] && echo passed || echo "FAILED (exit $status)")" \
            "$(($(date +%s) - started))"
    } 9>>"$work/lock"
}
export -f run_class
export bundle work log

# Each class's ending is read from its status file below, whatever xargs says.
printf '%s\n' "${classes[@]}" | xargs -P "$jobs" -I{} bash -c 'run_class "$1"' _ {} || true
for class in "${solo[@]}"; do run_class "$class"; done

# A class that failed beside others is run once more, alone, on a quieter machine: several end-to-end tests
# bound latency or memory under the load they make, and on 2 cores the shards beside them add to it. It is
# reported by name either way (a class that passes only alone is a flaky test to fix, not a pass to forget);
# a class that fails alone too fails the run.
failed=0
flaky=()
for class in "${classes[@]}" "${solo[@]}"; do
    status=$(cat "$work/$class.status" 2>/dev/null || echo missing)
    if [[ $status != 0 ]]; then
        echo "test-shards: $class failed beside others (exit $status); running it again alone" | tee -a "$log"
        run_class "$class"
        status=$(cat "$work/$class.status" 2>/dev/null || echo missing)
        if [[ $status == 0 ]]; then
            flaky+=("$class")
        else
            echo "test-shards: $class did not pass alone either (exit $status)"
            failed=1
        fi
    fi
done
for class in "${flaky[@]}"; do
    echo "test-shards: FLAKY: $class failed beside other classes and passed alone" | tee -a "$log"
done
exit "$failed"
