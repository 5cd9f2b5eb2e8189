#!/usr/bin/env bash
# The local stack: an embedded PostgreSQL cluster, the FastCGI worker pool (spawn-fcgi +
# events-fcgi, its own supervisor) and nginx in front, all living under one VAR_DIR.
#
#   tools/stack.sh up|down|status|reload|migrate|psql|env|pg-start|pg-stop|failover|add-node
#   tools/stack.sh node-stop|node-start wN
#
# pg-start / pg-stop start and stop only the embedded PostgreSQL (outage tests, maintenance).
# With HA=1 (tools/stack/ha.sh) the database is a pg_auto_failover formation: pg-start starts
# whatever of it is not running, "pg-stop [node_a|node_b|monitor]" stops all or some of it,
# "failover" performs a planned switchover, "status" shows the formation's states. For drills
# and tests: ha-primary / ha-standby print a node's name, "ha-wait primary,secondary SECONDS"
# waits for those states, "ha-crash NODE" SIGKILLs that node's processes at once.
# With NODES > 1 (tools/stack/citus.sh) the database is a Citus cluster: add-node adds a worker
# and rebalances the shards onto it; node-stop / node-start stop and start one worker of it
# (fault tests, maintenance).
#
# Settings (environment, then conf/events.env or $EVENTS_ENV_FILE, then defaults):
#   VAR_DIR      <repo>/var         state, logs, sockets, pid files
#   PORT         8000               nginx listen port
#   LISTEN_ADDR  127.0.0.1          nginx listen address
#   WORKERS      8                  FastCGI worker processes (read by events-fcgi; its
#                                   defaults: build/events-fcgi --settings)
#   POOL_USER    eventsd            OS account the workers run as when started as root
#                                   (created as a system account when missing)
#   DATABASE_URL (unset)            an external database; no embedded cluster when set
#   MIGRATE_DATABASE_URL (unset)    with DATABASE_URL: the owning role for migrations (default
#                                   DATABASE_URL itself)
#   BUILD        <repo>/build       where events-fcgi and migrate are
#   PG_BIN       newest /usr/lib/postgresql/*/bin   PostgreSQL server binaries
#   NODES        1                  PostgreSQL nodes: more than 1 makes the embedded database a
#                                   Citus cluster, a coordinator and NODES - 1 workers
#                                   (tools/stack/citus.sh)
#   HA           0                  1: a monitor, a primary and a synchronous standby
#                                   (pg_auto_failover) instead of one cluster; kept by VAR_DIR
#
# Exit status: 0 ok, 1 failure, 3 from "up" when PORT is already taken (everything else is left
# running, so "up" can be retried with another PORT), 3 from "status" when not all is running.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG=stack
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
# One concern per file (tools/stack/): settings and state, where files live, PostgreSQL, the
# worker pool, nginx. This file: the commands.
# shellcheck source=tools/stack/settings.sh
. "$ROOT/tools/stack/settings.sh"
# shellcheck source=tools/stack/ha.sh
. "$ROOT/tools/stack/ha.sh"
# shellcheck source=tools/stack/ha_ops.sh
. "$ROOT/tools/stack/ha_ops.sh"
# shellcheck source=tools/stack/paths.sh
. "$ROOT/tools/stack/paths.sh"
# shellcheck source=tools/stack/pg.sh
. "$ROOT/tools/stack/pg.sh"
# shellcheck source=tools/stack/pool.sh
. "$ROOT/tools/stack/pool.sh"
# shellcheck source=tools/stack/nginx.sh
. "$ROOT/tools/stack/nginx.sh"
# shellcheck source=tools/stack/citus.sh
. "$ROOT/tools/stack/citus.sh"

# --- commands -----------------------------------------------------------------------------

ensure_dirs() {
	mkdir -p "$VAR_DIR" "$RUN_DIR" "$LOG_DIR" "$NGX_DIR"
}

# ensure_db: embedded PostgreSQL running (unless DATABASE_URL is external); exports DATABASE_URL.
ensure_db() {
	if [ -n "$EXTERNAL_DB" ]; then
		:
	elif ha_on; then
		((NODES == 1)) || die "HA=1 and NODES=$NODES: a Citus cluster with failover is not supported"
		ha_start
	else
		pg_start
		citus_start
	fi
	DATABASE_URL=$(database_url)
	export DATABASE_URL
}

run_migrate() {
	[ -x "$BUILD/migrate" ] || die "$BUILD/migrate not built (run: make all)"
	say "applying migrations"
	# an external database: migrations may run as another (owning) role than the pool's
	local url=$DATABASE_URL
	[ -z "$EXTERNAL_DB" ] || url=${MIGRATE_DATABASE_URL:-$DATABASE_URL}
	if ! (cd "$ROOT" && DATABASE_URL=$url "$BUILD/migrate" --dir "$ROOT/migrations"); then
		say "error: migrations failed (DATABASE_URL=$DATABASE_URL)"
		return 1
	fi
	[ -n "$EXTERNAL_DB" ] || pg_login_roles
}

# log_since FILE: what FILE gained since this run of the script began (not an earlier run's
# errors), its last 20 lines.
log_since() {
	local f=$1 key off tmp
	key=$(basename "$f")
	off=${LOG_START[$key]:-0}
	[ -s "$f" ] || return 0
	tmp=$(tail -c +$((off + 1)) -- "$f" | tail -n 20)
	[ -n "$tmp" ] || return 0
	printf -- '----- %s (this start, last lines) -----\n%s\n' "$f" "$tmp" >&2
}

# mark_logs: remember where the logs end now, for log_since.
declare -A LOG_START
mark_logs() {
	local f
	for f in worker.log nginx-error.log; do
		LOG_START[$f]=$(stat -c %s -- "$LOG_DIR/$f" 2>/dev/null || echo 0)
	done
}

print_banner() {
	local url
	url=$(base_url)
	cat >&2 <<EOF
stack: running under $VAR_DIR
  API          $url/
  health       $url/healthz
  metrics      $url/metrics (local only)
  API docs     $url/docs
  dashboard    $url/dashboard
  DATABASE_URL $(database_url)
  logs         $LOG_DIR/{worker,nginx-access,nginx-error,postgres}.log
  stop         make stop      (VAR_DIR=$VAR_DIR tools/stack.sh down)
  SQL shell    make psql
EOF
}

wait_healthy() {
	local url n body=''
	url="$(base_url)/healthz"
	for ((n = 0; n < 50; n++)); do
		if body=$(curl -fsS -m 2 "$url" 2>&1); then return 0; fi
		sleep 0.2
	done
	say "no healthy answer from $url within 10 s: $body"
	return 1
}

cmd_up() {
	check_settings
	ensure_dirs
	if [ -n "$(nginx_pid)" ] && [ -n "$(pool_pid)" ]; then
		running_differs
		adopt_state
		www_sync # pick up edits of the static pages
		say "already running"
		print_banner
		return 0
	fi
	mark_logs
	ensure_db
	if ! run_migrate; then
		[ -n "$EXTERNAL_DB" ] || say "PostgreSQL is left running for you to inspect (make psql; make stop)"
		exit 1
	fi
	# From here on a failure stops everything again (but not a taken port: see below).
	trap 'up_failed $?' EXIT
	pool_start
	write_state
	local rc=0
	nginx_start || rc=$?
	if ((rc == 3)); then
		say "PostgreSQL and the worker pool are left running; retry with another PORT, or run down"
		exit 3
	fi
	if ! wait_healthy; then
		log_since "$LOG_DIR/worker.log"
		log_since "$LOG_DIR/nginx-error.log"
		exit 1
	fi
	trap - EXIT
	print_banner
}

up_failed() {
	trap - EXIT
	(($1 != 0 && $1 != 3)) || exit "$1"
	say "start-up failed; stopping what was started"
	cmd_down || true
	exit "$1"
}

cmd_down() {
	local stopped=0
	[ -n "$(nginx_pid)$(pool_pid)$(pg_pid)$(ha_any_pid)" ] && stopped=1
	[ ! -x "$ROOT/tools/adminer.sh" ] || VAR_DIR=$VAR_DIR "$ROOT/tools/adminer.sh" down || true
	nginx_stop
	pool_stop
	pg_stop
	citus_stop
	ha_stop
	if ((stopped == 0)); then say "nothing running under $VAR_DIR"; fi
	[ ! -d "$SHORT_DIR/www" ] || rm -rf -- "$SHORT_DIR/www"
	[ ! -d "$SHORT_DIR" ] || rmdir "$SHORT_DIR/pg" "$SHORT_DIR/nginx-tmp"/* "$SHORT_DIR/nginx-tmp" "$SHORT_DIR" 2>/dev/null || true
	return 0
}

cmd_status() {
	local pid all=0 kids
	adopt_state
	if [ -n "$EXTERNAL_DB" ]; then
		say "database:    external ($EXTERNAL_DB)"
	elif ha_on; then
		ha_status || all=1
	elif pid=$(pg_pid) && [ -n "$pid" ]; then
		say "postgres:    running (pid $pid, socket dir $(pg_sock_dir))"
	else
		say "postgres:    not running"
		all=1
	fi
	if pid=$(pool_pid) && [ -n "$pid" ]; then
		kids=$(ps -o pid= --ppid "$pid" 2>/dev/null | wc -l)
		say "worker pool: running (supervisor pid $pid, $kids workers, socket $(state FCGI_SOCK))"
	else
		say "worker pool: not running"
		all=1
	fi
	if pid=$(nginx_pid) && [ -n "$pid" ]; then
		say "nginx:       running (pid $pid, $(base_url)/)"
	else
		say "nginx:       not running"
		all=1
	fi
	citus_status
	local adm
	adm=$(VAR_DIR=$VAR_DIR "$ROOT/tools/adminer.sh" status 2>&1 | sed -n 's/^adminer: nginx: *running/running/p') || true
	say "adminer:     ${adm:-not running (make adminer)}"
	((all == 0)) || return 3
}

cmd_reload() {
	local pid
	pid=$(pool_pid)
	[ -n "$pid" ] || die "worker pool is not running under $VAR_DIR (start it: make run)"
	kill -HUP "$pid"
	say "sent SIGHUP to the worker pool (pid $pid): workers are being replaced"
}

cmd_migrate() {
	check_settings
	ensure_dirs
	ensure_db
	run_migrate || exit 1
}

cmd_pg_start() {
	[ -z "$EXTERNAL_DB" ] || die "DATABASE_URL names an external database; there is no embedded cluster to start"
	if ha_on; then
		ha_start
		return
	fi
	ensure_dirs
	pg_start
}

cmd_pg_stop() {
	[ -z "$EXTERNAL_DB" ] || die "DATABASE_URL names an external database; there is no embedded cluster to stop"
	if ha_on; then
		ha_stop "$@"
		return
	fi
	if [ -z "$(pg_pid)" ]; then
		say "PostgreSQL is not running under $VAR_DIR"
		return 0
	fi
	pg_stop
}

cmd_add_node() {
	[ -z "$EXTERNAL_DB" ] || die "DATABASE_URL names an external database: add its nodes there (citus_add_node)"
	[ -n "$(pg_pid)" ] && citus_on || die "no embedded Citus cluster runs under $VAR_DIR (start one: make run NODES=3)"
	citus_add_node
}

cmd_psql() {
	local psql bin
	if [ -z "$EXTERNAL_DB" ]; then
		[ -n "$(pg_pid)$(ha_any_pid)" ] || die "embedded PostgreSQL is not running under $VAR_DIR (start it: make run, or make migrate)"
		bin=$(pg_bin "$(pg_dir)/data")
		ha_on && bin=$(pg_bin)
		psql=$bin/psql
	fi
	[ -x "${psql:-}" ] || psql=$(command -v psql) || die "psql not found"
	exec "$psql" "$(database_url)" "$@"
}

cmd_env() {
	adopt_state
	printf 'export VAR_DIR=%s\n' "$(shell_quote "$VAR_DIR")"
	printf 'export DATABASE_URL=%s\n' "$(shell_quote "$(database_url)")"
	printf 'export EVENTS_BASE_URL=%s\n' "$(shell_quote "$(base_url)")"
	printf 'export EVENTS_POOL_PID=%s\n' "$(shell_quote "$(read_pid "$POOL_PID")")"
}

case ${1:-} in
up) cmd_up ;;
down | stop) cmd_down ;;
status) cmd_status ;;
reload) cmd_reload ;;
migrate) cmd_migrate ;;
psql)
	shift
	cmd_psql "$@"
	;;
env) cmd_env ;;
pg-start) cmd_pg_start ;;
pg-stop)
	shift
	cmd_pg_stop "$@"
	;;
add-node) cmd_add_node ;;
node-stop | node-start) citus_node "${1#node-}" "${2:-}" ;;
failover | ha-*) ha_command "$@" ;;
*) help_or_refuse "${1:-}" ;;
esac
