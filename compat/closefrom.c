/*
 * closefrom() for systems whose C library lacks it: close_range(2) where
 * the kernel has it, else close every descriptor up to the soft limit.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/syscall.h>

#include <unistd.h>

#include "portier.h"

/* Close every file descriptor from lowfd up. */
void
closefrom(int lowfd)
{
	struct rlimit	rl;
	long		fd, max;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned int)lowfd, ~0U, 0) == 0)
		return;
#endif
	max = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	for (fd = lowfd; fd < max; fd++)
		(void)close((int)fd);
}
