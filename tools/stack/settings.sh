# shellcheck shell=bash
# The stack's settings: the environment, then conf/events.env (or $EVENTS_ENV_FILE), then the
# defaults, and their checks; and the state file, through which a running stack keeps the
# settings it was started with. Sourced by tools/stack.sh after tools/lib.sh (needs ROOT).
# The settings are used by the other modules of tools/stack/:
# shellcheck disable=SC2034

# load_env_file FILE: export KEY=VALUE lines of FILE for keys the environment does not set.
load_env_file() {
	local file=$1 line key val
	[ -f "$file" ] || return 0
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line#"${line%%[![:space:]]*}"}
		case $line in '' | '#'*) continue ;; esac
		line=${line#export }
		key=${line%%=*}
		val=${line#*=}
		[[ $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "$file: not KEY=VALUE: $line"
		case $val in \"*\") val=${val:1:-1} ;; \'*\') val=${val:1:-1} ;; esac
		[ -n "${!key+set}" ] || export "$key=$val"
	done <"$file"
}

load_env_file "${EVENTS_ENV_FILE:-$ROOT/conf/events.env}"

# Settings a running stack keeps until it is restarted: given explicitly (environment or env
# file) and different from what it runs with, "up" says so instead of silently ignoring them.
RESTART_SETTINGS='WORKERS PORT LISTEN_ADDR RATE_LIMIT_RPS RATE_LIMIT_BURST RATE_LIMIT_EXEMPT METRICS_ALLOW CONN_LIMIT_PER_ADDR POOL_USER'
EXPLICIT=''
for _v in $RESTART_SETTINGS; do [ -z "${!_v+set}" ] || EXPLICIT+=" $_v"; done
unset _v

VAR_DIR=$(realpath -m -- "${VAR_DIR:-$ROOT/var}")
BUILD=$(realpath -m -- "${BUILD:-$ROOT/build}")
PORT=${PORT:-8000}
LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1}
WORKERS=${WORKERS:-} # unset: the binary's own default (check_settings asks it)
RATE_LIMIT_RPS=${RATE_LIMIT_RPS:-100}
RATE_LIMIT_BURST=${RATE_LIMIT_BURST:-200}
RATE_LIMIT_EXEMPT=${RATE_LIMIT_EXEMPT:-}
CONN_LIMIT_PER_ADDR=${CONN_LIMIT_PER_ADDR:-64}
METRICS_ALLOW=${METRICS_ALLOW:-}
[[ $RATE_LIMIT_RPS =~ ^[1-9][0-9]*$ ]] || die "RATE_LIMIT_RPS=$RATE_LIMIT_RPS: expected a whole number of requests per second, 1 or more"
[[ $RATE_LIMIT_BURST =~ ^[0-9]+$ ]] || die "RATE_LIMIT_BURST=$RATE_LIMIT_BURST: expected a whole number of requests"
POOL_USER=${POOL_USER:-eventsd}
[[ $CONN_LIMIT_PER_ADDR =~ ^[1-9][0-9]{0,5}$ ]] && ((CONN_LIMIT_PER_ADDR <= 100000)) ||
	die "CONN_LIMIT_PER_ADDR=$CONN_LIMIT_PER_ADDR: expected a whole number of connections, 1..100000"
EXTERNAL_DB=${DATABASE_URL:-}

check_settings() {
	[[ $PORT =~ ^[0-9]+$ ]] && ((PORT >= 1 && PORT <= 65535)) || die "PORT must be 1..65535, not '$PORT'"
	local ip_re='^[][0-9A-Fa-f.:]+$'
	[[ $LISTEN_ADDR =~ $ip_re ]] || die "LISTEN_ADDR '$LISTEN_ADDR' is not an IP address"
	[[ $POOL_USER =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] && [ "$POOL_USER" != root ] ||
		die "POOL_USER=$POOL_USER: expected the name of an unprivileged OS account (not root)"
	# Everything the workers read (LOG_LEVEL, API keys, timeouts, ...) and the address lists
	# nginx gets (RATE_LIMIT_EXEMPT, METRICS_ALLOW), checked by the binary before anything
	# starts: one line per problem.
	[ -x "$BUILD/events-fcgi" ] || die "$BUILD/events-fcgi not built (run: make all)"
	# defaults of the workers' settings live in one table, the binary's (--settings)
	[ -n "$WORKERS" ] || WORKERS=$("$BUILD/events-fcgi" --settings | awk -F'\t' '$1 == "WORKERS" { print $2 }')
	local out
	if ! out=$(WORKERS=$WORKERS RATE_LIMIT_EXEMPT=$RATE_LIMIT_EXEMPT METRICS_ALLOW=$METRICS_ALLOW \
		"$BUILD/events-fcgi" --check-config 2>&1); then
		printf '%s\n' "$out" >&2
		die "settings refused; nothing was started"
	fi
}

url_host() {
	case $LISTEN_ADDR in
	0.0.0.0 | '') printf 127.0.0.1 ;;
	:: | '[::]') printf '[::1]' ;;
	*:*) printf '[%s]' "${LISTEN_ADDR#[}" | sed 's/]]$/]/' ;;
	*) printf '%s' "$LISTEN_ADDR" ;;
	esac
}

base_url() { printf 'http://%s:%s' "$(url_host)" "$PORT"; }

# --- state of a running stack ----------------------------------------------------------

# state KEY: a value recorded by the last "up" (empty if none).
state() {
	[ -r "$STATE_FILE" ] || return 0
	sed -n "s/^$1=//p" "$STATE_FILE" | tail -n 1
}

write_state() {
	{
		printf 'VAR_DIR=%s\n' "$VAR_DIR"
		printf 'PORT=%s\n' "$PORT"
		printf 'LISTEN_ADDR=%s\n' "$LISTEN_ADDR"
		printf 'DATABASE_URL=%s\n' "$DATABASE_URL"
		printf 'FCGI_SOCK=%s\n' "$(fcgi_sock)"
		printf 'EXTERNAL_DB=%s\n' "$([ -n "$EXTERNAL_DB" ] && echo 1 || echo 0)"
		local v
		for v in $RESTART_SETTINGS; do printf 'SET_%s=%s\n' "$v" "${!v}"; done
	} >"$STATE_FILE.new"
	mv -f "$STATE_FILE.new" "$STATE_FILE"
}

# Settings of a running stack come from its state file, not from this shell's environment.
adopt_state() {
	local v
	v=$(state PORT) && [ -n "$v" ] && PORT=$v
	v=$(state LISTEN_ADDR) && [ -n "$v" ] && LISTEN_ADDR=$v
	if [ "$(state EXTERNAL_DB)" = 1 ]; then EXTERNAL_DB=$(state DATABASE_URL); fi
	return 0
}

# running_differs: settings given now that the running stack does not have; says how to apply.
running_differs() {
	local v have diff='' assign=''
	for v in $EXPLICIT; do
		have=$(state "SET_$v")
		[ "$have" != "${!v}" ] || continue
		diff+=" $v=$(shell_quote "${!v}") (running: $(shell_quote "$have"))"
		assign+="$v=$(shell_quote "${!v}") "
	done
	[ -n "$diff" ] || return 0
	say "the running stack keeps its settings; differs:$diff"
	say "apply with: make stop && ${assign}make run"
}
