/*
 * What the benchmark's tools share; see tool.h.
 */
#define _GNU_SOURCE

#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
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
