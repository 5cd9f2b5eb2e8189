# shellcheck shell=bash
# HA=1: operating the pg_auto_failover formation that tools/stack/ha.sh starts: stop, status,
# planned switchover, and the drills the HA tests use (which node is primary, wait for states,
# a node's machine lost). Sourced by tools/stack.sh after ha.sh.

# ha_stop [NAME...]: stop the keepers (each stops its server), the data nodes before the monitor.
ha_stop() {
	local name pid names=${*:-$HA_NODES monitor}
	[ -d "$(ha_dir)" ] || return 0
	for name in $names; do
		pid=$(ha_keeper_pid "$name")
		[ -n "$pid" ] || continue
		autoctl stop --pgdata "$(pg_dir)/$name" >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
		wait_gone "$pid" 30 || warn "pg_autoctl ($name, pid $pid) still running after 30 s"
		say "stopped pg_autoctl $name (pid $pid)"
	done
}

# ha_any_pid: something of the formation runs (for "down" and "status").
ha_any_pid() {
	local name
	for name in monitor $HA_NODES; do ha_keeper_pid "$name"; done
}

ha_status() {
	local name pid all=0
	for name in monitor $HA_NODES; do
		pid=$(ha_keeper_pid "$name")
		if [ -n "$pid" ]; then
			say "$(printf '%-12s' "$name:") pg_autoctl running (pid $pid, port $(ha_port "$name"))"
		else
			say "$(printf '%-12s' "$name:") not running"
			all=1
		fi
	done
	[ -z "$(ha_keeper_pid monitor)" ] || autoctl show state --monitor "$(ha_monitor_uri)" 2>&1 | sed 's/^/  /' >&2
	return "$all"
}

# ha_switchover: planned switchover; returns when the old primary is back as a standby.
ha_switchover() {
	local before after
	before=$(ha_primary)
	[ -n "$before" ] || die "the formation has no primary now; nothing to switch over"
	# The standby takes over with what it has received. The monitor reports primary +
	# secondary before the primary waits for that standby again (after a standby's return
	# the primary acknowledges alone for a while, as in wait_primary): switching over in that
	# window may leave writes behind that were acknowledged. So first the primary must have a
	# streaming synchronous standby.
	ha_wait_sql "$before" "SELECT count(*) FROM pg_stat_replication
		WHERE sync_state IN ('sync', 'quorum') AND state = 'streaming'
		AND current_setting('synchronous_standby_names') <> ''" 1 120 ||
		die "$before has no streaming synchronous standby: a switchover now could lose writes it acknowledged alone"
	say "switching over from $before"
	# What settles the question is the monitor's state, not the command's exit status: under
	# load pg_autoctl 2.0's wait for the new primary's notification can fail ("get_nodes"
	# called with an empty group) while the switchover itself goes on and completes.
	autoctl perform switchover --monitor "$(ha_monitor_uri)" --formation default --group 0 \
		>>"$LOG_DIR/ha-monitor.log" 2>&1 ||
		say "pg_autoctl perform switchover reported a failure; following the monitor's states instead"
	ha_wait_primary_not "$before" 120 ||
		die "no other node became primary after the switchover (log: $LOG_DIR/ha-monitor.log)"
	ha_wait_states 120 primary,secondary || die "the formation did not settle after the switchover"
	after=$(ha_primary)
	say "switchover done: primary $after (was $before)"
}

# ha_wait_primary_not NODE SECONDS: wait until a node other than NODE is primary.
ha_wait_primary_not() {
	local n=$(($2 * 2)) now
	while ((n-- > 0)); do
		now=$(ha_primary)
		[ -n "$now" ] && [ "$now" != "$1" ] && return 0
		sleep 0.5
	done
	return 1
}

# ha_tree PID: PID and all its descendants.
ha_tree() {
	local kid
	printf '%s\n' "$1"
	for kid in $(ps -o pid= --ppid "$1" 2>/dev/null); do ha_tree "$kid"; done
}

# ha_crash NAME: the loss of that machine, as near as one host allows: SIGKILL at once to its
# pg_autoctl, its postmaster and every backend (no shutdown, no checkpoint, no goodbye to the
# monitor). For failover drills and the HA tests.
ha_crash() {
	local name=$1 pid pids
	pid=$(ha_keeper_pid "$name")
	[ -n "$pid" ] || die "pg_autoctl $name is not running"
	pids=$(ha_tree "$pid" | tr '\n' ' ')
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	say "killed $name: pids $pids"
}

# ha_command CMD ARGS: the formation's commands of tools/stack.sh.
ha_command() {
	ha_on || die "no pg_auto_failover formation under $VAR_DIR (start one: HA=1 make run)"
	case $1 in
	failover) ha_switchover ;;
	ha-primary) ha_primary ;;
	ha-standby)
		ha_monitor_sql "SELECT nodename FROM pgautofailover.node WHERE reportedstate = 'secondary' LIMIT 1"
		;;
	ha-wait)
		[[ ${3:-} =~ ^[0-9]+$ ]] || die "usage: tools/stack.sh ha-wait STATE,STATE SECONDS"
		ha_wait_states "$3" "$2"
		;;
	ha-crash)
		[[ " $HA_NODES monitor " == *" ${2:-} "* ]] || die "usage: tools/stack.sh ha-crash node_a|node_b|monitor"
		ha_crash "$2"
		;;
	*) die "unknown HA command $1" ;;
	esac
}
