#!/usr/bin/env bash
# Run the Criterion integration binary against a throwaway stack: a fresh PostgreSQL cluster
# with the real migrations, the real worker pool and nginx, all under a temp dir.
#
#   tests/integration/run.sh BUILD/test_integration [criterion args...]
#   tests/integration/run.sh --cmd "SHELL COMMAND"      (e.g. the web tests: node --test ...)
#
# The binary (or command, run by bash from the repository root) gets: EVENTS_BASE_URL,
# DATABASE_URL, EVENTS_SAMPLE_CSV, EVENTS_VAR_DIR, EVENTS_POOL_PID. Exit status is its own. The temp dir is removed afterwards, except
# after a failure outside CI, when it is kept for inspection.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIB_PROG=integration
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

[ $# -ge 1 ] || die "usage: tests/integration/run.sh TEST_BINARY [args...] | --cmd COMMAND"
CMD=''
if [ "$1" = --cmd ]; then
	[ $# -eq 2 ] && [ -n "$2" ] || die "usage: tests/integration/run.sh --cmd COMMAND"
	CMD=$2
	shift 2
else
	BINARY=$(realpath -- "$1") || die "no such test binary: $1"
	shift
	[ -x "$BINARY" ] || die "not executable: $BINARY"
fi

# Always a throwaway cluster; no settings from the developer's conf/events.env.
unset DATABASE_URL PGHOST PGPORT PGDATABASE PGUSER PGSERVICE
export EVENTS_ENV_FILE=/dev/null
export WORKERS=${WORKERS:-4}
# The pool removes its metrics segment from /dev/shm when it stops (a new one per run otherwise).
export EVENTS_METRICS_EPHEMERAL=1
# Requests from 127.0.0.1 are not rate limited here, so the suites can go as fast as they like;
# the rate-limit test sends from 127.0.0.2, which gets the configured limits.
export RATE_LIMIT_EXEMPT=127.0.0.1 RATE_LIMIT_RPS=${RATE_LIMIT_RPS:-20} RATE_LIMIT_BURST=${RATE_LIMIT_BURST:-20}
STACK=$ROOT/tools/stack.sh

TMP=$(mktemp -d /tmp/events-it.XXXXXX)
chmod 755 "$TMP" # PostgreSQL runs as postgres and nginx as www-data when we are root
export VAR_DIR=$TMP
rc=1

logs() {
	local f
	for f in worker nginx-error nginx-access postgres; do tail_log "$VAR_DIR/log/$f.log" 30; done
}

# failures: the failing tests' lines again, after the logs: CI shows only the end of the output.
failures() {
	[ -s "$TMP/tests.log" ] || return 0
	printf -- '----- failing tests (from %s) -----\n' "$TMP/tests.log" >&2
	grep -aE '^\[(----|FAIL)\]' -- "$TMP/tests.log" | tail -n 40 >&2 || true
	grep -aE 'Synthesis' -- "$TMP/tests.log" >&2 || true
}

cleanup() {
	local pid f pgdir
	trap - EXIT INT TERM
	"$STACK" down >/dev/null 2>&1 || warn "stack.sh down failed"
	for f in "$VAR_DIR/run/nginx.pid" "$VAR_DIR/run/pool.pid" "$VAR_DIR/pg/data/postmaster.pid"; do
		pid=$(read_pid "$f")
		if pid_alive "$pid" && ! gone "$pid"; then
			warn "still running after down: pid $pid ($f); killing"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	pgdir=$VAR_DIR/pg
	if [ "$rc" -ne 0 ]; then
		logs
		failures
		if [ "${CI:-}" != true ]; then
			say "tests failed (exit $rc); kept $TMP for inspection"
			exit "$rc"
		fi
	fi
	[ ! -L "$pgdir" ] || rm -rf -- "$(readlink -- "$pgdir")"
	rm -rf -- "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'rc=130; exit 130' INT TERM

# Start the stack on a free port; retry with another port if it was taken meanwhile.
port=''
for attempt in 1 2 3 4 5; do
	port=$(free_port) || die "no free TCP port found"
	up_rc=0
	PORT=$port "$STACK" up >"$TMP/up.log" 2>&1 || up_rc=$?
	[ "$up_rc" -eq 3 ] || break
	say "port $port was taken; retrying (attempt $attempt)"
done
if [ "$up_rc" -ne 0 ]; then
	cat "$TMP/up.log" >&2
	die "the stack did not start (exit $up_rc)"
fi

eval "$("$STACK" env)"
export DATABASE_URL EVENTS_BASE_URL EVENTS_POOL_PID
export EVENTS_SAMPLE_CSV=$ROOT/data/events_sample.csv
export EVENTS_VAR_DIR=$VAR_DIR
say "stack up at $EVENTS_BASE_URL (VAR_DIR $VAR_DIR, pool pid $EVENTS_POOL_PID)"

# From the repository root: tests call tools/stack.sh (e.g. pg-stop/pg-start) by relative path.
rc=0
if [ -n "$CMD" ]; then
	(cd "$ROOT" && bash -c "$CMD") 2> >(tee -a "$TMP/tests.log" >&2) || rc=$?
	say "test command exited with $rc"
else
	(cd "$ROOT" && "$BINARY" --jobs 1 "$@") 2> >(tee -a "$TMP/tests.log" >&2) || rc=$?
	say "test binary exited with $rc"
fi
exit "$rc"
