#!/usr/bin/env bats
# portierd under a service manager: what it says on NOTIFY_SOCKET
# (sd_notify's protocol), received by a datagram socket the test owns, as
# systemd's would be.

load helpers

setup() {
	portier_setup_default
	BG_PIDS=()
	NOTES=$T/notes
	: >"$NOTES"
}

teardown() {
	background_stop
	portier_teardown_default
}

# Bind the manager's socket at $1 (a path, or @name), in the background.
manager() {
	"$PTEST" notify-recv "$1" "$NOTES" >"$T/manager.out" 2>&1 &
	BG_PIDS+=($!)
	wait_until grep -q ready "$T/manager.out"
}

# Wait for at least $2 (default 1) datagrams matching the regex $1.
wait_note() {
	wait_until -t 10 note_has "$1" "${2:-1}" && return 0
	cat "$NOTES"
	fail "notify: wanted ${2:-1} datagrams matching '$1'"
}

# CLOCK_MONOTONIC now, in microseconds.
monotonic_usec() {
	python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)'
}

note_has() {
	[ "$(grep -cE -- "$1" "$NOTES")" -ge "$2" ]
}

@test "systemd: READY=1 with a status once every listener is bound, and nothing before" {
	manager "$T/notify.sock"
	config <<-EOF
	service a {
	    listen = { "127.0.0.1:0", "127.0.0.2:0" }
	    builtin = "echo"
	}
	service b {
	    listen = { "127.0.0.1:0" }
	    builtin = "daytime"
	}
	EOF
	NOTIFY_SOCKET=$T/notify.sock portier_start
	wait_note '^READY=1 STATUS=serving 2 services$'
	# The first datagram is READY=1: nothing was said while binding.
	assert_equal "$(head -n 1 "$NOTES")" "READY=1 STATUS=serving 2 services"
	assert_equal "$(grep -c . "$NOTES")" 1
	assert_equal "$(tcp "$(port a)" <<<hi)" hi
}

@test "systemd: a reload says RELOADING=1 with MONOTONIC_USEC, then READY=1, whether it worked or not" {
	manager "$T/notify.sock"
	builtin_service e echo
	NOTIFY_SOCKET=$T/notify.sock portier_start
	wait_note '^READY=1 '
	local before after usec
	before=$(monotonic_usec)
	kill -HUP "$PORTIER_PID"
	wait_note '^READY=1 STATUS=added=0 changed=0 removed=0 unchanged=1 '
	after=$(monotonic_usec)
	run grep -E '^RELOADING=1 MONOTONIC_USEC=[0-9]+ STATUS=reloading$' "$NOTES"
	assert_success
	# The time is CLOCK_MONOTONIC's, in microseconds, as systemd reads it.
	usec=$(sed -nE 's/^RELOADING=1 MONOTONIC_USEC=([0-9]+) .*/\1/p' "$NOTES")
	[ "$usec" -ge "$before" ] && [ "$usec" -le "$after" ] ||
	    fail "MONOTONIC_USEC=$usec, not between $before and $after"
	# RELOADING=1 comes before its READY=1.
	assert_equal "$(sed -n 2p "$NOTES" | cut -d' ' -f1)" RELOADING=1
	# A reload that fails is over too: READY=1, with its error.
	echo 'service {' >>"$CONF"
	ctl reload || true
	wait_note '^READY=1 STATUS=error: .*portier.conf'
	assert_equal "$(grep -c '^RELOADING=1' "$NOTES")" 2
	assert_equal "$(tcp "$(port e)" <<<hi)" hi
}

@test "systemd: shutdown says STOPPING=1, and each stage of the drain in STATUS" {
	manager "$T/notify.sock"
	one_service slow '"/bin/sh", "-c", "trap \"\" TERM; sleep 30"'
	NOTIFY_SOCKET=$T/notify.sock portier_start
	wait_note '^READY=1 '
	client_open "$(port slow)"
	wait_until test "$(active)" -eq 1
	kill -TERM "$PORTIER_PID"
	wait_note '^STOPPING=1 STATUS=shutting down: drain, 1 connections left$'
	# shutdown_timeout = 2, then TERM, ignored, then KILL after 1 s.
	wait_note '^STATUS=shutting down: term, 1 connections left$'
	wait_note '^STATUS=shutting down: kill, 1 connections left$'
	portier_wait_exit
	assert_equal "$PORTIER_STATUS" 0
}

@test "systemd: WATCHDOG=1 every half of WATCHDOG_USEC, and none when WATCHDOG_PID is another process's" {
	manager "$T/notify.sock"
	builtin_service e echo
	NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=200000 portier_start
	# Every 0.1 s: ten within 3 s even on a slow machine.
	wait_note '^WATCHDOG=1$' 10
	portier_stop
	assert_equal "$PORTIER_STATUS" 0
	: >"$NOTES"
	NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=200000 WATCHDOG_PID=1 \
	    portier_start
	wait_note '^READY=1 '
	sleep 0.5
	assert_equal "$(grep -c WATCHDOG "$NOTES")" 0
	portier_stop
	# Asked for every microsecond, it says so every millisecond, not at
	# every turn of its loop (which sends some 100,000 a second): in the
	# second or two it runs, far fewer than 5,000.
	: >"$NOTES"
	NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=1 portier_start
	wait_note '^WATCHDOG=1$' 10
	sleep 1
	portier_stop
	[ "$(grep -c '^WATCHDOG=1$' "$NOTES")" -le 5000 ] ||
		fail "$(grep -c '^WATCHDOG=1$' "$NOTES") WATCHDOG=1 datagrams"
}

@test "systemd: an abstract NOTIFY_SOCKET (@name) works, and nothing portierd starts sees the manager's variables" {
	local name="@portier-test/$$/$RANDOM"
	manager "$name"
	config <<-EOF
	service env {
	    listen = { "127.0.0.1:0" }
	    exec = { "/usr/bin/env" }
	    passenv = { "WATCHDOG_USEC" }
	}
	EOF
	run "$PORTIERD" -t -c "$CONF"
	assert_failure
	assert_output --partial 'passenv "WATCHDOG_USEC": the service manager tells WATCHDOG_USEC to portierd alone'
	sed -i '/passenv/d' "$CONF"
	NOTIFY_SOCKET=$name WATCHDOG_USEC=60000000 portier_start
	wait_note '^READY=1 STATUS=serving 1 services$'
	run tcp "$(port env)"
	assert_success
	assert_output --partial PORTIER_SERVICE=env
	refute_output --partial WATCHDOG
	refute_output --partial NOTIFY_SOCKET
}

@test "systemd: a NOTIFY_SOCKET portierd cannot use stops the start, naming it; one nobody listens on is logged, and serving goes on" {
	builtin_service e echo
	NOTIFY_SOCKET=relative/path run "$PORTIERD" -c "$CONF"
	assert_failure 1
	assert_output --partial 'event=start-failed error="NOTIFY_SOCKET='"'relative/path'"': expected an absolute path or an @abstract name'
	NOTIFY_SOCKET=$T/nobody.sock portier_start
	wait_log 'level=warn event=notify-error socket="[^"]*/nobody.sock" error="No such file or directory"'
	assert_equal "$(tcp "$(port e)" <<<hi)" hi
	kill -HUP "$PORTIER_PID"
	wait_log 'event=reload status=ok'
	# At most a line a second.
	assert_equal "$(log_count 'event=notify-error')" 1
}

@test "systemd: with stderr the journal's stream (JOURNAL_STREAM), each line begins with its priority; with another, none does" {
	config <<-EOF
	service slow {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo oops >&2; sleep 5" }
	    timeout = 1
	}
	EOF
	: >"$LOG"
	JOURNAL_STREAM=$(stat -c '%d:%i' "$LOG") portier_start -v
	run tcp "$(port slow)"
	wait_log 'event=timeout'
	wait_log 'event=end service=slow'
	run grep -c '^<6>ts=.* level=info event=start ' "$LOG"
	assert_output 1
	run grep -c '^<6>ts=.* level=info event=stderr service=slow .*line="oops"' "$LOG"
	assert_output 1
	run grep -c '^<4>ts=.* level=warn event=timeout service=slow ' "$LOG"
	assert_output 1
	run grep -c '^<7>ts=.* level=debug event=accept ' "$LOG"
	assert_output 1
	# Every line has one.
	run grep -vc '^<[2467]>ts=' "$LOG"
	assert_output 0
	portier_stop
	assert_equal "$PORTIER_STATUS" 0
	JOURNAL_STREAM=1:1 portier_start
	run grep -c '^ts=.* event=start ' "$LOG"
	assert_output 1
	run grep -c '^<' "$LOG"
	assert_output 0
}

@test "systemd: socket activation: portierd takes the sockets it is passed, each named after its service, serves on them, and keeps them over a reload" {
	config <<-EOF
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service b {
	    listen = { "127.0.0.1:0" }
	    builtin = "daytime"
	}
	service env {
	    listen = { "127.0.0.1:0" }
	    exec = { "/usr/bin/env" }
	}
	EOF
	activate "a b env"
	# The first client starts it; it waits in the socket's queue.
	assert_equal "$(tcp "${PORTS[a]}" <<<first)" first
	wait_log "event=listen service=a addr=127.0.0.1:${PORTS[a]} from=LISTEN_FDS"
	wait_log "event=listen service=b addr=127.0.0.1:${PORTS[b]} from=LISTEN_FDS"
	run tcp "${PORTS[b]}"
	assert_output --regexp '[0-9]{4}'
	# Nothing it starts sees the variables.
	run tcp "${PORTS[env]}"
	assert_output --partial PORTIER_SERVICE=env
	refute_output --partial LISTEN_
	kill -HUP "$PORTIER_PID"
	wait_log 'event=reload status=ok added=0 changed=0 removed=0 unchanged=3'
	assert_equal "$(tcp "${PORTS[a]}" <<<again)" again
	assert_equal "$(log_count 'event=unlisten')" 0
}

@test "systemd: socket activation: an unnamed socket goes to the service listening where it is bound, and a unix socket's file is left to the manager" {
	config <<-EOF
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service u {
	    listen = { "unix:$T/u.sock" }
	    builtin = "echo"
	}
	EOF
	# Named systemd's default way, after the unit; then unnamed.
	activate "portier.socket" "$T/u.sock"
	assert_equal "$(tcp "${PORTS[portier.socket]}" <<<first)" first
	wait_log "event=listen service=u addr=\"unix:$T/u.sock\" from=LISTEN_FDS"
	run timeout 5 socat -t 5 - "UNIX-CONNECT:$T/u.sock" <<<hi
	assert_output hi
	portier_stop
	assert_equal "$PORTIER_STATUS" 0
	test -S "$T/u.sock" || fail "portierd removed the manager's socket file"
}

@test "systemd: socket activation: a passed socket no service listens on, or a service address no socket was passed for, stops the start, naming them" {
	config <<-EOF
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	activate "a other"
	run tcp "${PORTS[a]}" <<<x
	portier_wait_exit
	assert_equal "$PORTIER_STATUS" 1
	run grep -c "event=start-failed error=\"the socket the service manager passed on fd 4 (127.0.0.1:${PORTS[other]}, named 'other') is for no service: no listen address is where it is bound, and no service has its name\"" "$LOG"
	assert_output 1
	: >"$LOG"
	config <<-EOF
	service a {
	    listen = { "127.0.0.1:0", "127.0.0.2:0" }
	    builtin = "echo"
	}
	EOF
	activate "a"
	run tcp "${PORTS[a]}" <<<x
	portier_wait_exit
	assert_equal "$PORTIER_STATUS" 1
	run grep -c "event=start-failed error=\"service a: listen 127.0.0.2:0: no socket the service manager passed is bound there; it passed fd 3 (127.0.0.1:${PORTS[a]}, named 'a')\"" "$LOG"
	assert_output 1
}

@test "systemd: socket activation: LISTEN_FDS that is no number, names that do not count the sockets, or a descriptor that is no listening socket, stop the start, naming what is wrong" {
	builtin_service e echo
	local env want
	for env in "LISTEN_FDS=x|LISTEN_FDS='x': expected a number from 0 to 1024" \
	    "LISTEN_FDS=1 LISTEN_FDNAMES=a:b|LISTEN_FDNAMES has 2 names for LISTEN_FDS=1 sockets" \
	    "LISTEN_FDS=1|LISTEN_FDS: fd 3 is not a listening stream socket" \
	    "LISTEN_FDS=2|LISTEN_FDS: fd 3 is not a listening stream socket"; do
		want=${env#*|}
		# LISTEN_PID is the pid the shell execs portierd in.
		run sh -c "export LISTEN_PID=\$\$ ${env%%|*}; exec \"\$0\" -c \"\$1\" 3<\"\$1\"" \
		    "$PORTIERD" "$CONF"
		assert_failure 1
		assert_output --partial "event=start-failed error=\"$want\""
	done
	# LISTEN_PID another process's: the sockets are not ours, and
	# portierd binds its own.
	LISTEN_PID=1 LISTEN_FDS=1 portier_start
	assert_equal "$(tcp "$(port e)" <<<hi)" hi
}

@test "systemd: the shipped units pass systemd-analyze verify, and the example socket is the demo config's echo service" {
	command -v systemd-analyze >/dev/null ||
		fail "systemd-analyze is not installed (./bootstrap installs systemd)"
	local units=$T/units version addr name
	mkdir -p "$units"
	# As installed, but for portierd's path, the build's.
	grep -q '^ExecStart=/[^ ]*/portierd -c /[^ ]*/portier.conf$' \
	    "$PORTIER_BUILD/etc/portier.service" ||
		fail "ExecStart is not portierd -c CONFIG: $(cat "$PORTIER_BUILD/etc/portier.service")"
	sed -e "s|^ExecStart=[^ ]*|ExecStart=$PORTIERD|" \
	    "$PORTIER_BUILD/etc/portier.service" >"$units/portier.service"
	cp "$PORTIER_SRC/etc/portier.socket" "$units/"
	version=$(systemctl --version | awk 'NR == 1 { print $2 }')
	if [ "$version" -lt 253 ]; then
		# Type=notify-reload came with systemd 253: on this one,
		# verify the rest.
		grep -q '^Type=notify-reload$' "$units/portier.service" ||
			fail "portier.service is not Type=notify-reload"
		sed -i 's/^Type=notify-reload$/Type=notify/' "$units/portier.service"
	fi
	run systemd-analyze verify --man=no "$units/portier.service" \
	    "$units/portier.socket"
	assert_success
	assert_output ""
	addr=$(sed -n 's/^ListenStream=//p' "$units/portier.socket")
	name=$(sed -n 's/^FileDescriptorName=//p' "$units/portier.socket")
	run awk -v s="service $name {" -v a="\"$addr\"" '
	    $0 == s { on = 1 } on && index($0, a) { found = 1 } on && /^}/ { on = 0 }
	    END { exit !found }' "$PORTIER_SRC/etc/portier.conf"
	assert_success
}
