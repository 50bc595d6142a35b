/*
 * hello: the smallest handler there is, for the benchmark's spawn tests.
 * It writes one line with one write(2) and exits.  It is built twice: as
 * a static program (hello), and on x86_64 also without libc (hello-nolibc,
 * -DHELLO_NOLIBC -nostdlib).  Static glibc's start-up asks the CPU about
 * its caches with cpuid, which traps to the hypervisor on a virtual
 * machine and there costs more than the rest of the process; without it,
 * what is left to measure is the supervisor.
 */
#if defined(__x86_64__) && defined(HELLO_NOLIBC)

static long
hello_syscall(long n, long a, long b, long c)
{
	long	r;

	__asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b),
	    "d"(c) : "rcx", "r11", "memory");
	return r;
}

void	_start(void) __attribute__((noreturn));

void
_start(void)
{
	static const char	line[] = "hello\n";
	long			n;

	n = hello_syscall(1, 1, (long)line, sizeof line - 1);	/* write */
	hello_syscall(60, n == sizeof line - 1 ? 0 : 1, 0, 0);	/* exit */
	__builtin_unreachable();
}

#else

#include <unistd.h>

int
main(void)
{
	static const char	line[] = "hello\n";

	return write(STDOUT_FILENO, line, sizeof line - 1) ==
	    (ssize_t)(sizeof line - 1) ? 0 : 1;
}

#endif
