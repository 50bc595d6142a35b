#!/usr/bin/env bats
# The examples in README.md and the manual are true: the handler listings
# are the shipped files, every config shown passes portierd -t, the JSON
# replies shown keep their quotes when rendered and name only members the
# daemon sends.  (t/man.bats checks that each page documents every name
# the code defines.)

load helpers

# Write code block number $2 (from 1) of markdown file $1 whose opening
# fence line is exactly $3 to stdout.
md_block() {
	awk -v want="$2" -v fence="$3" '
	    !inb && $0 == fence { n++; if (n == want) { inb = 1; next } }
	    inb && $0 == "```" { exit }
	    inb { print }' "$1"
}

@test "docs: each handler listed in README.md is the shipped file" {
	local listed=0 file
	while IFS= read -r file; do
		listed=$(( listed + 1 ))
		run awk -v head="\`$file\`:" '
		    $0 == head { found = 1; next }
		    found && /^```/ { if (inb) exit; inb = 1; next }
		    inb { print }' "$PORTIER_SRC/README.md"
		assert_output "$(cat "$PORTIER_SRC/$file")"
	done < <(sed -n 's/^`\(handlers\/[^`]*\)`:$/\1/p' "$PORTIER_SRC/README.md")
	(( listed >= 3 )) || fail "found $listed listings: is the extraction broken?"
}

@test "docs: every config in README.md passes portierd -t" {
	mkdir -p "$T/etc/run" "$T/handlers"
	cp "$PORTIER_SRC"/handlers/*.sh "$PORTIER_SRC"/handlers/*.pl \
	    "$PORTIER_SRC"/handlers/*.py "$T/handlers/"
	local i checked=0
	for (( i = 1; i <= 20; i++ )); do
		md_block "$PORTIER_SRC/README.md" "$i" '```' >"$T/etc/portier.conf"
		grep -q '^service ' "$T/etc/portier.conf" || continue
		checked=$(( checked + 1 ))
		run "$PORTIERD" -t -c "$T/etc/portier.conf"
		assert_success
		assert_output --regexp '^[a-z0-9]+: '
	done
	(( checked >= 2 )) || fail "found $checked configs: is the extraction broken?"
}

@test "docs: every config in portier-handlers(7) passes portierd -t" {
	mkdir "$T/handlers"
	cp "$PORTIER_SRC"/handlers/*.sh "$PORTIER_SRC"/handlers/*.pl \
	    "$PORTIER_SRC"/handlers/*.py "$T/handlers/"
	local checked=0 f
	# Each literal block that is a service, in a file of its own.
	awk -v dir="$T" '/^\.Bd -literal/ { p = 1; buf = ""; next }
	    /^\.Ed/ { if (p && buf ~ /^service /) {
		f = dir "/ex" ++n ".conf"; printf "%s", buf >f; close(f) }
		p = 0; next }
	    p { buf = buf $0 "\n" }' "$(page portier-handlers.7)"
	for f in "$T"/ex*.conf; do
		[ -e "$f" ] || continue
		checked=$(( checked + 1 ))
		run "$PORTIERD" -t -c "$f"
		assert_success
	done
	(( checked >= 3 )) || fail "found $checked configs: is the extraction broken?"
}

# Whether the one-line example $1 of portier.conf(5) passes portierd -t in
# one of the places an option can go: the top of the file, or a built-in,
# an exec, an accept = "handler", a unix: or a "*" service, one missing
# what the example itself gives.
example_passes() {
	local ex=$1 tmpl
	for tmpl in \
	    "$ex|service s {|listen = { \"127.0.0.1:0\" }|builtin = \"echo\"|}" \
	    "service s {|listen = { \"127.0.0.1:0\" }|builtin = \"echo\"|$ex|}" \
	    "service s {|listen = { \"127.0.0.1:0\" }|exec = { \"/bin/cat\" }|allow_root = true|$ex|}" \
	    "service s {|listen = { \"127.0.0.1:0\" }|exec = { \"/bin/cat\" }|allow_root = true|accept = \"handler\"|$ex|}" \
	    "service s {|listen = { \"unix:run/s.sock\" }|builtin = \"echo\"|$ex|}" \
	    "service s {|listen = { \"*:0\" }|builtin = \"echo\"|$ex|}" \
	    "service s {|exec = { \"/bin/cat\" }|allow_root = true|$ex|}" \
	    "service s {|listen = { \"127.0.0.1:0\" }|allow_root = true|$ex|}"; do
		tr '|' '\n' <<<"$tmpl" >"$T/ex.conf"
		"$PORTIERD" -t -c "$T/ex.conf" >/dev/null 2>&1 && return 0
	done
	echo "no place takes: $ex ($("$PORTIERD" -t -c "$T/ex.conf" 2>&1))"
	return 1
}

@test "docs: every one-line example in portier.conf(5) passes portierd -t" {
	# The absolute paths the examples name, made under the test's
	# directory, which the examples are then taken from.
	mkdir -p "$T/run" "$T/srv/hello" "$T/usr/local/libexec"
	printf '#!/bin/sh\n' >"$T/usr/local/libexec/hello.sh"
	chmod +x "$T/usr/local/libexec/hello.sh"
	local ex n=0 bad=
	while IFS= read -r ex; do
		n=$(( n + 1 ))
		ex=${ex//\"\/usr\/local\//\"$T/usr/local/}
		ex=${ex//\"\/srv\//\"$T/srv/}
		example_passes "$ex" || bad="$bad
$ex"
	done < <(sed -n 's/^\.Dl //p' "$(page portier.conf.5)" |
	    sed 's/\\(dq/"/g; s/\\e\\&/\\/g; s/\\e/\\/g')
	(( n >= 40 )) || fail "found $n examples: is the extraction broken?"
	[ -z "$bad" ] || fail "examples portierd -t refuses:$bad"
}

@test "docs: every page renders with mandoc, and portierctl(8)'s JSON keeps its quotes" {
	local p
	for p in portierd.8 portierctl.8 portier.conf.5 portier-handlers.7 \
	    portier-import.8; do
		run mandoc -Tutf8 "$(page "$p")"
		assert_success
		[ "${#output}" -gt 2000 ] || fail "$p rendered to ${#output} bytes"
	done
	run bash -c "mandoc -Tutf8 '$(page portierctl.8)' | col -b"
	assert_output --partial '{"pid": 812, "version": "0.1.0"'
	assert_output --partial '{"services": [{"name": "echo", "kind": "builtin"'
	assert_output --partial '{"connections": [{"id": 17, "service": "hello"'
	assert_output --partial '{"version": "0.1.0"}'
	assert_output --partial '{"result": "..."}'
}

# The member names in the JSON example of portierctl(8) that begins with
# $1, one per line.
example_keys() {
	mandoc -Tutf8 "$(page portierctl.8)" | col -b |
	    awk -v start="$1" 'index($0, start) { on = 1 } on { print }
		on && /^ *$/ { exit }' |
	    grep -oE '"[a-z_0-9]+":' | tr -d '":' | sort -u
}

@test "docs: the JSON replies portierctl(8) shows name only members the daemon sends" {
	config <<-'EOF'
	service gated {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo in; read x" }
	}
	EOF
	portier_start
	client_open "$(port gated)"
	client_read $CLIENT
	ctl reload >/dev/null	# so that last_reload is an object
	local cmd start key missing=
	for cmd in 'status|{"pid"' 'services|{"services"' 'connections|{"connections"'; do
		start=${cmd#*|}
		run example_keys "$start"
		[ "${#lines[@]}" -gt 3 ] || fail "no keys in the ${cmd%%|*} example"
		local reply
		reply=$(ctl -j "${cmd%%|*}")
		for key in "${lines[@]}"; do
			grep -q "\"$key\":" <<<"$reply" || missing="$missing ${cmd%%|*}:$key"
		done
	done
	exec {CLIENT}<&-
	[ -z "$missing" ] || fail "shown but never sent:$missing"
}
