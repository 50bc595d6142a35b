#!/usr/bin/env bats
# Listen addresses: readiness, IPv4, IPv6, wildcard, unix sockets, backlog
# and the errors of binding.

load helpers

setup() {
	portier_setup_default
	PUB=
	BG_PIDS=()
}

# Stop the daemon as every file does, then what a test left in the
# background (strace) if it failed half-way, and remove $PUB.
teardown() {
	local rc=0
	portier_teardown_default || rc=$?
	background_stop
	[ -z "$PUB" ] || rm -rf "$PUB"
	return "$rc"
}

# A directory in $PUB that other users may enter, for sockets they are to
# reach: the test's own directory is under a 0700 one.
public_dir() {
	PUB=$(mktemp -d /tmp/portier-listen.XXXXXX)
	chmod 755 "$PUB"
}

# Run socat as uid $1, gid $2 and no other group, sending stdin to the
# unix socket $3 and printing what comes back.
unix_as() {
	setpriv --reuid="$1" --regid="$2" --clear-groups \
	    timeout 10 socat -t 5 -T 5 - "UNIX-CONNECT:$3"
}

@test "listen: --ready-fd lists every listener with the port bound" {
	config <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0", "[::1]:0" }
	    exec = { "/bin/cat" }
	}
	service b {
	    listen = { "unix:b.sock" }
	    exec = { "/bin/cat" }
	}
	EOF
	portier_start
	run cat "$T/ready.txt"
	[ "${#lines[@]}" -eq 3 ]
	assert_line --index 0 --regexp '^a 127\.0\.0\.1:[1-9][0-9]*$'
	assert_line --index 1 --regexp '^a \[::1\]:[1-9][0-9]*$'
	assert_line --index 2 "b unix:$T/b.sock"
	# The log has a line per listener too, with the same port.
	grep -q "event=listen service=a addr=127.0.0.1:$(port a 1)\$" "$LOG"
	grep -q "event=listen service=a addr=\[::1\]:$(port a 2)\$" "$LOG"
}

@test "listen: two addresses of one service both serve" {
	config <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0", "127.0.0.2:0" }
	    exec = { "/bin/cat" }
	}
	EOF
	portier_start
	run bash -c "echo one | timeout 5 socat - TCP4:127.0.0.1:$(port a 1)"
	assert_output one
	run bash -c "echo two | timeout 5 socat - TCP4:127.0.0.2:$(port a 2)"
	assert_output two
}

@test "listen: [::1] serves IPv6 clients" {
	config <<-'EOF'
	service a {
	    listen = { "[::1]:0" }
	    exec = { "/bin/sh", "-c", "echo $TCPREMOTEIP $TCPLOCALIP" }
	}
	EOF
	portier_start
	run timeout 5 socat - "TCP6:[::1]:$(port a)" </dev/null
	assert_output "::1 ::1"
}

@test "listen: *:PORT serves IPv4 and IPv6 on one port" {
	config <<-'EOF'
	service a {
	    listen = { "*:0" }
	    exec = { "/bin/sh", "-c", "echo $TCPREMOTEIP $TCPLOCALIP" }
	}
	EOF
	portier_start
	assert_equal "$(addr a)" "*:$(port a)"
	run timeout 5 socat - "TCP4:127.0.0.1:$(port a)" </dev/null
	# IPv4 clients of a dual-stack socket are shown as IPv4.
	assert_output "127.0.0.1 127.0.0.1"
	run timeout 5 socat - "TCP6:[::1]:$(port a)" </dev/null
	assert_output "::1 ::1"
}

@test "listen: unix sockets serve, with PROTO=UNIX and the peer's credentials" {
	config <<-'EOF'
	service u {
	    listen = { "unix:u.sock" }
	    exec = { "/usr/bin/env" }
	}
	EOF
	portier_start
	[ -S "$T/u.sock" ]
	run timeout 5 socat - "UNIX-CONNECT:$T/u.sock" </dev/null
	assert_success
	assert_line "PROTO=UNIX"
	assert_line "UNIXLOCALPATH=$T/u.sock"
	assert_line "UNIXREMOTEEUID=$(id -u)"
	assert_line "UNIXREMOTEEGID=$(id -g)"
	assert_line --regexp '^UNIXREMOTEPID=[1-9][0-9]*$'
	refute_line --regexp '^TCP'
}

@test "listen: a unix socket in a directory that does not exist is an error at -t and at start" {
	config <<-'EOF'
	service u {
	    listen = { "unix:nowhere/u.sock" }
	    builtin = "echo"
	}
	EOF
	local why="listen \"unix:nowhere/u.sock\": directory $T/nowhere does not exist"
	run "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	[[ $output == "$CONF:"[0-9]*": $why" ]] || fail "got: $output"
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 78
	assert_output --partial "$why"
	touch "$T/nowhere"
	run "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	assert_output --partial "listen \"unix:nowhere/u.sock\": $T/nowhere is not a directory"
}

@test "listen: a stale unix socket file is replaced" {
	"$PTEST" listen "unix:$T/u.sock"
	[ -S "$T/u.sock" ]
	config <<-'EOF'
	service u {
	    listen = { "unix:u.sock" }
	    exec = { "/bin/echo", "fresh" }
	}
	EOF
	portier_start
	grep -q "event=stale-socket path=\"$T/u.sock\" action=removed" "$LOG"
	run timeout 5 socat - "UNIX-CONNECT:$T/u.sock" </dev/null
	assert_output fresh
}

@test "listen: a unix socket in use by a live process is not taken over" {
	config <<-'EOF'
	service u {
	    listen = { "unix:u.sock" }
	    exec = { "/bin/echo", "first" }
	}
	EOF
	portier_start
	run timeout 10 "$PORTIERD" -c "$CONF" -S ""
	assert_failure 1
	assert_output --partial "event=start-failed error=\"service u: listen unix:u.sock: $T/u.sock is in use by a running process\""
	run timeout 5 socat - "UNIX-CONNECT:$T/u.sock" </dev/null
	assert_output first
}

@test "listen: a file that is not a socket is not removed" {
	echo precious >"$T/u.sock"
	config <<-'EOF'
	service u {
	    listen = { "unix:u.sock" }
	    exec = { "/bin/cat" }
	}
	EOF
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 1
	assert_output --partial "$T/u.sock exists and is not a socket"
	assert_equal "$(cat "$T/u.sock")" precious
}

@test "listen: unix socket files are removed on exit" {
	config <<-'EOF'
	service u {
	    listen = { "unix:u.sock" }
	    exec = { "/bin/cat" }
	}
	EOF
	portier_start
	[ -S "$T/u.sock" ]
	portier_stop
	assert_equal "$PORTIER_STATUS" 0
	[ ! -e "$T/u.sock" ]
}

# A config of one built-in echo "u" on unix:$UNIX_AT (default u.sock, in
# the test's directory), with the settings given, one per line.
unix_service() {
	local extra
	extra=$(printf '    %s\n' "$@")
	config <<-EOF
	service u {
	    listen = { "unix:${UNIX_AT:-u.sock}" }
	    builtin = "echo"
	$extra
	}
	EOF
}

@test "listen: a unix socket is 0666 by default, whatever portierd's umask" {
	unix_service
	umask 077
	portier_start
	assert_equal "$(stat -c '%a %u:%g' "$T/u.sock")" "666 $(id -u):$(id -g)"
}

@test "listen: unix_mode and unix_group let the group's members in and keep others out" {
	need_root_nogroup
	public_dir
	UNIX_AT=$PUB/u.sock unix_service 'unix_mode = "0660"' \
	    'unix_group = "nogroup"'
	portier_start
	assert_equal "$(stat -c '%a %U:%G' "$PUB/u.sock")" "660 root:nogroup"
	run unix_as 65534 65534 "$PUB/u.sock" <<<"in the group"
	assert_success
	assert_output "in the group"
	run unix_as 65534 1 "$PUB/u.sock" <<<"not in it"
	assert_failure
	assert_output --partial "Permission denied"
}

@test "listen: unix_owner gives the socket to that user, who alone may use a 0600 one" {
	need_root_nogroup
	public_dir
	UNIX_AT=$PUB/u.sock unix_service 'unix_mode = "0600"' \
	    'unix_owner = "65534"'
	portier_start
	assert_equal "$(stat -c '%a %u:%g' "$PUB/u.sock")" "600 65534:$(id -g)"
	run unix_as 65534 65534 "$PUB/u.sock" <<<"the owner"
	assert_output "the owner"
	run unix_as 1 65534 "$PUB/u.sock" <<<"someone else"
	assert_failure
	assert_output --partial "Permission denied"
}

@test "listen: a bad unix_mode, an unknown unix_owner or unix_group, or unix_ settings without a unix: address are config errors" {
	local setting line want addr
	while IFS='|' read -r addr setting line want; do
		config <<-EOF
		service u {
		    listen = { "$addr" }
		    builtin = "echo"
		    $setting
		}
		EOF
		run timeout 10 "$PORTIERD" -c "$CONF"
		[ "$status" -eq 78 ] || fail "$setting: exit $status: $output"
		assert_output "$CONF:$line: $want"
		[ ! -e "$T/u.sock" ]
	done <<-'EOF'
	unix:u.sock|unix_mode = "999"|6|unix_mode "999": expected an octal mode such as "0660"
	unix:u.sock|unix_mode = "abc"|6|unix_mode "abc": expected an octal mode such as "0660"
	unix:u.sock|unix_mode = "1777"|6|unix_mode "1777": expected an octal mode such as "0660"
	unix:u.sock|unix_mode = ""|6|unix_mode "": expected an octal mode such as "0660"
	unix:u.sock|unix_owner = "no-such-user"|6|service "u": unix_owner "no-such-user": no such user
	unix:u.sock|unix_group = "no-such-group"|6|service "u": unix_group "no-such-group": no such group
	127.0.0.1:0|unix_mode = "0600"|6|service "u": unix_mode applies to unix: addresses only
	127.0.0.1:0|unix_owner = "0"|6|service "u": unix_owner applies to unix: addresses only
	127.0.0.1:0|unix_group = "0"|6|service "u": unix_group applies to unix: addresses only
	EOF
}

# A config of service u on unix:u.sock with the settings given, one a line.
@test "listen: a reload that changes unix_mode or unix_group changes the kept socket in place" {
	need_root_nogroup
	unix_service 'unix_mode = "0600"'
	portier_start
	local ino=$(stat -c %i "$T/u.sock") id="$(id -u):$(id -g)"
	assert_equal "$(stat -c '%a %u:%g' "$T/u.sock")" "600 $id"
	unix_service 'unix_mode = "0660"' 'unix_group = "nogroup"'
	run ctl reload
	assert_success
	assert_equal "$(stat -c '%a %u:%G %i' "$T/u.sock")" "660 $(id -u):nogroup $ino"
	grep -q "event=socket-mode service=u addr=\"unix:$T/u.sock\" mode=0660 owner=$(id -u) group=65534\$" "$LOG"
	unix_service
	run ctl reload
	assert_success
	assert_equal "$(stat -c '%a %u:%g %i' "$T/u.sock")" "666 $id $ino"
	run timeout 5 socat - "UNIX-CONNECT:$T/u.sock" <<<"same socket"
	assert_output "same socket"
	# The settings that changed nothing on the file leave it alone.
	unix_service 'backlog = 8'
	run ctl reload
	assert_success
	assert_equal "$(log_count 'event=socket-mode ')" 2
}

@test "listen: a reload that fails after changing a kept socket's mode puts it back" {
	unix_service 'unix_mode = "0600"'
	portier_start
	# The new control socket's path is taken, so the reload fails after
	# its listeners' first phase.
	echo precious >"$T/taken.sock"
	unix_service 'unix_mode = "0666"'
	sed -i 's/"ctl.sock"/"taken.sock"/' "$CONF"
	run ctl reload
	assert_failure 1
	assert_output --partial "taken.sock exists and is not a socket"
	assert_equal "$(stat -c %a "$T/u.sock")" 600
	grep -q "event=socket-mode service=u addr=\"unix:$T/u.sock\" mode=0666 " "$LOG"
	grep -q "event=socket-mode service=u addr=\"unix:$T/u.sock\" mode=0600 " "$LOG"
	grep -q "event=reload status=failed" "$LOG"
	assert_equal "$(cat "$T/taken.sock")" precious
}

@test "listen: a symlink swapped in for a unix socket just after bind is refused and its target keeps its owner and mode" {
	need_root_nogroup
	command -v strace >/dev/null || skip "no strace"
	echo precious >"$T/target"
	chmod 600 "$T/target"
	unix_service 'unix_mode = "0660"' 'unix_group = "nogroup"'
	# With no control socket, u.sock's is the first bind(2).
	portier_start_stopped_at_bind -S ""
	[ -S "$T/u.sock" ]
	ln -s "$T/target" "$T/new"
	mv -T "$T/new" "$T/u.sock"
	portier_resume_after_bind
	assert_equal "$(stat -c '%U:%G %a' "$T/target") $(cat "$T/target")" \
	    "root:root 600 precious"
	assert_equal "$PORTIER_STATUS" 1
	grep -q "event=start-failed error=\"service u: listen unix:u.sock: $T/u.sock was replaced after bind\"" "$LOG"
	[ -L "$T/u.sock" ]
}

@test "listen: a port in use is an error naming the service and address" {
	one_service a '"/bin/cat"'
	portier_start
	local taken=$(port a)
	cat >"$T/second.conf" <<-EOF
	service b {
	    listen = { "unix:b.sock", "127.0.0.1:$taken" }
	    exec = { "/bin/cat" }
	    allow_root = true
	}
	EOF
	run timeout 10 "$PORTIERD" -c "$T/second.conf" -S ""
	assert_failure 1
	assert_output --partial "event=start-failed error=\"service b: listen 127.0.0.1:$taken: Address already in use\""
	# What it had bound before the failure is released again.
	[ ! -e "$T/b.sock" ]
}

@test "listen: two addresses that would take one socket are an error at -t and at start, naming both places" {
	# Nothing is bound: the file is refused first.  Port 0 never clashes:
	# the kernel gives each its own.
	local port=7001
	cat >"$CONF" <<-EOF
	service a {
	    builtin = "echo"
	    listen = { "127.0.0.1:0", "127.0.0.1:$port", "unix:a.sock" }
	}
	service b {
	    builtin = "echo"
	    listen = { "127.0.0.1:0", "0.0.0.0:$port" }
	}
	EOF
	local why="$CONF:7: service \"b\": listen \"0.0.0.0:$port\" overlaps service \"a\"'s \"127.0.0.1:$port\" (line 3)"
	run "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	assert_output "$why"
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 78
	assert_output --partial "$why"
	# "*" takes every address; the same unix: path, however written; and
	# one service twice.
	local b list
	for b in "\"*:$port\"|overlaps service \"a\"'s \"127.0.0.1:$port\" (line 3)" \
	    "\"unix:$T/a.sock\"|is the same file as service \"a\"'s \"unix:a.sock\" (line 3)" \
	    "\"[::1]:$port\", \"[::1]:$port\"|is also its \"[::1]:$port\""; do
		list=${b%%|*}
		sed -i "7s|listen = .*|listen = { $list }|" "$CONF"
		run "$PORTIERD" -t -c "$CONF"
		assert_failure 78
		assert_output "$CONF:7: service \"b\": listen ${list%%,*} ${b#*|}"
	done
	# Distinct addresses of one port, and [::] (IPv6 only) beside
	# 0.0.0.0, are fine.
	sed -i "7s|listen = .*|listen = { \"127.0.0.2:$port\", \"[::]:$port\" }|" "$CONF"
	run "$PORTIERD" -t -c "$CONF"
	assert_success
	sed -i "3s|127.0.0.1:$port|0.0.0.0:$port|; 7s|\"127.0.0.2:$port\", ||" "$CONF"
	run "$PORTIERD" -t -c "$CONF"
	assert_success
}

@test "listen: backlog sets the listen queue" {
	config <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	    backlog = 7
	}
	service d {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	}
	EOF
	portier_start
	# For a listening socket, ss shows the backlog as Send-Q.
	run ss -Hltn "sport = :$(port a)"
	assert_output --regexp '^LISTEN +0 +7 '
	run ss -Hltn "sport = :$(port d)"
	local somaxconn=$(cat /proc/sys/net/core/somaxconn)
	local want=$(( somaxconn < 4096 ? somaxconn : 4096 ))
	assert_output --regexp "^LISTEN +0 +$want "
}

@test "listen: out of descriptors, accepting backs off and then resumes" {
	one_service cat '"/bin/cat"'
	PORTIER_WRAP="prlimit --nofile=32:32 --" portier_start
	grep -q "event=start .* nofile=32$" "$LOG"
	local i fds=() p=$(port cat)
	# Each live handler costs the daemon two descriptors (its stderr pipe
	# and its pidfd), so 32 are used up well before 40 connections.
	for (( i = 0; i < 40; i++ )); do
		client_open "$p"
		fds+=("$CLIENT")
	done
	wait_log 'event=spawn-error service=cat .* step=(pipe|clone) error="Too many open files"'
	# While out of descriptors the daemon backs off: each attempt is
	# followed by a pause instead of a tight loop over the backlog.
	local served=$(log_count 'event=spawn service=cat')
	(( served > 3 && served < 28 )) || fail "served $served of 40"
	(( $(log_count 'event=spawn-error') <= 6 )) ||
		fail "$(log_count 'event=spawn-error') spawn errors: no back-off"
	for fd in "${fds[@]}"; do exec {fd}<&-; done
	# Every one of the 40 is accepted and ended in the end, served or not;
	# then a new client is served.
	wait_log "event=end service=cat " 40 20
	run tcp "$p" <<<"after the storm"
	assert_output "after the storm"
}

@test "listen: accept hitting EMFILE backs off, stays cheap, and recovers" {
	config <<-'EOF'
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	# Built-ins hold their sockets, so accept itself runs out.
	PORTIER_WRAP="prlimit --nofile=32:32 --" portier_start
	run timeout 60 "$PTEST" hold "$(port echo)" 60 --seconds 3
	assert_success
	echo "$output"
	wait_log 'event=accept-error service=echo .* backoff_ms=250 error="Too many open files"'
	# At most one line a second, and behind the lines, one failed accept
	# per back-off: 250 ms apart, 4 a second, fewer on a slower machine.
	# A spinning accept loop fails thousands a second on any.
	run "$PTEST" log-rate "$LOG" 'event=accept-error service=echo '
	echo "$output"
	local ms=$(field span_ms "$output")
	(( $(field lines "$output") <= 2 + ms / 1000 )) ||
		fail "$(field lines "$output") accept-error lines in $ms ms"
	(( $(field events "$output") <= 4 * (ms / 1000 + 2) )) ||
		fail "$(field events "$output") failed accepts in $ms ms"
	run tcp "$(port echo)" <<<"served again"
	assert_output "served again"
}
