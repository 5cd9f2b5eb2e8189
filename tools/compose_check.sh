#!/usr/bin/env bash
# Static checks of the container set-up (there may be no docker engine to build with):
#   1. docker-compose.yml validates (docker-compose 1.29 from Debian 12, or docker compose v2);
#   2. every file or directory docker-compose.yml and the Dockerfiles refer to exists;
#   3. conf/nginx.docker.conf and the rendered conf/nginx.conf.in pass "nginx -t".
# Exits non-zero on the first kind of problem found, after listing every instance of it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG="compose-check"
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
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

# 1. Validation.
"${compose[@]}" -f "$COMPOSE_FILE" config -q || die "$COMPOSE_FILE does not validate"

TMP=$(mktemp -d)
trap 'rm -rf -- "$TMP"' EXIT

# 2. Referenced paths: build contexts, Dockerfiles, bind-mount sources, and the sources of
# every COPY/ADD in those Dockerfiles (except COPY --from=stage). The normalised config
# (absolute paths) is read with Python's yaml, which docker-compose itself depends on.
"${compose[@]}" -f "$COMPOSE_FILE" config >"$TMP/config.yml"
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
	# Docker config: "app" does not resolve here, and the nginx user may not exist.
	sed -e 's/server app:9000/server 127.0.0.1:9000/g' \
		-e 's/^user nginx;//' \
		-e "s|^pid .*;|pid $TMP/ngx/nginx.pid;|" \
		-e "s|/dev/stdout|$TMP/ngx/logs/access.log|g" \
		-e "s|/dev/stderr|$TMP/ngx/logs/error.log|g" \
		conf/nginx.docker.conf >"$TMP/ngx/docker.conf"
	"$NGINX" -t -q -p "$TMP/ngx/" -c "$TMP/ngx/docker.conf" -e "$TMP/ngx/logs/error.log" 2>"$TMP/ngx/out" || {
		cat "$TMP/ngx/out" >&2
		die "conf/nginx.docker.conf fails nginx -t"
	}
	sed -e 's|@USER_DIRECTIVE@||' \
		-e "s|@PID_FILE@|$TMP/ngx/nginx.pid|" \
		-e "s|@ERROR_LOG@|$TMP/ngx/logs/error.log|" \
		-e "s|@ACCESS_LOG@|$TMP/ngx/logs/access.log|" \
		-e "s|@TEMP_DIR@|$TMP/ngx/tmp|" \
		-e "s|@FCGI_SOCK@|$TMP/ngx/fcgi.sock|" \
		-e "s|@LISTEN@|127.0.0.1:$(free_port)|" \
		-e 's|@RATE_LIMIT_RPS@|100|' -e 's|@RATE_LIMIT_BURST@|200|' -e 's|@CONN_LIMIT_PER_ADDR@|64|' \
		-e 's|@RATE_LIMIT_EXEMPT@|127.0.0.2 "";|' -e 's|@METRICS_ALLOW@|allow 10.0.0.0/8;|' \
		-e "s|@WWW_DIR@|$TMP/ngx/www|" \
		conf/nginx.conf.in >"$TMP/ngx/local.conf"
	if grep -q '@[A-Z_]*@' "$TMP/ngx/local.conf"; then
		die "conf/nginx.conf.in has a placeholder tools/stack.sh does not know: $(grep -o '@[A-Z_]*@' "$TMP/ngx/local.conf" | head -n 1)"
	fi
	"$NGINX" -t -q -p "$TMP/ngx/" -c "$TMP/ngx/local.conf" -e "$TMP/ngx/logs/error.log" 2>"$TMP/ngx/out" || {
		cat "$TMP/ngx/out" >&2
		die "conf/nginx.conf.in fails nginx -t"
	}
fi
say "ok: $COMPOSE_FILE, Dockerfile and nginx configs"
