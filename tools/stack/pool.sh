# shellcheck shell=bash
# The FastCGI worker pool: spawn-fcgi binds the socket (as root owned by POOL_USER and nginx's
# group) and execs events-fcgi, the supervisor of the workers; its account, start and stop.
# Sourced by tools/stack.sh; its socket's place comes from paths.sh.

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

pool_pid() { live_pid "$POOL_PID" events-fcgi; }

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
		cd "$ROOT" || exit
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
