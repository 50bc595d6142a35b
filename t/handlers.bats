#!/usr/bin/env bats
# The example handlers in handlers/, one per language, each run under
# portierd exactly as the demo config and portier-handlers(7) show them.

load helpers

@test "handlers: hello.sh greets with its argument and answers lines" {
	config <<-EOF
	service hello {
	    listen = { "127.0.0.1:0" }
	    exec = { "$PORTIER_SRC/handlers/hello.sh", "Smile from the server!" }
	}
	EOF
	portier_start
	# "not reached" comes after the handler has quit: sent with the rest, it
	# could still be unread when the handler exits, and then the kernel
	# answers the close with a reset that can cost the client "Bye.".
	run tcp "$(port hello)" < <(printf 'ping\nquit\n'; sleep 0.5;
	    printf 'not reached\n')
	assert_line --index 0 "Smile from the server! You are 127.0.0.1, port $(
	    sed -n 's/.*event=spawn service=hello .*remote=127.0.0.1:\([0-9]*\) .*/\1/p' "$LOG")."
	assert_line --index 1 "You said: ping"
	assert_line --index 2 "Bye."
	[ "${#lines[@]}" -eq 3 ]
}

@test "handlers: rot13.pl answers each line rot13'd, as POE's example" {
	one_service rot13 "\"$PORTIER_SRC/handlers/rot13.pl\""
	portier_start
	run tcp "$(port rot13)" <<<$'Hello, World!\nuryyb'
	assert_line --index 0 "Uryyb, Jbeyq!"
	assert_line --index 1 "hello"
}

@test "handlers: rot13.pl answers a line before the client sends the next" {
	one_service rot13 "\"$PORTIER_SRC/handlers/rot13.pl\""
	portier_start
	client_open "$(port rot13)"
	echo abc >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" nop
	echo nop >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" abc
	exec {CLIENT}<&-
}

@test "handlers: upper.py answers each line in upper case, at once" {
	one_service upper "\"$PORTIER_SRC/handlers/upper.py\""
	portier_start
	client_open "$(port upper)"
	echo 'make me loud' >&$CLIENT
	client_read $CLIENT
	assert_equal "$REPLY" "MAKE ME LOUD"
	echo quit >&$CLIENT
	exec {CLIENT}<&-
	wait_log "event=stderr service=upper conn=1 pid=[0-9]+ line=\"upper.py: 127.0.0.1 done\"$"
}

@test "handlers: the C handler greets the client by address" {
	one_service hello "\"$PORTIER_BUILD/handlers/hello\""
	portier_start
	run tcp "$(port hello)" </dev/null
	assert_output "hello 127.0.0.1 from portier"
}

@test "handlers: the demo config passes portierd -t" {
	# etc/run, where its sockets go, as make demo makes it.
	mkdir -p "$T/etc/run" "$T/handlers"
	cp "$PORTIER_SRC/etc/portier.conf" "$T/etc/"
	cp "$PORTIER_SRC"/handlers/*.sh "$PORTIER_SRC"/handlers/*.pl \
	    "$PORTIER_SRC"/handlers/*.py "$PORTIER_BUILD/handlers/hello" \
	    "$T/handlers/"
	run "$PORTIERD" -t -c "$T/etc/portier.conf"
	assert_success
	assert_line --partial "rot13: exec $T/etc/../handlers/rot13.pl"
}
