#!/usr/bin/env bash
# The cluster leg of make test (make integration-cluster): ONE Citus cluster (a coordinator and
# 2 workers, NODES=3) started once, and on it, one after the other:
#   1. the integration suites (build/test_integration) but those that start whole stacks of
#      their own per test or check nothing of the database (CLUSTER_SKIP below);
#   2. tests/cluster/worker_down.sh: a worker stopped and started under HTTP ingest;
#   3. tests/cluster/load_overlap.sh: a bulk load and HTTP ingest of the same events at once;
#   4. tests/cluster/add_node.sh: a third worker added and shards moved onto it under ingest.
# Then, on a single-node stack of its own, tests/cluster/move_store.sh (a populated store moved
# to a cluster). Exit status: the first failure's, after everything ran.
#
#   tests/cluster/leg.sh   [BUILD=build]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIB_PROG=cluster-leg
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
no_args "$@"
BUILD=$(realpath -- "${BUILD:-$ROOT/build}")

# Not on the cluster: zy_faults and zz_db_outage stop the PostgreSQL of a whole stack started
# per test (a cluster's faults are worker_down.sh); zx_sync_wait needs a synchronous standby
# (HA); slowloris and hostile's malformed requests test nginx and the request parser, which
# never reach the database; export's 1M-event test measures the worker's memory, not the store (the export's
# streaming from the shards is tested by the other export tests).
CLUSTER_SKIP='@(zx_sync_wait|zy_faults|zz_db_outage|slowloris)/*|hostile/malformed_requests'
CLUSTER_SKIP+='|export/million_events_flat_memory'
# single-node plans: on a cluster the coordinator sorts what the shards send (Citus has no
# merge of ordered shard streams), so an export's order costs a sort of the range there
# (README "Scale-out", limits); the shards' own plans use their time index
CLUSTER_SKIP+='|lifecycle_plans/export_reads_its_order_from_an_index'
CLUSTER_SKIP+='|lifecycle_plans/prune_finds_the_oldest_through_an_index'
# the random mix of every zone, filter and window against SQL recomputations over the whole
# events table: each recomputation is a query across every shard (seconds each on a cluster
# here, ~100 of them); the summaries it checks are the coordinator's tables that the same
# merge feeds on one node, and the cluster runs the zones suite's other tests and the
# consistency suite's concurrent mixes
CLUSTER_SKIP+='|zones/random_mix_equals_recomputation'

keep_rc() { ((rc != 0)) || rc=$1; } # the first failure's status

if [ -z "${EVENTS_BASE_URL:-}" ]; then
	"$ROOT/tools/citus.sh" ensure
	rc=0
	start=$SECONDS
	NODES=3 "$ROOT/tests/integration/run.sh" --cmd "BUILD=$BUILD tests/cluster/leg.sh" || keep_rc $?
	say "cluster: suites, worker down, load overlap, add node: exit $rc after $((SECONDS - start)) s"
	t=$SECONDS
	"$ROOT/tests/cluster/move_store.sh" || keep_rc $?
	say "move store: done after $((SECONDS - t)) s; the leg took $((SECONDS - start)) s"
	exit "$rc"
fi

rc=0
t=$SECONDS
# --jobs 1 as in tests/integration/run.sh: suites compare counters and counts of the one store
"$BUILD/test_integration" --jobs 1 --filter "!($CLUSTER_SKIP)" || keep_rc $?
say "integration suites on the cluster: exit $rc after $((SECONDS - t)) s"
for s in worker_down load_overlap add_node; do
	t=$SECONDS
	"$ROOT/tests/cluster/$s.sh" || keep_rc $?
	say "$s: done after $((SECONDS - t)) s"
done
exit "$rc"
