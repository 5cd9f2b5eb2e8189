#!/usr/bin/env bash
# A worker added to a running Citus cluster under HTTP ingest loses nothing: 3 clients post
# batches while `tools/stack.sh add-node` starts a worker, registers it and rebalances shards
# onto it (make add-node). Then the new worker holds shards, and the checks of
# tests/cluster/lib.sh pass (rows staged = rows merged, every acknowledged event stored, only
# 200 or 503 answers, summaries equal to a recomputation).
#
#   tests/cluster/add_node.sh      (alone: on a NODES=3 stack of its own; tests/cluster/leg.sh
#                                  runs it on the cluster of the leg)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/cluster/enter.sh
. "$ROOT/tests/cluster/enter.sh" add-node-test 3 "$@"

cl_start 3 100
sleep 3
say "adding a worker under ingest"
VAR_DIR=$EVENTS_VAR_DIR "$ROOT/tools/stack.sh" add-node
cl_stop
cl_check "the new worker holds shards" "$(cl_sql -c "SELECT count(*) > 0 FROM pg_dist_placement
	WHERE groupid = (SELECT groupid FROM pg_dist_node ORDER BY nodeid DESC LIMIT 1)")" t
cl_verify
exit "$CL_FAIL"
