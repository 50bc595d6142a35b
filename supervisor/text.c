/*
 * Text in and out that several parts share: decimal numbers with bounds,
 * IP addresses and socket addresses as portier writes them, networks
 * (CIDR) as allow and deny give them, and the formatting of log lines.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
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

/*
 * An IPv4 address in dotted decimal, as inet_ntop(3) writes it, cut to
 * fit len; glibc's goes through sprintf, and every connection has two.
 */
static void
text_ip4(const unsigned char *a, char *ip, size_t len)
{
	char	buf[INET_ADDRSTRLEN], *p = buf;
	size_t	n;
	int	i;

	for (i = 0; i < 4; i++) {
		if (a[i] >= 100)
			*p++ = (char)('0' + a[i] / 100);
		if (a[i] >= 10)
			*p++ = (char)('0' + a[i] / 10 % 10);
		*p++ = (char)('0' + a[i] % 10);
		*p++ = '.';
	}
	n = (size_t)(p - buf) - 1;
	if (len == 0)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(ip, buf, n);
	ip[n] = '\0';
}

/* Write an IP address as text, with IPv4-mapped IPv6 shown as IPv4. */
void
text_ip(const struct sockaddr *sa, char *ip, size_t iplen,
    unsigned int *port)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET) {
		text_ip4((const unsigned char *)&sin->sin_addr, ip, iplen);
		*port = ntohs(sin->sin_port);
	} else if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		text_ip4(&sin6->sin6_addr.s6_addr[12], ip, iplen);
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

/* text_vformat's output: what fits in buf, and the length in all. */
struct text_out {
	char	*buf;
	size_t	 len;
	size_t	 n;
};

static void
text_put(struct text_out *o, const char *s, size_t n)
{
	if (o->n < o->len) {
		size_t	room = o->len - o->n;

		memcpy(o->buf + o->n, s, n < room ? n : room);
	}
	o->n += n;
}

static void
text_pad(struct text_out *o, char c, size_t n)
{
	while (n-- > 0)
		text_put(o, &c, 1);
}

/* A number in base, its sign, padded to width with spaces or zeros. */
static void
text_put_number(struct text_out *o, unsigned long long v, bool minus,
    unsigned base, size_t width, bool zero)
{
	char	d[24];
	size_t	i = sizeof d, n;

	do
		d[--i] = "0123456789abcdef"[v % base];
	while ((v /= base) != 0);
	n = sizeof d - i + minus;
	if (!zero && width > n)
		text_pad(o, ' ', width - n);
	if (minus)
		text_put(o, "-", 1);
	if (zero && width > n)
		text_pad(o, '0', width - n);
	text_put(o, d + i, sizeof d - i);
}

/*
 * Write the slen bytes of s into buf (len bytes, at least 1) as a quoted
 * value of a log line holds them: a quote or a backslash with a backslash
 * before it, a control character (a line feed, a NUL) as \xNN, the rest
 * as they are; what does not fit whole is cut.  So a value can end
 * neither its quotes nor its line.  Returns the length written; buf ends
 * in a NUL.
 */
size_t
text_escape(char *buf, size_t len, const char *s, size_t slen)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i, n = 0;
	unsigned char		ch;

	for (i = 0; i < slen; i++) {
		ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			if (n + 2 >= len)
				break;
			buf[n++] = '\\';
			buf[n++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			if (n + 4 >= len)
				break;
			buf[n++] = '\\';
			buf[n++] = 'x';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 0xf];
		} else {
			if (n + 1 >= len)
				break;
			buf[n++] = (char)ch;
		}
	}
	buf[n] = '\0';
	return n;
}

/*
 * vsnprintf(3) for what log lines use, which it matches byte for byte
 * (t/fuzz/fuzz_format.c): %d, %i, %u, %x, %o, %c, %s and %%, with l, ll
 * or z, a width and the 0 flag; any other format is vsnprintf's.  The C
 * library's goes through a stream, and was half of portierd's own
 * instructions a connection.  With it for the log lines and spawn.c's
 * environment (since built by hand), and text_ip4, callgrind counts
 * 11,522 instructions a connection in user space where it counted 24,241
 * (issue 18: portierd under callgrind, 3,000 connections less 1,000, 4 at
 * a time, of the nolibc hello).
 */
int
text_vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
	struct text_out		 o = { buf, len > 0 ? len - 1 : 0, 0 };
	const char		*p, *s, *lit;
	unsigned long long	 u;
	long long		 v;
	size_t			 width;
	va_list			 again;
	bool			 zero;
	int			 size, n;
	char			 c;

	va_copy(again, ap);
	for (p = fmt; *p != '\0'; p++) {
		for (lit = p; *p != '\0' && *p != '%'; p++)
			continue;
		text_put(&o, lit, (size_t)(p - lit));
		if (*p == '\0')
			break;
		zero = false;
		while (*++p == '0')
			zero = true;
		for (width = 0; *p >= '0' && *p <= '9' && width < 1000; p++)
			width = width * 10 + (size_t)(*p - '0');
		size = 0;
		if (*p == 'l')
			size = *++p == 'l' ? (p++, 2) : 1;
		else if (*p == 'z')
			size = 3, p++;
		switch (*p) {
		case 'd':
		case 'i':
			v = size == 0 ? va_arg(ap, int) : size == 1 ?
			    va_arg(ap, long) : size == 2 ? va_arg(ap, long long) :
			    va_arg(ap, ssize_t);
			u = v < 0 ? 0ULL - (unsigned long long)v :
			    (unsigned long long)v;
			text_put_number(&o, u, v < 0, 10, width, zero);
			continue;
		case 'u':
		case 'x':
		case 'o':
			u = size == 0 ? va_arg(ap, unsigned) : size == 1 ?
			    va_arg(ap, unsigned long) : size == 2 ?
			    va_arg(ap, unsigned long long) : va_arg(ap, size_t);
			text_put_number(&o, u, false, *p == 'u' ? 10 :
			    *p == 'x' ? 16 : 8, width, zero);
			continue;
		case 'c':
			if (size != 0 || zero)
				break;
			c = (char)va_arg(ap, int);
			if (width > 1)
				text_pad(&o, ' ', width - 1);
			text_put(&o, &c, 1);
			continue;
		case 's':
			if (size != 0 || zero)
				break;
			if ((s = va_arg(ap, const char *)) == NULL)
				s = "(null)";
			n = (int)strlen(s);
			if (width > (size_t)n)
				text_pad(&o, ' ', width - (size_t)n);
			text_put(&o, s, (size_t)n);
			continue;
		case '%':
			if (size != 0 || zero || width != 0)
				break;
			text_put(&o, "%", 1);
			continue;
		}
		/* Not ours: all of it is vsnprintf's. */
		n = vsnprintf(buf, len, fmt, again);
		va_end(again);
		return n;
	}
	va_end(again);
	if (len > 0)
		buf[o.n < o.len ? o.n : o.len] = '\0';
	return o.n > INT_MAX ? -1 : (int)o.n;
}

/* text_vformat with its arguments. */
int
text_format(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = text_vformat(buf, len, fmt, ap);
	va_end(ap);
	return n;
}
