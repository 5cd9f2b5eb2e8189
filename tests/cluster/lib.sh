# shellcheck shell=bash
# What the cluster tests (tests/cluster/*.sh) share: HTTP clients that post NDJSON batches into
# the stack under test until told to stop, and the checks after: every answer 200 or 503 with
# Retry-After, rows staged = rows merged, every acknowledged event stored, the
# summaries equal to a recomputation from the raw events. Sourced after tools/lib.sh, inside
# tests/integration/run.sh (EVENTS_BASE_URL, DATABASE_URL, EVENTS_VAR_DIR set).

CL_OUT=$(mktemp -d /tmp/events-cluster.XXXXXX)
trap 'rm -rf -- "$CL_OUT"' EXIT
CL_STOP=$CL_OUT/stop
# shellcheck disable=SC2034 # read by the scripts that source this file
CL_FAIL=0
CL_PIDS=()

# cl_post ID DATA IDS: one POST /events of DATA (as curl's --data-binary takes it: the NDJSON
# itself, or @FILE); one line "STATUS ACCEPTED RETRY-AFTER" in $CL_OUT/c<ID>.log, and IDS (the
# batch's event ids, a line each) added to $CL_OUT/c<ID>.ids when it was answered 200.
cl_post() {
	local id=$1 resp code accepted retry
	resp=$(curl -s -m 60 -D "$CL_OUT/h$id" -H 'Content-Type: application/x-ndjson' \
		--data-binary "$2" -w '\n%{http_code}' "$EVENTS_BASE_URL/events") || resp=$'\n000'
	code=${resp##*$'\n'}
	accepted=$(sed -n 's/.*"accepted":\([0-9]*\).*/\1/p' <<<"${resp%$'\n'*}")
	retry=$(tr -d '\r' <"$CL_OUT/h$id" | sed -n 's/^[Rr]etry-[Aa]fter: *//p')
	printf '%s %s %s\n' "$code" "${accepted:-0}" "${retry:--}" >>"$CL_OUT/c$id.log"
	[ "$code" != 200 ] || printf '%s' "$3" >>"$CL_OUT/c$id.ids"
}

# cl_client ID BATCH: posts batches of BATCH new events (and 10 of its previous batch again)
# until $CL_STOP exists, at least 5, each through cl_post.
cl_client() {
	local id=$1 size=$2 n=0 body prev='' ids u i
	while [ ! -e "$CL_STOP" ] || ((n < 5)); do
		body='' ids=''
		for ((i = 0; i < size; i++)); do
			u=$(cat /proc/sys/kernel/random/uuid)
			ids+=$u$'\n'
			body+="{\"event_id\":\"$u\",\"user_id\":\"cl-$id-$((RANDOM % 50))\",\"event_type\":\"t$((RANDOM % 5))\",\"occurred_at\":\"2019-03-$((10 + RANDOM % 15))T10:00:00Z\"}"$'\n'
		done
		cl_post "$id" "$body$prev" "$ids"
		prev=$(head -n 10 <<<"$body")$'\n'
		n=$((n + 1))
	done
}

# cl_start N BATCH: N clients in the background.
cl_start() {
	local c
	rm -f "$CL_STOP"
	for ((c = 1; c <= $1; c++)); do
		cl_client "$c" "$2" &
		CL_PIDS+=($!)
	done
}

cl_stop() {
	touch "$CL_STOP"
	wait "${CL_PIDS[@]}"
	CL_PIDS=()
}

# cl_count STATUS: batches answered STATUS so far.
cl_count() { cat "$CL_OUT"/c*.log 2>/dev/null | awk -v s="$1" '$1 == s' | wc -l; }

cl_sql() { psql -X -tA -v ON_ERROR_STOP=1 "$DATABASE_URL" "$@"; }

# The events stored before this script's clients (the cluster leg runs the integration suites
# on the same store first): cl_verify counts what was merged since.
CL_BASE=$(cl_sql -c 'SELECT count(*) FROM events')

# cl_check WHAT GOT WANT
cl_check() {
	if [ "$2" = "$3" ]; then say "ok: $1 ($2)"; else
		say "FAIL: $1: got $2, want $3"
		CL_FAIL=1
	fi
}

# cl_verify: the checks after the clients stopped.
cl_verify() {
	local accepted
	say "batches: $(cl_count 200) answered 200, $(cl_count 503) answered 503"
	cl_check "answers other than 200 or 503" "$(cat "$CL_OUT"/c*.log | awk '$1 != 200 && $1 != 503' | wc -l)" 0
	cl_check "503 answers without Retry-After" "$(cat "$CL_OUT"/c*.log | awk '$1 == 503 && $3 == "-"' | wc -l)" 0
	accepted=$(cat "$CL_OUT"/c*.log | awk '{ s += $2 } END { print s + 0 }')
	cl_check "rows merged = sum of accepted" "$(($(cl_sql -c 'SELECT count(*) FROM events') - CL_BASE))" "$accepted"
	sort -u "$CL_OUT"/c*.ids >"$CL_OUT/acked"
	cl_check "acknowledged events missing" "$(cl_sql -c "CREATE TEMP TABLE acked (id uuid)" \
		-c "\\copy acked FROM '$CL_OUT/acked'" \
		-c "SELECT count(*) FROM acked WHERE id NOT IN
			(SELECT e.event_id FROM events e WHERE e.event_id IN (SELECT id FROM acked))" | tail -n 1)" 0
	# the summaries, after a read has folded what is pending: users per day (the clients'
	# days, through /stats/dau) and events per block and type
	cl_check "/stats/dau of March 2019 = recomputation" \
		"$(curl -s "$EVENTS_BASE_URL/stats/dau?from=2019-03-01&to=2019-03-31" |
			grep -o '"unique_users":[0-9]*' | cut -d: -f2 | paste -sd' ')" \
		"$(cl_sql -c "SELECT string_agg(coalesce(e.n, 0)::text, ' ' ORDER BY d)
			FROM generate_series(date '2019-03-01', date '2019-03-31', '1 day') d
			LEFT JOIN (SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day,
			                  count(DISTINCT user_id) AS n FROM events
			           WHERE occurred_at >= '2019-03-01Z' AND occurred_at < '2019-04-01Z'
			           GROUP BY 1) e ON e.day = d::date")"
	cl_check "type_counts = recomputation (rows that differ)" "$(cl_sql -c "
		WITH e AS MATERIALIZED (
			SELECT floor(extract(epoch FROM occurred_at) / 900)::int AS q, event_type,
			       count(*) AS n FROM events GROUP BY 1, 2)
		SELECT count(*) FROM (SELECT level, bucket, event_type, events FROM type_counts) a
		FULL JOIN (SELECT l.l::smallint AS level, qblock(e.q, l.l) AS bucket, e.event_type,
		                  sum(e.n) AS events
		           FROM e CROSS JOIN (VALUES (1), (4), (24)) l(l) GROUP BY 1, 2, 3) b
		USING (level, bucket, event_type)
		WHERE coalesce(a.events, 0) <> coalesce(b.events, 0)")" 0
}
