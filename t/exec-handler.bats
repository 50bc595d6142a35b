#!/usr/bin/env bats
# What a handler gets: the connection on 0 and 1, nothing else open, a
# clean signal state, its own process group, exactly the declared
# environment; and what happens when it cannot be executed.

load helpers

# Serve $T/h.sh, a script that answers "alive", as service h.
start_script_service() {
	printf '#!/bin/sh\necho alive\n' >"$T/h.sh"
	chmod +x "$T/h.sh"
	one_service h "\"$T/h.sh\""
	portier_start
}

@test "exec: the handler's stdin and stdout are the connection" {
	one_service cat '"/bin/cat"'
	portier_start
	run tcp "$(port cat)" <<<"round trip"
	assert_output "round trip"
}

@test "exec: a slow client gets every byte through a blocking stdin" {
	one_service cat '"/bin/cat"'
	portier_start
	head -c 1048576 /dev/urandom >"$T/in"
	# The client waits before sending: a non-blocking stdin makes cat
	# fail with EAGAIN at its first read.
	(sleep 0.5; cat "$T/in") | timeout 20 socat -t 10 - \
	    "TCP4:127.0.0.1:$(port cat)" >"$T/out"
	cmp "$T/in" "$T/out"
	wait_log "event=end service=cat .* status=exit:0"
}

@test "exec: O_NONBLOCK is clear on the handler's stdin" {
	one_service fdinfo '"/bin/sh", "-c", "cat /proc/$$/fdinfo/0"'
	portier_start
	run tcp "$(port fdinfo)" </dev/null
	assert_line --regexp '^flags:'
	local flags=$(awk '$1 == "flags:" { print $2 }' <<<"$output")
	(( (8#$flags & 8#4000) == 0 )) || fail "O_NONBLOCK set: flags $flags"
}

@test "exec: the handler inherits only fds 0, 1 and 2" {
	config <<-'EOF'
	service hold {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	}
	service fds {
	    listen = { "127.0.0.1:0", "unix:fds.sock" }
	    exec = { "/bin/sh", "-c", "ls /proc/$$/fd" }
	}
	EOF
	portier_start
	# Other live connections must not leak into this handler.
	local a b
	client_open "$(port hold)"; a=$CLIENT
	client_open "$(port hold)"; b=$CLIENT
	wait_log "event=spawn service=hold" 2
	run tcp "$(port fds)" </dev/null
	assert_equal "$(echo $output)" "0 1 2"
	exec {a}<&- {b}<&-
}

@test "exec: the handler's signal mask and dispositions are clean" {
	one_service status '"/bin/cat", "/proc/self/status"'
	portier_start
	run tcp "$(port status)" </dev/null
	assert_line --regexp '^SigBlk:[[:space:]]+0+$'
	assert_line --regexp '^SigIgn:[[:space:]]+0+$'
	assert_line --regexp '^SigCgt:[[:space:]]+0+$'
}

@test "exec: portierd handles no signal: it blocks HUP, INT, PIPE, TERM and CHLD and reads them in its loop" {
	one_service status '"/bin/cat", "/proc/self/status"'
	portier_start
	local blk cgt
	local want=$(( (1 << 0) | (1 << 1) | (1 << 12) | (1 << 14) | (1 << 16) ))
	blk=$(awk '$1 == "SigBlk:" { print $2 }' "/proc/$PORTIER_PID/status")
	cgt=$(awk '$1 == "SigCgt:" { print $2 }' "/proc/$PORTIER_PID/status")
	# HUP 1, INT 2, PIPE 13, TERM 15 and CHLD 17 are bits 0, 1, 12, 14
	# and 16; the sanitizers' build catches SIGSEGV and the like, never
	# these.
	assert_equal "$(( 0x$blk ))" "$want"
	assert_equal "$(( 0x$cgt & want ))" 0
	# Read from the signalfd: HUP still reloads, TERM still stops.
	kill -HUP "$PORTIER_PID"
	wait_log "event=reload status=ok"
	run tcp "$(port status)" </dev/null
	assert_line --regexp '^SigBlk:[[:space:]]+0+$'
	portier_stop
	log_has "event=signal signal=TERM" 1
}

@test "exec: the handler leads its own process group" {
	config <<-'EOF'
	service pg {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo $$ $(cut -d' ' -f5 /proc/$$/stat)" }
	}
	EOF
	portier_start
	run tcp "$(port pg)" </dev/null
	local pid pgrp
	read -r pid pgrp <<<"$output"
	[ -n "$pid" ] && [ "$pid" = "$pgrp" ] || fail "pid $pid, pgrp $pgrp"
	[ "$pgrp" != "$(cut -d' ' -f5 /proc/$PORTIER_PID/stat)" ]
}

@test "exec: the environment is exactly the declared one plus portier's" {
	config <<-'EOF'
	service env {
	    listen = { "127.0.0.1:0" }
	    exec = { "/usr/bin/env" }
	    env = { "GREETING=hi there", "EMPTY=" }
	    passenv = { "PASSME", "UNSET_IN_DAEMON" }
	}
	EOF
	unset UNSET_IN_DAEMON
	SECRET_TOKEN=x PASSME=yes portier_start
	run tcp "$(port env)" </dev/null
	assert_success
	local port=$(port env)
	run sort <<<"$output"
	assert_line --index 0 "EMPTY="
	assert_line --index 1 "GREETING=hi there"
	assert_line --index 2 "PASSME=yes"
	assert_line --index 3 "PORTIER_CONN_ID=1"
	assert_line --index 4 "PORTIER_SERVICE=env"
	assert_line --index 5 "PROTO=TCP"
	assert_line --index 6 "TCPLOCALIP=127.0.0.1"
	assert_line --index 7 "TCPLOCALPORT=$port"
	assert_line --index 8 "TCPREMOTEIP=127.0.0.1"
	assert_line --index 9 --regexp '^TCPREMOTEPORT=[1-9][0-9]*$'
	[ "${#lines[@]}" -eq 10 ]
}

@test "exec: each connection gets its own id" {
	one_service id '"/bin/sh", "-c", "echo $PORTIER_CONN_ID"'
	portier_start
	run tcp "$(port id)" </dev/null
	assert_output 1
	run tcp "$(port id)" </dev/null
	assert_output 2
}

@test "exec: with stderr = inherit the handler's stderr is portierd's own" {
	config <<-'EOF'
	service err {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo diagnostic-for-the-log >&2; echo to-client" }
	    stderr = "inherit"
	}
	EOF
	portier_start
	run tcp "$(port err)" </dev/null
	assert_output to-client
	wait_log "^diagnostic-for-the-log$"
}

@test "exec: a vanished handler is logged with the errno text and the daemon serves on" {
	start_script_service
	run tcp "$(port h)" </dev/null
	assert_output alive
	mv "$T/h.sh" "$T/h.sh.away"
	run tcp "$(port h)" </dev/null
	assert_success
	assert_output ""
	wait_log "event=exec-failed service=h conn=2 pid=[0-9]+ path=\"$T/h.sh\" error=\"exec: No such file or directory\""
	wait_log "event=end service=h conn=2 .* status=exec-failed"
	mv "$T/h.sh.away" "$T/h.sh"
	run tcp "$(port h)" </dev/null
	assert_output alive
}

@test "exec: a handler's path is shown and run without ./ or doubled slashes" {
	printf '#!/bin/sh\necho alive\n' >"$T/h.sh"
	chmod +x "$T/h.sh"
	one_service h '".//./h.sh"'
	run "$PORTIERD" -t -c "$CONF"
	assert_success
	assert_output "h: exec $T/h.sh; listen 127.0.0.1:0; max_connections -1"
	portier_start
	run tcp "$(port h)" </dev/null
	assert_output alive
	mv "$T/h.sh" "$T/h.sh.away"
	run tcp "$(port h)" </dev/null
	wait_log "event=exec-failed service=h conn=2 pid=[0-9]+ path=\"$T/h.sh\" error=\"exec: No such file or directory\""
	# Refused when the config is read, it is named the same way.
	one_service h '"./h.sh"'
	run "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	assert_output "$CONF:5: exec \"$T/h.sh\": No such file or directory"
}

@test "exec: a handler that is not executable is logged with the errno text" {
	start_script_service
	chmod -x "$T/h.sh"
	run tcp "$(port h)" </dev/null
	assert_output ""
	wait_log "event=exec-failed service=h conn=1 .* error=\"exec: Permission denied\""
}

@test "exec: a script without a shebang is logged as an exec format error" {
	start_script_service
	printf 'echo no shebang\n' >"$T/h.sh"
	run tcp "$(port h)" </dev/null
	assert_output ""
	wait_log "event=exec-failed service=h conn=1 .* error=\"exec: Exec format error\""
}
