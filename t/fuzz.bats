#!/usr/bin/env bats
# The libFuzzer targets (t/fuzz/, built by make fuzz and by make check),
# each run for FUZZ_SECONDS (default 40: six targets take about as long as
# five did at 45) from the checked-in corpus, which it replays first:
# any crash, sanitizer report, leak or abort fails.
# New inputs and any crashing input go to the test's own directory, never
# into the source tree; a fixed crash's input joins the corpus, which makes
# it a regression test.
# For a long run: t/fuzz/fuzz_NAME -max_total_time=3600 DIR t/fuzz/corpus/NAME,
# NAME one of config, addr, control, line, http, format.

# Each test fuzzes for FUZZ_SECONDS, so its time limit is that and a minute.
BATS_TEST_TIMEOUT=$(( ${FUZZ_SECONDS:-40} + 60 ))
load helpers

fuzz() {
	local target=$PORTIER_BUILD/t/fuzz/fuzz_$1
	[ -z "${PORTIER_SANITIZERS:-}" ] ||
		skip "the sanitizer build: the plain build runs the fuzzers"
	[ -x "$target" ] ||
		fail "$target is not built: clang's libFuzzer is missing (bootstrap installs it)"
	mkdir -p "$T/corpus"
	# Niced: each run takes a whole core for FUZZ_SECONDS, while CI runs
	# another test file beside it (make -j2) that may be counting on time.
	run nice -n 10 "$target" -max_total_time="${FUZZ_SECONDS:-40}" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$T/" \
	    "$T/corpus" "$PORTIER_SRC/t/fuzz/corpus/$1"
	[ "$status" -eq 0 ] || {
		printf '%s\n' "$output" | tail -60
		ls "$T"/crash-* "$T"/leak-* "$T"/timeout-* "$T"/oom-* 2>/dev/null
		fail "fuzz_$1 exited $status; put the input above in t/fuzz/corpus/$1 once fixed"
	}
	# It really ran: libFuzzer's own count of executions.
	[[ "$output" =~ stat::number_of_executed_units:\ *([0-9]+) ]] ||
		fail "no stats from fuzz_$1"
	(( BASH_REMATCH[1] > 100 )) || fail "fuzz_$1 ran only ${BASH_REMATCH[1]} inputs"
}

@test "fuzz: the config loader, on whole files" {
	fuzz config
}

@test "fuzz: the listen address and network parsers" {
	fuzz addr
}

@test "fuzz: the control request parser" {
	fuzz control
}

@test "fuzz: the line filter, in any chunks" {
	fuzz line
}

@test "fuzz: the metrics built-in's HTTP request reader, a prefix at a time" {
	fuzz http
}

@test "fuzz: the log lines' formatter, against snprintf" {
	fuzz format
}
