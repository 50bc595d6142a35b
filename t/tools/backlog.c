/*
 * backlog.so: an LD_PRELOAD shim for the benchmark.  xinetd calls
 * listen(fd, 64) with a backlog compiled into it; this raises any listen
 * backlog below BACKLOG_MIN to it, so that the benchmark compares how
 * servers spawn handlers rather than how long their queues are.
 */
#define _GNU_SOURCE
#include <sys/socket.h>

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

#define BACKLOG_MIN	4096

int
listen(int fd, int backlog)
{
	static int	(*real)(int, int);

	if (real == NULL &&
	    (real = (int (*)(int, int))dlsym(RTLD_NEXT, "listen")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd, backlog < BACKLOG_MIN ? BACKLOG_MIN : backlog);
}
