#!/usr/bin/env bash
# A bulk load and live ingest of the same events at once, on a Citus cluster: the loader merges
# its batches from load_stage with one statement whose shard tasks the workers run side by side
# (migration 0019), live ingest shard by shard (0013), so the two can wait on each other's rows
# on two workers. import_events loads 60 000 events (batches of 5 000) while 3 HTTP clients
# post the same events in batches of 1 000, each client in another order. Then: the load
# succeeded, every HTTP answer was 200 (no batch lost to a distributed deadlock, retries
# included), each event stored once (what the loader and the clients accepted adds up to
# 60 000), nothing left in load_stage, and the checks of tests/cluster/lib.sh.
#
#   tests/cluster/load_overlap.sh   (alone: on a NODES=3 stack of its own; tests/cluster/leg.sh
#                                   runs it on the cluster of the leg)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/cluster/enter.sh
. "$ROOT/tests/cluster/enter.sh" load-overlap-test 3 "$@"

n=60000
# the events once, as the loader's CSV and as 60 NDJSON batches (June 2018, users ov-*)
awk -v n="$n" -v dir="$CL_OUT" 'BEGIN {
	srand(1419)
	csv = dir "/ov.csv"
	print "event_id,occurred_at,user_id,event_type,properties_json" > csv
	for (i = 0; i < n; i++) {
		id = sprintf("%04x%04x-%04x-4%03x-a%03x-%06x%06x", int(rand() * 65535),
			int(rand() * 65535), int(rand() * 65535), int(rand() * 4095),
			int(rand() * 4095), int(rand() * 16777215), i)
		ts = sprintf("2018-06-%02dT%02d:00:00Z", 1 + i % 28, i % 24)
		user = "ov-" (i % 700); type = "t" (i % 4)
		printf "%s,%s,%s,%s,{}\n", id, ts, user, type > csv
		b = sprintf("%s/b%02d", dir, int(i / 1000))
		printf "{\"event_id\":\"%s\",\"occurred_at\":\"%s\",\"user_id\":\"%s\",\"event_type\":\"%s\"}\n",
			id, ts, user, type > (b ".nd")
		print id > (b ".ids")
		if (i % 1000 == 999) { close(b ".nd"); close(b ".ids") }
	}
}'

# post_all ID OFFSET: every batch once, starting at batch OFFSET, through cl_post (from its
# file: a 1 000-event body is over the 128 KB an exec argument may have)
post_all() {
	local k f
	for ((k = 0; k < 60; k++)); do
		f=$CL_OUT/b$(printf '%02d' $(((k + $2) % 60)))
		cl_post "$1" "@$f.nd" "$(<"$f.ids")"$'\n'
	done
}

say "loading $n events while 3 clients post the same ones"
"$ROOT/build/import_events" "$CL_OUT/ov.csv" --batch-size 5000 >"$CL_OUT/load.json" 2>"$CL_OUT/load.err" &
load_pid=$!
for c in 1 2 3; do
	post_all "$c" $((c * 20)) &
	CL_PIDS+=($!)
done
load_rc=0
wait "$load_pid" || load_rc=$?
wait "${CL_PIDS[@]}"
CL_PIDS=()

cl_check "import_events exit status" "$load_rc" 0
[ "$load_rc" = 0 ] || sed 's/^/  import_events: /' "$CL_OUT/load.err" | tail -n 5
cl_check "HTTP answers other than 200" "$(cat "$CL_OUT"/c*.log | awk '$1 != 200' | wc -l)" 0
loaded=$(sed -n 's/.*"accepted":\([0-9]*\).*/\1/p' "$CL_OUT/load.json")
posted=$(cat "$CL_OUT"/c*.log | awk '{ s += $2 } END { print s + 0 }')
say "accepted: $loaded by the loader, $posted over HTTP"
cl_check "events stored (each once)" "$(cl_sql -c "SELECT count(*) || ' ' || count(DISTINCT event_id)
	FROM events WHERE user_id LIKE 'ov-%'")" "$n $n"
cl_check "accepted by the loader + over HTTP" "$((${loaded:-0} + posted))" "$n"
cl_check "rows left in load_stage" "$(cl_sql -c 'SELECT count(*) FROM load_stage')" 0
CL_BASE=$((CL_BASE + ${loaded:-0})) # cl_verify counts the HTTP clients' events
cl_verify
exit "$CL_FAIL"
