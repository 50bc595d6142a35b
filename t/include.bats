#!/usr/bin/env bats
# include: drop-in files of services, read in lexical order from the
# patterns the main file names, and again at each reload.

load helpers

setup() {
	portier_setup_default
	mkdir "$T/portier.d"
}

# The main file: the test's defaults, include = portier.d/*.conf, then
# stdin.
main_config() {
	config <<-EOF
	include = { "portier.d/*.conf" }
	$(cat)
	EOF
}

# Write drop-in $1 (under portier.d) from stdin.
dropin() {
	cat >"$T/portier.d/$1"
}

check() {
	run timeout 10 "$PORTIERD" -t -c "$CONF"
}

@test "include: files are read in lexical order, only names the pattern matches, and -t lists them" {
	main_config <<-'EOF'
	service main {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	dropin 20-b.conf <<-'EOF'
	service b {
	    listen = { "127.0.0.1:0" }
	    builtin = "daytime"
	}
	EOF
	dropin 10-a.conf <<-'EOF'
	service a1 {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service a2 {
	    listen = { "127.0.0.1:0" }
	    builtin = "rot13"
	}
	EOF
	# An editor's backup, a disabled file and one of another kind.
	cp "$T/portier.d/10-a.conf" "$T/portier.d/10-a.conf~"
	cp "$T/portier.d/10-a.conf" "$T/portier.d/30-c.conf.disabled"
	printf 'not a config\n' >"$T/portier.d/README"
	check
	assert_success
	assert_output - <<-EOF
	include $T/portier.d/10-a.conf
	include $T/portier.d/20-b.conf
	main: builtin echo (stream); listen 127.0.0.1:0; max_connections -1
	a1: builtin echo (stream); listen 127.0.0.1:0; max_connections -1
	a2: builtin rot13 (line); listen 127.0.0.1:0; max_connections -1
	b: builtin daytime (stream); listen 127.0.0.1:0; max_connections -1
	EOF
	portier_start
	run tcp "$(port a2)" <<<"abc"
	assert_output nop
}

@test "include: a pattern that matches nothing, or names a missing directory, is fine" {
	config <<-'EOF'
	include = { "portier.d/*.conf", "nowhere/*.conf", "/nonexistent/x.conf" }
	service main {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	check
	assert_success
	assert_output "main: builtin echo (stream); listen 127.0.0.1:0; max_connections -1"
}

@test "include: an included file's relative paths are taken from its own directory, and the main file's global settings apply to its services" {
	mkdir "$T/portier.d/bin"
	printf '#!/bin/sh\necho from-dropin\n' >"$T/portier.d/bin/hi"
	chmod +x "$T/portier.d/bin/hi"
	main_config <<-'EOF'
	max_per_source = 1
	on_limit = "refuse"
	EOF
	dropin hi.conf <<-'EOF'
	service hi {
	    listen = { "127.0.0.1:0" }
	    allow_root = true exec = { "bin/hi" }
	}
	EOF
	check
	assert_success
	assert_line "hi: exec $T/portier.d/bin/hi; listen 127.0.0.1:0; max_connections -1"
	portier_start
	run tcp "$(port hi)" </dev/null
	assert_output from-dropin
	run ctl -j services
	assert_success
	assert_equal "$(json "svc('hi')['max_per_source']" <<<"$output")" 1
}

@test "include: a global setting in an included file is an error at its FILE:LINE, naming it" {
	main_config </dev/null
	dropin a.conf <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	max_connections = 4
	EOF
	check
	assert_failure 78
	assert_output "$T/portier.d/a.conf:5: max_connections: a global setting, which only $CONF may make (an included file holds services)"
	dropin a.conf <<-'EOF'
	include = { "*.conf" }
	EOF
	check
	assert_failure 78
	assert_output "$T/portier.d/a.conf:1: include: a global setting, which only $CONF may make (an included file holds services)"
}

@test "include: errors in an included file name it and its line" {
	main_config </dev/null
	dropin a.conf <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	    bogus = 1
	}
	EOF
	check
	assert_failure 78
	assert_output "$T/portier.d/a.conf:4: no such option 'bogus'"
	dropin a.conf <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0" }

	    exec = { "/nonexistent/handler" }
	}
	EOF
	check
	assert_failure 78
	assert_output --regexp "^$T/portier.d/a.conf:4: "
	dropin a.conf <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	EOF
	check
	assert_failure 78
	assert_output "$T/portier.d/a.conf:1: service \"a\" is not closed: the file ends before its '}'"
}

@test "include: a service defined in two files, or twice in one, is an error naming both places" {
	main_config <<-'EOF'
	service web {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	dropin a.conf <<-'EOF'
	service api {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	dropin b.conf <<-'EOF'

	service api {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	check
	assert_failure 78
	assert_output "$T/portier.d/b.conf:2: service \"api\" is also defined at $T/portier.d/a.conf:1"
	dropin b.conf <<-'EOF'
	service web {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	check
	assert_failure 78
	assert_output "$T/portier.d/b.conf:1: service \"web\" is also defined at $CONF:4"
	dropin b.conf <<-'EOF'
	service x {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	service x {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	check
	assert_failure 78
	assert_output --regexp "^$T/portier.d/b.conf:[58]: .*x"
}

@test "include: two files' services on one address are an error naming both files" {
	main_config </dev/null
	dropin a.conf <<-'EOF'
	service a {
	    listen = { "127.0.0.1:7" }
	    builtin = "echo"
	}
	EOF
	dropin b.conf <<-'EOF'
	service b {
	    builtin = "echo"
	    listen = { "127.0.0.1:7" }
	}
	EOF
	check
	assert_failure 78
	assert_output "$T/portier.d/b.conf:3: service \"b\": listen \"127.0.0.1:7\" is also service \"a\"'s \"127.0.0.1:7\" ($T/portier.d/a.conf:2)"
}

@test "include: the main file matched by its own pattern is read once" {
	config <<-'EOF'
	include = { "*.conf" }
	service main {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	printf 'service other {\n    listen = { "127.0.0.1:0" }\n    builtin = "echo"\n}\n' >"$T/other.conf"
	check
	assert_success
	assert_output - <<-EOF
	include $T/other.conf
	main: builtin echo (stream); listen 127.0.0.1:0; max_connections -1
	other: builtin echo (stream); listen 127.0.0.1:0; max_connections -1
	EOF
}

@test "include: a reload re-reads the directory: a new file adds its services, a removed one drains its own" {
	main_config </dev/null
	dropin a.conf <<-'EOF'
	service a {
	    listen = { "127.0.0.1:0" }
	    allow_root = true exec = { "/bin/sh", "-c", "echo a; read line; echo $line" }
	}
	EOF
	portier_start
	local pa=$(port a)
	# A client of a, held open across the reload that removes a.
	client_open "$pa"
	client_read "$CLIENT"
	assert_equal "$REPLY" a
	dropin b.conf <<-'EOF'
	service b {
	    listen = { "127.0.0.1:0" }
	    builtin = "echo"
	}
	EOF
	run ctl reload
	assert_success
	assert_output --regexp '^added=1 changed=0 removed=0 unchanged=1 '
	run ctl -j services
	local pb=$(json "svc('b')['listen'][0].rsplit(':', 1)[1]" <<<"$output")
	run tcp "$pb" <<<"hello"
	assert_output hello
	rm "$T/portier.d/a.conf"
	run ctl reload
	assert_success
	assert_output --regexp '^added=0 changed=0 removed=1 unchanged=1 '
	wait_log "event=unlisten service=a "
	run timeout 5 socat -u "TCP4:127.0.0.1:$pa" /dev/null
	assert_failure
	# The client of the removed service is served to its end.
	printf 'still here\n' >&"$CLIENT"
	client_read "$CLIENT"
	assert_equal "$REPLY" "still here"
	exec {CLIENT}>&-
	wait_log "event=end service=a conn=1 "
}
