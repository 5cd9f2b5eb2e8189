#!/usr/bin/env bash
# make bench: the service at scale on this machine, against the ceiling of its request path.
#
#   1. gen_csv writes ROWS events (default 10 000 000) to data/events_bench_<ROWS>.csv (kept)
#   2. a throwaway stack (embedded PostgreSQL, WORKERS workers, nginx) loads them with
#      import_events, then VACUUM ANALYZE and a CHECKPOINT (the rows measure the settled
#      store, not the load's write-back)
#   3. wrk, pinned to one core with taskset (-c BENCH_CPU, default 0), runs each scenario for
#      DURATION with CONNS connections, each read after WARMUP (2s) of the same requests
#      that are not counted (every worker's first request of a zone memoizes its day
#      bounds, and the pages come into shared buffers); a hello-world libfcgi responder
#      behind the same nginx config is measured the same way, again just before each row:
#      the ceiling that row is compared with (this machine's speed drifts by 15-25 % over
#      minutes; one ceiling measured at the start put that drift into every ratio). The
#      _ranges rows ask over another range each request
#      (bench/lua/get_ranges.lua): reads that are not in the workers' memo of answers
#   4. the table goes to stdout and to bench/results/latest.md
#
# Settings: ROWS, USERS, DURATION (10s), WARMUP (2s), CONNS (16), WORKERS (8), BENCH_CPU (0), OUT,
# SCENARIOS (names to run, space-separated; default all).
# Never fails on timing. Exit status: 0 done, 1 a step failed (build, stack, load), 2 usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG=bench
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
no_args "$@"
cd "$ROOT"

ROWS=${ROWS:-10000000}
USERS=${USERS:-$((ROWS / 50))}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-16}
BENCH_CPU=${BENCH_CPU:-0}
export WORKERS=${WORKERS:-8}
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$ROOT/bench/results/latest.md}
FILE=$ROOT/data/events_bench_${ROWS}.csv
export BENCH_LUA=$ROOT/bench/lua

for b in gen_csv import_events migrate events-fcgi; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b is missing: run make first"
done
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"

# --- data ------------------------------------------------------------------------------------
if [ ! -s "$FILE" ]; then
	say "generating $ROWS events (users $USERS, 2025-01-01 + 365 days)"
	"$BUILD/gen_csv" "$FILE.tmp" --rows "$ROWS" --users "$USERS" --start 2025-01-01 --days 365 --seed 7
	mv "$FILE.tmp" "$FILE"
fi

# --- stacks ----------------------------------------------------------------------------------
unset DATABASE_URL PGHOST PGPORT PGDATABASE PGUSER PGSERVICE
export EVENTS_ENV_FILE=/dev/null EVENTS_METRICS_EPHEMERAL=1 RATE_LIMIT_EXEMPT=127.0.0.1
SVC_DIR=$(mktemp -d /tmp/events-bench.XXXXXX)
HELLO_DIR=$(mktemp -d /tmp/events-hello.XXXXXX)
HELLO_BUILD=$HELLO_DIR/build
chmod 755 "$SVC_DIR" "$HELLO_DIR"
cleanup() {
	trap - EXIT INT TERM
	VAR_DIR=$HELLO_DIR DATABASE_URL=postgresql:///none "$ROOT/tools/stack.sh" down >/dev/null 2>&1 || true
	VAR_DIR=$SVC_DIR "$ROOT/tools/stack.sh" down >/dev/null 2>&1 || true
	local pgdir=$SVC_DIR/pg
	[ ! -L "$pgdir" ] || rm -rf -- "$(readlink -- "$pgdir")"
	rm -rf -- "$SVC_DIR" "$HELLO_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SVC_PORT=$(free_port)
VAR_DIR=$SVC_DIR PORT=$SVC_PORT "$ROOT/tools/stack.sh" up >"$SVC_DIR/up.log" 2>&1 ||
	{ cat "$SVC_DIR/up.log" >&2; die "the service stack did not start"; }
eval "$(VAR_DIR=$SVC_DIR "$ROOT/tools/stack.sh" env)"
export DATABASE_URL
SVC_POOL=$(cat "$SVC_DIR/run/pool.pid")

say "loading $FILE"
IMPORT=$("$BUILD/import_events" "$FILE" | tail -n 1)
say "import: $IMPORT"
# the zone-aware summaries: what the supervisor's fold has not done yet when the load ends
# (migrate folds whatever is pending, then exits)
FOLD_T0=$(date +%s%N)
"$BUILD/migrate" >/dev/null
FOLD_MS=$((($(date +%s%N) - FOLD_T0) / 1000000))
say "pending events folded $FOLD_MS ms after the load ended"
psql -X -q "$DATABASE_URL" -c "VACUUM ANALYZE" >/dev/null
# the load's dirty pages written now, not by a checkpoint during the first rows
VAR_DIR=$SVC_DIR "$ROOT/tools/stack.sh" psql -X -q -c CHECKPOINT >/dev/null

mkdir -p "$HELLO_BUILD"
cc -O2 -o "$HELLO_BUILD/events-fcgi" "$ROOT/bench/hello.c" -lfcgi
printf '#!/bin/sh\nexit 0\n' >"$HELLO_BUILD/migrate" && chmod +x "$HELLO_BUILD/migrate"
HELLO_PORT=$(free_port)
VAR_DIR=$HELLO_DIR PORT=$HELLO_PORT BUILD=$HELLO_BUILD "$ROOT/tools/stack.sh" up >"$HELLO_DIR/up.log" 2>&1 ||
	{ cat "$HELLO_DIR/up.log" >&2; die "the hello-world stack did not start"; }

# --- measuring -------------------------------------------------------------------------------
# worker_rss POOL_PID: the largest VmRSS (KB) among the pool's workers.
worker_rss() {
	local kid max=0 rss
	for kid in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$kid/status" 2>/dev/null || echo 0)
		[ "${rss:-0}" -gt "$max" ] && max=$rss
	done
	echo "$max"
}

# run_wrk SCRIPT URL [CONNS]: the BENCH line of one wrk run, pinned to BENCH_CPU.
run_wrk() { wrk_run "$1" "$2" "${3:-$CONNS}"; }

j() { json_num "$@"; }

ROWS_MD=()
CEILING_RPS=
ROW_CEILING=
# scenario NAME SCRIPT PATH [CONNS]
wanted() { [ -z "${SCENARIOS:-}" ] || [[ " $SCENARIOS " == *" $1 "* ]]; }
scenario() {
	local name=$1 script=$2 path=$3 conns=${4:-$CONNS} before after res rps ev ratio
	wanted "$name" || return 0
	ceiling_now
	before=$(worker_rss "$SVC_POOL")
	[ "$script" = "$INGEST" ] || DURATION=$WARMUP run_wrk "$script" "http://127.0.0.1:$SVC_PORT$path" "$conns" >/dev/null
	res=$(run_wrk "$script" "http://127.0.0.1:$SVC_PORT$path" "$conns")
	after=$(worker_rss "$SVC_POOL")
	record "$name" "$res" "$before" "$after"
}

# ceiling_now: ROW_CEILING = the hello-world's req/s, measured now (the first measure when
# wrk printed nothing)
ceiling_now() {
	local res
	res=$(run_wrk "$GET" "http://127.0.0.1:$HELLO_PORT/healthz")
	ROW_CEILING=$CEILING_RPS
	[ -z "$res" ] || ROW_CEILING=$(j "$res" rps)
}

record() {
	local name=$1 res=$2 before=$3 after=$4 rps ev ratio
	[ -n "$res" ] || { warn "$name: wrk printed no result"; return 0; }
	rps=$(j "$res" rps)
	ev=$(awk -v r="$rps" -v e="$(j "$res" events_per_request)" 'BEGIN { if (e > 0) printf "%.0f", r * e; else printf "-" }')
	ratio=$(awk -v r="$rps" -v c="${ROW_CEILING:-0}" 'BEGIN { if (c > 0) printf "%.2f", r / c; else printf "1.00" }')
	ROWS_MD+=("| $name | $(printf '%.0f' "$rps") | $ev | $(j "$res" p50_ms) | $(j "$res" p99_ms) | $(j "$res" non2xx) | $(j "$res" socket_errors) | $(printf '%.0f' "${ROW_CEILING:-0}") | $ratio | $before → $after |")
	say "$name: $res"
}

GET=$ROOT/bench/lua/get.lua
RANGES=$ROOT/bench/lua/get_ranges.lua
INGEST=$ROOT/bench/lua/ingest.lua

DURATION=$WARMUP run_wrk "$GET" "http://127.0.0.1:$HELLO_PORT/healthz" >/dev/null
res=$(run_wrk "$GET" "http://127.0.0.1:$HELLO_PORT/healthz")
CEILING_RPS=$(j "$res" rps)
ROW_CEILING=$CEILING_RPS
record "hello-world FastCGI (ceiling)" "$res" - -

scenario healthz "$GET" /healthz
scenario dau_30d "$GET" "/stats/dau?from=2025-11-01&to=2025-11-30"
scenario dau_365d "$GET" "/stats/dau?from=2025-01-01&to=2025-12-31"
scenario top_events_30d "$GET" "/stats/top-events?from=2025-11-01&to=2025-11-30"
scenario retention_day_7 "$GET" "/stats/retention?start_date=2025-06-02&windows=7"
scenario retention_week_12 "$GET" "/stats/retention?start_date=2025-03-03&windows=12&granularity=week"
# the zone-aware summaries (ADR 7)
scenario dau_30d_kathmandu "$GET" "/stats/dau?from=2025-11-01&to=2025-11-30&tz=Asia/Kathmandu"
scenario dau_30d_event_type "$GET" "/stats/dau?from=2025-11-01&to=2025-11-30&event_type=purchase"
scenario retention_day_7_events "$GET" "/stats/retention?start_date=2025-06-02&windows=7&start_event=login&return_event=purchase"
scenario active_users_30d "$GET" "/stats/active-users?from=2025-09-02&to=2025-11-30&window=30"
# the same questions over another range each request: answers rarely in the workers' memo
scenario dau_30d_kathmandu_ranges "$RANGES" "/stats/dau?from=DAY0&to=DAY1&tz=Asia/Kathmandu"
scenario retention_day_7_events_ranges "$RANGES" "/stats/retention?start_date=DAY0&windows=7&start_event=login&return_event=purchase"
scenario active_users_30d_ranges "$RANGES" "/stats/active-users?from=DAY0&to=DAY1&window=30"
BATCH=1000 scenario ingest_batch_1000 "$INGEST" /events 4
# the same from the loaded data's users (each already has its keys and first quarters)
BATCH=1000 USER_PREFIX= USERS=$USERS scenario ingest_batch_1000_known "$INGEST" /events 4
BATCH=1 scenario ingest_single "$INGEST" /events

# stats while another wrk ingests at full speed
if wanted stats_during_ingest; then
	ceiling_now
	before=$(worker_rss "$SVC_POOL")
	BATCH=1000 taskset -c "$BENCH_CPU" wrk -t1 -c4 -d"$DURATION" -s "$INGEST" "http://127.0.0.1:$SVC_PORT/events" >"$SVC_DIR/bg-ingest.log" 2>&1 &
	bg=$!
	sleep 1
	res=$(run_wrk "$GET" "http://127.0.0.1:$SVC_PORT/stats/dau?from=2025-11-01&to=2025-11-30")
	wait "$bg" || true
	record stats_during_ingest "$res" "$before" "$(worker_rss "$SVC_POOL")"
	say "background ingest: $(sed -n 's/^BENCH //p' "$SVC_DIR/bg-ingest.log")"
fi

# --- the table -------------------------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
pgv=$(psql -X -tAq "$DATABASE_URL" -c "SHOW server_version")
{
	echo "# make bench — $(date -u +%Y-%m-%d)"
	echo
	echo "Machine: $(nproc) cores ($cpu), $mem RAM, $(uname -sr); PostgreSQL $pgv, $(nginx -v 2>&1 | sed 's/.*: //'), libfcgi $(dpkg-query -W -f='${Version}' libfcgi0ldbl 2>/dev/null || echo '?')."
	echo "Data: $ROWS generated events ($USERS users, 2025), loaded with import_events: \`$IMPORT\`; the zone-aware summaries of the load were all folded $FOLD_MS ms after it ended (the supervisor folds every 2 s while it runs)."
	echo "Load: wrk, 1 thread pinned to CPU $BENCH_CPU with taskset, $CONNS connections (ingest_batch_1000: 4), $DURATION per row"
	echo "(reads after $WARMUP of the same requests, not counted), after VACUUM ANALYZE and CHECKPOINT,"
	echo "on the same 2-core machine as nginx, $WORKERS workers and PostgreSQL. Ratio = req/s over the"
	echo "hello-world responder's req/s measured just before the row (column ceiling; the first row is its first measure)."
	echo
	echo "| scenario | req/s | events/s | p50 ms | p99 ms | non-2xx | socket errors | ceiling req/s | ratio to ceiling | worker RSS KB before → after |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${ROWS_MD[@]}"
} >"$OUT"
echo
cat "$OUT"
