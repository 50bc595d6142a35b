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
