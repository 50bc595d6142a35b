#!/usr/bin/env bats
# The Debian package (debian/): built once per run of this file, with
# dpkg-buildpackage from a copy of the distribution (make distdir, so the
# tarball must hold debian/), in the file's temporary directory, where
# dpkg-buildpackage also writes the .deb beside the copy.  The package is
# unpacked into a scratch root with dpkg -x, and the tests check what it
# holds, what lintian says of it, and that its own portierd takes its own
# /etc/portier.conf and serves the control socket with it.

load helpers

# The build and lintian take a minute or two; every other step is short.
BATS_TEST_TIMEOUT=300

# The package build runs make itself: the make check this file may run
# under must not hand it its job server.
package_env() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$@"
}

setup_file() {
	# A sanitizer build's package would be the same package.
	[ -z "${PORTIER_SANITIZERS:-}" ] || return 0
	local dir=$BATS_FILE_TMPDIR src
	src=$dir/portier-src
	package_env make -s -C "$PORTIER_BUILD" distdir distdir="$src" \
	    >"$dir/distdir.log" 2>&1 || {
		cat "$dir/distdir.log"
		return 1
	}
	(cd "$src" && package_env DEB_BUILD_OPTIONS="nocheck noddebs parallel=2" \
	    timeout 900 dpkg-buildpackage -us -uc -b) </dev/null \
	    >"$dir/build.log" 2>&1 || {
		tail -n 60 "$dir/build.log"
		return 1
	}
	mkdir "$dir/root"
	dpkg -x "$dir"/portier_*.deb "$dir/root"
}

setup() {
	portier_setup_default
	[ -z "${PORTIER_SANITIZERS:-}" ] ||
		skip "the sanitizer build: the plain build builds the package"
	ROOT=$BATS_FILE_TMPDIR/root
	DEB=$(echo "$BATS_FILE_TMPDIR"/portier_*.deb)
	[ -f "$DEB" ] || fail "no package was built: $DEB"
}

@test "package: dpkg-buildpackage builds one package of the programs, their pages, the units and /etc/portier.conf" {
	local f
	for f in usr/sbin/portierd usr/sbin/portierctl; do
		[ -f "$ROOT/$f" ] && [ -x "$ROOT/$f" ] || fail "$f is not in the package"
	done
	for f in usr/share/man/man8/portierd.8.gz usr/share/man/man8/portierctl.8.gz \
	    usr/share/man/man5/portier.conf.5.gz \
	    usr/share/man/man7/portier-handlers.7.gz \
	    usr/lib/systemd/system/portier.service \
	    usr/lib/systemd/system/portier.socket etc/portier.conf \
	    usr/share/doc/portier/copyright \
	    usr/share/doc/portier/examples/hello.sh; do
		[ -f "$ROOT/$f" ] || fail "$f is not in the package"
	done
	# portier-import is installed by make install once its source is in
	# this tree: checked only when Makefile.am names it, so this test
	# holds both before that and after.
	if grep -q 'portier-import' "$PORTIER_SRC/Makefile.am"; then
		[ -x "$ROOT/usr/sbin/portier-import" ] ||
			fail "usr/sbin/portier-import is not in the package"
	fi
	# The paths the build was configured with: the unit starts the
	# installed portierd on /etc/portier.conf, and the pages name them.
	grep -qx 'ExecStart=/usr/sbin/portierd -c /etc/portier.conf' \
	    "$ROOT/usr/lib/systemd/system/portier.service"
	zgrep -q '^\.It Pa /etc/portier\.conf$' "$ROOT/usr/share/man/man8/portierd.8.gz"
	zgrep -q '^\.It Pa /run/portier/portier\.sock$' \
	    "$ROOT/usr/share/man/man8/portierd.8.gz"
	# One package: no other .deb but the build's debug symbols, if any.
	run bash -c "ls '$BATS_FILE_TMPDIR'/*.deb | grep -v -- '-dbgsym_'"
	assert_output "$DEB"
}

@test "package: /etc/portier.conf is a conffile, and the Depends name the libraries portierd links" {
	run dpkg-deb -I "$DEB" conffiles
	assert_success
	assert_output /etc/portier.conf
	run dpkg-deb -f "$DEB" Depends
	assert_output --regexp '(^|, )libevent-core-2\.1-[0-9]+ '
	assert_output --regexp '(^|, )libconfuse[0-9]+ '
}

@test "package: lintian reports no error" {
	command -v lintian >/dev/null || fail "lintian is not installed (./bootstrap installs it)"
	# Exit 2 is an error tag; 1, that lintian itself failed.
	run timeout 240 lintian "$DEB"
	echo "$output"
	assert_success
	refute_line --regexp '^E: '
}

@test "package: the installed portierd -t passes the installed config, whose services are all commented out" {
	run "$ROOT/usr/sbin/portierd" -t -c "$ROOT/etc/portier.conf"
	assert_success
	assert_output --partial "warning: no service is defined"
	# Nothing but comments defines a service.
	run grep -c '^service ' "$ROOT/etc/portier.conf"
	assert_output 0
}

@test "package: each service the installed config shows, uncommented, passes the installed portierd -t" {
	# The lines from "#service" to "#}" lose their "#"; the handlers the
	# file tells the reader to copy to /usr/local/libexec/portier are
	# taken where the package put them.
	awk '/^#service /{ on = 1 } on { sub(/^#/, "") } /^}/{ on = 0 } { print }' \
	    "$ROOT/etc/portier.conf" |
	    sed "s|/usr/local/libexec/portier/|$ROOT/usr/share/doc/portier/examples/|" \
	    >"$CONF"
	run "$ROOT/usr/sbin/portierd" -t -c "$CONF"
	assert_success
	refute_output --partial warning
	[ "${#lines[@]}" -ge 3 ] || fail "only ${#lines[@]} services: is the uncommenting broken?"
}

@test "package: the installed portierd serves its control socket on the installed config, and the installed portierctl answers" {
	# The control socket goes into the test's directory (-S), not the
	# config's /run/portier, which a portier the machine runs may use.
	PORTIERD=$ROOT/usr/sbin/portierd PORTIERCTL=$ROOT/usr/sbin/portierctl \
	    CONF=$ROOT/etc/portier.conf
	portier_start -S "$T/ctl.sock"
	assert_equal "$(readlink "/proc/$PORTIER_PID/exe")" "$ROOT/usr/sbin/portierd"
	run ctl status
	assert_success
	assert_output --regexp "pid +$PORTIER_PID"
	assert_output --regexp 'services +0'
	grep -q 'event=start .* services=0 ' "$LOG"
}
