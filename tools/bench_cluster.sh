#!/usr/bin/env bash
# make bench NODES=3: where the work of the store goes on a Citus cluster, and that its answers
# are the ones of one node. On a throwaway stack with NODES=1 and then one with NODES (>1):
#
#   1. gen_csv writes ROWS rows to data/events_cluster_bench.csv (kept, not committed)
#   2. load:  import_events of that file
#   3. http:  HTTP_ROWS further events POSTed in NDJSON batches of 1 000 by 4 curl loops
#   4. stats: a fixed list of /stats queries, answers kept in bench/results/cluster-stats-N.txt
#   5. stats latency: the stats rows of make bench (tools/bench.sh) on this data, after the
#      same settling (fold, VACUUM ANALYZE, CHECKPOINT on every node) and warm-up: wrk pinned
#      to core BENCH_CPU (0), CONNS (16) connections, DURATION (10s) per query
#
# For steps 2 and 3 it prints wall time and the CPU seconds of each node's PostgreSQL
# processes (/proc/PID/stat of the postmaster, its live children and the children it reaped),
# per 1M events, and a second table with the stats latencies. Then it compares the stats answers of the two runs byte for byte (exit 1 when
# they differ). Settings: ROWS (1000000), HTTP_ROWS (100000), NODES (3). Never fails on timing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG=bench-cluster
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
no_args "$@"
defaults ROWS=1000000 HTTP_ROWS=100000 NODES=3 BUILD="$ROOT/build" CONNS=16
export BENCH_LUA=$ROOT/bench/lua
FILE=$ROOT/data/events_cluster_bench.csv
OUT=$ROOT/bench/results

# cpu_ticks DATA_DIR: CPU ticks of the PostgreSQL running from DATA_DIR and all its processes.
cpu_ticks() {
	local pm kids
	pm=$(head -n 1 "$1/postmaster.pid")
	kids=$(pgrep -P "$pm" | tr '\n' ' ')
	# fields after the command: 14 utime 15 stime 16 cutime 17 cstime
	for p in "$pm" $kids; do sed 's/.*) //' "/proc/$p/stat" 2>/dev/null || true; done |
		awk 'NR == 1 { t += $12 + $13 + $14 + $15; next } { t += $12 + $13 } END { print t }'
}

# node_dirs: the data directories, coordinator first.
node_dirs() {
	local pg
	pg=$(readlink -f "$EVENTS_VAR_DIR/pg")
	printf '%s\n' "$pg/data"
	for d in "$pg"/nodes/w*/data; do [ -d "$d" ] && printf '%s\n' "$d"; done
	return 0
}

snapshot() { for d in $(node_dirs); do cpu_ticks "$d"; done | tr '\n' ' '; }

# report STEP EVENTS SECONDS BEFORE AFTER: one table row per node, CPU s per 1M events.
report() {
	local hz i=0 b a name
	hz=$(getconf CLK_TCK)
	read -ra b <<<"$4"
	read -ra a <<<"$5"
	for ((i = 0; i < ${#a[@]}; i++)); do
		((i == 0)) && name=coordinator || name="worker w$i"
		awk -v s="$1" -v n="$name" -v e="$2" -v w="$3" -v d="$((a[i] - b[i]))" -v hz="$hz" -v nodes="$NODES_NOW" \
			'BEGIN { printf "| %s | %d | %s | %.1f | %.1f | %.1f |\n", nodes, e, s " " n, w, d / hz, d / hz * 1e6 / e }'
	done
}

ndjson_batches() { # DIR: HTTP_ROWS events as NDJSON files of 1 000
	awk -v n="$HTTP_ROWS" -v dir="$1" 'BEGIN {
		for (i = 0; i < n; i++) {
			f = sprintf("%s/b%05d.ndjson", dir, int(i / 1000))
			printf "{\"event_id\":\"%08x-0000-4000-8000-%012x\",\"user_id\":\"h%d\",\"event_type\":\"t%d\",\"occurred_at\":\"2025-08-%02dT%02d:00:00Z\",\"properties\":{}}\n", 1234, i, i % 20000, i % 7, 1 + i % 28, i % 24 > f
		}
	}'
}

stats_answers() {
	local q
	for q in "dau?from=2025-08-01&to=2025-08-31" "top-events?from=2025-08-01&to=2025-08-31&limit=50" \
		"retention?start_date=2025-08-01&windows=4&granularity=week" \
		"retention?start_date=2025-08-03&windows=20&granularity=day"; do
		printf '%s\n' "$q"
		curl -fsS "$EVENTS_BASE_URL/stats/$q"
		printf '\n'
	done
}

# settle: what make bench does before its rows (tools/bench.sh): the pending events folded
# (migrate folds them, then exits), VACUUM ANALYZE, a CHECKPOINT on every node, so that the
# latencies are the settled store's, not the write-back of the load and ingest just done.
settle() {
	"$BUILD/migrate" >/dev/null
	psql -X -q "$DATABASE_URL" -c "VACUUM ANALYZE" >/dev/null
	psql -X -q "$DATABASE_URL" -c CHECKPOINT >/dev/null
	if [ "$NODES_NOW" -gt 1 ]; then
		psql -X -q "$DATABASE_URL" -c "SELECT run_command_on_workers('CHECKPOINT')" >/dev/null
	fi
}

# stats_latency: one table row per stats query of make bench, with this stack's p50 and p99
# (each after WARMUP, 2s, of the same requests that are not counted, as in make bench).
stats_latency() {
	local q res
	for q in "dau?from=2025-08-01&to=2025-08-30" "top-events?from=2025-08-01&to=2025-08-30" \
		"retention?start_date=2025-08-04&windows=7" \
		"retention?start_date=2025-08-04&windows=4&granularity=week"; do
		DURATION=${WARMUP:-2s} wrk_run "$BENCH_LUA/get.lua" "$EVENTS_BASE_URL/stats/$q" "$CONNS" >/dev/null
		res=$(wrk_run "$BENCH_LUA/get.lua" "$EVENTS_BASE_URL/stats/$q" "$CONNS")
		[ -n "$res" ] || die "wrk printed no result for /stats/$q"
		printf '| %s | /stats/%s | %.0f | %s | %s | %s |\n' "$NODES_NOW" "$q" "$(json_num "$res" rps)" \
			"$(json_num "$res" p50_ms)" "$(json_num "$res" p99_ms)" "$(json_num "$res" non2xx)"
	done
}

inside() {
	local t0 t1 before after tmp
	before=$(snapshot) t0=$(date +%s.%N)
	"$BUILD/import_events" "$FILE" >/dev/null
	t1=$(date +%s.%N) after=$(snapshot)
	report load "$ROWS" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$before" "$after"
	tmp=$(mktemp -d /tmp/events-bench-cluster.XXXXXX)
	ndjson_batches "$tmp"
	before=$(snapshot) t0=$(date +%s.%N)
	for ((c = 0; c < 4; c++)); do
		(for f in $(ls "$tmp"/b*.ndjson | awk -v c="$c" 'NR % 4 == c'); do
			curl -fsS -o /dev/null -H 'Content-Type: application/x-ndjson' --data-binary "@$f" "$EVENTS_BASE_URL/events"
		done) &
	done
	wait
	t1=$(date +%s.%N) after=$(snapshot)
	report http "$HTTP_ROWS" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$before" "$after"
	rm -rf -- "$tmp"
	stats_answers >"$OUT/cluster-stats-$NODES_NOW.txt"
	settle
	stats_latency >"$OUT/cluster-latency-$NODES_NOW.md"
}

if [ -n "${EVENTS_BASE_URL:-}" ]; then
	inside
	exit 0
fi

mkdir -p "$OUT"
[ -s "$FILE" ] && [ "$(($(wc -l <"$FILE") - 1))" = "$ROWS" ] || "$BUILD/gen_csv" "$FILE" --rows "$ROWS" --seed 7
"$ROOT/tools/citus.sh" ensure
table=$OUT/cluster.md
{
	echo "| nodes | events | step, PostgreSQL of | wall s | CPU s | CPU s per 1M events |"
	echo "|---|---|---|---|---|---|"
} >"$table"
for n in 1 "$NODES"; do
	NODES=$n NODES_NOW=$n RATE_LIMIT_EXEMPT=127.0.0.1 "$ROOT/tests/integration/run.sh" \
		--cmd "tools/bench_cluster.sh" | tee -a "$table"
done
{
	echo
	echo "Stats latency: wrk pinned to core ${BENCH_CPU:-0}, $CONNS connections, ${DURATION:-10s} per query (after ${WARMUP:-2s} not counted), after the steps above, the fold, VACUUM ANALYZE and a CHECKPOINT on every node."
	echo
	echo "| nodes | query | req/s | p50 ms | p99 ms | non-2xx |"
	echo "|---|---|---|---|---|---|"
	cat "$OUT/cluster-latency-1.md" "$OUT/cluster-latency-$NODES.md"
} >>"$table"
rm -f -- "$OUT/cluster-latency-1.md" "$OUT/cluster-latency-$NODES.md"
cat "$table"
if cmp -s "$OUT/cluster-stats-1.txt" "$OUT/cluster-stats-$NODES.txt"; then
	say "stats answers byte-identical on 1 node and on $NODES nodes ($(wc -c <"$OUT/cluster-stats-1.txt") bytes)"
else
	say "stats answers DIFFER between 1 node and $NODES nodes"
	diff "$OUT/cluster-stats-1.txt" "$OUT/cluster-stats-$NODES.txt" | head -n 20 >&2
	exit 1
fi
