#!/usr/bin/env bash
# Memory soak: one worker (WORKERS=1, so it takes every request) gets WARMUP requests of the
# mixed workload (tests/soak/mixed.lua), then the rest up to TOTAL; its RSS after the rest
# must be within MAX_GROWTH_KB of its RSS after the warm-up ("nothing grows across requests").
#
#   tests/soak/rss.sh WARMUP TOTAL [MAX_GROWTH_KB]     (make rss: 10k + 100k; make soak: 1M)
#
# Starts its own throwaway stack through tests/integration/run.sh (BUILD selects the
# binaries). Prints the RSS after the warm-up and after every further CHUNK requests.
# Settings: RSS_CHUNK (100000), RSS_LIGHT (150: requests that do not reach the database per
# round of every kind, see mixed.lua), RSS_CONNECTIONS (4). Exit status 1 when the RSS grew
# more, the worker was replaced, or a request failed (socket error or 5xx).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIB_PROG=rss
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

take_args "tests/soak/rss.sh WARMUP TOTAL [MAX_GROWTH_KB]" 2 WARMUP TOTAL MAX_KB -- "$@"
MAX_KB=${MAX_KB:-300}
CHUNK=${RSS_CHUNK:-100000}
LIGHT=${RSS_LIGHT:-150}
CONNS=${RSS_CONNECTIONS:-4}
for v in "$WARMUP" "$TOTAL" "$MAX_KB" "$CHUNK" "$LIGHT" "$CONNS"; do
	[[ $v =~ ^[0-9]+$ ]] || die "not a whole number: $v"
done
((TOTAL > WARMUP && CHUNK > 0 && CONNS > 0)) || die "need TOTAL > WARMUP, RSS_CHUNK > 0"
command -v wrk >/dev/null || die "wrk not installed (run: tools/deps.sh test)"

# Outside a stack: start one (one worker, no rate limit for 127.0.0.1) and run again inside.
# Commits need not reach the disk here: synchronous_commit off (libpq PGOPTIONS) keeps the
# ingestion requests from waiting on fsync, so the soak measures the worker, not the disk.
if [ -z "${EVENTS_BASE_URL:-}" ]; then
	export WORKERS=1 RATE_LIMIT_EXEMPT=127.0.0.1 PGOPTIONS='-c synchronous_commit=off'
	exec "$ROOT/tests/integration/run.sh" --cmd "tests/soak/rss.sh $WARMUP $TOTAL $MAX_KB"
fi

worker=$(pgrep -P "$EVENTS_POOL_PID" -f -- '--worker' | head -n 1 || true)
[ -n "$worker" ] || die "no worker process under pool pid $EVENTS_POOL_PID"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$worker/status"; }

# drive N: N more requests of the mixed workload; fails on socket errors and 5xx answers.
drive() {
	local out line
	out=$(wrk -t1 -c"$CONNS" -d3600s --timeout 10s -s "$ROOT/tests/soak/mixed.lua" \
		"$EVENTS_BASE_URL" -- "$1" "$LIGHT") || die "wrk failed: $out"
	line=$(grep '^MIXED ' <<<"$out") || die "no MIXED line from wrk: $out"
	if grep -q '"socket_errors":[1-9]\|"5[0-9][0-9]":' <<<"$line"; then
		die "failed requests: $line"
	fi
	DONE=$((DONE + $(sed 's/.*"requests":\([0-9]*\).*/\1/' <<<"$line")))
	STATUS=$line
}

DONE=0
start=$(date +%s)
drive "$WARMUP"
base=$(rss_kb)
say "worker $worker: RSS ${base} KB after $DONE requests (warm-up)"
while ((DONE < TOTAL)); do
	n=$((TOTAL - DONE < CHUNK ? TOTAL - DONE : CHUNK))
	drive "$n"
	kill -0 "$worker" 2>/dev/null || die "worker $worker is gone (crashed or replaced)"
	say "worker $worker: RSS $(rss_kb) KB after $DONE requests ($((DONE / ($(date +%s) - start + 1))) req/s so far)"
done
now=$(rss_kb)
grown=$((now - base))
say "last chunk: ${STATUS#MIXED }"
say "RSS ${base} KB -> ${now} KB after $DONE requests: ${grown} KB (limit ${MAX_KB} KB) in $(($(date +%s) - start)) s"
((grown <= MAX_KB)) || die "the worker's RSS grew by ${grown} KB (more than ${MAX_KB} KB)"
