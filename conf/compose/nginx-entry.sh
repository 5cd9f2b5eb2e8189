#!/bin/sh
# Entry point of the nginx image: renders the project's one nginx configuration
# (tools/render_nginx.sh, settings from the environment), runs nginx in the foreground, and
# reloads it when the addresses of the app service change.
#
# Why the reload: nginx resolves "app" once, when it reads its configuration. A container
# that restarts may come back with another address (podman gives a new one on every restart),
# and "docker compose up --scale app=N" adds or removes addresses; without a reload nginx would
# keep sending to the old set. Every UPSTREAM_POLL_S seconds (default 2) the addresses are
# looked up again and nginx reloads gracefully when they differ (in-flight requests finish).
# SIGTERM/SIGINT stop nginx fast, SIGQUIT gracefully; the container exits with nginx.
set -eu

CONF=/run/events-nginx/nginx.conf
HOST=${NGX_UPSTREAM%:*}
POLL=${UPSTREAM_POLL_S:-2}

addrs() { getent ahosts "$HOST" 2>/dev/null | awk '{print $1}' | sort -u | tr '\n' ' '; }

sh /etc/events/render_nginx.sh /etc/events/nginx.conf.in "$CONF"

# nginx refuses to start while the upstream's name does not resolve: wait for the app.
tries=0
until [ -n "$(addrs)" ]; do
	tries=$((tries + 1))
	[ "$tries" -le 60 ] || {
		echo "nginx-entry: $HOST does not resolve" >&2
		exit 1
	}
	sleep 1
done

last=$(addrs)
nginx -c "$CONF" -e stderr -g 'daemon off;' &
ngx=$!
trap 'kill -TERM "$ngx" 2>/dev/null || :' TERM INT
trap 'kill -QUIT "$ngx" 2>/dev/null || :' QUIT
while kill -0 "$ngx" 2>/dev/null; do
	sleep "$POLL" &
	wait $! || :
	now=$(addrs)
	if [ -n "$now" ] && [ "$now" != "$last" ]; then
		echo "nginx-entry: $HOST is now $now: reloading" >&2
		nginx -c "$CONF" -e stderr -s reload && last=$now
	fi
done
set +e
wait "$ngx"
