#!/usr/bin/env bash
# Database roles of docker-compose.yml. The db image's entry point (conf/compose/db-entry.sh)
# runs this once, when it creates the cluster in an empty volume, connected as POSTGRES_USER
# (events_owner, the cluster's superuser, who owns the schema and runs the migrations).
#
# The project's role design: two NOLOGIN group roles, which the migrations also create if they
# do not exist and grant to,
#   events_writer  USAGE on the schema, SELECT/INSERT/UPDATE/DELETE on every table, USAGE and
#                  SELECT on sequences, EXECUTE on functions, TEMPORARY (the ingest path uses
#                  session temp tables);
#   events_reader  SELECT on every table;
# and login roles made by the deployment, here:
#   events_app     LOGIN PASSWORD $APP_DB_PASSWORD IN ROLE events_writer   (the service)
#   events_ro      LOGIN PASSWORD $RO_DB_PASSWORD  IN ROLE events_reader   (people, Adminer)
# Tables that events_owner creates later get the groups' grants through default privileges, so
# the service works as soon as the migrations have run. Only the owner and these roles may
# connect to the database.
#
# The passwords go from the environment to psql with \getenv, never on a command line. Running
# it again is safe and sets both passwords to the db container's current APP_DB_PASSWORD and
# RO_DB_PASSWORD (after a change in .env: docker compose up -d, which recreates the containers
# with the new values, then):
#   docker compose exec db bash /usr/local/share/events/db-roles.sh
# No exit, no set -u: written to be sourced as well as run.
set -Eeo pipefail

: "${APP_DB_PASSWORD:?APP_DB_PASSWORD must be set (docker-compose.yml passes it from .env)}"
: "${RO_DB_PASSWORD:?RO_DB_PASSWORD must be set (docker-compose.yml passes it from .env)}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" \
	--dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" <<'SQL'
SET client_min_messages = warning;
\getenv app_pw APP_DB_PASSWORD
\getenv ro_pw RO_DB_PASSWORD
SELECT current_user AS owner, current_database() AS db \gset

BEGIN;
SELECT format('CREATE ROLE %I NOLOGIN', r)
  FROM unnest(ARRAY['events_writer', 'events_reader', 'events_app', 'events_ro']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE events_app LOGIN PASSWORD :'app_pw';
ALTER ROLE events_ro LOGIN PASSWORD :'ro_pw';
GRANT events_writer TO events_app;
GRANT events_reader TO events_ro;

REVOKE CONNECT, TEMPORARY ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO events_writer, events_reader;
GRANT TEMPORARY ON DATABASE :"db" TO events_writer;
GRANT USAGE ON SCHEMA public TO events_writer, events_reader;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO events_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO events_writer;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO events_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO events_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
	GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO events_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
	GRANT USAGE, SELECT ON SEQUENCES TO events_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
	GRANT EXECUTE ON FUNCTIONS TO events_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
	GRANT SELECT ON TABLES TO events_reader;
COMMIT;
SQL
