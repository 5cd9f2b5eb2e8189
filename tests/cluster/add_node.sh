#!/usr/bin/env bash
# A worker added to a running Citus cluster under HTTP ingest and a bulk load loses nothing:
# 3 clients post batches and import_events loads 300 000 events (staged on the workers in
# load_stage, migration 0019) while `tools/stack.sh add-node` starts a worker, registers it
# and rebalances shards onto it (make add-node). Then the new worker holds shards, the load
# stored every event it read and left nothing staged, and the checks of tests/cluster/lib.sh
# pass (rows staged = rows merged, every acknowledged event stored, only 200 or 503 answers,
# summaries equal to a recomputation).
#
#   tests/cluster/add_node.sh      (alone: on a NODES=3 stack of its own; tests/cluster/leg.sh
#                                  runs it on the cluster of the leg)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/cluster/enter.sh
. "$ROOT/tests/cluster/enter.sh" add-node-test 3 "$@"

# the bulk load's own users and period (May 2019), apart from the clients' (March 2019)
"$ROOT/build/gen_csv" "$CL_OUT/load.csv" --rows 300000 --start 2019-05-01 --days 20 \
	--user-prefix cl-load- --seed 14
cl_start 3 100
"$ROOT/build/import_events" "$CL_OUT/load.csv" >"$CL_OUT/load.json" 2>"$CL_OUT/load.err" &
load_pid=$!
sleep 3
say "adding a worker under ingest and a bulk load"
VAR_DIR=$EVENTS_VAR_DIR "$ROOT/tools/stack.sh" add-node
load_rc=0
wait "$load_pid" || load_rc=$?
cl_stop
cl_check "import_events exit status" "$load_rc" 0
[ "$load_rc" = 0 ] || sed 's/^/  import_events: /' "$CL_OUT/load.err" | tail -n 5
loaded=$(cl_sql -c "SELECT count(*) FROM events WHERE user_id LIKE 'cl-load-%'")
cl_check "events of the load stored = accepted" "$loaded" \
	"$(sed -n 's/.*"accepted":\([0-9]*\).*/\1/p' "$CL_OUT/load.json")"
cl_check "events of the load stored" "$loaded" 300000
cl_check "rows left in load_stage" "$(cl_sql -c 'SELECT count(*) FROM load_stage')" 0
CL_BASE=$((CL_BASE + loaded)) # cl_verify counts the HTTP clients' events
cl_check "the new worker holds shards" "$(cl_sql -c "SELECT count(*) > 0 FROM pg_dist_placement
	WHERE groupid = (SELECT groupid FROM pg_dist_node ORDER BY nodeid DESC LIMIT 1)")" t
cl_verify
exit "$CL_FAIL"
