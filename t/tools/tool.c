/*
 * What the benchmark's tools share; see tool.h.
 */
#define _GNU_SOURCE

#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool.h"

const char	*tool_name = "tool";

/* Print a message with the errno text and exit 1. */
void
tool_fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(saved));
	exit(1);
}

/* Seconds on the monotonic clock. */
double
tool_now(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		tool_fatal("clock_gettime");
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Raise the soft descriptor limit to the hard one. */
void
tool_rlimit(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		tool_fatal("getrlimit RLIMIT_NOFILE");
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		tool_fatal("setrlimit RLIMIT_NOFILE");
}

/* Make sure fds 0-2 are open, so no socket takes their numbers. */
void
tool_stdfds(void)
{
	int	fd;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			tool_fatal("open /dev/null as fd %d", fd);
	}
}

/*
 * s with its C escapes \n \r \t \\ \0 undone, in a buffer of its own, and
 * its length in *lenp; or NULL, and what is wrong with s in *why.
 */
char *
tool_unescape(const char *s, size_t *lenp, const char **why)
{
	static const char	 from[] = "nrt\\0", to[] = "\n\r\t\\\0";
	static char		 bad[32];
	const char		*e;
	char			*buf;
	size_t			 i, len = 0;

	if ((buf = calloc(strlen(s) + 1, 1)) == NULL)
		tool_fatal("calloc");
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] != '\\') {
			buf[len++] = s[i];
			continue;
		}
		if (s[++i] == '\0') {
			*why = "it ends in a backslash";
			goto fail;
		}
		if ((e = strchr(from, s[i])) == NULL) {
			snprintf(bad, sizeof bad, "unknown escape '\\%c'", s[i]);
			*why = bad;
			goto fail;
		}
		buf[len++] = to[e - from];
	}
	if (len > 0) {
		*lenp = len;
		return buf;
	}
	*why = "empty payload";
fail:
	free(buf);
	return NULL;
}

/* The port a socket is bound to. */
static unsigned
tool_bound_port(int fd)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		tool_fatal("getsockname");
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * Bind and listen on HOST PORT (numeric, PORT from 0 to 65535), with
 * SO_REUSEADDR, a socket of type SOCK_STREAM | SOCK_CLOEXEC | flags and
 * the backlog given, and say which port on stdout as "port=N".  A bad
 * HOST or PORT goes to usage, which does not return.
 */
int
tool_listen(const char *host, const char *port, int flags, int backlog,
    void (*usage)(const char *))
{
	struct addrinfo	 hints, *res;
	char		*end;
	long		 v;
	int		 fd, error, on = 1;

	errno = 0;
	v = strtol(port, &end, 10);
	if (port[0] < '0' || port[0] > '9' || errno != 0 || *end != '\0' ||
	    v > 65535)
		usage("bad PORT: want an integer from 0 to 65535");
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, "%s: %s: %s\n", tool_name, host,
		    gai_strerror(error));
		usage("bad HOST: want a numeric IPv4 or IPv6 address");
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd == -1)
		tool_fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
		tool_fatal("setsockopt SO_REUSEADDR");
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		tool_fatal("bind %s port %s", host, port);
	freeaddrinfo(res);
	if (listen(fd, backlog) == -1)
		tool_fatal("listen");
	printf("port=%u\n", tool_bound_port(fd));
	if (fflush(stdout) == EOF)
		tool_fatal("write stdout");
	return fd;
}
