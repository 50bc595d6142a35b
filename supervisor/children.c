/*
 * The child table: pid -> connection, a hash with chains through the
 * connections themselves, so that a SIGCHLD costs O(1) per exited child
 * however many handlers are alive.  SIGCHLD is a libevent signal event; its
 * callback loops over waitpid(WNOHANG), since one signal may stand for many
 * exits.
 */
#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "portier.h"

#define CHILDREN_MIN_BUCKETS	64

static struct conn	**children_buckets;
static size_t		  children_nbuckets;
static size_t		  children_n;
static struct event	 *children_sigchld;

/* The bucket of a pid. */
static struct conn **
children_bucket(pid_t pid)
{
	return &children_buckets[(size_t)pid & (children_nbuckets - 1)];
}

/* Double the table when chains would grow past one entry on average. */
static void
children_grow(void)
{
	struct conn	**old = children_buckets, *c, *next;
	size_t		  i, oldn = children_nbuckets;

	children_nbuckets = oldn * 2;
	children_buckets = xcalloc(children_nbuckets, sizeof *children_buckets);
	for (i = 0; i < oldn; i++) {
		for (c = old[i]; c != NULL; c = next) {
			next = c->child_next;
			c->child_next = *children_bucket(c->pid);
			*children_bucket(c->pid) = c;
		}
	}
	free(old);
}

/* Enter a freshly forked handler in the table. */
void
children_add(struct conn *c)
{
	struct conn	**b;

	if (children_n >= children_nbuckets)
		children_grow();
	b = children_bucket(c->pid);
	c->child_next = *b;
	*b = c;
	children_n++;
}

/* Take a pid out of the table; returns its connection or NULL. */
static struct conn *
children_remove(pid_t pid)
{
	struct conn	**pp, *c;

	for (pp = children_bucket(pid); (c = *pp) != NULL;
	    pp = &c->child_next) {
		if (c->pid == pid) {
			*pp = c->child_next;
			c->child_next = NULL;
			children_n--;
			return c;
		}
	}
	return NULL;
}

/* The number of handlers alive (not yet reaped). */
size_t
children_count(void)
{
	return children_n;
}

/* Describe a wait status as "exit:N" or "signal:NAME[,core]". */
static void
children_status(int st, char *buf, size_t len)
{
	const char	*name = NULL;

	if (WIFEXITED(st)) {
		snprintf(buf, len, "exit:%d", WEXITSTATUS(st));
		return;
	}
#ifdef HAVE_SIGABBREV_NP
	name = sigabbrev_np(WTERMSIG(st));
#endif
	if (name != NULL)
		snprintf(buf, len, "signal:%s%s", name,
		    WCOREDUMP(st) ? ",core" : "");
	else
		snprintf(buf, len, "signal:%d%s", WTERMSIG(st),
		    WCOREDUMP(st) ? ",core" : "");
}

/* A handler was reaped: find out how it ended and end its connection. */
static void
children_exited(struct conn *c, int st)
{
	char	status[64], why[256];

	if (spawn_result(c, why, sizeof why) == -1) {
		c->owner->spawn_failures++;
		log_warnx("event=exec-failed service=%s conn=%llu pid=%ld "
		    "path=\"%s\" error=\"%s\"", c->service->name,
		    (unsigned long long)c->id, (long)c->pid,
		    c->service->argv[0], why);
		conn_end(c, "exec-failed", NULL);
		return;
	}
	children_status(st, status, sizeof status);
	conn_end(c, status, NULL);
}

/* SIGCHLD: reap every child that has exited. */
static void
children_reap(evutil_socket_t sig, short what, void *arg)
{
	struct conn	*c;
	pid_t		 pid;
	int		 st;

	for (;;) {
		pid = waitpid(-1, &st, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		if ((c = children_remove(pid)) == NULL) {
			log_debug("event=reap pid=%ld reason=\"not a handler\"",
			    (long)pid);
			continue;
		}
		children_exited(c, st);
	}
}

/* Set up the table and the SIGCHLD event; before the first fork. */
void
children_init(struct event_base *base)
{
	children_nbuckets = CHILDREN_MIN_BUCKETS;
	children_buckets = xcalloc(children_nbuckets, sizeof *children_buckets);
	children_sigchld = evsignal_new(base, SIGCHLD, children_reap, NULL);
	if (children_sigchld == NULL || evsignal_add(children_sigchld, NULL))
		fatalx("event=fatal reason=\"cannot watch SIGCHLD\"");
}

/* Release the table; every child must have been reaped. */
void
children_free(void)
{
	event_free(children_sigchld);
	free(children_buckets);
	children_buckets = NULL;
	children_nbuckets = children_n = 0;
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
