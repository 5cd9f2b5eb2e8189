#!/usr/bin/env bash
# Adminer for the local stack: Debian's adminer package run by php-fpm behind a small nginx of
# its own on 127.0.0.1:8080 only (never another address: Adminer can reach any database).
#
#   tools/adminer.sh up|down|status          (make adminer = tools/deps.sh adminer + up)
#
# It logs in to the embedded database of the stack under VAR_DIR as events_ro, a role that reads
# everything and writes nothing (PostgreSQL over its unix socket, peer authentication: php-fpm
# runs as www-data with the worker pool's group, which may reach the socket, and the cluster
# maps www-data to events_ro only), or to DATABASE_URL when that names an external database.
# A writing session, when one is really needed: make psql (the owner role).
# Settings: VAR_DIR and POOL_USER as for tools/stack.sh; ADMINER_PORT (8080).
# Exit status: 0 ok, 1 failure, 2 usage, 3 from "status" when not running.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG=adminer
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

VAR_DIR=$(realpath -m -- "${VAR_DIR:-$ROOT/var}")
ADMINER_PORT=${ADMINER_PORT:-8080}
ADMINER_PHP=/usr/share/adminer/adminer.php
WEB_USER=www-data
POOL_USER=${POOL_USER:-eventsd}
[[ $ADMINER_PORT =~ ^[0-9]+$ ]] && ((ADMINER_PORT >= 1 && ADMINER_PORT <= 65535)) ||
	die "ADMINER_PORT must be 1..65535, not '$ADMINER_PORT'"

# Runtime files: php-fpm and nginx workers (www-data when root) must reach them.
DIR=$(runtime_dir "$WEB_USER" "$VAR_DIR" "$VAR_DIR/adminer" "/tmp/events-adminer-$(short_hash "$VAR_DIR")")
SOCK=$DIR/php-fpm.sock
FPM_PID=$DIR/php-fpm.pid
NGX_PID=$DIR/nginx.pid

fpm_bin() {
	local b
	b=$(ls /usr/sbin/php-fpm* 2>/dev/null | sort -V | tail -n 1 || true)
	[ -n "$b" ] || die "php-fpm not installed (run: tools/deps.sh adminer)"
	printf '%s' "$b"
}

# db_login: "server user db" for Adminer's login form, from the stack's DATABASE_URL.
db_login() {
	local url host user db
	url=$(eval "$("$ROOT/tools/stack.sh" env)" && printf '%s' "$DATABASE_URL")
	# postgresql://USER[:PW]@[HOST][:PORT]/DB[?host=SOCKDIR&port=N]
	user=$(sed -E 's|^[a-z]+://([^:@/]*).*|\1|' <<<"$url")
	db=$(sed -E 's|^[a-z]+://[^/]*/([^?]*).*|\1|' <<<"$url")
	host=$(sed -nE 's|.*[?&]host=([^&]*).*|\1|p' <<<"$url")
	[ -n "$host" ] || host=$(sed -E 's|^[a-z]+://([^@/]*@)?([^/:]*).*|\2|' <<<"$url")
	host=$(printf '%b' "${host//%/\\x}")
	# the embedded cluster (a socket directory): the read-only role
	case $host in /*) user=events_ro ;; esac
	printf '%s %s %s' "${host:-localhost}" "${user:-events}" "${db:-events}"
}

render() {
	local user_line='' pool_user=''
	if is_root; then
		user_line="user $WEB_USER;"
		# the pool's group reaches the embedded cluster's socket directory (tools/stack.sh)
		id -u "$POOL_USER" >/dev/null 2>&1 || die "no account $POOL_USER: start the stack first (make run)"
		pool_user="user = $WEB_USER
group = $(id -gn "$POOL_USER")
listen.owner = $WEB_USER
listen.group = $WEB_USER"
	fi
	mkdir -p "$DIR/tmp"
	chmod 0755 "$DIR"
	! is_root || chown "$WEB_USER:" "$DIR/tmp"
	cat >"$DIR/php-fpm.conf" <<EOF
; written by tools/adminer.sh
[global]
pid = $FPM_PID
error_log = $DIR/php-fpm.log
daemonize = yes

[adminer]
$pool_user
listen = $SOCK
listen.mode = 0660
pm = ondemand
pm.max_children = 4
pm.process_idle_timeout = 30s
php_admin_value[upload_tmp_dir] = $DIR/tmp
php_admin_value[session.save_path] = $DIR/tmp
php_admin_value[open_basedir] = /usr/share/adminer:$DIR/tmp
EOF
	cat >"$DIR/nginx.conf" <<EOF
# written by tools/adminer.sh: Adminer on loopback only
$user_line
worker_processes 1;
pid $NGX_PID;
error_log $DIR/nginx-error.log warn;
events { worker_connections 64; }
http {
    server_tokens off;
    access_log $DIR/nginx-access.log;
    client_body_temp_path $DIR/tmp/body;
    fastcgi_temp_path $DIR/tmp/fastcgi;
    proxy_temp_path $DIR/tmp/proxy;
    uwsgi_temp_path $DIR/tmp/uwsgi;
    scgi_temp_path $DIR/tmp/scgi;
    client_max_body_size 64m;
    server {
        listen 127.0.0.1:$ADMINER_PORT;
        # Every path is Adminer: its CSS/JS are served by adminer.php itself (?file=...).
        location / {
            fastcgi_pass unix:$SOCK;
            fastcgi_param SCRIPT_FILENAME $ADMINER_PHP;
            fastcgi_param SCRIPT_NAME     /;
            fastcgi_param QUERY_STRING    \$query_string;
            fastcgi_param REQUEST_METHOD  \$request_method;
            fastcgi_param CONTENT_TYPE    \$content_type;
            fastcgi_param CONTENT_LENGTH  \$content_length;
            fastcgi_param REQUEST_URI     \$request_uri;
            fastcgi_param DOCUMENT_URI    \$document_uri;
            fastcgi_param SERVER_PROTOCOL \$server_protocol;
            fastcgi_param REMOTE_ADDR     \$remote_addr;
            fastcgi_param SERVER_NAME     \$host;
            fastcgi_param SERVER_PORT     \$server_port;
            fastcgi_param HTTP_HOST       \$host:\$server_port;
        }
    }
}
EOF
}

cmd_up() {
	local fpm server user db url
	[ -r "$ADMINER_PHP" ] || die "$ADMINER_PHP missing (run: tools/deps.sh adminer)"
	fpm=$(fpm_bin)
	render
	if pid_alive "$(read_pid "$FPM_PID")" php-fpm; then
		say "php-fpm already running"
	else
		rm -f "$SOCK"
		"$fpm" --fpm-config "$DIR/php-fpm.conf" ||
			die "php-fpm did not start (log: $DIR/php-fpm.log)"
	fi
	if pid_alive "$(read_pid "$NGX_PID")" nginx; then
		say "nginx for adminer already running"
	else
		port_in_use 127.0.0.1 "$ADMINER_PORT" && die "127.0.0.1:$ADMINER_PORT is in use (try ADMINER_PORT=...)"
		"$(command -v nginx || echo /usr/sbin/nginx)" -p "$DIR/" -c "$DIR/nginx.conf" -e "$DIR/nginx-error.log" ||
			die "nginx for adminer did not start (log: $DIR/nginx-error.log)"
	fi
	read -r server user db <<<"$(db_login)"
	url="http://127.0.0.1:$ADMINER_PORT/?pgsql=$(urlencode "$server")&username=$(urlencode "$user")&db=$(urlencode "$db")"
	cat >&2 <<EOF
adminer: running on http://127.0.0.1:$ADMINER_PORT/ (loopback only)
  open      $url
  login     System PostgreSQL, Server $server, Username $user, Database $db,
            Password: anything (the embedded cluster authenticates the OS account,
            not a password; Adminer refuses an empty one). events_ro reads
            everything and writes nothing; to write: make psql
  stop      tools/adminer.sh down
EOF
}

cmd_down() {
	local pid
	pid=$(read_pid "$NGX_PID")
	if pid_alive "$pid" nginx; then
		kill -QUIT "$pid" && wait_gone "$pid" 10 || kill -TERM "$pid" 2>/dev/null || true
		say "stopped nginx for adminer (pid $pid)"
	fi
	pid=$(read_pid "$FPM_PID")
	if pid_alive "$pid" php-fpm; then
		kill -QUIT "$pid" && wait_gone "$pid" 10 || kill -TERM "$pid" 2>/dev/null || true
		say "stopped php-fpm (pid $pid)"
	fi
	rm -f "$SOCK" "$NGX_PID" "$FPM_PID"
}

cmd_status() {
	local rc=0
	pid_alive "$(read_pid "$FPM_PID")" php-fpm && say "php-fpm: running" || { say "php-fpm: not running"; rc=3; }
	pid_alive "$(read_pid "$NGX_PID")" nginx && say "nginx:   running on 127.0.0.1:$ADMINER_PORT" || { say "nginx:   not running"; rc=3; }
	return $rc
}

case ${1:-} in
up) cmd_up ;;
down | stop) cmd_down ;;
status) cmd_status ;;
*) help_or_refuse "${1:-}" ;;
esac
