# shellcheck shell=bash
# nginx in front of the worker pool: its configuration rendered from conf/nginx.conf.in by
# tools/render_nginx.sh, the static pages it serves (www_sync), start and stop. Sourced by
# tools/stack.sh; its temp and page directories come from paths.sh.

nginx_bin() {
	local b
	b=$(command -v nginx 2>/dev/null || true)
	[ -n "$b" ] || [ ! -x /usr/sbin/nginx ] || b=/usr/sbin/nginx
	[ -n "$b" ] || die "nginx not installed (run: tools/deps.sh run)"
	printf '%s' "$b"
}

nginx_pid() { live_pid "$NGINX_PID" nginx; }

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
