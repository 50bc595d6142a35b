#!/usr/bin/env bats
# builtin = "metrics": the Prometheus text of portierctl metrics over
# HTTP, as Prometheus scrapes an exporter; and the histograms in it.

load helpers

teardown() {
	background_stop
	portier_teardown_default
}

# A handler service hi and the metrics service m, with settings of m's
# given as arguments, one per line.
metrics_config() {
	local extra
	extra=$(printf '    %s\n' "$@")
	config <<-EOF
	service hi {
	    listen = { "127.0.0.1:0" }
	    exec = { "/bin/echo", "hi" }
	}
	service m {
	    listen = { "127.0.0.1:0", "[::1]:0" }
	    builtin = "metrics"
	$extra
	}
	EOF
}

# Send stdin to m raw and print the answer.
raw() {
	timeout 10 socat -t 5 - "TCP4:127.0.0.1:$(port m)"
}

# The status line of the answer to stdin, without its CR.
status_of() {
	raw | head -1 | tr -d '\r'
}

@test "metrics: GET /metrics is the Prometheus text portierctl metrics gives, over HTTP/1.1 and 1.0, and promtool finds it clean" {
	metrics_config
	portier_start
	run tcp "$(port hi)" </dev/null
	assert_output hi
	wait_log "event=end service=hi conn=1 "
	run curl -sS -D "$T/head" -o "$T/body" "http://127.0.0.1:$(port m)/metrics"
	assert_success
	run tr -d '\r' <"$T/head"
	assert_line --index 0 "HTTP/1.1 200 OK"
	assert_line "Content-Type: text/plain; version=0.0.4; charset=utf-8"
	assert_line "Content-Length: $(stat -c %s "$T/body")"
	assert_line "Connection: close"
	ctl metrics >"$T/ctl"
	# The same families and series (the scrape's own end comes after
	# it); only the values move.
	diff <(grep '^#' "$T/body") <(grep '^#' "$T/ctl")
	run comm -23 <(sed -n 's/^\([^#][^ ]*\) .*/\1/p' "$T/body" | sort) \
	    <(sed -n 's/^\([^#][^ ]*\) .*/\1/p' "$T/ctl" | sort)
	assert_output ""
	grep -qx 'portier_connections_accepted_total{service="hi"} 1' "$T/body"
	run promtool check metrics <"$T/body"
	assert_success
	assert_output ""
	run curl -sS --http1.0 -o "$T/body10" -w '%{http_code}' "http://[::1]:$(port m 2)/metrics?x=1"
	assert_output 200
	grep -q '^portier_uptime_seconds ' "$T/body10"
	# HEAD: the head alone, with the body's length.
	run curl -sS -I "http://127.0.0.1:$(port m)/metrics"
	assert_success
	assert_line --index 0 --regexp '^HTTP/1.1 200 OK'
	assert_line --regexp '^Content-Length: [0-9]+'
	run bash -c "printf 'HEAD /metrics HTTP/1.0\r\n\r\n' | timeout 10 socat -t 5 - TCP4:127.0.0.1:$(port m) | tail -c 4 | od -An -c"
	assert_output --regexp '\\r +\\n +\\r +\\n'
	wait_log "event=end service=m conn=[0-9]+ builtin=metrics in=[0-9]+ out=[0-9]+ status=http:200 " 4
}

@test "metrics: other paths are 404, other methods 405 with Allow, other versions 505, and bad requests 400, each counted by its status" {
	metrics_config
	portier_start
	run curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(port m)/"
	assert_output 404
	run curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(port m)/metricsx"
	assert_output 404
	run curl -sS -D - -o /dev/null -X POST -d x=1 "http://127.0.0.1:$(port m)/metrics"
	assert_line --index 0 --regexp '^HTTP/1.1 405 Method Not Allowed'
	assert_line --regexp '^Allow: GET, HEAD'
	run status_of <<<$'PUT /metrics HTTP/1.1\r\nHost: x\r\n\r'
	assert_output "HTTP/1.1 405 Method Not Allowed"
	run status_of <<<$'GET /metrics HTTP/2.0\r\nHost: x\r\n\r'
	assert_output "HTTP/1.1 505 HTTP Version Not Supported"
	run status_of <<<$'GET /metrics HTTP/1.1\r\n\r'
	assert_output "HTTP/1.1 400 Bad Request"
	run status_of <<<$'GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r'
	assert_output "HTTP/1.1 400 Bad Request"
	run status_of <<<$'GET /metrics HTTP/1.1\r\nHost: a\r\nno colon\r\n\r'
	assert_output "HTTP/1.1 400 Bad Request"
	run status_of <<<$'GET /metrics HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r'
	assert_output "HTTP/1.1 400 Bad Request"
	run status_of <<<$'GET  /metrics HTTP/1.1\r\nHost: a\r\n\r'
	assert_output "HTTP/1.1 400 Bad Request"
	run status_of <<<$'GET /metrics\r\n\r'
	assert_output "HTTP/1.1 400 Bad Request"
	# A bad request line is answered at once, its head unfinished.
	run status_of <<<$'GET /metrics\r'
	assert_output "HTTP/1.1 400 Bad Request"
	run status_of <<<$'G\x01T /metrics HTTP/1.0\r\n\r'
	assert_output "HTTP/1.1 400 Bad Request"
	# Bare LFs, empty lines first and the absolute form are fine.
	run status_of <<<$'\r\n\nGET http://here:9/metrics HTTP/1.1\nHost: here\n'
	assert_output "HTTP/1.1 200 OK"
	run ctl metrics
	assert_line 'portier_connections_ended_total{service="m",status="http:404"} 2'
	assert_line 'portier_connections_ended_total{service="m",status="http:405"} 2'
	assert_line 'portier_connections_ended_total{service="m",status="http:505"} 1'
	assert_line 'portier_connections_ended_total{service="m",status="http:400"} 8'
	assert_line 'portier_connections_ended_total{service="m",status="http:200"} 1'
}

@test "metrics: a head over 8 KiB is 431 without waiting for its end; one sent a byte at a time is answered; a second request on the connection is not" {
	metrics_config
	portier_start
	run python3 - "$(port m)" <<-'EOF'
	import socket, sys, time
	port = int(sys.argv[1])
	s = socket.create_connection(("127.0.0.1", port), timeout=10)
	s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000)
	print(s.recv(100).split(b"\r\n")[0].decode())
	s.close()
	s = socket.create_connection(("127.0.0.1", port), timeout=10)
	for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n":
	    s.send(bytes([b]))
	    time.sleep(0.005)
	print(s.recv(100).split(b"\r\n")[0].decode())
	s.close()
	s = socket.create_connection(("127.0.0.1", port), timeout=10)
	s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	data = b""
	while True:
	    d = s.recv(65536)
	    if not d:
	        break
	    data += d
	print(data.count(b"HTTP/1.1 "), data.split(b"\r\n")[0].decode())
	EOF
	assert_success
	assert_output - <<-'EOF'
	HTTP/1.1 431 Request Header Fields Too Large
	HTTP/1.1 200 OK
	1 HTTP/1.1 404 Not Found
	EOF
}

@test "metrics: a client that never finishes its request is closed after 10 s, or the service's timeout" {
	metrics_config 'timeout = 1'
	portier_start
	exec {CLIENT}<>"/dev/tcp/127.0.0.1/$(port m)"
	printf 'GET /metrics HTTP/1.1\r\n' >&"$CLIENT"
	wait_log "event=end service=m conn=1 .* status=timeout " 1 5
	exec {CLIENT}>&-
	portier_stop
	metrics_config
	portier_start
	exec {CLIENT}<>"/dev/tcp/127.0.0.1/$(port m)"
	printf 'GET /metrics HTTP/1.1\r\n' >&"$CLIENT"
	sleep 8
	run log_count "event=end service=m"
	assert_output 0
	wait_log "event=end service=m conn=1 .* status=timeout duration=1[0-2]\\." 1 10
	exec {CLIENT}>&-
}

@test "metrics: histograms of connection duration and spawn latency count every connection, cumulative up to +Inf" {
	metrics_config
	portier_start
	local i
	for i in 1 2 3 4 5; do
		run tcp "$(port hi)" </dev/null
		assert_output hi
	done
	wait_log "event=end service=hi conn=5 "
	run ctl metrics
	assert_line '# TYPE portier_connection_duration_seconds histogram'
	assert_line '# TYPE portier_spawn_latency_seconds histogram'
	assert_line 'portier_connection_duration_seconds_count{service="hi"} 5'
	assert_line 'portier_connection_duration_seconds_bucket{service="hi",le="+Inf"} 5'
	assert_line 'portier_spawn_latency_seconds_count{service="hi"} 5'
	assert_line 'portier_spawn_latency_seconds_bucket{service="hi",le="+Inf"} 5'
	assert_line --regexp '^portier_spawn_latency_seconds_bucket\{service="hi",le="0\.00005"\} [0-5]$'
	# A built-in spawns nothing: no spawn histogram for m.
	refute_line --regexp '^portier_spawn_latency_seconds_count\{service="m"\}'
	# Each series of buckets never falls.
	run awk -F'[{} ]' '/_bucket\{/ { key = $1 $2; sub(/,le=.*/, "", key)
	    if (key == last && $NF + 0 < prev) bad = bad " " $0
	    last = key; prev = $NF + 0 } END { print "falls:" bad }' <<<"$output"
	assert_output "falls:"
	# The sums are the durations the end lines give, to the millisecond.
	local sum logged
	sum=$(ctl metrics | sed -n 's/^portier_connection_duration_seconds_sum{service="hi"} //p')
	logged=$(sed -n 's/.*event=end service=hi .* duration=\([0-9.]*\) .*/\1/p' "$LOG" |
	    awk '{ s += $1 } END { print s }')
	run awk -v a="$sum" -v b="$logged" 'BEGIN { d = a - b; print (d < 0 ? -d : d) < 0.01 }'
	assert_output 1
}

@test "metrics: a reload keeps the histograms of a kept service" {
	metrics_config
	portier_start
	run tcp "$(port hi)" </dev/null
	wait_log "event=end service=hi conn=1 "
	metrics_config 'idle_timeout = 5'
	run ctl reload
	assert_success
	run ctl metrics
	assert_line 'portier_connection_duration_seconds_count{service="hi"} 1'
	assert_line 'portier_spawn_latency_seconds_count{service="hi"} 1'
}

@test "metrics: a banner on the metrics built-in is a config error" {
	metrics_config 'banner = "hello"'
	run "$PORTIERD" -t -c "$CONF"
	assert_failure 78
	assert_output "$CONF:10: service \"m\": the metrics built-in answers HTTP, which a banner sent first would break"
}

@test "metrics: Debian's Prometheus scrapes it: the target is up and its series answer queries" {
	metrics_config
	portier_start
	local i
	for i in 1 2 3; do
		run tcp "$(port hi)" </dev/null
	done
	wait_log "event=end service=hi conn=3 "
	cat >"$T/prometheus.yml" <<-EOF
	global:
	  scrape_interval: 1s
	  evaluation_interval: 1s
	scrape_configs:
	  - job_name: portier
	    static_configs:
	      - targets: ["127.0.0.1:$(port m)"]
	EOF
	bg prometheus.out prometheus --config.file="$T/prometheus.yml" \
	    --storage.tsdb.path="$T/tsdb" --web.listen-address=127.0.0.1:0
	local ppid=$!
	# Its port, the kernel's pick, from its listening socket.
	wait_until -t 30 prometheus_port "$ppid"
	local api="http://127.0.0.1:$PROM_PORT/api/v1"
	wait_until -t 60 target_up "$api"
	run curl -sS "$api/targets"
	assert_output --partial "\"scrapeUrl\":\"http://127.0.0.1:$(port m)/metrics\""
	run curl -sS --get "$api/query" --data-urlencode 'query=portier_connections_accepted_total{service="hi"}'
	assert_output --regexp '"value":\[[0-9.]+,"3"\]'
	run curl -sS --get "$api/query" --data-urlencode 'query=portier_spawn_latency_seconds_count{service="hi"}'
	assert_output --regexp '"value":\[[0-9.]+,"3"\]'
	run curl -sS --get "$api/query" --data-urlencode 'query=histogram_quantile(0.5, portier_connection_duration_seconds_bucket{service="hi"})'
	assert_output --regexp '"status":"success".*"value":\[[0-9.]+,"[0-9.e-]+"\]'
	kill "$ppid"
	wait "$ppid" || true
}

# Set PROM_PORT to the port Prometheus $1 listens on, if it does yet.
prometheus_port() {
	PROM_PORT=$(ss -Htlnp | awk -v p="pid=$1," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
	[ -n "$PROM_PORT" ]
}

# Whether Prometheus at $1 has scraped its target, healthy.
target_up() {
	curl -sS "$1/targets" 2>/dev/null | grep -q '"health":"up"'
}
