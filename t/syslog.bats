#!/usr/bin/env bats
# log = "syslog": each line one datagram to the syslog socket, headed as
# syslog(3) heads it, here a socket the test owns in place of /dev/log.

load helpers

setup() {
	portier_setup_default
	SYSLOG=$T/syslog.txt
	: >"$SYSLOG"
}

teardown() {
	background_stop
	portier_teardown_default
}

# Bind a datagram socket at $T/log.sock that writes what it gets to
# $SYSLOG, a datagram a line, in the background.
syslogd() {
	rm -f "$T/syslogd.out"
	bg syslogd.out "$PTEST" notify-recv "$T/log.sock" "$SYSLOG"
	SYSLOGD_PID=$!
	wait_until grep -q ready "$T/syslogd.out"
}

# Wait for at least $2 (default 1) datagrams matching the regex $1.
wait_syslog() {
	wait_until -t 10 syslog_has "$1" "${2:-1}" && return 0
	cat "$SYSLOG"
	fail "syslog: wanted ${2:-1} datagrams matching '$1'"
}

syslog_has() {
	[ "$(grep -cE -- "$1" "$SYSLOG")" -ge "$2" ]
}

@test "syslog: every line is one datagram, <facility|severity>, local time, ident[pid], then the log's own line" {
	syslogd
	config <<-EOF
	log = "syslog"
	log_socket = "log.sock"
	log_facility = "local3"
	log_ident = "edge"
	service hi {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo oops >&2; echo hi" }
	}
	EOF
	portier_start -v
	run tcp "$(port hi)" </dev/null
	assert_output hi
	wait_syslog "event=end service=hi"
	# local3 is 19: info 19*8+6, debug +7; the handler's stderr is a line too.
	local head="^<%d>[A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} edge\\[$PORTIER_PID\\]: ts=[-0-9T:.]+Z"
	wait_syslog "$(printf "$head" 158) level=info event=start version=.* pid=$PORTIER_PID "
	wait_syslog "$(printf "$head" 158) level=info event=stderr service=hi conn=1 pid=[0-9]+ line=\"oops\"$"
	wait_syslog "$(printf "$head" 159) level=debug event=accept"
	# A warning: a reload of a broken file.
	printf 'nonsense\n' >>"$CONF"
	run ctl reload
	assert_failure
	wait_syslog "$(printf "$head" 156) level=warn event=reload status=failed "
	# Each datagram is a line: none is split or empty, and stderr has none.
	run grep -cvE "^<15[6-9]>[A-Z][a-z]{2} [ 1-3][0-9] [0-9:]{8} edge\\[$PORTIER_PID\\]: ts=" "$SYSLOG"
	assert_output 0
	portier_stop
	wait_syslog "level=info event=exit status=0$"
	run cat "$LOG"
	assert_output ""
}

@test "syslog: Debian's rsyslogd reads each line's facility, severity, program and pid, and the line whole" {
	mkdir "$T/rs"
	cat >"$T/rs.conf" <<-EOF
	global(workDirectory="$T/rs")
	module(load="imuxsock" SysSock.Use="off")
	input(type="imuxsock" Socket="$T/rlog.sock" CreatePath="on")
	template(name="t" type="string"
	    string="%syslogfacility-text%.%syslogseverity-text% %programname% %procid%%msg%\\n")
	*.* action(type="omfile" file="$T/rsyslog.txt" template="t")
	EOF
	bg rsyslogd.out rsyslogd -n -f "$T/rs.conf" -i "$T/rs/pid"
	wait_until -t 10 test -S "$T/rlog.sock"
	config <<-EOF
	log = "syslog"
	log_socket = "rlog.sock"
	log_facility = "local5"
	log_ident = "portier-edge"
	service hi {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo 'a \"quoted\" word' >&2" }
	}
	EOF
	portier_start
	run tcp "$(port hi)" </dev/null
	wait_until -t 10 grep -q 'event=end service=hi' "$T/rsyslog.txt"
	printf 'nonsense\n' >>"$CONF"
	run ctl reload
	assert_failure
	wait_until -t 10 grep -q 'event=reload status=failed' "$T/rsyslog.txt"
	run cat "$T/rsyslog.txt"
	assert_line --regexp "^local5\.info portier-edge $PORTIER_PID ts=[-0-9T:.]+Z level=info event=start version=[^ ]+ pid=$PORTIER_PID "
	assert_line --regexp "^local5\.info portier-edge $PORTIER_PID ts=[-0-9T:.]+Z level=info event=stderr service=hi conn=1 pid=[0-9]+ line=\"a \\\\\"quoted\\\\\" word\"\$"
	assert_line --regexp "^local5\.warning portier-edge $PORTIER_PID ts=[-0-9T:.]+Z level=warn event=reload status=failed "
}

@test "syslog: the default facility is daemon and the ident portierd" {
	syslogd
	config <<-EOF
	log = "syslog"
	log_socket = "$T/log.sock"
	service e {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	portier_start
	# daemon is 3: 3*8+6.
	wait_syslog "^<30>[A-Z][a-z]{2} [ 1-3][0-9] [0-9:]{8} portierd\\[$PORTIER_PID\\]: ts=.* event=listen service=e "
}

@test "syslog: a reload moves the log to syslog and back to stderr" {
	syslogd
	builtin_service e echo
	portier_start
	wait_log "event=listen service=e "
	cp "$CONF" "$T/stderr.conf"
	{ printf 'log = "syslog" log_socket = "log.sock"\n'; cat "$T/stderr.conf"; } >"$CONF"
	run ctl reload
	assert_success
	wait_syslog "event=reload status=ok "
	run tcp "$(port e)" <<<"x"
	assert_output x
	wait_syslog "event=end service=e conn=1 "
	run log_count "event=end"
	assert_output 0
	cp "$T/stderr.conf" "$CONF"
	run ctl reload
	assert_success
	run tcp "$(port e)" <<<"y"
	wait_log "event=end service=e conn=2 "
	run grep -c "conn=2" "$SYSLOG"
	assert_output 0
}

@test "syslog: a log_socket that is no socket stops the start, fails a reload and warns at -t, naming it" {
	config <<-EOF
	log = "syslog"
	log_socket = "nowhere.sock"
	service e {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	run "$PORTIERD" -t -c "$CONF"
	assert_success
	assert_line --index 0 "$CONF: warning: log_socket \"$T/nowhere.sock\": No such file or directory"
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 1
	assert_output --partial "level=warn event=start-failed error=\"log_socket \\\"$T/nowhere.sock\\\": No such file or directory\""
	# A reload to a regular file in its place is refused, and stderr kept.
	builtin_service e echo
	portier_start
	: >"$T/plain"
	{ printf 'log = "syslog" log_socket = "plain"\n'; cat "$CONF"; } >"$T/new.conf"
	mv "$T/new.conf" "$CONF"
	run ctl reload
	assert_failure
	assert_output --partial "log_socket \"$T/plain\": not a socket"
	wait_log "event=reload status=failed error=\"log_socket .*plain.*: not a socket\""
	run tcp "$(port e)" <<<"z"
	wait_log "event=end service=e conn=1 "
}

@test "syslog: while the socket takes nothing, lines go to stderr after one line a second saying why" {
	syslogd
	config <<-EOF
	log = "syslog"
	log_socket = "log.sock"
	service e {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	portier_start
	wait_syslog "event=listen service=e "
	kill "$SYSLOGD_PID"
	wait "$SYSLOGD_PID" || true
	local i
	for i in 1 2 3 4 5; do
		run tcp "$(port e)" <<<"$i"
		assert_output "$i"
	done
	wait_log "event=end service=e conn=5 "
	# The socket file is left without a reader: the kernel refuses.
	run log_count "level=warn event=log-error socket=\"$T/log.sock\" error=\"Connection refused\""
	assert_output 1
	run log_count "event=end service=e"
	assert_output 5
}

@test "syslog: log, log_facility, log_ident and log_socket are checked with FILE:LINE" {
	local bad
	for bad in 'log = "file"' 'log_facility = "kern"' 'log_ident = "a b"' \
	    'log_ident = "x[1]"' 'log_ident = ""' 'log_socket = ""' \
	    "log_ident = \"$(printf 'i%.0s' {1..33})\"" \
	    "log_socket = \"/$(printf 'd%.0s' {1..110})\""; do
		printf '%s\n' "$bad" >"$CONF"
		run "$PORTIERD" -t -c "$CONF"
		assert_failure 78
		assert_output --regexp "^$CONF:1: (log|log_facility|log_ident|log_socket)"
	done
	printf 'log = "file"\n' >"$CONF"
	run "$PORTIERD" -t -c "$CONF"
	assert_output "$CONF:1: log \"file\": expected \"stderr\" or \"syslog\""
	printf 'log_facility = "kern"\n' >"$CONF"
	run "$PORTIERD" -t -c "$CONF"
	assert_output "$CONF:1: log_facility \"kern\": expected daemon, user, auth, authpriv, cron, ftp, lpr, mail, news, syslog, uucp or local0 to local7"
}
