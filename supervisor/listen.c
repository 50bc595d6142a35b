/*
 * Listening sockets: parsing `listen` addresses, binding them, handing
 * accepted sockets to conn.c, and turning accepting on and off as limits,
 * shutdown and accept errors require.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "portier.h"

static void	listen_apply(struct listener *);

#define LISTEN_HOST_MAX		253	/* bytes of a host name */
#define LISTEN_NAME_ADDRS	64	/* addresses taken from one name */
#define LISTEN_BACKOFF_MS	250	/* pause after an accept error */
#define LISTEN_ERROR_GAP	1.0	/* seconds between accept-error lines */
/*
 * Accepts in a row, then the loop runs.  An exec service's accept is a
 * spawn, which waits for the child's exec: 32 in a row kept exited
 * handlers waiting 20 ms (p50) and 50 ms (p99) to be reaped in a storm of
 * short connections (t/hostile-child.bats); 8 cut that to 3 and 18 ms,
 * at the same accept rate.
 */
#define LISTEN_BATCH		8

/* Parse a decimal port of 0 to 65535; -1 if it is not one. */
static int
listen_parse_port(const char *s)
{
	long	port = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		port = port * 10 + (*s - '0');
	}
	return port > 65535 ? -1 : (int)port;
}

/* Parse "unix:PATH", made absolute against dir. */
static int
listen_parse_unix(const char *text, const char *dir, struct laddr *la,
    char *err, size_t errlen)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)&la->ss;
	const char		*path = text + 5;
	char			*abs;

	if (*path == '\0') {
		snprintf(err, errlen, "listen \"%s\": empty socket path", text);
		return -1;
	}
	if ((abs = conffile_path(dir, path)) == NULL)
		fatal("event=fatal reason=\"listen_parse_unix\"");
	if (strlen(abs) >= sizeof sun->sun_path) {
		snprintf(err, errlen, "listen \"%s\": socket path longer than "
		    "%zu bytes", text, sizeof sun->sun_path - 1);
		free(abs);
		return -1;
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, abs, strlen(abs) + 1);
	la->sslen = sizeof *sun;
	la->path = abs;
	return 0;
}

/*
 * Whether s can be a service name for a port, as /etc/services spells
 * them: a letter, then letters, digits, '-' and '_'.  A port of digits
 * alone is a number, never looked up.
 */
static bool
listen_port_name(const char *s)
{
	size_t	len = strlen(s);

	return len > 0 && len < NI_MAXSERV && isalpha((unsigned char)*s) &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_") == len;
}

/*
 * Whether s can be a host name to look up: letters, digits, '-', '_' and
 * '.', beginning with a letter or digit, and not digits and dots alone,
 * which are a numeric IPv4 address or nothing (getaddrinfo would read
 * "10.1" as 10.0.0.1).
 */
static bool
listen_host_name(const char *s)
{
	size_t	len = strlen(s);

	return len > 0 && len <= LISTEN_HOST_MAX &&
	    isalnum((unsigned char)*s) &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") == len && strspn(s, "0123456789.") != len;
}

/*
 * Parse the host part of HOST:PORT: "*", "[IPv6]", a numeric IPv4
 * address, or a host name, which is only marked for listen_resolve to
 * look up.
 */
static int
listen_parse_host(const char *text, char *host, size_t hlen, int port,
    struct laddr *la, char *err, size_t errlen)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&la->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&la->ss;

	if (strcmp(host, "*") == 0 || (hlen > 2 && host[0] == '[' &&
	    host[hlen - 1] == ']')) {
		la->wildcard = host[0] == '*';
		host[hlen - 1] = '\0';
		if (la->wildcard)
			sin6->sin6_addr = in6addr_any;
		else if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1) {
			snprintf(err, errlen, "listen \"%s\": \"%s\" is not "
			    "an IPv6 address", text, host + 1);
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		la->sslen = sizeof *sin6;
	} else if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		la->sslen = sizeof *sin;
	} else if (listen_host_name(host))
		la->lookup = true;
	else if (hlen > 0 && strspn(host, "0123456789.") == hlen) {
		snprintf(err, errlen, "listen \"%s\": \"%s\" is not an IPv4 "
		    "address", text, host);
		return -1;
	} else {
		snprintf(err, errlen, "listen \"%s\": \"%s\" is neither a "
		    "numeric IPv4 address nor a host name%s", text, host,
		    strchr(host, ':') != NULL ? " (write IPv6 addresses in "
		    "brackets: [::1]:PORT)" : "");
		return -1;
	}
	return 0;
}

/*
 * Whether la's socket takes IPv4 clients on every address too: "*", or
 * [::] with ipv6_only = false; v6only is its service's ipv6_only, -1 if
 * unset.
 */
static bool
listen_dual(const struct laddr *la, long v6only)
{
	const struct sockaddr_in6	*a6 = (const void *)&la->ss;

	if (la->wildcard)
		return v6only != 1;
	return la->ss.ss_family == AF_INET6 && v6only == 0 &&
	    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
}

/* Whether a socket on la takes every address of family af. */
static bool
listen_any(const struct laddr *la, int af, long v6only)
{
	const struct sockaddr_in	*a4 = (const void *)&la->ss;
	const struct sockaddr_in6	*a6 = (const void *)&la->ss;

	if (af == AF_INET)
		return (la->ss.ss_family == AF_INET &&
		    a4->sin_addr.s_addr == INADDR_ANY) || listen_dual(la, v6only);
	return la->ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
}

/* Whether a socket on la takes clients of family af at all. */
static bool
listen_takes(const struct laddr *la, int af, long v6only)
{
	return la->ss.ss_family == af || (af == AF_INET &&
	    listen_dual(la, v6only));
}

/*
 * Whether two addresses cannot both be bound: the same unix: path, or the
 * same port (never 0, which the kernel chooses) on the same address, or
 * where one takes every address of a family the other takes clients of:
 * the any-address of the family, "*", which takes every address of both
 * families, or [::] with ipv6_only = false, which does too.  An explicit
 * [::] is IPv6 only, as bound, and so is "*" with ipv6_only = true.  av
 * and bv are the two services' ipv6_only, -1 if unset.
 */
bool
listen_overlap(const struct laddr *a, const struct laddr *b, long av, long bv)
{
	const struct sockaddr_in	*a4, *b4;
	const struct sockaddr_in6	*a6, *b6;
	int				 af;

	if (a->path != NULL || b->path != NULL)
		return a->path != NULL && b->path != NULL &&
		    strcmp(a->path, b->path) == 0;
	a4 = (const struct sockaddr_in *)&a->ss;
	b4 = (const struct sockaddr_in *)&b->ss;
	a6 = (const struct sockaddr_in6 *)&a->ss;
	b6 = (const struct sockaddr_in6 *)&b->ss;
	/* sin_port and sin6_port lie at the same offset. */
	if (a4->sin_port == 0 || a4->sin_port != b4->sin_port)
		return false;
	for (af = AF_INET; af != -1; af = af == AF_INET ? AF_INET6 : -1) {
		if ((listen_any(a, af, av) && listen_takes(b, af, bv)) ||
		    (listen_any(b, af, bv) && listen_takes(a, af, av)))
			return true;
	}
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr);
}

/*
 * Whether a socket the service manager passed, bound to ss, is for the
 * config address la: the same path, or the same address (a wildcard's
 * being IPv6's any-address, as listen_bind binds it) and port, any port
 * if la's is 0.
 */
static bool
listen_passed_match(const struct laddr *la, const struct passed_socket *ps)
{
	const struct sockaddr_in	*a4 = (const void *)&la->ss;
	const struct sockaddr_in	*p4 = (const void *)&ps->ss;
	const struct sockaddr_in6	*a6 = (const void *)&la->ss;
	const struct sockaddr_in6	*p6 = (const void *)&ps->ss;
	const struct sockaddr_un	*pu = (const void *)&ps->ss;

	if (la->path != NULL)
		return ps->ss.ss_family == AF_UNIX &&
		    ps->sslen > offsetof(struct sockaddr_un, sun_path) &&
		    pu->sun_path[0] != '\0' &&
		    strncmp(pu->sun_path, la->path, sizeof pu->sun_path) == 0;
	if (ps->ss.ss_family != la->ss.ss_family ||
	    (a4->sin_port != 0 && a4->sin_port != p4->sin_port))
		return false;
	if (la->ss.ss_family == AF_INET)
		return a4->sin_addr.s_addr == p4->sin_addr.s_addr;
	return IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &p6->sin6_addr);
}

/* Whether name is that of a service of conf. */
static bool
listen_is_service(const struct config *conf, const char *name)
{
	const struct service	*svc;

	TAILQ_FOREACH(svc, &conf->services, entry)
		if (strcmp(svc->name, name) == 0)
			return true;
	return false;
}

/*
 * The passed socket for svc's address la, marked taken: one bound there
 * and named after svc, or else one bound there and not named after any
 * service; -1 if none.
 */
static int
listen_passed_find(const struct config *conf, const struct service *svc,
    const struct laddr *la, struct passed_socket *ps, size_t n)
{
	size_t	i;
	int	round;

	for (round = 0; round < 2; round++) {
		for (i = 0; i < n; i++) {
			if (ps[i].taken || !listen_passed_match(la, &ps[i]))
				continue;
			if (round == 0 ? ps[i].name == NULL ||
			    strcmp(ps[i].name, svc->name) != 0 :
			    ps[i].name != NULL &&
			    listen_is_service(conf, ps[i].name))
				continue;
			ps[i].taken = true;
			return (int)i;
		}
	}
	return -1;
}

/* Describe passed socket ps: "fd 3 (127.0.0.1:80, named 'web')". */
static void
listen_passed_text(const struct passed_socket *ps, char *buf, size_t len)
{
	char	addr[ADDR_STRLEN + 108];

	text_sockaddr((const struct sockaddr *)&ps->ss, ps->sslen, false, addr,
	    sizeof addr);
	snprintf(buf, len, "fd %d (%s%s%s%s)", ps->fd, addr,
	    ps->name != NULL ? ", named '" : "",
	    ps->name != NULL ? ps->name : "", ps->name != NULL ? "'" : "");
}

/*
 * Give each address of conf's services the socket the service manager
 * passed for it (LISTEN_FDS), if it passed any: every socket must be
 * taken, and every address get one.  0, or -1 with what is wrong, naming
 * the socket or the address, in err.
 */
int
listen_adopt(struct config *conf, char *err, size_t errlen)
{
	struct passed_socket	*ps;
	struct service		*svc;
	char			 what[ADDR_STRLEN + 400];
	size_t			 i, j, n, used;

	if ((ps = systemd_sockets(&n)) == NULL || n == 0)
		return 0;
	TAILQ_FOREACH(svc, &conf->services, entry) {
		for (i = 0; i < svc->naddrs; i++) {
			svc->addrs[i].passed = listen_passed_find(conf, svc,
			    &svc->addrs[i], ps, n);
			if (svc->addrs[i].passed != -1)
				continue;
			used = (size_t)snprintf(err, errlen, "service %s: listen "
			    "%s: no socket the service manager passed is bound "
			    "there; it passed", svc->name, listen_describe(
			    &svc->addrs[i], false, what, sizeof what));
			for (j = 0; j < n && used < errlen; j++) {
				listen_passed_text(&ps[j], what, sizeof what);
				used += (size_t)snprintf(err + used, errlen -
				    used, "%s %s", j > 0 ? "," : "", what);
			}
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		if (ps[i].taken)
			continue;
		listen_passed_text(&ps[i], what, sizeof what);
		snprintf(err, errlen, "the socket the service manager passed "
		    "on %s is for no service: no listen address is where it "
		    "is bound%s", what, ps[i].name != NULL &&
		    !listen_is_service(conf, ps[i].name) ? ", and no service "
		    "has its name" : "");
		return -1;
	}
	return 0;
}

/*
 * Split a listen address HOST:PORT at its last colon: the host, cut to
 * fit host, and the port.  NULL if there is no colon.
 */
static const char *
listen_split(const char *text, char *host, size_t hsize)
{
	const char	*colon;
	size_t		 hlen;

	if ((colon = strrchr(text, ':')) == NULL)
		return NULL;
	hlen = (size_t)(colon - text);
	if (hlen >= hsize)
		hlen = hsize - 1;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	return colon + 1;
}

/*
 * Parse one listen address: HOST:PORT with a numeric IPv4 host or a host
 * name, [IPv6]:PORT, *:PORT (every IPv4 and IPv6 address) or unix:PATH, a
 * relative PATH being taken from dir; PORT is a number or a service name.
 * Fills la; a name is not looked up here, but la->lookup set for
 * listen_resolve.  On error, returns -1 with a message naming the address
 * in err.
 */
int
listen_parse(const char *text, const char *dir, struct laddr *la, char *err,
    size_t errlen)
{
	char		 host[LISTEN_HOST_MAX + 2];
	const char	*port;
	int		 n;

	memset(la, 0, sizeof *la);
	la->passed = -1;
	if (strncmp(text, "unix:", 5) == 0) {
		if (listen_parse_unix(text, dir, la, err, errlen) == -1)
			return -1;
	} else {
		port = listen_split(text, host, sizeof host);
		n = port != NULL ? listen_parse_port(port) : -1;
		if (port == NULL || (n == -1 && !listen_port_name(port))) {
			snprintf(err, errlen, "listen \"%s\": expected "
			    "HOST:PORT, [IPv6]:PORT, *:PORT or unix:PATH, with "
			    "a port from 0 to 65535 or a service name", text);
			return -1;
		}
		la->lookup = n == -1;
		if (listen_parse_host(text, host, strlen(host), n == -1 ? 0 : n,
		    la, err, errlen) == -1)
			return -1;
	}
	la->text = xstrdup(text);
	return 0;
}

/* Put port in the IPv4 or IPv6 address ss. */
static void
listen_set_port(struct sockaddr_storage *ss, int port)
{
	/* sin_port and sin6_port lie at the same offset. */
	((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

/* The resolver's error rc for the listen address text, in err. */
static void
listen_gai_error(const char *text, int rc, char *err, size_t errlen)
{
	snprintf(err, errlen, "listen \"%s\": %s", text, rc == EAI_SYSTEM ?
	    strerror(errno) : gai_strerror(rc));
}

/* The TCP port the service name serv stands for, or -1 with err set. */
static int
listen_lookup_port(const char *text, const char *serv, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res;
	int		 rc, port;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(NULL, serv, &hints, &res)) != 0) {
		if (rc == EAI_SERVICE)
			snprintf(err, errlen, "listen \"%s\": \"%s\" is no "
			    "TCP service of the services database", text, serv);
		else
			listen_gai_error(text, rc, err, errlen);
		return -1;
	}
	port = ntohs(((struct sockaddr_in *)(void *)res->ai_addr)->sin_port);
	freeaddrinfo(res);
	return port;
}

/* Whether address la is one of the n in las already. */
static bool
listen_seen(const struct laddr *las, size_t n, const struct laddr *la)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (las[i].sslen == la->sslen &&
		    memcmp(&las[i].ss, &la->ss, la->sslen) == 0)
			return true;
	}
	return false;
}

/*
 * Look up host name host of la, and give each IPv4 or IPv6 address it has,
 * once, port as its port, in a new array.  No AI_ADDRCONFIG: on a host
 * whose only addresses are its loopback ones (early at boot, in a
 * container), it would drop every address of the name, ::1 and 127.0.0.1
 * too.
 */
static int
listen_lookup_host(const struct laddr *la, const char *host, int port,
    struct laddr **out, size_t *np, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res, *ai;
	struct laddr	*v = NULL, one;
	size_t		 n = 0;
	int		 rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		listen_gai_error(la->text, rc, err, errlen);
		return -1;
	}
	for (ai = res; ai != NULL && n < LISTEN_NAME_ADDRS; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof one.ss)
			continue;
		one = *la;
		memset(&one.ss, 0, sizeof one.ss);
		memcpy(&one.ss, ai->ai_addr, ai->ai_addrlen);
		one.sslen = ai->ai_addrlen;
		listen_set_port(&one.ss, port);
		if (listen_seen(v, n, &one))
			continue;
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n++] = one;
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(err, errlen, "listen \"%s\": \"%s\" has no IPv4 or "
		    "IPv6 address", la->text, host);
		return -1;
	}
	*out = v;
	*np = n;
	return 0;
}

/*
 * The addresses the parsed listen entry la stands for, in a new array of
 * *np: la itself, unless it has a host or port name; else, with the port
 * a service name stands for, the address given, or every distinct IPv4
 * and IPv6 address (at most LISTEN_NAME_ADDRS) the host name has, in the
 * resolver's order.  Each has its own copy of la's text and path.  -1
 * with the resolver's reason in err.  The resolver may block: portierd
 * calls this as it loads a config, at start and at a reload.
 */
int
listen_resolve(const struct laddr *la, struct laddr **out, size_t *np,
    char *err, size_t errlen)
{
	char		 host[LISTEN_HOST_MAX + 2];
	const char	*serv;
	size_t		 i;
	int		 port = 0;

	*out = NULL;
	*np = 0;
	if (la->lookup) {
		serv = listen_split(la->text, host, sizeof host);
		if ((port = listen_parse_port(serv)) == -1 &&
		    (port = listen_lookup_port(la->text, serv, err,
		    errlen)) == -1)
			return -1;
	}
	if (la->lookup && la->ss.ss_family == AF_UNSPEC) {
		if (listen_lookup_host(la, host, port, out, np, err,
		    errlen) == -1)
			return -1;
	} else {
		*out = xcalloc(1, sizeof **out);
		**out = *la;
		*np = 1;
		if (la->lookup)
			listen_set_port(&(*out)->ss, port);
	}
	for (i = 0; i < *np; i++) {
		(*out)[i].named = la->lookup;
		(*out)[i].lookup = false;
		(*out)[i].text = xstrdup(la->text);
		(*out)[i].path = la->path != NULL ? xstrdup(la->path) : NULL;
	}
	return 0;
}

/*
 * A listen address as errors name it: as written, in quotes if quoted,
 * with the address it was resolved to if it was a name, "db:5432
 * (10.0.0.7:5432)".
 */
char *
listen_describe(const struct laddr *la, bool quoted, char *buf, size_t len)
{
	const char	*q = quoted ? "\"" : "";
	char		 addr[ADDR_STRLEN + 108];

	if (!la->named)
		snprintf(buf, len, "%s%s%s", q, la->text, q);
	else
		snprintf(buf, len, "%s%s%s (%s)", q, la->text, q,
		    text_sockaddr((const struct sockaddr *)&la->ss, la->sslen,
		    la->wildcard, addr, sizeof addr));
	return buf;
}

/*
 * Check the directory a socket file at path would go in is there: bind(2)
 * in a missing one says only ENOENT, which reads as if the socket were
 * what is missing.  err, on error, says what is wrong with the directory;
 * the caller names the path.
 */
int
listen_unix_dir(const char *path, char *err, size_t errlen)
{
	const char	*slash = strrchr(path, '/');
	struct stat	 st;
	char		 dir[sizeof ((struct sockaddr_un *)NULL)->sun_path];
	size_t		 len;

	if (slash == NULL)
		return 0;
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= sizeof dir)
		len = sizeof dir - 1;
	memcpy(dir, path, len);
	dir[len] = '\0';
	if (stat(dir, &st) == -1) {
		if (errno == ENOENT)
			snprintf(err, errlen, "directory %s does not exist",
			    dir);
		else
			snprintf(err, errlen, "directory %s: %s", dir,
			    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -1;
	}
	return 0;
}

/*
 * Clear the way for a unix socket: a stale socket file is removed, a live
 * one (something accepts on it) or any other kind of file is an error.
 */
static int
listen_unix_prepare(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un	sun;
	struct stat		st;
	char			why[256];
	int			fd, rc;

	if (listen_unix_dir(path, why, sizeof why) == -1) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	if (rc == 0 || errno == EAGAIN) {
		close(fd);
		snprintf(err, errlen, "%s is in use by a running process",
		    path);
		return -1;
	}
	close(fd);
	if (errno != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (unlink(path) == -1) {
		snprintf(err, errlen, "removing stale %s: %s", path,
		    strerror(errno));
		return -1;
	}
	log_info("event=stale-socket path=\"%s\" action=removed",
	    log_escape(path));
	return 0;
}

/*
 * Open the file at path itself, never what a link there points to, and
 * check it is the socket we bound: the inode dev and ino if ino is not 0,
 * else, just after bind, a socket of our user with no other name, which a
 * file another user put there cannot be.  Returns an O_PATH descriptor.
 */
static int
listen_unix_open(const char *path, dev_t dev, ino_t ino, struct stat *st,
    char *err, size_t errlen)
{
	bool	ours;
	int	fd;

	if ((fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fstat(fd, st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (ino != 0)
		ours = st->st_dev == dev && st->st_ino == ino;
	else
		ours = st->st_uid == geteuid() && st->st_nlink == 1;
	if (!S_ISSOCK(st->st_mode) || !ours) {
		snprintf(err, errlen, "%s was replaced after bind", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Remove the socket file at path if it is still the one we bound. */
void
listen_unix_unlink(const char *path, dev_t dev, ino_t ino)
{
	struct stat	st;

	if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		(void)unlink(path);
}

/*
 * Bind fd to path with exactly mode, whatever our umask, then give the new
 * file uid and gid, unless they are -1, through a descriptor of the inode
 * we checked: a link put at path since is refused, never followed.  No one
 * can connect before the caller's listen(2), so the owner is set first.
 * Returns the file's device and inode in *devp and *inop.
 */
static int
listen_unix_bind(int fd, const char *path, mode_t mode, uid_t uid, gid_t gid,
    dev_t *devp, ino_t *inop, char *err, size_t errlen)
{
	struct sockaddr_un	sun;
	struct stat		st;
	mode_t			old;
	int			rc, pfd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	old = umask(~mode & 0777);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rc == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((pfd = listen_unix_open(path, 0, 0, &st, err, errlen)) == -1)
		return -1;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(pfd, "", uid, gid, AT_EMPTY_PATH) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(pfd);
		listen_unix_unlink(path, st.st_dev, st.st_ino);
		return -1;
	}
	close(pfd);
	*devp = st.st_dev;
	*inop = st.st_ino;
	return 0;
}

/*
 * Change the mode and owner of the file open as pfd, now as st says: the
 * mode is first cut to what both the old and the new one allow, so that no
 * one who has access under neither gets it on the way.  chmod(2) through
 * /proc reaches that very inode; fchmod(2) refuses an O_PATH descriptor.
 */
static int
listen_unix_chattr(int pfd, const struct stat *st, mode_t mode, uid_t uid,
    gid_t gid)
{
	mode_t	both = st->st_mode & mode & 0777;
	char	proc[32];

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
	if ((both != (st->st_mode & 0777) && chmod(proc, both) == -1) ||
	    ((uid != st->st_uid || gid != st->st_gid) &&
	    fchownat(pfd, "", uid, gid, AT_EMPTY_PATH) == -1) ||
	    (mode != both && chmod(proc, mode) == -1))
		return -1;
	return 0;
}

/*
 * A reload changed who may use a socket we bound: give the file at path,
 * if it is still our inode dev and ino, mode and owner (uid or gid -1 for
 * ours).  On failure the file is put back as it was, as far as it can be.
 */
int
listen_unix_set(const char *path, dev_t dev, ino_t ino, mode_t mode,
    uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct stat	st, now;
	int		pfd, saved;

	if ((pfd = listen_unix_open(path, dev, ino, &st, err, errlen)) == -1)
		return -1;
	if (listen_unix_chattr(pfd, &st, mode, uid == (uid_t)-1 ? geteuid() :
	    uid, gid == (gid_t)-1 ? getegid() : gid) == -1) {
		saved = errno;
		if (fstat(pfd, &now) == 0)
			(void)listen_unix_chattr(pfd, &now, st.st_mode & 0777,
			    st.st_uid, st.st_gid);
		snprintf(err, errlen, "%s: %s", path, strerror(saved));
		close(pfd);
		return -1;
	}
	close(pfd);
	return 0;
}

/*
 * Listen on a unix socket at path, a stale one there replaced, the file
 * with exactly mode and given uid and gid (-1 for ours), never through a
 * link: a service's unix: address, or the control socket.  Returns the fd
 * or -1, and the file's inode in *devp and *inop.
 */
int
listen_unix_socket(const char *path, mode_t mode, uid_t uid, gid_t gid,
    int backlog, dev_t *devp, ino_t *inop, char *err, size_t errlen)
{
	int	fd;

	if (listen_unix_prepare(path, err, errlen) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (listen_unix_bind(fd, path, mode, uid, gid, devp, inop, err,
	    errlen) == -1) {
		close(fd);
		return -1;
	}
	if (listen(fd, backlog) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		listen_unix_unlink(path, *devp, *inop);
		return -1;
	}
	return fd;
}

/* When a socket option can be set. */
enum listen_when {
	LISTEN_OPT_BIND,	/* before bind(2) only: a kept socket's stays */
	LISTEN_OPT_LIVE		/* any time, a kept socket's too */
};

/*
 * A socket option of portier.conf: where its value lies in struct
 * sockopts, the level and name for an IPv4 socket and an IPv6 one (-1:
 * none for that family), when it can be set, and the value that undoes it
 * on a kept socket whose service no longer sets it (-1: none does).
 * bind_device, a string, is listen_opts_bind's.
 */
static const struct listen_opt {
	const char	*name;
	size_t		 off;
	int		 level4, opt4;
	int		 level6, opt6;
	enum listen_when when;
	long		 unset;
} listen_opts[] = {
#define LISTEN_OPT(f)	#f, offsetof(struct sockopts, f)
	{ LISTEN_OPT(freebind), IPPROTO_IP, IP_FREEBIND, IPPROTO_IPV6,
	    IPV6_FREEBIND, LISTEN_OPT_BIND, -1 },
	{ LISTEN_OPT(transparent), IPPROTO_IP, IP_TRANSPARENT, IPPROTO_IPV6,
	    IPV6_TRANSPARENT, LISTEN_OPT_BIND, -1 },
	{ LISTEN_OPT(reuse_port), SOL_SOCKET, SO_REUSEPORT, SOL_SOCKET,
	    SO_REUSEPORT, LISTEN_OPT_BIND, -1 },
	{ LISTEN_OPT(ipv6_only), -1, -1, IPPROTO_IPV6, IPV6_V6ONLY,
	    LISTEN_OPT_BIND, -1 },
	/* Before listen(2): the window scale a SYN gets follows it. */
	{ LISTEN_OPT(receive_buffer), SOL_SOCKET, SO_RCVBUF, SOL_SOCKET,
	    SO_RCVBUF, LISTEN_OPT_LIVE, -1 },
	{ LISTEN_OPT(send_buffer), SOL_SOCKET, SO_SNDBUF, SOL_SOCKET,
	    SO_SNDBUF, LISTEN_OPT_LIVE, -1 },
	{ LISTEN_OPT(mark), SOL_SOCKET, SO_MARK, SOL_SOCKET, SO_MARK,
	    LISTEN_OPT_LIVE, 0 },
	{ LISTEN_OPT(keepalive), SOL_SOCKET, SO_KEEPALIVE, SOL_SOCKET,
	    SO_KEEPALIVE, LISTEN_OPT_LIVE, 0 },
	{ LISTEN_OPT(keepalive_idle), IPPROTO_TCP, TCP_KEEPIDLE, IPPROTO_TCP,
	    TCP_KEEPIDLE, LISTEN_OPT_LIVE, -1 },
	{ LISTEN_OPT(keepalive_interval), IPPROTO_TCP, TCP_KEEPINTVL,
	    IPPROTO_TCP, TCP_KEEPINTVL, LISTEN_OPT_LIVE, -1 },
	{ LISTEN_OPT(keepalive_count), IPPROTO_TCP, TCP_KEEPCNT, IPPROTO_TCP,
	    TCP_KEEPCNT, LISTEN_OPT_LIVE, -1 },
	{ LISTEN_OPT(nodelay), IPPROTO_TCP, TCP_NODELAY, IPPROTO_TCP,
	    TCP_NODELAY, LISTEN_OPT_LIVE, 0 },
	{ LISTEN_OPT(defer_accept), IPPROTO_TCP, TCP_DEFER_ACCEPT, IPPROTO_TCP,
	    TCP_DEFER_ACCEPT, LISTEN_OPT_LIVE, 0 },
	{ LISTEN_OPT(fastopen), IPPROTO_TCP, TCP_FASTOPEN, IPPROTO_TCP,
	    TCP_FASTOPEN, LISTEN_OPT_LIVE, 0 },
#undef LISTEN_OPT
};
#define LISTEN_NOPTS	(sizeof listen_opts / sizeof listen_opts[0])

/* The value of option o in opts, -1 if unset. */
static long
listen_opt_get(const struct sockopts *opts, const struct listen_opt *o)
{
	return *(const long *)(const void *)((const char *)opts + o->off);
}

/* Note value as option o's in opts. */
static void
listen_opt_put(struct sockopts *opts, const struct listen_opt *o, long value)
{
	*(long *)(void *)((char *)opts + o->off) = value;
}

/* Options with no value: portier sets nothing. */
void
listen_opts_init(struct sockopts *opts)
{
	size_t	i;

	memset(opts, 0, sizeof *opts);
	for (i = 0; i < LISTEN_NOPTS; i++)
		listen_opt_put(opts, &listen_opts[i], -1);
}

/*
 * Set option o to value on fd, a socket of family af: a buffer's through
 * SO_RCVBUFFORCE or SO_SNDBUFFORCE first, as systemd does, which may pass
 * net.core.rmem_max or wmem_max (root only), else the plain one, which
 * the kernel caps there.  An option with no level for af is skipped.
 */
static int
listen_opt_set(int fd, int af, const struct listen_opt *o, long value)
{
	int	level = af == AF_INET6 ? o->level6 : o->level4;
	int	name = af == AF_INET6 ? o->opt6 : o->opt4;
	int	v = (int)(unsigned int)value;	/* mark: 32 bits */

	if (level == -1 || (af != AF_INET && af != AF_INET6))
		return 0;
	if (name == SO_RCVBUF && level == SOL_SOCKET &&
	    setsockopt(fd, level, SO_RCVBUFFORCE, &v, sizeof v) == 0)
		return 0;
	if (name == SO_SNDBUF && level == SOL_SOCKET &&
	    setsockopt(fd, level, SO_SNDBUFFORCE, &v, sizeof v) == 0)
		return 0;
	return setsockopt(fd, level, name, &v, sizeof v);
}

/*
 * Set on fd, a socket of family af, every option opts gives of those that
 * can be set when; with bind, bind_device too.  -1 with the option's name
 * and the reason in err.
 */
static int
listen_opts_apply(int fd, int af, const struct sockopts *opts,
    enum listen_when when, char *err, size_t errlen)
{
	const struct listen_opt	*o;
	size_t			 i;
	long			 v;

	if (when == LISTEN_OPT_BIND && opts->bind_device != NULL &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, opts->bind_device,
	    (socklen_t)strlen(opts->bind_device)) == -1) {
		snprintf(err, errlen, "bind_device %s: %s", opts->bind_device,
		    strerror(errno));
		return -1;
	}
	for (i = 0; i < LISTEN_NOPTS; i++) {
		o = &listen_opts[i];
		if ((when == LISTEN_OPT_LIVE && o->when != LISTEN_OPT_LIVE) ||
		    (v = listen_opt_get(opts, o)) == -1)
			continue;
		if (listen_opt_set(fd, af, o, v) == -1) {
			snprintf(err, errlen, "%s = %ld: %s", o->name, v,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Create, bind and listen on one IP address, with the socket options
 * opts gives; returns the fd or -1.  An IPv6 socket takes IPv6 alone but
 * for "*", unless ipv6_only says otherwise.
 */
static int
listen_bind(const struct laddr *la, const struct sockopts *opts, int backlog,
    int *familyp, char *err, size_t errlen)
{
	struct sockaddr_in	sin;
	const struct sockaddr	*sa = (const struct sockaddr *)&la->ss;
	socklen_t		len = la->sslen;
	int			fd, on = 1, v6only;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1 && la->wildcard && errno == EAFNOSUPPORT) {
		/* No IPv6 on this host: "*" means every IPv4 address. */
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_ANY);
		sin.sin_port = ((const struct sockaddr_in6 *)sa)->sin6_port;
		sa = (const struct sockaddr *)&sin;
		len = sizeof sin;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
	}
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	/* ipv6_only, if set, is in opts. */
	v6only = !la->wildcard;
	if (sa->sa_family == AF_INET6 && opts->ipv6_only == -1)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof v6only);
	if (listen_opts_apply(fd, sa->sa_family, opts, LISTEN_OPT_BIND, err,
	    errlen) == -1) {
		close(fd);
		return -1;
	}
	if (bind(fd, sa, len) == -1 || listen(fd, backlog) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	*familyp = sa->sa_family;
	return fd;
}

/*
 * A listener's addr= in a log line: an IP address as bound, bare; a unix:
 * path quoted and escaped (log_escape), as a path may hold a space, a
 * quote or a line feed, which would end the value or the line.
 */
static const char *
listen_log_addr(const struct listener *l)
{
	static char	buf[sizeof "\"\"" + 4096];

	if (l->family != AF_UNIX)
		return l->bound;
	text_format(buf, sizeof buf, "\"%s\"", log_escape(l->bound));
	return buf;
}

/* Re-enable a listener once its pause is over. */
static void
listen_backoff_done(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;

	if (l->backing_off)
		log_debug("event=accept-resume service=%s addr=%s",
		    l->service->name, listen_log_addr(l));
	l->backing_off = false;
	listen_apply(l);
}

/* Stop accepting on a listener until its timer fires after ms. */
static void
listen_pause(struct listener *l, int ms)
{
	struct timeval	 tv = { 0, ms * 1000 };

	if (l->enabled)
		evconnlistener_disable(l->lev);
	l->enabled = false;
	evtimer_add(l->backoff, &tv);
}

/*
 * Stop accepting on a listener for a moment, because the daemon is out of
 * something (descriptors, processes) that the next connection would need:
 * retrying at once would spin, and accepting only to drop would refuse
 * clients that can as well wait in the backlog.
 */
static void
listen_backoff_one(struct listener *l)
{
	l->backing_off = true;
	listen_pause(l, LISTEN_BACKOFF_MS);
}

/*
 * Back off every listener of svc: a back-end could not start its last
 * connection (out of descriptors or processes).
 */
void
listen_backoff(struct service *svc)
{
	struct listener	*l;

	TAILQ_FOREACH(l, &svc->listeners, entry)
		listen_backoff_one(l);
}

/*
 * accept() failed with something other than EAGAIN or ECONNABORTED, most
 * often EMFILE or ENFILE.  libevent would retry at once and spin.
 */
static void
listen_error(struct evconnlistener *lev, void *arg)
{
	struct listener	*l = arg;
	int		 saved = errno;		/* for log_warn */
	char		 more[48];

	/*
	 * Out of descriptors, this comes every back-off (4 a second): log
	 * one line a second, counting those held back in the next.
	 */
	if (!log_limit(&l->err_limit, LISTEN_ERROR_GAP, more, sizeof more)) {
		listen_backoff_one(l);
		return;
	}
	errno = saved;
	log_warn("event=accept-error service=%s addr=%s backoff_ms=%d%s",
	    l->service->name, listen_log_addr(l), LISTEN_BACKOFF_MS, more);
	listen_backoff_one(l);
}

/*
 * The listener's accept loop is over: the next readable event starts a
 * new burst.
 */
static void
listen_burst_done(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;

	l->batch = 0;
}

/*
 * Hand an accepted socket to conn.c.  libevent accepts until EAGAIN, and
 * a client that opens connections as fast as they are served never lets
 * it see EAGAIN: the loop would never get to the pidfds, so handlers would
 * stay unreaped and their descriptors open (each spawn copying the table
 * and closing them again) for as long as the load lasts.  After
 * LISTEN_BATCH accepts in one burst the listener pauses until the next
 * turn of the loop, when a zero timer resumes it.  The first accept of a
 * burst activates l->burst, which runs once libevent's accept loop has
 * returned and starts the count again: bursts shorter than LISTEN_BATCH
 * never pause the listener, so never cost the two epoll_ctl calls.
 */
static void
listen_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct listener	*l = arg;

	if (l->batch++ == 0)
		event_active(l->burst, EV_TIMEOUT, 1);
	conn_accept(l, fd, sa, len);
	if (l->batch < LISTEN_BATCH)
		return;
	if (l->enabled)
		listen_pause(l, 0);
}

/* A config address in one canonical form, to match across reloads. */
static char *
listen_spec(const struct laddr *la)
{
	char	buf[ADDR_STRLEN + 108];

	return xstrdup(text_sockaddr((const struct sockaddr *)&la->ss,
	    la->sslen, la->wildcard, buf, sizeof buf));
}

/*
 * The listener in conf that a new service name's config address means:
 * one of the same service written the same way (with port 0 the same text
 * stands for different sockets in different services), or any service's
 * bound to exactly that address, as when port 0 was replaced by the port
 * the kernel gave.
 */
static struct listener *
listen_find(struct config *conf, const char *name, const char *spec)
{
	struct service	*svc;
	struct listener	*l;

	TAILQ_FOREACH(svc, &conf->services, entry) {
		TAILQ_FOREACH(l, &svc->listeners, entry) {
			if ((strcmp(l->spec, spec) == 0 &&
			    strcmp(svc->name, name) == 0) ||
			    strcmp(l->bound, spec) == 0)
				return l;
		}
	}
	return NULL;
}

/* Bind one address of svc and add its listener, disabled. */
static int
listen_open_one(struct service *svc, const struct laddr *la, char *err,
    size_t errlen)
{
	struct listener		*l;
	struct passed_socket	*ps;
	dev_t			 dev = 0;
	ino_t			 ino = 0;
	size_t			 n;
	int			 fd, family = AF_UNIX;

	if (la->passed != -1 && (ps = systemd_sockets(&n)) != NULL &&
	    (size_t)la->passed < n) {
		/* The manager's: its file, if any, is not ours to unlink. */
		fd = ps[la->passed].fd;
		family = ps[la->passed].ss.ss_family;
		/* Those set at bind are the manager's, as it bound it. */
		if (listen_opts_apply(fd, family, &svc->sockopts,
		    LISTEN_OPT_LIVE, err, errlen) == -1)
			return -1;
	} else if (la->path != NULL)
		fd = listen_unix_socket(la->path, svc->unix_mode,
		    svc->unix_uid, svc->unix_gid, svc->backlog, &dev, &ino,
		    err, errlen);
	else
		fd = listen_bind(la, &svc->sockopts, svc->backlog, &family, err,
		    errlen);
	if (fd == -1)
		return -1;
	l = xcalloc(1, sizeof *l);
	l->service = svc;
	l->spec = listen_spec(la);
	l->family = family;
	l->wildcard = la->wildcard;
	l->adopted = la->passed != -1;
	l->opts = svc->sockopts;
	l->opts.bind_device = NULL;
	l->locallen = sizeof l->local;
	if (getsockname(fd, (struct sockaddr *)&l->local, &l->locallen) == -1)
		fatal("event=fatal reason=\"getsockname on a listener\"");
	text_sockaddr((struct sockaddr *)&l->local, l->locallen, l->wildcard,
	    l->bound, sizeof l->bound);
	if (la->path != NULL && la->passed == -1) {
		l->path = xstrdup(la->path);
		l->dev = dev;
		l->ino = ino;
		l->mode = svc->unix_mode;
		l->uid = svc->unix_uid;
		l->gid = svc->unix_gid;
	}
	l->lev = evconnlistener_new(core_base(), listen_accept, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
	    0, fd);
	if (l->lev == NULL)
		fatalx("event=fatal reason=\"evconnlistener_new failed\"");
	evconnlistener_set_error_cb(l->lev, listen_error);
	l->backoff = core_timer(listen_backoff_done, l);
	l->burst = core_timer(listen_burst_done, l);
	TAILQ_INSERT_TAIL(&svc->listeners, l, entry);
	log_info("event=listen service=%s addr=%s%s%s%s%s", svc->name,
	    listen_log_addr(l), la->named ? " name=\"" : "",
	    la->named ? log_escape(la->text) : "",
	    la->named ? "\"" : "", la->passed != -1 ? " from=LISTEN_FDS" : "");
	return 0;
}

/*
 * Bind every address of a service.  On error, closes what was bound and
 * returns -1 with a message naming the service and address in err.
 */
int
listen_open(struct service *svc, char *err, size_t errlen)
{
	char	reason[256], what[ADDR_STRLEN + 400];
	size_t	i;

	for (i = 0; i < svc->naddrs; i++) {
		if (listen_open_one(svc, &svc->addrs[i], reason,
		    sizeof reason) == -1) {
			snprintf(err, errlen, "service %s: listen %s: %s",
			    svc->name, listen_describe(&svc->addrs[i], false,
			    what, sizeof what), reason);
			listen_close(svc);
			return -1;
		}
	}
	return 0;
}

/* Close every listener of a service, removing its unix socket files. */
void
listen_close(struct service *svc)
{
	struct listener	*l;

	while ((l = TAILQ_FIRST(&svc->listeners)) != NULL) {
		TAILQ_REMOVE(&svc->listeners, l, entry);
		if (l->watch != NULL)
			event_free(l->watch);
		evconnlistener_free(l->lev);
		event_free(l->backoff);
		event_free(l->burst);
		if (l->path != NULL)
			listen_unix_unlink(l->path, l->dev, l->ino);
		log_info("event=unlisten service=%s addr=%s", svc->name,
		    listen_log_addr(l));
		free(l->path);
		free(l->spec);
		free(l);
	}
}

/*
 * Accept on a listener if its service is open and it is not backing off;
 * a closed listener leaves clients in the kernel's backlog, where they
 * wait until a slot frees up.
 */
static void
listen_apply(struct listener *l)
{
	bool	want = l->open && !evtimer_pending(l->backoff, NULL);

	if (want == l->enabled)
		return;
	if (want)
		evconnlistener_enable(l->lev);
	else
		evconnlistener_disable(l->lev);
	l->enabled = want;
}

/* Open or close svc's listeners, as service.c's limits say. */
void
listen_update(struct service *svc, bool open)
{
	struct listener	*l;

	TAILQ_FOREACH(l, &svc->listeners, entry) {
		l->open = open;
		listen_apply(l);
	}
}

/* Write "SERVICE ADDRESS:PORT" per bound listener to fd, then close it. */
void
listen_announce(struct services *services, int fd)
{
	struct service	*svc;
	struct listener	*l;

	TAILQ_FOREACH(svc, services, entry) {
		TAILQ_FOREACH(l, &svc->listeners, entry) {
			if (dprintf(fd, "%s %s\n", svc->name, l->bound) < 0)
				log_warn("event=ready-fd-error fd=%d", fd);
		}
	}
	close(fd);
}

/*
 * A reload, the new owner and mode of a kept unix: listener: svc's, if they
 * differ from what its file was given.
 */
static int
listen_unix_update(struct listener *l, const struct service *svc, char *err,
    size_t errlen)
{
	if (l->path == NULL || (l->mode == svc->unix_mode &&
	    l->uid == svc->unix_uid && l->gid == svc->unix_gid))
		return 0;
	if (listen_unix_set(l->path, l->dev, l->ino, svc->unix_mode,
	    svc->unix_uid, svc->unix_gid, err, errlen) == -1)
		return -1;
	l->mode = svc->unix_mode;
	l->uid = svc->unix_uid;
	l->gid = svc->unix_gid;
	log_info("event=socket-mode service=%s addr=%s mode=%04o owner=%ld "
	    "group=%ld", svc->name, listen_log_addr(l), (unsigned int)l->mode,
	    l->uid == (uid_t)-1 ? (long)geteuid() : (long)l->uid,
	    l->gid == (gid_t)-1 ? (long)getegid() : (long)l->gid);
	return 0;
}

/* Whether two bind_device names are the same, NULL being none. */
static bool
listen_same_device(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * A reload: whether kept listener l can take svc's socket options.  Those
 * set before bind must stay as they were (a passed socket's are its
 * manager's, and never compared); one no value undoes may not be dropped.
 * -1 with the option named in err.
 */
static int
listen_opts_check(const struct listener *l, const struct service *svc,
    char *err, size_t errlen)
{
	const struct sockopts	*was = &l->service->sockopts;
	const struct sockopts	*now = &svc->sockopts;
	const struct listen_opt	*o;
	size_t			 i;

	if (l->family != AF_INET && l->family != AF_INET6)
		return 0;
	if (!l->adopted && !listen_same_device(was->bind_device,
	    now->bind_device)) {
		snprintf(err, errlen, "bind_device changed, and a socket kept "
		    "over a reload keeps what it was bound with: restart "
		    "portierd, or listen on another port");
		return -1;
	}
	for (i = 0; i < LISTEN_NOPTS; i++) {
		o = &listen_opts[i];
		if ((l->family == AF_INET6 ? o->level6 : o->level4) == -1)
			continue;
		if (o->when == LISTEN_OPT_BIND && !l->adopted &&
		    listen_opt_get(was, o) != listen_opt_get(now, o)) {
			snprintf(err, errlen, "%s changed, and a socket kept "
			    "over a reload keeps what it was bound with: "
			    "restart portierd, or listen on another port",
			    o->name);
			return -1;
		}
		if (o->when == LISTEN_OPT_LIVE && o->unset == -1 &&
		    listen_opt_get(&l->opts, o) != -1 &&
		    listen_opt_get(now, o) == -1) {
			snprintf(err, errlen, "%s was removed, and the kernel "
			    "cannot give a kept socket its default back: set "
			    "the value wanted", o->name);
			return -1;
		}
	}
	return 0;
}

/*
 * A reload: give kept listener l the options of svc that can change on a
 * live socket, where they differ from what it has; one svc leaves unset
 * gets the value that undoes it.  -1 with the option named in err.
 */
static int
listen_opts_update(struct listener *l, const struct service *svc, char *err,
    size_t errlen)
{
	const struct listen_opt	*o;
	size_t			 i;
	long			 v, set;

	for (i = 0; i < LISTEN_NOPTS; i++) {
		o = &listen_opts[i];
		if (o->when != LISTEN_OPT_LIVE || (v = listen_opt_get(
		    &svc->sockopts, o)) == listen_opt_get(&l->opts, o))
			continue;
		if ((set = v != -1 ? v : o->unset) == -1)
			continue;
		if (listen_opt_set(evconnlistener_get_fd(l->lev), l->family, o,
		    set) == -1) {
			snprintf(err, errlen, "%s = %ld: %s", o->name, set,
			    strerror(errno));
			return -1;
		}
		listen_opt_put(&l->opts, o, v);
		log_info("event=socket-option service=%s addr=%s option=%s "
		    "value=%ld", svc->name, listen_log_addr(l), o->name, set);
	}
	return 0;
}

/*
 * A reload, first phase: bind every address of the new config that no
 * listener of the old one has, and give a kept unix: listener its new
 * owner and mode, a kept one its new socket options.  On failure, undoes
 * this phase and returns -1, the old config untouched.
 */
int
listen_prepare(struct config *old, struct config *new, char *err,
    size_t errlen)
{
	struct service	*svc;
	struct listener	*l;
	char		 reason[256], what[ADDR_STRLEN + 400], *spec;
	size_t		 i;
	int		 rc;

	TAILQ_FOREACH(svc, &new->services, entry) {
		/* One the control socket shut down stays so: bind nothing. */
		if (svc->run.stopping != 0)
			continue;
		for (i = 0; i < svc->naddrs; i++) {
			spec = listen_spec(&svc->addrs[i]);
			l = listen_find(old, svc->name, spec);
			free(spec);
			if (l != NULL)
				rc = listen_unix_update(l, svc, reason,
				    sizeof reason) == -1 ||
				    listen_opts_check(l, svc, reason,
				    sizeof reason) == -1 ||
				    listen_opts_update(l, svc, reason,
				    sizeof reason) == -1 ? -1 : 0;
			else
				rc = listen_open_one(svc, &svc->addrs[i],
				    reason, sizeof reason);
			if (rc == -1) {
				snprintf(err, errlen, "service %s: listen %s: %s",
				    svc->name, listen_describe(&svc->addrs[i],
				    false, what, sizeof what), reason);
				listen_abort(old, new);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * A reload failed after its first phase: close what it bound, and give
 * the old config's unix: listeners their old owner and mode back, its
 * kept ones their old socket options (but a buffer size it had left
 * unset, which no value undoes).
 */
void
listen_abort(struct config *old, struct config *new)
{
	struct service	*svc;
	struct listener	*l;
	char		 err[256];

	TAILQ_FOREACH(svc, &new->services, entry)
		listen_close(svc);
	TAILQ_FOREACH(svc, &old->services, entry) {
		TAILQ_FOREACH(l, &svc->listeners, entry) {
			if (listen_unix_update(l, svc, err, sizeof err) == -1)
				log_warnx("event=socket-mode-error service=%s "
				    "addr=%s error=\"%s\"", svc->name,
				    listen_log_addr(l), log_escape(err));
			if (listen_opts_update(l, svc, err, sizeof err) == -1)
				log_warnx("event=socket-option-error service=%s "
				    "addr=%s error=\"%s\"", svc->name,
				    listen_log_addr(l), log_escape(err));
		}
	}
}

/*
 * A reload, second phase: each address the old config had and the new one
 * keeps moves, socket and all, to its new service, so no client is
 * refused; the old config's other listeners close.
 */
void
listen_commit(struct config *old, struct config *new)
{
	struct service	*svc, *from;
	struct listener	*l;
	char		*spec;
	size_t		 i;

	TAILQ_FOREACH(svc, &new->services, entry) {
		for (i = 0; i < svc->naddrs; i++) {
			spec = listen_spec(&svc->addrs[i]);
			l = listen_find(old, svc->name, spec);
			free(spec);
			if (l == NULL)
				continue;
			from = l->service;
			TAILQ_REMOVE(&from->listeners, l, entry);
			l->service = svc;
			TAILQ_INSERT_TAIL(&svc->listeners, l, entry);
			if (svc->backlog != from->backlog)
				(void)listen(evconnlistener_get_fd(l->lev),
				    svc->backlog);
			/* Workers may have made it blocking: we accept. */
			if (from->accept_handler && !svc->accept_handler)
				(void)evutil_make_socket_nonblocking(
				    evconnlistener_get_fd(l->lev));
			if (l->watch != NULL)
				event_free(l->watch);
			l->watch = NULL;
		}
	}
	TAILQ_FOREACH(svc, &old->services, entry)
		listen_close(svc);
}

/*
 * accept = "handler": the descriptors of svc's sockets, at most max of
 * them in fds, in the order of its listen addresses; their count.
 */
size_t
listen_fds(const struct service *svc, int *fds, size_t max)
{
	const struct listener	*l;
	size_t			 n = 0;

	TAILQ_FOREACH(l, &svc->listeners, entry) {
		if (n < max)
			fds[n] = evconnlistener_get_fd(l->lev);
		n++;
	}
	return n;
}

/* A client is waiting on a socket no worker holds: stop watching, say so. */
static void
listen_watched(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;
	void		(*demand)(struct service *) = l->demand;

	listen_watch(l->service, NULL);
	demand(l->service);
}

/*
 * accept = "handler", on demand: watch svc's sockets (never accepting on
 * them) and call demand(svc) once, when a client is waiting on one; with
 * demand NULL, stop watching.
 */
void
listen_watch(struct service *svc, void (*demand)(struct service *))
{
	struct listener	*l;

	TAILQ_FOREACH(l, &svc->listeners, entry) {
		if (demand == NULL) {
			if (l->watch != NULL)
				event_del(l->watch);
			continue;
		}
		if (l->watch == NULL)
			l->watch = event_new(core_base(),
			    evconnlistener_get_fd(l->lev), EV_READ,
			    listen_watched, l);
		if (l->watch == NULL)
			fatalx("event=fatal reason=\"event for a socket "
			    "failed\"");
		l->demand = demand;
		event_add(l->watch, NULL);
	}
}

/* Whether a client waits in the listen queue of one of svc's sockets. */
bool
listen_waiting(const struct service *svc)
{
	const struct listener	*l;
	struct pollfd		 p;

	TAILQ_FOREACH(l, &svc->listeners, entry) {
		p.fd = evconnlistener_get_fd(l->lev);
		p.events = POLLIN;
		if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
			return true;
	}
	return false;
}
