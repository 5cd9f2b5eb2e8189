# shellcheck shell=bash
# Shell helpers shared by tools/*.sh and tests/integration/run.sh. Source it; it defines
# functions and sets nothing else. Messages go to stderr, prefixed with the calling script's name.

LIB_PROG=${LIB_PROG:-$(basename "$0" .sh)}

say() { printf '%s: %s\n' "$LIB_PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$LIB_PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$LIB_PROG" "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# short_hash STRING: 8 hex digits, stable for the same string (names /tmp fallback dirs).
short_hash() { printf '%s' "$1" | sha1sum | cut -c1-8; }

# can_traverse ACCOUNT DIR: ACCOUNT may reach DIR (search permission on every component); as
# another user than root, whether we may.
can_traverse() {
	if is_root; then
		(cd / && runuser -u "$1" -- test -x "$2") 2>/dev/null
	else
		test -x "$2"
	fi
}

# runtime_dir ACCOUNT VAR_DIR PATH FALLBACK: the one rule for where a runtime file or directory
# that another OS account must reach (a socket, temp files, static pages, the cluster) lives:
# PATH, under VAR_DIR, unless we are root and ACCOUNT cannot reach VAR_DIR; then FALLBACK, a
# /tmp path named after VAR_DIR (short_hash). Not root, every process is ours: always PATH.
runtime_dir() {
	if is_root && ! can_traverse "$1" "$2"; then
		printf '%s' "$4"
	else
		printf '%s' "$3"
	fi
}

# urlencode STRING: percent-encode everything but unreserved characters and '/'.
urlencode() {
	local s=$1 out='' c i
	local LC_ALL=C
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9/._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

# shell_quote STRING: STRING in single quotes, safe for eval.
shell_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# read_pid FILE: print the pid stored in FILE, or nothing.
read_pid() {
	local pid=''
	[ -r "$1" ] && read -r pid <"$1" 2>/dev/null || true
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	printf '%s' "$pid"
}

# pid_alive PID [PATTERN]: PID exists and, when PATTERN is given, its command line contains it
# (guards against a stale pid file whose pid was reused by an unrelated process).
pid_alive() {
	local pid=$1 pat=${2:-}
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	[ -z "$pat" ] && return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pat"
}

# live_pid FILE PATTERN: print the pid stored in FILE when that process is alive and its
# command line contains PATTERN; else nothing. Always succeeds.
live_pid() {
	local pid
	pid=$(read_pid "$1")
	pid_alive "$pid" "$2" && printf '%s' "$pid"
	return 0
}

# defaults NAME=VALUE...: each setting NAME keeps its value from the environment when set and
# not empty; otherwise it becomes VALUE (as NAME=${NAME:-VALUE} would).
defaults() {
	local kv name
	for kv in "$@"; do
		name=${kv%%=*}
		[ -n "${!name:-}" ] || printf -v "$name" '%s' "${kv#*=}"
	done
}

# gone PID: PID has exited (a zombie not yet reaped by its parent counts as exited).
gone() {
	local stat
	kill -0 "$1" 2>/dev/null || return 0
	stat=$(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null | cut -d " " -f 1) || return 0
	[ "$stat" = Z ]
}

# wait_gone PID SECONDS: wait until PID has exited; 0 if it did, 1 on time-out.
wait_gone() {
	local pid=$1 n=$(($2 * 10))
	until gone "$pid"; do
		((n-- > 0)) || return 1
		sleep 0.1
	done
}

# port_in_use ADDR PORT: something accepts TCP connections there.
port_in_use() {
	local addr=$1
	case $addr in 0.0.0.0 | '*' | '') addr=127.0.0.1 ;; '::' | '[::]') addr=::1 ;; esac
	addr=${addr#[}
	addr=${addr%]}
	(exec 3<>"/dev/tcp/$addr/$2") 2>/dev/null
}

# free_port: print a TCP port in 20000-60000 nothing listens on (127.0.0.1).
free_port() {
	local p i
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
		port_in_use 127.0.0.1 "$p" || {
			printf '%s' "$p"
			return 0
		}
	done
	return 1
}

# tail_log FILE [LINES]: show the end of a log file, framed, on stderr.
tail_log() {
	[ -s "$1" ] || return 0
	printf -- '----- %s (last %s lines) -----\n' "$1" "${2:-20}" >&2
	tail -n "${2:-20}" -- "$1" >&2 || true
}

# usage_text: the calling script's header comment (lines 2 up to "set -euo"), without "# ".
usage_text() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }

# help_or_refuse ARG: for an argument the script does not take. -h, --help or help prints the
# usage on stdout and exits 0; anything else is refused (usage on stderr, exit 2) before any
# work starts.
help_or_refuse() {
	case $1 in
	-h | --help | help)
		usage_text
		exit 0
		;;
	'') printf '%s: missing a command\n\n' "$LIB_PROG" >&2 ;;
	*) printf '%s: unknown argument: %s\n\n' "$LIB_PROG" "$1" >&2 ;;
	esac
	usage_text >&2
	exit 2
}

# no_args "$@": for scripts that take no arguments (settings come from the environment).
no_args() { [ $# -eq 0 ] || help_or_refuse "$1"; }

# take_args USAGE MIN NAME... -- ARG...: the positional arguments of a script that takes some.
# -h, --help or help as the first ARG prints the usage (usage_text) and exits 0; fewer than MIN
# ARGs dies with "usage: USAGE"; otherwise the first ARGs are assigned in order to the NAMEs
# (an empty string to a NAME beyond the last ARG).
take_args() {
	local _usage=$1 _min=$2 _names=() _name
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		_names+=("$1")
		shift
	done
	[ $# -eq 0 ] || shift
	case ${1:-} in -h | --help | help)
		usage_text
		exit 0
		;;
	esac
	[ $# -ge "$_min" ] || die "usage: $_usage"
	for _name in "${_names[@]}"; do
		printf -v "$_name" '%s' "${1:-}"
		[ $# -eq 0 ] || shift
	done
}

# wrk_run SCRIPT URL CONNS: the BENCH line (bench/lua/report.lua) of one wrk run of DURATION
# (10s) with CONNS connections, wrk pinned to core BENCH_CPU (0) so it takes one core only.
wrk_run() {
	taskset -c "${BENCH_CPU:-0}" wrk -t1 -c"$3" -d"${DURATION:-10s}" --latency -s "$1" "$2" 2>&1 |
		sed -n 's/^BENCH //p'
}

# json_num JSON KEY: the number KEY has in the one-line JSON object JSON.
json_num() { sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p" <<<"$1"; }
