#!/usr/bin/env bash
# make bench-import: the CSV loader against the ceiling of this machine, in one throwaway
# PostgreSQL cluster (the embedded one of tools/stack.sh, under a temp VAR_DIR).
#
#   1. gen_csv writes ROWS rows (default 1 000 000) to data/events_bench.csv (kept, not committed)
#   2. ceiling: plain COPY of that file into an unindexed UNLOGGED table
#   3. fresh:   import_events into the empty store
#   4. reload:  import_events of the same file again (every row a duplicate)
#
# Prints rows/s of each and the ratios to the ceiling. Settings: ROWS, SEED, BATCH (passed as
# --batch-size when set), KEEP=1 keeps the cluster. Never fails on timing.
# Exit status: 0 done, 1 a step failed, 2 usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG=bench-import
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
no_args "$@"

defaults ROWS=1000000 SEED=1 BUILD="$ROOT/build"
FILE=$ROOT/data/events_bench.csv
STACK=$ROOT/tools/stack.sh

for b in gen_csv import_events migrate; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b is missing: run make first"
done

now() { date +%s.%N; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }

# --- the data --------------------------------------------------------------------------------
t0=$(now)
"$BUILD/gen_csv" "$FILE" --rows "$ROWS" --seed "$SEED"
t1=$(now)
gen_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
say "generated $ROWS rows ($(du -m "$FILE" | cut -f1) MB) in ${gen_s}s: $(rate "$ROWS" "$gen_s") rows/s"

# --- a throwaway cluster ---------------------------------------------------------------------
unset DATABASE_URL PGHOST PGPORT PGDATABASE PGUSER PGSERVICE
export EVENTS_ENV_FILE=/dev/null
VAR_DIR=$(mktemp -d /tmp/events-bench.XXXXXX)
chmod 755 "$VAR_DIR"
export VAR_DIR
cleanup() {
	trap - EXIT INT TERM
	if [ "${KEEP:-0}" = 1 ]; then
		say "kept the cluster under $VAR_DIR (stop: VAR_DIR=$VAR_DIR tools/stack.sh pg-stop)"
		return
	fi
	"$STACK" pg-stop >/dev/null 2>&1 || warn "pg-stop failed"
	local pgdir=$VAR_DIR/pg
	[ ! -L "$pgdir" ] || rm -rf -- "$(readlink -- "$pgdir")"
	rm -rf -- "$VAR_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$STACK" migrate >"$VAR_DIR/migrate.log" 2>&1 || { cat "$VAR_DIR/migrate.log" >&2; die "could not start PostgreSQL"; }
eval "$("$STACK" env)"
export DATABASE_URL

psql_q() { "$STACK" psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# --- 1. ceiling ------------------------------------------------------------------------------
psql_q -c "CREATE UNLOGGED TABLE bench_ceiling (event_id uuid, occurred_at timestamptz,
	user_id text, event_type text, properties jsonb)" -c CHECKPOINT
t0=$(now)
psql_q -c "\\copy bench_ceiling FROM '$FILE' WITH (FORMAT csv, HEADER true)"
t1=$(now)
ceil_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
psql_q -c "DROP TABLE bench_ceiling" -c CHECKPOINT

# --- 2. fresh load, 3. reload ----------------------------------------------------------------
args=()
[ -z "${BATCH:-}" ] || args=(--batch-size "$BATCH")
load() {
	local t0 t1 out
	t0=$(now)
	out=$("$BUILD/import_events" "$FILE" "${args[@]}" | tail -n 1)
	t1=$(now)
	printf '%s\n' "$out" >&2
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
fresh_s=$(load)
psql_q -c CHECKPOINT
reload_s=$(load)

# --- report ----------------------------------------------------------------------------------
ceil_r=$(rate "$ROWS" "$ceil_s")
fresh_r=$(rate "$ROWS" "$fresh_s")
reload_r=$(rate "$ROWS" "$reload_s")
printf '\n%-34s %10s %12s %8s\n' "load of $ROWS rows" seconds rows/s ratio
printf '%-34s %10.2f %12s %8s\n' "ceiling: COPY into UNLOGGED table" "$ceil_s" "$ceil_r" 1.00
printf '%-34s %10.2f %12s %8.2f\n' "import_events, empty store" "$fresh_s" "$fresh_r" \
	"$(awk -v a="$fresh_r" -v b="$ceil_r" 'BEGIN { print a / b }')"
printf '%-34s %10.2f %12s %8.2f\n' "import_events, all duplicates" "$reload_s" "$reload_r" \
	"$(awk -v a="$reload_r" -v b="$ceil_r" 'BEGIN { print a / b }')"
printf '(targets: fresh >= 0.60 of the ceiling, reload >= fresh)\n'
