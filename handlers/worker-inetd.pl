#!/usr/bin/perl
# worker-inetd.pl: a server in inetd's "wait" convention, for a portier
# service whose handler accepts:
#
#	service reverse {
#	    listen = { "127.0.0.1:7002" }
#	    accept = "handler"
#	    pass = "inetd"
#	    exec = { "/usr/local/libexec/worker-inetd.pl" }
#	}
#
# as inetd runs a "wait" service and xinetd one with "wait = yes".  The
# listening socket is fd 0 (and 1), fd 2 the log.  Each client is greeted
# "inetd-worker PID", then each line it sends comes back reversed, until
# EOF or "quit"; one client at a time.  This is POE::Component::Server::TCP's
# custom Acceptor example recast in plain Perl: the accept loop hands each
# client, its address and port to acceptor(), as POE hands them to the
# Acceptor callback.  SIGTERM stops it accepting, the client it has is let
# finish, and it exits 0; so it does after IDLE seconds without a client,
# if IDLE is set, as inetd's wait services do.
use strict;
use warnings;
use Socket qw(AF_INET AF_INET6 inet_ntop sockaddr_family
    unpack_sockaddr_in unpack_sockaddr_in6);
use Time::HiRes qw(time);

my $stop = 0;
$SIG{TERM} = sub { $stop = 1 };	# no SA_RESTART: a wait ends with EINTR
$SIG{PIPE} = 'IGNORE';	# a client gone is its own loss, not the server's
my $idle = $ENV{IDLE} || 0;

# The address and port of a peer's packed sockaddr, as POE gives them.
sub peer {
	my ($sa) = @_;
	my $family = sockaddr_family($sa);
	return ('local', 0) unless $family == AF_INET || $family == AF_INET6;
	my ($port, $ip) = $family == AF_INET ? unpack_sockaddr_in($sa)
	    : unpack_sockaddr_in6($sa);
	return (inet_ntop($family, $ip), $port);
}

# Greet one client and echo its lines reversed, until EOF or "quit".
sub acceptor {
	my ($client, $addr, $port) = @_;
	print STDERR "inetd-worker $$: client $addr port $port\n";
	$client->autoflush(1);
	print $client "inetd-worker $$\n";
	while (my $line = <$client>) {
		$line =~ s/\r?\n\z//;	# chomp, and a telnet's CR
		last if $line eq 'quit';
		print $client scalar(reverse $line), "\n";
	}
	close $client;
}

# Whether the listener has a client within $secs seconds.
sub readable {
	my ($secs) = @_;
	my $bits = '';
	vec($bits, fileno(STDIN), 1) = 1;
	return select($bits, undef, undef, $secs) > 0;
}

print STDERR "inetd-worker $$: accepting\n";
my $last = time;
until ($stop) {
	# A second at most, so that a TERM just before select ends it soon.
	my $left = $idle ? $last + $idle - time : 1;
	if ($left <= 0) {
		print STDERR "inetd-worker $$: idle for $idle s, exiting\n";
		exit 0;
	}
	next unless readable($left < 1 ? $left : 1);
	# Another worker may win the race: then accept waits, or a TERM ends it.
	my $sa = accept(my $client, STDIN) or next;
	acceptor($client, peer($sa));
	$last = time;
}
print STDERR "inetd-worker $$: stopped\n";
exit 0;
