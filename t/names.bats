#!/usr/bin/env bats
# Host names and service names in listen addresses: looked up at load and
# at each reload, every address a name has bound, numeric forms never
# looked up.  A test that needs a name of its own runs portierd in a mount
# namespace of its own whose /etc/hosts is the test's and whose
# nsswitch.conf looks host names up in that file alone: no DNS, no wait.

load helpers


teardown() {
	portier_teardown_then_background
}

# Write $T/hosts from the arguments, one "ADDRESS NAME" line each, and
# $T/ns, a command prefix that runs what follows it in a mount namespace
# where /etc/hosts is $T/hosts and hosts are looked up there alone.  The
# hosts file is bound by its inode, so rewrite it in place (>), never by
# rename.
hosts_ns() {
	local line
	: >"$T/hosts"
	for line in "$@"; do
		printf '%s\n' "$line" >>"$T/hosts"
	done
	sed -E 's/^hosts:.*/hosts: files/' /etc/nsswitch.conf >"$T/nsswitch.conf"
	grep -q '^hosts: files$' "$T/nsswitch.conf" ||
		printf 'hosts: files\n' >>"$T/nsswitch.conf"
	cat >"$T/ns" <<-EOF
	#!/bin/sh
	exec unshare -m -- sh -c 'mount --bind "\$0/hosts" /etc/hosts &&
	    mount --bind "\$0/nsswitch.conf" /etc/nsswitch.conf && exec "\$@"' \
	    "$T" "\$@"
	EOF
	chmod +x "$T/ns"
}

# A config of one built-in echo "a" on the listen addresses given, each a
# string of the list.
echo_on() {
	local list= a
	for a in "$@"; do
		list="${list:+$list, }\"$a\""
	done
	config <<-EOF
	service a {
	    listen = { $list }
	    builtin = "echo"
	}
	EOF
}

# Send a line to ADDRESS:PORT as portierd writes it ([::1]:PORT too) and
# print what comes back.
echo_at() {
	local to=$1
	case $to in
	\[*) to="TCP6:$to" ;;
	*) to="TCP4:$to" ;;
	esac
	timeout 10 socat -t 5 -T 5 - "$to" <<<"$2"
}

@test "names: localhost:0 binds and serves on every address localhost has here" {
	local want got a
	want=$(getent ahosts localhost | awk '$2 == "STREAM" { print $1 }' |
	    sort -u | sed -E 's/^(.*:.*)$/[\1]/')
	[ -n "$want" ] || skip "localhost has no address on this machine"
	echo_on "localhost:0"
	portier_start
	got=$(awk '{ sub(/:[0-9]+$/, "", $2); print $2 }' "$T/ready.txt" | sort)
	assert_equal "$got" "$want"
	while read -r _ a; do
		run echo_at "$a" "to $a"
		assert_output "to $a"
		grep -qF "event=listen service=a addr=$a name=\"localhost:0\"" "$LOG"
	done <"$T/ready.txt"
}

@test "names: a service name as the port is looked up in the services database, at -t too" {
	local http
	http=$(getent services http/tcp | awk '{ sub(/\/.*/, "", $2); print $2 }')
	[ -n "$http" ] || skip "no http in the services database"
	echo_on "127.0.0.1:http" "[::1]:http"
	run "$PORTIERD" -t -c "$CONF"
	assert_success
	assert_output "a: builtin echo (stream); listen 127.0.0.1:http (127.0.0.1:$http) [::1]:http ([::1]:$http); max_connections -1"
	echo_on "*:http"
	run "$PORTIERD" -t -c "$CONF"
	assert_success
	assert_output "a: builtin echo (stream); listen *:http (*:$http); max_connections -1"
}

@test "names: a name that resolves to nothing, or an unknown service, is FILE:LINE and exit 78, at -t and at start" {
	hosts_ns "127.0.0.2 other.test"
	echo_on "127.0.0.1:0" "nowhere.test:0"
	run "$T/ns" "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	assert_output --regexp "^$CONF:4: listen \"nowhere.test:0\": .+"
	local why=${output#*: listen }
	# The resolver's own words (glibc: "Name or service not known").
	[[ $why == '"nowhere.test:0": '*[a-z]* ]] || fail "$output"
	run timeout 10 "$T/ns" "$PORTIERD" -c "$CONF" -S ""
	assert_failure 78
	assert_output --partial "$CONF:4: listen $why"
	echo_on "127.0.0.1:no-such-service"
	run "$T/ns" "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	assert_output "$CONF:4: listen \"127.0.0.1:no-such-service\": \"no-such-service\" is no TCP service of the services database"
}

@test "names: a name with two addresses gets a socket on each, both serving, in -t, services and the log" {
	hosts_ns "127.0.0.2 two.test" "127.0.0.3 two.test"
	echo_on "two.test:0"
	run "$T/ns" "$PORTIERD" -t -c "$CONF"
	assert_success
	assert_output "a: builtin echo (stream); listen two.test:0 (127.0.0.2:0, 127.0.0.3:0); max_connections -1"
	PORTIER_WRAP=$T/ns portier_start
	run cat "$T/ready.txt"
	[ "${#lines[@]}" -eq 2 ] || fail "$output"
	assert_line --index 0 --regexp '^a 127\.0\.0\.2:[1-9][0-9]*$'
	assert_line --index 1 --regexp '^a 127\.0\.0\.3:[1-9][0-9]*$'
	run echo_at "$(addr a 1)" one
	assert_output one
	run echo_at "$(addr a 2)" two
	assert_output two
	run ctl -j services
	json 'svc("a")["listen"]' <<<"$output" >"$T/listen"
	assert_equal "$(cat "$T/listen")" "$(addr a 1)
$(addr a 2)"
	grep -qF "event=listen service=a addr=$(addr a 1) name=\"two.test:0\"" "$LOG"
	grep -qF "event=listen service=a addr=$(addr a 2) name=\"two.test:0\"" "$LOG"
}

@test "names: an address a name is given twice, on a port, is bound once" {
	# The resolver returns 127.0.0.2 twice here, as Python shows.
	hosts_ns "127.0.0.2 dup.test" "127.0.0.2 dup.test" "127.0.0.3 dup.test"
	run "$T/ns" python3 -c 'import socket; print(len(socket.getaddrinfo("dup.test", None, type=socket.SOCK_STREAM)))'
	assert_output 3
	echo_on "dup.test:7"
	run "$T/ns" "$PORTIERD" -t -c "$CONF"
	assert_success
	assert_output "a: builtin echo (stream); listen dup.test:7 (127.0.0.2:7, 127.0.0.3:7); max_connections -1"
}

@test "names: a reload looks names up again: an address gone is closed, a new one bound, a kept one keeps its socket" {
	hosts_ns "127.0.0.2 two.test" "127.0.0.3 two.test"
	echo_on "two.test:0"
	PORTIER_WRAP=$T/ns portier_start
	local gone=$(addr a 1) kept=$(addr a 2)
	[[ $kept == 127.0.0.3:* ]] || fail "$(cat "$T/ready.txt")"
	# A client waits in the kept socket's queue while the service is
	# paused: it is served after the reload, so the socket was kept.
	ctl pause a
	exec {held}<>"/dev/tcp/127.0.0.3/${kept#*:}"
	printf '127.0.0.3 two.test\n127.0.0.4 two.test\n' >"$T/hosts"
	run ctl reload
	assert_success
	assert_output --partial "changed=1"
	wait_log "event=unlisten service=a addr=$gone\$"
	grep -qE "event=listen service=a addr=127\.0\.0\.4:[1-9][0-9]* name=\"two\.test:0\"" "$LOG"
	(( $(log_count "event=listen service=a addr=$kept ") == 1 )) ||
		fail "$kept bound again: $(grep event=listen "$LOG")"
	! grep -q "event=unlisten service=a addr=$kept" "$LOG"
	ctl resume a
	echo held >&$held
	IFS= read -r -t 5 -u $held REPLY
	exec {held}>&-
	assert_equal "$REPLY" held
	local new
	new=$(sed -n 's/.*event=listen service=a addr=\(127\.0\.0\.4:[0-9]*\) .*/\1/p' "$LOG")
	run echo_at "$new" new
	assert_output new
	run timeout 5 socat - "TCP4:$gone" </dev/null
	assert_failure
	run ctl -j services
	json 'svc("a")["listen"]' <<<"$output" >"$T/listen"
	assert_equal "$(sort "$T/listen")" "$kept
$new"
}

@test "names: numeric addresses are never looked up; a name is" {
	# strace sees every file portierd opens and every socket it makes:
	# no hosts file, no resolver's socket for numeric forms, at -t (which
	# binds nothing) as at start.  LeakSanitizer cannot run under ptrace
	# (it aborts at exit): a sanitizer build checks leaks elsewhere.
	echo_on "127.0.0.1:0" "[::1]:0" "*:0" "127.0.0.2:7"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    strace -f -qq -o "$T/strace" -e trace=openat,socket,connect \
	    "$PORTIERD" -t -c "$CONF" >/dev/null
	grep -q "portier.conf" "$T/strace" || fail "strace saw nothing"
	run grep -E '/etc/(hosts|resolv\.conf|host\.conf|gai\.conf)|SOCK_DGRAM|sin_port=htons\(53\)' "$T/strace"
	assert_output ""
	# The same test sees a name being looked up.
	echo_on "localhost:0"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    strace -f -qq -o "$T/strace" -e trace=openat "$PORTIERD" -t \
	    -c "$CONF" >/dev/null
	grep -q '"/etc/hosts"' "$T/strace"
}

@test "names: with no name resolving at all, numeric addresses still serve" {
	hosts_ns
	echo_on "127.0.0.1:0" "[::1]:0"
	PORTIER_WRAP=$T/ns portier_start
	run echo_at "$(addr a 1)" four
	assert_output four
	run echo_at "$(addr a 2)" six
	assert_output six
}

@test "names: socket activation: the socket passed for a name's address is taken for it" {
	hosts_ns "127.0.0.1 act.test"
	PORTIER_WRAP=$T/ns
	# The port is the one activate picks, so write the config after.
	config <<-'EOF'
	service a {
	    listen = { "act.test:PORT" }
	    builtin = "echo"
	}
	EOF
	activate "a"
	sed -i "s/act.test:PORT/act.test:${PORTS[a]}/" "$CONF"
	run tcp "${PORTS[a]}" <<<"activated"
	assert_output activated
	grep -qF "event=listen service=a addr=127.0.0.1:${PORTS[a]} name=\"act.test:${PORTS[a]}\" from=LISTEN_FDS" "$LOG"
}
