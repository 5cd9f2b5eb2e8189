#!/bin/sh
# Renders conf/nginx.conf.in, the one nginx configuration of the project, for the local stack
# (tools/stack.sh) and for docker-compose's nginx container (run there at start): the same
# routes, limits and error pages, with the settings of the environment.
#
#   tools/render_nginx.sh TEMPLATE OUT
#
# Settings shared with the local stack (defaults as in README's configuration table):
#   RATE_LIMIT_RPS (100), RATE_LIMIT_BURST (200), CONN_LIMIT_PER_ADDR (64),
#   RATE_LIMIT_EXEMPT, METRICS_ALLOW (address lists, space- or comma-separated)
# Where things are (each required; the caller knows its own layout):
#   NGX_USER        account of the nginx workers ("" when not started as root)
#   NGX_PID_FILE    NGX_ERROR_LOG    NGX_ACCESS_LOG    NGX_TEMP_DIR
#   NGX_UPSTREAM    the worker pool: unix:/path/to/fcgi.sock or host:port
#   NGX_LISTEN      [address:]port
#   NGX_WWW_DIR     the static pages (web/, openapi.yaml, swagger-ui/, uplot/)
# POSIX sh and sed only (it runs inside the nginx image too).
# Exit status: 0 written, 1 a bad setting (one line naming it) or a missing file, 2 usage.
set -eu

prog=render_nginx
die() {
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 1
}

case ${1:-} in
-h | --help)
	sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'
	exit 0
	;;
esac
[ $# -eq 2 ] || {
	echo "usage: tools/render_nginx.sh TEMPLATE OUT (--help)" >&2
	exit 2
}
TEMPLATE=$1
OUT=$2
[ -f "$TEMPLATE" ] || die "missing $TEMPLATE"

RATE_LIMIT_RPS=${RATE_LIMIT_RPS:-100}
RATE_LIMIT_BURST=${RATE_LIMIT_BURST:-200}
CONN_LIMIT_PER_ADDR=${CONN_LIMIT_PER_ADDR:-64}
RATE_LIMIT_EXEMPT=${RATE_LIMIT_EXEMPT:-}
METRICS_ALLOW=${METRICS_ALLOW:-}

# whole NAME MIN MAX: the variable NAME holds a whole number in MIN..MAX.
whole() {
	eval "v=\${$1}"
	case $v in '' | *[!0-9]* | 0?*) die "$1=$v: expected a whole number from $2 to $3" ;; esac
	[ "$v" -ge "$2" ] && [ "$v" -le "$3" ] || die "$1=$v: expected a whole number from $2 to $3"
}
whole RATE_LIMIT_RPS 1 1000000
whole RATE_LIMIT_BURST 0 1000000
whole CONN_LIMIT_PER_ADDR 1 100000

for v in NGX_PID_FILE NGX_ERROR_LOG NGX_ACCESS_LOG NGX_TEMP_DIR NGX_UPSTREAM NGX_LISTEN NGX_WWW_DIR; do
	eval "set -- \${$v+x}"
	[ $# -eq 1 ] || die "$v is not set"
done
NGX_USER=${NGX_USER:-}

# cidr_lines NAME FORMAT: FORMAT applied to each entry of the list in variable NAME, on one
# line (nginx takes several directives on a line). The shape is checked here; nginx -t checks
# the rest (tools/stack.sh has events-fcgi --check-config look at the values first).
cidr_lines() {
	eval "list=\${$1}"
	out=''
	for item in $(printf '%s' "$list" | tr ',' ' '); do
		case $item in
		*[!0-9A-Fa-f:./]* | '') die "$1: '$item' is not an IP address or network" ;;
		esac
		# shellcheck disable=SC2059
		out="$out$(printf "$2" "$item") "
	done
	printf '%s' "$out"
}

# esc VALUE: VALUE safe on the right-hand side of a sed s|...|...| command.
esc() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# the lists, checked here in this shell (a failure inside $(...) below would not stop it)
cidr_lines RATE_LIMIT_EXEMPT '%s' >/dev/null
cidr_lines METRICS_ALLOW '%s' >/dev/null

user=''
[ -z "$NGX_USER" ] || user="user $NGX_USER;"
sed -e "s|@USER_DIRECTIVE@|$(esc "$user")|g" \
	-e "s|@PID_FILE@|$(esc "$NGX_PID_FILE")|g" \
	-e "s|@ERROR_LOG@|$(esc "$NGX_ERROR_LOG")|g" \
	-e "s|@ACCESS_LOG@|$(esc "$NGX_ACCESS_LOG")|g" \
	-e "s|@TEMP_DIR@|$(esc "$NGX_TEMP_DIR")|g" \
	-e "s|@UPSTREAM@|$(esc "$NGX_UPSTREAM")|g" \
	-e "s|@LISTEN@|$(esc "$NGX_LISTEN")|g" \
	-e "s|@RATE_LIMIT_RPS@|$RATE_LIMIT_RPS|g" \
	-e "s|@RATE_LIMIT_BURST@|$RATE_LIMIT_BURST|g" \
	-e "s|@CONN_LIMIT_PER_ADDR@|$CONN_LIMIT_PER_ADDR|g" \
	-e "s|@RATE_LIMIT_EXEMPT@|$(esc "$(cidr_lines RATE_LIMIT_EXEMPT '%s "";')")|g" \
	-e "s|@METRICS_ALLOW@|$(esc "$(cidr_lines METRICS_ALLOW 'allow %s;')")|g" \
	-e "s|@WWW_DIR@|$(esc "$NGX_WWW_DIR")|g" \
	"$TEMPLATE" >"$OUT.new"
left=$(grep -o '@[A-Z_]*@' "$OUT.new" | head -n 1) || true
if [ -n "$left" ]; then
	rm -f "$OUT.new"
	die "a placeholder of $TEMPLATE this script does not know: $left"
fi
mv -f "$OUT.new" "$OUT"
