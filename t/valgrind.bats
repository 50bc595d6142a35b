#!/usr/bin/env bats
# portierd under valgrind's memcheck, one short scenario of each kind
# (exec, built-in, control, reload, drop-in files and syslog, workers, a
# service manager's sockets and notifications, refused clients): no memory
# error, no leak of any kind, and no descriptor of its own left open at
# exit.  Under valgrind handlers are forked and reaped on SIGCHLD (spawn.c,
# children.c), so this checks that path too.  The sanitizer build runs the same scenarios through the rest of
# the suite instead: ASan and memcheck do not mix.

load helpers

setup() {
	portier_setup_default
	BG_PIDS=()
	[ -z "${PORTIER_SANITIZERS:-}" ] ||
		skip "the sanitizer build: memcheck runs in the plain build"
	command -v valgrind >/dev/null || fail "valgrind is not installed"
	VG=$T/memcheck.log
	PORTIER_WRAP="valgrind -q --tool=memcheck --leak-check=full
	    --show-leak-kinds=all --errors-for-leak-kinds=all
	    --track-fds=yes --child-silent-after-fork=yes --error-exitcode=99
	    --log-file=$VG"
}

# Stop the clients left in the background, then the daemon's checks.
teardown() {
	background_stop
	portier_teardown_default
}

# Stop portierd, then read memcheck's verdict: exit 0 (99 is an error or
# a leak), an empty report but for the descriptors, and among those none
# but stdin, stdout, stderr and what portierd inherited.
memcheck_verdict() {
	local own
	portier_stop 60
	if [ "$PORTIER_STATUS" -ne 0 ]; then
		cat "$VG" "$LOG"
		fail "portierd under memcheck exited $PORTIER_STATUS"
	fi
	grep -q 'FILE DESCRIPTORS: ' "$VG" || {
		cat "$VG"
		fail "memcheck wrote no descriptor report"
	}
	if grep -Eq 'Invalid|uninitialised|lost in|still reachable|Mismatched' \
	    "$VG"; then
		cat "$VG"
		fail "memcheck found errors"
	fi
	own=$(awk '/Open .*descriptor [0-9]+:|Open AF_/ { n = $0; next }
	    n != "" && /inherited from parent/ { n = ""; next }
	    n != "" { print n; n = "" }' "$VG")
	if [ -n "$own" ]; then
		cat "$VG"
		fail "descriptors left open at exit: $own"
	fi
}

@test "valgrind: exec handlers, one failing, one writing to stderr" {
	config <<-EOF
	service hi {
	    listen = { "127.0.0.1:0" }
	    exec = { "$PORTIER_BUILD/handlers/hello" }
	}
	service noexec {
	    listen = { "127.0.0.1:0" }
	    exec = { "$T/no-shebang" }
	}
	service loud {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo to-stderr >&2; echo out" }
	}
	EOF
	printf '\177ELF, but no\n' >"$T/no-shebang"
	chmod +x "$T/no-shebang"
	portier_start
	local i
	for (( i = 0; i < 5; i++ )); do
		run tcp "$(port hi)" </dev/null
		assert_output --partial "hello 127.0.0.1 from portier"
	done
	run tcp "$(port noexec)" </dev/null
	assert_output ""
	run tcp "$(port loud)" </dev/null
	assert_output "out"
	wait_log 'event=exec-failed service=noexec .*error="exec: Exec format'
	wait_log 'event=stderr service=loud .*line="to-stderr"'
	wait_log 'event=end service=' 7
	memcheck_verdict
}

@test "valgrind: built-in echo, rot13, chargen, daytime and metrics, with socket options" {
	config <<-'EOF'
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service rot {
	    listen = { "127.0.0.1:0" }
	    builtin = "rot13"
	    max_line = 16
	}
	service gen {
	    listen = { "127.0.0.1:0" }
	    builtin = "chargen"
	}
	service day {
	    listen = { "127.0.0.1:0" }
	    builtin = "daytime"
	}
	service m {
	    listen = { "localhost:0" }
	    builtin = "metrics"
	    keepalive = true keepalive_idle = 30 nodelay = true
	    receive_buffer = "64k"
	}
	EOF
	portier_start
	run tcp "$(port echo)" <<<"echo me"
	assert_output "echo me"
	run tcp "$(port rot)" <<<"Hello"
	assert_output "Uryyb"
	run tcp "$(port rot)" <<<"a line far longer than sixteen bytes"
	refute_output --partial "n yvar"
	run bash -c "timeout 5 socat -u TCP4:127.0.0.1:$(port gen) - 2>/dev/null |
	    head -c 1000 | wc -c"
	assert_output "1000"
	run tcp "$(port day)" </dev/null
	assert_output --regexp '[0-9]{2}:[0-9]{2}:[0-9]{2}'
	run curl -sS "http://$(addr m 1)/metrics"
	assert_output --partial 'portier_connection_duration_seconds_count{service="echo"} 1'
	run curl -sS -o /dev/null -w '%{http_code}' "http://$(addr m 1)/nope"
	assert_output 404
	wait_log 'event=end service=gen '
	wait_log 'event=end service=m .* status=http:404 '
	memcheck_verdict
}

@test "valgrind: control commands, good and bad" {
	config <<-'EOF'
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	portier_start
	run ctl status
	assert_success
	run ctl -j services
	assert_success
	run ctl pause echo
	assert_success
	run ctl resume echo
	assert_success
	run ctl no-such-command
	assert_failure
	run bash -c "head -c 10000 /dev/urandom | tr -d '\n' |
	    timeout 5 socat -t 2 - UNIX-CONNECT:$T/ctl.sock"
	run ctl connections
	assert_success
	run tcp "$(port echo)" <<<"still here"
	assert_output "still here"
	memcheck_verdict
}

@test "valgrind: reload adds, changes and removes services" {
	config <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service b {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	}
	EOF
	portier_start
	config <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "rot13"
	}
	service c {
	    listen = { "127.0.0.1:0" }
	    builtin = "daytime"
	}
	EOF
	run ctl reload
	assert_success
	assert_output --partial "added=1 changed=1 removed=1"
	printf 'service broken {\n' >>"$CONF"
	run ctl reload
	assert_failure
	kill -HUP "$PORTIER_PID"
	wait_log 'event=reload status=failed' 2
	run ctl -j services
	assert_success
	assert_output --partial '"c"'
	memcheck_verdict
}

@test "valgrind: drop-in files added, removed and broken by reloads, and the log moved to syslog and back" {
	mkdir "$T/portier.d"
	"$PTEST" notify-recv "$T/log.sock" "$T/syslog.txt" >"$T/syslogd.out" 2>&1 &
	BG_PIDS+=($!)
	wait_until grep -q ready "$T/syslogd.out"
	config <<-'EOF'
	include = { "portier.d/*.conf" }
	EOF
	printf 'service a {\n    listen = { "127.0.0.1:0" }\n    builtin = "echo"\n}\n' \
	    >"$T/portier.d/a.conf"
	portier_start
	printf 'service b {\n    listen = { "127.0.0.1:0" }\n    builtin = "time"\n}\n' \
	    >"$T/portier.d/b.conf"
	sed -i '1i log = "syslog" log_socket = "log.sock"' "$CONF"
	run ctl reload
	assert_success
	assert_output --partial "added=1 changed=0 removed=0"
	wait_until grep -q 'event=reload status=ok' "$T/syslog.txt"
	# A duplicate, then a global setting, in a drop-in: both refused.
	cp "$T/portier.d/a.conf" "$T/portier.d/c.conf"
	run ctl reload
	assert_failure
	printf 'max_connections = 3\n' >"$T/portier.d/c.conf"
	run ctl reload
	assert_failure
	rm "$T/portier.d/c.conf" "$T/portier.d/a.conf"
	sed -i '1d' "$CONF"
	run ctl reload
	assert_success
	assert_output --partial "added=0 changed=0 removed=1"
	memcheck_verdict
}

@test "valgrind: workers that accept, on demand and at once, a crash loop, notify, idle_exit, kill and a reload" {
	config <<-EOF
	service w {
	    listen = { "127.0.0.1:0" }
	    exec = { "$PORTIER_SRC/handlers/worker.py" }
	    accept = "handler"
	    workers = 2
	    idle_exit = 1
	}
	service crash {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/false" }
	    accept = "handler"
	    start = "now"
	    restart_delay = 0
	    max_restarts = 3
	}
	EOF
	portier_start
	run bash -c "printf 'quit\n' | timeout 30 socat -t 20 - TCP4:127.0.0.1:$(port w)"
	assert_output --regexp '^worker [0-9]+ w$'
	wait_log 'event=worker-giveup service=crash' 1 30
	wait_log 'event=worker-idle service=w' 1 30
	run bash -c "printf 'quit\n' | timeout 30 socat -t 20 - TCP4:127.0.0.1:$(port w)"
	assert_output --regexp '^worker [0-9]+ w$'
	run ctl -j connections
	assert_success
	run ctl kill "$(ctl -j connections | json "d['connections'][0]['id']")"
	assert_success
	sed -i 's/workers = 2/workers = 1/' "$CONF"
	run ctl reload
	assert_success
	run ctl resume crash
	assert_success
	memcheck_verdict
}

@test "valgrind: sockets passed by systemd-socket-activate, notify with a watchdog, reloads and the journal's stream" {
	config <<-EOF
	service e {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	"$PTEST" notify-recv "$T/notify.sock" "$T/notes" >"$T/manager.out" 2>&1 &
	BG_PIDS+=($!)
	wait_until grep -q ready "$T/manager.out"
	: >"$LOG"
	NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=100000 \
	    JOURNAL_STREAM=$(stat -c %d:%i "$LOG") activate e
	run bash -c "printf 'hi\n' | timeout 30 socat -t 20 - TCP4:127.0.0.1:${PORTS[e]}"
	assert_output hi
	wait_until -t 30 grep -q '^WATCHDOG=1$' "$T/notes"
	run ctl reload
	assert_success
	echo 'service {' >>"$CONF"
	run ctl reload
	assert_failure
	wait_until -t 10 grep -q '^READY=1 STATUS=error: ' "$T/notes"
	grep -q '^<6>ts=.* event=listen service=e .* from=LISTEN_FDS$' "$LOG" ||
		fail "no journal priority or passed socket in the log"
	memcheck_verdict
}

# The descriptors portierd (and valgrind in it) holds.
valgrind_fds() {
	find "/proc/$PORTIER_PID/fd" -mindepth 1 -maxdepth 1 | wc -l
}

# Whether portierd has one live connection.
one_active() {
	[ "$(active)" = 1 ]
}

@test "valgrind: refused clients still read from at exit are closed and freed" {
	config <<-'EOF'
	service busy {
	    listen = { "127.0.0.1:0" }
	    builtin = "discard"
	    max_connections = 1
	    on_limit = "refuse"
	    busy_message = "busy, try later"
	}
	EOF
	portier_start
	local fds=$(valgrind_fds) holder
	exec {holder}<>"/dev/tcp/127.0.0.1/$(port busy)"
	wait_until -t 10 one_active
	# Each sends, is told, and holds on: portierd reads from each for a
	# while (2 s) after its message, and exits meanwhile, once the one
	# connection has ended (the clients must not hold it too).
	: >"$T/held"
	timeout 60 "$PTEST" refused "$(port busy)" -n 3 --send 1024 \
	    --want 'busy, try later\n' --hold 30 >"$T/held" 2>&1 {holder}>&- &
	BG_PIDS+=($!)
	wait_until -t 20 grep -q '^n=' "$T/held"
	assert_equal "$(cut -d' ' -f1-3 "$T/held")" "n=3 told=3 eof=3"
	(( $(valgrind_fds) >= fds + 4 )) || fail "no refused client held"
	exec {holder}>&-
	memcheck_verdict
}
