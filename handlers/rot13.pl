#!/usr/bin/perl
# rot13.pl: POE::Component::Server::TCP's classic example as a portier
# handler.  Each line from the client comes back rot13'd.
use strict;
use warnings;

$| = 1;    # the client must see each answer at once, not at exit
while (my $line = <STDIN>) {
	$line =~ tr/a-zA-Z/n-za-mN-ZA-M/;
	print $line;
}
