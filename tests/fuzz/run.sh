#!/usr/bin/env bash
# Run the libFuzzer harnesses built by "make fuzz" for a while each, on a copy of their seed
# corpus (the fuzzer adds what it finds to the copy, never to tests/fuzz/corpus/).
#
#   tests/fuzz/run.sh FUZZ_DIR SECONDS NAME...      (NAME: events fields qs csv)
#
# FUZZ_DIR holds the binaries fuzz_NAME; each run leaves FUZZ_DIR/NAME.log, the grown corpus
# FUZZ_DIR/corpus-NAME and, after a failure, the input that failed in FUZZ_DIR/artifacts-NAME/.
# FUZZ_JOBS harnesses run at once (default: the number of CPUs, at most 4). Exit status 1 when
# any harness found a crash, a leak or a time-out; its log tail and input are printed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIB_PROG=fuzz
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

take_args "tests/fuzz/run.sh FUZZ_DIR SECONDS NAME..." 3 DIR SECONDS_EACH -- "$@"
shift 2
[[ $SECONDS_EACH =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a whole number of seconds, not '$SECONDS_EACH'"
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
((JOBS > 4)) && JOBS=4
((JOBS >= 1)) || JOBS=1

# fuzz_one NAME: one harness for SECONDS_EACH; writes its exit status to DIR/NAME.rc.
fuzz_one() {
	local name=$1 rc=0
	local bin=$DIR/fuzz_$name corpus=$DIR/corpus-$name art=$DIR/artifacts-$name
	rm -rf -- "$corpus" "$art"
	cp -R -- "$ROOT/tests/fuzz/corpus/$name" "$corpus"
	mkdir -p -- "$art"
	# Leaks count as failures (libFuzzer checks each input that allocated more than it freed).
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS} \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$bin" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-detect_leaks=1 -print_final_stats=1 -artifact_prefix="$art/" "$corpus" \
		>"$DIR/$name.log" 2>&1 || rc=$?
	echo "$rc" >"$DIR/$name.rc"
}

for name in "$@"; do
	[ -x "$DIR/fuzz_$name" ] || die "not built: $DIR/fuzz_$name"
	[ -d "$ROOT/tests/fuzz/corpus/$name" ] || die "no seed corpus: tests/fuzz/corpus/$name"
	rm -f -- "$DIR/$name.rc"
done

say "fuzzing $* for $SECONDS_EACH s each, $JOBS at a time"
running=0
for name in "$@"; do
	if ((running >= JOBS)); then
		wait -n || true
		running=$((running - 1))
	fi
	fuzz_one "$name" &
	running=$((running + 1))
done
wait

failed=0
for name in "$@"; do
	rc=$(cat "$DIR/$name.rc" 2>/dev/null || echo '?')
	done_line=$(grep -a '^Done [0-9]* runs' "$DIR/$name.log" | tail -n 1 || true)
	corpus_n=$(find "$DIR/corpus-$name" -type f | wc -l)
	if [ "$rc" = 0 ] && [ -n "$done_line" ]; then
		say "$name: ${done_line#Done } (corpus now $corpus_n inputs)"
		continue
	fi
	failed=1
	say "$name: FAILED (exit $rc); log $DIR/$name.log"
	tail -n 60 "$DIR/$name.log" >&2
	for f in "$DIR/artifacts-$name"/*; do
		[ -f "$f" ] || continue
		say "$name: failing input $f ($(stat -c %s "$f") bytes); as a regression:"
		say "  cp $f tests/fuzz/corpus/$name/regress-$(basename "$f")"
		od -c "$f" | head -n 20 >&2
	done
done
exit "$failed"
