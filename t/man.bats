#!/usr/bin/env bats
# The manual: every page lints clean, and each page documents every name
# the code defines (config options, flags, handler variables, log events),
# so forgetting to document a new one fails here.

load helpers

# Fail unless every name on stdin (one per line, at least $3 of them) has
# a line in page $1 matching the extended regex $2, in which NAME stands
# for the name.  The control issue's command table uses this too.
assert_documented() {
	local page=$1 pattern=$2 min=$3 name n=0 missing=
	while IFS= read -r name; do
		[ -n "$name" ] || continue
		n=$(( n + 1 ))
		grep -qE -- "${pattern//NAME/$name}" "$page" ||
			missing="$missing $name"
	done
	(( n >= min )) || fail "found only $n names in the source (expected $min or more): is the extraction broken?"
	[ -z "$missing" ] || fail "$(basename "$page") does not document:$missing"
}

@test "man: every page passes mandoc -Tlint -Wwarning" {
	local p
	for p in portierd.8 portierctl.8 portier.conf.5 portier-handlers.7 \
	    portier-import.8; do
		run mandoc -Tlint -Wwarning "$(page "$p")"
		[ "$status" -eq 0 ] || fail "$p: $output"
	done
}

@test "man: no in-line quote runs on over the words meant to follow it" {
	# An in-line quote (Ql, Qq, Dq, Sq) takes in the rest of its line,
	# macros and all: a No after it, meant to end it, is quoted too, as
	# "(in single quotes only '\' is an escape')" once was.
	local p
	for p in "$PORTIER_SRC"/man/*.[1-9] "$PORTIER_SRC"/man/*.[1-9].in; do
		[ -e "$p" ] || continue
		run grep -nE '^\..*(^|[[:space:]])(Ql|Qq|Dq|Sq)[[:space:]].*[[:space:]]No([[:space:]]|$)' "$p"
		[ "$status" -eq 1 ] || fail "$(basename "$p"): $output"
	done
	# Rendered on lines long enough not to break, without overstrikes.
	mandoc -Tascii -O width=400 "$(page portier.conf.5)" |
	    sed 's/.\x08//g' >"$T/page"
	grep -qF "(in single quotes only \`\\'' and \`\\\\' are escapes)" "$T/page" ||
		fail "$(grep -F 'single quotes' "$T/page")"
	grep -qF 'env = { "NAME=value", ... }' "$T/page" ||
		fail "$(grep -F 'NAME=value' "$T/page")"
}

@test "man: every page in man/ is installed" {
	local p
	for p in "$PORTIER_SRC"/man/*.[1-9] "$PORTIER_SRC"/man/*.[1-9].in; do
		[ -e "$p" ] || continue
		p=$(basename "${p%.in}")
		sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$PORTIER_SRC/Makefile.am" |
		    grep -qE "^man_MANS = .*man/$p([[:space:]]|$)" ||
			fail "man/$p is not in man_MANS"
	done
}

@test "man: portier.conf(5) documents every option of the config schema" {
	grep -oE 'CFG_[A-Z_]+\("[a-z_]+"' "$PORTIER_SRC/supervisor/config.c" |
	    sed -E 's/.*\("//; s/"$//' | sort -u |
	    assert_documented "$(page portier.conf.5)" '^\.It Ic NAME( |$)' 7
	# Every setting, as opposed to a section, shows an example.
	grep -oE 'CFG_(INT|STR|BOOL|FLOAT)[A-Z_]*\("[a-z_]+"' \
	    "$PORTIER_SRC/supervisor/config.c" | sed -E 's/.*\("//; s/"$//' |
	    sort -u | assert_documented "$(page portier.conf.5)" '^\.Dl NAME = ' 7
}

@test "man: portierd(8) documents every command-line flag" {
	local main=$PORTIER_SRC/supervisor/main.c
	sed -n 's/.*{ "\([a-z-]*\)",.*/\1/p' "$main" |
	    assert_documented "$(page portierd.8)" '^\.It (Fl .* )?Fl \\-NAME( |$)' 6
	sed -n 's/.*getopt_long(argc, argv, "\([^"]*\)".*/\1/p' "$main" |
	    tr -d ':' | fold -w1 |
	    assert_documented "$(page portierd.8)" '^\.It Fl NAME( |$)' 5
}

@test "man: portierctl(8) documents every command of the control table" {
	sed -n '/^static const struct command command_table\[\] = {/,/^};/p' \
	    "$PORTIER_SRC/supervisor/command.c" |
	    sed -n 's/^[[:space:]]*{ "\([a-z-]*\)",.*/\1/p' |
	    assert_documented "$(page portierctl.8)" '^\.It Cm NAME( |$)' 12
}

@test "man: portierctl(8) documents every flag of portierctl" {
	local src=$PORTIER_SRC/supervisor/portierctl.c
	sed -n 's/.*{ "\([a-z-]*\)",.*/\1/p' "$src" |
	    assert_documented "$(page portierctl.8)" '^\.It (Fl .* )?Fl \\-NAME( |$)' 4
	sed -n 's/.*getopt_long(argc, argv, "+\{0,1\}\([^"]*\)".*/\1/p' "$src" |
	    tr -d ':+' | fold -w1 |
	    assert_documented "$(page portierctl.8)" '^\.It Fl NAME( |$)' 4
}

@test "man: portier-import(8) documents every flag of portier-import" {
	local src=$PORTIER_SRC/supervisor/portier-import
	sed -n "s/.*getopts('\([^']*\)'.*/\1/p" "$src" | tr -d ':' | fold -w1 |
	    assert_documented "$(page portier-import.8)" '^\.It Fl NAME( |$)' 4
	# Its usage line names them too.
	sed -n "s/.*getopts('\([^']*\)'.*/\1/p" "$src" | tr -d ':h' | fold -w1 |
	    assert_documented "$src" '^[[:space:]]*print .*"usage: .*\[-NAME[] ]' 3
}

@test "man: portier-handlers(7) documents every variable a handler gets" {
	grep -hE 'spawn_var|xasprintf' "$PORTIER_SRC"/supervisor/*.c |
	    grep -oE '"[A-Z][A-Z_]*=' | tr -d '"=' | sort -u |
	    assert_documented "$(page portier-handlers.7)" '^\.It Ev NAME$' 11
}

@test "man: portierd(8) documents every log event" {
	grep -ohE 'event=[a-z-]+' "$PORTIER_SRC"/supervisor/*.c |
	    sed 's/event=//' | sort -u |
	    assert_documented "$(page portierd.8)" '^\.It Cm (.* )?NAME( ,|$)' 15
}

@test "man: the handlers shown in portier-handlers(7) are the files in handlers/" {
	local f n=0
	for f in $(sed -n 's/^\.\\" verbatim: //p' "$(page portier-handlers.7)"); do
		n=$(( n + 1 ))
		# The literal block after the marker, with roff's escapes undone.
		awk -v f="$f" '
			$0 == ".\\\" verbatim: " f { on = 1; next }
			on && /^\.Bd/ { next }
			on && /^\.Ed/ { exit }
			on { sub(/^\\&/, ""); gsub(/\\e/, "\\"); print }
		' "$(page portier-handlers.7)" >"$T/shown"
		diff -u "$PORTIER_SRC/$f" "$T/shown" || fail "$f differs from the page"
	done
	[ "$n" -eq 4 ] || fail "expected the sh, Perl, Python and C handlers, found $n"
}

@test "man: the complete example in portier.conf(5) passes portierd -t" {
	mkdir "$T/handlers"
	cp "$PORTIER_SRC/handlers/rot13.pl" "$PORTIER_SRC/handlers/worker.py" \
	    "$T/handlers/"
	# The example's first literal block, with its absolute paths moved here.
	awk '/^\.Sh EXAMPLES/ { f = 1 } f && /^\.Bd/ { p = 1; next }
	    p && /^\.Ed/ { exit } p' "$(page portier.conf.5)" |
	    sed -e 's/\\e/\\/g' \
	        -e "s|/usr/local/libexec/portier/hello.sh|$PORTIER_SRC/handlers/hello.sh|" \
	        -e "s|/run/portier/|$T/|" >"$T/portier.conf"
	grep -q '^service hello {' "$T/portier.conf"
	run "$PORTIERD" -t -c "$T/portier.conf"
	assert_success
	assert_line --index 0 --partial "hello: exec $PORTIER_SRC/handlers/hello.sh 'Welcome!'"
	assert_line --index 1 --partial "rot13: exec $T/handlers/rot13.pl"
}
