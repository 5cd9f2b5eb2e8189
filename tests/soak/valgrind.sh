#!/usr/bin/env bash
# Leak check of the workers: a throwaway stack (tests/integration/run.sh) whose workers run
# under valgrind memcheck (EVENTS_WORKER_WRAPPER, see fcgi/pool.c) gets REQUESTS requests of
# the mixed workload (tests/soak/mixed.lua: every route, valid and invalid), then stops; each
# worker's log must show no memory errors and no definitely or indirectly lost bytes.
# "Still reachable" blocks (libpq, json-c and libfcgi keep some until exit) are allowed.
#
#   tests/soak/valgrind.sh [REQUESTS]        (default 3000; make valgrind)
#
# Logs: $BUILD/valgrind/worker.PID.log (BUILD defaults to build). Exit status 1 when a worker
# reported an error or a leak, did not exit cleanly (no leak summary), or a request got a 5xx.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIB_PROG=valgrind
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

REQUESTS=${1:-3000}
[[ $REQUESTS =~ ^[1-9][0-9]*$ ]] || die "REQUESTS must be a whole number, not '$REQUESTS'"

# Inside the stack: drive the workload.
if [ -n "${EVENTS_BASE_URL:-}" ]; then
	out=$(wrk -t1 -c4 -d600s --timeout 30s -s "$ROOT/tests/soak/mixed.lua" "$EVENTS_BASE_URL" \
		-- "$REQUESTS" 0) || die "wrk failed: $out"
	line=$(grep '^MIXED ' <<<"$out") || die "no MIXED line from wrk: $out"
	say "workload: ${line#MIXED }"
	if grep -q '"5[0-9][0-9]":' <<<"$line"; then die "server errors in the workload"; fi
	exit 0
fi

command -v valgrind >/dev/null || die "valgrind not installed (run: tools/deps.sh test)"
command -v wrk >/dev/null || die "wrk not installed (run: tools/deps.sh test)"
LOGS=$(realpath -m -- "${BUILD:-$ROOT/build}/valgrind")
rm -rf -- "$LOGS"
mkdir -p -- "$LOGS"

export EVENTS_WORKER_WRAPPER="valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=30 --log-file=$LOGS/worker.%p.log"
export WORKERS=2 RATE_LIMIT_EXEMPT=127.0.0.1 PGOPTIONS='-c synchronous_commit=off'
rc=0
"$ROOT/tests/integration/run.sh" --cmd "tests/soak/valgrind.sh $REQUESTS" || rc=$?

# The stack is down: every worker has exited and valgrind has written its summary.
n=0
for f in "$LOGS"/worker.*.log; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -n 1)
	definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -n 1)
	indirect=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -n 1)
	reachable=$(sed -n 's/.*still reachable: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -n 1)
	if [ -z "$errors" ]; then
		say "$f: no error summary (the worker did not exit normally)"
		tail -n 30 "$f" >&2
		rc=1
		continue
	fi
	say "$(basename "$f"): errors ${errors}, definitely lost ${definite:-0} B, indirectly lost ${indirect:-0} B, still reachable ${reachable:-0} B"
	if [ "$errors" != 0 ]; then
		cat "$f" >&2
		rc=1
	fi
done
((n > 0)) || {
	say "no worker logs in $LOGS"
	rc=1
}
((rc == 0)) && say "no memory errors and no leaks in $n worker(s); logs in $LOGS"
exit "$rc"
