#!/usr/bin/env bash
# An existing single-node store moved to a Citus cluster (README "Scale-out"): a NODES=1 stack
# is loaded (the sample CSV through the loader, then HTTP batches), stopped, and started again
# on the same VAR_DIR with NODES=3, which loads Citus into its PostgreSQL, adds two workers and
# lets the migrator distribute the populated tables. Then: the tables are distributed, every
# stats answer is byte-identical to the one before the move, and ingest goes on (the checks of
# tests/cluster/lib.sh over everything stored, before and after the move).
#
#   tests/cluster/move_store.sh    (tests/cluster/leg.sh; starts its own NODES=1 stack)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/cluster/enter.sh
. "$ROOT/tests/cluster/enter.sh" move-store-test 1 "$@"

stats() {
	local q
	for q in "dau?from=2025-08-01&to=2025-09-30" "top-events?from=2025-08-01&to=2025-09-30&limit=100" \
		"retention?start_date=2025-08-20&windows=6&granularity=week" \
		"retention?start_date=2025-08-22&windows=12&granularity=day" \
		"dau?from=2019-03-01&to=2019-03-31"; do
		printf '%s\n' "$q"
		curl -fsS "$EVENTS_BASE_URL/stats/$q"
		printf '\n'
	done
}

"$ROOT/build/import_events" "$EVENTS_SAMPLE_CSV" >/dev/null
cl_start 2 100
sleep 2
cl_stop
stats >"$CL_OUT/before"
before=$(cl_sql -c 'SELECT count(*) FROM events')

say "moving the store to a cluster: down, then up with NODES=3"
port=${EVENTS_BASE_URL##*:}
VAR_DIR=$EVENTS_VAR_DIR "$ROOT/tools/stack.sh" down
VAR_DIR=$EVENTS_VAR_DIR NODES=3 PORT=$port "$ROOT/tools/stack.sh" up >/dev/null

cl_check "tables distributed" "$(cl_sql -c "SELECT string_agg(logicalrelid::text, ' ' ORDER BY logicalrelid::text)
	FROM pg_dist_partition")" "events load_stage"
cl_check "events after the move" "$(cl_sql -c 'SELECT count(*) FROM events')" "$before"
stats >"$CL_OUT/after"
if cmp -s "$CL_OUT/before" "$CL_OUT/after"; then
	say "ok: stats answers byte-identical before and after the move ($(wc -c <"$CL_OUT/before") bytes)"
else
	say "FAIL: stats answers differ after the move"
	diff "$CL_OUT/before" "$CL_OUT/after" | head -n 20 >&2
	CL_FAIL=1
fi
# The sample's events went in through the loader, not the clients: count them as accepted.
printf '200 %s -\n' "$(cl_sql -c "SELECT count(*) FROM events WHERE user_id NOT LIKE 'cl-%'")" >"$CL_OUT/c0.log"
ok_before=$(cl_count 200)
cl_start 2 100
sleep 2
cl_stop
cl_check "batches stored after the move" "$(($(cl_count 200) > ok_before))" 1
cl_verify
exit "$CL_FAIL"
