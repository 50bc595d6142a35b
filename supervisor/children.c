/*
 * The handlers alive.  Each is started with a pidfd (CLONE_PIDFD), and a
 * libevent event on it fires when that handler exits; it is then reaped
 * with waitid(P_PIDFD), which looks at that one child.  waitpid(-1) would
 * look at every child the daemon has, so with 2,000 handlers alive each
 * reap cost a walk of 2,000 tasks in the kernel (the accept rate fell
 * from 12,000 to 3,000 connections/s, three quarters of it in do_wait).
 */
#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "portier.h"

#ifndef P_PIDFD
#define P_PIDFD	3
#endif

static size_t		 children_n;

static void		 children_exited(evutil_socket_t, short, void *);

/* Enter a freshly started handler, whose pidfd is c->pidfd. */
void
children_add(struct conn *c)
{
	c->reap = event_new(main_base(), c->pidfd, EV_READ, children_exited,
	    c);
	if (c->reap == NULL || event_add(c->reap, NULL) == -1)
		fatalx("event=fatal reason=\"event for a pidfd failed\"");
	children_n++;
}

/* The number of handlers alive (not yet reaped). */
size_t
children_count(void)
{
	return children_n;
}

/* Describe how a child ended as "exit:N" or "signal:NAME[,core]". */
static void
children_status(const siginfo_t *si, char *buf, size_t len)
{
	const char	*name = NULL;
	const char	*core = si->si_code == CLD_DUMPED ? ",core" : "";

	if (si->si_code == CLD_EXITED) {
		snprintf(buf, len, "exit:%d", si->si_status);
		return;
	}
#ifdef HAVE_SIGABBREV_NP
	name = sigabbrev_np(si->si_status);
#endif
	if (name != NULL)
		snprintf(buf, len, "signal:%s%s", name, core);
	else
		snprintf(buf, len, "signal:%d%s", si->si_status, core);
}

/* A handler's pidfd is readable: it exited; reap it and end its conn. */
static void
children_exited(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	siginfo_t	 si;
	char		 status[64], why[256];

	memset(&si, 0, sizeof si);
	if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) == -1) {
		if (errno == EINTR || errno == EAGAIN) {
			event_add(c->reap, NULL);
			return;
		}
		fatal("event=fatal reason=\"waitid pid %ld\"", (long)c->pid);
	}
	if (si.si_pid == 0) {		/* not yet: wait for the next wake-up */
		event_add(c->reap, NULL);
		return;
	}
	event_free(c->reap);
	c->reap = NULL;
	close(c->pidfd);
	c->pidfd = -1;
	children_n--;
	if (spawn_result(c, why, sizeof why) == -1) {
		c->owner->spawn_failures++;
		log_warnx("event=exec-failed service=%s conn=%llu pid=%ld "
		    "path=\"%s\" error=\"%s\"", c->service->name,
		    (unsigned long long)c->id, (long)c->pid,
		    c->service->argv[0], why);
		conn_end(c, "exec-failed", NULL);
		return;
	}
	children_status(&si, status, sizeof status);
	conn_end(c, status, NULL);
}

/*
 * Signal one handler's process group (SIGTERM or SIGKILL), or the handler
 * alone if it has not made its group yet.  SIGTERM is followed by SIGCONT,
 * so a stopped group sees it.  A handler is sent each signal once.
 */
void
children_signal(struct conn *c, int sig)
{
	if (c->state == CONN_KILL || (c->state == CONN_TERM && sig == SIGTERM))
		return;
	if (killpg(c->pid, sig) == -1 && errno == ESRCH)
		(void)kill(c->pid, sig);
	if (sig == SIGTERM && killpg(c->pid, SIGCONT) == -1 && errno == ESRCH)
		(void)kill(c->pid, SIGCONT);
	conn_set_state(c, sig == SIGKILL ? CONN_KILL : CONN_TERM);
}
