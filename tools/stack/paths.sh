# shellcheck shell=bash
# Where the stack's files live: the layout of VAR_DIR, the runtime paths that other OS accounts
# must reach when we are root (the cluster and its socket: postgres and POOL_USER; the pool's
# socket, nginx's temp files and static pages: www-data), each placed by runtime_dir
# (tools/lib.sh), and the database URLs that follow from them. Sourced by tools/stack.sh after
# settings.sh. The names are used by the other modules of tools/stack/:
# shellcheck disable=SC2034

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
NGINX_USER='www-data'        # nginx worker user when we are root
WEB_USER='www-data'          # Adminer's php-fpm user when we are root (tools/adminer.sh)
PG_PORT=5432                 # only names the socket file inside our own socket directory

# make_short_dir: create /tmp/ev-<hash> for sockets, refusing one somebody else owns.
make_short_dir() {
	if [ ! -d "$SHORT_DIR" ]; then
		mkdir -m 0755 "$SHORT_DIR" 2>/dev/null || [ -d "$SHORT_DIR" ] || die "cannot create $SHORT_DIR"
	fi
	[ ! -L "$SHORT_DIR" ] && [ -O "$SHORT_DIR" ] || die "$SHORT_DIR exists and is not ours; remove it"
}

# pg_dir: the real directory of the embedded cluster (VAR_DIR/pg, or what it links to). An
# existing VAR_DIR/pg stays where it is.
pg_dir() {
	if [ -L "$VAR_DIR/pg" ]; then
		readlink -- "$VAR_DIR/pg"
	elif [ -e "$VAR_DIR/pg" ] || [ ! -d "$VAR_DIR" ]; then
		printf '%s' "$VAR_DIR/pg"
	else
		runtime_dir "$PG_USER" "$VAR_DIR" "$VAR_DIR/pg" "$PG_ALT_DIR"
	fi
}

# pg_sock_dir: where the cluster's unix socket lives. As root the workers (POOL_USER) must
# reach it, and nobody else: the directory is postgres:POOL_USER's group, mode 0750. A socket
# path longer than a sun_path holds, or a cluster moved out of VAR_DIR: /tmp/ev-<hash>/pg.
pg_sock_dir() {
	local d dir
	dir=$(pg_dir)
	d=$dir/sock
	if ((${#d} + ${#PG_PORT} + 10 > 100)) || { is_root && [ "$dir" != "$VAR_DIR/pg" ]; }; then
		printf '%s' "$SHORT_DIR/pg"
	else
		runtime_dir "$POOL_USER" "$VAR_DIR" "$d" "$SHORT_DIR/pg"
	fi
}

# fcgi_sock: the worker pool's socket; nginx's worker user must reach it.
fcgi_sock() {
	local s=$RUN_DIR/fcgi.sock
	if ((${#s} > 100)); then
		printf '%s' "$SHORT_DIR/fcgi.sock"
	else
		runtime_dir "$NGINX_USER" "$VAR_DIR" "$s" "$SHORT_DIR/fcgi.sock"
	fi
}

# nginx_tmp: nginx's temp files (request bodies over 1 MiB); its worker user writes there.
nginx_tmp() { runtime_dir "$NGINX_USER" "$VAR_DIR" "$NGX_DIR/tmp" "$SHORT_DIR/nginx-tmp"; }

# www_dir: the static pages nginx serves (/docs, /dashboard, /assets/); www-data reads them.
www_dir() { runtime_dir "$NGINX_USER" "$VAR_DIR" "$VAR_DIR/www" "$SHORT_DIR/www"; }

# embedded_url [ROLE]: the embedded database as ROLE (default events, the owner).
embedded_url() {
	if ha_on; then
		ha_url "${1:-events}"
		return
	fi
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
