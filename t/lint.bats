#!/usr/bin/env bats
# Static analysis: cppcheck over every C file of ours, with the checks the
# project chose, must report nothing.  (Compiler warnings are the build's:
# CI configures with --enable-werror.)
#
# Left out, on purpose: variableScope, since our style declares variables
# at the top of a function; redundantContinue, since "continue" is how we
# write an empty loop body (the EINTR retries).  cppcheck reads no system
# header, so it is told the two system macros our code branches on.

load helpers

@test "lint: cppcheck finds nothing in the C sources" {
	[ -z "${PORTIER_SANITIZERS:-}" ] ||
		skip "the sanitizer build: the plain build runs it"
	command -v cppcheck >/dev/null || fail "cppcheck is not installed"
	local queue
	queue=$(printf '#include <sys/queue.h>\n' |
	    cc -E -H - 2>&1 >/dev/null | awk '/queue\.h$/ { print $2; exit }')
	[ -f "$queue" ] || fail "cannot find sys/queue.h"
	run cppcheck --enable=warning,style,performance,portability \
	    --std=c11 --inline-suppr --error-exitcode=1 --quiet \
	    -I "$PORTIER_SRC/supervisor" -I "$PORTIER_BUILD" \
	    --include="$queue" -DSO_PEERGROUPS=59 \
	    --suppress=missingIncludeSystem --suppress=variableScope \
	    --suppress=redundantContinue \
	    "$PORTIER_SRC"/supervisor/*.c "$PORTIER_SRC"/compat/*.c \
	    "$PORTIER_SRC"/handlers/*.c "$PORTIER_SRC"/t/tools/*.c
	assert_success
	assert_output ""
}

# Who calls whose functions, from the objects' symbols: "a b" for each
# non-static function of b that a uses.
call_edges() {
	local o f
	for o in "$PORTIER_BUILD"/supervisor/portierd-*.o; do
		f=${o##*/portierd-}
		nm "$o" | awk -v f="${f%.o}" '$2 ~ /^[TDBR]$/ { print "D", $3, f }
		    $1 == "U" { print "U", $2, f }'
	done | awk '$1 == "D" { def[$2] = $3; next }
	    { use[NR] = $3 " " $2 }
	    END { for (i in use) { split(use[i], u, " ")
		if ((u[2] in def) && def[u[2]] != u[1]) print u[1], def[u[2]] } }' |
	    sort -u
}

@test "lint: no two files of the daemon call each other both ways, but conn.c and service.c" {
	[ -z "${PORTIER_SANITIZERS:-}" ] ||
		skip "the sanitizer build: the plain build runs it"
	ls "$PORTIER_BUILD"/supervisor/portierd-*.o >/dev/null ||
		fail "no object files in $PORTIER_BUILD/supervisor"
	local edges pairs
	edges=$(call_edges)
	[ "$(wc -l <<<"$edges")" -gt 20 ] || fail "too few calls found: $edges"
	pairs=$(awk '{ e[$1 " " $2] = 1 } END { for (k in e) { split(k, a, " ")
	    if ((a[2] " " a[1]) in e && a[1] < a[2]) print a[1], a[2] } }' \
	    <<<"$edges" | sort)
	echo "$pairs"
	[ "$pairs" = "conn service" ]
}

@test "lint: no test sets BATS_TEST_TIMEOUT in its body, where bats no longer reads it" {
	local files
	files=("$PORTIER_SRC"/t/*.bats)
	[ "${#files[@]}" -gt 10 ] || fail "too few test files: ${files[*]}"
	# A test body is indented; a file-level setting is not.
	run grep -nE '^[[:space:]]+(local |export )?BATS_TEST_TIMEOUT=' \
	    "${files[@]}"
	assert_output ""
	grep -qE '^BATS_TEST_TIMEOUT=[0-9]+$' "$PORTIER_SRC"/t/hostile-control.bats
}
