#!/usr/bin/env bats
# The log: one line per event, key=value fields, debug lines with -v.

load helpers

@test "log: every line is ts=, level=, event= and key=value fields" {
	config <<-'EOF'
	service hi {
	    listen = { "127.0.0.1:0", "[::1]:0" }
	    exec = { "/bin/echo", "hi" }
	}
	EOF
	portier_start
	run tcp "$(port hi)" </dev/null
	wait_log "event=end service=hi"
	portier_stop
	run grep -vE '^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z level=(info|warn) event=[a-z-]+( [a-z_]+=("[^"]*"|[^ "]+))*$' "$LOG"
	assert_output ""
	for event in start listen spawn end signal shutdown unlisten exit; do
		grep -q " event=$event[ $]" "$LOG" || grep -q " event=$event\$" "$LOG" ||
			fail "no event=$event line"
	done
}

@test "log: debug lines appear only with -v" {
	one_service hi '"/bin/echo", "hi"'
	portier_start
	run tcp "$(port hi)" </dev/null
	wait_log "event=end service=hi"
	! grep -q "level=debug" "$LOG"
	portier_stop
	portier_start -v
	run tcp "$(port hi)" </dev/null
	wait_log "event=end service=hi"
	grep -q "level=debug event=accept service=hi conn=1 remote=127.0.0.1:[0-9]* fd=[0-9]*$" "$LOG"
}

@test "log: SIGHUP is logged, reloads, and the daemon serves on" {
	one_service hi '"/bin/echo", "hi"'
	portier_start
	kill -HUP "$PORTIER_PID"
	wait_log "event=signal signal=HUP$"
	wait_log "event=reload status=ok added=0 changed=0 removed=0 unchanged=1 checksum=[0-9a-f]{16}$"
	run tcp "$(port hi)" </dev/null
	assert_output hi
}
