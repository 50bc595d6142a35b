#!/usr/bin/env bats
# Hostile tests of the accept path and of exec failures (HOSTILE-TESTS.md
# ACC-01, 02, 03, 05, 07 and 09, a reset flood and descriptor exhaustion).
# Each ends by checking that portierd serves on, holds no more
# descriptors than before the load, has no zombie and no live connection.

load helpers
load hostile

# Every test of the file gets the time of the longest (the floods of
# 1,000 to 5,000 clients): bats starts a test's watchdog before its body
# runs, so a limit set in the body would change nothing.
BATS_TEST_TIMEOUT=120

setup() {
	portier_setup_default
	FROMS=() FROM_PIDS=() BG_PIDS=()
}

# Close the connections from() opened and stop the clients left in the
# background, then the daemon's checks.
teardown() {
	from_close_all
	background_stop
	portier_teardown_default
}

# Refusals of service $1 for reason $2 so far, as control counts them.
refusals() {
	ctl -j services | json "svc('$1')['refusals']['$2']"
}

@test "hostile accept: a flood of 5,000 clients above max_connections=100 never runs more than 100 handlers" {
	config <<-'EOF'
	service flood {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in; exec cat >/dev/null" }
	    max_connections = 100
	    backlog = 128
	    timeout = 30
	}
	EOF
	portier_start_for_rss
	baseline
	run timeout 35 "$PTEST" flood "$(port flood)" 5000 --hold 15 \
	    --pid "$PORTIER_PID"
	assert_success
	echo "$output"
	# The first 100 are served and the others wait, unaccepted: none of
	# them gets a byte while the 100 live.
	assert_equal "$(field served "$output")" 100
	assert_equal "$(field stray "$output")" 0
	local kids=$(field children_max "$output")
	(( kids <= 100 )) || fail "$kids handlers alive at once"
	local grew=$(( $(field rss_max "$output") - $(field rss_before "$output") ))
	(( grew <= 8192 )) || fail "RSS grew by $grew KiB"
	# Those the backlog held are served when the 100 end, see EOF, end.
	settled 2 8192
	run tcp "$(port flood)" </dev/null
	assert_output in
}

@test "hostile admit: max_per_source=3 serves exactly 3 of 10 from 127.0.0.1 and 3 from 127.0.0.2" {
	gated 'max_per_source = 3'
	portier_start_for_rss
	baseline
	local p=$(port gated) i n=0 first=
	for (( i = 0; i < 10; i++ )); do
		from 127.0.0.1 "TCP4:127.0.0.1:$p"
		[[ $REPLY == "in "* ]] || continue
		n=$(( n + 1 ))
		[ -n "$first" ] || first=$CLIENT
	done
	assert_equal "$n" 3
	# Seven refused, logged at most a line a second.
	assert_equal "$(refusals gated max_per_source)" 7
	wait_log 'event=refuse service=gated .*reason=max_per_source'
	n=0
	for (( i = 0; i < 3; i++ )); do
		from 127.0.0.2 "TCP4:127.0.0.1:$p"
		[[ $REPLY != "in "* ]] || n=$(( n + 1 ))
	done
	assert_equal "$n" 3
	# One of 127.0.0.1's ends: another is served, well within the 10 s
	# of the sweep, which is not what frees the slot.
	echo bye >&$first
	run "$PTEST" served "$p" --src 127.0.0.1 --seconds 5
	echo "$output"
	[[ $output =~ ^served_ms=[0-9]+$ ]] || fail "not served once one ended"
	from_close_all
	settled 3 8192
}

@test "hostile admit: an IPv4-mapped ::ffff:127.0.0.1 client counts as 127.0.0.1 for max_per_source" {
	LISTEN='"*:0"' gated 'max_per_source = 3'
	portier_start_for_rss
	baseline
	local p=$(port gated) i
	for i in 1 2; do
		from "" "TCP4:127.0.0.1:$p"
		[[ $REPLY == "in "* ]] || fail "127.0.0.1 connection $i not served"
	done
	from "" "TCP6:[::ffff:127.0.0.1]:$p"
	[[ $REPLY == "in "* ]] || fail "the mapped client was not served"
	# 127.0.0.1 has had its 3, whichever way it came.
	from "" "TCP4:127.0.0.1:$p"
	assert_equal "$REPLY" ""
	from "" "TCP6:[::ffff:127.0.0.1]:$p"
	assert_equal "$REPLY" ""
	wait_log "event=refuse service=gated remote=127.0.0.1:[0-9]+ reason=max_per_source$"
	assert_equal "$(refusals gated max_per_source)" 2
	from 127.0.0.2 "TCP4:127.0.0.1:$p"
	[[ $REPLY == "in "* ]] || fail "127.0.0.2 was not served"
	from_close_all
	settled 3 8192
}

@test "hostile accept: accept at EMFILE under nofile=64 stays cheap, logs little, and recovers" {
	config <<-'EOF2'
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    max_connections = 1000
	}
	EOF2
	# Built-ins hold their sockets, so accept itself runs out.
	PORTIER_WRAP="prlimit --nofile=64:64 --" portier_start_for_rss
	baseline
	run timeout 25 "$PTEST" emfile "$(port echo)" 200 --log "$LOG"
	assert_success
	echo "$output"
	wait_log 'event=accept-error service=echo .* error="Too many open files"'
	# Over the client's window, as the log tells them: its lines, one a
	# second at most, and the failed accepts they stand for, the ones held
	# back (since up to a second before the window) included.  Each
	# failure pauses accepting for 250 ms: 4 a second, fewer on a slower
	# machine; a loop that spins fails thousands a second on any.
	local ms=$(field window_ms "$output")
	local lines=$(field accept_error_lines "$output")
	local errors=$(field accept_errors "$output")
	(( lines <= 2 + ms / 1000 )) || fail "$lines accept-error lines in $ms ms"
	(( errors <= 4 * (ms / 1000 + 2) )) ||
		fail "$errors failed accepts in $ms ms"
	# 160 of the 200 closed, so the other 40 fit in 64 descriptors beside
	# portierd's own and the control socket's reserve: a new client is
	# served.
	assert_equal "$(field served "$output")" 1
	settled 3 8192
}

@test "hostile accept: 1,000 handlers ending in exit 0, exit 1, SIGSEGV, timeout and kill leave no slot taken" {
	# Most end at once; few wait for the 1 s timeout, as each of those
	# holds one of the 2 slots for a second (CI time).
	config <<-EOF2
	service ab {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/bash", "-c", "ulimit -c 0
	        if [ -e '$T/final' ]; then echo in; read x; exit 0; fi
	        r=\$(( RANDOM % 100 ))
	        if (( r < 2 )); then exec /bin/sleep 30
	        elif (( r < 27 )); then exit 0
	        elif (( r < 52 )); then exit 1
	        elif (( r < 76 )); then kill -SEGV \$\$
	        else '$PORTIERCTL' -S '$T/ctl.sock' kill \$PORTIER_CONN_ID >/dev/null
	            exec /bin/sleep 30
	        fi" }
	    max_connections = 2
	    max_per_source = 2
	    timeout = 1
	}
	EOF2
	portier_start_for_rss
	baseline
	run timeout 80 "$PLOAD" conn 127.0.0.1 "$(port ab)" -n 1000 -c 4 \
	    -d 'x\n' -t 20
	echo "$output"
	local ended=$(log_count 'event=end service=ab ')
	assert_equal "$ended" 1000
	local kind
	for kind in exit:0 exit:1 signal:SEGV; do
		(( $(log_count "event=end service=ab .* status=$kind ") > 0 )) ||
			fail "no handler ended with $kind"
	done
	(( $(log_count 'event=timeout service=ab ') > 0 )) ||
		fail "no handler timed out"
	(( $(log_count 'event=control-command .*command=kill service=ab ') > 0 )) ||
		fail "no handler was killed through the control socket"
	settled 2 8192
	# Both slots, and both of 127.0.0.1's, are free.
	touch "$T/final"
	from 127.0.0.1 "TCP4:127.0.0.1:$(port ab)"
	[[ $REPLY == in ]] || fail "the first of two was not served"
	from 127.0.0.1 "TCP4:127.0.0.1:$(port ab)"
	[[ $REPLY == in ]] || fail "the second of two was not served"
	from_close_all
	settled 2 8192
}

# The gaps in ms between the timestamps of successive log lines matching
# the extended regex $1, one a line.
log_gaps() {
	grep -E -- "$1" "$LOG" | sed -n 's/^ts=[^T]*T\([0-9]*\):\([0-9]*\):\([0-9.]*\)Z .*/\1 \2 \3/p' |
	    awk '{ t = (($1 * 60 + $2) * 60 + $3) * 1000
		if (NR > 1) print int(t - last + 0.5); last = t }'
}

# Run 500 clients against each of the services gone, noexec and
# noshebang, the three at once, each spread over 2.5 s and 4 at once, that
# send nothing and wait for the close; their lines in $T/SERVICE.$1, and
# portierd's CPU time over it all, in ticks, in $STORM_TICKS.
exec_storm() {
	local s t0
	t0=$(cpu_ticks)
	for s in gone noexec noshebang; do
		timeout 60 "$PTEST" eof "$(port $s)" 500 -c 4 --spread 2.5 \
		    >"$T/$s.$1" &
		BG_PIDS+=($!)
	done
	for s in "${BG_PIDS[@]}"; do wait "$s"; done
	BG_PIDS=()
	STORM_TICKS=$(( $(cpu_ticks) - t0 ))
	for s in gone noexec noshebang; do
		echo "$1 $s: $(cat "$T/$s.$1")"
	done
}

@test "hostile exec: 1,500 exec failures close every client at once and log one line a second per cause" {
	local s
	for s in gone noexec noshebang; do
		printf '#!/bin/sh\necho ok\n' >"$T/$s.sh"
		chmod +x "$T/$s.sh"
		printf 'service %s {\n listen = { "127.0.0.1:0" }\n exec = { "%s" }\n}\n' \
		    "$s" "$T/$s.sh"
	done | config
	portier_start_for_rss
	baseline
	# The same load twice, side by side: first while the handlers work,
	# for what 1,500 handlers cost portierd on this machine now.
	exec_storm working
	local working=$STORM_TICKS
	for s in gone noexec noshebang; do
		output=$(cat "$T/$s.working")
		assert_equal "$(field eof "$output")" 500
		assert_equal "$(field bytes "$output")" 1500
		assert_equal "$(field errors "$output")" 0
	done
	wait_log 'event=end service=.* status=exit:0 ' 1500
	# The checks at start-up passed; now the handlers break.
	rm "$T/gone.sh"
	chmod -x "$T/noexec.sh"
	printf 'echo no shebang\n' >"$T/noshebang.sh"
	exec_storm failing
	local failing=$STORM_TICKS
	# Every client is closed, unanswered, by the failure itself, not by a
	# timer: nine in ten at least as soon as the slowest client of the
	# working handlers was.
	local slowest
	for s in gone noexec noshebang; do
		slowest=$(field max_ms "$(cat "$T/$s.working")")
		output=$(cat "$T/$s.failing")
		assert_equal "$(field eof "$output")" 500
		assert_equal "$(field bytes "$output")" 0
		assert_equal "$(field errors "$output")" 0
		(( $(field p90_ms "$output") <= slowest )) ||
			fail "$s: a tenth of the clients waited over $slowest ms"
	done
	assert_equal "$(log_count 'event=end service=.* status=exec-failed ')" 1500
	# A failed exec costs portierd what a handler that runs does (a
	# start, a reap, a line or two): not twice as much.  Both runs are
	# measured on the same machine, with the same load, one after the
	# other, so its speed and what else runs on it weigh on both alike.
	echo "portierd used $working ticks for 1,500 handlers, $failing for 1,500 exec failures"
	(( failing <= 2 * working + 10 )) ||
		fail "exec failures cost $failing ticks, working handlers $working"
	run ctl status
	assert_line "exec_failures  1500"
	run ctl status json
	[[ $output == *'"exec_failures": 1500,'* ]] || fail "$output"
	settled 2 8192
	# One line a second per cause, with the reason; after a second's
	# pause, the next one tells how many were held back.
	sleep 1.1
	for s in gone noexec noshebang; do
		run tcp "$(port $s)" </dev/null
		assert_output ""
	done
	wait_log 'event=exec-failed .* suppressed=[0-9]+$' 3
	local why gap
	for s in "gone:No such file or directory" "noexec:Permission denied" \
	    "noshebang:Exec format error"; do
		why=${s#*:} s=${s%%:*}
		assert_equal "$(log_count "event=exec-failed service=$s .* path=\"$T/$s.sh\" error=\"exec: $why\"")" \
		    "$(log_count "event=exec-failed service=$s ")"
		run "$PTEST" log-rate "$LOG" "event=exec-failed service=$s "
		assert_equal "$(field events "$output")" 501
		# Failing for over 2.5 s, then once more: 4 lines, 3 at least.
		(( $(field lines "$output") >= 3 )) ||
			fail "$s: too few lines to tell a rate"
		# portierd's own stamps, which a slower machine only spreads.
		for gap in $(log_gaps "event=exec-failed service=$s "); do
			(( gap >= 990 )) || fail "$s: two lines $gap ms apart"
		done
	done
	run ctl status
	assert_line "exec_failures  1503"
	settled 2 8192
}

@test "hostile control: pause defers new clients while 20 live echo connections go on" {
	config <<-'EOF2'
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF2
	portier_start_for_rss
	baseline
	local p=$(port echo) i fds=() fd late
	for (( i = 0; i < 20; i++ )); do
		client_open "$p"
		fds+=("$CLIENT")
		echo "hello $i" >&$CLIENT
		client_read "$CLIENT"
		assert_equal "$REPLY" "hello $i"
	done
	run ctl pause echo
	assert_success
	# As portierctl(8) says, a new client waits in the listen queue.
	client_open "$p"
	late=$CLIENT
	echo "waiting" >&$late
	! client_read "$late" 1 || fail "a client was served while paused: $REPLY"
	for (( i = 0; i < 20; i++ )); do
		fd=${fds[i]}
		echo "still $i" >&$fd
		client_read "$fd"
		assert_equal "$REPLY" "still $i"
	done
	run ctl resume echo
	assert_success
	# Resumed, the client that waited is served, and a new one too.
	client_read "$late"
	assert_equal "$REPLY" "waiting"
	client_open "$p"
	echo "new" >&$CLIENT
	client_read "$CLIENT"
	assert_equal "$REPLY" "new"
	exec {CLIENT}>&- {late}>&-
	for fd in "${fds[@]}"; do exec {fd}>&-; done
	settled 2 8192
}

@test "hostile accept: a flood of connect-and-reset against exec and built-in services leaves a probe served" {
	config <<-'EOF2'
	service cat {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	}
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service probe {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF2
	portier_start_for_rss
	baseline
	timeout 50 "$PTEST" reset "$(port cat)" -n 1000 -c 4 --half-silent \
	    >"$T/rst-cat" &
	BG_PIDS+=($!)
	timeout 50 "$PTEST" reset "$(port echo)" -n 3000 -c 4 --half-silent \
	    >"$T/rst-echo" &
	BG_PIDS+=($!)
	run timeout 50 "$PTEST" echo "$(port probe)" -n 300
	assert_success
	echo "probe: $output"
	assert_output "ok=300"
	local pid
	for pid in "${BG_PIDS[@]}"; do wait "$pid"; done
	BG_PIDS=()
	cat "$T/rst-cat" "$T/rst-echo"
	assert_equal "$(field reset "$(cat "$T/rst-cat")")" 1000
	assert_equal "$(field reset "$(cat "$T/rst-echo")")" 3000
	wait_log "event=end service=cat " 1000 20
	wait_log "event=end service=echo " 3000 20
	settled 2 8192
	run tcp "$(port cat)" <<<"after the resets"
	assert_output "after the resets"
}

@test "hostile accept: out of descriptors under a flood to an exec service, portierd backs off and serves on" {
	# Each handler lives 0.1 s, holding its stderr pipe: with 32
	# descriptors, fewer than 20 fit at once, and 100 clients want more.
	config <<-'EOF2'
	service hi {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "sleep 0.1; echo hi" }
	}
	service probe {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF2
	PORTIER_WRAP="prlimit --nofile=32:32 --" portier_start_for_rss
	baseline
	local start=$(date +%s%N)
	# 400, not more: out of descriptors the daemon serves some 40 a
	# second, as each spawn error pauses accepting for 250 ms (CI time).
	"$PLOAD" conn 127.0.0.1 "$(port hi)" -n 400 -c 100 -t 20 \
	    >"$T/flood" 2>&1 &
	BG_PIDS+=($!)
	run timeout 50 "$PTEST" echo "$(port probe)" -n 50
	assert_success
	echo "probe: $output"
	assert_output "ok=50"
	wait "${BG_PIDS[0]}" || true
	BG_PIDS=()
	local out=$(cat "$T/flood")
	echo "$out"
	local ms=$(( ($(date +%s%N) - start) / 1000000 ))
	# Every client was served, or closed unserved when no handler could
	# be made; none hung and none was refused.
	(( $(field ok "$out") + $(field short "$out") + $(field reset "$out") == 400 )) ||
		fail "not every client was answered"
	(( $(field ok "$out") > 0 )) || fail "nobody was served"
	wait_log 'event=spawn-error service=hi .* error="Too many open files"'
	# A spawn error pauses accepting for 250 ms: at most 4 a second of
	# the test's own run.
	local errors=$(log_count 'event=spawn-error')
	(( errors <= ms / 250 + 4 )) || fail "$errors spawn errors in $ms ms"
	wait_log "event=end service=hi " 400 20
	settled 2 8192
	run tcp "$(port hi)" </dev/null
	assert_output hi
}

@test "hostile admit: 300 denied clients write a refuse line a second, and every refusal is counted" {
	config <<-'EOF2'
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    deny = { "127.0.0.1" }
	    max_per_source = 0
	}
	service b {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    deny = { "127.0.0.1" }
	}
	EOF2
	portier_start_for_rss
	baseline
	# One deny of a, then, within its second, a refusal of a for another
	# reason and a deny of b; then 299 more denies of a.  Each client
	# waits for its close, so every refusal is counted when this ends.
	local start=$(date +%s%N)
	{
		echo "refused 127.0.0.1 127.0.0.2"
		echo "port $(port b)"
		echo "refused 127.0.0.1"
		echo "port $(port a)"
		echo "refused $(printf '127.0.0.1 %.0s' {1..299})"
	} >"$T/cmds"
	run timeout 50 "$PTEST" sources "$(port a)" <"$T/cmds"
	local ms=$(( ($(date +%s%N) - start) / 1000000 ))
	assert_success
	assert_output "served=0 refused=302"
	assert_equal "$(refusals a deny)" 300
	assert_equal "$(refusals a max_per_source)" 1
	assert_equal "$(refusals b deny)" 1
	# A line a second at most: in a run of ms milliseconds, 1 + ms / 1000.
	local lines=$(log_count 'event=refuse service=a .*reason=deny')
	echo "$lines deny lines in $ms ms"
	(( lines <= 1 + ms / 1000 )) || fail "$lines deny lines in $ms ms"
	# The other reason and the other service have lines of their own.
	assert_equal "$(log_count 'event=refuse service=a remote=127.0.0.2:[0-9]+ reason=max_per_source$')" 1
	assert_equal "$(log_count 'event=refuse service=b remote=127.0.0.1:[0-9]+ reason=deny$')" 1
	# After a quiet second the next deny is logged, with the ones held
	# back: the lines then account for every refusal.
	sleep 1.1
	run timeout 5 socat -u "TCP4:127.0.0.1:$(port a),bind=127.0.0.1" -
	wait_log 'event=refuse service=a .*reason=deny' $(( lines + 1 ))
	assert_equal "$(refusals a deny)" 301
	run "$PTEST" log-rate "$LOG" 'event=refuse service=a .*reason=deny'
	assert_equal "$(field events "$output")" 301
	settled 2 8192
}

# A service "busy" at max_connections = 1 that refuses with a message,
# and an echo built-in beside it.
busy_and_echo() {
	config <<-'EOF'
	service busy {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in; read x" }
	    max_connections = 1
	    on_limit = "refuse"
	    busy_message = "busy, try later"
	}
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
}

@test "hostile admit: 200 refused clients that send and never close hold at most 64 descriptors, for a bounded time, while portierd serves on" {
	busy_and_echo
	portier_start
	from 127.0.0.1 "$(port busy)"
	assert_equal "$REPLY" in
	baseline
	# Each sends 1 KB, reads the message and its EOF, and holds on.
	bg held timeout 60 "$PTEST" refused "$(port busy)" -n 200 --send 1024 \
	    --want 'busy, try later\n' --hold 50
	local held=$! fds
	wait_until -t 30 grep -q '^n=' "$T/held" || fail "$(cat "$T/held")"
	# The newest 64 are sure to have the whole message; an older one may
	# be cut short, when a newer refusal closed it at once.
	cat "$T/held"
	(( $(field told "$(cat "$T/held")") >= 64 )) || fail "too few told"
	fds=$(fd_count)
	(( fds <= BASE_FDS + 64 )) ||
		fail "portierd holds $fds descriptors, $BASE_FDS before"
	# One refused now, with the closings perhaps all taken, still gets the
	# whole message, though it sends 200 KB first.
	run timeout 30 "$PTEST" refused "$(port busy)" --send 200000 \
	    --want 'busy, try later\n'
	assert_output --regexp '^n=1 told=1 eof=1 cut=0 '
	echo_ok "$(port echo)"
	# portierd ends the closings by itself while their clients hold on.
	wait_fds "$BASE_FDS" 10
	kill -0 "$held" || fail "the clients stopped holding on"
	hostile_after "$(port echo)" "$BASE_FDS"
	assert_equal "$(refusals busy max_connections)" 201
}

@test "hostile admit: a refused client that sends without end is cut off by the time bound, and portierd keeps none of its 50 MB" {
	busy_and_echo
	portier_start_for_rss
	from 127.0.0.1 "$(port busy)"
	assert_equal "$REPLY" in
	baseline
	# Each client sends until portierd closes on it, which it must do
	# before the client's own 30 s run out: cut=1.
	local i sent=0 rss
	for i in $(seq 20); do
		run timeout 60 "$PTEST" refused "$(port busy)" --forever \
		    --want 'busy, try later\n' --seconds 30
		assert_success
		echo "$output"
		assert_output --regexp '^n=1 told=1 eof=1 cut=1 '
		sent=$(( sent + $(field sent "$output") ))
		(( sent < 50000000 )) || break
	done
	(( sent >= 50000000 )) || fail "only $sent bytes sent by $i clients"
	hostile_after "$(port echo)" "$BASE_FDS"
	rss=$(rss_kib)
	(( rss - BASE_RSS <= 8192 )) ||
		fail "RSS grew from $BASE_RSS KiB to $rss KiB after $sent bytes"
}

# The sum of the freed= fields of service $1's sweep lines.
swept_total() {
	grep "event=sweep service=$1 " "$LOG" |
	    sed -n 's/.* freed=\([0-9]*\) .*/\1/p' | awk '{ n += $1 } END { print n + 0 }'
}

@test "hostile admit: 5,000 sources chosen to share a chain of the old unkeyed hash are served, counted, and spread" {
	config <<-'EOF2'
	service src {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    source_prefix4 = 32
	    max_per_source = 1
	}
	EOF2
	portier_start_for_rss -v
	baseline
	# 127.x.y.z with the FNV-1a of the 16-byte source key, as the table
	# hashed it before it had a key, in its bucket 0 of 1024.
	echo "twice $("$PTEST" fnv-sources 5000)" >"$T/cmds"
	assert_equal "$(wc -w <"$T/cmds")" 5001
	# From each, one served and a second refused for max_per_source.
	run timeout 100 "$PTEST" sources "$(port src)" <"$T/cmds"
	assert_success
	assert_output "served=5000 refused=5000"
	ctl -j services | json 's["accepted"] == 5000 and s["refused"] == 5000 and s["refusals"]["max_per_source"] == 5000 and s["refusals"]["sources_full"] == 0'
	assert_equal "$(log_count 'event=serve service=src ')" 5000
	# The sweep, every 10 s, frees them all; on the way its longest
	# chain stays short: with the key they spread over the buckets.
	wait_log "event=sweep service=src .* sources=0/65536 " 1 15
	grep "event=sweep service=src " "$LOG"
	assert_equal "$(swept_total src)" 5000
	local longest=$(sed -n 's/.*event=sweep service=src .* chain_max=\([0-9]*\)$/\1/p' "$LOG" | sort -n | tail -n 1)
	(( longest <= 16 )) || fail "a chain of $longest sources"
	settled 2 8192
}

@test "hostile admit: beyond max_sources new sources are refused as sources_full while known ones are served" {
	config <<-'EOF2'
	service cap {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    source_prefix4 = 32
	    max_per_source = 2
	    max_sources = 100
	}
	EOF2
	portier_start_for_rss -v
	baseline
	local known=$(for i in $(seq 1 100); do printf '127.1.0.%d ' "$i"; done)
	local new=$(for i in $(seq 1 300); do printf '127.2.%d.%d ' $(( i / 200 )) $(( i % 200 + 1 )); done)
	# 100 sources live; 300 new ones find no room; each known source is
	# served a second connection, and refused a third by max_per_source.
	{
		echo "hold $known"
		echo "refused $new"
		echo "hold $known"
		echo "refused 127.1.0.1"
	} >"$T/cmds"
	local start=$(date +%s%N)
	run timeout 100 "$PTEST" sources "$(port cap)" <"$T/cmds"
	local ms=$(( ($(date +%s%N) - start) / 1000000 ))
	assert_success
	assert_output "served=200 refused=301"
	ctl -j services | json 's["accepted"] == 200 and s["refusals"]["sources_full"] == 300 and s["refusals"]["max_per_source"] == 1'
	wait_log "event=refuse service=cap remote=127.2.0.2:[0-9]+ reason=sources_full$"
	local lines=$(log_count 'event=refuse service=cap .*reason=sources_full')
	(( lines <= 1 + ms / 1000 )) || fail "$lines sources_full lines in $ms ms"
	# The client is gone: the sweep, every 10 s, frees the 100 sources,
	# and only them: the 300 refused ones were never kept.
	wait_idle
	wait_log "event=sweep service=cap .* sources=0/100 " 1 15
	grep "event=sweep service=cap " "$LOG"
	assert_equal "$(swept_total cap)" 100
	# New sources are served again.
	echo "hold 127.3.0.1 127.3.0.2" >"$T/cmds"
	run timeout 100 "$PTEST" sources "$(port cap)" <"$T/cmds"
	assert_output "served=2 refused=0"
	settled 2 8192
}

@test "hostile admit: a new source finding max_sources idle ones has them swept at once and is served" {
	config <<-'EOF2'
	service cap {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    source_prefix4 = 32
	    max_per_source = 1
	    max_sources = 10
	}
	EOF2
	portier_start_for_rss -v
	baseline
	echo "hold $(for i in $(seq 1 10); do printf '127.1.0.%d ' "$i"; done)" >"$T/cmds"
	echo close >>"$T/cmds"
	run timeout 100 "$PTEST" sources "$(port cap)" <"$T/cmds"
	assert_output "served=10 refused=0"
	wait_idle
	# The table is full of sources with nothing live: the next one
	# sweeps it, long before the periodic sweep.
	echo "hold 127.2.0.1" >"$T/cmds"
	run timeout 100 "$PTEST" sources "$(port cap)" <"$T/cmds"
	assert_output "served=1 refused=0"
	wait_log "event=sweep service=cap freed=10 sources=0/10 "
	assert_equal "$(refusals cap sources_full)" 0
	settled 2 8192
}
