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

@test "log: log_connections = false drops the lines of connections that end as they should, and keeps what went wrong" {
	config <<-'EOF'
	log_connections = false
	service quiet {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo hi; echo oops >&2" }
	}
	service crash {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "kill -SEGV $$" }
	}
	service slow {
	    listen = { "127.0.0.1:0" }
	    timeout = 1
	    exec = { "/bin/sleep", "30" }
	}
	service shut {
	    listen = { "127.0.0.1:0" }
	    deny = { "127.0.0.1" }
	    exec = { "/bin/echo", "never" }
	}
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service lines {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    filter = "line"
	    max_line = 16
	}
	service loud {
	    listen = { "127.0.0.1:0" }
	    log_connections = true
	    exec = { "/bin/echo", "loud" }
	}
	EOF
	portier_start
	run tcp "$(port quiet)" </dev/null
	assert_output hi
	run tcp "$(port quiet)" </dev/null
	echo ping | tcp "$(port echo)" >/dev/null
	tcp "$(port crash)" </dev/null || true
	tcp "$(port slow)" </dev/null || true
	tcp "$(port shut)" </dev/null || true
	printf '%040d\n' 0 | tcp "$(port lines)" >/dev/null || true
	run tcp "$(port loud)" </dev/null
	assert_output loud
	wait_log 'event=end service=loud conn=[0-9]+ pid=[0-9]+ status=exit:0 '
	wait_idle
	# What went wrong is there: the handler's stderr, the crash, the
	# timeout, the refusal and the line too long.
	[ "$(log_count 'event=stderr service=quiet conn=[0-9]+ pid=[0-9]+ line="oops"$')" -eq 2 ]
	wait_log 'event=end service=crash conn=[0-9]+ pid=[0-9]+ status=signal:SEGV'
	wait_log 'event=timeout service=slow '
	wait_log 'event=refuse service=shut remote=127.0.0.1:[0-9]+ reason=deny'
	wait_log 'event=line-too-long service=lines '
	# The lines of connections that ended as they should are not, nor the
	# spawn of the crash, nor the end of the handler portierd timed out.
	[ "$(log_count 'event=(spawn|serve|end) service=(quiet|echo|slow|shut|lines)')" -eq 0 ]
	[ "$(log_count 'event=spawn service=crash')" -eq 0 ]
	# A service that says true logs both lines, and every connection is
	# counted all the same.
	[ "$(log_count 'event=spawn service=loud ')" -eq 1 ]
	ctl -j services | json "{s['name']: s['accepted'] for s in d['services']} == {'quiet': 2, 'crash': 1, 'slow': 1, 'shut': 0, 'echo': 1, 'lines': 1, 'loud': 1}"
}

@test "log: a reload that sets log_connections applies to the connections that start after it" {
	one_service hi '"/bin/echo", "hi"'
	sed -i '1i log_connections = false' "$CONF"
	portier_start
	run tcp "$(port hi)" </dev/null
	assert_output hi
	wait_idle
	sed -i '/^log_connections/d' "$CONF"
	run ctl reload
	assert_success
	run tcp "$(port hi)" </dev/null
	assert_output hi
	wait_log 'event=end service=hi conn=2 pid=[0-9]+ status=exit:0 '
	[ "$(log_count 'event=(spawn|end) service=hi conn=1 ')" -eq 0 ]
	[ "$(log_count 'event=spawn service=hi conn=2 ')" -eq 1 ]
}

@test "log: a quoted value has its quotes, backslashes and control characters escaped, so it ends neither its quotes nor its line" {
	one_service hi '"/bin/echo", "hi"'
	portier_start
	# A handler's path with a quote, a backslash and a line feed in it:
	# the reload fails, and its error quotes the path in quotes of its own.
	config <<-'EOF2'
	service hi {
	    listen = { "127.0.0.1:0" }
	    exec = { "/no/such \"odd\" \\ file\nend" }
	}
	EOF2
	kill -HUP "$PORTIER_PID"
	wait_log "event=reload status=failed "
	grep -qF ': exec \"/no/such \"odd\" \\ file\x0aend\": No such file or directory"' "$LOG" ||
		fail "not escaped: $(grep 'status=failed' "$LOG")"
	portier_stop
	# A start that fails on a control socket path with a quote in it.
	builtin_service e echo
	printf 'control_socket = "no \\"such\\" dir/ctl.sock"\n' >>"$CONF"
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 1
	assert_output --partial "event=start-failed error=\"control socket: $T/no \\\"such\\\" dir/ctl.sock: directory $T/no \\\"such\\\" dir does not exist\""
	printf '%s\n' "$output" >>"$LOG"
	run grep -vE '^ts=[0-9T:.-]+Z level=(info|warn) event=[a-z-]+( [a-z_]+=("([^"\\]|\\.)*"|[^ "]+))*$' "$LOG"
	assert_output ""
}

@test "log: a unix: listener's addr= is quoted and escaped, as a path may hold a space, a quote or a line feed" {
	config <<-'EOF2'
	service u {
	    listen = { "unix:a \"b\"\nc.sock" }
	    builtin = "echo"
	}
	EOF2
	portier_start
	local path="$T/a \"b\""$'\n'"c.sock"
	[ -S "$path" ]
	# socat reads quotes in its address: a socket of Python's.
	run timeout 5 python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"odd path\n")
sys.stdout.write(s.recv(64).decode())' "$path"
	assert_output "odd path"
	portier_stop
	local want="addr=\"unix:$T/a \\\"b\\\"\\x0ac.sock\""
	grep -qF "event=listen service=u $want" "$LOG" ||
		fail "listen: $(grep 'event=listen' "$LOG")"
	grep -qF "event=unlisten service=u $want" "$LOG" ||
		fail "unlisten: $(grep 'event=unlisten' "$LOG")"
	run grep -vE '^ts=[0-9T:.-]+Z level=(info|warn) event=[a-z-]+( [a-z_]+=("([^"\\]|\\.)*"|[^ "]+))*$' "$LOG"
	assert_output ""
}
