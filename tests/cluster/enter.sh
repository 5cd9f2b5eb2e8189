# shellcheck shell=bash
# How a cluster test script starts (sourced first, with ROOT set): ". enter.sh PROG NODES
# "$@"" loads tools/lib.sh as PROG, refuses arguments, and, when the script runs outside a
# test stack, runs it again inside a throwaway one of NODES nodes (tests/integration/run.sh);
# inside one it loads tests/cluster/lib.sh (the clients and the checks).
# shellcheck disable=SC2034 # LIB_PROG is read by tools/lib.sh
LIB_PROG=$1
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
no_args "${@:3}"
if [ -z "${EVENTS_BASE_URL:-}" ]; then
	export NODES=$2
	exec "$ROOT/tests/integration/run.sh" --cmd "tests/cluster/$(basename -- "$0")"
fi
# shellcheck source=tests/cluster/lib.sh
. "$ROOT/tests/cluster/lib.sh"
