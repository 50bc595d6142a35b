#!/usr/bin/env bats
# Reaping: every handler's end is logged with pid, status and duration,
# and no zombie is ever left, however the handlers end.

load helpers

@test "reap: a handler's exit is logged with pid, status and duration" {
	one_service three '"/bin/sh", "-c", "echo bye; exit 3"'
	portier_start
	run tcp "$(port three)" </dev/null
	assert_output bye
	wait_log "event=end service=three conn=1 pid=[1-9][0-9]* status=exit:3 duration=[0-9]+\.[0-9]{3} active=0/-1$"
	local pid=$(sed -n 's/.*event=spawn service=three conn=1 pid=\([0-9]*\) .*/\1/p' "$LOG")
	grep -q "event=end service=three conn=1 pid=$pid " "$LOG"
}

@test "reap: a handler killed by a signal is logged with the signal's name" {
	one_service segv '"/bin/sh", "-c", "kill -SEGV $$"'
	portier_start
	run tcp "$(port segv)" </dev/null
	wait_log "event=end service=segv conn=1 .*status=signal:SEGV(,core)? "
}

@test "reap: 200 quick handlers leave no zombie and no count behind" {
	one_service quick '"/bin/true"'
	portier_start
	local i p=$(port quick) pids=()
	for (( i = 0; i < 200; i++ )); do
		timeout 5 socat -u "TCP4:127.0.0.1:$p" /dev/null &
		pids+=($!)
		if (( i % 20 == 19 )); then
			wait "${pids[@]}"
			pids=()
		fi
	done
	wait_log "event=end service=quick .*status=exit:0 " 200
	run ps -o stat= --ppid "$PORTIER_PID"
	refute_output --partial Z
	# The last end line shows the count back at zero.
	tail -n 1 <(grep 'event=end service=quick' "$LOG") | grep -q 'active=0/-1$'
}

@test "reap: 50 handlers exiting at the same moment are all reaped" {
	config <<-EOF
	service gate {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in; while [ ! -e $T/open ]; do sleep 0.05; done" }
	}
	EOF
	portier_start
	local i fds=() p=$(port gate)
	for (( i = 0; i < 50; i++ )); do
		client_open "$p"
		fds+=("$CLIENT")
	done
	for fd in "${fds[@]}"; do
		client_read "$fd" || fail "handler did not start"
	done
	touch "$T/open"
	wait_log "event=end service=gate .*status=exit:0 " 50
	tail -n 1 <(grep 'event=end service=gate' "$LOG") | grep -q 'active=0/-1$'
	run ps -o stat= --ppid "$PORTIER_PID"
	refute_output --partial Z
	for fd in "${fds[@]}"; do exec {fd}<&-; done
}

@test "reap: handlers are reaped while clients keep the accept queue full" {
	one_service hi '"/bin/echo", "hi"'
	portier_start
	# 64 clients reconnect as soon as each is served, so the listen queue
	# is never empty; accepting must still let the loop reap.
	run "$PLOAD" conn 127.0.0.1 "$(port hi)" \
	    -n 3000 -c 64 -a 8 -t 20
	assert_success
	wait_log "event=end service=hi .* status=exit:0" 3000 30
	# The most handlers started and not yet ended at any point of the log.
	local most=$(awk '/event=spawn service=hi /{n++} /event=end service=hi /{n--}
	    n > m {m = n} END {print m}' "$LOG")
	(( most < 400 )) || fail "$most handlers waited to be reaped at once"
}

# Each handler's descriptors come and go from portierd's epoll set.  When
# a handler could run beside portierd with a copy of its descriptors, one
# left in the set after its close (libevent's changelist deleted it only
# after the close) fired on every epoll_wait: from 12 to over 200 of them
# per connection instead of 2.  Counted by perf, in system calls, not
# timed.
@test "reap: 300 handlers one after another cost portierd a few epoll_wait each, not a spin" {
	command -v perf >/dev/null || skip "no perf"
	perf stat -e syscalls:sys_enter_epoll_wait true >/dev/null 2>&1 ||
		skip "perf cannot count system calls here"
	one_service hi '"/bin/echo", "hi"'
	portier_start
	local p=$(port hi) out n
	"$PLOAD" conn 127.0.0.1 "$p" -n 20 -c 1 -t 30
	perf stat -x, -e syscalls:sys_enter_epoll_wait --no-inherit \
	    -p "$PORTIER_PID" -o "$T/perf.out" -- \
	    "$PLOAD" conn 127.0.0.1 "$p" -n 300 -c 1 \
	    -t 60 >"$T/load.out"
	out=$(cat "$T/load.out")
	echo "$out"
	cat "$T/perf.out"
	[[ $out == *" ok=300 "* ]] || fail "not every connection was served"
	n=$(awk -F, '/sys_enter_epoll_wait/ { print $1 }' "$T/perf.out")
	[[ $n =~ ^[0-9]+$ ]] || fail "no count: $(cat "$T/perf.out")"
	(( n >= 300 && n <= 5 * 300 )) || fail "$n epoll_wait for 300 connections"
}

# The number of pidfds portierd holds.
pidfds() {
	ls -l "/proc/$PORTIER_PID/fd" | grep -c pidfd
}

# Open $2 connections to port $1, adding their descriptors to fds.
open_clients() {
	local i
	for (( i = 0; i < $2; i++ )); do
		client_open "$1"
		fds+=("$CLIENT")
	done
}

@test "reap: handlers get pidfds only once 128 children are alive, and those alive then get one too" {
	one_service cat '"/bin/cat"'
	portier_start
	local fds=() p=$(port cat)
	open_clients "$p" 100
	wait_log "event=spawn service=cat" 100
	# A hundred are reaped on SIGCHLD: no pidfd.
	[ "$(pidfds)" = 0 ] || fail "$(pidfds) pidfds for 100 handlers"
	open_clients "$p" 40
	wait_log "event=spawn service=cat" 140
	# From the 129th on, a pidfd each, and the first 128 got one too.
	[ "$(pidfds)" = 140 ] || fail "$(pidfds) pidfds for 140 handlers"
	for fd in "${fds[@]}"; do exec {fd}<&-; done
	wait_log "event=end service=cat .*status=exit:0 " 140
	tail -n 1 <(grep 'event=end service=cat' "$LOG") | grep -q 'active=0/-1$'
	[ "$(pidfds)" = 0 ] || fail "$(pidfds) pidfds left"
	# Few alive again: the next is reaped on SIGCHLD.
	client_open "$p"
	wait_log "event=spawn service=cat" 141
	[ "$(pidfds)" = 0 ] || fail "a pidfd for the one handler alive"
	exec {CLIENT}<&-
	wait_log "event=end service=cat .*status=exit:0 " 141
	[ "$(log_count 'event=end service=cat ')" = 141 ]
	run ps -o stat= --ppid "$PORTIER_PID"
	refute_output --partial Z
}

@test "reap: out of descriptors when pidfds are due, handlers with and without one are all reaped" {
	# stderr = "null": a handler reaped by a walk holds no descriptor of
	# ours, so 64 let over 100 run; at the 128th child the pidfds run out
	# the table part way, and the rest go on being walked for.
	config <<-'EOF'
	service cat {
	    listen = { "127.0.0.1:0" }
	    stderr = "null"
	    exec = { "/bin/cat" }
	}
	EOF
	PORTIER_WRAP="prlimit --nofile=64:64 --" portier_start
	local fds=() p=$(port cat) n have
	open_clients "$p" 140
	wait_until -t 20 eval '[ "$(log_count "event=spawn service=cat")" -ge 128 ]' ||
		fail "$(log_count 'event=spawn service=cat') spawned"
	wait_log "event=spawn-error service=cat"
	n=$(log_count "event=spawn service=cat")
	have=$(pidfds)
	(( have > 0 && have < n )) || fail "$have pidfds for $n handlers"
	for fd in "${fds[@]}"; do exec {fd}<&-; done
	# The clients still queued when the table ran out are accepted after
	# each back-off: every one of the 140 is spawned or refused, and every
	# handler spawned has ended, before the children are looked at.
	wait_until -t 20 eval '[ $(( $(log_count "event=spawn service=cat") +
	    $(log_count "event=spawn-error service=cat") )) = 140 ]' ||
		fail "$(log_count 'event=spawn service=cat') spawned and" \
		    "$(log_count 'event=spawn-error service=cat') refused of 140"
	n=$(log_count "event=spawn service=cat")
	wait_log "event=end service=cat .*status=exit:0 " "$n" 20
	wait_until -t 10 eval '[ "$(pidfds)" = 0 ]' || fail "$(pidfds) pidfds left"
	run ps -o stat= --ppid "$PORTIER_PID"
	refute_output --partial Z
	run tcp "$p" <<<"after"
	assert_output after
}

# Leftovers of the tests below carry REAP_MARK=$T in their environment;
# one that failed half-way must not leave them running.  Found by that
# mark, never by name: bats's own watchdog of another file is a "sleep
# 300" too, and killing it fails that file's test as timed out.
teardown() {
	local env pid
	for env in /proc/[0-9]*/environ; do
		pid=${env#/proc/}
		pid=${pid%/environ}
		tr '\0' '\n' <"$env" 2>/dev/null | grep -qxF "REAP_MARK=$T" &&
		    kill -9 "$pid" 2>/dev/null
	done
	portier_teardown_default
}

# The pids of the processes running "sleep $1" whose parent is the daemon:
# what a handler left behind, reparented.
left_behind() {
	local pid
	for pid in $(pgrep -x -f "sleep $1"); do
		[ "$(ps -o ppid= -p "$pid" | tr -d ' ')" = "$PORTIER_PID" ] &&
		    echo "$pid"
	done
	return 0
}

# The daemon's count of live leftovers is $1.
orphans_are() {
	[ "$(ctl -j status | json 'd["orphans"]')" = "$1" ]
}

@test "reap: what a handler leaves behind, even in a session of its own, is reparented to portierd, counted and reaped" {
	one_service leave '"/bin/sh", "-c", "export REAP_MARK='"$T"'; setsid sleep 3000 & echo left"'
	portier_start
	run tcp "$(port leave)" </dev/null
	assert_output left
	wait_log "event=end service=leave conn=1 .*status=exit:0 "
	wait_until -t 10 orphans_are 1
	# It is "setsid sleep 3000" until setsid has exec'd sleep.
	wait_until -t 10 eval '[ -n "$(left_behind 3000)" ]' ||
		fail "sleep 3000 was not reparented to portierd"
	local orphan
	orphan=$(left_behind 3000)
	ctl -j status | json 'd["orphans_reaped"] == 0'
	run ctl metrics
	assert_line 'portier_orphans 1'
	kill "$orphan"
	wait_log "event=orphan pid=$orphan status=signal:TERM$"
	ctl -j status | json 'd["orphans"] == 0 and d["orphans_reaped"] == 1'
	run ctl metrics
	assert_line 'portier_orphans_reaped_total 1'
	run ps -o stat= --ppid "$PORTIER_PID"
	refute_output --partial Z
}

@test "reap: at shutdown, what handlers left behind gets TERM, and KILL after kill_grace if it stays" {
	# One leftover ends on TERM; one, in a session of its own, ignores it
	# (so does its child, in its process group), and is killed.
	one_service leave '"/bin/sh", "-c", "export REAP_MARK='"$T"'; setsid sleep 3001 & setsid sh -c '"'"'trap \"\" TERM; sleep 3002; :'"'"' & echo left"'
	portier_start
	run tcp "$(port leave)" </dev/null
	assert_output left
	wait_until -t 10 orphans_are 2
	wait_until -t 10 eval '[ -n "$(left_behind 3001)" ] && pgrep -x -f "sleep 3002" >/dev/null'
	local pids
	pids="$(left_behind 3001) $(pgrep -x -f 'sleep 3002')"
	[ "$(wc -w <<<"$pids")" = 2 ] || fail "leftovers: $pids"
	portier_stop 20
	[ "$PORTIER_STATUS" = 0 ]
	grep -q "event=orphans-end count=2 signal=TERM$" "$LOG"
	grep -q "event=orphans-end count=[12] signal=KILL$" "$LOG"
	# The first reaped is logged; the one killed a second later may be
	# within the line's one-a-second limit, so it is looked for by pid.
	grep -q "event=orphan pid=[0-9]* status=signal:TERM" "$LOG"
	local pid
	for pid in $pids; do
		[ ! -e "/proc/$pid" ] || fail "pid $pid ($(ps -o args= -p "$pid")) outlived portierd"
	done
	PORTIER_PID=
}

@test "reap: what handlers left behind counts toward the 128 children past which handlers get pidfds" {
	config <<-EOF
	service leave {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "export REAP_MARK=$T; for i in \$(seq 130); do sleep 3003 & done; echo left" }
	}
	service cat {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	}
	EOF
	portier_start
	run tcp "$(port leave)" </dev/null
	assert_output left
	# The sweep a second after the handler's end counts them.
	wait_until -t 10 orphans_are 130
	client_open "$(port cat)"
	wait_log "event=spawn service=cat"
	[ "$(pidfds)" = 1 ] || fail "$(pidfds) pidfds beside 130 left behind"
	exec {CLIENT}<&-
	wait_log "event=end service=cat .*status=exit:0 "
	[ "$(pidfds)" = 0 ] || fail "$(pidfds) pidfds left"
}
