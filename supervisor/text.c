/*
 * Text in and out that several parts share: decimal numbers with bounds,
 * IP addresses and socket addresses as portier writes them, and networks
 * (CIDR) as allow and deny give them.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portier.h"

/*
 * Parse a strictly decimal number (an optional minus, no leading zeros)
 * into *v.  Returns -1 if s is not one, 1 if it is outside [min, max].
 */
int
text_number(const char *s, long min, long max, long *v)
{
	const char	*digits = s + (s[0] == '-');
	char		*end;

	if (*digits == '\0' || strspn(digits, "0123456789") != strlen(digits) ||
	    (digits[0] == '0' && digits[1] != '\0'))
		return -1;
	errno = 0;
	*v = strtol(s, &end, 10);
	return errno == ERANGE || *v < min || *v > max ? 1 : 0;
}

/* Write an IP address as text, with IPv4-mapped IPv6 shown as IPv4. */
void
text_ip(const struct sockaddr *sa, char *ip, size_t iplen,
    unsigned int *port)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, ip, iplen);
		*port = ntohs(sin->sin_port);
	} else if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, iplen);
		*port = ntohs(sin6->sin6_port);
	} else {
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, iplen);
		*port = ntohs(sin6->sin6_port);
	}
}

/* A peer address as text, IPv4-mapped shown as IPv4: 1.2.3.4:P, [::1]:P. */
char *
text_peer(const struct sockaddr *sa, char *buf, size_t len)
{
	char		ip[INET6_ADDRSTRLEN];
	unsigned int	port;

	text_ip(sa, ip, sizeof ip, &port);
	snprintf(buf, len, strchr(ip, ':') != NULL ? "[%s]:%u" : "%s:%u", ip,
	    port);
	return buf;
}

/*
 * Format a socket address as portier writes it: 127.0.0.1:PORT,
 * [::1]:PORT, *:PORT for a wildcard, or unix:PATH.
 */
char *
text_sockaddr(const struct sockaddr *sa, socklen_t len, bool wildcard,
    char *buf, size_t size)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_un	*sun = (const struct sockaddr_un *)sa;
	char				 host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		snprintf(buf, size, "%s:%u", wildcard ? "*" : host,
		    ntohs(sin->sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		if (wildcard)
			snprintf(buf, size, "*:%u", ntohs(sin6->sin6_port));
		else
			snprintf(buf, size, "[%s]:%u", host,
			    ntohs(sin6->sin6_port));
		break;
	case AF_UNIX:
		snprintf(buf, size, "unix:%.*s", (int)(len -
		    offsetof(struct sockaddr_un, sun_path)), sun->sun_path);
		break;
	default:
		snprintf(buf, size, "unknown-family-%d", sa->sa_family);
		break;
	}
	return buf;
}

/*
 * An IPv4-mapped IPv6 network (::ffff:a.b.c.d/P) made IPv4 (a.b.c.d/P-96),
 * since a mapped peer is matched as IPv4 (admit_peer): written as IPv6 it
 * would never match.  Under /96 it would also cover IPv6 addresses, and
 * is refused: -1.  0 if c is not mapped or is now IPv4.
 */
static int
text_cidr_mapped(struct cidr *c)
{
	static const uint8_t	mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (c->family != AF_INET6 || memcmp(c->addr, mapped, 12) != 0)
		return 0;
	if (c->prefix < 96)
		return -1;
	c->family = AF_INET;
	c->prefix -= 96;
	memcpy(c->addr, c->addr + 12, 4);
	memset(c->addr + 4, 0, 12);
	return 0;
}

/*
 * Parse "ADDRESS" or "ADDRESS/PREFIX", IPv4 or IPv6, an IPv4-mapped IPv6
 * network becoming IPv4.  On error returns -1 with a message naming the
 * text in err.
 */
int
text_parse_cidr(const char *text, struct cidr *c, char *err, size_t errlen)
{
	char		 addr[INET6_ADDRSTRLEN + 1];
	const char	*slash = strchr(text, '/');
	size_t		 len = slash != NULL ? (size_t)(slash - text) :
			     strlen(text);
	long		 prefix;

	memset(c, 0, sizeof *c);
	if (len == 0 || len >= sizeof addr)
		goto bad;
	memcpy(addr, text, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET, addr, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, c->addr) == 1)
		c->family = AF_INET6;
	else
		goto bad;
	c->prefix = c->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		if (text_number(slash + 1, 0, c->prefix, &prefix) != 0)
			goto bad;
		c->prefix = (int)prefix;
	}
	if (text_cidr_mapped(c) == -1) {
		snprintf(err, errlen, "\"%s\": an IPv4-mapped network needs a "
		    "prefix of 96 or more; for every IPv4 client write "
		    "\"0.0.0.0/0\"", text);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "\"%s\": expected ADDRESS or ADDRESS/PREFIX, "
	    "IPv4 or IPv6", text);
	return -1;
}

/* A network as allow and deny are shown: ADDRESS/PREFIX. */
char *
text_cidr(const struct cidr *c, char *buf, size_t len)
{
	char	addr[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, addr, sizeof addr);
	snprintf(buf, len, "%s/%d", addr, c->prefix);
	return buf;
}
