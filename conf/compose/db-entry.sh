#!/bin/bash
# Entry point of the db image: Debian's PostgreSQL 15, run as postgres, its cluster in PGDATA
# (the named volume of docker-compose.yml).
#
# On an empty volume it first makes the cluster: superuser events_owner with POSTGRES_PASSWORD
# (owns the schema, runs the migrations), database events, and the login roles of
# db-roles.sh (events_app, events_ro, passwords from APP_DB_PASSWORD and RO_DB_PASSWORD),
# while the server listens on its unix socket only; then it serves on TCP.
#
# Authentication: over TCP only to the database events, only from the compose network
# (samenet), only with a password (scram-sha-256); on the socket, the OS account postgres may
# be events_owner only (peer through a map, as ADR 2 does on one host). The passwords go to
# initdb and psql through a file or the environment, never on a command line.
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
: "${PGDATA:?}"

init_cluster() {
	: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set (docker-compose.yml passes it from .env)}"
	local pwfile
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	"$BIN/initdb" -D "$PGDATA" -U events_owner --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
		--auth-local=peer --auth-host=scram-sha-256 >/dev/null
	rm -f "$pwfile"
	cat >"$PGDATA/pg_hba.conf" <<'EOF'
# written by db-entry (the db image): see conf/compose/db-entry.sh
local  all     all  peer map=owner
host   events  all  samenet  scram-sha-256
EOF
	printf '# written by db-entry\nowner  postgres  events_owner\n' >"$PGDATA/pg_ident.conf"
	"$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
	psql -v ON_ERROR_STOP=1 --no-psqlrc -q -U events_owner -d postgres -c 'CREATE DATABASE events'
	bash /usr/local/share/events/db-roles.sh
	"$BIN/pg_ctl" -D "$PGDATA" -w -s -m fast stop
	echo "db-entry: new cluster in $PGDATA (owner events_owner, database events)" >&2
}

[ -s "$PGDATA/PG_VERSION" ] || init_cluster
exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*'
