#!/usr/bin/env bats
# Services whose handler accepts for itself (accept = "handler"): workers
# given the listening sockets, started on demand or at once, restarted
# with a back-off, stopped by pause, shutdown and reload.  The workers are
# the shipped examples, handlers/worker.py (the systemd convention) and
# handlers/worker-inetd.pl (inetd's wait convention).

load helpers

# Back-off steps are whole seconds; a test may wait out two or three.
BATS_TEST_TIMEOUT=90

WORKER_PY=$PORTIER_SRC/handlers/worker.py
WORKER_PL=$PORTIER_SRC/handlers/worker-inetd.pl

# A service "w" running worker.py, with the settings given as arguments,
# one per line.
py_service() {
	local extra
	extra=$(printf '    %s\n' "$@")
	config <<-EOF
	service w {
	    listen = { "127.0.0.1:0" }
	    exec = { "$WORKER_PY" }
	    accept = "handler"
	$extra
	}
	EOF
}

# A client of service w: send "quit", print the greeting.
greet() {
	printf 'quit\n' | tcp "$(port w)"
}

# The pids of w's workers that run and were not told to stop, sorted.
worker_pids() {
	ctl -j connections | json "sorted(c['pid'] for c in d['connections'] if c['service'] == 'w' and c['remote'].startswith('worker:') and c['state'] == 'running')"
}

# Whether w has exactly $1 running workers.
workers_are() {
	[ "$(worker_pids | wc -l)" -eq "$1" ]
}

# w's state in `services`.
state() {
	ctl -j services | json "s['state']"
}

@test "workers: on demand, no process runs before the first client; then the workers take the sockets and portierd accepts nothing" {
	py_service 'workers = 2'
	portier_start
	[ "$(state)" = watching ]
	run ctl connections
	assert_output "ID  SERVICE  PID  REMOTE  AGE  STATE  IN  OUT"
	run greet
	assert_output --regexp "^worker [0-9]+ w$"
	wait_until workers_are 2
	[ "$(state)" = serving ]
	ctl -j services | json "s['kind'] == 'exec' and s['accept'] == 'handler' and s['active'] == 2 and s['accepted'] == 0 and s['max_connections'] == 2 and s['restarts'] == 0"
	run ctl services
	assert_line --regexp '^w +workers +127\.0\.0\.1:[0-9]+ +2 +2 +0 +0 +serving'
	log_has 'event=spawn service=w conn=1 pid=[0-9]+ remote=worker:1 ' 1
	log_has 'event=spawn service=w conn=2 pid=[0-9]+ remote=worker:2 ' 1
	# portierd never accepted: no end line but the workers' at shutdown.
	[ "$(log_count 'event=end')" -eq 0 ]
}

@test "workers: two workers share the load, each client served by one of them" {
	py_service 'workers = 2' 'start = "now"'
	portier_start
	wait_until workers_are 2
	local pids i
	pids=$(worker_pids)
	for (( i = 0; i < 30; i++ )); do
		greet
	done >"$T/greetings"
	[ "$(grep -c '^worker ' "$T/greetings")" -eq 30 ]
	# Every greeting names one of the two, and both served some.
	run bash -c "awk '{ print \$2 }' '$T/greetings' | sort -u"
	assert_output "$pids"
}

@test "workers: start = \"now\" starts them at once, with the sockets from fd 3 as systemd passes them and nothing else" {
	py_service 'workers = 1' 'start = "now"' 'env = { "KEPT=1" }'
	portier_start
	wait_until workers_are 1
	local pid
	pid=$(worker_pids)
	tr '\0' '\n' <"/proc/$pid/environ" | sort >"$T/env"
	run grep -E '^(LISTEN_|PORTIER_|KEPT|PROTO|TCP)' "$T/env"
	assert_output "KEPT=1
LISTEN_FDNAMES=w
LISTEN_FDS=1
LISTEN_PID=$pid
PORTIER_CONN_ID=1
PORTIER_SERVICE=w
PORTIER_WORKER=1"
	# fd 0 is /dev/null, 1 and 2 the log's pipe, 3 the listening socket;
	# python's own (its thread's wake-up pair, a selector) come after.
	[ "$(readlink "/proc/$pid/fd/0")" = /dev/null ]
	[[ $(readlink "/proc/$pid/fd/1") == pipe:* ]]
	[ "$(readlink "/proc/$pid/fd/1")" = "$(readlink "/proc/$pid/fd/2")" ]
	[[ $(readlink "/proc/$pid/fd/3") == socket:* ]]
	wait_log 'event=stderr service=w conn=1 .*accepting on 1 sockets'
}

@test "workers: a worker that crashes is started again after a back-off that doubles, and past max_restarts the service stops until resume" {
	config <<-EOF
	service w {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "echo crash \$PORTIER_WORKER >&2; exit 3" }
	    accept = "handler"
	    start = "now"
	    restart_delay = 1
	    max_restarts = 2
	}
	EOF
	portier_start
	wait_log 'event=worker-giveup service=w status=exit:3 restarts=2 window=60'
	# One line per step, the delay doubling; then nothing more starts.
	run grep -oE 'event=worker-(restart|giveup) .*' "$LOG"
	assert_output "event=worker-restart service=w status=exit:3 delay=1 restarts=1
event=worker-restart service=w status=exit:3 delay=2 restarts=2
event=worker-giveup service=w status=exit:3 restarts=2 window=60"
	[ "$(log_count 'event=spawn service=w')" -eq 3 ]
	[ "$(state)" = crash-loop ]
	run ctl services
	assert_line --regexp '^w +workers .* crash-loop +-$'
	sleep 1.5
	[ "$(log_count 'event=spawn service=w')" -eq 3 ]
	# resume starts it again, and the loop is stopped again.
	run ctl resume w
	assert_output "w resumed"
	wait_log 'event=worker-giveup' 2
	[ "$(log_count 'event=spawn service=w')" -eq 6 ]
}

@test "workers: on demand, a worker that exits 0 by itself is not replaced: the sockets go back to the watch, and the next client starts one again" {
	config <<-EOF
	service w {
	    listen = { "127.0.0.1:0" }
	    exec = { "$WORKER_PL" }
	    env = { "IDLE=1" }
	    accept = "handler"
	    pass = "inetd"
	}
	EOF
	portier_start
	[ "$(state)" = watching ]
	printf 'abc\nquit\n' | tcp "$(port w)" >"$T/out"
	run cat "$T/out"
	assert_line --regexp '^inetd-worker [0-9]+$'
	assert_line cba
	# Idle for a second, it exits 0 and portierd watches again.
	wait_log 'event=end service=w conn=1 .*status=exit:0'
	wait_until -t 5 eval '[ "$(state)" = watching ]'
	[ "$(log_count 'event=worker-restart')" -eq 0 ]
	printf 'xy\nquit\n' | tcp "$(port w)" >"$T/out"
	run cat "$T/out"
	assert_line yx
	wait_log 'event=spawn service=w conn=2 .*remote=worker:1'
}

@test "workers: kill ID replaces that worker at once, with no back-off; its clients finish" {
	py_service 'workers = 1' 'start = "now"'
	sed -i 's/kill_grace = 1/kill_grace = 60/' "$CONF"
	portier_start
	wait_until workers_are 1
	local old id
	old=$(worker_pids)
	id=$(ctl -j connections | json "d['connections'][0]['id']")
	# A client in the middle of its session when the kill comes.
	client_open "$(port w)"
	client_read "$CLIENT"
	[ "$REPLY" = "worker $old w" ]
	run ctl kill "$id"
	assert_success
	wait_until eval '[ "$(worker_pids)" != "$old" ] && workers_are 1'
	# The old one stopped accepting but still serves its client.
	printf 'still\n' >&"$CLIENT"
	client_read "$CLIENT" || { cat "$LOG"; false; }
	[ "$REPLY" = STILL ]
	exec {CLIENT}>&-
	wait_log "event=end service=w conn=$id pid=$old status=exit:0"
	[ "$(log_count 'event=worker-restart')" -eq 0 ]
	run greet
	assert_output "worker $(worker_pids) w"
}

@test "workers: set-concurrency sets how many run, pause stops them and resume starts them again" {
	py_service 'workers = 1' 'start = "now"'
	portier_start
	wait_until workers_are 1
	local first
	first=$(worker_pids)
	ctl set-concurrency w 3
	wait_until workers_are 3
	ctl -j services | json "s['max_connections'] == 3 and s['file_max_connections'] == 1 and s['overrides'] == ['set-concurrency']"
	# Down to one: the oldest stays.
	ctl set-concurrency w 1
	wait_until workers_are 1
	[ "$(worker_pids)" = "$first" ]
	wait_until eval '[ "$(ctl -j services | json "s[\"active\"]")" = 1 ]'
	ctl pause w
	wait_until workers_are 0
	wait_until eval '[ "$(ctl -j services | json "s[\"active\"]")" = 0 ]'
	[ "$(state)" = paused ]
	ctl resume w
	wait_until workers_are 1
	run greet
	assert_output --regexp '^worker [0-9]+ w$'
	[ "$(log_count 'event=worker-restart')" -eq 0 ]
}

@test "workers: timeout is a worker's lifetime: TERM when it runs out, then a new one at once" {
	py_service 'workers = 1' 'start = "now"' 'timeout = 1'
	portier_start
	wait_log 'event=timeout service=w conn=1 '
	wait_log 'event=end service=w conn=1 .*status=exit:0'
	# Replaced as it was told to stop, while it still ran.
	run grep -oE 'event=(spawn|timeout|end) service=w conn=[0-9]+' "$LOG"
	assert_line --index 0 'event=spawn service=w conn=1'
	assert_line --index 1 'event=timeout service=w conn=1'
	assert_line --index 2 'event=spawn service=w conn=2'
	assert_line --index 3 'event=end service=w conn=1'
	log_has 'event=spawn service=w conn=2 .*remote=worker:2' 1
	[ "$(log_count 'event=worker-restart')" -eq 0 ]
}

@test "workers: shutdown TERMs every worker at once and KILLs one that ignores it after kill_grace" {
	config <<-EOF
	service w {
	    listen = { "127.0.0.1:0" }
	    exec = { "$WORKER_PY" }
	    accept = "handler"
	    start = "now"
	    workers = 2
	}
	service stubborn {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "trap '' TERM; echo up >&2; while :; do sleep 1; done" }
	    accept = "handler"
	    start = "now"
	}
	EOF
	portier_start
	wait_until workers_are 2
	wait_log 'event=stderr service=stubborn .*line="up"'
	portier_stop
	[ "$PORTIER_STATUS" = 0 ]
	[ "$(log_count 'event=end service=w .*status=exit:0')" -eq 2 ]
	[ "$(log_count 'event=end service=stubborn .*status=signal:KILL')" -eq 1 ]
	# Told at the drain, not after shutdown_timeout: the two left at once.
	run grep -oE 'event=(shutdown|end) service=w|event=shutdown stage=[a-z]+|event=end service=stubborn' "$LOG"
	assert_output "event=shutdown stage=drain
event=end service=w
event=end service=w
event=end service=stubborn"
}

@test "workers: a reload keeps the workers of an unchanged service, replaces those of a changed one while every client is served, and ends those of a removed one" {
	config <<-EOF
	service w {
	    listen = { "127.0.0.1:0" }
	    exec = { "$WORKER_PY" }
	    accept = "handler"
	    start = "now"
	    workers = 2
	}
	service gone {
	    listen = { "127.0.0.1:0" }
	    exec = { "$WORKER_PY" }
	    accept = "handler"
	    start = "now"
	}
	EOF
	portier_start
	wait_until workers_are 2
	wait_log 'event=stderr service=gone .*accepting on 1 sockets'
	local before after port
	before=$(worker_pids)
	port=$(port w)
	run ctl reload
	assert_output --partial "added=0 changed=0 removed=0 unchanged=2"
	[ "$(worker_pids)" = "$before" ]
	# A client loop runs across a reload that changes w.
	bg clients bash -c "for i in \$(seq 200); do printf 'quit\n' | timeout 10 socat -t 5 - TCP4:127.0.0.1:$port || echo FAILED; done"
	local loop=$!
	sed -i -e 's/workers = 2/workers = 2\n    env = { "NEW=1" }/' -e '/^service gone/,/^}/d' "$CONF"
	run ctl reload
	assert_output --partial "added=0 changed=1 removed=1 unchanged=0"
	wait_until -t 30 pid_gone "$loop"
	wait "$loop"
	[ "$(grep -c '^worker ' "$T/clients")" -eq 200 ]
	run grep -v '^worker ' "$T/clients"
	assert_output ""
	after=$(worker_pids)
	[ "$(wc -l <<<"$after")" -eq 2 ]
	[ -z "$(comm -12 <(echo "$before") <(echo "$after"))" ]
	for pid in $after; do
		tr '\0' '\n' <"/proc/$pid/environ" | grep -qx NEW=1
	done
	wait_log 'event=end service=gone .*status=exit:0'
	[ "$(log_count 'event=end service=w .*status=exit:0')" -eq 2 ]
	[ "$(port w)" = "$port" ]
}

@test "workers: a service changed to accept = \"portier\" by a reload accepts on the same socket itself" {
	py_service 'workers = 1' 'start = "now"'
	portier_start
	wait_until workers_are 1
	run greet
	assert_output --regexp '^worker '
	sed -i -e 's/accept = "handler"/accept = "portier"/' -e '/workers = 1/d' \
	    -e '/start = "now"/d' -e "s|exec = { \"$WORKER_PY\" }|exec = { \"/bin/echo\", \"mine\" }|" "$CONF"
	run ctl reload
	assert_success
	wait_log 'event=end service=w conn=1 .*status=exit:0'
	run tcp "$(port w)" </dev/null
	assert_output mine
	run tcp "$(port w)" </dev/null
	assert_output mine
}

@test "workers: pass = \"inetd\" gives the one socket on fds 0 and 1, to a program written for inetd's wait mode" {
	config <<-EOF
	service w {
	    listen = { "127.0.0.1:0" }
	    exec = { "$WORKER_PL" }
	    accept = "handler"
	    pass = "inetd"
	    start = "now"
	}
	EOF
	portier_start
	wait_until workers_are 1
	local pid
	pid=$(worker_pids)
	[[ $(readlink "/proc/$pid/fd/0") == socket:* ]]
	[ "$(readlink "/proc/$pid/fd/0")" = "$(readlink "/proc/$pid/fd/1")" ]
	[[ $(readlink "/proc/$pid/fd/2") == pipe:* ]]
	! tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^LISTEN_'
	printf 'hello\nquit\n' | tcp "$(port w)" >"$T/out"
	run cat "$T/out"
	assert_output "inetd-worker $pid
olleh"
}

@test "workers: settings that need portierd to see each connection are errors in such a service, and its own settings errors elsewhere" {
	local bad
	for bad in 'max_connections = 3' 'allow = { "127.0.0.1" }' \
	    'max_rate = 5' 'busy_message = "busy"' 'banner = "hi"' \
	    'log_connections = false'; do
		py_service "$bad"
		run "$PORTIERD" -t -c "$CONF"
		[ "$status" -eq 78 ]
		assert_output --regexp "^$CONF:[0-9]+: service \"w\": ${bad%% *} needs portierd to see each connection, and with accept = \"handler\" the workers accept them$"
	done
	one_service w '"/bin/cat"'
	sed -i 's/^}/    workers = 2\n}/' "$CONF"
	run "$PORTIERD" -t -c "$CONF"
	[ "$status" -eq 78 ]
	assert_output "$CONF:6: service \"w\": workers applies to accept = \"handler\" services only"
	config <<-EOF
	deny = { "10.0.0.0/8" }
	service w {
	    listen = { "127.0.0.1:0" }
	    exec = { "$WORKER_PY" }
	    accept = "handler"
	}
	EOF
	run "$PORTIERD" -t -c "$CONF"
	[ "$status" -eq 78 ]
	assert_output --partial 'the global deny cannot apply to it'
	py_service 'pass = "inetd"'
	sed -i 's/listen = { "127.0.0.1:0" }/listen = { "127.0.0.1:0", "127.0.0.2:0" }/' "$CONF"
	run "$PORTIERD" -t -c "$CONF"
	[ "$status" -eq 78 ]
	assert_output --partial 'pass = "inetd" gives one socket, on fds 0 and 1, and the service listens on 2 addresses'
	py_service 'workers = 3' 'pass = "inetd"'
	run "$PORTIERD" -t -c "$CONF"
	assert_success
	assert_output "w: exec $WORKER_PY; listen 127.0.0.1:0; accept handler, pass inetd, start on-demand, workers 3"
	py_service 'env = { "LISTEN_PID=1" }'
	run "$PORTIERD" -t -c "$CONF"
	[ "$status" -eq 78 ]
	assert_output --partial 'portierd sets LISTEN_PID itself'
}

@test "workers: a worker says how many clients it serves on its notify socket, which services, connections and metrics show; other processes are not heard there" {
	py_service 'workers = 1'
	portier_start
	client_open "$(port w)"
	client_read "$CLIENT"
	[[ $REPLY == "worker "* ]]
	local pid id sock
	pid=$(worker_pids)
	id=$(ctl -j connections | json "d['connections'][0]['id']")
	sock=$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^NOTIFY_SOCKET=//p')
	[ "$sock" = "@portier/$PORTIER_PID/$id" ]
	wait_until eval '[ "$(ctl -j services | json "s[\"clients\"]")" = 1 ]'
	ctl -j connections | json "d['connections'][0]['clients'] == 1 and d['connections'][0]['status'] == 'serving 1 clients'"
	run ctl metrics
	assert_line 'portier_worker_clients{service="w"} 1'
	assert_line 'portier_worker_restarts_total{service="w"} 0'
	# Anyone may send to the name; only the worker's own datagrams count.
	printf 'CONNECTIONS=99\nSTATUS=forged' |
	    socat - "ABSTRACT-SENDTO:${sock#@}"
	sleep 0.3
	ctl -j connections | json "d['connections'][0]['clients'] == 1 and d['connections'][0]['status'] == 'serving 1 clients'"
	exec {CLIENT}>&-
	wait_until eval '[ "$(ctl -j services | json "s[\"clients\"]")" = 0 ]'
}

@test "workers: idle_exit stops on-demand workers after so long with no client, never while one is served, and the sockets go back to the watch" {
	py_service 'workers = 2' 'idle_exit = 1'
	portier_start
	client_open "$(port w)"
	client_read "$CLIENT"
	[[ $REPLY == "worker "* ]]
	wait_until workers_are 2
	# Served for three idle_exits: nothing stops.
	sleep 3
	[ "$(log_count 'event=worker-idle')" -eq 0 ]
	workers_are 2
	exec {CLIENT}>&-
	wait_log 'event=worker-idle service=w idle_exit=1 workers=2'
	wait_log 'event=end service=w .*status=exit:0' 2
	wait_until eval '[ "$(state)" = watching ]'
	[ "$(log_count 'event=worker-restart')" -eq 0 ]
	# The next client starts them again.
	run greet
	assert_output --regexp '^worker [0-9]+ w$'
	wait_until workers_are 2
	py_service 'start = "now"' 'idle_exit = 5'
	run "$PORTIERD" -t -c "$CONF"
	[ "$status" -eq 78 ]
	assert_output --partial 'idle_exit stops the workers of a service started on demand'
}

@test "workers: a worker runs as its service's user, group, directory and limits, as a handler does, and accepts on a socket root bound" {
	need_root
	config <<-EOF
	service w {
	    listen = { "127.0.0.1:0" }
	    exec = { "$WORKER_PY" }
	    accept = "handler"
	    start = "now"
	    user = "nobody"
	    group = "nogroup"
	    chdir = "/"
	    umask = "027"
	    nice = 5
	    rlimit_nofile = "64"
	}
	EOF
	# python must be able to read the example where the test's tree is.
	local d=$PORTIER_SRC/handlers
	while [ "$d" != / ]; do
		[ -x "$d" ] && [ "$(stat -c %A "$d" | cut -c10)" = x ] ||
			skip "nobody cannot reach $PORTIER_SRC/handlers"
		d=$(dirname "$d")
	done
	portier_start
	wait_until workers_are 1
	local pid
	pid=$(worker_pids)
	run awk '/^(Uid|Gid|Umask):/ { print $1, $2 }' "/proc/$pid/status"
	assert_output "Umask: 0027
Uid: 65534
Gid: 65534"
	[ "$(readlink "/proc/$pid/cwd")" = / ]
	[ "$(awk '{ print $19 }' "/proc/$pid/stat")" = 5 ]
	grep -Eq '^Max open files +64 +64 ' "/proc/$pid/limits"
	run greet
	assert_output "worker $pid w"
}

@test "workers: pause stops an on-demand service's workers and its watch: a client waits, unserved, until resume" {
	py_service 'workers = 1'
	portier_start
	run greet
	assert_output --regexp '^worker '
	wait_until workers_are 1
	ctl pause w
	wait_until workers_are 0
	wait_log 'event=end service=w conn=1 .*status=exit:0'
	[ "$(state)" = paused ]
	# The client is queued in the kernel; nothing starts for it.
	bg late bash -c "printf 'quit\n' | timeout 20 socat -t 15 - TCP4:127.0.0.1:$(port w)"
	local late=$!
	sleep 1
	[ "$(log_count 'event=spawn service=w')" -eq 1 ]
	ctl resume w
	wait_until -t 15 pid_gone "$late"
	run cat "$T/late"
	assert_output --regexp '^worker [0-9]+ w$'
	[ "$(log_count 'event=spawn service=w')" -eq 2 ]
}

@test "workers: when several workers crash in one back-off step, the step is logged once" {
	config <<-EOF
	service w {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/sh", "-c", "exit 3" }
	    accept = "handler"
	    start = "now"
	    workers = 2
	    restart_delay = 1
	    max_restarts = 10
	}
	EOF
	portier_start
	# Two steps: both workers end in each, one line for each step.
	wait_log 'event=worker-restart service=w status=exit:3 delay=2 '
	wait_log 'event=end service=w .*status=exit:3' 4
	[ "$(log_count 'event=worker-restart')" -eq 2 ]
	run grep -oE 'event=worker-restart .* delay=[0-9]+' "$LOG"
	assert_output "event=worker-restart service=w status=exit:3 delay=1
event=worker-restart service=w status=exit:3 delay=2"
}

@test "workers: log_connections = false leaves a worker's spawn and end lines in the log" {
	py_service 'workers = 1' 'start = "now"'
	sed -i '1i log_connections = false' "$CONF"
	portier_start
	wait_log 'event=spawn service=w conn=1 pid=[0-9]+ remote=worker:1 '
	portier_stop
	wait_log 'event=end service=w conn=1 pid=[0-9]+ status='
}
