#!/usr/bin/env bats
# Shutdown on SIGTERM or SIGINT, in stages: drain (listeners closed, live
# connections finish for shutdown_timeout), term (SIGTERM to each handler's
# group), kill (SIGKILL after kill_grace); exit 0 when the last is gone.

load helpers

# A service whose handler says "in", then runs until told to end.
lingering_service() {
	config <<-EOF
	shutdown_timeout = $1
	kill_grace = 1
	service linger {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "$2 echo in; while :; do sleep 0.1; done" }
	}
	EOF
}

@test "shutdown: SIGTERM with no connection exits 0 at once" {
	lingering_service 30 ""
	portier_start
	portier_stop 5
	assert_equal "$PORTIER_STATUS" 0
	grep -q "event=shutdown stage=drain active=0" "$LOG"
	grep -q "event=exit status=0" "$LOG"
	! grep -q "stage=term" "$LOG"
}

@test "shutdown: listeners close at once and new clients are refused" {
	one_service gated '"/bin/sh", "-c", "echo in; read x; echo done"'
	portier_start
	local p=$(port gated)
	client_open "$p"
	client_read $CLIENT
	kill -TERM "$PORTIER_PID"
	wait_log "event=unlisten service=gated"
	run timeout 5 socat -u "TCP4:127.0.0.1:$p" /dev/null
	assert_failure
	assert_output --partial "Connection refused"
	echo go >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" done
	exec {CLIENT}<&-
	portier_wait_exit 10
	assert_equal "$PORTIER_STATUS" 0
}

@test "shutdown: a live connection finishes its work during the drain" {
	config <<-'EOF'
	shutdown_timeout = 30
	service gated {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in; read x; echo finished $x" }
	}
	EOF
	portier_start
	client_open "$(port gated)"
	client_read $CLIENT
	kill -TERM "$PORTIER_PID"
	wait_log "event=shutdown stage=drain active=1"
	echo properly >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" "finished properly"
	exec {CLIENT}<&-
	portier_wait_exit 10
	assert_equal "$PORTIER_STATUS" 0
	grep -q "event=end service=gated conn=1 .*status=exit:0 " "$LOG"
	! grep -q "stage=term" "$LOG"
}

@test "shutdown: after shutdown_timeout each handler gets SIGTERM" {
	lingering_service 1 "trap 'echo got-term; exit 0' TERM;"
	portier_start
	client_open "$(port linger)"
	client_read $CLIENT
	assert_equal "$REPLY" in
	kill -TERM "$PORTIER_PID"
	client_read $CLIENT 10
	assert_equal "$REPLY" got-term
	exec {CLIENT}<&-
	portier_wait_exit 10
	assert_equal "$PORTIER_STATUS" 0
	grep -q "event=shutdown stage=term active=1" "$LOG"
	grep -q "event=end service=linger conn=1 .*status=exit:0 " "$LOG"
	! grep -q "stage=kill" "$LOG"
}

@test "shutdown: a handler that ignores SIGTERM is killed after kill_grace" {
	lingering_service 1 "trap '' TERM;"
	portier_start
	client_open "$(port linger)"
	client_read $CLIENT
	kill -TERM "$PORTIER_PID"
	portier_wait_exit 10
	assert_equal "$PORTIER_STATUS" 0
	grep -q "event=shutdown stage=term active=1" "$LOG"
	grep -q "event=shutdown stage=kill active=1" "$LOG"
	grep -q "event=end service=linger conn=1 .*status=signal:KILL " "$LOG"
	# The client sees the connection close.
	! client_read $CLIENT 5
	exec {CLIENT}<&-
}

@test "shutdown: a second signal skips the drain" {
	lingering_service 60 "trap 'exit 0' TERM;"
	portier_start
	client_open "$(port linger)"
	client_read $CLIENT
	kill -TERM "$PORTIER_PID"
	wait_log "event=shutdown stage=drain"
	kill -TERM "$PORTIER_PID"
	# With a 60 s drain, only skipping it ends this within 10 s.
	portier_wait_exit 10
	assert_equal "$PORTIER_STATUS" 0
	grep -q "event=shutdown stage=term active=1" "$LOG"
	exec {CLIENT}<&-
}

@test "shutdown: SIGINT drains like SIGTERM" {
	lingering_service 60 "trap 'exit 0' TERM;"
	portier_start
	client_open "$(port linger)"
	client_read $CLIENT
	kill -INT "$PORTIER_PID"
	wait_log "event=signal signal=INT"
	wait_log "event=shutdown stage=drain active=1"
	kill -INT "$PORTIER_PID"
	portier_wait_exit 10
	assert_equal "$PORTIER_STATUS" 0
	exec {CLIENT}<&-
}
