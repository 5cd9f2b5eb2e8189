#!/usr/bin/env bash
# The local stack: an embedded PostgreSQL cluster, the FastCGI worker pool (spawn-fcgi +
# events-fcgi, its own supervisor) and nginx in front, all living under one VAR_DIR.
#
#   tools/stack.sh up|down|status|reload|migrate|psql|env|pg-start|pg-stop
#
# pg-start / pg-stop start and stop only the embedded PostgreSQL (outage tests, maintenance).
#
# Settings (environment, then conf/events.env or $EVENTS_ENV_FILE, then defaults):
#   VAR_DIR      <repo>/var         state, logs, sockets, pid files
#   PORT         8000               nginx listen port
#   LISTEN_ADDR  127.0.0.1          nginx listen address
#   WORKERS      8                  FastCGI worker processes (read by events-fcgi)
#   POOL_USER    eventsd            OS account the workers run as when started as root
#                                   (created as a system account when missing)
#   DATABASE_URL (unset)            an external database; no embedded cluster when set
#   MIGRATE_DATABASE_URL (unset)    with DATABASE_URL: the owning role for migrations (default
#                                   DATABASE_URL itself)
#   BUILD        <repo>/build       where events-fcgi and migrate are
#   PG_BIN       newest /usr/lib/postgresql/*/bin   PostgreSQL server binaries
#
# Exit status: 0 ok, 1 failure, 3 from "up" when PORT is already taken (everything else is left
# running, so "up" can be retried with another PORT), 3 from "status" when not all is running.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG=stack
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

# --- configuration ------------------------------------------------------------------------

# load_env_file FILE: export KEY=VALUE lines of FILE for keys the environment does not set.
load_env_file() {
	local file=$1 line key val
	[ -f "$file" ] || return 0
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line#"${line%%[![:space:]]*}"}
		case $line in '' | '#'*) continue ;; esac
		line=${line#export }
		key=${line%%=*}
		val=${line#*=}
		[[ $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "$file: not KEY=VALUE: $line"
		case $val in \"*\") val=${val:1:-1} ;; \'*\') val=${val:1:-1} ;; esac
		[ -n "${!key+set}" ] || export "$key=$val"
	done <"$file"
}

load_env_file "${EVENTS_ENV_FILE:-$ROOT/conf/events.env}"

# Settings a running stack keeps until it is restarted: given explicitly (environment or env
# file) and different from what it runs with, "up" says so instead of silently ignoring them.
RESTART_SETTINGS='WORKERS PORT LISTEN_ADDR RATE_LIMIT_RPS RATE_LIMIT_BURST RATE_LIMIT_EXEMPT METRICS_ALLOW CONN_LIMIT_PER_ADDR POOL_USER'
EXPLICIT=''
for _v in $RESTART_SETTINGS; do [ -z "${!_v+set}" ] || EXPLICIT+=" $_v"; done
unset _v

VAR_DIR=$(realpath -m -- "${VAR_DIR:-$ROOT/var}")
BUILD=$(realpath -m -- "${BUILD:-$ROOT/build}")
PORT=${PORT:-8000}
LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1}
WORKERS=${WORKERS:-8}
RATE_LIMIT_RPS=${RATE_LIMIT_RPS:-100}
RATE_LIMIT_BURST=${RATE_LIMIT_BURST:-200}
RATE_LIMIT_EXEMPT=${RATE_LIMIT_EXEMPT:-}
CONN_LIMIT_PER_ADDR=${CONN_LIMIT_PER_ADDR:-64}
METRICS_ALLOW=${METRICS_ALLOW:-}
[[ $RATE_LIMIT_RPS =~ ^[1-9][0-9]*$ ]] || die "RATE_LIMIT_RPS=$RATE_LIMIT_RPS: expected a whole number of requests per second, 1 or more"
[[ $RATE_LIMIT_BURST =~ ^[0-9]+$ ]] || die "RATE_LIMIT_BURST=$RATE_LIMIT_BURST: expected a whole number of requests"
POOL_USER=${POOL_USER:-eventsd}
[[ $CONN_LIMIT_PER_ADDR =~ ^[1-9][0-9]{0,5}$ ]] && ((CONN_LIMIT_PER_ADDR <= 100000)) ||
	die "CONN_LIMIT_PER_ADDR=$CONN_LIMIT_PER_ADDR: expected a whole number of connections, 1..100000"
EXTERNAL_DB=${DATABASE_URL:-}

RUN_DIR=$VAR_DIR/run
LOG_DIR=$VAR_DIR/log
NGX_DIR=$VAR_DIR/nginx
POOL_PID=$RUN_DIR/pool.pid
NGINX_PID=$RUN_DIR/nginx.pid
STATE_FILE=$RUN_DIR/stack.env
HASH=$(short_hash "$VAR_DIR")
SHORT_DIR=/tmp/ev-$HASH      # sockets (and nginx temp files) when VAR_DIR cannot hold them
PG_ALT_DIR=/tmp/events-pg-$HASH
PG_USER=postgres             # OS user running PostgreSQL when we are root
NGINX_USER=www-data          # nginx worker user when we are root
WEB_USER=www-data            # Adminer's php-fpm user when we are root (tools/adminer.sh)
PG_PORT=5432                 # only names the socket file inside our own socket directory

check_settings() {
	[[ $PORT =~ ^[0-9]+$ ]] && ((PORT >= 1 && PORT <= 65535)) || die "PORT must be 1..65535, not '$PORT'"
	[[ $WORKERS =~ ^[0-9]+$ ]] && ((WORKERS >= 1 && WORKERS <= 256)) ||
		die "WORKERS must be 1..256, not '$WORKERS'"
	local ip_re='^[][0-9A-Fa-f.:]+$'
	[[ $LISTEN_ADDR =~ $ip_re ]] || die "LISTEN_ADDR '$LISTEN_ADDR' is not an IP address"
	[[ $POOL_USER =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] && [ "$POOL_USER" != root ] ||
		die "POOL_USER=$POOL_USER: expected the name of an unprivileged OS account (not root)"
	# Everything the workers read (LOG_LEVEL, API keys, timeouts, ...) and the address lists
	# nginx gets (RATE_LIMIT_EXEMPT, METRICS_ALLOW), checked by the binary before anything
	# starts: one line per problem.
	[ -x "$BUILD/events-fcgi" ] || die "$BUILD/events-fcgi not built (run: make all)"
	local out
	if ! out=$(WORKERS=$WORKERS RATE_LIMIT_EXEMPT=$RATE_LIMIT_EXEMPT METRICS_ALLOW=$METRICS_ALLOW \
		"$BUILD/events-fcgi" --check-config 2>&1); then
		printf '%s\n' "$out" >&2
		die "settings refused; nothing was started"
	fi
}

# --- paths that depend on who can reach VAR_DIR -------------------------------------------

# make_short_dir: create /tmp/ev-<hash> for sockets, refusing one somebody else owns.
make_short_dir() {
	if [ ! -d "$SHORT_DIR" ]; then
		mkdir -m 0755 "$SHORT_DIR" 2>/dev/null || [ -d "$SHORT_DIR" ] || die "cannot create $SHORT_DIR"
	fi
	[ ! -L "$SHORT_DIR" ] && [ -O "$SHORT_DIR" ] || die "$SHORT_DIR exists and is not ours; remove it"
}

# pg_dir: the real directory of the embedded cluster (VAR_DIR/pg, or what it links to).
pg_dir() {
	if [ -L "$VAR_DIR/pg" ]; then
		readlink -- "$VAR_DIR/pg"
	elif [ -e "$VAR_DIR/pg" ] || [ ! -d "$VAR_DIR" ] || ! is_root || can_traverse "$PG_USER" "$VAR_DIR"; then
		printf '%s' "$VAR_DIR/pg"
	else
		printf '%s' "$PG_ALT_DIR"
	fi
}

# pg_sock_dir: where the cluster's unix socket lives. As root the workers (POOL_USER) must
# reach it, and nobody else: the directory is postgres:POOL_USER's group, mode 0750.
pg_sock_dir() {
	local d dir
	dir=$(pg_dir)
	d=$dir/sock
	if ((${#d} + ${#PG_PORT} + 10 > 100)); then
		d=$SHORT_DIR/pg
	elif is_root && { [ "$dir" != "$VAR_DIR/pg" ] || ! can_traverse "$POOL_USER" "$VAR_DIR"; }; then
		d=$SHORT_DIR/pg
	fi
	printf '%s' "$d"
}

# ensure_pool_user: as root, the unprivileged account the workers run as (a system account
# with its own group, no home, no shell), created when missing.
ensure_pool_user() {
	is_root || return 0
	id -u "$POOL_USER" >/dev/null 2>&1 && return 0
	command -v useradd >/dev/null || die "useradd not found; create the OS account '$POOL_USER' by hand"
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$POOL_USER" || die "could not create the OS account '$POOL_USER'"
	say "created the system account '$POOL_USER' for the worker pool"
}

pool_group() { id -gn "$POOL_USER"; }

# fcgi_sock: the worker pool's socket; nginx's worker user must reach it.
fcgi_sock() {
	local s=$RUN_DIR/fcgi.sock
	if ((${#s} > 100)) || { is_root && ! can_traverse "$NGINX_USER" "$VAR_DIR"; }; then
		s=$SHORT_DIR/fcgi.sock
	fi
	printf '%s' "$s"
}

# nginx_tmp: nginx's temp files (request bodies over 1 MiB); its worker user writes there.
nginx_tmp() {
	if is_root && ! can_traverse "$NGINX_USER" "$VAR_DIR"; then
		printf '%s' "$SHORT_DIR/nginx-tmp"
	else
		printf '%s' "$NGX_DIR/tmp"
	fi
}

# www_dir: the static pages nginx serves (/docs, /dashboard, /assets/); www-data reads them.
www_dir() {
	if is_root && ! can_traverse "$NGINX_USER" "$VAR_DIR"; then
		printf '%s' "$SHORT_DIR/www"
	else
		printf '%s' "$VAR_DIR/www"
	fi
}

# embedded_url [ROLE]: the embedded database as ROLE (default events, the owner).
embedded_url() {
	printf 'postgresql://%s@/events?host=%s&port=%s' "${1:-events}" "$(urlencode "$(pg_sock_dir)")" "$PG_PORT"
}

# A DATABASE_URL exported from "stack.sh env" (tests, tools) names our own cluster: not external.
if [ -n "$EXTERNAL_DB" ] && [ "$EXTERNAL_DB" = "$(embedded_url)" ]; then EXTERNAL_DB=''; fi

database_url() {
	if [ -n "$EXTERNAL_DB" ]; then printf '%s' "$EXTERNAL_DB"; else embedded_url; fi
}

# app_url: what the worker pool connects with: the service role events_app (a member of
# events_writer, never a superuser) on the embedded cluster; an external DATABASE_URL as is.
app_url() {
	if [ -n "$EXTERNAL_DB" ]; then printf '%s' "$EXTERNAL_DB"; else embedded_url events_app; fi
}

# state KEY: a value recorded by the last "up" (empty if none).
state() {
	[ -r "$STATE_FILE" ] || return 0
	sed -n "s/^$1=//p" "$STATE_FILE" | tail -n 1
}

url_host() {
	case $LISTEN_ADDR in
	0.0.0.0 | '') printf 127.0.0.1 ;;
	:: | '[::]') printf '[::1]' ;;
	*:*) printf '[%s]' "${LISTEN_ADDR#[}" | sed 's/]]$/]/' ;;
	*) printf '%s' "$LISTEN_ADDR" ;;
	esac
}

base_url() { printf 'http://%s:%s' "$(url_host)" "$PORT"; }

# --- PostgreSQL ---------------------------------------------------------------------------

# pg_bin [DATA]: server binaries; the version of an existing cluster wins over the newest.
pg_bin() {
	local data=${1:-} v d
	if [ -n "${PG_BIN:-}" ]; then
		printf '%s' "$PG_BIN"
		return
	fi
	if [ -n "$data" ] && v=$(cat "$data/PG_VERSION" 2>/dev/null); then
		[ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ] && {
			printf '%s' "/usr/lib/postgresql/$v/bin"
			return
		}
	fi
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then
		printf '%s' "$d"
	elif command -v initdb >/dev/null; then
		dirname "$(command -v initdb)"
	else
		die "PostgreSQL server binaries not found (run: tools/deps.sh run)"
	fi
}

# as_pg CMD...: run a PostgreSQL server command as the user owning the cluster.
as_pg() {
	if is_root; then
		(cd / && runuser -u "$PG_USER" -- "$@")
	else
		"$@"
	fi
}

pg_pid() {
	local pid
	pid=$(read_pid "$(pg_dir)/data/postmaster.pid")
	pid_alive "$pid" postgres && printf '%s' "$pid"
	return 0
}

# pg_prepare: create the cluster's directories, owned by whoever runs the server.
pg_prepare() {
	local dir owner=''
	ensure_pool_user
	dir=$(pg_dir)
	is_root && owner=$PG_USER
	if is_root && ! id -u "$PG_USER" >/dev/null 2>&1; then
		die "OS user '$PG_USER' does not exist (install the postgresql package: tools/deps.sh run)"
	fi
	if [ "$dir" = "$PG_ALT_DIR" ] && [ ! -L "$VAR_DIR/pg" ]; then
		say "note: $PG_USER cannot reach $VAR_DIR; the cluster lives in $PG_ALT_DIR ($VAR_DIR/pg links there)"
		[ -d "$PG_ALT_DIR" ] || mkdir -m 0700 "$PG_ALT_DIR"
		[ ! -L "$PG_ALT_DIR" ] && [ "$(stat -c %U "$PG_ALT_DIR")" = root ] ||
			[ "$(stat -c %U "$PG_ALT_DIR")" = "$PG_USER" ] || die "$PG_ALT_DIR exists and is not ours; remove it"
		ln -sfn "$PG_ALT_DIR" "$VAR_DIR/pg"
	fi
	mkdir -p "$dir/sock"
	chmod 0755 "$dir"
	[ -z "$owner" ] || chown "$owner:" "$dir"
	local sock
	sock=$(pg_sock_dir)
	if [ "$sock" != "$dir/sock" ]; then
		make_short_dir
		mkdir -p "$sock"
	fi
	# the socket's directory: the server's user, and as root the pool's group (workers,
	# Adminer's php-fpm); no other account can even reach the socket
	if [ -n "$owner" ]; then
		chown "$owner:$(pool_group)" "$sock"
		chmod 0750 "$sock"
	else
		chmod 0700 "$sock"
	fi
	[ "$sock" = "$dir/sock" ] || chmod 0700 "$dir/sock"
}

# pg_auth DATA: pg_hba.conf and pg_ident.conf, rewritten at every start. No TCP; over the
# socket only peer authentication through one map: the account that runs the stack may be
# the owner (migrations, psql), the service role or the read-only role; POOL_USER only the
# service role events_app; the web user (Adminer) only the read-only role events_ro.
pg_auth() {
	local data=$1 me pool web
	me=$(id -un)
	pool=$me web=$me
	if is_root; then pool=$POOL_USER web=$WEB_USER; fi
	{
		echo "# written by tools/stack.sh at every start; edits are lost"
		echo "# TYPE  DATABASE  USER  METHOD"
		echo "local   all       all   peer map=events"
	} >"$data/pg_hba.conf.new"
	{
		echo "# written by tools/stack.sh at every start; edits are lost"
		echo "# MAP    OS-USER   ROLE"
		printf 'events  %s  events\nevents  %s  events_app\nevents  %s  events_ro\n' "$me" "$me" "$me"
		[ "$pool" = "$me" ] || printf 'events  %s  events_app\n' "$pool"
		[ "$web" = "$me" ] || printf 'events  %s  events_ro\n' "$web"
	} >"$data/pg_ident.conf.new"
	local f
	for f in pg_hba.conf pg_ident.conf; do
		chmod 0600 "$data/$f.new"
		! is_root || chown "$PG_USER:" "$data/$f.new"
		mv -f "$data/$f.new" "$data/$f"
	done
}

# pg_logfile: server log; must be writable by the server's user.
pg_logfile() {
	local dir
	dir=$(pg_dir)
	if [ "$dir" = "$VAR_DIR/pg" ]; then
		printf '%s' "$LOG_DIR/postgres.log"
	else
		printf '%s' "$dir/postgres.log"
	fi
}

pg_start() {
	local dir data bin log sock pid
	dir=$(pg_dir)
	data=$dir/data
	pid=$(pg_pid)
	if [ -n "$pid" ]; then
		say "PostgreSQL already running (pid $pid)"
		return 0
	fi
	pg_prepare
	bin=$(pg_bin "$data")
	sock=$(pg_sock_dir)
	if [ ! -s "$data/PG_VERSION" ]; then
		if [ -d "$data" ] && [ -n "$(ls -A "$data" 2>/dev/null)" ]; then
			die "$data exists but holds no cluster (an interrupted initdb?); remove it and retry"
		fi
		say "creating PostgreSQL cluster in $data ($bin)"
		as_pg "$bin/initdb" -D "$data" -U events -A peer -E UTF8 --locale=C \
			>>"$LOG_DIR/initdb.log" 2>&1 || {
			tail_log "$LOG_DIR/initdb.log"
			die "initdb failed"
		}
	fi
	pg_auth "$data"
	log=$(pg_logfile)
	touch "$log"
	is_root && chown "$PG_USER:" "$log"
	[ "$log" = "$LOG_DIR/postgres.log" ] || ln -sfn "$log" "$LOG_DIR/postgres.log"
	rm -f "$sock/.s.PGSQL.$PG_PORT" "$sock/.s.PGSQL.$PG_PORT.lock" 2>/dev/null || true
	if ! as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 30 \
		-o "-c listen_addresses='' -c unix_socket_directories='$sock' -c port=$PG_PORT $(pg_tuning)" \
		start >/dev/null; then
		tail_log "$log"
		die "PostgreSQL did not start (log: $log)"
	fi
	say "PostgreSQL started (socket dir $sock)"
	pg_ensure_db "$bin" "$sock"
}

# pg_tuning: settings of the embedded cluster for this workload (random-key inserts, bulk
# loads): more shared memory than the 128 MB default (an eighth of RAM, 128 MB..2 GB; override
# with PG_SHARED_BUFFERS), checkpoints spaced out so a large load is not slowed by them, and
# compressed full-page images in the WAL. Durability settings (fsync, synchronous_commit) are
# left as they are.
pg_tuning() {
	local sb=${PG_SHARED_BUFFERS:-} mem_mb
	if [ -z "$sb" ]; then
		mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo 2>/dev/null || echo 1024)
		sb=$((mem_mb / 8))
		[ "$sb" -lt 128 ] && sb=128
		[ "$sb" -gt 2048 ] && sb=2048
		sb=${sb}MB
	fi
	printf -- "-c shared_buffers=%s -c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_compression=on" "$sb"
}

pg_ensure_db() {
	local bin=$1 sock=$2 have
	have=$("$bin/psql" -X -h "$sock" -p "$PG_PORT" -U events -d postgres -tAq \
		-c "SELECT 1 FROM pg_database WHERE datname = 'events'") || die "cannot query the embedded cluster"
	[ "$have" = 1 ] && return 0
	"$bin/psql" -X -h "$sock" -p "$PG_PORT" -U events -d postgres -q -c 'CREATE DATABASE events' ||
		die "CREATE DATABASE events failed"
	say "database 'events' created"
}

pg_stop() {
	local dir pid
	dir=$(pg_dir)
	pid=$(pg_pid)
	[ -n "$pid" ] || return 0
	as_pg "$(pg_bin "$dir/data")/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null ||
		warn "pg_ctl stop failed; PostgreSQL pid $pid may still run"
	say "stopped PostgreSQL (pid $pid)"
}

# --- worker pool --------------------------------------------------------------------------

pool_pid() {
	local pid
	pid=$(read_pid "$POOL_PID")
	pid_alive "$pid" events-fcgi && printf '%s' "$pid"
	return 0
}

pool_start() {
	local pid sock n
	pid=$(pool_pid)
	if [ -n "$pid" ]; then
		say "worker pool already running (pid $pid)"
		return 0
	fi
	[ -x "$BUILD/events-fcgi" ] || die "$BUILD/events-fcgi not built (run: make all)"
	command -v spawn-fcgi >/dev/null || die "spawn-fcgi not installed (run: tools/deps.sh run)"
	sock=$(fcgi_sock)
	[ "$(dirname "$sock")" = "$SHORT_DIR" ] && make_short_dir
	mkdir -p "$(dirname "$sock")"
	rm -f "$sock"
	# The socket: as root owned by the pool's account and nginx's group, 0660 (nobody else
	# can talk FastCGI to the workers and skip nginx's limits); otherwise ours alone, 0600.
	# The workers drop to POOL_USER themselves once they have read their settings.
	local sock_opts=(-M 0600)
	if is_root; then
		ensure_pool_user
		sock_opts=(-U "$POOL_USER" -G "$(id -gn "$NGINX_USER")" -M 0660)
	fi
	# setsid: own session and process group (pgid = pid), so no terminal signal reaches the
	# pool and "down" can kill the whole group. It does not fork here (we are not a group
	# leader), so $! is spawn-fcgi's pid, which execs events-fcgi, the supervisor.
	(
		cd "$ROOT"
		DATABASE_URL=$(app_url)
		export WORKERS DATABASE_URL
		if is_root; then export POOL_USER; else unset POOL_USER; fi
		exec setsid spawn-fcgi -n -s "$sock" "${sock_opts[@]}" -- "$BUILD/events-fcgi" \
			</dev/null >>"$LOG_DIR/worker.log" 2>&1
	) &
	pid=$!
	echo "$pid" >"$POOL_PID"
	for ((n = 0; n < 50; n++)); do
		kill -0 "$pid" 2>/dev/null || break
		[ -S "$sock" ] && pid_alive "$pid" events-fcgi && break
		sleep 0.1
	done
	if ! pid_alive "$pid" events-fcgi || [ ! -S "$sock" ]; then
		log_since "$LOG_DIR/worker.log"
		rm -f "$POOL_PID"
		die "worker pool did not start (log: $LOG_DIR/worker.log)"
	fi
	say "worker pool started (pid $pid, $WORKERS workers, socket $sock)"
}

pool_stop() {
	local pid sock
	pid=$(pool_pid)
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" 10; then
			warn "worker pool (pid $pid) still running after 10 s; killing its process group"
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 5 || warn "pid $pid survived SIGKILL"
		fi
		say "stopped worker pool (pid $pid)"
	fi
	# Workers orphaned by a supervisor that died: same process group, which setsid made ours.
	if [ -z "$pid" ]; then pid=$(read_pid "$POOL_PID"); fi
	if [ -n "$pid" ]; then
		local p left=''
		for p in $(pgrep -g "$pid" 2>/dev/null || true); do
			gone "$p" || ! pid_alive "$p" events-fcgi || left+=" $p"
		done
		if [ -n "$left" ]; then
			kill -KILL -- "-$pid" 2>/dev/null || true
			say "killed leftover workers of process group $pid:$left"
		fi
	fi
	rm -f "$POOL_PID"
	sock=$(state FCGI_SOCK)
	[ -z "$sock" ] || [ ! -S "$sock" ] || rm -f "$sock"
}

# --- nginx --------------------------------------------------------------------------------

nginx_bin() {
	local b
	b=$(command -v nginx 2>/dev/null || true)
	[ -n "$b" ] || [ ! -x /usr/sbin/nginx ] || b=/usr/sbin/nginx
	[ -n "$b" ] || die "nginx not installed (run: tools/deps.sh run)"
	printf '%s' "$b"
}

nginx_pid() {
	local pid
	pid=$(read_pid "$NGINX_PID")
	pid_alive "$pid" nginx && printf '%s' "$pid"
	return 0
}

nginx_render() {
	local listen user='' tmp
	tmp=$(nginx_tmp)
	case $LISTEN_ADDR in *:*) listen="[${LISTEN_ADDR#[}" && listen="${listen%]}]:$PORT" ;; *) listen="$LISTEN_ADDR:$PORT" ;; esac
	[ "$(dirname "$tmp")" = "$SHORT_DIR" ] && make_short_dir
	mkdir -p "$NGX_DIR" "$tmp"
	if is_root; then user=$NGINX_USER; fi
	NGX_USER=$user NGX_PID_FILE=$NGINX_PID NGX_ERROR_LOG=$LOG_DIR/nginx-error.log \
		NGX_ACCESS_LOG=$LOG_DIR/nginx-access.log NGX_TEMP_DIR=$tmp \
		NGX_UPSTREAM=unix:$(fcgi_sock) NGX_LISTEN=$listen NGX_WWW_DIR=$(www_dir) \
		RATE_LIMIT_RPS=$RATE_LIMIT_RPS RATE_LIMIT_BURST=$RATE_LIMIT_BURST \
		CONN_LIMIT_PER_ADDR=$CONN_LIMIT_PER_ADDR RATE_LIMIT_EXEMPT=$RATE_LIMIT_EXEMPT \
		METRICS_ALLOW=$METRICS_ALLOW \
		"$ROOT/tools/render_nginx.sh" "$ROOT/conf/nginx.conf.in" "$NGX_DIR/nginx.conf" ||
		die "could not render conf/nginx.conf.in"
}

# www_sync: copy the static pages into www_dir, fresh at every "up": the spec, web/ (Swagger
# UI's page, the dashboard) and the two npm packages they load (installed by "make web").
www_sync() {
	local www new pkg
	www=$(www_dir)
	[ "$(dirname "$www")" = "$SHORT_DIR" ] && make_short_dir
	new=$www.new
	rm -rf -- "$new"
	mkdir -p "$new/swagger-ui" "$new/uplot"
	cp -R "$ROOT/web" "$new/web"
	cp "$ROOT/conf/openapi.yaml" "$new/openapi.yaml"
	pkg=$ROOT/node_modules
	if [ -d "$pkg/swagger-ui-dist" ] && [ -d "$pkg/uplot/dist" ]; then
		cp "$pkg/swagger-ui-dist/"{swagger-ui.css,swagger-ui-bundle.js,swagger-ui-standalone-preset.js,favicon-16x16.png,favicon-32x32.png} \
			"$new/swagger-ui/"
		cp "$pkg/uplot/dist/"{uPlot.esm.js,uPlot.min.css} "$new/uplot/"
	else
		warn "node_modules missing: /docs and /dashboard will lack their scripts (run: make web)"
	fi
	chmod -R a+rX "$new"
	rm -rf -- "$www"
	mv -- "$new" "$www"
}

# nginx_start: returns 3 when the port is taken.
nginx_start() {
	local pid bin out n
	pid=$(nginx_pid)
	if [ -n "$pid" ]; then
		say "nginx already running (pid $pid)"
		return 0
	fi
	bin=$(nginx_bin)
	www_sync
	nginx_render
	if port_in_use "$LISTEN_ADDR" "$PORT"; then
		say "port $PORT on $LISTEN_ADDR is already in use (try PORT=...)"
		return 3
	fi
	rm -f "$NGINX_PID"
	if ! out=$("$bin" -p "$NGX_DIR/" -c "$NGX_DIR/nginx.conf" -e "$LOG_DIR/nginx-error.log" 2>&1); then
		printf '%s\n' "$out" >&2
		if grep -q 'Address already in use' <<<"$out"; then
			say "port $PORT on $LISTEN_ADDR is already in use (try PORT=...)"
			return 3
		fi
		die "nginx did not start (config: $NGX_DIR/nginx.conf, log: $LOG_DIR/nginx-error.log)"
	fi
	for ((n = 0; n < 50; n++)); do
		pid=$(nginx_pid)
		[ -z "$pid" ] || break
		sleep 0.1
	done
	[ -n "$pid" ] || die "nginx did not write $NGINX_PID"
	say "nginx started (pid $pid, $(base_url)/)"
}

nginx_stop() {
	local pid
	pid=$(nginx_pid)
	if [ -z "$pid" ]; then
		rm -f "$NGINX_PID"
		return 0
	fi
	kill -QUIT "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" 10; then
		warn "nginx (pid $pid) did not quit gracefully; terminating"
		kill -TERM "$pid" 2>/dev/null || true
		wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$NGINX_PID"
	say "stopped nginx (pid $pid)"
}

# --- commands -----------------------------------------------------------------------------

ensure_dirs() {
	mkdir -p "$VAR_DIR" "$RUN_DIR" "$LOG_DIR" "$NGX_DIR"
}

# ensure_db: embedded PostgreSQL running (unless DATABASE_URL is external); exports DATABASE_URL.
ensure_db() {
	if [ -z "$EXTERNAL_DB" ]; then pg_start; fi
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

# pg_login_roles: the embedded cluster's login roles, members of the group roles that
# migration 0004 grants to: events_app (the pool, the loader) and events_ro (Adminer). No
# passwords: peer authentication (pg_auth) decides which OS account may use which.
pg_login_roles() {
	local psql
	psql=$(pg_bin "$(pg_dir)/data")/psql
	"$psql" -X -q -v ON_ERROR_STOP=1 "$(embedded_url)" >/dev/null <<'SQL' || die "could not create the login roles"
SET client_min_messages = warning;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_app') THEN
        CREATE ROLE events_app LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_ro') THEN
        CREATE ROLE events_ro LOGIN;
    END IF;
END $$;
ALTER ROLE events_app NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE events_ro NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE events_ro SET default_transaction_read_only = on;
GRANT events_writer TO events_app;
GRANT events_reader TO events_ro;
SQL
	write_service_file
}

# write_service_file: a libpq service file naming the embedded database, for the command-line
# tools (import_events, migrate, psql): "events" is the service role, "events_owner" the owner.
write_service_file() {
	local sock f=$RUN_DIR/pg_service.conf
	sock=$(pg_sock_dir)
	{
		echo "# written by tools/stack.sh; PGSERVICEFILE=$f PGSERVICE=events psql"
		printf '[events]\nhost=%s\nport=%s\ndbname=events\nuser=events_app\n\n' "$sock" "$PG_PORT"
		printf '[events_owner]\nhost=%s\nport=%s\ndbname=events\nuser=events\n' "$sock" "$PG_PORT"
	} >"$f.new"
	chmod 0644 "$f.new"
	mv -f "$f.new" "$f"
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

write_state() {
	{
		printf 'VAR_DIR=%s\n' "$VAR_DIR"
		printf 'PORT=%s\n' "$PORT"
		printf 'LISTEN_ADDR=%s\n' "$LISTEN_ADDR"
		printf 'DATABASE_URL=%s\n' "$DATABASE_URL"
		printf 'FCGI_SOCK=%s\n' "$(fcgi_sock)"
		printf 'EXTERNAL_DB=%s\n' "$([ -n "$EXTERNAL_DB" ] && echo 1 || echo 0)"
		local v
		for v in $RESTART_SETTINGS; do printf 'SET_%s=%s\n' "$v" "${!v}"; done
	} >"$STATE_FILE.new"
	mv -f "$STATE_FILE.new" "$STATE_FILE"
}

# Settings of a running stack come from its state file, not from this shell's environment.
adopt_state() {
	local v
	v=$(state PORT) && [ -n "$v" ] && PORT=$v
	v=$(state LISTEN_ADDR) && [ -n "$v" ] && LISTEN_ADDR=$v
	if [ "$(state EXTERNAL_DB)" = 1 ]; then EXTERNAL_DB=$(state DATABASE_URL); fi
	return 0
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

# running_differs: settings given now that the running stack does not have; says how to apply.
running_differs() {
	local v have diff='' assign=''
	for v in $EXPLICIT; do
		have=$(state "SET_$v")
		[ "$have" != "${!v}" ] || continue
		diff+=" $v=$(shell_quote "${!v}") (running: $(shell_quote "$have"))"
		assign+="$v=$(shell_quote "${!v}") "
	done
	[ -n "$diff" ] || return 0
	say "the running stack keeps its settings; differs:$diff"
	say "apply with: make stop && ${assign}make run"
}

cmd_down() {
	local stopped=0
	[ -n "$(nginx_pid)$(pool_pid)$(pg_pid)" ] && stopped=1
	[ ! -x "$ROOT/tools/adminer.sh" ] || VAR_DIR=$VAR_DIR "$ROOT/tools/adminer.sh" down || true
	nginx_stop
	pool_stop
	pg_stop
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
	ensure_dirs
	pg_start
}

cmd_pg_stop() {
	[ -z "$EXTERNAL_DB" ] || die "DATABASE_URL names an external database; there is no embedded cluster to stop"
	if [ -z "$(pg_pid)" ]; then
		say "PostgreSQL is not running under $VAR_DIR"
		return 0
	fi
	pg_stop
}

cmd_psql() {
	local psql bin
	if [ -z "$EXTERNAL_DB" ]; then
		[ -n "$(pg_pid)" ] || die "embedded PostgreSQL is not running under $VAR_DIR (start it: make run, or make migrate)"
		bin=$(pg_bin "$(pg_dir)/data")
		psql=$bin/psql
	fi
	[ -x "${psql:-}" ] || psql=$(command -v psql) || die "psql not found"
	exec "$psql" "$(database_url)" "$@"
}

# shell_quote STRING: STRING in single quotes, safe for eval.
shell_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

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
pg-stop) cmd_pg_stop ;;
*) help_or_refuse "${1:-}" ;;
esac
