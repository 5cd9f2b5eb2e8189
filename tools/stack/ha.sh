# shellcheck shell=bash
# HA=1: the embedded database as a pg_auto_failover 2.0 formation on this machine: a monitor
# and two data nodes (node_a, node_b; one primary, one synchronous standby), each run by its
# own "pg_autoctl run" as the postgres account. Sourced by tools/stack.sh after pg.sh.
#
# Layout, under the cluster's directory $(pg_dir) (VAR_DIR/pg or its /tmp alternative):
#   ha/ports.env             the three TCP ports on 127.0.0.1, picked once
#   ha/pgpass                passwords of autoctl_node and pgautofailover_replicator (0600,
#                            postgres); pg_autoctl and the servers find it through PGPASSFILE
#   ha/xdg/                  pg_autoctl's configuration, state and pid files (XDG_* dirs)
#   monitor/ node_a/ node_b/ the three data directories
#   sock/ (pg_sock_dir)      one socket directory for all three (ports tell them apart)
# Who may connect: over the socket, peer authentication through the same map as one cluster
# (pg_auth) plus "postgres" for pg_autoctl; over 127.0.0.1, only the replication role and the
# monitor's roles, with scram-sha-256 passwords (never trust: other local accounts reach
# 127.0.0.1).

HA_NODES='node_a node_b'

ha_dir() { printf '%s/ha' "$(pg_dir)"; }

# ha_on: this VAR_DIR runs (or is asked to run) the formation.
ha_on() { [ "${HA:-0}" = 1 ] || [ -d "$(pg_dir)/monitor" ]; }

ha_port() { sed -n "s/^$1=//p" "$(ha_dir)/ports.env" 2>/dev/null; }

# ha_env: the environment every pg_autoctl call and server needs (config dirs, passwords).
ha_env() {
	local h
	h=$(ha_dir)
	printf '%s\n' env "PATH=$(pg_bin):/usr/bin:/bin" "XDG_CONFIG_HOME=$h/xdg/config" \
		"XDG_DATA_HOME=$h/xdg/data" "XDG_RUNTIME_DIR=$h/xdg/run" "PGPASSFILE=$h/pgpass" \
		"PGHOST=$(pg_sock_dir)"
}

# autoctl ARGS...: pg_autoctl as the cluster's owner, in the formation's environment.
autoctl() {
	local -a e
	mapfile -t e < <(ha_env)
	as_pg "${e[@]}" pg_autoctl "$@"
}

ha_monitor_uri() {
	printf 'postgres://autoctl_node@127.0.0.1:%s/pg_auto_failover?sslmode=disable' "$(ha_port monitor)"
}

# ha_prepare: directories, ports and passwords, made once.
ha_prepare() {
	local h d p
	pg_prepare
	h=$(ha_dir)
	mkdir -p "$h/xdg/config" "$h/xdg/data" "$h/xdg/run"
	chmod 0700 "$h" "$h/xdg" "$h/xdg"/*
	if [ ! -s "$h/ports.env" ]; then
		for d in monitor $HA_NODES; do
			p=$(free_port) || die "no free TCP port for the $d"
			grep -q "=$p\$" "$h/ports.env" 2>/dev/null && p=$(free_port)
			echo "$d=$p" >>"$h/ports.env"
		done
	fi
	if [ ! -s "$h/pgpass" ]; then
		local node repl
		node=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
		repl=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
		umask 077
		printf '127.0.0.1:*:pg_auto_failover:autoctl_node:%s\n127.0.0.1:*:*:pgautofailover_replicator:%s\n127.0.0.1:*:*:pgautofailover_monitor:%s\n' \
			"$node" "$repl" "$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')" >"$h/pgpass"
		umask 022
	fi
	chmod 0600 "$h/pgpass"
	! is_root || chown -R "$PG_USER:" "$h"
}

ha_password() { sed -n "s/^127\.0\.0\.1:\*:[^:]*:$1://p" "$(ha_dir)/pgpass"; }

# ha_hba DATA KIND: pg_hba.conf of a data node or the monitor. Written before pg_autoctl first
# starts the server (its own initdb would leave "trust" for 127.0.0.1) and at every start.
ha_hba() {
	local data=$1 kind=$2
	if [ "$kind" = monitor ]; then
		{
			echo "# written by tools/stack.sh (HA) at every start; edits are lost"
			echo "local   all               postgres                  peer"
			echo "host    pg_auto_failover  autoctl_node  127.0.0.1/32 scram-sha-256"
		} >"$data/pg_hba.conf.new"
		chmod 0600 "$data/pg_hba.conf.new"
		! is_root || chown "$PG_USER:" "$data/pg_hba.conf.new"
		mv -f "$data/pg_hba.conf.new" "$data/pg_hba.conf"
		return 0
	fi
	pg_auth "$data"
	{
		echo "host    replication  pgautofailover_replicator  127.0.0.1/32  scram-sha-256"
		# the standby's set-up (events) and pg_rewind (postgres) connect as the replicator too
		echo "host    events       pgautofailover_replicator  127.0.0.1/32  scram-sha-256"
		echo "host    postgres     pgautofailover_replicator  127.0.0.1/32  scram-sha-256"
		echo "host    all          pgautofailover_monitor     127.0.0.1/32  scram-sha-256"
	} >>"$data/pg_hba.conf"
	printf 'events  %s  postgres\n' "$PG_USER" >>"$data/pg_ident.conf"
}

# ha_conf DATA KIND: our settings, included after pg_auto_failover's (later lines win): the
# tuning of a single cluster on the data nodes (pg_autoctl would size shared_buffers for a
# machine of its own), a small monitor, and on the monitor failure detection in seconds
# (defaults: a health check every 5 s, a node unhealthy after 20 s, 30 s for a demotion).
ha_conf() {
	local data=$1 kind=$2 f=$1/events-ha.conf
	{
		echo "# written by tools/stack.sh (HA) at every start; edits are lost"
		echo "unix_socket_directories = '$(pg_sock_dir)'"
		if [ "$kind" = monitor ]; then
			echo "shared_buffers = '32MB'"
			echo "pgautofailover.health_check_period = 1000"
			echo "pgautofailover.health_check_timeout = 1000"
			echo "pgautofailover.health_check_max_retries = 2"
			echo "pgautofailover.health_check_retry_delay = 500"
			echo "pgautofailover.node_considered_unhealthy_timeout = ${HA_UNHEALTHY_MS:-5000}"
			# how long the monitor waits for a silent primary to have demoted itself before
			# it promotes the standby: above the keepers' network_partition_timeout (ha_run)
			echo "pgautofailover.primary_demote_timeout = 10000"
		else
			pg_tuning | sed -e 's/-c /\n/g' | sed -n 's/^\([a-z_]*\)=\(.*\) *$/\1 = '"'"'\2'"'"'/p' | sed "s/ *'$/'/"
		fi
	} >"$f"
	! is_root || chown "$PG_USER:" "$f"
	grep -q "^include 'events-ha.conf'" "$data/postgresql.conf" ||
		echo "include 'events-ha.conf'" >>"$data/postgresql.conf"
}

# ha_initdb DATA SUPERUSER: an empty cluster with peer authentication only, before pg_autoctl
# takes it over.
ha_initdb() {
	as_pg "$(pg_bin)/initdb" -D "$1" -U "$2" -A peer -E UTF8 --locale=C \
		>>"$LOG_DIR/initdb.log" 2>&1 || {
		tail_log "$LOG_DIR/initdb.log"
		die "initdb failed"
	}
}

# ha_keeper_pid NAME: the pid of the "pg_autoctl run" of monitor, node_a or node_b, if alive.
ha_keeper_pid() {
	local f
	f=$(find "$(ha_dir)/xdg/run" -name pg_autoctl.pid -path "*/$1/*" 2>/dev/null | head -n 1)
	[ -n "$f" ] || return 0
	live_pid "$f" pg_autoctl
}

# ha_run NAME: start "pg_autoctl run" for one instance in the background (its own session).
ha_run() {
	local name=$1 data log
	data=$(pg_dir)/$name
	[ -z "$(ha_keeper_pid "$name")" ] || return 0
	log=$LOG_DIR/ha-$name.log
	touch "$log"
	! is_root || chown "$PG_USER:" "$log"
	local kind=node
	[ "$name" != monitor ] || kind=monitor
	ha_hba "$data" "$kind"
	ha_conf "$data" "$kind"
	autoctl config set --pgdata "$data" postgresql.listen_addresses 127.0.0.1 >/dev/null 2>&1 || true
	# a primary that reaches neither the monitor nor its standby for this long demotes itself
	# (default 20 s): below the monitor's primary_demote_timeout (ha_conf), so that a primary
	# cut off from the others has stopped before the standby is promoted
	[ "$kind" = monitor ] || autoctl config set --pgdata "$data" timeout.network_partition_timeout 8 >/dev/null 2>&1 ||
		warn "could not set the network partition timeout of $name"
	local -a e
	mapfile -t e < <(ha_env)
	as_pg setsid -f "${e[@]}" pg_autoctl run --pgdata "$data" >>"$log" 2>&1 </dev/null
}

# ha_wait_sql NAME SQL WANT SECONDS: wait until SQL on the instance's socket answers WANT.
ha_wait_sql() {
	local name=$1 sql=$2 want=$3 n=$(($4 * 5)) db=events got=''
	[ "$name" != monitor ] || db=pg_auto_failover
	while ((n-- > 0)); do
		got=$(as_pg "$(pg_bin)/psql" -X -tAq -h "$(pg_sock_dir)" -p "$(ha_port "$name")" \
			-U postgres -d "$db" -c "$sql" 2>/dev/null) || got=''
		[ "$got" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}

ha_monitor_sql() {
	as_pg "$(pg_bin)/psql" -X -tAq -v ON_ERROR_STOP=1 -h "$(pg_sock_dir)" -p "$(ha_port monitor)" \
		-U postgres -d pg_auto_failover -c "$1"
}

ha_create_monitor() {
	local data
	data=$(pg_dir)/monitor
	say "creating the pg_auto_failover monitor in $data (port $(ha_port monitor))"
	ha_initdb "$data" postgres
	ha_hba "$data" monitor
	ha_conf "$data" monitor
	autoctl create monitor --pgdata "$data" --pgport "$(ha_port monitor)" --hostname 127.0.0.1 \
		--pgctl "$(pg_bin)/pg_ctl" --skip-pg-hba --no-ssl \
		>>"$LOG_DIR/ha-monitor.log" 2>&1 || {
		tail_log "$LOG_DIR/ha-monitor.log"
		die "pg_autoctl create monitor failed"
	}
}

# ha_create_node NAME: register a data node: the first one becomes the primary (on a cluster
# made by our initdb, whose superuser is postgres, the role pg_autoctl connects as), the next
# one a standby cloned from it.
ha_create_node() {
	local name=$1 data
	data=$(pg_dir)/$name
	say "creating data node $name in $data (port $(ha_port "$name"))"
	[ "$name" != node_a ] || ha_initdb "$data" postgres
	if [ -s "$data/PG_VERSION" ]; then
		ha_hba "$data" node
		ha_conf "$data" node
	fi
	autoctl create postgres --pgdata "$data" --pgport "$(ha_port "$name")" \
		--pghost "$(pg_sock_dir)" --listen 127.0.0.1 --hostname 127.0.0.1 --name "$name" \
		--dbname events --monitor "$(ha_monitor_uri)" \
		--pgctl "$(pg_bin)/pg_ctl" --skip-pg-hba --no-ssl \
		>>"$LOG_DIR/ha-$name.log" 2>&1 || {
		tail_log "$LOG_DIR/ha-$name.log"
		die "pg_autoctl create postgres ($name) failed"
	}
}

# ha_set_password INSTANCE ROLE: the role's password (from pgpass) set on that instance, over
# our peer-authenticated socket; the statement does not reach the server's log.
ha_set_password() {
	local name=$1 role=$2 user=postgres db=events
	[ "$name" != monitor ] || user=postgres db=pg_auto_failover
	printf "SET log_statement = 'none'; ALTER ROLE %s PASSWORD '%s';\n" "$role" "$(ha_password "$role")" |
		as_pg "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pg_sock_dir)" -p "$(ha_port "$name")" \
			-U "$user" -d "$db" >/dev/null || die "could not set the password of $role on $name"
}

# ha_owner_role: the owner role "events" of a single cluster (there the bootstrap superuser;
# here made by us, since the formation's is postgres): migrations and make psql use it.
ha_owner_role() {
	echo "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'events') THEN
		CREATE ROLE events SUPERUSER LOGIN; END IF; END \$\$; ALTER DATABASE events OWNER TO events;" |
		as_pg "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pg_sock_dir)" -p "$(ha_port node_a)" \
			-U postgres -d postgres >/dev/null || die "could not create the owner role events"
}

# ha_primary: the name of the node the monitor calls primary now (empty when none).
ha_primary() {
	ha_monitor_sql "SELECT nodename FROM pgautofailover.node WHERE reportedstate IN
		('single', 'primary', 'wait_primary') AND goalstate = reportedstate LIMIT 1" 2>/dev/null || true
}

# ha_wait_states SECONDS WANT: wait until the formation's sorted reported states are WANT.
ha_wait_states() {
	local n=$(($1 * 2)) got=''
	while ((n-- > 0)); do
		got=$(ha_monitor_sql "SELECT string_agg(reportedstate::text, ',' ORDER BY reportedstate::text)
			FROM pgautofailover.node WHERE reportedstate = goalstate" 2>/dev/null) || got=''
		[ "$got" = "$2" ] && return 0
		sleep 0.5
	done
	say "formation not in states $2 after $1 s (now: ${got:-unknown})"
	return 1
}

ha_registered() { [ -s "$(pg_dir)/$1/PG_VERSION" ] && [ -n "$(find "$(ha_dir)/xdg/config" -path "*/$1/pg_autoctl.cfg" 2>/dev/null)" ]; }

# ha_start: the formation up (created on first use), with a writable primary and, on first
# creation, its synchronous standby streaming.
ha_start() {
	local dir
	dir=$(pg_dir)
	if [ -s "$dir/data/PG_VERSION" ]; then
		die "$dir/data holds a single-node cluster; HA=1 needs a new VAR_DIR (or make stop and remove $dir)"
	fi
	ha_prepare
	[ -s "$dir/monitor/PG_VERSION" ] || ha_create_monitor
	ha_run monitor
	ha_wait_sql monitor 'SELECT 1' 1 30 || die "the monitor did not start (log: $LOG_DIR/ha-monitor.log)"
	ha_set_password monitor autoctl_node
	local fresh=0
	if ! ha_registered node_a; then
		ha_create_node node_a
		fresh=1
	fi
	ha_run node_a
	if ((fresh)); then
		ha_wait_sql node_a 'SELECT 1' 1 60 || die "node_a did not start (log: $LOG_DIR/ha-node_a.log)"
		ha_set_password node_a pgautofailover_replicator
		ha_set_password node_a pgautofailover_monitor
		ha_owner_role
	fi
	if ! ha_registered node_b; then
		ha_create_node node_b
		fresh=1
	fi
	ha_run node_b
	if ((fresh)); then
		ha_wait_states 120 primary,secondary || die "the formation did not reach primary + secondary"
	else
		ha_wait_writable 60 || die "the formation has no writable primary after 60 s"
	fi
	say "pg_auto_failover formation up: primary $(ha_primary) (monitor port $(ha_port monitor))"
}

# ha_wait_writable SECONDS: until the multi-host URL reaches a read-write server.
ha_wait_writable() {
	local n=$(($1 * 2))
	while ((n-- > 0)); do
		"$(pg_bin)/psql" -X -tAq "$(embedded_url)" -c 'SELECT 1' >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

# ha_url ROLE: the multi-host URL of both data nodes; libpq takes the first read-write one.
ha_url() {
	local s
	s=$(urlencode "$(pg_sock_dir)")
	printf 'postgresql://%s@/events?host=%s,%s&port=%s,%s&target_session_attrs=read-write' \
		"$1" "$s" "$s" "$(ha_port node_a)" "$(ha_port node_b)"
}
