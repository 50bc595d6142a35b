#!/usr/bin/env bats
# portier-import: xinetd and inetd.conf files made portier.conf.  Each
# test imports a file of t/import/ (the files Debian's xinetd package
# ships, in t/import/debian/, and realistic services), checks the lines
# each setting became, and runs portierd -t on the result.

load helpers
bats_require_minimum_version 1.5.0

IMPORT=$PORTIER_SRC/supervisor/portier-import
FIX=$PORTIER_SRC/t/import

# Import $@ into $T/out.conf; the status is the importer's, stderr apart.
import() {
	run --separate-stderr "$IMPORT" -o "$T/out.conf" "$@"
}

# The lines of the service $1 in $T/out.conf, live or commented out,
# without the leading '#' of a commented one.
service_of() {
	sed -n "/^#\{0,1\}service $1 {\$/,/^#\{0,1\}}\$/p" "$T/out.conf" |
	    sed 's/^#//'
}

# Run portierd -t on $T/out.conf, or on $1.  Each handler it names that
# this machine lacks (in.telnetd, rsync) becomes a stub under $T/root in a
# copy, since -t refuses a missing handler: what is checked is the rest.
import_check() {
	local out=${1:-$T/out.conf} path
	cp "$out" "$T/checked.conf"
	for path in $(sed -n 's/^ *exec = { "\([^"]*\)".*/\1/p' "$out"); do
		[ -x "$path" ] && continue
		mkdir -p "$T/root${path%/*}"
		printf '#!/bin/sh\n' >"$T/root$path"
		chmod +x "$T/root$path"
		sed -i "s|exec = { \"$path\"|exec = { \"$T/root$path\"|" \
		    "$T/checked.conf"
	done
	run timeout 10 "$PORTIERD" -t -c "$T/checked.conf"
	assert_success
}

# The names of the live services of $T/out.conf, one a line, sorted.
live_services() {
	sed -n 's/^service \([^ ]*\) {$/\1/p' "$T/out.conf" | sort
}

# Debian's xinetd.conf and xinetd.d copied to $T/etc, the includedir
# pointed there.
debian_copy() {
	cp -r "$FIX/debian/etc" "$T/etc"
	sed -i "s|^includedir /etc/xinetd.d|includedir $T/etc/xinetd.d|" \
	    "$T/etc/xinetd.conf"
}

@test "import: Debian's xinetd.conf with its includedir, all disabled there, comes out commented out and passes -t" {
	debian_copy
	import "$T/etc/xinetd.conf"
	assert_success
	head -2 "$T/out.conf" | grep -qF "from xinetd's $T/etc/xinetd.conf" ||
		fail "$(head -2 "$T/out.conf")"
	grep -qF '# and 12 files it includes.' "$T/out.conf"
	[ -z "$(live_services)" ] || fail "live: $(live_services)"
	run grep -c '^# disabled there (disable = yes)' "$T/out.conf"
	assert_output 17
	import_check
	assert_output --partial 'warning: no service is defined'
}

@test "import: Debian's xinetd.conf with -e: the TCP internals are built-ins, their UDP twins and xinetd's own internals stay commented out" {
	debian_copy
	import -e "$T/etc/xinetd.conf"
	assert_success
	run live_services
	assert_output "$(printf '%s\n' chargen daytime discard echo time)"
	local bi port
	for bi in echo:7 discard:9 daytime:13 chargen:19 time:37; do
		port=${bi#*:} bi=${bi%:*}
		run service_of "$bi"
		assert_line --index 1 --regexp "^    listen = \{ \"\*:$port\" \} +# port of $bi in the services database$"
		assert_line --index 2 "    builtin = \"$bi\""
		assert_line --index 3 '    # not carried: user = root (a built-in runs inside portierd)'
		# The twin from the same file by its xinetd id, the one from
		# NAME-udp, with the same id, by a number.
		run service_of "$bi-dgram"
		assert_line --index 2 "    builtin = \"$bi\""
		grep -q "^#service $bi-dgram {" "$T/out.conf"
		grep -q "^#service $bi-2 {" "$T/out.conf"
	done
	run grep -c '^# not carried: UDP: portier serves TCP only (socket_type = dgram, protocol =$' "$T/out.conf"
	assert_output 10
	grep -q '^# not carried: type INTERNAL: portier has no built-in servers;' "$T/out.conf"
	grep -q '^# not carried: type INTERNAL: portier has no built-in services;' "$T/out.conf"
	import_check
	assert_line --index 0 'chargen: builtin chargen (stream); listen *:19; max_connections -1'
	assert_line --index 4 'time: builtin time (stream); listen *:37; max_connections -1'
	[ "${#lines[@]}" -eq 5 ]
}

@test "import: each file of Debian's xinetd.d alone passes -t, with -e and without" {
	local f n=0
	for f in "$FIX"/debian/etc/xinetd.d/*; do
		n=$(( n + 1 ))
		import "$f"
		assert_success
		import_check
		import -e "$f"
		assert_success
		import_check
	done
	[ "$n" -eq 12 ] || fail "found $n files"
}

@test "import: rsync's daemon mode runs as root with allow_root, on every address" {
	import "$FIX/rsync.xinetd"
	assert_success
	run service_of rsync
	assert_line --index 1 --regexp '^    listen = \{ "\*:873" \} +# port of rsync in the services database$'
	assert_line --index 2 '    exec = { "/usr/bin/rsync", "--daemon" }'
	assert_line --index 3 '    user = "root"'
	assert_line --index 4 '    # root in xinetd: portier runs a handler as root only when told so'
	assert_line --index 5 '    allow_root = true'
	assert_line --partial '# not carried: log_on_failure = USERID (portierd logs each connection'
	import_check
	assert_output "rsync: exec $T/root/usr/bin/rsync --daemon; listen *:873; max_connections -1"
}

@test "import: git daemon, unlisted on its port, as nobody:nogroup with its arguments split on blanks" {
	import "$FIX/git.xinetd"
	assert_success
	run service_of git
	assert_line --index 1 '    listen = { "*:9418" }'
	assert_line --index 2 '    exec = { "/usr/lib/git-core/git-daemon", "--inetd", "--export-all", "--base-path=/srv/git", "/srv/git" }'
	assert_line --index 3 '    user = "nobody"'
	assert_line --index 4 '    group = "nogroup"'
	assert_line --regexp '^    groups = \{\} +# no supplementary groups, as xinetd without groups = yes$'
	assert_line '    max_per_source = 4'
	refute_line --partial allow_root
	import_check
}

@test "import: tftp, a UDP service, is commented out with the reason, and the file still passes -t" {
	import "$FIX/tftp.xinetd"
	assert_success
	[ -z "$(live_services)" ]
	grep -qx '# not carried: UDP: portier serves TCP only (socket_type = dgram, protocol =' "$T/out.conf"
	grep -qx '#service tftp {' "$T/out.conf"
	grep -qx '#    exec = { "/usr/sbin/in.tftpd", "--secure", "/srv/tftp" }' "$T/out.conf"
	# A UDP service is not worth a warning about its missing program.
	[ -z "$stderr" ] || fail "$stderr"
	import_check
	assert_output --partial 'warning: no service is defined'
}

@test "import: telnet on the loopback, as root, with its limits, and a comment for each setting left behind" {
	import "$FIX/telnet.xinetd"
	assert_success
	run service_of telnet
	assert_line --index 1 --regexp '^    listen = \{ "127\.0\.0\.1:23" \} +# port of telnet in the services database$'
	assert_line --index 2 '    exec = { "/usr/sbin/in.telnetd", "-h" }'
	assert_line '    allow_root = true'
	assert_line '    nice = 10'
	assert_line '    rlimit_as = "8M"'
	assert_line '    rlimit_cpu = "20"'
	assert_line '    max_connections = 10'
	assert_line '    nodelay = true'
	assert_line '    keepalive = true'
	refute_line --partial 'NODELAY'
	refute_line --partial 'KEEPALIVE'
	assert_line '    # not carried: flags REUSE (portier always reuses the address)'
	assert_line '    # not carried: log_on_success = DURATION HOST, log_on_failure = USERID'
	assert_line '    # not carried: access_times = 08:00-18:00 (portier serves at all times;'
	# The program missing here is said on stderr, not in the file.
	[ "$stderr" = "portier-import: warning: $FIX/telnet.xinetd:3: service telnet: /usr/sbin/in.telnetd is not an executable file here; portierd -t refuses it" ] ||
		[ -x /usr/sbin/in.telnetd ] || fail "stderr: $stderr"
	import_check
}

@test "import: the echo, daytime and time internals become built-ins, on the addresses their flags and bind say" {
	import "$FIX/internals.xinetd"
	assert_success
	run live_services
	assert_output "$(printf '%s\n' daytime echo time)"
	run service_of echo
	assert_line '    builtin = "echo"'
	assert_line '    max_connections = 50'
	run service_of daytime
	assert_line --index 1 --regexp '^    listen = \{ "0\.0\.0\.0:13" \}'
	run service_of time
	assert_line --index 1 '    listen = { "[::1]:10037" }'
	assert_line --index 2 '    builtin = "time"'
	assert_line --index 3 --regexp '^    allow = \{ "::1", "127\.0\.0\.1" \} +# only_from$'
	grep -qx '#service echo-dgram {' "$T/out.conf"
	grep -qx '#service servers {' "$T/out.conf"
	import_check
	assert_line --index 0 'echo: builtin echo (stream); listen *:7; max_connections 50'
	assert_line --index 1 'daytime: builtin daytime (stream); listen 0.0.0.0:13; max_connections -1'
	assert_line --index 2 'time: builtin time (stream); listen [::1]:10037; max_connections -1'
}

@test "import: a redirect is commented out, with the socat handler that would do its work" {
	import "$FIX/redirect.xinetd"
	assert_success
	[ -z "$(live_services)" ]
	grep -qx '# not carried: redirect = 192.0.2.10 3306: portier does not forward' "$T/out.conf"
	run service_of mysql-fwd
	assert_line --index 1 '    listen = { "*:3307" }'
	assert_line --index 2 '    exec = { "/usr/bin/socat", "-", "TCP:192.0.2.10:3306" }'
	assert_line --index 3 '    user = "nobody"'
	assert_line --regexp '^    allow = \{ "198\.51\.100\.0/24" \} +# only_from$'
	import_check
}

@test "import: wait = yes becomes a worker that accepts on fds 0 and 1, without what needs portierd to see each client" {
	import "$FIX/wait.xinetd"
	assert_success
	run live_services
	assert_output reverse
	run service_of reverse
	assert_line --index 1 '    listen = { "*:7002" }'
	assert_line --index 2 '    exec = { "/usr/local/libexec/worker-inetd.pl" }'
	assert_line --index 3 '    user = "daemon"'
	assert_line '    env = { "IDLE=60" }'
	assert_line --regexp '^    accept = "handler" +# wait = yes: the server accepts by itself$'
	assert_line --regexp '^    pass = "inetd" +# the listening socket on fds 0 and 1$'
	assert_line '    # not carried: allow = { "127.0.0.1" } (with wait = yes the server accepts'
	assert_line '    # not carried: max_connections = 4 (with wait = yes the server accepts its'
	refute_line --partial '    allow ='
	refute_line --partial '    max_connections ='
	# The RPC and the TCPMUX services, commented out.
	grep -qx '# not carried: RPC: portier registers nothing with the portmapper' "$T/out.conf"
	grep -qx '#service rstatd {' "$T/out.conf"
	grep -q '^# not carried: TCPMUX: portier has no RFC 1078 multiplexer' "$T/out.conf"
	grep -qx '#service myorg_server {' "$T/out.conf"
	import_check
	assert_output "reverse: exec $T/root/usr/local/libexec/worker-inetd.pl; listen *:7002; accept handler, pass inetd, start on-demand, workers 1"
}

@test "import: only_from, no_access, instances, per_source, cps, env and passenv are carried, and what cannot be said" {
	import "$FIX/limits.xinetd"
	assert_success
	run service_of hello
	assert_line '    allow = { "10.0.0.0/8", "10.1.2.3", "192.168.1.1", "192.168.1.2", "2001:db8::/32" }'
	assert_line --regexp '^    deny = \{ "10\.1\.0\.0/16", "192\.168\.1\.2" \} +# no_access$'
	assert_line '    # not carried: only_from .example.org (a name; portier matches addresses'
	assert_line '    # note: xinetd served 10.1.2.3 though no_access has 10.1.0.0/16 (the more'
	assert_line '    max_connections = 30'
	assert_line '    max_per_source = 3'
	assert_line '    max_rate = 25'
	assert_line '    # cps = 25 30: 25 new connections a second; past that clients wait in the'
	assert_line '    env = { "LANG=C.UTF-8", "GREETING=hi" }'
	assert_line '    # not carried: env TCPREMOTEIP=spoof (portierd sets this name itself)'
	assert_line '    passenv = { "TZ", "PATH" }'
	assert_line '    umask = "027"'
	assert_line --regexp '^    rlimit_nofile = "64" +# rlimit_files = 64$'
	assert_line '    # not carried: rlimit_stack = 8M (portier sets rlimit_as, rlimit_cpu,'
	assert_line '    # not carried: max_load = 2.5 (portier does not look at the load average)'
	# groups = yes: the user's groups, portier's default.
	refute_line --partial 'groups ='
	# only_from with no value serves no one.
	run service_of closed
	assert_line --index 5 '    # only_from with no value: xinetd served no one'
	assert_line --index 6 '    deny = { "0.0.0.0/0", "::/0" }'
	import_check
}

@test "import: defaults apply to every service, += and -= work from them, include and includedir are followed, and names with a dot or a tilde skipped" {
	import "$FIX/defaults.xinetd"
	assert_success
	run live_services
	assert_output "$(printf '%s\n' open tcpmux-lookup)"
	grep -qF '# and 3 files it includes.' "$T/out.conf"
	grep -q '^# not carried: defaults log_type = SYSLOG daemon info' "$T/out.conf"
	run service_of tcpmux-lookup
	assert_line --regexp '^    allow = \{ "127\.0\.0\.1", "192\.0\.2\.0/24", "198\.51\.100\.7" \} +# only_from$'
	assert_line --regexp '^    max_per_source = 5 +# from defaults$'
	assert_line --regexp '^    passenv = \{ "PATH" \} +# from defaults$'
	assert_line '    max_rate = 10'
	# instances = UNLIMITED overrides the default's 20.
	refute_line --partial 'max_connections'
	# The banner file, next to the file naming it, with its CRLF.
	assert_line '    banner = "Welcome to the example host."'
	assert_line '    line_terminator = "\r\n"'
	run service_of open
	assert_line --regexp '^    allow = \{ "203\.0\.113\.0/24" \} +# only_from$'
	assert_line '    passenv = { "PATH", "TZ" }'
	assert_line --regexp '^    max_connections = 20 +# from defaults$'
	assert_line '    max_rate = 100'
	grep -qx "# disabled there (in defaults' disabled list): uncomment to serve it" "$T/out.conf"
	grep -qx '#service finger {' "$T/out.conf"
	import_check
}

@test "import: an inetd.conf: internals, tcp6 and tcp46, tcpd, nowait.N, a bound address, wait, and the udp, rpc, tcpmux and #<off># lines" {
	import "$FIX/inetd.conf"
	assert_success
	head -1 "$T/out.conf" | grep -qF "from inetd's $FIX/inetd.conf"
	run live_services
	assert_output "$(printf '%s\n' chargen daytime discard echo ftp ident login telnet)"
	run service_of echo
	assert_line --index 1 '    listen = { "0.0.0.0:7" }'
	assert_line --index 2 '    builtin = "echo"'
	run service_of daytime
	assert_line --index 1 '    listen = { "[::]:13" }'
	run service_of discard
	assert_line --index 1 '    listen = { "*:9" }'
	# Its tcp and tcp6 lines make one service, tcpd dropped.
	run service_of telnet
	assert_line --index 1 '    listen = { "0.0.0.0:23", "[::]:23" }'
	assert_line --index 2 '    exec = { "/usr/sbin/in.telnetd" }'
	assert_line '    # not carried: program /usr/sbin/tcpd (tcpd (TCP wrappers) is dropped and'
	assert_line '    allow_root = true'
	# tcpd given a bare name ran it from its own directory.
	run service_of login
	assert_line --index 2 '    # note: tcpd ran in.rlogind from its directory: /usr/sbin/in.rlogind'
	assert_line --index 3 '    exec = { "/usr/sbin/in.rlogind" }'
	run service_of ftp
	assert_line --index 2 '    exec = { "/usr/sbin/in.ftpd", "-l" }'
	assert_line '    max_rate = 1'
	assert_line "    # nowait.40: inetd's 40 a minute, then a pause of minutes; portier allows 1"
	run service_of ident
	assert_line --index 1 '    listen = { "127.0.0.1:113" }'
	assert_line --index 2 '    exec = { "/usr/sbin/identd", "-w" }'
	assert_line --index 3 '    user = "daemon"'
	assert_line --index 4 '    group = "nogroup"'
	assert_line --regexp '^    accept = "handler" +# wait: the server accepts by itself$'
	assert_line --regexp '^    pass = "inetd" '
	grep -qx '# not carried: UDP: portier serves TCP only (protocol udp)' "$T/out.conf"
	grep -qx '#service echo-2 {' "$T/out.conf"
	grep -qx '#service tftp {' "$T/out.conf"
	grep -qx '# not carried: RPC (rpc/udp): portier registers nothing with the portmapper' "$T/out.conf"
	grep -qx '#service rstatd {' "$T/out.conf"
	grep -q '^# not carried: tcpmux: portier has no RFC 1078 multiplexer' "$T/out.conf"
	grep -qx '#service scp {' "$T/out.conf"
	grep -qx '# disabled there (commented out with #<off>#): uncomment to serve it' "$T/out.conf"
	grep -qx '#service finger {' "$T/out.conf"
	import_check
}

@test "import: a malformed file is an error naming FILE:LINE, exit 65" {
	import "$FIX/malformed.xinetd"
	assert_failure 65
	[ "$stderr" = "portier-import: $FIX/malformed.xinetd:13: in service broken: expected 'name = value' or '}', not: wait		no" ] ||
		fail "stderr: $stderr"
	[ ! -e "$T/out.conf" ]
	import "$FIX/unclosed.xinetd"
	assert_failure 65
	[ "$stderr" = "portier-import: $FIX/unclosed.xinetd:1: service cut is not closed: the file ends before its '}'" ] ||
		fail "stderr: $stderr"
	import "$FIX/malformed.inetd"
	assert_failure 65
	[ "$stderr" = "portier-import: $FIX/malformed.inetd:2: sometimes: expected wait or nowait" ] ||
		fail "stderr: $stderr"
	# An xinetd file read as inetd.conf fails on its first line.
	import -f inetd "$FIX/rsync.xinetd"
	assert_failure 65
	[[ $stderr == "portier-import: $FIX/rsync.xinetd:3: expected service, socket type,"* ]] ||
		fail "stderr: $stderr"
}

@test "import: usage errors exit 64, an input it cannot read 66, -h prints the usage" {
	run --separate-stderr "$IMPORT"
	assert_failure 64
	[[ $stderr == "usage: portier-import "* ]] || fail "$stderr"
	run --separate-stderr "$IMPORT" -f tcpserver "$FIX/rsync.xinetd"
	assert_failure 64
	run --separate-stderr "$IMPORT" -x "$FIX/rsync.xinetd"
	assert_failure 64
	run --separate-stderr "$IMPORT" "$FIX/rsync.xinetd" "$FIX/git.xinetd"
	assert_failure 64
	run --separate-stderr "$IMPORT" "$T/none"
	assert_failure 66
	[ "$stderr" = "portier-import: $T/none: No such file or directory" ] || fail "$stderr"
	printf 'includedir %s/none\n' "$T" >"$T/inc.conf"
	run --separate-stderr "$IMPORT" "$T/inc.conf"
	assert_failure 66
	[ "$stderr" = "portier-import: $T/inc.conf:1: includedir $T/none: No such file or directory" ] || fail "$stderr"
	run --separate-stderr "$IMPORT" -h
	assert_success
	assert_output 'usage: portier-import [-e] [-f xinetd|inetd] [-o output] file'
}

@test "import: standard input, and stdout without -o" {
	run --separate-stderr "$IMPORT" - <"$FIX/git.xinetd"
	assert_success
	assert_line --index 0 "# portier.conf made by portier-import from xinetd's -"
	assert_line '    listen = { "*:9418" }'
	run --separate-stderr "$IMPORT" - <"$FIX/inetd.conf"
	assert_success
	assert_line --index 0 "# portier.conf made by portier-import from inetd's -"
}

@test "import: names portier would refuse are changed, and a service whose address another takes is commented out" {
	cat >"$T/in.conf" <<-'EOF'
	service my+svc
	{
		type		= UNLISTED
		port		= 7200
		socket_type	= stream
		wait		= no
		user		= nobody
		server		= /bin/cat
	}

	service other
	{
		type		= UNLISTED
		port		= 7200
		bind		= 127.0.0.1
		socket_type	= stream
		wait		= no
		user		= nobody
		server		= /bin/cat
	}
	EOF
	import "$T/in.conf"
	assert_success
	run live_services
	assert_output my_svc
	grep -qx "    # note: named my_svc: a portier name is 1 to 64 letters, digits, '_', '-'" "$T/out.conf"
	grep -qxF "# not carried: listen 127.0.0.1:7200 and service my_svc's *:7200 would take one" "$T/out.conf"
	grep -qx '#service other {' "$T/out.conf"
	import_check
}

@test "import: the example in portier-import(8) is what it writes" {
	local page
	page=$(page portier-import.8)
	# The literal blocks after "The service" and after "becomes".
	awk '$0 == "The service" { f = 1 } f && /^\.Bd/ { p = 1; next }
	    p && /^\.Ed/ { exit } p' "$page" >"$T/example.xinetd"
	awk '$0 == "becomes" { f = 1 } f && /^\.Bd/ { p = 1; next }
	    p && /^\.Ed/ { exit } p' "$page" >"$T/shown"
	grep -q '^service rsync$' "$T/example.xinetd"
	import "$T/example.xinetd"
	assert_success
	sed -n '/^service rsync {$/,/^}$/p' "$T/out.conf" >"$T/written"
	diff -u "$T/shown" "$T/written"
}

@test "import: a log_on_success with nothing in it, in defaults or a service, becomes log_connections = false" {
	cat >"$T/quiet.xinetd" <<-'EOF'
	defaults
	{
		log_on_success =
	}
	service quiet
	{
		type = UNLISTED
		port = 7100
		socket_type = stream
		wait = no
		user = nobody
		server = /bin/cat
	}
	service loud
	{
		type = UNLISTED
		port = 7101
		socket_type = stream
		wait = no
		user = nobody
		server = /bin/cat
		log_on_success += PID HOST
	}
	EOF
	import "$T/quiet.xinetd"
	assert_success
	run service_of quiet
	assert_line '    log_connections = false'
	refute_line --partial 'log_on_success'
	run service_of loud
	refute_line --partial 'log_connections'
	assert_line '    # not carried: log_on_success = PID HOST (portierd logs each connection'
	run grep -c 'not carried: defaults log_on_success' "$T/out.conf"
	assert_output 0
	import_check
}
