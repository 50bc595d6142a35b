# Shared by every t/*.bats file.
#
# portier_start runs portierd on the config in $CONF with --ready-fd through
# a FIFO, and fills $T/ready.txt with its "SERVICE ADDRESS:PORT" lines, so
# tests use ports the kernel picked and never sleep to wait for start-up.
# teardown stops the daemon by pid, asserts it exited 0, and checks that
# every handler it started was reaped and is gone.

bats_load_library bats-support
bats_load_library bats-assert

# Each test's time limit.  bats starts the watchdog before the test's body
# runs, so a file that needs longer sets it after loading this, at file
# level; t/lint.bats checks that no test sets it in its body.
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60}

: "${PORTIER_SRC:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
: "${PORTIER_BUILD:=$PORTIER_SRC}"
: "${PORTIERD:=$PORTIER_BUILD/supervisor/portierd}"
: "${PORTIERCTL:=$PORTIER_BUILD/supervisor/portierctl}"
# The test clients (ptest.py -h lists them) and the load generator.
PTEST=$PORTIER_SRC/t/tools/ptest.py
# shellcheck disable=SC2034 # the test files run it
PLOAD=$PORTIER_BUILD/t/tools/pload

setup() {
	portier_setup_default
}

# The test's files and no daemon yet; a file's own setup calls this first.
portier_setup_default() {
	T=$BATS_TEST_TMPDIR
	CONF=$T/portier.conf
	LOG=$T/portierd.log
	PORTIER_PID=
	PORTIER_STATUS=
	BG_PIDS=()
}

teardown() {
	portier_teardown_default
}

# Stop what a test noted in BG_PIDS as running in the background (clients,
# samplers, strace), by pid, in case it failed half-way.
background_stop() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

# The teardown of a file whose background processes may hold the daemon
# (strace stopping it at bind, a link swapper): stop the daemon as every
# file does, then them.
portier_teardown_then_background() {
	local rc=0
	portier_teardown_default || rc=$?
	background_stop
	return "$rc"
}

# Stop the daemon if it runs, check it exited 0 and reaped every handler.
# bats runs teardown without errexit and judges it by its last status
# alone, so every check's failure is collected into the return value.
portier_teardown_default() {
	local bad=0
	if [ -n "$PORTIER_PID" ] && [ -z "$PORTIER_STATUS" ]; then
		portier_stop || bad=1
		if [ "$PORTIER_STATUS" != 0 ]; then
			fail "portierd exited $PORTIER_STATUS at teardown"
			bad=1
		fi
	fi
	if [ -n "$PORTIER_PID" ]; then
		portier_check_reaped || bad=1
	fi
	portier_check_sanitizers || bad=1
	return "$bad"
}

# A sanitizer build's report in the daemon's log (its own, or a handler's
# stderr) fails the test, whatever the test expected of the exit status.
portier_check_sanitizers() {
	[ -n "${PORTIER_SANITIZERS:-}" ] && [ -f "$LOG" ] || return 0
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG"; then
		grep -E -A30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG"
		fail "a sanitizer report in $LOG"
	fi
}

# Write the config from stdin, after defaults that keep shutdown short and
# put the control socket in the test's directory.  The tests run as root,
# and their handlers as the tests do, so each exec service is let run as
# root: allow_root goes on its exec line, so that line numbers in error
# messages hold.  A test of that rule itself sets CONFIG_AS_WRITTEN=1.
config() {
	{
		# Two lines, so that tests can count lines in error messages.
		printf 'shutdown_timeout = 2\n'
		printf 'kill_grace = 1 control_socket = "ctl.sock"\n'
		if [ -n "${CONFIG_AS_WRITTEN:-}" ]; then
			cat
		else
			sed -E 's/^([[:space:]]*)(exec[[:space:]]*=)/\1allow_root = true \2/'
		fi
	} >"$CONF"
}

# Run portierctl against the test's daemon.
ctl() {
	timeout 10 "$PORTIERCTL" -S "$T/ctl.sock" "$@"
}

# Write a config of one service $1 on 127.0.0.1:0 whose exec list is $2
# (in config syntax: '"/bin/echo", "hi"').
one_service() {
	config <<-EOF
	service $1 {
	    listen = { "127.0.0.1:0" }
	    exec = { $2 }
	}
	EOF
}

# A config of one built-in service $1 running built-in $2, with any further
# settings given as the remaining arguments, one per line.
builtin_service() {
	local name=$1 bi=$2 extra
	shift 2
	extra=$(printf '    %s\n' "$@")
	config <<-EOF
	service $name {
	    listen = { "127.0.0.1:0" }
	    builtin = "$bi"
	$extra
	}
	EOF
}

# Start portierd on $CONF (extra arguments are passed on) and wait until
# it has bound every listener.  Fails the test, with the log, if it dies.
# $PORTIER_WRAP, if set, is a command prefix that execs portierd (prlimit).
portier_start() {
	local line
	PORTIER_STATUS=
	rm -f "$T/ready" "$T/ready.txt"
	mkfifo "$T/ready"
	# shellcheck disable=SC2086 # PORTIER_WRAP is a command prefix
	${PORTIER_WRAP:-} "$PORTIERD" -c "$CONF" --ready-fd 5 "$@" 5>"$T/ready" \
	    </dev/null >"$T/portierd.out" 2>"$LOG" 3>&- &
	PORTIER_PID=$!
	exec 6<"$T/ready"
	: >"$T/ready.txt"
	while IFS= read -r -t 10 -u 6 line; do
		printf '%s\n' "$line" >>"$T/ready.txt"
	done
	exec 6<&-
	if ! portier_alive; then
		wait "$PORTIER_PID"
		PORTIER_STATUS=$?
		cat "$LOG"
		fail "portierd exited $PORTIER_STATUS during start-up"
	fi
}

# portier_start for a test that measures portierd's RSS: in a sanitizer
# build freed memory waits in ASan's quarantine, and stack frames checked
# for use after return live on the heap, so either would count as growth.
portier_start_for_rss() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0:detect_stack_use_after_return=0" \
	    portier_start "$@"
}

# Start portierd on $CONF (extra arguments passed on) under strace, which
# stops it just after its first bind(2): the window between binding a
# socket file and setting its owner, held open for a test to swap a link
# in.  Sets PORTIER_PID and STRACE_PID, noted in BG_PIDS.  LeakSanitizer
# cannot run under ptrace (it aborts at exit), so a sanitizer build checks
# for leaks elsewhere.
portier_start_stopped_at_bind() {
	rm -f "$T/strace"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -qq -o "$T/strace" -e trace=bind \
	    -e inject=bind:signal=SIGSTOP:when=1 "$PORTIERD" -c "$CONF" "$@" \
	    </dev/null >/dev/null 2>"$LOG" 3>&- &
	STRACE_PID=$!
	BG_PIDS+=("$STRACE_PID")
	wait_until -t 10 grep -q 'stopped by SIGSTOP' "$T/strace" ||
		fail "not stopped after bind: $(cat "$LOG")"
	PORTIER_PID=$(pgrep -P "$STRACE_PID")
	PORTIER_STATUS=
}

# Let a portierd stopped at bind go on; once it has started or failed,
# stop it if it started, and set PORTIER_STATUS to its exit status.
portier_resume_after_bind() {
	kill -CONT "$PORTIER_PID"
	wait_until -t 10 grep -qE 'event=(start-failed|listen) ' "$LOG" || true
	grep -q 'event=start-failed' "$LOG" || kill -TERM "$PORTIER_PID"
	PORTIER_STATUS=0
	wait "$STRACE_PID" || PORTIER_STATUS=$?
	BG_PIDS=()
}

# Whether the daemon is still running (a zombie does not count).
portier_alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$PORTIER_PID/stat" 2>/dev/null) ||
		return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# Whether the daemon has exited (a zombie counts as exited).
portier_gone() {
	! portier_alive
}

# Wait for the daemon to exit, at most $1 seconds (default 15), and set
# PORTIER_STATUS; fails the test if it is still running then.
portier_wait_exit() {
	if ! wait_until -t "${1:-15}" portier_gone; then
		kill -KILL "$PORTIER_PID"
		wait "$PORTIER_PID" || true
		PORTIER_STATUS=killed
		fail "portierd still running after ${1:-15} s"
		return 1
	fi
	PORTIER_STATUS=0
	wait "$PORTIER_PID" || PORTIER_STATUS=$?
}

# Stop the daemon with SIGTERM and wait for it.
portier_stop() {
	kill -TERM "$PORTIER_PID" 2>/dev/null || true
	portier_wait_exit "${1:-15}"
}

# Every handler the log says was started was also reaped, and is gone.
# One awk pass pairs spawn and end lines (a test may start thousands).  A
# pid still in use counts as a leftover handler only if it is that
# handler: its environment names the same service and connection, since
# after thousands of spawns the kernel may have given the pid to another.
portier_check_reaped() {
	local unreaped pid svc id
	unreaped=$(awk '
	    /event=spawn / && match($0, / pid=[0-9]+/) {
		spawned[substr($0, RSTART + 5, RLENGTH - 5)] = 1 }
	    /event=end .* pid=[0-9]+ status=/ && match($0, / pid=[0-9]+/) {
		delete spawned[substr($0, RSTART + 5, RLENGTH - 5)] }
	    END { for (p in spawned) print p }' "$LOG")
	if [ -n "$unreaped" ]; then
		fail "handler pids never reaped: $(echo $unreaped)"
		return 1
	fi
	# Only the pids in use now: a loop over every spawn line would take
	# half a minute after a storm, under bats's per-command DEBUG trap.
	while read -r pid svc id; do
		if ! wait_until -t 2 portier_handler_gone "$pid" "$svc" "$id"; then
			fail "handler pid $pid (service $svc, conn $id) remains"
			return 1
		fi
	done < <(awk 'NR == FNR { live[$1]; next } $1 in live' <(ls /proc) \
	    <(sed -n 's/.*event=spawn service=\([^ ]*\) conn=\([0-9]*\) pid=\([0-9]*\) .*/\3 \1 \2/p' "$LOG"))
}

# Whether pid $1 is alive and is the handler of service $2, connection $3.
portier_is_handler() {
	[ -e "/proc/$1" ] || return 1
	tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null |
	    awk -v s="PORTIER_SERVICE=$2" -v c="PORTIER_CONN_ID=$3" '
		$0 == s { ns++ } $0 == c { nc++ } END { exit !(ns && nc) }'
}

# Whether the handler of service $2, connection $3, pid $1, is gone.
portier_handler_gone() {
	! portier_is_handler "$@"
}

# The port of a service's Nth listener (default the first).
port() {
	awk -v s="$1" -v n="${2:-1}" '$1 == s && ++i == n {
		sub(/.*:/, "", $2); print $2 }' "$T/ready.txt"
}

# The address of a service's Nth listener, as portierd wrote it.
addr() {
	awk -v s="$1" -v n="${2:-1}" '$1 == s && ++i == n { print $2 }' \
	    "$T/ready.txt"
}

# Send stdin to 127.0.0.1:PORT, print what comes back until EOF (5 s cap).
tcp() {
	timeout 10 socat -t 5 -T 5 - "TCP4:127.0.0.1:$1"
}

# Run the command $@ (a command or a shell function) until it succeeds:
# at most SECONDS * 20 tries (-t SECONDS, default 5; a fraction will do),
# 0.05 s apart.  If it never does, say what it waited for and return 1.
wait_until() {
	local limit=5 tries i
	if [ "$1" = -t ]; then
		limit=$2
		shift 2
	fi
	case $limit in
	*.*) tries=$(awk -v s="$limit" 'BEGIN { print int(s * 20 + 0.5) }') ;;
	*) tries=$(( limit * 20 )) ;;
	esac
	for (( i = 0; i < tries; i++ )); do
		"$@" && return 0
		sleep 0.05
	done
	"$@" && return 0
	echo "wait_until: still not true after $limit s: $*" >&2
	return 1
}

# Wait until the log has at least $2 (default 1) lines matching the
# extended regex $1, for at most $3 seconds (default 10).
wait_log() {
	wait_until -t "${3:-10}" log_has "$1" "${2:-1}" && return 0
	cat "$LOG"
	fail "log: wanted ${2:-1} lines matching '$1', found $(log_count "$1")"
}

# Count the log lines matching the extended regex $1.
log_count() {
	grep -cE -- "$1" "$LOG" || true
}

# Whether the log has at least $2 lines matching the extended regex $1.
log_has() {
	[ "$(log_count "$1")" -ge "$2" ]
}

# Whether a tracer (strace) is attached to process $1.
traced() {
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$1/status")" != 0 ]
}

# Whether process $1 is gone.
pid_gone() {
	! kill -0 "$1" 2>/dev/null
}

# Open a TCP connection to 127.0.0.1:PORT on a new fd, stored in $CLIENT.
client_open() {
	exec {CLIENT}<>"/dev/tcp/127.0.0.1/$1"
}

# Read one line from fd $1 into $REPLY within $2 seconds (default 5).
client_read() {
	IFS= read -r -t "${2:-5}" -u "$1" REPLY
}

# Connect from source address $1 (none if empty) to $2, a port of
# 127.0.0.1 or an address socat takes (TCP6:[::1]:PORT); keep the
# connection on fd $CLIENT and read its first line into $REPLY (empty if
# it closes).  from_close_all, or a file's teardown, closes them.
from() {
	local dir to=$2
	[[ $to == *:* ]] || to=TCP4:127.0.0.1:$to
	dir=$(mktemp -d "$T/from.XXXXXX")
	mkfifo "$dir/in" "$dir/out"
	# -t: a refused connection's socat exits soon after the server closes.
	socat -t 0.5 "PIPE:$dir/in!!PIPE:$dir/out" "$to${1:+,bind=$1}" \
	    2>/dev/null &
	FROM_PIDS+=($!)
	exec {CLIENT}<>"$dir/in"
	exec {CLIENT_OUT}<"$dir/out"
	REPLY=
	IFS= read -r -t 5 -u $CLIENT_OUT REPLY || true
	FROMS+=("$CLIENT" "$CLIENT_OUT")
}

# Close every connection from() opened: each socat holds the others'
# pipes, inherited, so it is stopped rather than sent EOF.
from_close_all() {
	local fd pid
	for fd in "${FROMS[@]}"; do exec {fd}>&- 2>/dev/null || true; done
	for pid in "${FROM_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${FROM_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	FROMS=() FROM_PIDS=()
}

# One exec service "gated" (says "in ID", waits for a line) with the
# settings given as arguments, one per line, on the listen addresses in
# $LISTEN (default 127.0.0.1:0).
gated() {
	local extra
	extra=$(printf '    %s\n' "$@")
	config <<-EOF
	service gated {
	    listen = { ${LISTEN:-\"127.0.0.1:0\"} }
	    exec = { "/bin/sh", "-c", "echo in \$PORTIER_CONN_ID; read x" }
	$extra
	}
	EOF
}

# Evaluate the Python expression $1 over the JSON on stdin, d; of a
# services reply, s is the first service and svc(NAME) the service NAME.
# A truth value is the exit status; anything else is printed, a list one
# item a line.
json() {
	"$PTEST" json "$1"
}

# The value of key $1 in the key=value text $2 (the last, if twice).
field() {
	sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" <<<"$2"
}

# Run portierd under systemd-socket-activate, which binds a free port of
# 127.0.0.1 for each name in $1 (the kernel picks it; taken meanwhile, all
# are tried again) and passes them named so; the remaining arguments are
# further -l addresses passed after them, unnamed.  portierd is exec'd in
# its place at the first client, so PORTIER_PID is its pid; through
# $PORTIER_WRAP, if set, as portier_start does.  systemd-socket-activate
# passes on none of our environment but what -E names: NOTIFY_SOCKET,
# WATCHDOG_USEC, WATCHDOG_PID and JOURNAL_STREAM, when set.  Sets
# PORTS[NAME]; LOG is its stderr.
activate() {
	local names=$1 try name fdnames= var
	shift
	command -v systemd-socket-activate >/dev/null ||
		fail "systemd-socket-activate is not installed (./bootstrap installs it)"
	declare -gA PORTS
	for try in 1 2 3; do
		local args=()
		for name in $names; do
			PORTS[$name]=$("$PTEST" listen 127.0.0.1:0)
			args+=(-l "127.0.0.1:${PORTS[$name]}")
			fdnames=${fdnames:+$fdnames:}$name
		done
		for name in "$@"; do
			args+=(-l "$name")
		done
		for var in NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID JOURNAL_STREAM; do
			[ -z "${!var+set}" ] || args+=(-E "$var")
		done
		# shellcheck disable=SC2086 # PORTIER_WRAP is a command prefix
		systemd-socket-activate "${args[@]}" ${fdnames:+--fdname="$fdnames"} \
		    -- ${PORTIER_WRAP:-} "$PORTIERD" -c "$CONF" </dev/null \
		    >"$T/portierd.out" 2>"$LOG" 3>&- &
		PORTIER_PID=$!
		wait_until -t 10 activated || fail "systemd-socket-activate did not start"
		[ "$(grep -c '^Listening on ' "$LOG")" -eq $(( $(wc -w <<<"$names") + $# )) ] &&
		    return 0
		wait "$PORTIER_PID" || true
		PORTIER_PID=
		fdnames=
	done
	fail "no ports to listen on: $(cat "$LOG")"
}

# Whether systemd-socket-activate is listening, or has exited.
activated() {
	grep -q '^Listening on ' "$LOG" || pid_gone "$PORTIER_PID"
}

# Run a client in the background, its output in $T/$1, its pid in $! and
# noted in BG_PIDS for background_stop.
bg() {
	local out=$1
	shift
	"$@" >"$T/$out" 2>&1 &
	BG_PIDS+=($!)
}

# Skip unless root with user nobody and group nogroup, to switch to them.
need_root() {
	[ "$(id -u)" -eq 0 ] || skip "switching users needs root"
	getent passwd nobody >/dev/null || skip "no user nobody here"
	getent group nogroup >/dev/null || skip "no group nogroup here"
}

# Skip unless root with a group nogroup and setpriv, to give a socket to
# that group and try it as another user.
need_root_nogroup() {
	[ "$(id -u)" -eq 0 ] || skip "giving a socket to another group needs root"
	getent group nogroup >/dev/null || skip "this machine has no group nogroup"
	command -v setpriv >/dev/null || skip "setpriv is not installed"
}

# The number of live connections, from the daemon.
active() {
	ctl status | awk '$1 == "active" { print $2 }'
}

# Whether the daemon has no live connection.
idle() {
	[ "$(active)" = 0 ]
}

# Wait until the daemon has no live connection, at most $1 s (default 10).
wait_idle() {
	wait_until -t "${1:-10}" idle || fail "still $(active) live connections"
}

# Man page $1 as installed: the .in pages are generated into the build tree.
page() {
	if [ -e "$PORTIER_BUILD/man/$1" ]; then
		echo "$PORTIER_BUILD/man/$1"
	else
		echo "$PORTIER_SRC/man/$1"
	fi
}
