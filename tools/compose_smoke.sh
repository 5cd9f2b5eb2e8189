#!/usr/bin/env bash
# docker-compose.yml run for real: builds the four images of the Dockerfile, starts the whole
# stack under a project name of its own, and checks it end to end:
#   1. every service healthy (db, app, nginx, adminer) and the migration exited 0;
#   2. the loader service loads data/events_sample.csv (5000 accepted);
#   3. /healthz, and the three /stats routes equal what the CSV implies
#      (tools/compose_stats_check.py, the queries of tests/integration/test_sample.c);
#   4. /metrics answered to a client inside the compose network;
#   5. Adminer's login page on its loopback port;
#   6. "compose restart app" while a client keeps posting: every acknowledged event stored;
# then takes everything down: no container, volume or network of the project is left, also
# when a step fails. One summary line at the end.
#
# Engine: docker when a docker engine answers (docker compose, its healthchecks), else podman
# with podman-compose (tools/compose_lib.sh: settings and image store under build/compose/;
# podman without systemd runs no healthchecks by itself, so this script runs them). Host ports
# are free ones, never 8000/8080 of a stack already running.
#   tools/compose_smoke.sh          the run above (make compose-smoke)
#   tools/compose_smoke.sh clean    drop the cache under build/compose/ (make compose-clean)
# Exit status: 0 every check passed, 1 a check failed, 2 usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG=compose-smoke
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
# shellcheck source=tools/compose_lib.sh
. "$ROOT/tools/compose_lib.sh"
if [ $# -eq 1 ] && [ "$1" = clean ]; then
	compose_clean
	exit 0
fi
no_args "$@"

T0=$SECONDS
SERVICES=(db app nginx adminer)
SAMPLE=data/events_sample.csv
compose_engine
PROJECT=evsmoke$$x$RANDOM
RUN_DIR=$COMPOSE_DIR/$PROJECT
TAG=latest
# with docker the images land in the user's own store: a tag of this run, removed at the end
[ "$ENGINE" = podman ] || TAG=$PROJECT
STEP="start"
RESULTS=()

# --- tear-down (always) -------------------------------------------------------------------
project_ids() { # KIND: ids of the project's containers, volumes or networks
	local label=com.docker.compose.project=$PROJECT
	case $1 in
	container) "$ENGINE" ps -aq --filter "label=$label" ;;
	volume) "$ENGINE" volume ls -q --filter "label=$label" ;;
	network) "$ENGINE" network ls -q --filter "label=$label" ;;
	esac
}

teardown() {
	local rc=$? kind left=()
	set +e
	trap - EXIT INT TERM
	if [ -n "${POSTER:-}" ]; then
		touch "$RUN_DIR/stop"
		kill "$POSTER" 2>/dev/null
	fi
	[ -d "$RUN_DIR" ] && compose down -v -t 10 >>"$RUN_DIR/compose.log" 2>&1
	# what the compose tool left (podman-compose 1.0.3 keeps the network)
	for kind in container volume network; do
		# shellcheck disable=SC2046  # one id per word
		[ -z "$(project_ids "$kind")" ] || "$ENGINE" "$kind" rm -f $(project_ids "$kind") >/dev/null 2>&1
		[ -z "$(project_ids "$kind")" ] || left+=("$kind")
	done
	if [ "$ENGINE" = docker ]; then
		for kind in "${COMPOSE_TARGETS[@]}"; do docker image rm "events-analytics-$kind:$TAG"; done >/dev/null 2>&1
	fi
	if ((rc != 0)) && [ -f "$RUN_DIR/compose.log" ]; then
		say "last lines of the compose tool's output:"
		tail -n 15 "$RUN_DIR/compose.log" | sed -e 's/PASSWORD=[^ ]*/PASSWORD=.../g' >&2
	fi
	rm -rf "$RUN_DIR"
	if ((${#left[@]})); then
		say "tear-down left ${left[*]}(s) of project $PROJECT"
		rc=1
	fi
	local IFS=,
	if ((rc == 0)); then
		say "ok: $ENGINE,${RESULTS[*]}, nothing left behind; $((SECONDS - T0)) s"
	else
		say "FAILED at: $STEP ($ENGINE, project $PROJECT; passed:${RESULTS[*]:- none}); $((SECONDS - T0)) s"
	fi
	exit "$rc"
}
trap teardown EXIT
trap 'exit 1' INT TERM

# --- helpers ------------------------------------------------------------------------------
# compose ARGS...: the compose tool on this run's resolved file (no .env is read).
compose() {
	if [ "$ENGINE" = podman ]; then
		(cd "$RUN_DIR" && podman-compose -p "$PROJECT" "$@")
	elif docker compose version >/dev/null 2>&1; then
		docker compose -p "$PROJECT" -f "$RUN_DIR/docker-compose.yml" "$@"
	else
		docker-compose -p "$PROJECT" -f "$RUN_DIR/docker-compose.yml" "$@"
	fi
}

cid() { "$ENGINE" ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
	--filter "label=com.docker.compose.service=$1" | head -n 1; }

# healthy ID: the container's healthcheck passes now. podman without systemd schedules none,
# so it is run here; docker runs its own and reports.
healthy() {
	if [ "$ENGINE" = podman ]; then
		podman healthcheck run "$1" >/dev/null 2>&1
	else
		[ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ]
	fi
}

wait_healthy() { # SERVICE...
	local s id deadline=$((SECONDS + 180))
	for s in "$@"; do
		until id=$(cid "$s") && [ -n "$id" ] && healthy "$id"; do
			((SECONDS < deadline)) || fail "$s is not healthy after 180 s"
			sleep 1
		done
	done
}

fail() {
	say "$STEP: $*"
	exit 1
}

step() {
	STEP=$1
	say "$STEP ($((SECONDS - T0)) s)"
}

http() { curl -sS --max-time 30 "$@"; }

random_hex() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# poster: posts one new event per request until RUN_DIR/stop exists; the ids the service
# acknowledged (200 and accepted 1) go to RUN_DIR/acked, every status code to RUN_DIR/codes.
poster() {
	local id code
	while [ ! -e "$RUN_DIR/stop" ]; do
		id=$(cat /proc/sys/kernel/random/uuid)
		code=$(curl -s --max-time 10 -o "$RUN_DIR/post.out" -w '%{http_code}' \
			-H 'Content-Type: application/json' --data "[{\"event_id\":\"$id\",
			\"occurred_at\":\"2025-10-01T00:00:00Z\",\"user_id\":\"smoke\",
			\"event_type\":\"smoke_restart\"}]" "$BASE/events") || :
		if [ "$code" = 200 ] && grep -q '"accepted":1,' "$RUN_DIR/post.out"; then
			echo "$id" >>"$RUN_DIR/acked"
		fi
		echo "$code" >>"$RUN_DIR/codes"
	done
}

acked() { wc -l <"$RUN_DIR/acked"; }

acked_at_least() { # N: wait (60 s at most) until N events are acknowledged
	local deadline=$((SECONDS + 60))
	until (($(acked) >= $1)); do
		((SECONDS < deadline)) || fail "only $(acked) of $1 events acknowledged after 60 s"
		sleep 0.2
	done
}

# stored_of_acked: how many of the acknowledged ids the database holds (psql in the db
# container, as events_owner through the socket's peer map).
stored_of_acked() {
	{
		printf 'CREATE TEMP TABLE acked (id uuid);\nCOPY acked FROM STDIN;\n'
		cat "$RUN_DIR/acked"
		printf '\\.\nSELECT count(*) FROM acked JOIN events ON event_id = id;\n'
	} | "$ENGINE" exec -i "$(cid db)" psql -X -q -At -v ON_ERROR_STOP=1 -U events_owner -d events
}

# --- the run ------------------------------------------------------------------------------
command -v docker-compose >/dev/null || die "docker-compose is missing (run: tools/deps.sh test)"
[ -d "$ROOT/node_modules/swagger-ui-dist" ] || die "node_modules missing: run make web first"
(umask 077 && mkdir -p "$RUN_DIR")
EVENTS_PORT=$(free_port)
ADMINER_PORT=$(free_port)
[ "$EVENTS_PORT" != "$ADMINER_PORT" ] || ADMINER_PORT=$(free_port)
{
	for v in POSTGRES_PASSWORD APP_DB_PASSWORD RO_DB_PASSWORD; do printf '%s=%s\n' "$v" "$(random_hex)"; done
	printf 'EVENTS_PORT=%s\nADMINER_PORT=%s\nEVENTS_TAG=%s\n' "$EVENTS_PORT" "$ADMINER_PORT" "$TAG"
} >"$RUN_DIR/test.env"
BASE=http://127.0.0.1:$EVENTS_PORT

# The file resolved once by docker-compose 1.29 (Compose Specification interpolation, paths
# made absolute, this run's values only: none from the caller's environment or a .env), and
# that is what the compose tool runs: podman-compose 1.0.3's own interpolation mishandles
# "${VAR:-}" (an empty default).
step "resolve docker-compose.yml"
# shellcheck disable=SC2016  # a literal "${" is searched for
mapfile -t vars < <(grep -o '\${[A-Za-z_][A-Za-z0-9_]*' "$ROOT/docker-compose.yml" | cut -c3- | sort -u)
env "${vars[@]/#/-u}" docker-compose --env-file "$RUN_DIR/test.env" --profile tools \
	-p "$PROJECT" -f "$ROOT/docker-compose.yml" config >"$RUN_DIR/docker-compose.yml" ||
	fail "docker-compose config failed"

step "base image"
base_image
t=$SECONDS
step "build images"
build_images "$TAG" || fail "image build failed"
RESULTS+=(" built in $((SECONDS - t)) s")

step "up"
compose up -d --no-build "${SERVICES[@]}" >>"$RUN_DIR/compose.log" 2>&1 || fail "compose up failed"
step "wait for health"
wait_healthy "${SERVICES[@]}"
[ "$("$ENGINE" inspect -f '{{.State.ExitCode}}' "$(cid migrate)")" = 0 ] || fail "migrate did not exit 0"
RESULTS+=(" ${#SERVICES[@]} services healthy")

step "loader: $SAMPLE"
out=$(compose run --rm --no-deps loader import_events "/data/${SAMPLE#data/}" 2>>"$RUN_DIR/compose.log") ||
	fail "the loader failed"
grep -q '"accepted":5000,' <<<"$out" || fail "expected 5000 accepted: $(tail -n 1 <<<"$out")"
RESULTS+=(" 5000 loaded")

step "healthz and stats"
[ "$(http "$BASE/healthz")" = '{"status":"ok","db":"ok"}' ] || fail "/healthz is not ok"
python3 "$ROOT/tools/compose_stats_check.py" "$ROOT/$SAMPLE" "$BASE" >"$RUN_DIR/stats.out" ||
	fail "the stats differ from the sample"
RESULTS+=(" healthz + 5 stats answers")

step "metrics inside the network"
# shellcheck disable=SC2016  # expanded by the app container's bash
metrics=$("$ENGINE" exec "$(cid app)" bash -c 'exec 3<>/dev/tcp/nginx/8000 &&
	printf "GET /metrics HTTP/1.0\r\nHost: nginx\r\n\r\n" >&3 && cat <&3') || fail "no answer from nginx:8000"
{ grep -q '^HTTP/1.1 200' <<<"$metrics" && grep -q '^events_accepted_total' <<<"$metrics"; } ||
	fail "/metrics from the app container: $(head -n 1 <<<"$metrics")"
RESULTS+=(" metrics")

step "adminer: events_ro logs in"
A=http://127.0.0.1:$ADMINER_PORT
jar=$RUN_DIR/adminer.cookies
page=$(http -c "$jar" -b "$jar" "$A/") || fail "no answer on 127.0.0.1:$ADMINER_PORT"
grep -q 'name="auth\[username\]"' <<<"$page" || fail "no login form on Adminer's page"
sed -n 's/^RO_DB_PASSWORD=//p' "$RUN_DIR/test.env" | tr -d '\n' >"$RUN_DIR/ro.pw"
page=$(http -L -c "$jar" -b "$jar" --data-urlencode 'auth[driver]=pgsql' \
	--data-urlencode 'auth[server]=db' --data-urlencode 'auth[username]=events_ro' \
	--data-urlencode "auth[password]@$RUN_DIR/ro.pw" --data-urlencode 'auth[db]=events' "$A/") || fail "no answer to the login"
# logged in: the database's tables are listed, "events" among them
grep -q 'select=events"' <<<"$page" || fail "events_ro could not log in through Adminer"
RESULTS+=(" adminer login")

step "restart app under load"
: >"$RUN_DIR/acked"
poster &
POSTER=$!
acked_at_least 5
before=$(acked)
compose restart app >>"$RUN_DIR/compose.log" 2>&1 || fail "compose restart app failed"
wait_healthy app
# posts acknowledged after the restart: nginx reaches the new container
acked_at_least $(($(acked) + 5))
touch "$RUN_DIR/stop"
wait "$POSTER" || :
stored=$(stored_of_acked)
[ "$stored" = "$(acked)" ] || fail "$(acked) events acknowledged, $stored of them stored"
refused=$(grep -cv '^200$' "$RUN_DIR/codes" || :)
RESULTS+=(" restart: $(acked) acked ($before before) all stored ($refused refused meanwhile)")
