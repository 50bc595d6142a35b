#!/usr/bin/env bats
# The control socket and portierctl: every command in both output forms,
# the socket's permissions, hostile requests, and the client's exit codes.

load helpers

# An exec service "gated" (answers "in", waits for a line) and a built-in
# echo, with optional extra global settings as arguments.
two_services() {
	config <<-EOF
	$*
	service gated {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in; read x; echo done" }
	}
	service echo {
	    listen = { "127.0.0.1:0", "[::1]:0" }
	    builtin = "echo"
	}
	EOF
}

@test "control: the socket is created 0600 and removed on exit" {
	two_services
	portier_start
	[ -S "$T/ctl.sock" ]
	assert_equal "$(stat -c %a "$T/ctl.sock")" 600
	grep -q "event=control path=\"$T/ctl.sock\" mode=0600" "$LOG"
	portier_stop
	[ ! -e "$T/ctl.sock" ]
}

@test "control: control_group makes the socket 0660 with that group" {
	need_root_nogroup
	two_services 'control_group = "nogroup"'
	portier_start
	assert_equal "$(stat -c '%a %G' "$T/ctl.sock")" "660 nogroup"
}

@test "control: a control socket in a directory that does not exist is an error at -t and at start" {
	printf '%s\n' 'control_socket = "nowhere/ctl.sock"' 'service e {' \
	    '    listen = { "127.0.0.1:0" }' '    builtin = "echo"' '}' >"$CONF"
	local why="control socket: $T/nowhere/ctl.sock: directory $T/nowhere does not exist"
	run "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	assert_output "$CONF: $why"
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 1
	assert_output --partial "event=start-failed error=\"$why\""
	# -S is checked the same way.
	sed -i 1d "$CONF"
	run "$PORTIERD" -t -c "$CONF" -S "$T/nowhere/ctl.sock"
	assert_failure 78
	assert_output "$CONF: $why"
}

# The default control socket's path, RUNDIR/portier.sock, as built.
default_socket() {
	awk '$1 == ".It" && $2 == "Pa" && $3 ~ /\/portier\.sock$/ { print $3 }' \
	    "$PORTIER_BUILD/man/portierd.8"
}

@test "control: with no control_socket, portierd makes the missing run directory, mode 0755 under umask 077" {
	[ "$(id -u)" -eq 0 ] || skip "a private /run needs root"
	command -v unshare >/dev/null && command -v nsenter >/dev/null ||
	    skip "unshare and nsenter are not installed"
	local sock rundir
	sock=$(default_socket)
	rundir=${sock%/*}
	[ -n "$rundir" ] || fail "no default socket in portierd(8)"
	printf '%s\n' 'service e {' '    listen = { "127.0.0.1:0" }' \
	    '    builtin = "echo"' '}' >"$CONF"
	# portierd runs in a mount namespace of its own, where an empty tmpfs
	# covers the run directory's parent: the machine's is never touched.
	cat >"$T/private-run" <<-EOF
	#!/bin/sh
	mount -t tmpfs -o mode=0755 portier-test "${rundir%/*}" || exit 99
	umask 077
	exec "\$@"
	EOF
	chmod +x "$T/private-run"
	PORTIER_WRAP="unshare -m $T/private-run" portier_start
	grep -q "event=rundir path=\"$rundir\" mode=0755" "$LOG"
	run nsenter -t "$PORTIER_PID" -m stat -c '%a %U %F' "$rundir"
	assert_output "755 root directory"
	run nsenter -t "$PORTIER_PID" -m stat -c '%a %F' "$sock"
	assert_output "600 socket"
	run nsenter -t "$PORTIER_PID" -m timeout 10 "$PORTIERCTL" -S "$sock" version
	assert_success
}

@test "control: an unknown control_group is a config error" {
	two_services 'control_group = "no-such-group-here"'
	run "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	assert_output "$CONF:3: control_group \"no-such-group-here\": no such group"
}

@test "control: a live socket stops a second portierd, a stale one is replaced" {
	two_services
	portier_start
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 1
	assert_output --partial "control socket: $T/ctl.sock is in use by a running process"
	run ctl version
	assert_success
	portier_stop
	"$PTEST" listen "unix:$T/ctl.sock"
	portier_start
	grep -q "event=stale-socket path=\"$T/ctl.sock\" action=removed" "$LOG"
	run ctl version
	assert_success
}

@test "control: -S sets the socket for portierd and portierctl" {
	two_services
	portier_start -S "$T/other.sock"
	[ ! -e "$T/ctl.sock" ]
	run timeout 10 "$PORTIERCTL" -S "$T/other.sock" version
	assert_success
	assert_output "portierd 0.1.0"
}

@test "control: status, as a table and as JSON" {
	two_services
	portier_start
	run ctl status
	assert_success
	assert_line --index 0 "pid            $PORTIER_PID"
	assert_line --index 1 "version        0.1.0"
	assert_line --index 2 --regexp '^uptime         [0-9]+\.[0-9]{3}$'
	assert_line --index 3 "services       2"
	assert_line --index 4 "active         0"
	assert_line --index 5 "accepted       0"
	assert_line --index 6 "exec_failures  0"
	assert_line --index 7 "orphans        0"
	assert_line --index 8 "orphans_reaped 0"
	ctl -j status | json "d['pid'] == $PORTIER_PID and d['version'] == '0.1.0' and d['active'] == 0 and d['accepted'] == 0 and d['uptime'] >= 0 and d['orphans'] == 0 and d['orphans_reaped'] == 0"
}

@test "control: status starts every row's value in the same column" {
	two_services
	portier_start
	run ctl reload
	assert_success
	run ctl status
	assert_success
	# Each line is a label, spaces, a value: where the value starts.
	local cols
	cols=$(awk '{ match($0, /^[a-z_]+ +/); print RLENGTH }' <<<"$output" |
	    sort -u)
	assert_equal "$(wc -l <<<"$output")" 10
	grep -q '^exec_failures ' <<<"$output"
	grep -q '^orphans_reaped ' <<<"$output"
	grep -q '^reload ' <<<"$output"
	[ "$(wc -l <<<"$cols")" -eq 1 ] && [ "$cols" -gt 0 ] ||
		fail "the values start in columns $(echo $cols): $output"
}

@test "control: services lists addresses with bound ports, kind, limit and counters" {
	two_services
	portier_start
	run tcp "$(port echo)" <<<hi
	wait_log "event=end service=echo"
	run ctl services
	assert_success
	assert_line --index 0 --regexp '^NAME +KIND +LISTEN +LIMIT +ACTIVE +ACCEPTED +REFUSED +STATE +OVERRIDES$'
	assert_line --index 1 --regexp "^gated +exec +127\.0\.0\.1:$(port gated) +-1 +0 +0 +0 +serving +-$"
	assert_line --index 2 --regexp "^echo +builtin:echo +127\.0\.0\.1:$(port echo 1),\[::1\]:$(port echo 2) +-1 +0 +1 +0 +serving +-$"
	ctl -j services | json "[s['name'] for s in d['services']] == ['gated', 'echo'] and d['services'][1]['listen'] == ['127.0.0.1:$(port echo 1)', '[::1]:$(port echo 2)'] and d['services'][1]['kind'] == 'builtin' and d['services'][0]['kind'] == 'exec' and d['services'][1]['accepted'] == 1 and d['services'][0]['max_connections'] == -1 and d['services'][0]['paused'] is False and d['services'][0]['refused'] == 0 and d['services'][1]['active'] == 0"
}

@test "control: connections lists live ones, all or of one service" {
	two_services
	portier_start
	local a b
	client_open "$(port gated)"; a=$CLIENT
	client_read $a
	client_open "$(port echo)"; b=$CLIENT
	echo hello >&$b
	client_read $b
	local pid=$(sed -n 's/.*event=spawn service=gated conn=1 pid=\([0-9]*\) .*/\1/p' "$LOG")
	run ctl connections
	assert_success
	assert_line --index 0 --regexp '^ID +SERVICE +PID +REMOTE +AGE +STATE +IN +OUT$'
	assert_line --index 1 --regexp "^1 +gated +$pid +127\.0\.0\.1:[0-9]+ +[0-9.]+s +running +- +-$"
	assert_line --index 2 --regexp '^2 +echo +builtin +127\.0\.0\.1:[0-9]+ +[0-9.]+s +running +6 +6$'
	run ctl connections echo
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 1 --regexp '^2 +echo +builtin '
	ctl -j connections | json "[c['id'] for c in d['connections']] == [1, 2] and d['connections'][0]['pid'] == $pid and d['connections'][1]['pid'] is None and d['connections'][1]['bytes_in'] == 6 and d['connections'][0]['remote'].startswith('127.0.0.1:') and d['connections'][0]['service'] == 'gated' and d['connections'][0]['age'] >= 0"
	run ctl connections nosuch
	assert_failure 1
	assert_output "portierctl: no such service: nosuch"
	echo go >&$a
	exec {a}<&- {b}<&-
}

@test "control: status, services and connections say the same as a table and as JSON" {
	two_services
	portier_start
	local a b v
	client_open "$(port gated)"; a=$CLIENT
	client_read $a
	client_open "$(port echo)"; b=$CLIENT
	echo hello >&$b
	client_read $b
	run ctl reload
	assert_success
	for v in status services connections; do
		ctl "$v" >"$T/$v.txt"
		ctl -j "$v" >"$T/$v.json"
	done
	"$PTEST" views "$T"
	echo go >&$a
	exec {a}<&- {b}<&-
}

@test "control: set-concurrency 0 holds a client back, 1 lets it in" {
	two_services
	portier_start
	run ctl set-concurrency gated 0
	assert_success
	assert_output "gated max_connections 0"
	client_open "$(port gated)"
	! client_read $CLIENT 1 || fail "served at 0: $REPLY"
	run ctl set-concurrency gated 1
	assert_success
	client_read $CLIENT
	assert_equal "$REPLY" in
	grep -q "event=control-command uid=$(id -u) command=set-concurrency service=gated limit=1" "$LOG"
	echo go >&$CLIENT
	exec {CLIENT}<&-
}

@test "control: set-concurrency takes -1, 0 or N and nothing else" {
	two_services
	portier_start
	local bad
	for bad in 99999999999999999999 -2 0x10 1e3 "" abc 1000001; do
		run ctl set-concurrency gated "$bad"
		[ "$status" -eq 1 ] || fail "'$bad': status $status"
	done
	run ctl set-concurrency gated 0x10
	assert_output "portierctl: bad limit: expected -1, 0 or a number up to 1000000"
	run ctl set-concurrency gated -1
	assert_success
	ctl -j services | json "d['services'][0]['max_connections'] == -1"
}

@test "control: pause holds clients back, resume lets them in" {
	two_services
	portier_start
	run ctl pause echo
	assert_success
	assert_output "echo paused"
	run ctl services
	assert_line --index 2 --regexp ' paused +pause$'
	client_open "$(port echo)"
	echo waiting >&$CLIENT
	! client_read $CLIENT 1 || fail "served while paused: $REPLY"
	run ctl resume echo
	assert_output "echo resumed"
	client_read $CLIENT
	assert_equal "$REPLY" waiting
	exec {CLIENT}<&-
}

@test "control: a service at set-concurrency 0 shows as paused, or refusing with on_limit = refuse" {
	two_services
	portier_start
	run ctl set-concurrency echo 0
	assert_success
	run ctl services
	assert_line --index 2 --regexp '^echo .* paused +set-concurrency$'
	assert_line --index 1 --regexp '^gated .* serving +-$'
	ctl -j services | json "d['services'][1]['state'] == 'paused'"
	run ctl set-concurrency echo 3
	ctl -j services | json "d['services'][1]['state'] == 'serving'"
	two_services 'on_limit = "refuse"'
	run ctl reload
	assert_success
	run ctl set-concurrency echo 0
	ctl -j services | json "d['services'][1]['state'] == 'refusing'"
}

@test "control: kill sends TERM to a handler's group, then KILL after kill_grace" {
	config <<-'EOF'
	service stubborn {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "trap '' TERM; echo in; while :; do sleep 0.1; done" }
	}
	EOF
	portier_start
	client_open "$(port stubborn)"
	client_read $CLIENT
	run ctl kill 1
	assert_success
	assert_output killed
	wait_log "event=end service=stubborn conn=1 .*status=signal:KILL "
	run ctl kill 1
	assert_failure 1
	assert_output "portierctl: no such connection"
	exec {CLIENT}<&-
}

@test "control: kill ends a handler that obeys TERM at once" {
	two_services
	portier_start
	client_open "$(port gated)"
	client_read $CLIENT
	run ctl kill 1
	assert_output killed
	wait_log "event=end service=gated conn=1 .*status=signal:TERM "
	! client_read $CLIENT 5
	exec {CLIENT}<&-
}

@test "control: kill closes a built-in connection gracefully" {
	two_services
	portier_start
	client_open "$(port echo)"
	echo x >&$CLIENT
	client_read $CLIENT
	run ctl kill 1
	assert_output killed
	! client_read $CLIENT 5 || fail "still open: $REPLY"
	exec {CLIENT}<&-
	wait_log "event=end service=echo conn=1 .*status=killed "
}

@test "control: shutdown of one service drains it while the others serve" {
	# Long enough for the steps below on a loaded machine, which took
	# past the 2 s config() gives and saw the drain end in SIGTERM.
	two_services 'shutdown_timeout = 60'
	portier_start
	local gp=$(port gated)
	client_open "$gp"
	client_read $CLIENT
	run ctl shutdown gated
	assert_success
	assert_output "service gated shutting down"
	wait_log "event=shutdown service=gated stage=drain active=1"
	run timeout 5 socat -u "TCP4:127.0.0.1:$gp" /dev/null
	assert_failure
	run tcp "$(port echo)" <<<"others go on"
	assert_output "others go on"
	ctl -j services | json "d['services'][0]['state'] == 'stopping' and d['services'][0]['listen'] == []"
	echo go >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" done
	exec {CLIENT}<&-
	wait_log "event=end service=gated conn=1 .*status=exit:0 "
	ctl -j services | json "d['services'][0]['state'] == 'stopped'"
	run ctl resume gated
	assert_failure 1
	assert_output "portierctl: service gated is shut down"
}

@test "control: shutdown now of one service ends its connections after kill_grace" {
	config <<-'EOF'
	shutdown_timeout = 60
	service stubborn {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "trap '' TERM; echo in; while :; do sleep 0.1; done" }
	}
	EOF
	portier_start
	client_open "$(port stubborn)"
	client_read $CLIENT
	run ctl shutdown stubborn now
	assert_success
	wait_log "event=shutdown service=stubborn stage=term active=1"
	wait_log "event=end service=stubborn conn=1 .*status=signal:KILL "
	exec {CLIENT}<&-
}

@test "control: shutdown replies, then stops the daemon" {
	two_services
	portier_start
	run ctl shutdown
	assert_success
	assert_output "shutting down"
	portier_wait_exit 10
	assert_equal "$PORTIER_STATUS" 0
	grep -q "event=control-command uid=$(id -u) command=shutdown service=- now=0" "$LOG"
}

@test "control: reload applies the config, or answers the file's error" {
	two_services
	portier_start
	run ctl reload
	assert_success
	assert_output --regexp '^added=0 changed=0 removed=0 unchanged=2 checksum=[0-9a-f]{16}$'
	echo "bogus = 1" >>"$CONF"
	run ctl reload
	assert_failure 1
	assert_output "portierctl: $CONF:12: no such option 'bogus'"
	run ctl status
	assert_line --regexp "^reload         [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z error: $CONF:12: no such option 'bogus'$"
	ctl -j status | json 'd["last_reload"]["result"].startswith("error: ") and d["last_reload"]["time"].endswith("Z") and d["last_reload"]["uptime"] > 0'
}

@test "control: metrics are in the Prometheus text format" {
	two_services
	portier_start
	run tcp "$(port echo)" <<<hi
	client_open "$(port gated)"
	client_read $CLIENT
	echo go >&$CLIENT
	client_read $CLIENT
	exec {CLIENT}<&-
	wait_log "event=end service=gated"
	run ctl metrics
	assert_success
	assert_line 'portier_connections_accepted_total{service="echo"} 1'
	assert_line 'portier_connections_active{service="gated"} 0'
	assert_line 'portier_connections_ended_total{service="gated",status="exit:0"} 1'
	assert_line 'portier_connections_ended_total{service="echo",status="eof"} 1'
	assert_line 'portier_spawn_failures_total{service="gated"} 0'
	assert_line --regexp '^portier_uptime_seconds [0-9.]+$'
	# Every line is a comment or a sample, whose value may have an
	# exponent, as Prometheus reads them: a duration's sum under 0.1 ms
	# is "8.89359999e-05".
	run grep -vE '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.]+(e[-+][0-9]+)?)$' <<<"$output"
	assert_output ""
	run ctl -j metrics
	assert_failure 1
}

@test "control: version and help, which lists every command" {
	two_services
	portier_start
	run ctl version
	assert_output "portierd 0.1.0"
	ctl -j version | json "d == {'version': '0.1.0'}"
	run ctl help
	assert_success
	local c
	for c in status services connections set-concurrency pause resume kill shutdown reload metrics version help; do
		assert_line --regexp "^$c( |$)"
	done
	ctl -j help | json "len(d['commands']) == 12 and d['commands'][3]['usage'] == 'SERVICE N'"
}

@test "control: prefixes, unknown commands and wrong arguments" {
	two_services
	portier_start
	run ctl stat
	assert_success
	assert_line --index 0 "pid            $PORTIER_PID"
	run ctl re
	assert_failure 1
	assert_output "portierctl: ambiguous command: re, could be: resume, reload"
	run ctl frobnicate
	assert_failure 1
	assert_output "portierctl: unknown command: frobnicate (try help)"
	run ctl kill
	assert_failure 1
	assert_output "portierctl: usage: kill CONN-ID"
	run ctl pause a b
	assert_output "portierctl: usage: pause SERVICE"
	run ctl kill 99x
	assert_output "portierctl: bad connection id"
}

@test "control: hostile requests get errors and the connection stays usable" {
	two_services
	portier_start
	# On one connection, each request in Python's escapes.
	run "$PTEST" ctl-send "$T/ctl.sock" '\n' 'ver\x00sion\n' \
	    '\xff\xfe bad utf8\n' "status $(printf 'x %.0s' {1..20})\\n" \
	    'set-concurrency echo 99999999999999999999\n' 'version\n'
	assert_success
	assert_line --index 0 "error empty request (try help)"
	assert_line --index 1 "error request contains a NUL byte"
	assert_line --index 2 "error unknown command: ?? (try help)"
	assert_line --index 3 "error too many words"
	assert_line --index 4 "error bad limit: expected -1, 0 or a number up to 1000000"
	assert_line --index 5 "ok"
	run tcp "$(port echo)" <<<"data path fine"
	assert_output "data path fine"
}

@test "control: a silent client is dropped after a few seconds" {
	two_services
	portier_start
	run "$PTEST" ctl-silent "$T/ctl.sock"
	# Dropped by the daemon (the client waits 15 s at most), and not
	# before its idle bound of 5 s, less a second of rounding.
	assert_output --regexp '^eof [0-9]+$'
	(( ${output#eof } >= 4 )) || fail "dropped after $output s"
}

@test "control: a client of another user is refused before anything is read" {
	[ "$(id -u)" -eq 0 ] || skip "running a client as another user needs root"
	command -v setpriv >/dev/null || skip "setpriv is not installed"
	# /tmp, unlike the test's directory, lets another user reach the socket.
	local sock=/tmp/portier-ctl-test-$$.sock
	two_services
	portier_start -S "$sock"
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$PORTIERCTL" -S "$sock" status
	assert_failure 2
	assert_output "portierctl: $sock: Permission denied"
	chmod 666 "$sock"
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$PORTIERCTL" -S "$sock" shutdown
	assert_failure 1
	assert_output "portierctl: permission denied"
	wait_log "event=control-denied uid=65534 pid=[0-9]+"
	# Nothing changed: the daemon still serves.
	run timeout 10 "$PORTIERCTL" -S "$sock" status
	assert_success
	portier_stop
	[ ! -e "$sock" ]
}

@test "control: members of control_group are let in" {
	need_root_nogroup
	local sock=/tmp/portier-ctl-group-$$.sock gid=$(getent group nogroup | cut -d: -f3)
	two_services 'control_group = "nogroup"'
	portier_start -S "$sock"
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$PORTIERCTL" -S "$sock" version
	assert_success
	# A supplementary group counts too.
	run setpriv --reuid=65534 --regid=0 --groups="$gid" \
	    "$PORTIERCTL" -S "$sock" version
	assert_success
	portier_stop
}

@test "control: 50 control clients at once while traffic flows" {
	two_services
	portier_start
	local i pids=() ep=$(port echo)
	for (( i = 0; i < 50; i++ )); do
		ctl status >"$T/ctl.$i" 2>&1 &
		pids+=($!)
	done
	for (( i = 0; i < 100; i++ )); do
		[ "$(tcp "$ep" <<<"round $i")" = "round $i" ] || fail "echo $i failed"
	done
	wait "${pids[@]}"
	for (( i = 0; i < 50; i++ )); do
		grep -q "^pid            $PORTIER_PID$" "$T/ctl.$i" || fail "client $i: $(cat "$T/ctl.$i")"
	done
}

@test "portierctl: exits 2 naming the socket when no daemon is there" {
	run timeout 10 "$PORTIERCTL" -S "$T/nobody.sock" status
	assert_failure 2
	assert_output "portierctl: $T/nobody.sock: No such file or directory"
}

@test "portierctl: -c finds the socket the config names, relative to the config's directory" {
	two_services
	portier_start
	mkdir "$T/sub"
	ln -s "$CONF" "$T/sub/link.conf"
	# control_socket = "ctl.sock": $T/ctl.sock, wherever portierctl runs.
	run bash -c 'cd / && exec timeout 10 "$0" -c "$1" version' "$PORTIERCTL" "$CONF"
	assert_success
	assert_output "portierd 0.1.0"
	run bash -c 'cd "$1" && exec timeout 10 "$0" -c ../portier.conf version' "$PORTIERCTL" "$T/sub"
	assert_success
	assert_output "portierd 0.1.0"
	# As portierd does, from the directory of the file a link points to.
	run bash -c 'cd "$1" && exec timeout 10 "$0" -c link.conf version' "$PORTIERCTL" "$T/sub"
	assert_success
	assert_output "portierd 0.1.0"
	# It reads control_socket only: a service portierd would refuse is
	# not its business.
	printf 'control_socket = "../ctl.sock"\nservice x { no_such = 1 }\n' >"$T/sub/other.conf"
	run timeout 10 "$PORTIERCTL" -c "$T/sub/other.conf" version
	assert_success
}

@test "portierctl: PORTIER_SOCKET names the socket when neither -S nor -c does" {
	two_services
	portier_start
	PORTIER_SOCKET=$T/ctl.sock run timeout 10 "$PORTIERCTL" version
	assert_success
	assert_output "portierd 0.1.0"
	PORTIER_SOCKET=$T/nobody.sock run timeout 10 "$PORTIERCTL" version
	assert_failure 2
	assert_output "portierctl: $T/nobody.sock: No such file or directory"
	# Empty is unset: the default, which --help names.
	local default
	default=$("$PORTIERCTL" --help | sed -n 's/^The socket is .*, else \(.*\)\.$/\1/p')
	[ -n "$default" ] || fail "--help names no default socket"
	[ -e "$default" ] && skip "a portierd runs at $default"
	PORTIER_SOCKET= run timeout 10 "$PORTIERCTL" version
	assert_failure 2
	assert_output --partial "portierctl: $default: "
}

@test "portierctl: -S comes before -c, -c before PORTIER_SOCKET" {
	two_services
	portier_start
	printf 'control_socket = "nobody.sock"\n' >"$T/other.conf"
	# -S wins, and the config is then not read at all.
	PORTIER_SOCKET=$T/nobody.sock run timeout 10 "$PORTIERCTL" \
	    -c "$T/other.conf" -S "$T/ctl.sock" version
	assert_success
	run timeout 10 "$PORTIERCTL" -c "$T/missing.conf" -S "$T/ctl.sock" version
	assert_success
	run timeout 10 "$PORTIERCTL" -S "$T/nobody.sock" -c "$CONF" version
	assert_failure 2
	assert_output "portierctl: $T/nobody.sock: No such file or directory"
	# -c wins over the environment.
	PORTIER_SOCKET=$T/nobody.sock run timeout 10 "$PORTIERCTL" -c "$CONF" version
	assert_success
	PORTIER_SOCKET=$T/ctl.sock run timeout 10 "$PORTIERCTL" -c "$T/other.conf" version
	assert_failure 2
	assert_output "portierctl: $T/nobody.sock: No such file or directory"
}

@test "portierctl: a config it cannot read, parse or find a socket in is an error naming the file" {
	run timeout 10 "$PORTIERCTL" -c "$T/missing.conf" version
	assert_failure 2
	assert_output "portierctl: $T/missing.conf: No such file or directory"
	run timeout 10 "$PORTIERCTL" -c "$T" version
	assert_failure 2
	assert_output "portierctl: $T: not a regular file (a directory)"
	mkfifo "$T/fifo"
	run timeout 10 "$PORTIERCTL" -c "$T/fifo" version
	assert_failure 2
	assert_output "portierctl: $T/fifo: not a regular file (a FIFO)"
	printf 'kill_grace = 1\ncontrol_socket = "a.sock" = 4\n' >"$T/broken.conf"
	run timeout 10 "$PORTIERCTL" -c "$T/broken.conf" version
	assert_failure 2
	assert_output "portierctl: $T/broken.conf:2: unexpected token '='"
	printf 'control_socket = ""\n' >"$T/none.conf"
	run timeout 10 "$PORTIERCTL" -c "$T/none.conf" version
	assert_failure 2
	assert_output "portierctl: $T/none.conf: control_socket is empty: portierd has no control socket"
}

@test "portierctl: gives up on a stopped daemon after its timeout" {
	two_services
	portier_start
	kill -STOP "$PORTIER_PID"
	run ctl status
	kill -CONT "$PORTIER_PID"
	assert_failure 2
	assert_output "portierctl: $T/ctl.sock: no reply within 5 seconds"
}

@test "portierctl: --help, --version and bad usage" {
	run "$PORTIERCTL" --help
	assert_success
	assert_output --partial "usage: portierctl [-j] [-c config] [-S socket] command"
	run "$PORTIERCTL" --version
	assert_output "portierctl 0.1.0"
	run "$PORTIERCTL"
	assert_failure 1
	run "$PORTIERCTL" -S "$T/x" pause "two words"
	assert_failure 1
	assert_output 'portierctl: argument "two words": empty, or holding white space'
}
