# Shared by t/hostile-*.bats: the checks every hostile test ends with,
# that portierd still serves, leaked no descriptor and left no zombie.

# The number of descriptors portierd holds open.
fd_count() {
	find "/proc/$PORTIER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# portierd's resident set size in KiB.
rss_kib() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$PORTIER_PID/status"
}

# portierd's CPU time so far, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$PORTIER_PID/stat"
}

# The number of portierd's children that are zombies.
zombie_count() {
	ps --ppid "$PORTIER_PID" -o stat= | grep -c '^Z' || true
}

# Whether none of portierd's children is a zombie.
no_zombies() {
	[ "$(zombie_count)" = 0 ]
}

# Note portierd's descriptors and memory before the load, in $BASE_FDS
# and $BASE_RSS.  (A test that measures RSS starts portierd with
# portier_start_for_rss, so that ASan's quarantine does not count.)
baseline() {
	BASE_FDS=$(fd_count)
	BASE_RSS=$(rss_kib)
}

# Whether the load is over: no live connection, no zombie and the
# baseline's descriptor count, noted in $act, $z and $fds for settled.
settled_now() {
	act=$(active)
	fds=$(fd_count) z=$(zombie_count)
	[ "$act" = 0 ] && [ "$fds" = "$BASE_FDS" ] && [ "$z" = 0 ]
}

# After the load: within $1 seconds (default 10) no live connection, no
# zombie and the baseline's descriptor count; portierd alive; and, if $2
# is given, its RSS at most $2 KiB above the baseline.
settled() {
	local act='' fds='' z='' rss
	wait_until -t "${1:-10}" settled_now || true
	[ "$act" = 0 ] || fail "active=$act after the load"
	[ "$z" = 0 ] || fail "$z zombies after the load"
	[ "$fds" = "$BASE_FDS" ] ||
		fail "portierd has $fds descriptors, $BASE_FDS before the load"
	portier_alive || fail "portierd died"
	[ -n "${2:-}" ] || return 0
	rss=$(rss_kib)
	(( rss - BASE_RSS <= $2 )) ||
		fail "RSS grew from $BASE_RSS KiB to $rss KiB, over $2 KiB"
}

# Whether portierd holds no more than $1 descriptors.
fds_at_most() {
	[ "$(fd_count)" -le "$1" ]
}

# Wait at most $2 seconds (default 10) until portierd holds no more than
# $1 descriptors; fails the test with the list if it still holds more.
wait_fds() {
	wait_until -t "${2:-10}" fds_at_most "$1" && return 0
	ls -l "/proc/$PORTIER_PID/fd"
	fail "portierd holds $(fd_count) descriptors, baseline $1"
}

# A round trip through the echo service on port $1 works.
echo_ok() {
	local got
	got=$(tcp "$1" <<<"still serving $1")
	[ "$got" = "still serving $1" ] || fail "echo on $1 answered '$got'"
}

# The end of every hostile test: still serving on echo port $1, back to
# $2 descriptors, no zombie, and control still answers.
hostile_after() {
	echo_ok "$1"
	wait_fds "$2"
	local z
	z=$(zombie_count)
	[ "$z" -eq 0 ] || fail "$z zombies"
	ctl status >/dev/null || fail "control does not answer"
}
