/*
 * The handlers alive: the back-end of exec connections.  A handler is
 * started through spawn.c, which makes the process and calls nothing
 * here; what it holds while it lives is ours: its pidfd, if it has one,
 * its timer and its stderr pipe, whose lines go to the log.
 *
 * A handler is reaped in one of two ways, chosen at its start by how many
 * children portierd has (handlers, and what they left behind as the last
 * sweep counted it):
 *
 * - Below CHILDREN_WALK_MAX, on SIGCHLD (read from core.c's signalfd): a
 *   walk, waitid(P_ALL) until none has exited, each call looking at the
 *   children from the oldest to the first that exited.  With few
 *   children that is cheaper than a pidfd, which costs a connection its
 *   allocation in clone, two epoll_ctl and a close (issue 18, hello-nolibc
 *   on a machine of about 1,800 spawns/s, 6 rounds side by side with a
 *   build giving every handler a pidfd: 1.05 (1.01-1.16) of the
 *   connections/s at c=8, 1.09 (0.94-1.19) at c=64, portierd's own CPU
 *   12 and 14 us less a connection, as little as netfloor's; with 100
 *   handlers alive beside them, 1.07 (1.00-1.10) at c=8; with 120 and
 *   one connection at a time, the worst case, 0.99 (0.88-1.09)).
 *
 * - From CHILDREN_WALK_MAX on, with a pidfd (CLONE_PIDFD), a libevent
 *   event on which fires when that handler exits; it is then reaped with
 *   waitid(P_PIDFD), which looks at that one child.  A walk looks at every
 *   child, so with 2,000 handlers alive each reap cost a walk of 2,000
 *   tasks in the kernel (the accept rate fell from 12,000 to 3,000
 *   connections/s, three quarters of it in do_wait).  The handlers still
 *   alive without a pidfd are given one then (pidfd_open), so that no
 *   SIGCHLD walks while so many live; SIGCHLD still comes, and is read
 *   and let go (with 2,000 alive, 1.03 (0.90-1.19) of the connections/s
 *   of the build giving every handler a pidfd, 8 rounds).  Putting the
 *   pidfds in an epoll set of our own, watched by the loop as one
 *   descriptor (a closed pidfd leaves it by itself: one epoll_ctl a
 *   handler, not two), bought nothing (issue 18, 5 rounds: exec hello at
 *   c=1, 8 and 64 0.92 (0.90-1.05), 1.01 (0.97-1.04) and 0.98
 *   (0.98-1.02), hello-nolibc at 8 and 64 0.98 (0.95-1.05) and 1.00
 *   (0.99-1.03)).
 *
 * Either way a handler's exit can also be found by the other path (a walk
 * reaps whatever has exited, pidfd or not), so each reap goes through
 * children_reaped, which forgets the pidfd, if any.
 *
 * Each handler's stderr is a pipe of its own, which costs a connection a
 * pipe2, two closes and an FIONREAD: 6% of the connections/s of
 * hello-nolibc at c=8 and 64 on a machine of 2,728 spawns/s, side by side
 * with stderr = "null" (issue 18, 5 rounds: 0.94 (0.89-0.97) and 0.94
 * (0.92-1.00)).  One stream socket a service, shared by its handlers as
 * the journal's is by a unit's processes, with SO_PASSCRED telling the
 * writer of each read, was built and dropped: a line a command of a shell
 * handler writes just before it exits is often read after its shell has
 * reaped it, when nothing tells which connection its pid was of (its
 * process group, from /proc, is gone with it), so such lines lost their
 * conn= (the flood test of t/hostile-child.bats caught 42 of 2,620).
 *
 * Under valgrind, which runs neither clone(CLONE_PIDFD) nor pidfd_open,
 * handlers are forked with no pidfd (spawn_pidfds), and always reaped on
 * SIGCHLD: slow with thousands, but it only has to be right.
 *
 * What a handler leaves behind is ours too.  portierd is a child
 * subreaper (PR_SET_CHILD_SUBREAPER), so a process a handler started and
 * did not wait for (a daemon it forked, a command sshd ran under setsid)
 * is reparented to portierd when its parent dies, not to init: it is
 * reaped, counted (status, metrics), and at exit sent SIGTERM, then
 * SIGKILL after kill_grace (children_orphans_end).  It is reaped by the
 * walks on SIGCHLD while they run, and by a sweep, a walk too, a second
 * after a handler ends (when what it leaves is reparented) and once a
 * second while anything left behind is alive, which also counts it; not
 * on SIGCHLD while handlers have pidfds, as a walk would then cost each
 * connection a look at every child (exec makes SIGCHLD a handler's exit
 * signal whatever clone said, so no other signal can tell a handler's
 * exit from a leftover's).
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "portier.h"

#ifndef P_PIDFD
#define P_PIDFD	3
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open	434
#endif

#define CHILDREN_ERR_LINE	4096	/* longer stderr lines are cut */
#define CHILDREN_ERR_DRAIN	256	/* reads of what is left, at most */
#define CHILDREN_ERR_WAIT	0.1	/* seconds before a pipe is watched */
#define CHILDREN_ORPHAN_GAP	1.0	/* seconds between orphan lines */
#define CHILDREN_SWEEP_GAP	1.0	/* seconds between sweeps for them */
#define CHILDREN_SWEEP_MAX	1024	/* children reaped per sweep */
#define CHILDREN_LIST_MAX	4096	/* orphans signalled by pid at exit */
#define CHILDREN_WALK_MAX	128	/* children alive, then pidfds */

/*
 * A cause of exec failures (service, failing step and errno), so that a
 * handler that fails for every client logs one line a second per cause,
 * not one per connection; a full table forgets its least recent cause.
 */
#define CHILDREN_CAUSES		16
#define CHILDREN_CAUSE_GAP	1.0	/* seconds between lines of a cause */
struct children_cause {
	char		*service;	/* NULL: a free slot */
	int		 step;
	int		 error;
	struct log_limit limit;		/* its lines */
};

static size_t		 children_n;
static TAILQ_HEAD(, conn) children_errwait =	/* pipes not watched yet */
    TAILQ_HEAD_INITIALIZER(children_errwait);
static struct event	*children_errtimer;	/* for the first of them */
static TAILQ_HEAD(, conn) children_alive =	/* the handlers not reaped */
    TAILQ_HEAD_INITIALIZER(children_alive);
static size_t		 children_walked;	/* of them, those without pidfd */
static long		 children_left;		/* left behind, at the last sweep */
static struct event	*children_sweeper;	/* what handlers leave */
static uint64_t		 children_exec_failed;	/* daemon-wide */
static uint64_t		 children_orphans_reaped;
static struct log_limit	 children_orphan_limit;
static struct children_cause children_causes[CHILDREN_CAUSES];

static void		 children_exited(evutil_socket_t, short, void *);
static void		 children_sigchld(int);
static void		 children_sweep(evutil_socket_t, short, void *);
static int		 children_reap(struct conn *);

/*
 * Become a child subreaper, so what handlers leave behind is ours, and
 * take SIGCHLD, which reaps the handlers started without a pidfd.
 */
void
children_init(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		fatal("event=fatal reason=\"PR_SET_CHILD_SUBREAPER\"");
	children_sweeper = core_timer(children_sweep, NULL);
	core_signal(SIGCHLD, children_sigchld);
}

/* Sweep for what handlers left behind a second from now, if not sooner. */
static void
children_sweep_soon(void)
{
	if (children_sweeper != NULL &&
	    !evtimer_pending(children_sweeper, NULL))
		core_timer_in(children_sweeper, CHILDREN_SWEEP_GAP);
}

/* Free the timers and what the causes of failures hold, at exit. */
void
children_fini(void)
{
	size_t	i;

	if (children_sweeper != NULL)
		event_free(children_sweeper);
	children_sweeper = NULL;
	if (children_errtimer != NULL)
		event_free(children_errtimer);
	children_errtimer = NULL;
	for (i = 0; i < CHILDREN_CAUSES; i++) {
		free(children_causes[i].service);
		children_causes[i].service = NULL;
	}
}

/* Watch c's pidfd: it is readable once the handler has exited. */
static void
children_watch(struct conn *c)
{
	c->reap = event_new(core_base(), c->pidfd, EV_READ, children_exited,
	    c);
	if (c->reap == NULL || event_add(c->reap, NULL) == -1)
		fatalx("event=fatal reason=\"event for a pidfd failed\"");
}

/* Enter a freshly started handler, whose pidfd is c->pidfd, if any. */
static void
children_add(struct conn *c)
{
	children_n++;
	TAILQ_INSERT_TAIL(&children_alive, c, child);
	if (c->pidfd == -1)
		children_walked++;
	else
		children_watch(c);
}

/*
 * Whether the next handler is started with a pidfd: only once
 * CHILDREN_WALK_MAX children are alive (see the top of this file).  Then
 * each handler alive without one is given one, and SIGCHLD stops
 * walking the children; should a pidfd_open fail (out of descriptors),
 * the walks go on until the next try.
 */
static bool
children_pidfds(void)
{
	struct conn	*c;
	long		 fd;

	if (!spawn_pidfds() ||
	    (long)children_n + children_left < CHILDREN_WALK_MAX)
		return false;
	TAILQ_FOREACH(c, &children_alive, child) {
		if (children_walked == 0)
			break;
		if (c->pidfd != -1)
			continue;
		if ((fd = syscall(SYS_pidfd_open, c->pid, 0)) == -1)
			break;
		c->pidfd = (int)fd;
		children_walked--;
		children_watch(c);
	}
	return true;
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
		text_format(buf, len, "exit:%d", si->si_status);
		return;
	}
#ifdef HAVE_SIGABBREV_NP
	name = sigabbrev_np(si->si_status);
#endif
	if (name != NULL)
		text_format(buf, len, "signal:%s%s", name, core);
	else
		text_format(buf, len, "signal:%d%s", si->si_status, core);
}

/* The number of handlers that failed to exec since start. */
uint64_t
children_exec_failures(void)
{
	return children_exec_failed;
}

/* The table entry of c's exec failure cause, made if new (or reused). */
static struct children_cause *
children_cause(const struct conn *c)
{
	struct children_cause	*cc, *oldest = &children_causes[0];
	size_t			 i;

	for (i = 0; i < CHILDREN_CAUSES; i++) {
		cc = &children_causes[i];
		if (cc->service != NULL && cc->step == c->exec_step &&
		    cc->error == c->exec_errno &&
		    strcmp(cc->service, c->service->name) == 0)
			return cc;
		if (cc->service == NULL ||
		    (oldest->service != NULL &&
		    cc->limit.last < oldest->limit.last))
			oldest = cc;
	}
	free(oldest->service);
	oldest->service = xstrdup(c->service->name);
	oldest->step = c->exec_step;
	oldest->error = c->exec_errno;
	memset(&oldest->limit, 0, sizeof oldest->limit);
	return oldest;
}

/*
 * Log an exec failure, unless its cause was logged less than a second
 * ago: a handler that cannot run fails for every client, and a line per
 * connection would let any client fill the log.  The lines held back are
 * counted in the next line of that cause, and every failure in status.
 */
static void
children_exec_failed_log(struct conn *c, const char *why)
{
	struct children_cause	*cc = children_cause(c);
	char			 more[48];

	if (!log_limit(&cc->limit, CHILDREN_CAUSE_GAP, more, sizeof more))
		return;
	log_warnx("event=exec-failed service=%s conn=%llu pid=%ld "
	    "path=\"%s\" error=\"%s\"%s", c->service->name,
	    (unsigned long long)c->id, (long)c->pid,
	    log_escape(c->service->argv[0]), why, more);
}

/* A handler was reaped: forget its pidfd, if any, and end its connection. */
static void
children_reaped(struct conn *c, const siginfo_t *si)
{
	char	status[64], why[256];

	children_n--;
	TAILQ_REMOVE(&children_alive, c, child);
	if (c->pidfd == -1)
		children_walked--;
	else {
		event_free(c->reap);
		c->reap = NULL;
		close(c->pidfd);
		c->pidfd = -1;
	}
	children_sweep_soon();
	if (spawn_result(c, why, sizeof why) == -1) {
		service_spawn_failed(c->owner, false);
		children_exec_failed++;
		children_exec_failed_log(c, why);
		conn_end(c, "exec-failed", NULL);
		return;
	}
	children_status(si, status, sizeof status);
	conn_end(c, status, NULL);
}

/* The connection of the handler with this pid, if it is one. */
static struct conn *
children_find(pid_t pid)
{
	struct conn	*c;

	TAILQ_FOREACH(c, &children_alive, child)
		if (c->pid == pid)
			return c;
	return NULL;
}

/* A process a handler left behind was reaped: count it, log it. */
static void
children_orphan_reaped(const siginfo_t *si)
{
	char	status[64], more[48];

	children_orphans_reaped++;
	if (!log_limit(&children_orphan_limit, CHILDREN_ORPHAN_GAP, more,
	    sizeof more))
		return;
	children_status(si, status, sizeof status);
	log_info("event=orphan pid=%ld status=%s%s", (long)si->si_pid, status,
	    more);
}

/*
 * Reap every child that has exited (at most CHILDREN_SWEEP_MAX, and
 * whether it stopped there): a handler through its connection, anything
 * else as left behind.  Each waitid walks the children from the oldest
 * to the first that has exited.
 */
static bool
children_walk(void)
{
	struct conn	*c;
	siginfo_t	 si;
	int		 n;

	for (n = 0; n < CHILDREN_SWEEP_MAX; n++) {
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) == -1 ||
		    si.si_pid == 0)
			return false;
		if ((c = children_find(si.si_pid)) != NULL)
			children_reaped(c, &si);
		else
			children_orphan_reaped(&si);
	}
	return true;
}

/*
 * SIGCHLD: some child exited.  Walk for it while any handler alive has no
 * pidfd, and once more at once if the walk stopped at its bound; else
 * the pidfds and the sweep reap them all.
 */
static void
children_sigchld(int sig)
{
	if (children_walked > 0 && children_walk())
		core_timer_in(children_sweeper, 0);
}

/*
 * A second after a handler ended, and each second while anything left
 * behind is alive: reap every child that has exited, and count what is
 * left behind alive, which tells children_pidfds whether walks are cheap.
 */
static void
children_sweep(evutil_socket_t fd, short what, void *arg)
{
	bool	more = children_walk();
	long	left = children_orphans();	/* -1: unknown */

	children_left = left > 0 ? left : 0;
	if (children_walked > 0)
		(void)children_pidfds();
	if (more || left != 0)
		children_sweep_soon();
}

/*
 * The pids of portierd's children (handlers too), from the kernel's list
 * (/proc/self/task/PID/children): at most max in pids; their number, or
 * -1 if the list cannot be read.
 */
static int
children_list(pid_t *pids, int max)
{
	char	 path[64];
	FILE	*f;
	long	 pid;
	int	 n = 0;

	snprintf(path, sizeof path, "/proc/self/task/%ld/children",
	    (long)getpid());
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fscanf(f, "%ld", &pid) == 1) {
		if (n < max)
			pids[n] = (pid_t)pid;
		n++;
	}
	fclose(f);
	return n;
}

/* What handlers left behind that is alive now; -1 if unknown. */
long
children_orphans(void)
{
	int	n = children_list(NULL, 0);

	return n == -1 ? -1 : (long)n - (long)children_n;
}

/* The processes handlers left behind that were reaped since start. */
uint64_t
children_orphans_reaped_count(void)
{
	return children_orphans_reaped;
}

/* Reap every child that has exited, whatever its exit signal. */
static void
children_reap_all(void)
{
	siginfo_t	si;

	for (;;) {
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | __WALL) == -1 ||
		    si.si_pid == 0)
			return;
		children_orphan_reaped(&si);
	}
}

/*
 * At exit, once every connection has ended: what handlers left behind is
 * sent SIGTERM (its process group too, where it leads one, as after
 * setsid), and SIGKILL if it is still alive grace seconds later, as a
 * service manager ends what a stopped service left; all of it is reaped.
 * What it starts meanwhile, or leaves in turn, is signalled too.  Bounded:
 * what is still there 5 s after SIGKILL (stuck in the kernel) is left.
 */
void
children_orphans_end(long grace)
{
	static pid_t		 pids[CHILDREN_LIST_MAX], told[CHILDREN_LIST_MAX];
	const struct timespec	 tick = { 0, 10 * 1000 * 1000 };
	double			 kill_at = core_now() + (double)grace;
	int			 sig = SIGTERM, n, i, j, ntold = 0;

	for (;;) {
		children_reap_all();
		if ((n = children_list(pids, CHILDREN_LIST_MAX)) <= 0)
			return;
		if (n > CHILDREN_LIST_MAX)
			n = CHILDREN_LIST_MAX;
		if (sig == SIGTERM && core_now() >= kill_at) {
			sig = SIGKILL;
			ntold = 0;
		} else if (sig == SIGKILL && core_now() >= kill_at + 5.0) {
			log_warnx("event=orphans-left count=%d", n);
			return;
		}
		for (i = 0; i < n; i++) {
			for (j = 0; j < ntold && told[j] != pids[i]; j++)
				continue;
			if (j < ntold)
				continue;
			if (ntold == 0)
				log_info("event=orphans-end count=%d signal=%s",
				    n, sig == SIGTERM ? "TERM" : "KILL");
			if (getpgid(pids[i]) == pids[i])
				(void)kill(-pids[i], sig);
			(void)kill(pids[i], sig);
			if (ntold < CHILDREN_LIST_MAX)
				told[ntold++] = pids[i];
		}
		nanosleep(&tick, NULL);
	}
}

/*
 * Reap c's handler if it has exited, and end its connection (c is freed);
 * 0 if it has not.
 */
static int
children_reap(struct conn *c)
{
	siginfo_t	si;
	int		r;

	memset(&si, 0, sizeof si);
	if (c->pidfd != -1)
		r = waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED | WNOHANG);
	else
		r = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG);
	if (r == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		fatal("event=fatal reason=\"waitid pid %ld\"", (long)c->pid);
	}
	if (si.si_pid == 0)
		return 0;
	children_reaped(c, &si);
	return 1;
}

/* A handler's pidfd is readable: it exited; reap it and end its conn. */
static void
children_exited(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	if (!children_reap(c))		/* not yet: wait for the next wake-up */
		event_add(c->reap, NULL);
}

/* Log one line a handler wrote to stderr, escaped, cut if it was long. */
static void
children_stderr_line(struct conn *c, const char *line, size_t len, bool cut)
{
	char	esc[CHILDREN_ERR_LINE * 4 + 1];

	text_escape(esc, sizeof esc, line, len);
	log_info("event=stderr service=%s conn=%llu pid=%ld%s line=\"%s\"",
	    c->service->name, (unsigned long long)c->id, (long)c->pid,
	    cut ? " cut=1" : "", esc);
}

/*
 * Log every complete line, and a line grown past the limit, cut.  A line
 * ends at an LF, and one CR before it goes with it (EVBUFFER_EOL_CRLF),
 * as in the built-ins' CR LF lines: sshd -e ends its lines so, and a
 * trailing \x0d on each says nothing.
 */
static void
children_stderr_lines(struct conn *c, struct evbuffer *in, bool final)
{
	char			 line[CHILDREN_ERR_LINE];
	struct evbuffer_ptr	 eol;
	size_t			 eol_len, len;

	for (;;) {
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		len = eol.pos == -1 ? evbuffer_get_length(in) : (size_t)eol.pos;
		if (eol.pos == -1 && len < CHILDREN_ERR_LINE &&
		    !(final && len > 0))
			return;
		if (len > CHILDREN_ERR_LINE)
			len = CHILDREN_ERR_LINE;
		evbuffer_remove(in, line, len);
		children_stderr_line(c, line, len, len == CHILDREN_ERR_LINE &&
		    (eol.pos == -1 || (size_t)eol.pos > CHILDREN_ERR_LINE));
		if (eol.pos != -1 && (size_t)eol.pos <= CHILDREN_ERR_LINE)
			evbuffer_drain(in, eol_len);
	}
}

/*
 * Put what the handler wrote after its part line, and log whole lines.
 * The buffer is kept only while it holds a part line, so a live handler
 * that wrote whole lines, or nothing, costs none.
 */
static void
children_stderr_add(struct conn *c, const char *buf, size_t len)
{
	if (c->errbuf == NULL && (c->errbuf = evbuffer_new()) == NULL)
		fatalx("event=fatal reason=\"evbuffer_new failed\"");
	if (evbuffer_add(c->errbuf, buf, len) == -1)
		fatalx("event=fatal reason=\"evbuffer_add failed\"");
	children_stderr_lines(c, c->errbuf, false);
	if (evbuffer_get_length(c->errbuf) == 0) {
		evbuffer_free(c->errbuf);
		c->errbuf = NULL;
	}
}

/* Stop waiting to watch c's pipe: it is watched, or it ends. */
static void
children_errwait_end(struct conn *c)
{
	if (c->errwatch == 0)
		return;
	TAILQ_REMOVE(&children_errwait, c, errwait);
	c->errwatch = 0;
}

/*
 * CHILDREN_ERR_WAIT has passed since the first of the pipes waiting was
 * made: watch it and every other whose time has come, and wait for the
 * next.  They wait in the order they were made, all for as long.
 */
static void
children_errwait_due(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c;
	double		 now = core_now();

	while ((c = TAILQ_FIRST(&children_errwait)) != NULL &&
	    c->errwatch <= now) {
		children_errwait_end(c);
		if (event_add(c->errev, NULL) == -1)
			fatalx("event=fatal reason=\"event for stderr failed\"");
	}
	if (c != NULL)
		core_timer_in(children_errtimer, c->errwatch - now);
}

/*
 * Watch c's new pipe once its handler has run for CHILDREN_ERR_WAIT:
 * most have ended by then, and what they wrote is read at their end
 * (children_stderr_close), sparing each the two epoll_ctl calls of a
 * watch and the wake-up for the pipe's end.  A handler that writes more
 * than the pipe holds meanwhile waits until then.  Measured (issue 18,
 * 6 rounds side by side with a build watching each pipe from the start):
 * exec hello at c=1, 1.03 to 1.08 of the connections/s and 0.80 to 0.87
 * of portierd's own CPU; at c=8, 1.00 to 1.03 and 0.98 to 1.00.
 */
static void
children_errwait_start(struct conn *c)
{
	if (children_errtimer == NULL)
		children_errtimer = core_timer(children_errwait_due, NULL);
	c->errwatch = core_now() + CHILDREN_ERR_WAIT;
	if (TAILQ_EMPTY(&children_errwait))
		core_timer_in(children_errtimer, CHILDREN_ERR_WAIT);
	TAILQ_INSERT_TAIL(&children_errwait, c, errwait);
}

/* Log the part line left, if any, and close the pipe. */
static void
children_stderr_free(struct conn *c)
{
	int	fd;

	if (c->errbuf != NULL) {
		children_stderr_lines(c, c->errbuf, true);
		evbuffer_free(c->errbuf);
		c->errbuf = NULL;
	}
	children_errwait_end(c);
	fd = event_get_fd(c->errev);
	event_free(c->errev);
	c->errev = NULL;
	close(fd);
}

/*
 * The handler's stderr is readable.  At its end (or an error) the handler
 * has most likely exited too: reap it now rather than on the next turn of
 * the loop.  A handler writing nothing costs no buffer.
 */
static void
children_stderr_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	char		 buf[CHILDREN_ERR_LINE];
	ssize_t		 n;

	if ((n = read(fd, buf, sizeof buf)) > 0) {
		children_stderr_add(c, buf, (size_t)n);
		return;
	}
	if (n == -1 && errno == EINTR)
		return;
	children_stderr_free(c);
	(void)children_reap(c);		/* c may be freed */
}

/*
 * The connection ends: log what its handler left in the pipe, then close
 * it; anything it left running gets EPIPE from now on.  The read end
 * blocks (see children_stderr_pipe), so read no more than the pipe says
 * it holds; after the handler's exit that is at most a pipe's capacity,
 * unless something it left keeps writing, which the bound stops.
 */
static void
children_stderr_close(struct conn *c)
{
	char	buf[CHILDREN_ERR_LINE];
	ssize_t	n;
	int	i, fd, held;

	if (c->errev == NULL)
		return;
	fd = event_get_fd(c->errev);
	for (i = 0; i < CHILDREN_ERR_DRAIN && ioctl(fd, FIONREAD, &held) == 0 &&
	    held > 0; i++) {
		if ((n = read(fd, buf, (size_t)held < sizeof buf ?
		    (size_t)held : sizeof buf)) <= 0)
			break;
		children_stderr_add(c, buf, (size_t)n);
	}
	children_stderr_free(c);
}

/*
 * With stderr = "log", make the handler's stderr pipe: the write end, in
 * *wfd, for the handler; else *wfd is -1.  Both ends block, which spares
 * a connection an fcntl: the read end is read once each time the loop
 * says it is readable, which a read then never waits on, and drained by
 * what FIONREAD says it holds.
 */
static int
children_stderr_pipe(struct conn *c, int *wfd)
{
	int	p[2];

	*wfd = -1;
	if (c->service->stderr_mode != STDERR_LOG)
		return 0;
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((c->errev = event_new(core_base(), p[0], EV_READ | EV_PERSIST,
	    children_stderr_readable, c)) == NULL)
		fatalx("event=fatal reason=\"event for stderr failed\"");
	*wfd = p[1];
	return 0;
}

/*
 * Signal one handler's process group (SIGTERM or SIGKILL), or the handler
 * alone if it has not made its group yet.  SIGTERM is followed by SIGCONT,
 * so a stopped group sees it.  A handler is sent each signal once.
 */
static void
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

/*
 * A handler's timer: its timeout ran out (it is still running), or
 * kill_grace passed since it was sent SIGTERM.
 */
static void
children_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	if (c->state != CONN_RUNNING) {
		children_signal(c, SIGKILL);
		return;
	}
	log_warnx("event=timeout service=%s conn=%llu pid=%ld timeout=%ld",
	    c->service->name, (unsigned long long)c->id, (long)c->pid,
	    c->service->timeout);
	conn_kill(c);
}

/* Arm a handler's timer, making it first if need be. */
static void
children_timer_arm(struct conn *c, long secs)
{
	struct timeval	tv = { secs, 0 };

	if (c->timer == NULL)
		c->timer = core_timer(children_timer, c);
	evtimer_add(c->timer, &tv);
}

/*
 * The pipe failed, or the clone: undo, say which step, and have the
 * service back off, since the daemon is out of descriptors or processes.
 */
static int
children_start_failed(struct conn *c, const char *step, int saved)
{
	if (c->errev != NULL)
		children_stderr_free(c);
	errno = saved;
	log_warn("event=spawn-error service=%s conn=%llu step=%s",
	    c->service->name, (unsigned long long)c->id, step);
	service_spawn_failed(c->owner, true);
	errno = saved;
	return -1;
}

/*
 * Start a connection's handler, and its timeout if it has one.  On
 * success the child owns the socket (our copy is closed) and is in the
 * child table; on failure nothing was started and -1 is returned.
 */
static int
children_start(struct conn *c)
{
	char	remote[ADDR_STRLEN + 64];
	pid_t	pid;
	int	saved, pidfd = -1, errw;

	c->exec_step = -1;
	c->pidfd = -1;
	if (children_stderr_pipe(c, &errw) == -1)
		return children_start_failed(c, "pipe", errno);
	if (c->worker != 0)
		(void)notify_open(c);	/* without one, NOTIFY_SOCKET is unset */
	pid = spawn_start(c, errw, children_pidfds() ? &pidfd : NULL);
	saved = errno;
	if (errw != -1)
		close(errw);
	if (pid == -1) {
		notify_close(c);
		return children_start_failed(c, "clone", saved);
	}
	c->pid = pid;
	c->pidfd = pidfd;
	service_spawned(c->owner, conn_age(c));
	if (c->fd != -1)	/* a worker has none */
		close(c->fd);
	c->fd = -1;
	children_add(c);
	if (c->errev != NULL)
		children_errwait_start(c);
	if (conn_logs(c))
		log_info("event=spawn service=%s conn=%llu pid=%ld remote=%s "
		    "active=%ld/%ld", c->service->name,
		    (unsigned long long)c->id, (long)pid,
		    conn_remote(c, remote, sizeof remote),
		    c->service->run.active, c->service->run.limit);
	if (c->service->timeout > 0)
		children_timer_arm(c, c->service->timeout);
	return 0;
}

/* Shutdown reached a handler: SIGTERM its group, or SIGKILL now. */
static void
children_stop(struct conn *c, bool force)
{
	children_signal(c, force ? SIGKILL : SIGTERM);
}

/* kill CONN-ID or a timeout: SIGTERM, then SIGKILL after kill_grace. */
static void
children_kill(struct conn *c)
{
	if (c->state != CONN_RUNNING)
		return;
	children_signal(c, SIGTERM);
	children_timer_arm(c, core_config()->kill_grace);
}

/* For the end line: the handler's pid. */
static void
children_describe(const struct conn *c, char *buf, size_t len)
{
	text_format(buf, len, "pid=%ld", (long)c->pid);
}

/*
 * The connection ends: log what the handler left on its stderr, before
 * the end line, and free its timer (children_reaped has let its pidfd go).
 */
static void
children_release(struct conn *c)
{
	children_stderr_close(c);
	notify_close(c);
	if (c->timer != NULL)
		event_free(c->timer);
	c->timer = NULL;
}

/* The handlers as a back-end of connections. */
const struct backend children_backend = {
	"handler", children_start, children_stop, children_kill,
	children_describe, children_release
};
