#!/usr/bin/env bats
# Built-in services inside portierd: echo, rot13, discard, chargen, daytime,
# time; the line and stream filters; banner; idle_timeout and timeout;
# backpressure, half-close, resets and graceful close.

load helpers

# Send stdin to port $1, half-close, and print all that comes back.
exchange() {
	timeout 20 socat -t 10 - "TCP4:127.0.0.1:$1"
}

@test "builtin: echo sends bytes back as they come, without waiting for a line" {
	builtin_service echo echo
	portier_start
	client_open "$(port echo)"
	printf 'partial' >&$CLIENT
	IFS= read -r -t 5 -N 7 -u $CLIENT REPLY
	assert_equal "$REPLY" partial
	exec {CLIENT}<&-
	wait_log "event=end service=echo conn=1 builtin=echo in=7 out=7 status=eof "
}

@test "builtin: echo returns every byte after a half-close" {
	builtin_service echo echo
	portier_start
	head -c 10485760 /dev/urandom >"$T/in"
	exchange "$(port echo)" <"$T/in" >"$T/out"
	assert_equal "$(sha256sum <"$T/out")" "$(sha256sum <"$T/in")"
	wait_log "event=end service=echo .* in=10485760 out=10485760 status=eof "
}

@test "builtin: discard reads everything and closes at the client's EOF" {
	builtin_service sink discard
	portier_start
	run bash -c "head -c 1048576 /dev/zero | timeout 10 socat -t 10 - TCP4:127.0.0.1:$(port sink)"
	assert_success
	assert_output ""
	wait_log "event=end service=sink .* in=1048576 out=0 status=eof "
}

@test "builtin: chargen sends the RFC 864 pattern" {
	builtin_service chargen chargen
	portier_start
	run "$PTEST" chargen "$(port chargen)" 100000
	assert_output "read=100000 correct=100000"
	# The first line, byte for byte.
	run bash -c "timeout 5 socat -u TCP4:127.0.0.1:$(port chargen) - 2>/dev/null | head -n 1"
	assert_output "$(printf ' !"#$%%&'\''()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r')"
}

@test "builtin: chargen goes on after the client stops sending" {
	builtin_service chargen chargen
	portier_start
	run bash -c "timeout 5 socat -t 5 - TCP4:127.0.0.1:$(port chargen) </dev/null 2>/dev/null | head -c 100000 | wc -c"
	assert_output 100000
}

@test "builtin: chargen waits for a client that does not read, then serves it" {
	builtin_service chargen chargen
	portier_start
	run "$PTEST" stall "$(port chargen)" 2
	assert_output "read=1048576 correct=1048576"
}

@test "builtin: daytime sends one RFC 867 line, then closes" {
	builtin_service daytime daytime
	portier_start
	exchange "$(port daytime)" </dev/null >"$T/out"
	run cat "$T/out"
	assert_output --regexp '^[A-Z][a-z]+day, [A-Z][a-z]+ [0-9]{2}, [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}-[A-Za-z0-9+-]+'$'\r''$'
	[ "$(wc -l <"$T/out")" -eq 1 ]
	[ "$(wc -c <"$T/out")" -le 64 ]
	wait_log "event=end service=daytime .*status=done "
}

@test "builtin: time sends 4 bytes of seconds since 1900, then closes" {
	builtin_service time time
	portier_start
	exchange "$(port time)" </dev/null >"$T/out"
	[ "$(wc -c <"$T/out")" -eq 4 ]
	local b=($(od -An -tu1 "$T/out"))
	local got=$(( (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3] ))
	local want=$(( ($(date +%s) + 2208988800) % 4294967296 ))
	(( got >= want - 2 && got <= want + 2 )) || fail "time $got, now $want"
}

@test "builtin: daytime and time close even if the client never reads or closes" {
	config <<-'EOF'
	service daytime {
	    listen = { "127.0.0.1:0" }
	    builtin = "daytime"
	}
	service time {
	    listen = { "127.0.0.1:0" }
	    builtin = "time"
	}
	EOF
	portier_start
	local a b
	client_open "$(port daytime)"; a=$CLIENT
	client_open "$(port time)"; b=$CLIENT
	# Everything was sent at once; the wait for the client's close is
	# bounded by kill_grace (1 s here).
	wait_log "event=end service=daytime .*status=done " 1 5
	wait_log "event=end service=time .*status=done " 1 5
	! grep -q unflushed "$LOG"
	exec {a}<&- {b}<&-
}

@test "builtin: rot13 answers each line rot13'd, keeping its terminator" {
	builtin_service rot13 rot13
	portier_start
	printf 'Hello, World!\nuryyb\r\n' | exchange "$(port rot13)" >"$T/out"
	assert_equal "$(od -An -c "$T/out")" "$(printf 'Uryyb, Jbeyq!\nhello\r\n' | od -An -c)"
}

@test "builtin: rot13 answers a last line that has no terminator" {
	builtin_service rot13 rot13
	portier_start
	printf 'abc\nxyz' | exchange "$(port rot13)" >"$T/out"
	assert_equal "$(od -An -c "$T/out")" "$(printf 'nop\nklm' | od -An -c)"
}

@test "builtin: with line_terminator CRLF, a bare LF is part of the line" {
	builtin_service rot13 rot13 'line_terminator = "\r\n"' 'max_line = 8'
	portier_start
	client_open "$(port rot13)"
	printf 'a\nb' >&$CLIENT
	! client_read $CLIENT 0.5 || fail "answered before CRLF: $REPLY"
	printf '\r\n' >&$CLIENT
	IFS= read -r -t 5 -N 5 -u $CLIENT REPLY
	assert_equal "$(printf '%s' "$REPLY" | od -An -c)" "$(printf 'n\no\r\n' | od -An -c)"
	exec {CLIENT}<&-
}

@test "builtin: a line longer than max_line gets an error line and a close" {
	builtin_service rot13 rot13 'max_line = 16'
	portier_start
	# Exactly max_line is served.
	printf '%s\n' 0123456789abcdef | exchange "$(port rot13)" >"$T/out"
	assert_equal "$(cat "$T/out")" 0123456789nopqrs
	head -c 100000 /dev/zero | tr '\0' a | exchange "$(port rot13)" >"$T/out"
	assert_equal "$(cat "$T/out")" "error: line longer than 16 bytes"
	wait_log "event=line-too-long service=rot13 conn=2 max_line=16$"
	wait_log "event=end service=rot13 conn=2 .*status=line-too-long "
}

@test "builtin: with CRLF, a last line one byte over max_line is refused at EOF" {
	# Found by fuzz_line: only a CR waiting for its LF may pass max_line.
	builtin_service rot13 rot13 'line_terminator = "\r\n"' 'max_line = 5'
	portier_start
	printf 'abcde' | exchange "$(port rot13)" >"$T/out"
	assert_equal "$(cat "$T/out")" nopqr
	printf 'abcdef' | exchange "$(port rot13)" >"$T/out"
	assert_equal "$(od -An -c <"$T/out")" \
	    "$(printf 'error: line longer than 5 bytes\r\n' | od -An -c)"
	wait_log "event=end service=rot13 conn=2 .*status=line-too-long "
}

@test "builtin: echo with the line filter sends back whole lines only" {
	builtin_service echo echo 'filter = "line"'
	portier_start
	client_open "$(port echo)"
	printf 'abc' >&$CLIENT
	! client_read $CLIENT 0.5 || fail "answered before the line ended: $REPLY"
	printf 'def\n' >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" abcdef
	exec {CLIENT}<&-
}

@test "builtin: a banner comes first, for a built-in and for an exec handler" {
	config <<-'EOF'
	service rot13 {
	    listen = { "127.0.0.1:0" }
	    builtin = "rot13"
	    banner = "Smile from the server!"
	}
	service cat {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	    banner = "cat here"
	    line_terminator = "\r\n"
	}
	EOF
	portier_start
	printf 'Hello\n' | exchange "$(port rot13)" >"$T/out"
	assert_equal "$(od -An -c "$T/out")" "$(printf 'Smile from the server!\nUryyb\n' | od -An -c)"
	printf 'meow\n' | exchange "$(port cat)" >"$T/out"
	assert_equal "$(od -An -c "$T/out")" "$(printf 'cat here\r\nmeow\n' | od -An -c)"
}

# What portierd does first with a connection to service $1 that has sent
# "ping" by the time it is accepted (queued while the service is paused):
# "read" if it reads the socket at once, "wait" if it goes back to
# epoll_wait first.  $2 is how many lines come before the echo (a banner).
first_after_accept() {
	local tracer i
	ctl pause "$1" >/dev/null
	strace -qq -e trace=accept4,recvfrom,read,epoll_wait,epoll_pwait \
	    -o "$T/$1.strace" -p "$PORTIER_PID" 2>"$T/strace.err" &
	tracer=$!
	BG_PIDS+=("$tracer")
	wait_until -t 10 traced "$PORTIER_PID" || fail "strace did not attach: $(cat "$T/strace.err")"
	client_open "$(port "$1")"
	printf 'ping\n' >&$CLIENT
	ctl resume "$1" >/dev/null
	for (( i = 0; i <= ${2:-0}; i++ )); do
		client_read $CLIENT 10 || fail "no reply from $1"
	done
	assert_equal "$REPLY" ping
	exec {CLIENT}<&-
	wait_log "event=end service=$1 "
	kill "$tracer"
	wait "$tracer" || true
	awk '/^accept4\(.*AF_INET.* = [0-9]+$/ && fd == "" { fd = $NF; next }
	    fd != "" && ($0 ~ "^(recvfrom|read)\\(" fd ",") { print "read"; exit }
	    fd != "" && /^epoll_p?wait\(/ { print "wait"; exit }' "$T/$1.strace"
}

@test "builtin: a request already in when its connection is accepted is read at once, not a turn of the loop later; one sent after a banner is waited for" {
	command -v strace >/dev/null || skip "no strace"
	config <<-'EOF'
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service greet {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    banner = "hello"
	}
	EOF
	portier_start
	run first_after_accept echo
	assert_output read
	# The client of a banner waits for it before it speaks: a read at
	# once would mostly find nothing.
	run first_after_accept greet 1
	assert_output wait
}

# The number of the first log line matching the extended regex $1.
log_line_no() {
	grep -nE -m1 -- "$1" "$LOG" | cut -d: -f1
}

@test "builtin: what a client did before it was accepted is logged after its serve line: an EOF, a reset, a line too long" {
	config <<-'EOF'
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service rot13 {
	    listen = { "127.0.0.1:0" }
	    builtin = "rot13"
	    max_line = 8
	}
	EOF
	portier_start
	ctl pause echo >/dev/null
	ctl pause rot13 >/dev/null
	# Queued while paused: the first read after the accept meets them.
	exec {a}<>"/dev/tcp/127.0.0.1/$(port echo)"
	exec {a}<&-
	"$PTEST" reset "$(port echo)"
	client_open "$(port rot13)"
	printf 'much too long\n' >&$CLIENT
	ctl resume echo >/dev/null
	ctl resume rot13 >/dev/null
	wait_log "event=end service=echo conn=2 "
	wait_log "event=end service=rot13 conn=3 .*status=line-too-long "
	exec {CLIENT}<&-
	grep -qE "event=end service=echo conn=1 builtin=echo in=0 out=0 status=eof " "$LOG" ||
	    fail "$(grep 'conn=1 ' "$LOG")"
	local c what serve
	for c in 'echo conn=1' 'echo conn=2' 'rot13 conn=3'; do
		serve=$(log_line_no "event=serve service=$c ")
		[ -n "$serve" ] || fail "no serve line for $c"
		for what in end line-too-long; do
			[ "$what" = end ] || [ "${c%% *}" = rot13 ] || continue
			(( serve < $(log_line_no "event=$what service=$c ") )) ||
			    fail "event=$what before event=serve for $c: $(grep "$c " "$LOG")"
		done
		[ "$(log_count "event=end service=$c ")" -eq 1 ]
	done
}

@test "builtin: a client gone before its banner ends as an error, with no handler started" {
	config <<-'EOF'
	service cat {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	    banner = "cat here"
	}
	EOF
	portier_start
	ctl pause cat
	# Connected while paused, then reset: accepted once resumed, the
	# banner's send fails.
	"$PTEST" reset "$(port cat)"
	ctl resume cat
	wait_log "event=end service=cat conn=1 status=error "
	refute grep -q "event=spawn" "$LOG"
	run ctl services json
	assert_output --partial '"refused": 1'
}

@test "builtin: idle_timeout closes a silent connection" {
	builtin_service echo echo 'idle_timeout = 1'
	portier_start
	client_open "$(port echo)"
	! client_read $CLIENT 5 || fail "got data: $REPLY"
	wait_log "event=end service=echo conn=1 .*status=idle "
	local d=$(sed -n 's/.*event=end service=echo conn=1 .*duration=\([0-9.]*\) .*/\1/p' "$LOG")
	awk -v d="$d" 'BEGIN { exit !(d >= 1.0) }' || fail "closed after $d s"
	exec {CLIENT}<&-
}

@test "builtin: traffic keeps idle_timeout away, and timeout ends it anyway" {
	builtin_service echo echo 'idle_timeout = 1' 'timeout = 3'
	portier_start
	client_open "$(port echo)"
	local i
	for (( i = 0; i < 30; i++ )); do
		printf 'x' >&$CLIENT 2>/dev/null || break
		IFS= read -r -t 2 -N 1 -u $CLIENT REPLY || break
		sleep 0.3
	done
	wait_log "event=end service=echo conn=1 .*status=timeout "
	local d=$(sed -n 's/.*event=end service=echo conn=1 .*duration=\([0-9.]*\) .*/\1/p' "$LOG")
	awk -v d="$d" 'BEGIN { exit !(d >= 3.0) }' || fail "closed after $d s"
	! grep -q "status=idle" "$LOG"
	exec {CLIENT}<&-
}

@test "builtin: a client that sends without reading cannot grow portierd's memory" {
	builtin_service echo echo
	portier_start_for_rss
	# Another client is echoed every 0.5 s meanwhile, or it fails.
	run "$PTEST" send "$(port echo)" --seconds 10 --pid "$PORTIER_PID" \
	    --probe
	assert_success
	echo "$output"
	local sent before after stalled
	sent=$(field sent "$output")
	stalled=$(field stalled "$output")
	before=$(field rss_before "$output")
	after=$(field rss_after "$output")
	assert_equal "$stalled" 1
	(( sent < 64 * 1048576 )) || fail "sent $sent bytes: no backpressure"
	(( after - before < 1024 )) || fail "RSS grew by $(( after - before )) KiB"
}

@test "builtin: a reset ends that connection alone, logged once with the reason" {
	builtin_service echo echo
	portier_start
	client_open "$(port echo)"
	run "$PTEST" reset "$(port echo)"
	assert_output "n=1 reset=1 errors=0"
	wait_log "event=end service=echo conn=2 .*status=(error|eof) "
	[ "$(log_count 'event=end service=echo conn=2 ')" -eq 1 ]
	echo still-here >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" still-here
	exec {CLIENT}<&-
}

@test "builtin: 10,000 idle connections at once, each gets its echo" {
	builtin_service echo echo
	portier_start
	local nofile=$(sed -n 's/.*event=start .*nofile=\([0-9]*\)$/\1/p' "$LOG")
	(( nofile > 10100 )) || fail "portierd got only $nofile descriptors"
	run timeout 60 "$PTEST" hold "$(port echo)" 10000 --echo
	assert_output "held=10000 echoed=10000"
	wait_log "event=end service=echo .*active=0/-1$" 1 30
}

@test "builtin: shutdown lets a built-in connection finish, then flushes and closes it" {
	config <<-'EOF'
	shutdown_timeout = 1
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	portier_start
	client_open "$(port echo)"
	echo before >&$CLIENT
	client_read $CLIENT
	kill -TERM "$PORTIER_PID"
	wait_log "event=shutdown stage=drain active=1"
	echo during >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" during
	# At the term stage the connection is closed: the client sees EOF.
	! client_read $CLIENT 10
	exec {CLIENT}<&-
	portier_wait_exit 10
	assert_equal "$PORTIER_STATUS" 0
	grep -q "event=end service=echo conn=1 .*status=shutdown " "$LOG"
}

@test "builtin: max_connections holds built-ins too" {
	builtin_service echo echo 'max_connections = 1'
	portier_start
	local a b
	client_open "$(port echo)"; a=$CLIENT
	echo one >&$a
	client_read $a
	client_open "$(port echo)"; b=$CLIENT
	echo two >&$b
	! client_read $b 1 || fail "served beyond the limit: $REPLY"
	exec {a}<&-
	client_read $b
	assert_equal "$REPLY" two
	exec {b}<&-
}

@test "builtin: shutdown flushes what a built-in owes before it closes" {
	config <<-'EOF'
	shutdown_timeout = 0
	kill_grace = 10
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	portier_start
	client_open "$(port echo)"
	# Send more than can be echoed while nobody reads, so output is
	# pending when shutdown comes.
	head -c 4194304 /dev/zero >&$CLIENT 2>/dev/null &
	local writer=$!
	wait_log "event=serve service=echo"
	sleep 0.5	# let the buffers fill: this is the scenario, not a wait
	kill -TERM "$PORTIER_PID"
	wait_log "event=shutdown stage=term"
	timeout 10 cat <&$CLIENT >"$T/out" || true
	exec {CLIENT}<&-
	kill "$writer" 2>/dev/null || true
	wait "$writer" 2>/dev/null || true
	portier_wait_exit 15
	assert_equal "$PORTIER_STATUS" 0
	local line=$(grep 'event=end service=echo conn=1 ' "$LOG")
	[[ $line == *" status=shutdown "* ]] || fail "$line"
	local in=$(sed -n 's/.* in=\([0-9]*\) .*/\1/p' <<<"$line")
	local out=$(sed -n 's/.* out=\([0-9]*\) .*/\1/p' <<<"$line")
	(( in > 0 )) || fail "nothing was read: $line"
	assert_equal "$out" "$in"
	assert_equal "$(wc -c <"$T/out")" "$out"
}

@test "builtin: a close that cannot flush gives up after kill_grace" {
	config <<-'EOF'
	shutdown_timeout = 0
	kill_grace = 1
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    send_buffer = "16k"
	    receive_buffer = "16k"
	}
	EOF
	portier_start
	# The client sends until TCP stops it, never reads, and stays: what
	# echo owes it can never be sent.  Every buffer on the way is fixed,
	# so none grows later to take what echo owes.
	"$PTEST" send "$(port echo)" --bufsize 16384 --seconds 10 --hold 20 >"$T/flood" &
	local flooder=$!
	wait_until -t 10 grep -q stalled=1 "$T/flood" || fail "the flood never stalled: $(cat "$T/flood")"
	owes() {
		ctl -j connections |
			json "d['connections'][0]['bytes_in'] > d['connections'][0]['bytes_out']"
	}
	wait_until -t 5 owes || fail "echo owes nothing: $(ctl connections)"
	kill -TERM "$PORTIER_PID"
	portier_wait_exit 5
	assert_equal "$PORTIER_STATUS" 0
	kill "$flooder" 2>/dev/null || true
	wait "$flooder" 2>/dev/null || true
	run grep 'event=end service=echo conn=1 ' "$LOG"
	[[ $output == *"status=shutdown,unflushed "* || $output == *'reason="forced by shutdown"'* ]] ||
		fail "ended as if flushed: $output"
}
