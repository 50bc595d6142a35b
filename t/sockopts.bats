#!/usr/bin/env bats
# Per-service socket options: each read back, as getsockopt(2) gives it,
# from the handler's own socket (fd 0) and from portierd's listener
# (pidfd_getfd(2), as root); the kernel's defaults where none is set; the
# config errors; a reload of a kept socket; -t's warning for defer_accept.

load helpers

# A config of one service "s" on $LISTEN (default 127.0.0.1:0) whose
# handler prints its connection's socket options, with the settings given,
# one per line.
sockopts_service() {
	local extra
	extra=$(printf '    %s\n' "$@")
	config <<-EOF
	service s {
	    listen = { ${LISTEN:-\"127.0.0.1:0\"} }
	    exec = { "$PTEST", "sockopts" }
	$extra
	}
	EOF
}

# What the handler of service s says of its socket: a line is sent first,
# which a defer_accept waits for.
conn_opts() {
	timeout 10 socat -t 5 -T 5 - "TCP4:127.0.0.1:$(port s)" <<<"hello"
}

# The options of portierd's listener of service s at its Nth address.
listener_opts() {
	"$PTEST" sockopts --pid "$PORTIER_PID" --port "$(port s "${1:-1}")"
}

# The kernel's own, on a listener and a connection accepted on it, with
# the options given (NAME=VALUE) set on the listener: "listener " or
# "conn " before each line.
reference() {
	local args=() kv
	for kv in "$@"; do args+=(--set "$kv"); done
	"$PTEST" sockopts --reference "${args[@]}"
}

@test "sockopts: with none set, the listener and each connection have the kernel's defaults" {
	sockopts_service
	portier_start
	reference >"$T/ref"
	run conn_opts
	assert_success
	assert_output "$(sed -n 's/^conn //p' "$T/ref")"
	run listener_opts
	assert_output "$(sed -n 's/^listener //p' "$T/ref")"
}

@test "sockopts: each option is on the listener, and each of a connection's on the handler's own socket, as Linux copies them" {
	sockopts_service 'keepalive = true' 'keepalive_idle = 77' \
	    'keepalive_interval = 13' 'keepalive_count = 5' 'nodelay = true' \
	    'receive_buffer = "32k"' 'send_buffer = 49152' 'mark = 42' \
	    'defer_accept = 5' 'fastopen = 16' 'freebind = true' \
	    'reuse_port = true' 'transparent = true' 'bind_device = "lo"'
	portier_start
	# The kernel doubles a buffer's size for its own book-keeping, and
	# rounds defer_accept up to its SYN-ACK retransmissions: ask it.
	local defer
	defer=$(reference defer_accept=5 | sed -n 's/^listener defer_accept=//p')
	local conn="keepalive=1
keepalive_idle=77
keepalive_interval=13
keepalive_count=5
nodelay=1
receive_buffer=65536
send_buffer=98304
mark=42"
	run conn_opts
	assert_success
	assert_output "$conn"
	run listener_opts
	assert_output "$conn
defer_accept=$defer
fastopen=16
reuse_port=1
freebind=1
transparent=1
bind_device=lo"
}

# A command prefix that runs what follows in a network namespace of its
# own, whose loopback interface is up and is its only one: there * and
# [::] take no address but loopback ones.
netns() {
	cat >"$T/netns" <<-'EOF'
	#!/bin/sh
	exec unshare -n -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
	EOF
	chmod +x "$T/netns"
}

@test "sockopts: ipv6_only makes [::] take IPv4 too, or * take IPv6 alone" {
	netns
	config <<-'EOF'
	service both {
	    listen = { "[::]:0" }
	    builtin = "echo"
	    ipv6_only = false
	}
	service six {
	    listen = { "*:0" }
	    builtin = "echo"
	    ipv6_only = true
	}
	service plain {
	    listen = { "[::]:0", "*:0" }
	    builtin = "echo"
	}
	EOF
	PORTIER_WRAP=$T/netns portier_start
	local at want
	for at in "both 1 0" "six 1 1" "plain 1 1" "plain 2 0"; do
		set -- $at
		run "$PTEST" sockopts --pid "$PORTIER_PID" --port "$(port "$1" "$2")"
		assert_line "ipv6_only=$3"
	done
	# The overlap check knows: "*" taking IPv6 alone leaves IPv4's
	# any-address free on its port, and [::] taking IPv4 too does not.
	cat >"$T/t.conf" <<-'EOF'
	service six {
	    listen = { "*:7001" }
	    builtin = "echo"
	    ipv6_only = true
	}
	service four {
	    listen = { "0.0.0.0:7001" }
	    builtin = "echo"
	}
	EOF
	run "$PORTIERD" -t -c "$T/t.conf"
	assert_success
	sed -i 's/"\*:7001"/"[::]:7001"/; s/ipv6_only = true/ipv6_only = false/' "$T/t.conf"
	run "$PORTIERD" -t -c "$T/t.conf"
	assert_failure 78
	assert_output "$T/t.conf:7: service \"four\": listen \"0.0.0.0:7001\" overlaps service \"six\"'s \"[::]:7001\" (line 2)"
}

@test "sockopts: out-of-range values, an option on a unix: address, keepalive_* without keepalive and ipv6_only with no IPv6 address are FILE:LINE and exit 78" {
	local setting line want listen
	while IFS='|' read -r listen setting line want; do
		LISTEN=$listen sockopts_service "$setting"
		run "$PORTIERD" -t -c "$CONF"
		assert_failure 78
		assert_output "$CONF:$line: $want"
	done <<-'EOF'
	"127.0.0.1:0"|keepalive_idle = 32768|6|keepalive_idle = 32768: must be from 1 to 32767
	"127.0.0.1:0"|keepalive_count = 0|6|keepalive_count = 0: must be from 1 to 127
	"127.0.0.1:0"|mark = 4294967296|6|mark = 4294967296: must be from 0 to 4294967295
	"127.0.0.1:0"|defer_accept = 0|6|defer_accept = 0: must be from 1 to 3600
	"127.0.0.1:0"|receive_buffer = "2G"|6|receive_buffer = "2G": expected a number of bytes from 1 to 1G, with k, M or G if you like
	"127.0.0.1:0"|bind_device = "a/b"|6|bind_device: expected an interface name of 1 to 15 characters, no '/', ':' or blank
	"127.0.0.1:0"|keepalive_idle = 60|6|service "s": keepalive_idle applies with keepalive = true only
	"unix:s.sock"|nodelay = true|6|service "s": nodelay is a TCP/IP socket option, and listen "unix:s.sock" is a unix: address
	"127.0.0.1:0"|ipv6_only = true|6|service "s": ipv6_only applies to * and [::], whose sockets can take IPv4 too, and it listens on neither
	"[::1]:0"|ipv6_only = false|6|service "s": ipv6_only applies to * and [::], whose sockets can take IPv4 too, and it listens on neither
	EOF
}

@test "sockopts: bind_device naming no interface fails the start, naming the device and the address" {
	sockopts_service 'bind_device = "nosuch0"'
	run "$PORTIERD" -t -c "$CONF"
	assert_success
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 1
	assert_output --partial 'event=start-failed error="service s: listen 127.0.0.1:0: bind_device nosuch0: No such device"'
}

@test "sockopts: a reload sets a kept socket's nodelay and mark in place, and undoes a dropped one; a changed reuse_port fails it, naming it" {
	sockopts_service 'nodelay = true'
	portier_start
	local port=$(port s)
	run listener_opts
	assert_line nodelay=1
	assert_line mark=0
	sockopts_service 'mark = 7'
	run ctl reload
	assert_success
	# The same socket, changed in place.
	assert_equal "$(port s)" "$port"
	(( $(log_count 'event=listen ') == 1 ))
	run listener_opts
	assert_line nodelay=0
	assert_line mark=7
	run conn_opts
	assert_line nodelay=0
	assert_line mark=7
	grep -q "event=socket-option service=s addr=127.0.0.1:$port option=nodelay value=0" "$LOG"
	sockopts_service 'mark = 7' 'reuse_port = true'
	run ctl reload
	assert_failure
	assert_output --partial "service s: listen 127.0.0.1:0: reuse_port changed, and a socket kept over a reload keeps what it was bound with"
	run listener_opts
	assert_line reuse_port=0
	assert_line mark=7
}

@test "sockopts: -t warns of defer_accept where the server speaks first, naming the service and line" {
	local what
	for what in 'builtin = "daytime"' 'builtin = "chargen"' 'builtin = "time"' \
	    'builtin = "echo"|banner = "hi"'; do
		config <<-EOF
		service s {
		    listen = { "127.0.0.1:0" }
		    ${what%%|*}
		    defer_accept = 3
		    ${what#*|}
		}
		EOF
		[ "$what" != "${what#*|}" ] || sed -i '7d' "$CONF"
		run "$PORTIERD" -t -c "$CONF"
		assert_success
		assert_line --partial "$CONF:6: warning: service \"s\": defer_accept holds each connection until the client sends"
	done
	config <<-'EOF'
	service s {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    defer_accept = 3
	}
	EOF
	run "$PORTIERD" -t -c "$CONF"
	assert_success
	refute_output --partial warning
}

@test "sockopts: a socket the service manager passed takes the options a live socket can" {
	config <<-'EOF'
	service s {
	    listen = { "127.0.0.1:PORT" }
	    exec = { "PTEST", "sockopts" }
	    nodelay = true
	    keepalive = true
	    keepalive_idle = 99
	}
	EOF
	activate s
	sed -i "s|127.0.0.1:PORT|127.0.0.1:${PORTS[s]}|; s|\"PTEST\"|\"$PTEST\"|" "$CONF"
	# The first client starts portierd: it was accepted by the kernel
	# before portierd set anything, so it has the manager's options.
	run timeout 10 socat -t 5 -T 5 - "TCP4:127.0.0.1:${PORTS[s]}" <<<"hello"
	assert_line nodelay=0
	run timeout 10 socat -t 5 -T 5 - "TCP4:127.0.0.1:${PORTS[s]}" <<<"hello"
	assert_line nodelay=1
	assert_line keepalive=1
	assert_line keepalive_idle=99
}
