#!/usr/bin/env bats
# The config file: portierd -t, and every kind of bad file named with
# FILE:LINE and exit 78.

load helpers

# Run portierd -t on $CONF, bounded in time.
check() {
	run timeout 10 "$PORTIERD" -t -c "$CONF"
}

@test "config: -t prints one summary line per service and exits 0" {
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0", "[::1]:0" }
	    exec = { "/bin/cat" }
	    max_connections = 4
	}
	service two {
	    listen = { "unix:two.sock" }
	    exec = { "/bin/echo", "hi" }
	}
	EOF
	check
	assert_success
	assert_line --index 0 "one: exec /bin/cat; listen 127.0.0.1:0 [::1]:0; max_connections 4"
	assert_line --index 1 "two: exec /bin/echo hi; listen unix:two.sock; max_connections -1"
	[ "${#lines[@]}" -eq 2 ]
}

@test "config: -t quotes a handler's arguments as a shell would, only where needed" {
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "id; sleep 3", "it's", "", "a b", "$HOME", "~", "x=1,y@2:3%/-_." }
	}
	EOF
	check
	assert_success
	assert_output "one: exec /bin/sh -c 'id; sleep 3' 'it'\''s' '' 'a b' '\$HOME' '~' x=1,y@2:3%/-_.; listen 127.0.0.1:0; max_connections -1"
	# A shell reads the words back as the handler gets them.
	local words=${output#one: exec }
	eval "set -- ${words%; listen *}"
	[ "$#" -eq 9 ] && [ "$3" = "id; sleep 3" ] && [ "$4" = "it's" ] &&
	    [ "$5" = "" ] && [ "$6" = "a b" ] && [ "$7" = '$HOME' ] &&
	    [ "$8" = "~" ] || fail "read back as: $*"
}

@test "config: -t listens on nothing" {
	config <<-'EOF'
	service one {
	    listen = { "unix:one.sock" }
	    exec = { "/bin/cat" }
	}
	EOF
	check
	assert_success
	[ ! -e "$T/one.sock" ]
}

@test "config: an unknown option is FILE:LINE and exit 78" {
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	    colour = "blue"
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:6: no such option 'colour'"
}

@test "config: a bad listen address is FILE:LINE and exit 78" {
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.256:80" }
	    exec = { "/bin/cat" }
	}
	EOF
	check
	assert_failure 78
	assert_output --partial "$CONF:4: listen \"127.0.0.256:80\": \"127.0.0.256\" is not an IPv4 address"
}

@test "config: listen addresses are checked in every form" {
	local bad
	for bad in '127.0.0.1' '127.0.0.1:65536' '127.0.0.1:-1' '::1:80' \
	    '[::1]' '[zz::1]:80' '*:no-such-service' 'unix:' '300.1.1.1:80' \
	    ':80' '10.1:80' 'a b:80' 'localhost:-1' 'localhost:8x'; do
		config <<-EOF
		service one {
		    listen = { "$bad" }
		    exec = { "/bin/cat" }
		}
		EOF
		check
		[ "$status" -eq 78 ] || fail "$bad: status $status"
		[[ $output == "$CONF:4: listen \"$bad\": "* ]] ||
			fail "$bad: $output"
	done
}

@test "config: a service with neither exec nor builtin is FILE:LINE and exit 78" {
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:3: service \"one\": neither exec (a handler to run for each connection) nor builtin given"
}

@test "config: a service without listen is FILE:LINE and exit 78" {
	config <<-'EOF'
	service one {
	    exec = { "/bin/cat" }
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:3: service \"one\": no listen address"
}

@test "config: a duplicate service name is FILE:LINE and exit 78" {
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	}
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:7: found duplicate title 'one'"
}

@test "config: an unterminated string names the line where it began" {
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0 }
	    exec = { "/bin/cat" }
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:4: unterminated string"
}

@test "config: an unterminated string on the last line is that line" {
	printf 'service one {\n  exec = { "/bin/cat' >"$CONF"
	check
	assert_failure 78
	assert_output "$CONF:2: unterminated string"
}

@test "config: an error after comments of each kind names its own line" {
	config <<-'EOF'
	# One line, and another,
	// then a C comment over two lines.
	/* like
	   this */
	service one { # and one after a brace
	    listen = { "127.0.0.1:0" } /* one on a line */ // and two
	    exec = { "/bin/cat" }
	    colour = "blue"
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:10: no such option 'colour'"
}

@test "config: a comment inside a list is a comment" {
	config <<-'EOF'
	service one {
	    listen = {
	        "127.0.0.1:0",  # IPv4
	        "[::1]:0"       # and IPv6
	    }
	    exec = { "/bin/echo", /* the greeting */ "hi" }
	}
	EOF
	check
	assert_success
	assert_output "one: exec /bin/echo hi; listen 127.0.0.1:0 [::1]:0; max_connections -1"
}

@test "config: a service the file ends inside names the line where it opened" {
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service two {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	EOF
	check
	assert_failure 78
	assert_output "$CONF:7: service \"two\" is not closed: the file ends before its '}'"
	# Cut off before its settings are whole, it still says what is wrong.
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	EOF
	check
	assert_failure 78
	assert_output "$CONF:3: service \"one\" is not closed: the file ends before its '}'"
}

# Each line of stdin is BODY|WANT: a service "one" with a listen address
# and BODY must fail -t with exactly "$CONF:WANT$1".
service_body_errors() {
	local body want
	while IFS='|' read -r body want; do
		config <<-EOF
		service one {
		    listen = { "127.0.0.1:0" }
		    $body
		}
		EOF
		check
		[ "$status" -eq 78 ] || fail "$body: status $status"
		[ "$output" = "$CONF:$want$1" ] || fail "$body: $output"
	done
}

@test "config: an error about a service's setting names the setting's line, not the closing brace's" {
	local body want
	while IFS='|' read -r body want; do
		config <<-EOF
		service zero {
		    listen = { "127.0.0.1:0" }
		    builtin = "echo"
		}
		service one {
		    # Its settings, one a line, then the closing brace.
		    listen = { "127.0.0.1:0" }
		$(printf '    %s\n' $body)
		    max_connections = 4
		}
		EOF
		check
		[ "$status" -eq 78 ] || fail "$body: status $status"
		[ "$output" = "$CONF:$want" ] || fail "$body: $output"
	done <<-'EOF'
	exec={"/bin/cat"} user="no-such-user-x"|11: service "one": user "no-such-user-x": no such user
	exec={"/bin/cat"} user="nobody" group="no-such-group-x"|12: service "one": group "no-such-group-x": no such group
	user="nobody" groups={"no-such-group-x"} exec={"/bin/cat"}|11: service "one": groups: "no-such-group-x": no such group
	builtin="echo" user="nobody"|11: service "one": user applies to exec services only
	exec={"/bin/cat"} builtin="echo"|11: service "one": exec and builtin both given; choose one
	builtin="echo" exec={"/bin/cat"}|11: service "one": exec and builtin both given; choose one
	builtin="daytime" filter="line"|11: service "one": filter applies to the echo and rot13 built-ins only
	exec={"/bin/cat"} idle_timeout=5|11: service "one": idle_timeout applies to built-in services only
	builtin="echo" unix_mode="0600"|11: service "one": unix_mode applies to unix: addresses only
	exec={"/bin/cat"} passenv={"TZ"} env={"TZ=UTC"}|12: service "one": TZ is in both env and passenv
	builtin="echo" listen={}|11: service "one": no listen address
	exec={}|10: service "one": neither exec (a handler to run for each connection) nor builtin given
	allow_root=false|7: service "one": neither exec (a handler to run for each connection) nor builtin given
	EOF
}

@test "config: a ';' ending a setting is an error that says so" {
	service_body_errors ": portier.conf takes no semicolons" <<-'EOF'
	builtin = "echo" max_connections = 3;|5: a stray ';' after max_connections
	builtin = "echo" banner = hello;|5: a stray ';' after banner
	builtin = "echo";|5: a stray ';' after builtin
	builtin = "echo" ;|5: a stray ';' after builtin
	exec = { "/bin/echo"; "hi" }|5: a stray ';' in the list of exec
	exec = { "/bin/cat" };|5: a stray ';' after exec
	EOF
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	};
	EOF
	check
	assert_failure 78
	assert_output "$CONF:6: a stray ';' after service \"one\": portier.conf takes no semicolons"
	# Inside quotes, or inside a word, it is what the value holds.
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "id;", a;b }
	}
	EOF
	check
	assert_success
	assert_output "one: exec /bin/sh -c 'id;' 'a;b'; listen 127.0.0.1:0; max_connections -1"
}

@test "config: a file that starts with a UTF-8 byte order mark is told so" {
	{
		printf '\357\273\277'
		printf 'service one {\n    listen = { "127.0.0.1:0" }\n'
		printf '    builtin = "echo"\n}\n'
	} >"$CONF"
	check
	assert_failure 78
	assert_output "$CONF:1: the file starts with a UTF-8 byte order mark; save it without one"
}

@test "config: a directory is refused with exit 78" {
	CONF=$T/dir
	mkdir "$CONF"
	check
	assert_failure 78
	assert_output "$CONF: not a regular file (a directory)"
}

@test "config: a FIFO is refused without blocking" {
	CONF=$T/fifo
	mkfifo "$CONF"
	check
	assert_failure 78
	assert_output "$CONF: not a regular file (a FIFO)"
}

@test "config: a device is refused" {
	CONF=/dev/zero
	check
	assert_failure 78
	assert_output "/dev/zero: not a regular file (a device or socket)"
}

@test "config: a file over 1 MiB is refused" {
	head -c 1048577 /dev/zero | tr '\0' ' ' >"$CONF"
	check
	assert_failure 78
	assert_output "$CONF: too large (1048577 bytes; at most 1048576)"
}

@test "config: a NUL byte is refused" {
	printf 'service one {\0}\n' >"$CONF"
	check
	assert_failure 78
	assert_output "$CONF: contains a NUL byte"
}

@test "config: a missing file is exit 78 with the reason" {
	CONF=$T/nonexistent.conf
	check
	assert_failure 78
	assert_output "$CONF: No such file or directory"
}

@test "config: an empty or blank file is valid, with a warning at -t; '=' alone is refused" {
	printf '' >"$CONF"
	check
	assert_success
	assert_output "$CONF: warning: no service is defined; portierd would serve only its control socket"
	printf '  \n\t\n' >"$CONF"
	check
	assert_success
	assert_output "$CONF: warning: no service is defined; portierd would serve only its control socket"
	printf '=\n' >"$CONF"
	check
	assert_failure 78
	assert_output "$CONF:1: unexpected token '='"
}

@test "config: a bad integer, an overflow and a negative limit are refused" {
	local value want
	for value in 'abc' '70000000000000000000' '-2' '1000001' '010' '0x10' \
	    '1e3' '-' '--1'; do
		config <<-EOF
		service one {
		    listen = { "127.0.0.1:0" }
		    exec = { "/bin/cat" }
		    max_connections = $value
		}
		EOF
		check
		[ "$status" -eq 78 ] || fail "$value: status $status"
		[[ $output == "$CONF:6: "* ]] || fail "$value: $output"
	done
	assert_output "$CONF:6: max_connections = --1: expected a decimal number (no leading zeros)"
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	    max_connections = 1000001
	}
	EOF
	check
	assert_output "$CONF:6: max_connections = 1000001: must be from -1 to 1000000"
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	    max_connections = 010
	}
	EOF
	check
	assert_output "$CONF:6: max_connections = 010: expected a decimal number (no leading zeros)"
}

@test "config: global settings are range-checked" {
	config <<-'EOF'
	kill_grace = -1
	EOF
	check
	assert_failure 78
	assert_output "$CONF:3: kill_grace = -1: must be from 0 to 3600"
}

@test "config: a relative exec path is taken from the config's directory" {
	mkdir "$T/etc" "$T/handlers"
	cp "$PORTIER_SRC/handlers/hello.sh" "$T/handlers/"
	CONF=$T/etc/portier.conf
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "../handlers/hello.sh" }
	}
	EOF
	cd /
	check
	assert_success
	assert_output "one: exec $T/etc/../handlers/hello.sh; listen 127.0.0.1:0; max_connections -1"
}

@test "config: exec without a slash is refused, PATH is not searched" {
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "cat" }
	}
	EOF
	check
	assert_failure 78
	assert_output --partial "$CONF:5: exec \"cat\": give the handler's path"
}

@test "config: exec of a missing or non-executable file is refused" {
	config <<-EOF
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "$T/missing" }
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:5: exec \"$T/missing\": No such file or directory"
	touch "$T/plain"
	config <<-EOF
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "$T/plain" }
	}
	EOF
	chmod 644 "$T/plain"
	check
	assert_failure 78
	if [ "$(id -u)" -ne 0 ]; then
		assert_output "$CONF:5: exec \"$T/plain\": Permission denied"
	fi
	assert_output --partial "$CONF:5: exec \"$T/plain\": "
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { }
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:5: service \"one\": neither exec (a handler to run for each connection) nor builtin given"
}

@test "config: env entries must be KEY=VALUE, unique and not portier's own" {
	local entry
	for entry in '"NOEQUALS"' '"=x"' '"1X=y"' '"PROTO=UDP"' \
	    '"TCPREMOTEIP=1.2.3.4"' '"PORTIER_SERVICE=x"' '"A=1", "A=2"'; do
		config <<-EOF
		service one {
		    listen = { "127.0.0.1:0" }
		    exec = { "/bin/cat" }
		    env = { $entry }
		}
		EOF
		check
		[ "$status" -eq 78 ] || fail "$entry: status $status"
		[[ $output == "$CONF:6: env "* ]] || fail "$entry: $output"
	done
}

@test "config: passenv names must be valid and not also in env" {
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	    passenv = { "TCPLOCALIP" }
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:6: passenv \"TCPLOCALIP\": portierd sets TCPLOCALIP itself"
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	    env = { "TZ=UTC" }
	    passenv = { "TZ" }
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:7: service \"one\": TZ is in both env and passenv"
}

@test "config: a service name must be a plain word" {
	config <<-'EOF'
	service "a b" {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/cat" }
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:3: service \"a b\": a name may hold only letters, digits, '_', '-' and '.'"
}

@test "config: a bad file at start-up exits 78 and binds nothing" {
	config <<-'EOF'
	service one {
	    listen = { "unix:one.sock" }
	    exec = { "/bin/cat" }
	    bogus = 1
	}
	EOF
	run timeout 10 "$PORTIERD" -c "$CONF"
	assert_failure 78
	assert_output "$CONF:6: no such option 'bogus'"
	[ ! -e "$T/one.sock" ]
}

@test "config: a relative -c is named by its absolute path at start, in -t's errors and on reload" {
	cd "$T"
	CONF=portier.conf
	local abs
	abs="$(pwd -P)/portier.conf"
	config <<-'EOF'
	service one {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	portier_start
	grep -qF "event=start version=" "$LOG"
	grep -qF "config=\"$abs\"" "$LOG" || fail "start line: $(grep event=start "$LOG")"
	printf 'bogus = 1\n' >>"$CONF"
	run ctl reload
	assert_failure 1
	assert_output "portierctl: $abs:7: no such option 'bogus'"
	kill -HUP "$PORTIER_PID"
	wait_until -t 10 grep -qF "event=reload status=failed error=\"$abs:7: no such option 'bogus'\"" "$LOG" ||
		fail "no reload error naming $abs: $(grep event=reload "$LOG")"
	check
	assert_failure 78
	assert_output "$abs:7: no such option 'bogus'"
}

@test "config: bad command-line usage exits 64" {
	run timeout 10 "$PORTIERD" --no-such-flag
	assert_failure 64
	assert_output --partial "usage: portierd"
	run timeout 10 "$PORTIERD" -c "$CONF" --ready-fd 1
	assert_failure 64
	assert_output --partial "--ready-fd 1: expected a descriptor number of 3 or more"
}

@test "config: --help and --version" {
	run "$PORTIERD" --help
	assert_success
	assert_output --partial "--ready-fd FD"
	run "$PORTIERD" --version
	assert_success
	assert_output --regexp '^portierd [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "config: -t shows a built-in service with its filter" {
	config <<-'EOF'
	service e {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service r {
	    listen = { "127.0.0.1:0" }
	    builtin = "rot13"
	}
	service l {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    filter = "line"
	}
	EOF
	check
	assert_success
	assert_line --index 0 "e: builtin echo (stream); listen 127.0.0.1:0; max_connections -1"
	assert_line --index 1 "r: builtin rot13 (line); listen 127.0.0.1:0; max_connections -1"
	assert_line --index 2 "l: builtin echo (line); listen 127.0.0.1:0; max_connections -1"
}

@test "config: built-in settings are checked with FILE:LINE" {
	service_body_errors "" <<-'EOF'
	builtin = "qotd"|5: builtin "qotd": no such built-in (there are echo, rot13, discard, chargen, daytime, time, metrics)
	builtin = "echo" exec = { "/bin/cat" }|5: service "one": exec and builtin both given; choose one
	builtin = "discard" filter = "line"|5: service "one": filter applies to the echo and rot13 built-ins only
	exec = { "/bin/cat" } filter = "line"|5: service "one": filter applies to the echo and rot13 built-ins only
	builtin = "echo" filter = "lines"|5: filter "lines": expected "line" or "stream"
	builtin = "echo" line_terminator = "\r"|5: line_terminator: expected "\n" or "\r\n"
	builtin = "echo" max_line = 0|5: max_line = 0: must be from 1 to 1048576
	exec = { "/bin/cat" } idle_timeout = 5|5: service "one": idle_timeout applies to built-in services only
	builtin = "echo" user = "nobody"|5: service "one": user applies to exec services only
	builtin = "echo" timeout = -1|5: timeout = -1: must be from 0 to 86400
	EOF
}

@test "config: a banner longer than 1024 bytes is refused" {
	config <<-EOF
	service one {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    banner = "$(head -c 1025 /dev/zero | tr '\0' b)"
	}
	EOF
	check
	assert_failure 78
	assert_output "$CONF:6: banner: longer than 1024 bytes"
}
