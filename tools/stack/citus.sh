# shellcheck shell=bash
# The embedded Citus cluster (NODES > 1): the stack's own PostgreSQL becomes the coordinator and
# NODES - 1 workers run beside it, each a PostgreSQL of its own under $(pg_dir)/nodes/wN with
# its data and its unix socket directory. The nodes talk to each other over those sockets (a
# node's name in Citus is its socket directory), authenticated by the same peer map as the
# coordinator (pg_auth): the server's OS account may act as the store's roles, because Citus
# connects to a worker as the role of the session it works for. No TCP anywhere.
# Sourced by tools/stack.sh after pg.sh.

NODES=${NODES:-1}
[[ $NODES =~ ^[1-9][0-9]?$ ]] || die "NODES=$NODES: expected the number of PostgreSQL nodes, 1..99"

citus_nodes_dir() { printf '%s/nodes' "$(pg_dir)"; }

# citus_workers: the numbers of the workers that exist (made by up or add-node), in order.
citus_workers() {
	local d
	for d in "$(citus_nodes_dir)"/w*; do
		[ -d "$d/data" ] && printf '%s\n' "${d##*/w}"
	done | sort -n
}

# citus_on: this stack is (or is to become) a Citus cluster.
citus_on() { [ -z "$EXTERNAL_DB" ] && { ((NODES > 1)) || [ -n "$(citus_workers)" ]; }; }

# citus_pg_settings: the server options every node of a cluster needs: Citus loaded at start,
# logical WAL for the rebalancer's shard moves, background workers for Citus's maintenance
# daemon and the rebalancer, and room for the coordinator's connections on the workers.
citus_pg_settings() {
	citus_on || return 0
	printf -- " -c shared_preload_libraries=citus -c wal_level=logical -c max_worker_processes=32"
	printf -- " -c max_connections=300 -c citus.node_conninfo=sslmode=disable"
	# how a node reaches itself (the rebalancer's background jobs connect back): its socket
	# directory, not the default localhost over TCP; a worker's start overrides it with its own
	printf -- " -c citus.local_hostname=%s" "$(pg_sock_dir)"
}

# citus_ident_lines: extra peer-map lines on every node of a cluster: the server's own account
# (the coordinator's connections to the workers and to itself) as any of the store's roles.
citus_ident_lines() {
	citus_on && is_root || return 0
	printf 'events  %s  events\nevents  %s  events_app\nevents  %s  events_ro\n' "$PG_USER" "$PG_USER" "$PG_USER"
}

citus_port() { printf '%s' $((PG_PORT + $1)); }
citus_sock() { printf '%s/w%s/sock' "$(citus_nodes_dir)" "$1"; }

# citus_psql N SQL...: run SQL on node N (0 = the coordinator) as the owner, database events
# (postgres before it exists).
citus_psql() {
	local n=$1 db=${CITUS_DB:-events} host port
	shift
	if ((n == 0)); then host=$(pg_sock_dir) port=$PG_PORT; else host=$(citus_sock "$n") port=$(citus_port "$n"); fi
	"$(pg_bin "$(pg_dir)/data")/psql" -X -q -tA -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U events -d "$db" "$@"
}

citus_worker_pid() { live_pid "$(citus_nodes_dir)/w$1/data/postmaster.pid" postgres; }

# citus_worker_start N: initdb (first time) and start worker N.
citus_worker_start() {
	local n=$1 dir data sock bin log
	dir=$(citus_nodes_dir)/w$n
	data=$dir/data
	sock=$(citus_sock "$n")
	[ -z "$(citus_worker_pid "$n")" ] || return 0
	bin=$(pg_bin "$(pg_dir)/data")
	mkdir -p "$dir" "$sock"
	chmod 0700 "$dir" "$sock"
	! is_root || chown -R "$PG_USER:" "$dir"
	chmod 0755 "$(citus_nodes_dir)"
	if [ ! -s "$data/PG_VERSION" ]; then
		say "creating Citus worker node w$n in $data"
		pg_initdb "$bin" "$data" "initdb of worker w$n failed"
	fi
	pg_auth "$data"
	log=$dir/postgres.log
	rm -f "$sock/.s.PGSQL.$(citus_port "$n")"*
	if ! as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 30 \
		-o "-c listen_addresses='' -c unix_socket_directories='$sock' -c port=$(citus_port "$n") $(pg_tuning) -c citus.local_hostname=$sock" \
		start >/dev/null; then
		tail_log "$log"
		die "Citus worker w$n did not start (log: $log)"
	fi
	ln -sfn "$log" "$LOG_DIR/postgres-w$n.log"
}

# citus_node_ready N: database events and the citus extension on node N.
citus_node_ready() {
	local n=$1
	[ "$(CITUS_DB=postgres citus_psql "$n" -c "SELECT 1 FROM pg_database WHERE datname = 'events'")" = 1 ] ||
		CITUS_DB=postgres citus_psql "$n" -c 'CREATE DATABASE events' || die "CREATE DATABASE on node $n failed"
	citus_psql "$n" -c 'SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS citus' ||
		die "CREATE EXTENSION citus on node $n failed (is Citus installed? tools/citus.sh ensure)"
}

# citus_register N: worker N in the coordinator's metadata (once).
citus_register() {
	local n=$1 sock port
	sock=$(citus_sock "$n") port=$(citus_port "$n")
	[ "$(citus_psql 0 -c "SELECT count(*) FROM pg_dist_node WHERE nodename = '$sock' AND nodeport = $port")" = 0 ] ||
		return 0
	citus_psql 0 -c "SELECT citus_add_node('$sock', $port)" >/dev/null || die "citus_add_node of w$n failed"
	say "Citus worker w$n registered ($sock)"
}

# citus_login_roles: the login roles of pg_login_roles on every worker too. Citus creates a
# role on the workers when it is made through the coordinator with Citus loaded, not one that
# existed before (a single-node store moved to a cluster), and it connects to a worker as the
# session's role: events_app must exist there. The group roles come with the tables' grants.
citus_login_roles() {
	citus_on || return 0
	local n
	for n in $(citus_workers); do
		citus_psql "$n" >/dev/null <<<"SET citus.enable_ddl_propagation = off;
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_writer') THEN CREATE ROLE events_writer NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_reader') THEN CREATE ROLE events_reader NOLOGIN; END IF;
END \$\$;
$PG_LOGIN_ROLES_SQL" || die "could not create the login roles on worker w$n"
	done
}

# citus_start: after the coordinator started: its workers (NODES - 1, or as many as exist),
# the extension everywhere, the coordinator's own address, the workers registered.
citus_start() {
	citus_on || return 0
	"$ROOT/tools/citus.sh" ensure || die "Citus is not available"
	local n
	for ((n = 1; n < NODES; n++)); do citus_worker_start "$n"; done
	for n in $(citus_workers); do citus_worker_start "$n"; done
	citus_node_ready 0
	citus_psql 0 -c "SELECT citus_set_coordinator_host('$(pg_sock_dir)', $PG_PORT)" >/dev/null ||
		die "citus_set_coordinator_host failed"
	for n in $(citus_workers); do
		citus_node_ready "$n"
		citus_register "$n"
	done
}

citus_worker_stop() {
	local n=$1 pid
	pid=$(citus_worker_pid "$n")
	[ -n "$pid" ] || return 0
	as_pg "$(pg_bin "$(pg_dir)/data")/pg_ctl" -D "$(citus_nodes_dir)/w$n/data" -m fast -w -t 30 stop >/dev/null ||
		warn "pg_ctl stop of worker w$n failed; pid $pid may still run"
	say "stopped Citus worker w$n (pid $pid)"
}

citus_stop() {
	local n
	for n in $(citus_workers); do citus_worker_stop "$n"; done
}

# citus_node CMD N: node-stop / node-start of worker N alone (fault tests, maintenance).
citus_node() {
	local n=${2#w}
	[[ $n =~ ^[0-9]+$ ]] && [ -d "$(citus_nodes_dir)/w$n/data" ] || die "no Citus worker '${2:-}' under $VAR_DIR"
	case $1 in
	stop) citus_worker_stop "$n" ;;
	start) citus_worker_start "$n" ;;
	esac
}

# citus_add_node: one more worker, registered, then the shards rebalanced onto it by Citus's
# background rebalancer; returns when the moves are done.
citus_add_node() {
	local n last
	last=$(citus_workers | tail -n 1)
	n=$((${last:-0} + 1))
	citus_worker_start "$n"
	citus_node_ready "$n"
	citus_register "$n"
	say "rebalancing shards onto w$n (background rebalancer)"
	citus_psql 0 -c "SELECT citus_rebalance_start()" >/dev/null || die "citus_rebalance_start failed"
	citus_psql 0 -c "SELECT citus_rebalance_wait()" >/dev/null || die "the rebalance did not finish"
	say "rebalance done"
}

# citus_status: the nodes and where each distributed table's shards are.
citus_status() {
	local n pid
	for n in $(citus_workers); do
		if pid=$(citus_worker_pid "$n") && [ -n "$pid" ]; then
			say "worker w$n:   running (pid $pid, socket dir $(citus_sock "$n"))"
		else
			say "worker w$n:   not running"
		fi
	done
	[ -n "$(pg_pid)" ] || return 0
	citus_psql 0 -F ' ' -c "SELECT 'node ' || nodename || ':' || nodeport || CASE WHEN isactive THEN '' ELSE ' (inactive)' END ||
		' shards ' || (SELECT count(*) FROM pg_dist_placement p WHERE p.groupid = n.groupid) FROM pg_dist_node n ORDER BY nodeid" >&2 || true
	citus_psql 0 -F ' ' -c "SELECT 'table ' || table_name || ': ' || string_agg(nodename || ':' || nodeport || ' ' || shards, ', ')
		FROM (SELECT table_name::text, nodename, nodeport, count(*) AS shards FROM citus_shards GROUP BY 1, 2, 3) s
		GROUP BY table_name ORDER BY table_name" >&2 || true
}
