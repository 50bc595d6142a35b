#!/usr/bin/env bats
# What a handler runs as and with: user, group, groups, chdir, umask,
# nice, resource limits, timeout, and where its stderr goes.

load helpers

# A config of one exec service "h" running the exec list $1, with further
# settings as the remaining arguments, one per line.
proc_service() {
	local exec=$1 extra
	shift
	extra=$(printf '    %s\n' "$@")
	config <<-EOF
	service h {
	    listen = { "127.0.0.1:0" }
	    exec = { $exec }
	$extra
	}
	EOF
}

@test "process: user and group switch, and the groups are exactly the user's" {
	need_root
	proc_service '"/usr/bin/id"' 'user = "nobody"' 'group = "nogroup"'
	# Start portierd with extra groups of its own, which must not leak.
	PORTIER_WRAP="setpriv --groups=0,4 --" portier_start
	run tcp "$(port h)" </dev/null
	assert_output "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"
}

@test "process: groups sets the exact supplementary list" {
	need_root
	proc_service '"/usr/bin/id", "-G"' 'user = "nobody"' \
	    'groups = { "daemon", "4" }'
	PORTIER_WRAP="setpriv --groups=0 --" portier_start
	run tcp "$(port h)" </dev/null
	assert_equal "$(tr ' ' '\n' <<<"$output" | sort -n | tr '\n' ' ')" "1 4 65534 "
}

@test "process: a user that is root needs allow_root" {
	CONFIG_AS_WRITTEN=1 proc_service '"/usr/bin/id"' 'user = "root"'
	run "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	assert_output "$CONF:6: service \"h\": user \"root\" is root; set allow_root = true if the handler must run as root"
	proc_service '"/usr/bin/id"' 'user = "0"' 'allow_root = true'
	run "$PORTIERD" -t -c "$CONF"
	assert_success
}

@test "process: an unknown user or group is FILE:LINE and exit 78" {
	proc_service '"/usr/bin/id"' 'user = "no-such-user-x"'
	run "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	assert_output "$CONF:6: service \"h\": user \"no-such-user-x\": no such user"
	proc_service '"/usr/bin/id"' 'group = "no-such-group-x"'
	run "$PORTIERD" -t -c "$CONF"
	assert_output "$CONF:6: service \"h\": group \"no-such-group-x\": no such group"
	proc_service '"/usr/bin/id"' 'groups = { "nogroup", "no-such-group-x" }'
	run "$PORTIERD" -t -c "$CONF"
	assert_output "$CONF:6: service \"h\": groups: \"no-such-group-x\": no such group"
}

@test "process: user, group or groups while portierd is not root fail the start and a reload, naming the service; -t warns" {
	need_root
	# portierd itself runs as nobody, so it cannot switch to daemon:
	# setgroups(2) would fail for every connection.
	chmod 1777 "$T"
	local d=$T
	while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
	local why="service \"h\": user, group or groups is given, but portierd runs as uid 65534, not root, so it cannot change a handler's user or groups"
	local as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups --"
	for setting in 'user = "daemon"' 'group = "daemon"' 'groups = { }'; do
		proc_service '"/usr/bin/id"' "$setting"
		chmod 644 "$CONF"
		run $as_nobody "$PORTIERD" -t -c "$CONF"
		assert_success
		assert_line --index 0 "$CONF: warning: $why"
		run $as_nobody timeout 10 "$PORTIERD" -c "$CONF"
		assert_failure 1
		# In the log line, the value's own quotes are escaped.
		assert_output --partial "event=start-failed error=\"${why//\"/\\\"}\""
	done
	# Root's -t says nothing of it.
	run "$PORTIERD" -t -c "$CONF"
	assert_success
	refute_output --partial warning
	# A reload that brings one in fails, and the daemon serves on.
	proc_service '"/usr/bin/id", "-u"'
	chmod 644 "$CONF"
	PORTIER_WRAP="$as_nobody" portier_start
	proc_service '"/usr/bin/id", "-u"' 'user = "daemon"'
	run ctl reload
	assert_failure 1
	assert_output "portierctl: $why"
	run tcp "$(port h)" </dev/null
	assert_output 65534
}

@test "process: every rlimit is in place in the handler" {
	proc_service '"/bin/cat", "/proc/self/limits"' 'rlimit_cpu = "7"' \
	    'rlimit_as = "64M"' 'rlimit_nofile = "16"' 'rlimit_nproc = "100"' \
	    'rlimit_core = "0"'
	portier_start
	run tcp "$(port h)" </dev/null
	assert_line --regexp '^Max cpu time +7 +7 +seconds'
	assert_line --regexp '^Max address space +67108864 +67108864 +bytes'
	assert_line --regexp '^Max open files +16 +16 +files'
	assert_line --regexp '^Max processes +100 +100 +processes'
	assert_line --regexp '^Max core file size +0 +0 +bytes'
}

@test "process: a handler spinning past rlimit_cpu is killed and its slot freed" {
	proc_service '"/bin/sh", "-c", "while :; do :; done"' 'rlimit_cpu = "1"'
	portier_start
	client_open "$(port h)"
	# Soft and hard limit are equal, so the kernel's SIGXCPU comes with
	# SIGKILL at the same second.
	wait_log "event=end service=h conn=1 .*status=signal:(XCPU|KILL)" 1 10
	run ctl -j services
	assert_output --partial '"active": 0'
	exec {CLIENT}<&-
}

@test "process: chdir, umask and nice are in place" {
	mkdir "$T/work"
	proc_service '"/bin/sh", "-c", "pwd; umask; cut -d\" \" -f19 /proc/$$/stat"' \
	    'chdir = "work"' 'umask = "027"' 'nice = 7'
	portier_start
	run tcp "$(port h)" </dev/null
	assert_line --index 0 "$T/work"
	assert_line --index 1 0027
	assert_line --index 2 7
}

@test "process: bad process settings are FILE:LINE and exit 78" {
	local body want
	while IFS='|' read -r body want; do
		proc_service '"/bin/cat"' "$body"
		run "$PORTIERD" -t -c "$CONF"
		[ "$status" -eq 78 ] || fail "$body: status $status"
		[ "$output" = "$CONF:$want" ] || fail "$body: $output"
	done <<-EOF
	rlimit_as = "64X"|6: rlimit_as = "64X": expected a number, with k, M or G if you like, or "unlimited"
	umask = "089"|6: umask "089": expected an octal mode such as "022"
	nice = 20|6: nice = 20: must be from -20 to 19
	stderr = "syslog"|6: stderr "syslog": expected "log", "inherit" or "null"
	chdir = "nowhere"|6: chdir "$T/nowhere": No such file or directory
	EOF
}

@test "process: timeout sends TERM, then KILL to a handler that ignores it" {
	proc_service '"/bin/sh", "-c", "trap \"\" TERM; echo in; while :; do sleep 0.1; done"' \
	    'timeout = 1'
	portier_start
	client_open "$(port h)"
	client_read $CLIENT
	wait_log "event=timeout service=h conn=1 pid=[0-9]+ timeout=1$"
	wait_log "event=end service=h conn=1 .*status=signal:KILL "
	local d=$(sed -n 's/.*event=end service=h conn=1 .*duration=\([0-9.]*\) .*/\1/p' "$LOG")
	# KILL came kill_grace after TERM, not at once: about 2 s from the
	# accept.  Timers count from the loop's clock, read at the start of
	# the turn that accepted, so a busy turn makes the duration, counted
	# from the accept itself, a little short of it (1.999 s was seen).
	awk -v d="$d" 'BEGIN { exit !(d >= 1.9) }' || fail "ended after $d s"
	exec {CLIENT}<&-
}

@test "process: timeout reaches a grandchild in the handler's group" {
	proc_service '"/bin/sh", "-c", "sleep 300 & echo $!; wait"' 'timeout = 1'
	portier_start
	client_open "$(port h)"
	client_read $CLIENT
	local grandchild=$REPLY
	kill -0 "$grandchild"
	wait_log "event=end service=h conn=1 .*status=signal:TERM "
	wait_until -t 2 pid_gone "$grandchild" || fail "grandchild $grandchild lives on"
	exec {CLIENT}<&-
}

@test "process: the connection ends when the handler exits, whatever it left behind" {
	proc_service '"/bin/sh", "-c", "(sleep 1; echo late) & echo early"'
	portier_start
	client_open "$(port h)"
	client_read $CLIENT
	assert_equal "$REPLY" early
	wait_log "event=end service=h conn=1 .*status=exit:0 "
	# The grandchild still holds the socket and still talks.
	client_read $CLIENT 5
	assert_equal "$REPLY" late
	exec {CLIENT}<&-
}

@test "process: stderr lines are logged, tagged, escaped, and cut at 4 KiB" {
	config <<-'EOF'
	service h {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "printf 'say \\042hi\\042 back\\134slash\\n' >&2; head -c 5000 /dev/zero | tr '\\000' x >&2; echo >&2; printf 'no newline' >&2; echo out" }
	}
	EOF
	portier_start
	run tcp "$(port h)" </dev/null
	assert_output out
	wait_log 'event=stderr service=h conn=1 pid=[0-9]+ line="say \\"hi\\" back\\\\slash"$'
	wait_log "event=stderr service=h conn=1 pid=[0-9]+ cut=1 line=\"x{4096}\"$"
	wait_log 'event=stderr service=h conn=1 pid=[0-9]+ line="x{904}"$'
	wait_log 'event=stderr service=h conn=1 pid=[0-9]+ line="no newline"$'
}

@test "process: a stderr line ending in CR LF is logged without its CR" {
	# As sshd -e writes them.  One CR before the LF goes; any other stays.
	cat >"$T/h.sh" <<-'EOF'
	#!/bin/sh
	printf 'crlf\r\ntwo\r\r\nmid\rdle\nlast\r' >&2
	echo out
	EOF
	chmod +x "$T/h.sh"
	proc_service "\"$T/h.sh\""
	portier_start
	run tcp "$(port h)" </dev/null
	assert_output out
	wait_log "event=end service=h conn=1 "
	run grep -oE 'event=stderr service=h conn=1 pid=[0-9]+ line=.*' "$LOG"
	assert_equal "${#lines[@]}" 4
	assert_line --index 0 --regexp 'line="crlf"$'
	assert_line --index 1 --regexp 'line="two\\x0d"$'
	assert_line --index 2 --regexp 'line="mid\\x0ddle"$'
	# A last line with no LF keeps its CR: no LF came for it.
	assert_line --index 3 --regexp 'line="last\\x0d"$'
}

@test "process: a running handler's stderr lines are logged while it runs, an ended one's before its end line" {
	# The pipe is read from 0.1 s after the start, and drained at the end.
	proc_service '"/bin/sh", "-c", "echo early >&2; echo ready; read x; echo late >&2; echo last >&2"'
	portier_start
	client_open "$(port h)"
	client_read $CLIENT
	assert_equal "$REPLY" ready
	wait_log 'event=stderr service=h conn=1 pid=[0-9]+ line="early"$'
	assert_equal "$(log_count 'event=end service=h ')" 0
	echo go >&$CLIENT
	wait_log "event=end service=h conn=1 .*status=exit:0 "
	exec {CLIENT}<&-
	# In order, and both before the end line.
	run grep -n -E 'line="(late|last)"|event=end service=h' "$LOG"
	assert_line --index 0 --regexp 'line="late"$'
	assert_line --index 1 --regexp 'line="last"$'
	assert_line --index 2 --regexp 'event=end service=h conn=1 '
}

@test "process: a handler that writes more than a pipe holds at once, then exits, has it all logged" {
	# 100 lines of 1000 bytes: more than the 64 KiB the pipe holds before
	# it is first watched, so the handler waits for that, then ends.
	proc_service '"/bin/sh", "-c", "head -c 100000 /dev/zero | tr \"\\000\" y | fold -w 1000 >&2; echo done"'
	portier_start
	run tcp "$(port h)" </dev/null
	assert_output done
	wait_log "event=end service=h conn=1 .*status=exit:0 "
	assert_equal "$(log_count 'event=stderr service=h conn=1 .*line="y{1000}"$')" 100
	[ "$(grep -n 'event=stderr service=h conn=1 ' "$LOG" | tail -1 | cut -d: -f1)" -lt \
	    "$(grep -n 'event=end service=h conn=1 ' "$LOG" | cut -d: -f1)" ]
}

@test "process: a handler that closes its stderr is not taken for ended" {
	# The end of its stderr comes first; the handler is still running.
	proc_service '"/bin/sh", "-c", "exec 2>&-; echo closed; read x; echo got $x"'
	portier_start
	client_open "$(port h)"
	client_read $CLIENT
	assert_equal "$REPLY" closed
	sleep 0.3
	assert_equal "$(log_count 'event=end service=h ')" 0
	echo more >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" "got more"
	wait_log "event=end service=h conn=1 .*status=exit:0 "
	exec {CLIENT}<&-
}

@test "process: a handler whose child holds its stderr is reaped when it exits" {
	# The child lives 5 s at most, in case this test fails before its kill.
	proc_service '"/bin/sh", "-c", "sleep 5 </dev/null >/dev/null & echo $!"'
	portier_start
	run tcp "$(port h)" </dev/null
	local orphan=$output
	[[ $orphan =~ ^[0-9]+$ ]] || fail "no pid: $orphan"
	wait_log "event=end service=h conn=1 .*status=exit:0 " 1 2
	kill -0 "$orphan" || fail "the child holding stderr ended first"
	kill "$orphan"
}

@test "process: a handler flooding stderr cannot grow portierd's memory" {
	proc_service '"/bin/sh", "-c", "head -c 10485760 /dev/zero | tr \"\\\\000\" z | fold -w 8000 >&2; echo done"'
	portier_start_for_rss
	local before=$(awk '/^VmRSS/ { print $2 }' /proc/$PORTIER_PID/status)
	run tcp "$(port h)" </dev/null
	assert_output done
	wait_log "event=end service=h conn=1 "
	local after=$(awk '/^VmRSS/ { print $2 }' /proc/$PORTIER_PID/status)
	(( after - before < 1024 )) || fail "RSS grew by $(( after - before )) KiB"
	# Nothing lost: 10 MiB in lines of 8000 is 1311 lines, each cut once.
	[ "$(log_count 'event=stderr service=h conn=1 .*cut=1')" -eq 1311 ]
}

@test "process: stderr = null sends it nowhere" {
	proc_service '"/bin/sh", "-c", "echo secret >&2; echo out"' 'stderr = "null"'
	portier_start
	run tcp "$(port h)" </dev/null
	assert_output out
	wait_log "event=end service=h conn=1 "
	! grep -q secret "$LOG"
}
