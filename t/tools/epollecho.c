/*
 * epollecho: the floor of portier's benchmark.  A single-threaded epoll TCP
 * echo server with nothing in it but the echo, to show what a connection
 * costs when no process is spawned and no library stands in between.
 *
 * Usage: epollecho HOST PORT.  Once listening it prints "port=N" (useful
 * with PORT 0), then echoes until SIGTERM or SIGINT.  Level-triggered: one
 * read per readiness event, so a busy connection cannot starve the others.
 * When a socket does not take a whole write, the rest waits in a heap
 * buffer and the connection is not read again until it has gone out, so a
 * client that does not read slows its own sender down and nothing grows.
 */
#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define ECHO_BUFSIZE	(64 * 1024)
#define ECHO_BACKLOG	4096
#define ECHO_EVENTS	256
#define ECHO_PAUSE_MS	100	/* out of descriptors: accept again after */

/* One connection, found by its descriptor. */
struct echo_conn {
	bool	 open;
	char	*pend;		/* echo the socket did not take yet */
	size_t	 off, len;
};

/* The server. */
struct echo {
	int			 ep, lfd, sigfd;
	bool			 paused;	/* listener off: no descriptors */
	struct timespec		 resume;
	struct echo_conn	*conns;		/* indexed by descriptor */
	size_t			 nconns;
};

/* Say what is wrong with the command line and how to use it; exit 2. */
static void __attribute__((noreturn))
echo_usage(const char *what)
{
	fprintf(stderr, "epollecho: %s\nusage: epollecho HOST PORT\n", what);
	exit(2);
}

/* Milliseconds from a to b. */
static long
echo_ms(const struct timespec *a, const struct timespec *b)
{
	return (long)(b->tv_sec - a->tv_sec) * 1000 +
	    (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* Now, on the monotonic clock. */
static void
echo_now(struct timespec *ts)
{
	if (clock_gettime(CLOCK_MONOTONIC, ts) == -1)
		tool_fatal("clock_gettime");
}

/* Add, change or remove what epoll watches on fd. */
static int
echo_ctl(struct echo *e, int op, int fd, unsigned events)
{
	struct epoll_event	ev;

	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.fd = fd;
	return epoll_ctl(e->ep, op, fd, &ev);
}

/* SIGTERM and SIGINT become events on a signalfd. */
static int
echo_signals(void)
{
	sigset_t	set;
	int		fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		tool_fatal("sigprocmask");
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		tool_fatal("signalfd");
	return fd;
}

/* Make room in the table for descriptor fd. */
static void
echo_grow(struct echo *e, int fd)
{
	struct echo_conn	*p;
	size_t			 n = e->nconns;

	if ((size_t)fd < n)
		return;
	while (n <= (size_t)fd)
		n = n == 0 ? 1024 : n * 2;
	if ((p = realloc(e->conns, n * sizeof *p)) == NULL)
		tool_fatal("realloc %zu connections", n);
	memset(p + e->nconns, 0, (n - e->nconns) * sizeof *p);
	e->conns = p;
	e->nconns = n;
}

/* Close a connection and drop what it still had to send. */
static void
echo_close(struct echo *e, int fd)
{
	struct echo_conn	*c = &e->conns[fd];

	free(c->pend);
	memset(c, 0, sizeof *c);
	(void)close(fd);	/* nothing is left to report about it */
}

/* Out of descriptors or memory: stop accepting for a while, never spin. */
static void
echo_pause(struct echo *e)
{
	if (echo_ctl(e, EPOLL_CTL_MOD, e->lfd, 0) == -1)
		tool_fatal("epoll_ctl pause listener");
	e->paused = true;
	echo_now(&e->resume);
	e->resume.tv_nsec += ECHO_PAUSE_MS * 1000000L;
	if (e->resume.tv_nsec >= 1000000000L) {
		e->resume.tv_sec++;
		e->resume.tv_nsec -= 1000000000L;
	}
}

/* The pause is over: accept again. */
static void
echo_resume(struct echo *e)
{
	if (echo_ctl(e, EPOLL_CTL_MOD, e->lfd, EPOLLIN) == -1)
		tool_fatal("epoll_ctl resume listener");
	e->paused = false;
}

/* Accept every pending connection. */
static void
echo_accept(struct echo *e)
{
	int	fd;

	for (;;) {
		fd = accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				echo_pause(e);
				return;
			}
			tool_fatal("accept4");
		}
		echo_grow(e, fd);
		e->conns[fd].open = true;
		if (echo_ctl(e, EPOLL_CTL_ADD, fd, EPOLLIN) == -1)
			echo_close(e, fd);
	}
}

/* Keep what the socket did not take, and wait until it can take more. */
static void
echo_keep(struct echo *e, int fd, const char *buf, size_t len)
{
	struct echo_conn	*c = &e->conns[fd];

	if ((c->pend = malloc(len)) == NULL)
		tool_fatal("malloc %zu bytes", len);
	memcpy(c->pend, buf, len);
	c->off = 0;
	c->len = len;
	if (echo_ctl(e, EPOLL_CTL_MOD, fd, EPOLLOUT) == -1)
		echo_close(e, fd);
}

/* Read once and echo it; at EOF or an error, close. */
static void
echo_read(struct echo *e, int fd)
{
	char	buf[ECHO_BUFSIZE];
	ssize_t	n, w;

	n = read(fd, buf, sizeof buf);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		echo_close(e, fd);
		return;
	}
	w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
	if (w == -1 && errno != EAGAIN && errno != EINTR) {
		echo_close(e, fd);
		return;
	}
	if (w == -1)
		w = 0;
	if (w < n)
		echo_keep(e, fd, buf + w, (size_t)(n - w));
}

/* Send what was kept; once it is all out, read again. */
static void
echo_flush(struct echo *e, int fd)
{
	struct echo_conn	*c = &e->conns[fd];
	ssize_t			 w;

	w = send(fd, c->pend + c->off, c->len - c->off, MSG_NOSIGNAL);
	if (w == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w == -1) {
		echo_close(e, fd);
		return;
	}
	c->off += (size_t)w;
	if (c->off < c->len)
		return;
	free(c->pend);
	c->pend = NULL;
	if (echo_ctl(e, EPOLL_CTL_MOD, fd, EPOLLIN) == -1)
		echo_close(e, fd);
}

/* Serve until a signal comes. */
static void
echo_loop(struct echo *e)
{
	struct epoll_event	evs[ECHO_EVENTS];
	struct timespec		now;
	int			i, n, fd;

	for (;;) {
		n = epoll_wait(e->ep, evs, ECHO_EVENTS,
		    e->paused ? ECHO_PAUSE_MS : -1);
		if (n == -1 && errno != EINTR)
			tool_fatal("epoll_wait");
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == e->sigfd)
				return;
			if (fd == e->lfd)
				echo_accept(e);
			else if (e->conns[fd].pend != NULL)
				echo_flush(e, fd);
			else if (e->conns[fd].open)
				echo_read(e, fd);
		}
		if (!e->paused)
			continue;
		echo_now(&now);
		if (echo_ms(&e->resume, &now) >= 0)
			echo_resume(e);
	}
}

/* Close every connection and descriptor, free everything. */
static void
echo_free(struct echo *e)
{
	size_t	fd;

	for (fd = 0; fd < e->nconns; fd++) {
		if (e->conns[fd].open)
			echo_close(e, (int)fd);
	}
	free(e->conns);
	(void)close(e->lfd);
	(void)close(e->sigfd);
	(void)close(e->ep);
}

int
main(int argc, char **argv)
{
	struct echo	e;

	tool_name = "epollecho";
	if (argc != 3)
		echo_usage(argc < 3 ? "HOST and PORT are required" :
		    "too many arguments");
	memset(&e, 0, sizeof e);
	tool_rlimit();
	e.sigfd = echo_signals();
	if ((e.ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		tool_fatal("epoll_create1");
	e.lfd = tool_listen(argv[1], argv[2], SOCK_NONBLOCK, ECHO_BACKLOG,
	    echo_usage);
	if (echo_ctl(&e, EPOLL_CTL_ADD, e.lfd, EPOLLIN) == -1)
		tool_fatal("epoll_ctl listener");
	if (echo_ctl(&e, EPOLL_CTL_ADD, e.sigfd, EPOLLIN) == -1)
		tool_fatal("epoll_ctl signalfd");
	echo_loop(&e);
	echo_free(&e);
	return 0;
}
