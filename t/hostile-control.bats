#!/usr/bin/env bats
# Hostile tests of the control socket and portierctl (CTL-01, -02, -04,
# -05 of HOSTILE-TESTS.md): its mode from the first instant, other users,
# malformed and oversize requests, junk and half-open clients, hostile
# paths, and the client's exits.  Each ends by checking that portierd still
# serves, holds no more descriptors than before and left no zombie.

load helpers
load hostile

# Every test of the file gets the time of the longest (100 start-ups
# racing a link swapper: 40 s in the sanitizer build on an idle 2-core
# machine, over 60 s beside two busy loops): bats starts a test's watchdog
# before its body runs, so a limit set in the body would change nothing.
BATS_TEST_TIMEOUT=300


teardown() {
	portier_teardown_then_background
}

# A built-in echo and an exec service that answers "in" and waits.
echo_and_gated() {
	config <<-EOF
	$*
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service gated {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in; read x" }
	}
	EOF
}

# The services' limits and states, one "NAME LIMIT STATE" line each.
limits_and_states() {
	ctl -j services | json '[(s["name"], s["max_connections"], s["state"], s["active"]) for s in d["services"]]'
}

@test "hostile control: the control socket is never wider than 0600, or 0660 with control_group, in 100 start-ups" {
	need_root_nogroup
	# A second process stats both paths as fast as it can, for as long as
	# the file $T/polling exists, and counts every mode it saw.
	touch "$T/polling"
	"$PTEST" poll-modes "$T/polling" plain="$T/ctl.sock" group="$T/ctlg.sock" \
	    >"$T/modes" &
	local poller=$! i
	for (( i = 0; i < 100; i++ )); do
		if (( i % 2 )); then
			echo_and_gated 'control_group = "nogroup"'
			portier_start -S "$T/ctlg.sock"
		else
			echo_and_gated
			portier_start
		fi
		portier_stop 10
		[ "$PORTIER_STATUS" = 0 ] || fail "cycle $i: exit $PORTIER_STATUS"
	done
	rm "$T/polling"
	wait "$poller"
	cat "$T/modes"
	# Every sighting was a socket of the configured mode, and there were
	# sightings of both kinds.
	run grep -vE '^(plain:600|group:(600|660)):sock [0-9]+$' "$T/modes"
	assert_output ""
	grep -q '^plain:600:sock' "$T/modes"
	grep -q '^group:660:sock' "$T/modes"
	PORTIER_PID=
}

# A root-owned 0600 file in the test's directory for links to point at.
make_target() {
	echo precious >"$T/target"
	chmod 600 "$T/target"
}

# The target is as made: root's, 0600, its text unchanged; $1 says when.
target_intact() {
	local got
	got="$(stat -c '%U:%G %a' "$T/target") $(cat "$T/target")"
	[ "$got" = "root:root 600 precious" ] || fail "$1: the target is now $got"
}

# Put a $1 (symlink or hardlink) to $T/target in place of the control
# socket, in one rename(2), as another user writing the directory could.
swap_in() {
	rm -f "$T/new"
	case $1 in
	symlink) ln -s "$T/target" "$T/new" ;;
	hardlink) ln "$T/target" "$T/new" ;;
	esac
	mv -T "$T/new" "$T/ctl.sock"
}

@test "hostile control: a link swapped in for the control socket just after bind is refused and its target keeps its owner and mode" {
	need_root_nogroup
	command -v strace >/dev/null || skip "no strace"
	echo_and_gated 'control_group = "nogroup"'
	make_target
	local kind
	for kind in symlink hardlink; do
		rm -f "$T/ctl.sock"
		# The control socket's is the first bind(2).
		portier_start_stopped_at_bind
		[ -S "$T/ctl.sock" ] || fail "$kind: no socket after bind"
		swap_in "$kind"
		# Started anyway (the old code did), it is stopped, to judge it.
		portier_resume_after_bind
		portier_check_sanitizers
		target_intact "$kind"
		[ "$PORTIER_STATUS" -eq 1 ] || fail "$kind: exit $PORTIER_STATUS"
		grep -q "event=start-failed error=\"control socket: $T/ctl.sock was replaced after bind\"" "$LOG"
		# The link is not ours: it stays.
		[ -L "$T/ctl.sock" ] || [ "$(stat -c %i "$T/ctl.sock")" = "$(stat -c %i "$T/target")" ]
	done
}

@test "hostile control: 100 start-ups racing a process that swaps links in for the control socket never change the links' target" {
	need_root_nogroup
	echo_and_gated 'control_group = "nogroup"'
	make_target
	local kind swapper i started refused
	local replaced="event=start-failed error=\"control socket: $T/ctl.sock was replaced after bind\""
	for kind in symlink hardlink; do
		# The swapper renames a prepared link over the path whenever
		# the path is a socket, as fast as it can, until $T/swapping
		# goes (or 100 s, or 50 million rounds).
		touch "$T/swapping"
		"$PTEST" swap-links "$kind" "$T/ctl.sock" "$T/target" \
		    "$T/swapping" >"$T/swaps.$kind" 3>&- &
		swapper=$!
		BG_PIDS+=("$swapper")
		started=0 refused=0
		for (( i = 0; i < 50; i++ )); do
			rm -f "$T/ctl.sock"
			rm -f "$T/ready"
			mkfifo "$T/ready"
			"$PORTIERD" -c "$CONF" --ready-fd 5 5>"$T/ready" \
			    </dev/null >/dev/null 2>"$LOG" 3>&- &
			PORTIER_PID=$!
			PORTIER_STATUS=
			# Lines come once every listener is bound; none, if it
			# failed.
			timeout 10 cat "$T/ready" >"$T/ready.txt" || true
			if [ -s "$T/ready.txt" ]; then
				portier_stop 10
				[ "$PORTIER_STATUS" = 0 ] ||
					fail "$kind $i: exit $PORTIER_STATUS"
				started=$(( started + 1 ))
			else
				# No ready lines: it must have refused and exited
				# (a hang fails here, with its log, not at the
				# file's time limit).
				portier_wait_exit 10 || fail "$kind $i: $(cat "$LOG")"
				[ "$PORTIER_STATUS" = 1 ] && grep -q "$replaced" "$LOG" ||
					fail "$kind $i: exit $PORTIER_STATUS: $(cat "$LOG")"
				refused=$(( refused + 1 ))
			fi
			target_intact "$kind, start-up $i"
			portier_check_sanitizers
		done
		rm "$T/swapping"
		wait "$swapper"
		BG_PIDS=()
		echo "$kind: started=$started refused=$refused $(cat "$T/swaps.$kind")"
		# The swapper was there: it saw sockets and swapped them.
		grep -qE 'swaps=[1-9]' "$T/swaps.$kind"
	done
	PORTIER_PID=
}

@test "hostile control: a reload that changes only control_group gives the socket the group and mode, and takes them back" {
	need_root_nogroup
	echo_and_gated
	portier_start
	local ino=$(stat -c %i "$T/ctl.sock") me="$(id -u):$(id -g)"
	assert_equal "$(stat -c '%a %u:%g' "$T/ctl.sock")" "600 $me"
	echo_and_gated 'control_group = "nogroup"'
	run ctl reload
	assert_success
	assert_equal "$(stat -c '%a %u:%G %i' "$T/ctl.sock")" "660 $(id -u):nogroup $ino"
	grep -q "event=control path=\"$T/ctl.sock\" mode=0660$" "$LOG"
	echo_and_gated
	run ctl reload
	assert_success
	assert_equal "$(stat -c '%a %u:%g %i' "$T/ctl.sock")" "600 $me $ino"
	assert_equal "$(log_count "event=control path=\"$T/ctl.sock\" mode=0600$")" 2
	hostile_after "$(port echo)" "$(fd_count)"
}

@test "hostile control: a client of another uid is refused and changes nothing" {
	[ "$(id -u)" -eq 0 ] || skip "running a client as another user needs root"
	command -v setpriv >/dev/null || skip "setpriv is not installed"
	# /tmp, unlike the test's directory, lets another user reach the socket.
	local sock=/tmp/portier-hostile-$$.sock
	echo_and_gated
	portier_start -S "$sock"
	ctl() { timeout 10 "$PORTIERCTL" -S "$sock" "$@"; }
	local ep=$(port echo) fds0=$(fd_count) before
	client_open "$(port gated)"
	client_read $CLIENT
	before=$(limits_and_states)
	chmod 666 "$sock"
	local req
	for req in "set-concurrency echo 0" "pause echo" "shutdown gated now" \
	    "kill 2" "reload" "shutdown now"; do
		# shellcheck disable=SC2086 # the request is words
		run setpriv --reuid=65534 --regid=65534 --clear-groups \
		    "$PORTIERCTL" -S "$sock" $req
		assert_failure 1
		assert_output "portierctl: permission denied"
	done
	wait_log "event=control-denied uid=65534 pid=[0-9]+" 6
	! grep -q "event=control-command uid=65534" "$LOG"
	! grep -q "event=reload" "$LOG"
	assert_equal "$(limits_and_states)" "$before"
	echo go >&$CLIENT
	exec {CLIENT}<&-
	wait_log "event=end service=gated conn=1 .*status=exit:0 "
	hostile_after "$ep" "$fds0"
	portier_stop
	[ ! -e "$sock" ]
}

@test "hostile control: malformed control requests get error replies and the data path is unaffected" {
	echo_and_gated
	portier_start
	local ep=$(port echo) fds0=$(fd_count) before=$(limits_and_states)
	run "$PTEST" ctl-requests "$T/ctl.sock" "$ep"
	assert_success
	local err="error bad limit: expected -1, 0 or a number up to 1000000"
	assert_line "b'\\n' -> error empty request (try help) usable"
	assert_line "b'\\r\\n' -> error empty request (try help) usable"
	assert_line "b'   \\n' -> error empty request (try help) usable"
	assert_line "b'ver\\x00sion\\n' -> error request contains a NUL byte usable"
	# Invalid UTF-8 is not reflected raw, in the reply or in the log.
	assert_line "b'\\xff\\xfe\\xc0\\xaf\\n' -> error unknown command: ???? (try help) usable"
	assert_line "b'st\\xc3\\n' -> error unknown command: st? (try help) usable"
	assert_line "b'frobnicate\\n' -> error unknown command: frobnicate (try help) usable"
	assert_line "b'STATUS\\n' -> error unknown command: STATUS (try help) usable"
	assert_line "b'set-concurrency echo 99999999999999999999\\n' -> $err usable"
	assert_line "b'set-concurrency echo -2\\n' -> $err usable"
	assert_line "b'set-concurrency echo 0x10\\n' -> $err usable"
	assert_line "b'set-concurrency echo 1e3\\n' -> $err usable"
	assert_line "b'set-concurrency echo\\n' -> error usage: set-concurrency SERVICE N usable"
	assert_line "b'set-concurrency\\n' -> error usage: set-concurrency SERVICE N usable"
	assert_line "b'set-concurrency nosuch 5\\n' -> error no such service: nosuch usable"
	assert_line "b'kill -1\\n' -> error bad connection id usable"
	assert_line "b'kill 0\\n' -> error bad connection id usable"
	assert_line "b'kill 99999999999999999999\\n' -> error bad connection id usable"
	assert_line "b'kill\\n' -> error usage: kill CONN-ID usable"
	assert_line "b'pause\\n' -> error usage: pause SERVICE usable"
	assert_line "b'resume a b\\n' -> error usage: resume SERVICE usable"
	assert_line "b'shutdown nosuch\\n' -> error no such service: nosuch usable"
	assert_line "b'shutdown echo later\\n' -> error usage: shutdown [SERVICE] [now] usable"
	assert_line --partial " -> error too many words usable"
	# Oversize, with or without a newline: an error, then the daemon closes.
	assert_line "b'AAAAAAAA...5001' -> error request longer than 4096 bytes eof"
	assert_line "b'BBBBBBBB...1048576' -> error request longer than 4096 bytes eof"
	# Every other request left its connection usable.
	[ "$(grep -c ' eof$' <<<"$output")" -eq 2 ]
	[ "$(grep -c ' usable$' <<<"$output")" -eq 24 ]
	local probes p99 quiet
	probes=$(grep '^probes=' <<<"$output")
	echo "$probes"
	p99=$(field p99_ms "$probes")
	quiet=$(field quiet_p99_ms "$probes")
	# Every probe was echoed, and enough in both for a p99 to mean
	# something.
	assert_equal "$(field failed "$probes")" 0
	[ "$(field probes "$probes")" -ge 100 ]
	[ "$(field quiet_probes "$probes")" -ge 100 ]
	# Side by side: the probes within the rounds of requests against the
	# probes in the quiet spells between them, on the same machine at the
	# same time, so what else it runs weighs on both alike.  A p99 of 150
	# probes is their second slowest: 5 ms for a hiccup of the machine.
	awk -v d="$p99" -v q="$quiet" 'BEGIN { exit !(d <= 4 * q + 5) }' ||
		fail "echo p99 $p99 ms during the requests, $quiet ms between"
	run grep -caP '[\x80-\xff]' "$LOG"
	assert_output 0
	assert_equal "$(limits_and_states)" "$before"
	hostile_after "$ep" "$fds0"
}

@test "hostile control: random bytes, a 1 MiB line and 60 half-open control clients are dropped, others served" {
	echo_and_gated
	portier_start
	local ep=$(port echo) fds0=$(fd_count)
	# 60, under the 64 control clients portierd takes at once, so that
	# the one that checks control is served meanwhile; past the 64, see
	# the test of the limit.
	run "$PTEST" ctl-junk "$T/ctl.sock" "$ep" 60
	assert_success
	assert_output --regexp '^random=[a-z,]+ oversize=error request longer than 4096 bytes eof control=True echo=True dropped=60/60$'
	hostile_after "$ep" "$fds0"
	# The daemon logs the silent ones, but not one line per junk byte.
	[ "$(wc -l <"$LOG")" -lt 400 ] || fail "$(wc -l <"$LOG") log lines"
}

@test "hostile control: a second instance refuses a live socket and leaves it alone" {
	echo_and_gated
	portier_start
	local ep=$(port echo) fds0=$(fd_count) ino=$(stat -c %i "$T/ctl.sock")
	config <<-'EOF'
	service other {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 1
	assert_output --partial "control socket: $T/ctl.sock is in use by a running process"
	assert_equal "$(stat -c %i "$T/ctl.sock")" "$ino"
	assert_equal "$(stat -c %a "$T/ctl.sock")" 600
	hostile_after "$ep" "$fds0"
}

@test "hostile control: a stale socket left by a killed instance is replaced" {
	echo_and_gated
	portier_start
	kill -KILL "$PORTIER_PID"
	wait "$PORTIER_PID" || true
	[ -S "$T/ctl.sock" ]
	portier_start
	grep -q "event=stale-socket path=\"$T/ctl.sock\" action=removed" "$LOG"
	hostile_after "$(port echo)" "$(fd_count)"
}

@test "hostile control: a symlink, a regular file or a directory at the socket path is refused and kept" {
	echo_and_gated
	echo precious >"$T/target"
	local kind
	for kind in symlink dangling file dir; do
		rm -rf "$T/ctl.sock"
		case $kind in
		symlink) ln -s "$T/target" "$T/ctl.sock" ;;
		dangling) ln -s "$T/nowhere" "$T/ctl.sock" ;;
		file) echo precious >"$T/ctl.sock" ;;
		dir) mkdir "$T/ctl.sock" ;;
		esac
		run timeout 10 "$PORTIERD" -c "$CONF"
		[ "$status" -eq 1 ] || fail "$kind: exit $status: $output"
		assert_output --partial "control socket: $T/ctl.sock exists and is not a socket"
	done
	[ -d "$T/ctl.sock" ]
	rm -rf "$T/ctl.sock"
	ln -s "$T/target" "$T/ctl.sock"
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 1
	[ -L "$T/ctl.sock" ]
	assert_equal "$(cat "$T/target")" precious
	[ ! -e "$T/nowhere" ]
}

# Run the command $2... in the background, in a plain bash out of reach of
# bats's trap on every command; its exit status and how long it took, in
# microseconds, go to file $1, its stderr to $1.err.
timed_bg() {
	local out=$1
	shift
	# shellcheck disable=SC2016 # the inner bash expands
	OUT=$out bash -c 't0=${EPOCHREALTIME/[.,]/} rc=0
	    timeout 20 "$@" >/dev/null 2>"$OUT.err" || rc=$?
	    echo "$rc $(( ${EPOCHREALTIME/[.,]/} - t0 ))" >"$OUT"' _ "$@" &
}

# The fastest of three runs of the command $2..., in microseconds, one
# after another; each must exit $1.
fastest_of_3() {
	local want=$1 i rc us best=
	shift
	for i in 1 2 3; do
		timed_bg "$T/timed" "$@"
		wait "$!"
		read -r rc us <"$T/timed"
		[ "$rc" -eq "$want" ] || fail "$*: exit $rc: $(cat "$T/timed.err")"
		[ -n "$best" ] && (( best <= us )) || best=$us
	done
	echo "$best"
}

@test "hostile portierctl: portierctl fails at once when no daemon is there" {
	run timeout 10 "$PORTIERCTL" -S "$T/nobody.sock" status
	assert_failure 2
	# A socket file with no listener behind it, too.
	"$PTEST" listen "unix:$T/dead.sock"
	run timeout 10 "$PORTIERCTL" -S "$T/dead.sock" status
	assert_failure 2
	assert_output "portierctl: $T/dead.sock: Connection refused"
	# Side by side, the fastest of three each: failing costs no more than
	# portierctl's own start, as --version shows it on this machine now.
	# A client that retried or waited would take a second or more.
	local start none dead
	start=$(fastest_of_3 0 "$PORTIERCTL" --version)
	none=$(fastest_of_3 2 "$PORTIERCTL" -S "$T/nobody.sock" status)
	dead=$(fastest_of_3 2 "$PORTIERCTL" -S "$T/dead.sock" status)
	echo "--version $start us, no socket $none us, no listener $dead us"
	(( none <= 4 * start && dead <= 4 * start )) ||
		fail "failing took $none and $dead us, starting $start us"
}

@test "hostile portierctl: portierctl gives up on a stopped daemon within 5 s, for every verb" {
	echo_and_gated
	portier_start
	local verb rc us pids=() i=0 live=0
	# Side by side: first twelve clients at once asking the running daemon
	# for its version, for how long twelve start-ups on two cores and a
	# reply take on this machine now (87 ms a start in the sanitizer
	# build, the last of twelve over half a second late).
	for (( i = 0; i < 12; i++ )); do
		timed_bg "$T/live.$i" "$PORTIERCTL" -S "$T/ctl.sock" version
		pids+=($!)
	done
	wait "${pids[@]}"
	for (( i = 0; i < 12; i++ )); do
		read -r rc us <"$T/live.$i"
		[ "$rc" -eq 0 ] || fail "version $i: exit $rc"
		(( us <= live )) || live=$us
	done
	kill -STOP "$PORTIER_PID"
	# All at once, so that the stopped daemon costs 5 s, not 5 s a verb.
	pids=() i=0
	for verb in status services connections "set-concurrency echo 1" \
	    "pause echo" "resume echo" "kill 1" reload shutdown metrics \
	    version help; do
		# shellcheck disable=SC2086 # the verb is words
		timed_bg "$T/rc.$i" "$PORTIERCTL" -S "$T/ctl.sock" $verb
		pids+=($!)
		i=$(( i + 1 ))
	done
	wait "${pids[@]}"
	kill -CONT "$PORTIER_PID"
	# Each gave up by its own timeout, once: not before 5 s, and sooner
	# than a second one would end, or timeout(1)'s 20 s, after a start.
	echo "twelve at once against the running daemon: $live us at most"
	for (( i = 0; i < 12; i++ )); do
		read -r rc us <"$T/rc.$i"
		[ "$rc" -eq 2 ] || fail "verb $i: exit $rc: $(cat "$T/rc.$i.err")"
		(( us >= 4500000 && us < live + 7500000 )) ||
			fail "verb $i: exited after $us us"
		grep -q "no reply within 5 seconds" "$T/rc.$i.err"
	done
	# Resumed, it reads the requests of the clients that gave up, the
	# shutdown among them, and exits cleanly.
	portier_wait_exit 10
	assert_equal "$PORTIER_STATUS" 0
	grep -q "event=control-command uid=$(id -u) command=shutdown" "$LOG"
}

@test "hostile portierctl: each verb exits 0 on ok and 1 on error, as portierctl(8) says" {
	echo_and_gated
	portier_start
	local ep=$(port echo) fds0=$(fd_count) verb
	client_open "$(port gated)"
	client_read $CLIENT
	# verb that succeeds | the same verb made to fail
	while IFS='|' read -r good bad; do
		# shellcheck disable=SC2086 # the commands are words
		{ run ctl $good; }
		[ "$status" -eq 0 ] || fail "'$good': exit $status: $output"
		# shellcheck disable=SC2086
		{ run ctl $bad; }
		[ "$status" -eq 1 ] || fail "'$bad': exit $status: $output"
		[[ $output == "portierctl: "* ]] || fail "'$bad': $output"
	done <<-'EOF'
	status|status extra
	services|services extra
	connections gated|connections nosuch
	set-concurrency gated 5|set-concurrency gated five
	pause echo|pause nosuch
	resume echo|resume nosuch
	metrics|metrics extra
	version|version extra
	help|help extra
	reload|reload extra
	kill 1|kill 1
	shutdown gated|shutdown nosuch
	EOF
	run ctl -j metrics
	assert_failure 1
	run ctl
	assert_failure 1
	exec {CLIENT}<&-
	wait_log "event=end service=gated conn=1 "
	hostile_after "$ep" "$fds0"
	run ctl shutdown
	assert_success
	portier_wait_exit 10
	assert_equal "$PORTIER_STATUS" 0
	run ctl status
	assert_failure 2
}

@test "hostile control: out of descriptors, a control client is served on the reserve and a second one waits without the socket spinning" {
	config <<-'EOF'
	service echo {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	PORTIER_WRAP="prlimit --nofile=40:40 --" portier_start
	local ep=$(port echo) fds0=$(fd_count) i fd tcp=()
	# Idle clients take every descriptor: a built-in holds its socket.
	for (( i = 0; i < 60; i++ )); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$ep"
		tcp+=("$fd")
	done
	wait_log 'event=accept-error service=echo .*error="Too many open files"'
	run ctl status
	[ "$status" -eq 0 ] || fail "status: $output, with $(log_count 'event=control-error ') control-error lines"
	assert_line "pid            $PORTIER_PID"
	wait_log "event=control-reserve uid=$(id -u) pid=[0-9]+ error=\"Too many open files\""
	# A holds the reserve and asks again and again; B cannot be accepted
	# meanwhile, and the control socket's errors are counted in the log
	# over those 3 s.  Once A leaves, B gets the reserve and its answer.
	run timeout 30 "$PTEST" ctl-reserve "$T/ctl.sock" "$LOG"
	echo "$output"
	assert_success
	assert_output --regexp '^first=ok a=([0-9]+)/\1 early=False b=ok '
	# Over the client's window, as the log tells them: its lines, one a
	# second at most, and the failed accepts they stand for, held back
	# ones (since up to a second before) included.  Backing off 250 ms
	# after each, 4 a second, fewer on a slower machine; spinning,
	# thousands on any.
	local ms=$(field window_ms "$output") lines=$(field error_lines "$output")
	local errors=$(field errors "$output")
	(( lines <= 2 + ms / 1000 )) || fail "$lines control-error lines in $ms ms"
	(( errors <= 4 * (ms / 1000 + 2) )) ||
		fail "$errors failed accepts in $ms ms"
	grep -E 'event=control-error path="[^"]*" backoff_ms=250( suppressed=[0-9]+)? error="Too many open files"' "$LOG" |
	    head -3
	for fd in "${tcp[@]}"; do
		exec {fd}<&-
	done
	hostile_after "$ep" "$fds0"
}

@test "hostile control: past 64 control clients the next are turned away at once, and control works once they leave" {
	echo_and_gated
	portier_start
	local ep=$(port echo) fds0=$(fd_count)
	# 70 connect and stay, then each asks for the version.
	run timeout 30 "$PTEST" ctl-many "$T/ctl.sock" 70
	echo "$output"
	assert_success
	assert_line --index 0 "first64 ok: 64"
	assert_line --index 1 "rest error too many control clients: 6"
	[ "${#lines[@]}" -eq 3 ]
	local n=$(log_count "event=control-refused uid=$(id -u) pid=[0-9]+ clients=64/64")
	# One line a second at most, over the client's own run, and one more
	# for the edges.
	local ms=$(field ms "$output")
	(( n >= 1 && n <= 2 + ms / 1000 )) ||
		fail "$n control-refused lines in $ms ms"
	hostile_after "$ep" "$fds0"
}

@test "hostile control: a control request trickled a byte a second is dropped at its 10 s bound while others are served" {
	echo_and_gated
	portier_start -v
	local ep=$(port echo) fds0=$(fd_count)
	# A byte a second, never a newline, for 25 s at most: each byte
	# would restart an idle timer.
	"$PTEST" ctl-trickle "$T/ctl.sock" >"$T/trickle" 3>&- &
	local trickle=$!
	run ctl status
	assert_success
	assert_line "pid            $PORTIER_PID"
	kill -0 "$trickle" || fail "the trickling client was gone before status"
	wait "$trickle"
	cat "$T/trickle"
	run cat "$T/trickle"
	assert_output --regexp '^sent=[0-9]+ eof=True reply=error request not ended within 10 seconds$'
	local sent=${output#sent=}
	sent=${sent%% *}
	(( sent < 25 )) || fail "still connected after $sent bytes"
	wait_log "event=control-timeout uid=$(id -u) pid=[0-9]+ what=request"
	[ "$(log_count 'event=control-timeout .*what=idle')" -eq 0 ]
	hostile_after "$ep" "$fds0"
}

@test "hostile control: a control client that sends 40,000 requests and reads none is paused, not buffered, and then gets every reply" {
	echo_and_gated
	portier_start_for_rss
	local ep=$(port echo) fds0=$(fd_count)
	# It holds for 2 s without reading (portierd drops a client that
	# takes nothing of its reply for 5 s), sampling portierd's RSS, then
	# reads everything while the rest is sent.  Done sending, it shuts
	# down its side, which must not cost it the replies still owed.
	run timeout 60 "$PTEST" ctl-unread "$T/ctl.sock" "$PORTIER_PID" 40000
	echo "$output"
	assert_success
	assert_output --regexp '^replies=40000 ok=40000 eof=True '
	local before=${output##*rss_before=} peak=${output##*rss_peak=}
	before=${before%% *}
	# Buffered, the replies took 80 MB; paused, a bound of 256 KiB.
	(( peak - before < 8192 )) || fail "RSS grew by $(( peak - before )) KiB"
	hostile_after "$ep" "$fds0"
}
