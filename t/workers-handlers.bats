#!/usr/bin/env bats
# The example handlers that accept for themselves (handlers/worker.py,
# handlers/worker-inetd.pl), run without portierd: worker.py under
# systemd-socket-activate, which passes sockets as portierd's pass =
# "systemd" will, and worker-inetd.pl on a listening socket on its fds 0
# and 1, as pass = "inetd" (and inetd's "wait") will.

load helpers

WORKER_PY=$PORTIER_SRC/handlers/worker.py
WORKER_PL=$PORTIER_SRC/handlers/worker-inetd.pl

# Each worker a test started stops with it, by pid.
teardown() {
	background_stop
	portier_teardown_default
}

# Whether systemd-socket-activate has bound its socket, or has exited.
activate_started() {
	grep -q '^Listening on ' "$T/worker.err" || pid_gone "$WORKER_PID"
}

# Run worker.py under systemd-socket-activate on a free port of
# 127.0.0.1 (the kernel picks it; taken meanwhile, a second one is
# tried), its socket named upper; set WORKER_PID and WORKER_PORT.  The
# program is exec'd in place at the first client, so the pid is the
# worker's.
activate_worker() {
	local try
	command -v systemd-socket-activate >/dev/null ||
		fail "systemd-socket-activate is not installed (./bootstrap installs it)"
	for try in 1 2; do
		WORKER_PORT=$("$PTEST" listen 127.0.0.1:0)
		systemd-socket-activate -l "127.0.0.1:$WORKER_PORT" \
		    --fdname=upper "$WORKER_PY" </dev/null >"$T/worker.out" \
		    2>"$T/worker.err" 3>&- &
		WORKER_PID=$!
		BG_PIDS+=("$WORKER_PID")
		wait_until -t 10 activate_started ||
			fail "systemd-socket-activate did not start"
		grep -q '^Listening on ' "$T/worker.err" && return 0
		wait "$WORKER_PID" || true
		BG_PIDS=()
	done
	fail "no port to listen on: $(cat "$T/worker.err")"
}

# Run worker-inetd.pl, with the environment variables given as arguments
# (IDLE=1), a socket listening on a port of 127.0.0.1 the kernel picks as
# its fds 0 and 1; set WORKER_PID and WORKER_PORT.
inetd_worker() {
	env "$@" "$PTEST" listen-exec "$WORKER_PL" >"$T/worker.port" \
	    2>"$T/worker.err" 3>&- &
	WORKER_PID=$!
	BG_PIDS+=("$WORKER_PID")
	wait_until -t 10 test -s "$T/worker.port" ||
		fail "no listening socket: $(cat "$T/worker.err")"
	WORKER_PORT=$(cat "$T/worker.port")
}

# Wait for the worker to exit, at most $1 seconds, and check it exited 0.
worker_exits_0() {
	local status=0
	wait_until -t "$1" pid_gone "$WORKER_PID" ||
		fail "the worker still runs: $(cat "$T/worker.err")"
	wait "$WORKER_PID" || status=$?
	BG_PIDS=()
	[ "$status" -eq 0 ] ||
		fail "the worker exited $status: $(cat "$T/worker.err")"
}

@test "worker handlers: worker.py serves two clients at once and greets them with its pid" {
	activate_worker
	local a b
	exec {a}<>"/dev/tcp/127.0.0.1/$WORKER_PORT"
	client_read $a
	assert_equal "$REPLY" "worker $WORKER_PID upper"
	exec {b}<>"/dev/tcp/127.0.0.1/$WORKER_PORT"
	client_read $b
	assert_equal "$REPLY" "worker $WORKER_PID upper"
	# The first client is answered while the second is still connected.
	echo 'first one' >&$b
	echo 'second one' >&$a
	client_read $a
	assert_equal "$REPLY" "SECOND ONE"
	client_read $b
	assert_equal "$REPLY" "FIRST ONE"
	echo quit >&$a
	client_read $a || true
	assert_equal "$REPLY" ""
	exec {a}<&- {b}<&-
	grep -q "^worker.py: pid $WORKER_PID accepting on 1 sockets$" \
	    "$T/worker.err"
}

@test "worker handlers: worker.py on SIGTERM stops accepting, lets its client finish and exits 0" {
	activate_worker
	local a
	exec {a}<>"/dev/tcp/127.0.0.1/$WORKER_PORT"
	client_read $a
	kill -TERM "$WORKER_PID"
	wait_until grep -q 'stopped accepting; 1 clients left$' \
	    "$T/worker.err" || fail "no stop line: $(cat "$T/worker.err")"
	# Its socket is closed, and systemd-socket-activate, which it
	# replaced, held no other copy.
	run bash -c "exec 9<>/dev/tcp/127.0.0.1/$WORKER_PORT"
	assert_failure
	assert_output --partial 'Connection refused'
	echo 'still here' >&$a
	client_read $a
	assert_equal "$REPLY" "STILL HERE"
	pid_gone "$WORKER_PID" && fail "exited before its client left"
	exec {a}<&-
	worker_exits_0 10
	grep -q "^worker.py: pid $WORKER_PID done after 1 clients$" \
	    "$T/worker.err"
}

@test "worker handlers: worker.py refuses sockets that LISTEN_PID says are another process's" {
	local status=0
	LISTEN_PID=$$ LISTEN_FDS=1 timeout 10 "$WORKER_PY" \
	    </dev/null >"$T/out" 2>"$T/err" 3>&- || status=$?
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] ||
		fail "worker.py exited $status"
	[ ! -s "$T/out" ]
	grep -q "^worker.py: LISTEN_PID is '$$', not my pid [0-9]*: these sockets are not mine$" \
	    "$T/err" || fail "stderr: $(cat "$T/err")"
}

@test "worker handlers: worker-inetd.pl accepts from its stdin and serves two clients in turn" {
	inetd_worker
	run tcp "$WORKER_PORT" <<<$'hello\nquit'
	assert_output "inetd-worker $WORKER_PID"$'\nolleh'
	run tcp "$WORKER_PORT" <<<$'stressed\nlevel up'
	assert_output "inetd-worker $WORKER_PID"$'\ndesserts\npu level'
	[ "$(grep -c '^inetd-worker [0-9]*: client 127.0.0.1 port ' \
	    "$T/worker.err")" -eq 2 ]
}

@test "worker handlers: worker-inetd.pl on SIGTERM lets its client finish and exits 0" {
	inetd_worker
	local a
	exec {a}<>"/dev/tcp/127.0.0.1/$WORKER_PORT"
	client_read $a
	assert_equal "$REPLY" "inetd-worker $WORKER_PID"
	kill -TERM "$WORKER_PID"
	echo 'after TERM' >&$a
	client_read $a
	assert_equal "$REPLY" "MRET retfa"
	exec {a}<&-
	worker_exits_0 10
	grep -q "^inetd-worker $WORKER_PID: stopped$" "$T/worker.err"
}

@test "worker handlers: worker-inetd.pl with IDLE=1 exits 0 after a second without a client" {
	inetd_worker IDLE=1
	run tcp "$WORKER_PORT" <<<'abc'
	assert_output "inetd-worker $WORKER_PID"$'\ncba'
	worker_exits_0 10
	grep -q "^inetd-worker $WORKER_PID: idle for 1 s, exiting$" \
	    "$T/worker.err"
}
