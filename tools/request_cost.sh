#!/usr/bin/env bash
# The cost of the most expensive single requests found by review, measured through nginx on a
# throwaway stack:
#
#   tests/integration/run.sh --cmd tools/request_cost.sh
#
#   1. GET /stats/top-events over 3 660 days when type_counts holds TYPES distinct event types
#      (one 6-hour block each, days spread over the range), written straight into the summary
#      table the fold maintains; REPEAT requests, each timed.
#   2. One user with MOVER_DAYS stored days (one event a day, merged with ingest_merge in SQL
#      and folded), then MOVES requests POST /events, each with one event a day before the
#      user's current first day, each followed by a GET /stats/retention that folds it:
#      each moves the user's cohort (its key from one cohort block to another). Each request
#      timed; cohort_sets rows counted after each.
#   3. One POST /events of BATCH events of that user on BATCH days before its first day, and
#      the read that folds them.
#
# Needs DATABASE_URL and EVENTS_BASE_URL (run.sh sets both). Settings: TYPES (1000000), REPEAT
# (5), MOVER_DAYS (100000), MOVES (10), BATCH (10000); TYPES=0 or MOVER_DAYS=0 skips that part.
# Prints a Markdown report on stdout. Never fails on timing: a request's status is reported.
# Exit status: 0 report written, 1 a step failed (SQL, no stack), 2 usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG=request-cost
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
no_args "$@"

defaults TYPES=1000000 REPEAT=5 MOVER_DAYS=100000 MOVES=10 BATCH=10000
: "${DATABASE_URL:?run through tests/integration/run.sh --cmd}"
: "${EVENTS_BASE_URL:?run through tests/integration/run.sh --cmd}"

sql() { psql "$DATABASE_URL" -XqAt -v ON_ERROR_STOP=1 -c "$1"; }

# timed METHOD PATH [BODY|@FILE]: "status seconds" of one request.
timed() {
	local args=(-s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 120 -X "$1")
	[ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl "${args[@]}" "$EVENTS_BASE_URL$2"
}

now() { date +%s.%N; }

# one_event USER DAY: a one-event POST body.
one_event() {
	printf '[{"event_id":"%s","occurred_at":"%sT08:00:00Z","user_id":"%s","event_type":"m"}]' \
		"$(cat /proc/sys/kernel/random/uuid)" "$2" "$1"
}

top_events() {
	local t0 t1 st s path='/stats/top-events?from=2000-01-01&to=2010-01-07&limit=1000'
	t0=$(now)
	sql "INSERT INTO type_counts (level, bucket, event_type, events)
	     SELECT 24, (extract(epoch FROM date '2000-01-01' + (g % 3660)) / 900)::int
	                + 24 * (g % 4), 'attack_' || md5(g::text), 1 + g % 5
	     FROM generate_series(1, $TYPES) g"
	sql "VACUUM ANALYZE type_counts"
	t1=$(now)
	echo
	echo "## GET /stats/top-events, 3 660 days, $TYPES distinct types"
	echo
	printf 'type_counts: %s rows, %s; written in %.1f s\n\n' \
		"$(sql 'SELECT count(*) FROM type_counts')" \
		"$(sql "SELECT pg_size_pretty(pg_total_relation_size('type_counts'))")" \
		"$(echo "$t1 - $t0" | bc)"
	echo '| request | status | seconds |'
	echo '|---|---|---|'
	for ((i = 1; i <= REPEAT; i++)); do
		read -r st s < <(timed GET "$path")
		echo "| $i | $st | $s |"
	done
	echo
	echo 'The same read in psql (EXPLAIN ANALYZE, no statement timeout):'
	echo
	echo '```'
	sql "SET statement_timeout = 0; EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
	     SELECT event_type, sum(events)::bigint AS n FROM type_counts
	     WHERE level = 24 AND bucket >= (extract(epoch FROM date '2000-01-01') / 900)::int
	       AND bucket < (extract(epoch FROM date '2010-01-08') / 900)::int
	     GROUP BY event_type ORDER BY n DESC, event_type COLLATE \"C\" LIMIT 1000" |
		grep -E 'Execution|Sort Method|HashAgg|Scan|Limit'
	echo '```'
}

# folded: one read, which folds what is pending first (a retention read folds every pending
# event before the end of its windows: here, all of them); "status seconds" of it
folded() { timed GET '/stats/retention?start_date=2030-01-01&windows=1'; }

mover() {
	local user="mover-$$" t0 t1 st s fst fs day first file
	t0=$(now)
	# in chronological chunks: a chunk that moved the first day would move it every time
	for ((lo = 0; lo < MOVER_DAYS; lo += 5000)); do
		sql "BEGIN; SELECT ingest_session_init();
		     INSERT INTO ingest_stage (event_id, occurred_at, user_id, event_type, properties, ord)
		     SELECT gen_random_uuid(), (date '1750-01-01' + g) + time '12:00', '$user', 'm',
		            '{}', g
		     FROM generate_series($lo, least($lo + 4999, $MOVER_DAYS - 1)) g;
		     SELECT ingest_merge(0, false); COMMIT" >/dev/null
	done
	folded >/dev/null
	sql "VACUUM ANALYZE"
	t1=$(now)
	echo
	echo "## POST /events moving a $MOVER_DAYS-day user's first day one day earlier, $MOVES times"
	echo
	printf 'user %s: %s stored days from %s; merged in SQL and folded in %.1f s; cohort_sets %s rows\n\n' \
		"$user" "$(sql "SELECT count(*) FROM events WHERE user_id = '$user'")" \
		"$(sql "SELECT min(occurred_at)::date FROM events WHERE user_id = '$user'")" \
		"$(echo "$t1 - $t0" | bc)" "$(sql 'SELECT count(*) FROM cohort_sets')"
	echo '| request | occurred_at | POST status | seconds | folding read status | seconds | cohort_sets rows after |'
	echo '|---|---|---|---|---|---|---|'
	for ((i = 1; i <= MOVES; i++)); do
		day=$(sql "SELECT min(occurred_at)::date - 1 FROM events WHERE user_id = '$user'")
		read -r st s < <(timed POST /events "$(one_event "$user" "$day")")
		read -r fst fs < <(folded)
		echo "| $i | $day | $st | $s | $fst | $fs | $(sql 'SELECT count(*) FROM cohort_sets') |"
	done
	read -r st s < <(timed POST /events "$(one_event "plain-$$" 2020-01-01)")
	read -r fst fs < <(folded)
	echo "| control: a new user | 2020-01-01 | $st | $s | $fst | $fs | |"

	first=$(sql "SELECT min(occurred_at)::date FROM events WHERE user_id = '$user'")
	file=$(mktemp)
	sql "SELECT json_agg(json_build_object('event_id', gen_random_uuid(),
	     'occurred_at', to_char(date '$first' - g, 'YYYY-MM-DD') || 'T08:00:00Z',
	     'user_id', '$user', 'event_type', 'm')) FROM generate_series(1, $BATCH) g" >"$file"
	echo
	echo "## One POST /events of $BATCH events of that user, on $BATCH days before its first day"
	echo
	read -r st s < <(timed POST /events "@$file")
	read -r fst fs < <(folded)
	rm -f "$file"
	echo "status $st in $s s, then the folding read $fst in $fs s; the user has" \
		"$(sql "SELECT count(*) FROM events WHERE user_id = '$user'") days after"
}

echo "# Request cost ($(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $(sql 'SHOW server_version'))"
echo
echo "Worker settings: DB_STATEMENT_TIMEOUT_MS=${DB_STATEMENT_TIMEOUT_MS:-default}" \
	"DB_STATS_TIMEOUT_MS=${DB_STATS_TIMEOUT_MS:-default}" \
	"DB_LOCK_TIMEOUT_MS=${DB_LOCK_TIMEOUT_MS:-default}"
[ "$TYPES" -eq 0 ] || top_events
[ "$MOVER_DAYS" -eq 0 ] || mover
