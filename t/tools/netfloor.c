/*
 * netfloor: the network floor of portier's benchmark.  The smallest correct
 * forking server: it accepts a TCP connection, starts a program with the
 * socket as its stdin and stdout, and reaps it, with nothing else in
 * between (no logging, no limits, no event loop), so what it reaches is
 * what a supervisor can reach on this machine with the network included.
 *
 * Usage: netfloor HOST PORT PROG [ARG...].  PROG is a path (execv, no PATH
 * search).  Once listening (SO_REUSEADDR, backlog 4096) it prints "port=N"
 * (useful with PORT 0), then loops: a blocking accept4(SOCK_CLOEXEC), vfork,
 * and in the child dup2 of the socket to 0 and 1 and execv (_exit(127) if
 * it fails); the parent closes its copy.  Out of descriptors (EMFILE,
 * ENFILE) or processes, it pauses 100 ms and goes on.  SIGTERM or SIGINT
 * ends it at once, with status 0, its children left to run out.
 *
 * Reaping: a SIGCHLD handler that calls waitpid(-1, WNOHANG) until no child
 * is left to reap (waitpid is async-signal-safe), with SA_RESTART.  It is
 * the simplest correct choice: reaping in the loop when a SIGCHLD without
 * SA_RESTART ends accept4 with EINTR leaves a child that exits between that
 * reap and the next accept4 a zombie until the next connection comes, and
 * a pidfd per child needs a poll loop over all of them.
 */
#define _GNU_SOURCE

#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define NET_BACKLOG	4096
#define NET_PAUSE_NS	100000000L	/* out of fds or processes: wait */

/* Say what is wrong with the command line and how to use it; exit 2. */
static void __attribute__((noreturn))
net_usage(const char *what)
{
	fprintf(stderr, "netfloor: %s\nusage: netfloor HOST PORT PROG "
	    "[ARG...]\n", what);
	exit(2);
}

/* SIGCHLD: reap every child that has exited; one signal may stand for many. */
static void
net_reap(int sig)
{
	int	saved = errno;

	while (waitpid(-1, NULL, WNOHANG) > 0)
		continue;
	errno = saved;
}

/* SIGTERM, SIGINT: exit at once, whatever the loop is doing. */
static void
net_quit(int sig)
{
	_exit(0);
}

/*
 * SIGCHLD reaps, with SA_RESTART so that accept4 goes on; SIGTERM and
 * SIGINT exit in the handler, where no flag can be missed between its
 * test and a blocking accept4.
 */
static void
net_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = net_reap;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL) == -1)
		tool_fatal("sigaction SIGCHLD");
	sa.sa_handler = net_quit;
	sa.sa_flags = 0;
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		tool_fatal("sigaction SIGTERM, SIGINT");
}

/* Out of descriptors or processes: wait a little, never spin. */
static void
net_pause(void)
{
	struct timespec	ts = { 0, NET_PAUSE_NS };

	(void)nanosleep(&ts, NULL);	/* a signal may cut it short */
}

/*
 * Start PROG on the connection.  The child, vfork's, shares our memory and
 * only dup2s and execs; the socket's own descriptor is close-on-exec, its
 * copies on 0 and 1 are not.
 */
static void
net_serve(int sock, char **argv)
{
	pid_t	pid;

	if ((pid = vfork()) == 0) {
		if (dup2(sock, STDIN_FILENO) == -1 ||
		    dup2(sock, STDOUT_FILENO) == -1)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	(void)close(sock);	/* the child has its copies; nothing to tell */
	if (pid == -1)
		net_pause();
}

/* Accept and serve until SIGTERM or SIGINT ends the process. */
static void __attribute__((noreturn))
net_loop(int lfd, char **argv)
{
	int	sock;

	for (;;) {
		if ((sock = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) != -1) {
			net_serve(sock, argv);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			net_pause();
			continue;
		}
		tool_fatal("accept4");
	}
}

int
main(int argc, char **argv)
{
	int	lfd;

	tool_name = "netfloor";
	if (argc < 4)
		net_usage("HOST, PORT and PROG are required");
	if (strchr(argv[3], '/') == NULL)
		net_usage("PROG must be a path");
	tool_stdfds();
	tool_rlimit();
	net_signals();
	lfd = tool_listen(argv[1], argv[2], 0, NET_BACKLOG,
	    net_usage);
	net_loop(lfd, argv + 3);
}
