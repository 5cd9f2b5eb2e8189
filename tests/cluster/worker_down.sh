#!/usr/bin/env bash
# A Citus worker stopped under HTTP ingest: batches that need it are answered 503 with
# Retry-After (nothing stored), never an error of another kind and never a lost acknowledged
# event; when the worker is back, ingest succeeds again without any restart of the service.
# Then the checks of tests/cluster/lib.sh pass.
#
#   tests/cluster/worker_down.sh   (alone: on a NODES=3 stack of its own; tests/cluster/leg.sh
#                                  runs it on the cluster of the leg)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/cluster/enter.sh
. "$ROOT/tests/cluster/enter.sh" worker-down-test 3 "$@"

node() { VAR_DIR=$EVENTS_VAR_DIR "$ROOT/tools/stack.sh" "$@"; }
# wait_for STATUS MORE: until MORE batches more than now were answered STATUS (at most 600 s:
# a hang detector, far above any wait under load, not a speed check).
wait_for() {
	local want=$(($(cl_count "$1") + $2)) i
	for ((i = 0; i < 6000; i++)); do
		(($(cl_count "$1") >= want)) && return 0
		sleep 0.1
	done
	say "FAIL: no $2 more answers $1 within 600 s"
	CL_FAIL=1
}

cl_start 3 50
wait_for 200 5
node node-stop w2
wait_for 503 5
node node-start w2
wait_for 200 10
cl_stop
cl_verify
exit "$CL_FAIL"
