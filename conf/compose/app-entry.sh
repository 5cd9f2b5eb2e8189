#!/bin/bash
# Entry point of the app image (docker-compose.yml's app, migrate and loader services).
#
#   app-entry serve      spawn-fcgi on 0.0.0.0:9000, exec'ing events-fcgi (the default)
#   app-entry migrate    wait for the database, then migrate --dir /app/migrations
#   app-entry health     the pool's own GET /healthz over FastCGI: exit 0 when it answers ok
#   app-entry CMD ARG... any other command, e.g. import_events /data/events.csv
#
# Why "migrate" waits here: compose tools differ in whether they honour depends_on
# conditions (podman-compose 1.0.3 starts services in order but waits for nothing), so the
# one-shot migration waits for PostgreSQL's port itself (DB_WAIT_S seconds, default 60) and
# then retries a few times while the server finishes starting. The worker pool needs no wait:
# it answers 503 until its database is reachable and reconnects by itself.
set -euo pipefail

# db_host_port: "HOST PORT" from DATABASE_URL (postgresql://USER[:PW]@HOST[:PORT]/DB).
db_host_port() {
	local rest=${DATABASE_URL#*://}
	rest=${rest#*@}
	rest=${rest%%/*}
	rest=${rest%%\?*}
	case $rest in
	*:*) printf '%s %s' "${rest%%:*}" "${rest##*:}" ;;
	*) printf '%s 5432' "${rest:-localhost}" ;;
	esac
}

wait_for_db() {
	local host port deadline=$((SECONDS + ${DB_WAIT_S:-60}))
	read -r host port <<<"$(db_host_port)"
	until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			echo "app-entry: $host:$port did not accept connections in ${DB_WAIT_S:-60} s" >&2
			exit 1
		fi
		sleep 1
	done
}

case ${1:-serve} in
serve)
	exec spawn-fcgi -n -p 9000 -a 0.0.0.0 -- /usr/local/bin/events-fcgi
	;;
migrate)
	shift
	wait_for_db
	for attempt in 1 2 3 4 5; do
		migrate --dir /app/migrations "$@" && exit 0
		echo "app-entry: migrate failed (attempt $attempt of 5)" >&2
		sleep 2
	done
	exit 1
	;;
health)
	REQUEST_METHOD=GET SCRIPT_NAME=/healthz DOCUMENT_URI=/healthz REQUEST_URI=/healthz \
		SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
		cgi-fcgi -bind -connect 127.0.0.1:9000 | grep -q '"status":"ok"'
	;;
*)
	exec "$@"
	;;
esac
