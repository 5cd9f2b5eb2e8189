# shellcheck shell=bash
# The embedded PostgreSQL cluster: its binaries, initdb, pg_hba.conf/pg_ident.conf (peer
# authentication only), start and stop, the login roles and the libpq service file for the
# command-line tools. Sourced by tools/stack.sh; its locations come from paths.sh.

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

pg_pid() { live_pid "$(pg_dir)/data/postmaster.pid" postgres; }

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
		citus_ident_lines
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

# pg_initdb BIN DATA MESSAGE: a new cluster in DATA whose owner is the role events, peer
# authentication only; dies with MESSAGE (and initdb's log) when initdb fails.
pg_initdb() {
	as_pg "$1/initdb" -D "$2" -U events -A peer -E UTF8 --locale=C >>"$LOG_DIR/initdb.log" 2>&1 || {
		tail_log "$LOG_DIR/initdb.log"
		die "$3"
	}
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
		pg_initdb "$bin" "$data" "initdb failed"
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
	citus_pg_settings
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

# pg_login_roles: the embedded cluster's login roles, members of the group roles that
# migration 0004 grants to: events_app (the pool, the loader) and events_ro (Adminer). No
# passwords: peer authentication (pg_auth) decides which OS account may use which.
pg_login_roles() {
	local psql
	psql=$(pg_bin "$(pg_dir)/data")/psql
	"$psql" -X -q -v ON_ERROR_STOP=1 "$(embedded_url)" >/dev/null <<<"$PG_LOGIN_ROLES_SQL" || die "could not create the login roles"
	citus_login_roles
	write_service_file
}

PG_LOGIN_ROLES_SQL=$(
	cat <<'SQL'
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
)

# write_service_file: a libpq service file naming the embedded database, for the command-line
# tools (import_events, migrate, psql): "events" is the service role, "events_owner" the owner.
write_service_file() {
	local sock f=$RUN_DIR/pg_service.conf where
	sock=$(pg_sock_dir)
	where=$(printf 'host=%s\nport=%s' "$sock" "$PG_PORT")
	# HA: both data nodes; libpq picks the read-write one at every (re)connect
	! ha_on || where=$(printf 'host=%s,%s\nport=%s,%s\ntarget_session_attrs=read-write' \
		"$sock" "$sock" "$(ha_port node_a)" "$(ha_port node_b)")
	{
		echo "# written by tools/stack.sh; PGSERVICEFILE=$f PGSERVICE=events psql"
		printf '[events]\n%s\ndbname=events\nuser=events_app\n\n' "$where"
		printf '[events_owner]\n%s\ndbname=events\nuser=events\n' "$where"
	} >"$f.new"
	chmod 0644 "$f.new"
	mv -f "$f.new" "$f"
}
