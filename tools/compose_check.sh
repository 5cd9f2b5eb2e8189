#!/usr/bin/env bash
# Static checks of the container set-up, without a container engine (make compose-smoke runs
# it for real):
#   1. docker-compose.yml validates (docker-compose 1.29 from Debian 12, or docker compose v2);
#   2. every file or directory docker-compose.yml and the Dockerfiles refer to exists;
#   3. conf/nginx.conf.in, rendered by tools/render_nginx.sh for the local stack and for the
#      nginx container, passes "nginx -t";
#   4. security: compose refuses to start without each password, no port is published on all
#      interfaces, docker-compose.yml holds no literal password, and the app's DATABASE_URL
#      user is not the database's superuser.
# Exits non-zero on the first kind of problem found, after listing every instance of it.
# Run by make compose-check (make test). No arguments.
# Exit status: 0 all checks pass, 1 a check failed, 2 usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG="compose-check"
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
no_args "$@"
cd "$ROOT"

COMPOSE_FILE=docker-compose.yml
[ -f "$COMPOSE_FILE" ] || die "missing $COMPOSE_FILE"

if command -v docker-compose >/dev/null; then
	compose=(docker-compose)
elif command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
else
	die "neither docker-compose nor docker compose is installed (run: tools/deps.sh test)"
fi

TMP=$(mktemp -d)
trap 'rm -rf -- "$TMP"' EXIT

# The variables docker-compose.yml interpolates come from test values only: never from the
# caller's environment or a developer's .env (where EVENTS_BIND=0.0.0.0 is a choice, not a bug).
SECRETS=(POSTGRES_PASSWORD APP_DB_PASSWORD RO_DB_PASSWORD)
# shellcheck disable=SC2016  # a literal "${" is searched for
mapfile -t COMPOSE_VARS < <(grep -o '\${[A-Za-z_][A-Za-z0-9_]*' "$COMPOSE_FILE" | cut -c3- | sort -u)
for v in "${SECRETS[@]}"; do printf '%s=compose-check-%s\n' "$v" "$v"; done >"$TMP/test.env"

# compose_run ENV_FILE ARGS...: docker-compose on COMPOSE_FILE with ENV_FILE's variables only.
compose_run() {
	local env_file=$1 v
	local -a unset_vars=()
	shift
	for v in "${COMPOSE_VARS[@]}"; do unset_vars+=(-u "$v"); done
	env "${unset_vars[@]}" "${compose[@]}" --env-file "$env_file" -f "$COMPOSE_FILE" "$@"
}

# 1. Validation.
compose_run "$TMP/test.env" config -q || die "$COMPOSE_FILE does not validate"

# 2. Referenced paths: build contexts, Dockerfiles, bind-mount sources, and the sources of
# every COPY/ADD in those Dockerfiles (except COPY --from=stage). The normalised config
# (absolute paths) is read with Python's yaml, which docker-compose itself depends on.
compose_run "$TMP/test.env" config >"$TMP/config.yml"
python3 - "$TMP/config.yml" >"$TMP/refs" <<'EOF' || die "cannot read the compose configuration"
import os, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
for name, svc in (cfg.get("services") or {}).items():
    build = svc.get("build")
    if isinstance(build, str):
        build = {"context": build}
    if build:
        ctx = build.get("context", ".")
        print(f"dir\t{ctx}\tservice {name}: build context")
        df = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
        print(f"dockerfile\t{df}\tservice {name}: dockerfile\t{ctx}")
    for v in svc.get("volumes") or []:
        if isinstance(v, str):
            src = v.split(":")[0]
            kind = "bind" if src.startswith((".", "/", "~")) else "volume"
        else:
            src, kind = v.get("source", ""), v.get("type", "volume")
        if kind == "bind":
            print(f"path\t{src}\tservice {name}: bind mount")
    for f in svc.get("env_file") or []:
        print(f"path\t{f}\tservice {name}: env_file")
EOF

problems=0
missing() {
	say "missing: $1 ($2)"
	problems=$((problems + 1))
}

# dockerfile_sources DOCKERFILE: one source path per line for each COPY/ADD not --from.
dockerfile_sources() {
	# Join continuation lines, keep COPY/ADD instructions, drop flags and the destination.
	sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' "$1" |
		awk 'toupper($1) == "COPY" || toupper($1) == "ADD" {
			from = 0; n = 0
			for (i = 2; i <= NF; i++) {
				if ($i ~ /^--from=/) from = 1
				else if ($i ~ /^--/) continue
				else args[++n] = $i
			}
			if (from) next
			if (args[1] ~ /^\[/) {           # JSON form
				line = ""; for (i = 1; i <= n; i++) line = line " " args[i]
				gsub(/[\[\]",]/, " ", line); n = split(line, args, " ")
			}
			for (i = 1; i < n; i++) print args[i]
		}'
}

while IFS=$'\t' read -r kind path what ctx; do
	case $kind in
	dir) [ -d "$path" ] || missing "$path" "$what" ;;
	path) [ -e "$path" ] || missing "$path" "$what" ;;
	dockerfile)
		if [ ! -f "$path" ]; then
			missing "$path" "$what"
			continue
		fi
		while read -r src; do
			[ -n "$src" ] || continue
			case $src in http://* | https://*) continue ;; esac
			# shellcheck disable=SC2086  # globs in COPY sources are expanded on purpose
			set -- "$ctx"/$src
			[ -e "$1" ] || missing "$ctx/$src" "COPY/ADD source in $path"
		done < <(dockerfile_sources "$path")
		;;
	esac
done < <(sort -u "$TMP/refs")

((problems == 0)) || die "$problems referenced path(s) missing"

# 3. nginx syntax, when nginx is installed (it is for "make run"/"make test").
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
if [ -x "$NGINX" ]; then
	mkdir -p "$TMP/ngx/tmp" "$TMP/ngx/logs"
	# The one template (conf/nginx.conf.in), rendered by tools/render_nginx.sh as the local
	# stack does (a unix socket) and as the nginx container does (app:9000 over TCP: "app"
	# does not resolve here, nor may the container's user exist, so their stand-ins).
	grep -q 'render_nginx.sh /etc/events/nginx.conf.in' conf/compose/nginx-entry.sh &&
		grep -q '^COPY conf/nginx.conf.in /etc/events/nginx.conf.in$' Dockerfile ||
		die "the nginx image does not render conf/nginx.conf.in with tools/render_nginx.sh"
	# the container takes the same settings as the local stack, from .env
	for v in RATE_LIMIT_RPS RATE_LIMIT_BURST CONN_LIMIT_PER_ADDR RATE_LIMIT_EXEMPT METRICS_ALLOW API_KEYS; do
		grep -q "^ *$v: \${$v[:}]" "$COMPOSE_FILE" ||
			die "$COMPOSE_FILE does not pass $v through (the local stack's setting)"
	done
	for upstream in "unix:$TMP/ngx/fcgi.sock" 127.0.0.1:9000; do
		NGX_USER='' NGX_PID_FILE=$TMP/ngx/nginx.pid NGX_ERROR_LOG=$TMP/ngx/logs/error.log \
			NGX_ACCESS_LOG=$TMP/ngx/logs/access.log NGX_TEMP_DIR=$TMP/ngx/tmp \
			NGX_UPSTREAM=$upstream NGX_LISTEN=127.0.0.1:$(free_port) NGX_WWW_DIR=$TMP/ngx/www \
			RATE_LIMIT_EXEMPT=127.0.0.2 METRICS_ALLOW='10.0.0.0/8 172.16.0.0/12' \
			tools/render_nginx.sh conf/nginx.conf.in "$TMP/ngx/nginx.conf" ||
			die "tools/render_nginx.sh could not render conf/nginx.conf.in"
		"$NGINX" -t -q -p "$TMP/ngx/" -c "$TMP/ngx/nginx.conf" -e "$TMP/ngx/logs/error.log" 2>"$TMP/ngx/out" || {
			cat "$TMP/ngx/out" >&2
			die "conf/nginx.conf.in rendered for upstream $upstream fails nginx -t"
		}
	done
fi

# 4. Security. Each password is required: without it, compose must refuse to start.
for v in "${SECRETS[@]}"; do
	grep -v "^$v=" "$TMP/test.env" >"$TMP/without.env"
	if compose_run "$TMP/without.env" config -q >/dev/null 2>&1; then
		say "insecure: $COMPOSE_FILE starts without $v (use \${$v:?set $v in .env})"
		problems=$((problems + 1))
	fi
done
# Ports (the normalised config: what compose would publish), literal passwords (the file as
# written: a value must be a \${VAR} or \${VAR:?message} reference, with no default) and the
# database users (the app's must not be POSTGRES_USER, the superuser of the container cluster).
python3 - "$COMPOSE_FILE" "$TMP/config.yml" >"$TMP/insecure" <<'EOF' || die "cannot read the compose configuration"
import re, sys, yaml
from urllib.parse import urlsplit

raw = yaml.safe_load(open(sys.argv[1]))
cfg = yaml.safe_load(open(sys.argv[2]))
ANY = ("", "0.0.0.0", "::", "[::]")
SECRET_KEY = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEYS", re.I)
REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$")
# optional secrets (API_KEYS: none means an open service, as on the local stack) may default
# to empty, never to a value
OPTIONAL = re.compile(r"^\$\{API_KEYS:-\}$")
URL_PW = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:([^@\s]*)@")

def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}

def strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node

for name, svc in (cfg.get("services") or {}).items():
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            host_ip = str(p.get("host_ip") or "")
            shown = f'{host_ip}:{p.get("published", "")}:{p.get("target", "")}'
        else:
            parts = str(p).split("/")[0].split(":")
            host_ip = ":".join(parts[:-2]) if len(parts) > 2 else ""
            shown = str(p)
        if host_ip in ANY:
            print(f"service {name}: port {shown} is published on all interfaces"
                  ' (bind it: "127.0.0.1:HOST:CONTAINER")')

for name, svc in (raw.get("services") or {}).items():
    env = env_of(svc)
    for k, v in env.items():
        if SECRET_KEY.search(k) and not k.endswith("_FILE") and not REF.match(v.strip()) \
                and not OPTIONAL.match(v.strip()):
            print(f"service {name}: {k} is {v!r}, not a required variable (${{VAR:?...}})")
    for s in strings(svc):
        m = URL_PW.search(s)
        if m and not REF.match(m.group(1)):
            print(f"service {name}: a URL with a literal password: {s}")
    if env.get("POSTGRES_HOST_AUTH_METHOD", "").strip() == "trust":
        print(f"service {name}: POSTGRES_HOST_AUTH_METHOD=trust accepts any password")

services = cfg.get("services") or {}
superuser = env_of(services.get("db") or {}).get("POSTGRES_USER") or "postgres"
app = env_of(services.get("app") or {})
user = urlsplit(app.get("DATABASE_URL", "")).username or app.get("PGUSER", "")
if not user:
    print("service app: no database user in DATABASE_URL (or PGUSER)")
elif user in (superuser, "postgres"):
    print(f"service app: connects as {user}, the superuser of the database")
EOF
while IFS= read -r line; do
	say "insecure: $line"
	problems=$((problems + 1))
done <"$TMP/insecure"
((problems == 0)) || die "$problems security problem(s) in $COMPOSE_FILE"

say "ok: $COMPOSE_FILE, Dockerfile and nginx configs"
