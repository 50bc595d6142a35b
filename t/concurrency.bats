#!/usr/bin/env bats
# max_connections, per service and global: -1 unlimited, 0 paused, N.  At
# the limit portierd stops accepting, so clients wait in the backlog.

load helpers

# A handler that says "start ID", then waits for one line before "done".
gated_service() {
	config <<-EOF
	$2
	service gated {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo start \$PORTIER_CONN_ID; read x; echo done" }
	    max_connections = $1
	}
	EOF
}

@test "concurrency: at limit 1 a second client waits, then is served" {
	gated_service 1
	portier_start
	local a b
	client_open "$(port gated)"; a=$CLIENT
	client_read $a
	assert_equal "$REPLY" "start 1"
	# The second connect succeeds (the kernel's backlog holds it), but
	# nothing serves it while the first is alive.
	client_open "$(port gated)"; b=$CLIENT
	! client_read $b 1 || fail "served beyond the limit: $REPLY"
	[ "$(log_count 'event=spawn service=gated')" -eq 1 ]
	echo go >&$a
	client_read $a
	assert_equal "$REPLY" done
	client_read $b
	assert_equal "$REPLY" "start 2"
	echo go >&$b
	client_read $b
	assert_equal "$REPLY" done
	exec {a}<&- {b}<&-
}

@test "concurrency: limit 0 serves nobody, the client waits in the backlog" {
	gated_service 0
	portier_start
	client_open "$(port gated)"
	! client_read $CLIENT 1 || fail "served at limit 0: $REPLY"
	[ "$(log_count 'event=spawn')" -eq 0 ]
	# The connection was not refused: the kernel holds it, unaccepted.
	run ss -Hltn "sport = :$(port gated)"
	assert_output --regexp '^LISTEN +1 '
	exec {CLIENT}<&-
}

@test "concurrency: a burst of 20 clients at limit 3 never runs more than 3" {
	config <<-'EOF'
	service slow {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo served; sleep 0.2" }
	    max_connections = 3
	}
	EOF
	portier_start
	local i p=$(port slow) pids=()
	for (( i = 0; i < 20; i++ )); do
		tcp "$p" </dev/null >"$T/out.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for (( i = 0; i < 20; i++ )); do
		assert_equal "$(cat "$T/out.$i")" served
	done
	wait_log "event=end service=slow" 20
	run sed -n 's/.*event=spawn service=slow .* active=\([0-9]*\)\/3$/\1/p' "$LOG"
	[ "${#lines[@]}" -eq 20 ]
	local max=0 n
	for n in "${lines[@]}"; do (( n > max )) && max=$n; done
	assert_equal "$max" 3
}

@test "concurrency: the global max_connections spans services" {
	config <<-'EOF'
	max_connections = 1
	service a {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo a; read x" }
	}
	service b {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo b; read x" }
	}
	EOF
	portier_start
	local a b
	client_open "$(port a)"; a=$CLIENT
	client_read $a
	assert_equal "$REPLY" a
	client_open "$(port b)"; b=$CLIENT
	! client_read $b 1 || fail "served beyond the global limit: $REPLY"
	exec {a}<&-
	client_read $b
	assert_equal "$REPLY" b
	exec {b}<&-
}
