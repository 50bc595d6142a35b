#!/usr/bin/env bats
# Live reload: SIGHUP or portierctl reload re-reads the config and applies
# it without refusing a client.

load helpers

# Reload through the control socket and check it succeeded.
reload_ok() {
	run ctl reload
	assert_success
	RELOAD=$output
}

# The first bound port of a service, from portierctl.
ctl_port() {
	ctl -j services | json "svc('$1')['listen'][0].rsplit(':', 1)[1]"
}

@test "reload: adds, changes and removes services" {
	config <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service b {
	    listen = { "127.0.0.1:0" }
	    builtin = "daytime"
	}
	EOF
	portier_start
	local pa=$(port a) pb=$(port b)
	config <<-EOF
	service a {
	    listen = { "127.0.0.1:$pa" }
	    builtin = "rot13"
	}
	service c {
	    listen = { "127.0.0.1:0" }
	    builtin = "time"
	}
	EOF
	reload_ok
	assert_regex "$RELOAD" '^added=1 changed=1 removed=1 unchanged=0 checksum=[0-9a-f]{16}$'
	wait_log "event=reload status=ok added=1 changed=1 removed=1 unchanged=0 "
	run tcp "$pa" <<<"abc"
	assert_output nop
	run bash -c "timeout 5 socat -u TCP4:127.0.0.1:$(ctl_port c) - | wc -c"
	assert_output 4
	run timeout 5 socat -u "TCP4:127.0.0.1:$pb" /dev/null
	assert_failure
	run ctl -j services
	refute_output --partial '"name": "b"'
}

@test "reload: a daemon started with no service serves its control socket, then what a reload adds, then none again" {
	config </dev/null
	portier_start
	wait_log "event=start .* services=0 "
	run ctl -j status
	assert_success
	assert_equal "$(json "d['services']" <<<"$output")" 0
	config <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	reload_ok
	run tcp "$(ctl_port a)" <<<"abc"
	assert_output abc
	config </dev/null
	reload_ok
	assert_regex "$RELOAD" '^added=0 changed=0 removed=1 unchanged=0 '
	run ctl -j services
	assert_output '{"services": []}'
}

@test "reload: a kept address keeps its socket, and a client in its backlog is served" {
	config <<-'EOF'
	service gated {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in; read x" }
	    max_connections = 1
	}
	EOF
	portier_start
	local p=$(port gated) a b
	client_open "$p"; a=$CLIENT
	client_read $a
	client_open "$p"; b=$CLIENT
	! client_read $b 1 || fail "served beyond the limit"
	sed -i 's/max_connections = 1/max_connections = 2/' "$CONF"
	reload_ok
	assert_regex "$RELOAD" '^added=0 changed=1 removed=0 unchanged=0 '
	# The waiting client was never refused: it is served now.
	client_read $b
	assert_equal "$REPLY" in
	assert_equal "$(ctl_port gated)" "$p"
	echo x >&$a
	echo x >&$b
	exec {a}<&- {b}<&-
}

@test "reload: live connections keep their settings, new ones get the new" {
	config <<-'EOF'
	service s {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	portier_start
	local p=$(port s)
	client_open "$p"
	sed -i 's/builtin = "echo"/builtin = "rot13"/' "$CONF"
	reload_ok
	echo abc >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" abc
	run tcp "$p" <<<"abc"
	assert_output nop
	exec {CLIENT}<&-
	wait_log "event=end service=s conn=1 builtin=echo "
}

@test "reload: a handler changed under live connections" {
	config <<-'EOF'
	service h {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo old; read x; echo old-done" }
	}
	EOF
	portier_start
	local p=$(port h)
	client_open "$p"
	client_read $CLIENT
	assert_equal "$REPLY" old
	sed -i 's/echo old; read x; echo old-done/echo new/' "$CONF"
	reload_ok
	run tcp "$p" </dev/null
	assert_output new
	echo go >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" old-done
	exec {CLIENT}<&-
	wait_log "event=end service=h conn=1 .*status=exit:0 "
	run ctl -j services
	assert_output --partial '"active": 0'
}

@test "reload: a limit lowered below the live count keeps them, holds new ones" {
	config <<-'EOF'
	service g {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in $PORTIER_CONN_ID; read x" }
	    max_connections = 3
	}
	EOF
	portier_start
	local p=$(port g) fds=() i
	for i in 1 2 3; do
		client_open "$p"; fds+=("$CLIENT")
		client_read $CLIENT
	done
	sed -i 's/max_connections = 3/max_connections = 1/' "$CONF"
	reload_ok
	client_open "$p"; local late=$CLIENT
	! client_read $late 1 || fail "served over the new limit: $REPLY"
	echo x >&${fds[0]}
	echo x >&${fds[1]}
	wait_log "event=end service=g .*active=1/1$"
	! client_read $late 1 || fail "served with one still live: $REPLY"
	echo x >&${fds[2]}
	client_read $late
	assert_equal "$REPLY" "in 4"
	echo x >&$late
	for i in "${fds[@]}" "$late"; do exec {i}<&-; done
}

@test "reload: a removed service drains, is listed until empty, and frees its port" {
	# A drain long enough for the steps below on a loaded machine (the
	# 2 s config() gives was not).
	config <<-'EOF'
	shutdown_timeout = 60
	service gone {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in; read x; echo finished" }
	}
	service stay {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	portier_start
	local p=$(port gone) ps=$(port stay)
	client_open "$p"
	client_read $CLIENT
	config <<-EOF
	shutdown_timeout = 60
	service stay {
	    listen = { "127.0.0.1:$ps" }
	    builtin = "echo"
	}
	EOF
	reload_ok
	assert_regex "$RELOAD" '^added=0 changed=1 removed=1 unchanged=0 '
	run timeout 5 socat -u "TCP4:127.0.0.1:$p" /dev/null
	assert_failure
	ctl -j services | json 'svc("gone")["state"] == "removed" and svc("gone")["active"] == 1'
	echo go >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" finished
	exec {CLIENT}<&-
	wait_log "event=end service=gone conn=1 .*status=exit:0 "
	run ctl -j services
	refute_output --partial '"gone"'
	# No one holds the port any more.
	"$PTEST" listen "127.0.0.1:$p"
}

# Two built-ins, "gen" with max_connections $1 and "echo" with $2 (-1 if
# not given), on ports $3 and $4 (0 at first).
gen_and_echo() {
	config <<-EOF
	service gen {
	    listen = { "127.0.0.1:${3:-0}" }
	    builtin = "daytime"
	    max_connections = $1
	}
	service echo {
	    listen = { "127.0.0.1:${4:-0}" }
	    builtin = "echo"
	    max_connections = ${2:--1}
	}
	EOF
}

@test "reload: run-time changes hold until the file changes that setting, and the reply names each kept or dropped" {
	gen_and_echo 3
	portier_start
	local pg=$(port gen) pe=$(port echo)
	ctl set-concurrency gen 0
	ctl pause echo
	ctl -j services | json 'svc("gen")["overrides"] == ["set-concurrency"] and svc("gen")["file_max_connections"] == 3 and svc("echo")["overrides"] == ["pause"]'
	run ctl services
	assert_line --regexp '^gen .* 0 +0 +0 +0 +paused +set-concurrency$'
	# Changes to other settings (the ports, echo's limit) keep gen's limit
	# and the pause.
	gen_and_echo 3 5 "$pg" "$pe"
	reload_ok
	assert_regex "$RELOAD" '^added=0 changed=2 removed=0 unchanged=0 checksum=[0-9a-f]{16} kept="gen:max_connections=0 echo:paused"$'
	wait_log 'event=reload status=ok .* kept="gen:max_connections=0 echo:paused"$'
	ctl -j services | json 'svc("gen")["max_connections"] == 0 and svc("gen")["state"] == "paused" and svc("echo")["paused"] and svc("echo")["max_connections"] == 5'
	# The file changing gen's max_connections drops the override.
	gen_and_echo 4 5 "$pg" "$pe"
	reload_ok
	assert_regex "$RELOAD" ' kept="echo:paused" dropped="gen:max_connections=0"$'
	ctl -j services | json 'svc("gen")["max_connections"] == 4 and svc("gen")["overrides"] == [] and svc("gen")["state"] == "serving"'
	run tcp "$pg" </dev/null
	assert_success
	[ -n "$output" ]
	# Nothing changed at run time: nothing said.
	ctl resume echo
	reload_ok
	assert_regex "$RELOAD" '^added=0 changed=0 removed=0 unchanged=2 checksum=[0-9a-f]{16}$'
}

@test "reload: a service shut down by the control socket stays down until the file changes it" {
	gen_and_echo 3
	portier_start
	local pg=$(port gen) pe=$(port echo)
	ctl shutdown gen
	run timeout 5 socat -u "TCP4:127.0.0.1:$pg" /dev/null
	assert_failure
	reload_ok
	assert_regex "$RELOAD" ' kept="gen:shut-down"$'
	ctl -j services | json 'svc("gen")["state"] == "stopped" and svc("gen")["overrides"] == ["shutdown"] and svc("gen")["listen"] == []'
	run timeout 5 socat -u "TCP4:127.0.0.1:$pg" /dev/null
	assert_failure
	run tcp "$pe" <<<"still"
	assert_output still
	# A change to its section brings it back.
	gen_and_echo 2 -1 "$pg" "$pe"
	reload_ok
	assert_regex "$RELOAD" ' dropped="gen:shut-down"$'
	ctl -j services | json 'svc("gen")["state"] == "serving" and svc("gen")["overrides"] == []'
	run tcp "$pg" </dev/null
	assert_success
	[ -n "$output" ]
}

@test "reload: a service draining after a control shutdown goes on to TERM its handler at the drain's end" {
	config <<-'EOF'
	shutdown_timeout = 3
	service gated {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in; read x; echo finished" }
	}
	EOF
	portier_start
	client_open "$(port gated)"
	client_read $CLIENT
	ctl shutdown gated
	wait_log "event=shutdown service=gated stage=drain active=1"
	reload_ok
	assert_regex "$RELOAD" ' kept="gated:shut-down"$'
	ctl -j services | json 'svc("gated")["state"] == "stopping"'
	# The drain's 3 s run out: the handler gets TERM, its connection ends.
	wait_log "event=shutdown service=gated stage=term active=1" 1 15
	wait_log "event=end service=gated conn=1 .*status=signal:TERM " 1 15
	exec {CLIENT}<&-
}

@test "reload: moves a port; a port already taken fails it as a whole" {
	config <<-'EOF'
	service m {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	portier_start
	local p=$(port m)
	sed -i 's/127.0.0.1:0/127.0.0.2:0/' "$CONF"
	reload_ok
	run timeout 5 socat -u "TCP4:127.0.0.1:$p" /dev/null
	assert_failure
	local np=$(ctl_port m)
	run bash -c "echo moved | timeout 5 socat - TCP4:127.0.0.2:$np"
	assert_output moved
	# Now to an address someone else holds: nothing may change.
	"$PTEST" listen 127.0.0.3:0 --hold 30 >"$T/taken" &
	local holder=$!
	wait_until test -s "$T/taken"
	local taken=$(cat "$T/taken")
	cat >"$CONF" <<-EOF
	shutdown_timeout = 2
	kill_grace = 1 control_socket = "ctl.sock"
	service m {
	    listen = { "127.0.0.2:$np" }
	    builtin = "echo"
	}
	service n {
	    listen = { "127.0.0.1:0", "127.0.0.3:$taken" }
	    builtin = "echo"
	}
	EOF
	run ctl reload
	assert_failure 1
	assert_output "portierctl: service n: listen 127.0.0.3:$taken: Address already in use"
	kill "$holder"
	run bash -c "echo still | timeout 5 socat - TCP4:127.0.0.2:$np"
	assert_output still
	run ctl -j services
	refute_output --partial '"name": "n"'
}

@test "reload: a changed control_socket moves, the new one up first" {
	config <<-'EOF'
	service s {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	portier_start
	sed -i 's/control_socket = "ctl.sock"/control_socket = "ctl2.sock"/' "$CONF"
	reload_ok
	[ ! -e "$T/ctl.sock" ]
	run timeout 10 "$PORTIERCTL" -S "$T/ctl2.sock" version
	assert_success
	grep -q "event=control-moved from=\"$T/ctl.sock\"" "$LOG"
	# Teardown talks to ctl.sock no more; stop here by signal.
	portier_stop
	[ ! -e "$T/ctl2.sock" ]
}

@test "reload: 50 reloads while clients loop lose not one connection" {
	config <<-'EOF'
	service e {
	    listen = { "127.0.0.1:0", "[::1]:0" }
	    builtin = "echo"
	    idle_timeout = 300
	}
	EOF
	portier_start
	"$PTEST" echo "$(port e)" -n 3000 -c 16 >"$T/loop" &
	local loop=$! i
	for (( i = 0; i < 50; i++ )); do
		if (( i % 2 )); then
			sed -i "s/idle_timeout = .*/idle_timeout = $(( 300 + i ))/" "$CONF"
			kill -HUP "$PORTIER_PID"
		else
			sed -i "s/idle_timeout = .*/idle_timeout = $(( 300 + i ))/" "$CONF"
			ctl reload >/dev/null || fail "reload $i failed"
		fi
	done
	wait "$loop"
	assert_equal "$(cat "$T/loop")" "ok=3000"
	wait_log "event=reload status=ok" 50
	! grep -q "event=reload status=failed" "$LOG"
}
