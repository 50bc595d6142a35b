#!/usr/bin/env bats
# Admission: allow and deny, per-source limits and rates, the service's
# rate, and on_limit = "refuse" with busy_message.  127.0.0.2 and other
# loopback addresses stand for distinct clients.

load helpers

# Close the connections from() opened, then the daemon's checks.
teardown() {
	from_close_all
	portier_teardown_default
}

setup() {
	portier_setup_default
	FROMS=() FROM_PIDS=()
}

@test "admit: allow lets only the listed networks in" {
	gated 'allow = { "127.0.0.1" }'
	portier_start
	from 127.0.0.1 "$(port gated)"
	assert_equal "$REPLY" "in 1"
	from 127.0.0.2 "$(port gated)"
	assert_equal "$REPLY" ""
	wait_log "event=refuse service=gated remote=127.0.0.2:[0-9]+ reason=deny$"
	[ "$(log_count 'event=spawn')" -eq 1 ]
}

@test "admit: deny wins over allow" {
	gated 'allow = { "127.0.0.0/8" }' 'deny = { "127.0.0.2/32" }'
	portier_start
	from 127.0.0.2 "$(port gated)"
	assert_equal "$REPLY" ""
	from 127.0.0.3 "$(port gated)"
	assert_equal "$REPLY" "in 1"
	wait_log "reason=deny" 1
	[ "$(log_count 'event=spawn')" -eq 1 ]
}

@test "admit: IPv6 clients are matched against IPv6 networks" {
	LISTEN='"[::1]:0"' gated 'deny = { "::1/128" }'
	portier_start
	run timeout 5 socat - "TCP6:[::1]:$(port gated)" </dev/null
	assert_output ""
	wait_log "event=refuse service=gated remote=\[::1\]:[0-9]+ reason=deny$"
	LISTEN='"[::1]:0"' gated 'allow = { "::1" }'
	portier_stop
	portier_start
	run timeout 5 socat -t 1 - "TCP6:[::1]:$(port gated)" </dev/null
	assert_output "in 1"
}

@test "admit: IPv4-mapped clients of a dual-stack socket are matched as IPv4" {
	LISTEN='"*:0"' gated 'deny = { "127.0.0.2" }'
	portier_start
	from 127.0.0.2 "$(port gated)"
	assert_equal "$REPLY" ""
	wait_log "event=refuse service=gated remote=127.0.0.2:[0-9]+ reason=deny$"
	from 127.0.0.1 "$(port gated)"
	assert_equal "$REPLY" "in 1"
}

@test "admit: max_per_source refuses the next while the others live" {
	gated 'max_per_source = 3'
	portier_start
	local p=$(port gated) i first
	for i in 1 2 3; do
		from 127.0.0.1 "$p"
		[[ $REPLY == "in "* ]] || fail "connection $i not served"
		[ "$i" -gt 1 ] || first=$CLIENT
	done
	from 127.0.0.1 "$p"
	assert_equal "$REPLY" ""
	wait_log "event=refuse service=gated remote=127.0.0.1:[0-9]+ reason=max_per_source$"
	for i in 1 2 3; do
		from 127.0.0.2 "$p"
		[[ $REPLY == "in "* ]] || fail "127.0.0.2 connection $i not served"
	done
	# When one of 127.0.0.1's ends, it may have another.
	echo bye >&$first
	wait_log "event=end service=gated .*status=exit:0 "
	from 127.0.0.1 "$p"
	[[ $REPLY == "in "* ]] || fail "not served after a slot freed"
}

@test "admit: source_prefix4 groups addresses into one source" {
	gated 'max_per_source = 1' 'source_prefix4 = 24'
	portier_start
	from 127.0.0.1 "$(port gated)"
	[[ $REPLY == "in "* ]]
	from 127.0.0.2 "$(port gated)"
	assert_equal "$REPLY" ""
	wait_log "reason=max_per_source"
}

@test "admit: max_per_source holds for IPv6 clients too" {
	LISTEN='"[::1]:0"' gated 'max_per_source = 1'
	portier_start
	exec {a}< <(sleep 5 | timeout 10 socat - "TCP6:[::1]:$(port gated)")
	IFS= read -r -t 5 -u $a REPLY
	assert_equal "$REPLY" "in 1"
	run timeout 5 socat - "TCP6:[::1]:$(port gated)" </dev/null
	assert_output ""
	wait_log "event=refuse service=gated remote=\[::1\]:[0-9]+ reason=max_per_source$"
	exec {a}<&-
}

@test "admit: max_source_rate refuses a fast source, spares others, and heals" {
	builtin_rate() {
		config <<-'EOF'
		service hi {
		    listen = { "127.0.0.1:0" }
		    builtin = "daytime"
		    max_source_rate = 2
		}
		EOF
	}
	builtin_rate
	portier_start
	local p=$(port hi) served
	# Six from one client, one after another, in a few ms on any machine,
	# well within the half second the bucket takes to refill one.
	run timeout 30 "$PTEST" connect "$p" -n 6 --src 127.0.0.1
	assert_success
	served=$(grep -c day <<<"$output" || true)
	(( served >= 2 && served <= 4 )) || fail "served $served of 6"
	# The others were refused: each counted, logged at most once a second.
	wait_log "reason=max_source_rate"
	run ctl metrics
	assert_line "portier_refusals_total{service=\"hi\",reason=\"max_source_rate\"} $(( 6 - served ))"
	run timeout 5 socat -u "TCP4:127.0.0.1:$p,bind=127.0.0.2" -
	assert_output --regexp 'day'
	sleep 1.1	# the rate itself: one second refills the bucket
	run timeout 5 socat -u "TCP4:127.0.0.1:$p,bind=127.0.0.1" -
	assert_output --regexp 'day'
}

@test "admit: max_rate queues clients beyond the rate instead of refusing them" {
	config <<-'EOF'
	service hi {
	    listen = { "127.0.0.1:0" }
	    builtin = "time"
	    max_rate = 2
	}
	EOF
	portier_start
	local p=$(port hi) i pids=()
	for i in 1 2 3 4 5 6; do
		timeout 10 socat -u "TCP4:127.0.0.1:$p" - >"$T/out.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in 1 2 3 4 5 6; do
		[ "$(wc -c <"$T/out.$i")" -eq 4 ] || fail "client $i not served"
	done
	[ "$(log_count 'event=refuse')" -eq 0 ]
	# Two at once, then about two a second: the sixth waits about 2 s.
	local first last
	first=$(grep -m1 'event=serve' "$LOG" | sed 's/^ts=[^T]*T\([0-9:.]*\)Z.*/\1/')
	last=$(grep 'event=serve' "$LOG" | tail -n 1 | sed 's/^ts=[^T]*T\([0-9:.]*\)Z.*/\1/')
	awk -v a="$first" -v b="$last" 'BEGIN {
		split(a, x, ":"); split(b, y, ":");
		d = (y[1] - x[1]) * 3600 + (y[2] - x[2]) * 60 + (y[3] - x[3]);
		exit !(d >= 1.4) }' || fail "all served between $first and $last"
}

@test "admit: max_rate with on_limit refuse turns the excess away with busy_message" {
	config <<-'EOF'
	service hi {
	    listen = { "127.0.0.1:0" }
	    builtin = "time"
	    max_rate = 2
	    on_limit = "refuse"
	    busy_message = "too fast"
	}
	EOF
	portier_start
	local p=$(port hi) busy
	# From one client, for the reason given in the max_source_rate test.
	run timeout 30 "$PTEST" connect "$p" -n 5
	assert_success
	busy=$(grep -c 'too fast' <<<"$output" || true)
	(( busy >= 2 )) || fail "only $busy told busy"
	# Each counted, logged at most once a second.
	wait_log "reason=max_rate"
	run ctl metrics
	assert_line --regexp '^portier_refusals_total\{service="hi",reason="max_rate"\} [2-5]$'
}

@test "admit: on_limit refuse at max_connections sends busy_message and closes" {
	gated 'max_connections = 1' 'on_limit = "refuse"' 'busy_message = "busy, try later"'
	portier_start
	from 127.0.0.1 "$(port gated)"
	assert_equal "$REPLY" "in 1"
	from 127.0.0.1 "$(port gated)"
	assert_equal "$REPLY" "busy, try later"
	wait_log "event=refuse service=gated remote=127.0.0.1:[0-9]+ reason=max_connections$"
	[ "$(log_count 'event=spawn')" -eq 1 ]
	run ctl metrics
	assert_line 'portier_refusals_total{service="gated",reason="max_connections"} 1'
	assert_line 'portier_connections_refused_total{service="gated"} 1'
	ctl -j services | json 's["refused"] == 1 and s["refusals"]["max_connections"] == 1 and s["on_limit"] == "refuse" and s["max_per_source"] == -1'
}

@test "admit: a refused client that sends a large request first gets the whole busy_message, every time" {
	gated 'max_connections = 1' 'on_limit = "refuse"' \
	    'busy_message = "HTTP/1.0 503 Service Unavailable\r\n\r\nbusy, try later"'
	command -v curl >/dev/null || fail "curl is not installed"
	portier_start
	local p=$(port gated) i told=0 got
	from 127.0.0.1 "$p"
	assert_equal "$REPLY" "in 1"
	# An HTTP client posting 200 KB: its request is on its way, unread,
	# when portierd has sent the message, as with ab or curl in issue 19.
	head -c 200000 /dev/zero >"$T/body"
	for i in $(seq 10); do
		got=$(timeout 20 curl -sS --max-time 10 -w ' %{http_code}' \
		    --data-binary @"$T/body" "http://127.0.0.1:$p/" 2>&1) || true
		[ "$got" = $'busy, try later\n 503' ] && told=$(( told + 1 )) ||
			echo "curl $i: $got"
	done
	[ "$told" -eq 10 ] || fail "$told of 10 curl clients got the message"
	# Ten clients of ptest.py at once, each sending 200 KB meanwhile: none
	# is reset.
	run timeout 60 "$PTEST" refused "$p" -n 10 --send 200000 \
	    --want 'HTTP/1.0 503 Service Unavailable\r\n\r\nbusy, try later\n'
	assert_success
	assert_output --regexp '^n=10 told=10 eof=10 cut=0 '
	run ctl metrics
	assert_line 'portier_refusals_total{service="gated",reason="max_connections"} 20'
	[ "$(log_count 'event=spawn')" -eq 1 ]
}

@test "admit: global settings are defaults a service may override" {
	config <<-'EOF'
	deny = { "127.0.0.2" }
	max_per_source = 1
	service a {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo a; read x" }
	}
	service b {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo b; read x" }
	    deny = { "127.0.0.3" }
	    max_per_source = 5
	}
	service c {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo c; read x" }
	    deny = {}
	}
	EOF
	portier_start
	from 127.0.0.2 "$(port a)"
	assert_equal "$REPLY" ""
	# An empty list is the service's own: no one denied.
	from 127.0.0.2 "$(port c)"
	assert_equal "$REPLY" c
	from 127.0.0.2 "$(port b)"
	assert_equal "$REPLY" b
	from 127.0.0.2 "$(port b)"
	assert_equal "$REPLY" b
	from 127.0.0.3 "$(port b)"
	assert_equal "$REPLY" ""
	ctl -j services | json 'svc("a")["deny"] == ["127.0.0.2/32"] and svc("b")["deny"] == ["127.0.0.3/32"] and svc("c")["deny"] == [] and svc("a")["max_per_source"] == 1 and svc("b")["max_per_source"] == 5 and svc("a")["max_sources"] == 65536 and svc("a")["refusals"]["deny"] == 1'
}

@test "admit: bad admission settings are config errors with FILE:LINE" {
	local body want
	while IFS='|' read -r body want; do
		config <<-EOF
		service one {
		    listen = { "127.0.0.1:0" }
		    exec = { "/bin/cat" }
		    $body
		}
		EOF
		run "$PORTIERD" -t -c "$CONF"
		[ "$status" -eq 78 ] || fail "$body: status $status"
		[ "$output" = "$CONF:$want" ] || fail "$body: $output"
	done <<-'EOF'
	allow = { "10.0.0.0/33" }|6: allow "10.0.0.0/33": expected ADDRESS or ADDRESS/PREFIX, IPv4 or IPv6
	deny = { "example.com" }|6: deny "example.com": expected ADDRESS or ADDRESS/PREFIX, IPv4 or IPv6
	on_limit = "drop"|6: on_limit "drop": expected "queue" or "refuse"
	source_prefix6 = 129|6: source_prefix6 = 129: must be from 0 to 128
	max_rate = -5|6: max_rate = -5: must be from -1 to 1000000
	max_sources = 0|6: max_sources = 0: must be from 1 to 1000000
	max_sources = 1000001|6: max_sources = 1000001: must be from 1 to 1000000
	EOF
}

@test "admit: a deny written as IPv4-mapped IPv6 refuses the IPv4 client" {
	gated 'deny = { "::ffff:127.0.0.1" }'
	portier_start
	from 127.0.0.1 "$(port gated)"
	assert_equal "$REPLY" ""
	wait_log "event=refuse service=gated remote=127.0.0.1:[0-9]+ reason=deny$"
	from 127.0.0.2 "$(port gated)"
	assert_equal "$REPLY" "in 1"
	# services shows the rule as it is matched: IPv4.
	ctl -j services | json 's["deny"] == ["127.0.0.1/32"] and s["allow"] == []'
}

@test "admit: an allow written as IPv4-mapped IPv6 lets its IPv4 network in, and only it" {
	LISTEN='"*:0"' gated 'allow = { "::ffff:127.0.0.0/104", "::ffff:0:0/96" }' \
	    'deny = { "::ffff:0.0.0.0/96" }'
	portier_start
	# Every IPv4 client is denied: ::ffff:0:0/96 is 0.0.0.0/0.
	from 127.0.0.1 "$(port gated)"
	assert_equal "$REPLY" ""
	ctl -j services | json 's["allow"] == ["127.0.0.0/8", "0.0.0.0/0"] and s["deny"] == ["0.0.0.0/0"]'
	LISTEN='"*:0"' gated 'allow = { "::ffff:127.0.0.0/104" }'
	portier_stop
	portier_start
	from 127.0.0.1 "$(port gated)"
	assert_equal "$REPLY" "in 1"
	from 127.0.0.2 "$(port gated)"
	assert_equal "$REPLY" "in 2"
	# An IPv6 client is not in 127.0.0.0/8.
	run timeout 5 socat - "TCP6:[::1]:$(port gated)" </dev/null
	assert_output ""
	wait_log "event=refuse service=gated remote=\[::1\]:[0-9]+ reason=deny$"
	ctl -j services | json 's["allow"] == ["127.0.0.0/8"] and s["refusals"]["deny"] == 1'
}

@test "admit: an IPv4-mapped network under /96 is a config error saying what to write" {
	local opt
	for opt in allow deny; do
		config <<-EOF
		service one {
		    listen = { "127.0.0.1:0" }
		    exec = { "/bin/cat" }
		    $opt = { "::1", "::ffff:0:0/80" }
		}
		EOF
		run "$PORTIERD" -t -c "$CONF"
		assert_equal "$status" 78
		assert_output "$CONF:6: $opt \"::ffff:0:0/80\": an IPv4-mapped network needs a prefix of 96 or more; for every IPv4 client write \"0.0.0.0/0\""
	done
	# As a global default too.
	config <<-'EOF'
	deny = { "::ffff:10.0.0.0/95" }
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	}
	EOF
	run "$PORTIERD" -t -c "$CONF"
	assert_equal "$status" 78
	assert_output --regexp "^$CONF:3: deny \"::ffff:10.0.0.0/95\": an IPv4-mapped"
}
