/*
 * Making a handler's process, by one path (and valgrind's).
 *
 * The child is made with clone(CLONE_VM | CLONE_VFORK) through libc, on a
 * stack of our own, as posix_spawn does: no page tables are copied, and we
 * sleep until the child has exec'd or exited.  Everything it needs (argv,
 * envp, credentials) is built before, in the parent, and it writes to no
 * memory of ours but its own stack, errno, which we read only once it is
 * done, and, if a step fails, the step and errno in its connection, read
 * when it is reaped.  It makes its system calls through libc's syscall(2),
 * which no sanitizer intercepts.
 *
 * It shares our descriptor table (CLONE_FILES) and begins by taking a
 * private copy of it (close_range with CLOSE_RANGE_UNSHARE), up to the
 * connection and the stderr pipe when both are below SPAWN_SHORT (the
 * table the kernel keeps in place, with no allocation), or else only the
 * descriptors below two slots reserved at start-up, where the parent has
 * put them: with thousands of connections open, a copy of the whole table
 * would cost every spawn.  A kernel without CLOSE_RANGE_UNSHARE (before
 * 5.9) has it copy the whole table.
 *
 * The child empties its signal mask, which is all it has to do for
 * signals: the daemon handles none, it blocks those it takes (core.c), so
 * no handler of ours can run in the child, and every disposition is the
 * default.  It makes its own process group (and session, while we have a
 * controlling terminal)
 * so that it has no controlling terminal, puts the
 * connection on fds 0 and 1 in blocking mode, closes every descriptor
 * above stderr, and execs; a failed step makes it exit 127.  CLONE_PIDFD
 * gives the parent a pidfd to reap it by, when children.c asks for one.
 *
 * valgrind runs no such clone, so under it the child is forked instead:
 * it writes a failed step into a pipe, whose end at exec the parent waits
 * for, and has no pidfd (spawn_pidfds).
 *
 * What each part of the path buys, as make bench measured it on a 2-core
 * virtual machine shared with other builds: the median of the same-round
 * ratios of connections/s, with their min-max over 7 rounds.  A part
 * stays only where that range is clear of 1.0 (issue 17).  Each was
 * measured on the build of commit d41834b, where PORTIER_SPAWN chose the
 * path, as
 *
 *	PORTIER_SPAWN=A make bench BENCH_FLAGS='--no-peers --only exec \
 *	    --runs 7 --compare W'
 *
 * W a script running the same portierd with PORTIER_SPAWN=B; exec hello
 * at c=1, 8 and 64 in turn, or --only table: hello-nolibc at c=8 while
 * 2,000 handlers are alive.
 *
 * - clone(CLONE_VFORK) rather than fork (A=libc, B=fork): 1.42
 *   (1.10-1.57), 1.69 (1.01-2.23) and 1.30 (1.20-1.37).
 * - CLONE_FILES with the slots, rather than vfork(2) copying our whole
 *   table (A=libc, B=libc-vfork): 3.65 (1.60-3.79) with 2,000 handlers
 *   alive; with none, 0.96 (0.78-1.51), 0.87 (0.52-1.42) and 0.97
 *   (0.72-1.29).
 *
 * - a short table copied whole, sparing the parent the four dup3 calls
 *   in and out of the slots (issue 18, hello-nolibc at c=8, 8 rounds side
 *   by side with a build always using the slots): 1.025 (0.98-1.12) of
 *   the connections/s, and portierd's own CPU 0.95 of it.
 *
 * - no session of its own while portierd has no controlling terminal, a
 *   process group only (setpgid rather than setsid), which spares the
 *   kernel an autogroup per handler (issue 18, 6 rounds beside a build
 *   of ee31cfb, which made a session for every handler, both leading a
 *   session with no terminal, as the bench starts them): exec hello at
 *   c=1 1.06 (1.03-1.15), at c=64 0.98 (0.89-1.01); hello-nolibc at c=8
 *   1.00 (0.98-1.05), at c=64 0.99 (0.95-1.00).  Kept for c=1, where the
 *   child's set-up is what we wait for.
 *
 * - no signal blocked around the clone, and no disposition reset in the
 *   child, since the daemon handles no signal but reads them from a
 *   signalfd (core.c) (issue 18, 5 rounds beside a build of f30f08f,
 *   --levels 1,8,64): exec hello 1.02 (1.01-1.08), 1.02 (0.86-1.03)
 *   and 0.99 (0.91-1.03); hello-nolibc at c=8 1.02 (0.97-1.06), at c=64
 *   1.03 (0.97-1.16).  portierd's own CPU a connection fell by 23, 3, 2,
 *   15 and 27 us (medians: 240 against 263 us at c=1, 232 against 247
 *   at nolibc c=8).
 *
 * - no look for a terminal (an openat of /dev/tty) in the child while
 *   portierd leads a session that has none, and so never can
 *   (spawn_session_without_tty): perf put 4.8 us of a child's set-up in
 *   it, the most of any step but the exec and the table's copy (issue
 *   18, hello-nolibc at c=8 on a machine of 2,728 spawns/s and 212 ns a
 *   system call).  Beside a build of c387a39, 8 rounds of t/tools/pload
 *   gave 1.04 (0.95-1.09) of the connections/s, and 5 rounds of make
 *   bench, --levels 1,8,64, 0.92 (0.88-1.04), 0.93 (0.90-1.06) and
 *   1.00 (0.98-1.12) for exec hello, 1.01 (0.94-1.08) and 1.03
 *   (0.91-1.16) for hello-nolibc at c=8 and 64: none clear of the
 *   spread, which is wider than the step, but it is one system call
 *   fewer in every child and nothing more in the parent.
 *
 * Removed, having bought nothing beyond the spread:
 * - a second path, taken while fewer handlers were alive than CPUs, that
 *   ran the child beside us (CLONE_VM without CLONE_VFORK, on a pool of
 *   stacks), sparing us the vfork sleep (A=auto, B=vfork): 1.05
 *   (0.58-2.45), 1.07 (0.80-1.38) and 1.00 (0.91-1.07); at p99 0.73
 *   (0.08-3.72), 0.98 (0.45-1.90) and 1.07 (0.80-1.20).  It spared
 *   portierd some CPU at c=1 (60 us a connection, not 73), none at 8
 *   or 64.
 * - the child's system calls made by inline assembly rather than
 *   syscall(2), which that path needed, the child's errno being ours
 *   while we ran (A=vfork, B=libc): 0.99 (0.97-1.03), 0.98 (0.93-1.03)
 *   and 0.95 (0.83-1.28).
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "portier.h"

#define SPAWN_NVARS	8	/* per-connection variables, at most */
#define SPAWN_VARLEN	160

/* The child's set-up steps, as it reports a failure. */
enum spawn_step {
	SPAWN_UNSHARE,
	SPAWN_SETSID,
	SPAWN_SETPGID,
	SPAWN_DUP2,
	SPAWN_FCNTL,
	SPAWN_NICE,
	SPAWN_RLIMIT,
	SPAWN_SETGROUPS,
	SPAWN_SETGID,
	SPAWN_SETUID,
	SPAWN_CHDIR,
	SPAWN_EXEC
};

static const char *const spawn_step_names[] = {
	[SPAWN_UNSHARE] = "close_range",
	[SPAWN_SETSID] = "setsid",
	[SPAWN_SETPGID] = "setpgid",
	[SPAWN_DUP2] = "dup2",
	[SPAWN_FCNTL] = "fcntl",
	[SPAWN_NICE] = "setpriority",
	[SPAWN_RLIMIT] = "setrlimit",
	[SPAWN_SETGROUPS] = "setgroups",
	[SPAWN_SETGID] = "setgid",
	[SPAWN_SETUID] = "setuid",
	[SPAWN_CHDIR] = "chdir",
	[SPAWN_EXEC] = "exec",
};

#define SPAWN_STACK	(64 * 1024)	/* the child's, below it a guard page */
#define SPAWN_FDS	(3 + WORKER_SOCKETS)	/* a worker's, at most */
#define SPAWN_SHORT	64	/* a table this long is copied whole */

/* What the child is given. */
struct spawn_args {
	const struct conn	 *c;
	char			**envp;
	int			  sockfd;	/* the connection */
	int			  stderrfd;	/* or -1: keep ours */
	bool			  unshare;	/* take a table of our own */
	unsigned		  low;		/* of ours: those below it */
	int			 *step;		/* report: the failed step */
	int			 *error;	/* and its errno */
	int			  reportfd;	/* with fork: the pipe they go in */
	/* A worker's: fds[i] goes on fd i; sockets from sockets. */
	int			  nfds;		/* 0 for a client's handler */
	int			  fds[SPAWN_FDS];
	int			  sockets;	/* the first socket's fd */
	int			  lastsock;	/* and the last's */
	char			 *pid;		/* LISTEN_PID's value, to fill */
};

static int	 spawn_devnull = -1;	/* for stderr = "null" */
static int	 spawn_slot_sock = -1;	/* low fds the child's are put in */
static int	 spawn_slot_err = -1;
static unsigned	 spawn_low;		/* above both slots */
static bool	 spawn_share_files;	/* CLONE_FILES + CLOSE_RANGE_UNSHARE */
static bool	 spawn_fork;		/* fork, under valgrind: see spawn_init */
static bool	 spawn_no_tty;		/* our session has none, for good */
static char	*spawn_stack;		/* the children's, one at a time */
static size_t	 spawn_stack_len;

/*
 * The child's code is not instrumented by the sanitizers, whose run-time
 * keeps its state in our thread's memory.
 */
#define SPAWN_CHILD	__attribute__((no_sanitize("address", "undefined")))

/*
 * A system call made by the child, returning its result or -errno.  The
 * errno it writes is ours, but we sleep until the child has exec'd.
 */
static long SPAWN_CHILD
spawn_sys(long n, long a1, long a2, long a3, long a4)
{
	long	ret = syscall(n, a1, a2, a3, a4);

	return ret == -1 ? -errno : ret;
}

/* The calls taking 32-bit ids, where the plain ones take 16-bit ids. */
#ifdef SYS_setuid32
#define SPAWN_SYS_SETGROUPS	SYS_setgroups32
#define SPAWN_SYS_SETGID	SYS_setgid32
#define SPAWN_SYS_SETUID	SYS_setuid32
#else
#define SPAWN_SYS_SETGROUPS	SYS_setgroups
#define SPAWN_SYS_SETGID	SYS_setgid
#define SPAWN_SYS_SETUID	SYS_setuid
#endif

/* In the child: report the failed step and errno, then exit 127. */
static void SPAWN_CHILD __attribute__((noreturn))
spawn_fail(struct spawn_args *a, enum spawn_step step, long ret)
{
	int	r[2] = { (int)step, (int)-ret };

	*a->error = r[1];
	*a->step = r[0];
	if (a->reportfd != -1)
		(void)spawn_sys(SYS_write, a->reportfd, (long)r, sizeof r, 0);
	for (;;)
		(void)spawn_sys(SYS_exit_group, 127, 0, 0, 0);
}

/*
 * In the child: what the service asks of the process.  Credentials last
 * but for chdir, so rlimits and nice are set with privilege and chdir is
 * checked as the handler's user.
 */
static void SPAWN_CHILD
spawn_child_limits(struct spawn_args *a, const struct service *svc)
{
	struct rlimit	rl;
	size_t		i;
	long		r;

	if (svc->nice != 0 && (r = spawn_sys(SYS_setpriority, PRIO_PROCESS,
	    0, svc->nice, 0)) < 0)
		spawn_fail(a, SPAWN_NICE, r);
	for (i = 0; i < svc->nrlimits; i++) {
		rl.rlim_cur = rl.rlim_max = svc->rlimits[i].value;
		if ((r = spawn_sys(SYS_prlimit64, 0, svc->rlimits[i].resource,
		    (long)&rl, 0)) < 0)
			spawn_fail(a, SPAWN_RLIMIT, r);
	}
	if (svc->umask != -1)
		(void)spawn_sys(SYS_umask, svc->umask, 0, 0, 0);
	if (svc->set_creds) {
		if ((r = spawn_sys(SPAWN_SYS_SETGROUPS, (long)svc->ngroups,
		    (long)svc->groups, 0, 0)) < 0)
			spawn_fail(a, SPAWN_SETGROUPS, r);
		if ((r = spawn_sys(SPAWN_SYS_SETGID, svc->gid, 0, 0, 0)) < 0)
			spawn_fail(a, SPAWN_SETGID, r);
		if ((r = spawn_sys(SPAWN_SYS_SETUID, svc->uid, 0, 0, 0)) < 0)
			spawn_fail(a, SPAWN_SETUID, r);
	}
	if (svc->dir != NULL &&
	    (r = spawn_sys(SYS_chdir, (long)svc->dir, 0, 0, 0)) < 0)
		spawn_fail(a, SPAWN_CHDIR, r);
}

/*
 * Write n in decimal at p, which has room for 20 digits: in the child
 * (LISTEN_PID), and in the parent for spawn_var_number.
 */
static void SPAWN_CHILD
spawn_child_decimal(char *p, unsigned long long n)
{
	char	d[24];
	int	i = 0;

	do
		d[i++] = (char)('0' + n % 10);
	while ((n /= 10) != 0);
	while (i > 0)
		*p++ = d[--i];
	*p = '\0';
}

/* In the child, a client's handler's descriptors: the connection on 0, 1. */
static void SPAWN_CHILD
spawn_child_conn(struct spawn_args *a)
{
	long	r;

	/* Both are above stderr: see main_std_fds and spawn_init. */
	if ((r = spawn_sys(SYS_dup3, a->sockfd, STDIN_FILENO, 0, 0)) < 0 ||
	    (r = spawn_sys(SYS_dup3, a->sockfd, STDOUT_FILENO, 0, 0)) < 0 ||
	    (a->stderrfd != -1 &&
	    (r = spawn_sys(SYS_dup3, a->stderrfd, STDERR_FILENO, 0, 0)) < 0))
		spawn_fail(a, SPAWN_DUP2, r);
	/*
	 * The socket was accepted non-blocking; handlers expect not.
	 * O_NONBLOCK is the only status flag accept4 set, so clear them all.
	 */
	if ((r = spawn_sys(SYS_fcntl, STDIN_FILENO, F_SETFL, 0, 0)) < 0)
		spawn_fail(a, SPAWN_FCNTL, r);
}

/*
 * In the child, a worker's descriptors: a->fds[i] on fd i, each first
 * copied above them all so that none is closed before it is copied.  Its
 * sockets block, as inetd and systemd give them; the flag is the socket's
 * own, which portierd shares but never accepts on.
 */
static void SPAWN_CHILD
spawn_child_fds(struct spawn_args *a)
{
	int	i, tmp[SPAWN_FDS];
	long	r;

	for (i = 0; i < a->nfds; i++) {
		if ((r = spawn_sys(SYS_fcntl, a->fds[i], F_DUPFD_CLOEXEC,
		    (long)a->low, 0)) < 0)
			spawn_fail(a, SPAWN_DUP2, r);
		tmp[i] = (int)r;
	}
	for (i = 0; i < a->nfds; i++) {
		if ((r = spawn_sys(SYS_dup3, tmp[i], i, 0, 0)) < 0)
			spawn_fail(a, SPAWN_DUP2, r);
	}
	for (i = a->sockets; i <= a->lastsock; i++) {
		if ((r = spawn_sys(SYS_fcntl, i, F_SETFL, 0, 0)) < 0)
			spawn_fail(a, SPAWN_FCNTL, r);
	}
	if (a->pid != NULL)
		spawn_child_decimal(a->pid, (unsigned long)spawn_sys(SYS_getpid,
		    0, 0, 0, 0));
}

/* In the child: set up the process and exec the handler; never returns. */
static int SPAWN_CHILD
spawn_child(void *arg)
{
	static const unsigned long	 none[2];	/* an empty mask */
	struct spawn_args		*a = arg;
	const struct conn		*c = a->c;
	long				 r;
	int				 keep;

	/*
	 * Sharing our descriptor table, take a table of our own that holds
	 * only the ones below a->low: the slots' end, so that the copy costs
	 * the same with 10 or 10,000 connections open, or in a short table
	 * just above the connection and the pipe.
	 */
	if (a->unshare && (r = spawn_sys(SYS_close_range, a->low, ~0U,
	    CLOSE_RANGE_UNSHARE, 0)) < 0)
		spawn_fail(a, SPAWN_UNSHARE, r);
	/*
	 * Kept from our controlling terminal.  While we have one, a session
	 * of its own: in ours it could open /dev/tty and type into the shell
	 * portierd was started from (TIOCSTI).  Without one (under systemd,
	 * setsid(1), cron), a process group of its own in our session, which
	 * has no terminal to give it: only a session's leader can take one,
	 * and /dev/tty is checked at every start, which it shares with us
	 * (without waiting, as a serial line's open would for its carrier).
	 * A session per handler would cost the kernel a scheduling group
	 * (its autogroup), made and freed each time and weighed against
	 * every other while it lives.  Either way it leads its group, which
	 * is what is signalled.  While portierd leads a session that has no
	 * terminal, which it can never come to have (spawn_init), the child
	 * need not look.
	 */
	if (spawn_no_tty)
		r = -ENXIO;
	else if ((r = spawn_sys(SYS_openat, AT_FDCWD, (long)"/dev/tty",
	    O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0)) >= 0)
		(void)spawn_sys(SYS_close, r, 0, 0, 0);
	if (r == -ENXIO) {
		if ((r = spawn_sys(SYS_setpgid, 0, 0, 0, 0)) < 0)
			spawn_fail(a, SPAWN_SETPGID, r);
	} else if ((r = spawn_sys(SYS_setsid, 0, 0, 0, 0)) < 0)
		spawn_fail(a, SPAWN_SETSID, r);
	(void)spawn_sys(SYS_rt_sigprocmask, SIG_SETMASK, (long)none, 0,
	    (_NSIG - 1) / 8);

	if (a->nfds > 0)
		spawn_child_fds(a);
	else
		spawn_child_conn(a);
	spawn_child_limits(a, c->service);
	/* The report pipe stays open until exec (O_CLOEXEC). */
	keep = a->nfds > 0 ? a->nfds : 3;
	if (a->reportfd > keep)
		(void)spawn_sys(SYS_close_range, keep, a->reportfd - 1, 0, 0);
	(void)spawn_sys(SYS_close_range, a->reportfd == -1 ? keep :
	    a->reportfd + 1, ~0U, 0, 0);
	r = spawn_sys(SYS_execve, (long)c->service->argv[0],
	    (long)c->service->argv, (long)a->envp, 0);
	spawn_fail(a, SPAWN_EXEC, r);
}

/*
 * Add name (which ends in "=") and value to envp, from buf's next free
 * slot, cut at SPAWN_VARLEN, which no name and value of ours reach.  By
 * hand, as every connection builds its variables: through text_vformat
 * they cost 495 instructions a connection more (callgrind, issue 18).
 */
static void
spawn_var(char **envp, size_t *n, char (*buf)[SPAWN_VARLEN], size_t *used,
    const char *name, const char *value)
{
	char	*p = buf[*used], *end = p + SPAWN_VARLEN - 1;

	envp[(*n)++] = buf[(*used)++];
	while (*name != '\0' && p < end)
		*p++ = *name++;
	while (*value != '\0' && p < end)
		*p++ = *value++;
	*p = '\0';
}

/* The same with a number for its value. */
static void
spawn_var_number(char **envp, size_t *n, char (*buf)[SPAWN_VARLEN],
    size_t *used, const char *name, unsigned long long v)
{
	char	d[24];

	spawn_child_decimal(d, v);
	spawn_var(envp, n, buf, used, name, d);
}

/*
 * A new environment holding the service's fixed variables, with room for
 * SPAWN_NVARS more and the NULL that ends it.
 */
static char **
spawn_env_fixed(const struct service *svc)
{
	char	**envp;

	envp = xcalloc(svc->nenv + SPAWN_NVARS + 1, sizeof *envp);
	memcpy(envp, svc->env, svc->nenv * sizeof *envp);
	return envp;
}

/*
 * Build the handler's environment: the service's fixed variables, then the
 * UCSPI ones describing this connection, then its id.
 */
static char **
spawn_env(const struct conn *c, char (*buf)[SPAWN_VARLEN])
{
	const struct service	*svc = c->service;
	char			**envp;
	size_t			  n = svc->nenv, used = 0;

	envp = spawn_env_fixed(svc);
	if (c->family == AF_UNIX) {
		spawn_var(envp, &n, buf, &used, "PROTO=", "UNIX");
		spawn_var(envp, &n, buf, &used, "UNIXLOCALPATH=",
		    c->unix_path != NULL ? c->unix_path : "");
		if (c->peer_pid != -1) {	/* then none is negative */
			spawn_var_number(envp, &n, buf, &used,
			    "UNIXREMOTEEUID=", (unsigned long long)c->peer_uid);
			spawn_var_number(envp, &n, buf, &used,
			    "UNIXREMOTEEGID=", (unsigned long long)c->peer_gid);
			spawn_var_number(envp, &n, buf, &used,
			    "UNIXREMOTEPID=", (unsigned long long)c->peer_pid);
		}
	} else {
		spawn_var(envp, &n, buf, &used, "PROTO=", "TCP");
		spawn_var(envp, &n, buf, &used, "TCPLOCALIP=", c->local_ip);
		spawn_var_number(envp, &n, buf, &used, "TCPLOCALPORT=",
		    c->local_port);
		spawn_var(envp, &n, buf, &used, "TCPREMOTEIP=", c->remote_ip);
		spawn_var_number(envp, &n, buf, &used, "TCPREMOTEPORT=",
		    c->remote_port);
	}
	spawn_var_number(envp, &n, buf, &used, "PORTIER_CONN_ID=", c->id);
	return envp;
}

/* Map a child's stack, below it a guard page; NULL if that failed. */
static char *
spawn_stack_map(void)
{
	char	*p;

	p = mmap(NULL, spawn_stack_len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p, spawn_stack_len - SPAWN_STACK, PROT_NONE) == -1) {
		munmap(p, spawn_stack_len);
		return NULL;
	}
	return p;
}

/*
 * Whether portierd leads a session without a controlling terminal (as
 * under systemd, setsid(1) or a daemon's own setsid), which it then has
 * for good: only a session's leader can give it one, by opening a
 * terminal without O_NOCTTY or by TIOCSCTTY, and portierd does neither
 * (every file it opens by a name from its config is opened with
 * O_NOCTTY).  Then a child need not look for one at each start, an
 * openat of /dev/tty that cost 4.8 us a spawn (issue 18, perf on
 * hello-nolibc at c=8).  Not so when it only belongs to a session, whose
 * leader may take a terminal at any time.
 */
static bool
spawn_session_without_tty(void)
{
	int	fd;

	if (getsid(0) != getpid())
		return false;
	if ((fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC)) != -1) {
		close(fd);
		return false;
	}
	return errno == ENXIO;
}

/*
 * Open /dev/null once, for handlers whose stderr goes nowhere, and twice
 * more for the slots, low in the table, that a child's descriptors are
 * put in; and map the children's stack: one serves them all, since each
 * has exec'd or exited before clone returns.
 */
void
spawn_init(void)
{
	long	page = sysconf(_SC_PAGESIZE);

	spawn_devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	spawn_slot_sock = open("/dev/null", O_RDWR | O_CLOEXEC);
	spawn_slot_err = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (spawn_devnull == -1 || spawn_slot_sock == -1 || spawn_slot_err == -1)
		fatal("event=fatal reason=\"open /dev/null\"");
	spawn_low = (unsigned)(spawn_slot_sock > spawn_slot_err ?
	    spawn_slot_sock : spawn_slot_err) + 1;
	spawn_no_tty = spawn_session_without_tty();
	/* Our table is not shared, so this only asks the kernel if it can. */
	spawn_share_files = close_range(~0U - 1, ~0U, CLOSE_RANGE_UNSHARE) == 0;
#ifdef RUNNING_ON_VALGRIND
	/*
	 * valgrind runs no clone but a thread's, fork's or vfork's; under
	 * it, handlers are forked and report a failed step through a pipe.
	 */
	if (RUNNING_ON_VALGRIND) {
		spawn_fork = true;
		spawn_share_files = false;
	}
#endif
	spawn_stack_len = (size_t)page + SPAWN_STACK;
	if ((spawn_stack = spawn_stack_map()) == NULL)
		fatal("event=fatal reason=\"mmap of the spawn stack\"");
}

/* Close /dev/null and unmap the stack at exit. */
void
spawn_fini(void)
{
	if (spawn_devnull != -1)
		close(spawn_devnull);
	if (spawn_slot_sock != -1)
		close(spawn_slot_sock);
	if (spawn_slot_err != -1)
		close(spawn_slot_err);
	spawn_devnull = spawn_slot_sock = spawn_slot_err = -1;
	if (spawn_stack != NULL)
		munmap(spawn_stack, spawn_stack_len);
	spawn_stack = NULL;
}

/*
 * Whether a child comes with a pidfd: not when forked, under valgrind,
 * which runs neither clone(CLONE_PIDFD) nor pidfd_open.
 */
bool
spawn_pidfds(void)
{
	return !spawn_fork;
}

/*
 * The start under valgrind: fork, then wait for the child's exec (the
 * report pipe's end) as clone(CLONE_VFORK) would.
 */
static pid_t
spawn_forked(struct spawn_args *a)
{
	int	p[2], r[2];
	ssize_t	n;
	pid_t	pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	/* Not where a worker's descriptors go. */
	if (p[1] < a->nfds && (r[0] = fcntl(p[1], F_DUPFD_CLOEXEC,
	    a->nfds)) != -1) {
		close(p[1]);
		p[1] = r[0];
	}
	a->reportfd = p[1];
	if ((pid = fork()) == 0)
		_exit(spawn_child(a));
	close(p[1]);
	a->reportfd = -1;
	if (pid == -1) {
		close(p[0]);
		return -1;
	}
	while ((n = read(p[0], r, sizeof r)) == -1 && errno == EINTR)
		continue;
	close(p[0]);
	if (n == (ssize_t)sizeof r) {
		*a->step = r[0];
		*a->error = r[1];
	}
	return pid;
}

/*
 * Make the child and sleep until it has exec'd or exited; its pid, or -1.
 * Its pidfd in *pidfd, unless pidfd is NULL.
 */
static pid_t
spawn_clone(struct spawn_args *a, int *pidfd)
{
	if (pidfd != NULL)
		*pidfd = -1;
	if (spawn_fork)
		return spawn_forked(a);
	return clone(spawn_child, spawn_stack + spawn_stack_len,
	    CLONE_VM | CLONE_VFORK | SIGCHLD |
	    (pidfd != NULL ? CLONE_PIDFD : 0) |
	    (a->unshare ? CLONE_FILES : 0), a, pidfd);
}

/*
 * Start worker c of an accept = "handler" service (see spawn_start): its
 * descriptors are the service's sockets, from fd 3 with LISTEN_FDS,
 * LISTEN_PID and LISTEN_FDNAMES as systemd passes them, stdin /dev/null
 * and stdout with stderr; or, with pass = "inetd", its one socket on fds
 * 0 and 1.
 */
static pid_t
spawn_worker(struct conn *c, struct spawn_args *a, int errw, int *pidfd)
{
	const struct service	*svc = c->service;
	char			 vars[SPAWN_NVARS][SPAWN_VARLEN];
	char			*names = NULL, **envp, sock[64];
	int			 socks[WORKER_SOCKETS], i, n, high, saved;
	size_t			 used = 0, k;
	pid_t			 pid;

	if (errw == -1)
		errw = STDERR_FILENO;	/* stderr = "inherit" */
	n = (int)listen_fds(svc, socks, WORKER_SOCKETS);
	if (n > WORKER_SOCKETS || n == 0) {
		errno = n == 0 ? EBADF : EMFILE;
		return -1;
	}
	if (svc->pass_inetd) {
		a->fds[0] = a->fds[1] = socks[0];
		a->fds[2] = errw;
		a->nfds = 3;
		a->sockets = a->lastsock = 0;	/* fd 1 is the same */
	} else {
		a->fds[0] = spawn_devnull;
		a->fds[1] = a->fds[2] = errw;
		for (i = 0; i < n; i++)
			a->fds[3 + i] = socks[i];
		a->nfds = 3 + n;
		a->sockets = 3;
		a->lastsock = 2 + n;
	}
	for (high = a->nfds - 1, i = 0; i < a->nfds; i++)
		high = a->fds[i] > high ? a->fds[i] : high;
	a->low = (unsigned)high + 1;
	a->unshare = spawn_share_files;
	envp = spawn_env_fixed(svc);
	k = svc->nenv;
	spawn_var_number(envp, &k, vars, &used, "PORTIER_WORKER=",
	    (unsigned long long)c->worker);
	spawn_var_number(envp, &k, vars, &used, "PORTIER_CONN_ID=", c->id);
	if (c->notify != NULL) {
		notify_name(c, sock, sizeof sock);
		spawn_var(envp, &k, vars, &used, "NOTIFY_SOCKET=", sock);
	}
	if (!svc->pass_inetd) {
		spawn_var_number(envp, &k, vars, &used, "LISTEN_FDS=",
		    (unsigned long long)n);
		spawn_var(envp, &k, vars, &used, "LISTEN_PID=", "");
		a->pid = vars[used - 1] + strlen("LISTEN_PID=");
		names = xmalloc((size_t)n * (strlen(svc->name) + 1) +
		    sizeof "LISTEN_FDNAMES=");
		strcpy(names, "LISTEN_FDNAMES=");
		for (i = 0; i < n; i++) {
			if (i > 0)
				strcat(names, ":");
			strcat(names, svc->name);
		}
		envp[k++] = names;
	}
	a->envp = envp;
	pid = spawn_clone(a, pidfd);
	saved = errno;
	free(names);
	free(envp);
	errno = saved;
	return pid;
}

/*
 * Start c's handler, with errw on its stderr (-1: /dev/null if its service
 * says so, else ours), and sleep until it has exec'd or exited.  Its
 * descriptors go in the slots below spawn_low, emptied again once it has
 * its own table.  The pid, with its pidfd in *pidfd unless pidfd is NULL
 * (-1 without: see spawn_pidfds), or -1 with errno saying why nothing was
 * started.  A child whose set-up failed is started too: it exits 127, and
 * spawn_result names the step once it is reaped.  Our copies of c->fd
 * and errw are left to the caller.
 */
pid_t
spawn_start(struct conn *c, int errw, int *pidfd)
{
	char			vars[SPAWN_NVARS][SPAWN_VARLEN];
	struct spawn_args	a = { .c = c, .unshare = spawn_share_files,
	    .step = &c->exec_step, .error = &c->exec_errno, .reportfd = -1 };
	pid_t			pid;
	int			saved;
	bool			slots;

	if (errw == -1 && c->service->stderr_mode == STDERR_NULL)
		errw = spawn_devnull;
	if (c->worker != 0)
		return spawn_worker(c, &a, errw, pidfd);
	/*
	 * With a short table, the child copies it all below the connection
	 * and the pipe, which it holds where they are; with a long one, only
	 * what lies below the slots, where the parent puts them.
	 */
	slots = spawn_share_files && (c->fd >= SPAWN_SHORT ||
	    errw >= SPAWN_SHORT);
	if (slots) {
		a.sockfd = spawn_slot_sock;
		a.stderrfd = errw == -1 ? -1 : spawn_slot_err;
		a.low = spawn_low;
		if (dup3(c->fd, spawn_slot_sock, O_CLOEXEC) == -1 ||
		    (errw != -1 && dup3(errw, spawn_slot_err, O_CLOEXEC) == -1))
			fatal("event=fatal reason=\"dup3 to a spawn slot\"");
	} else {
		a.sockfd = c->fd;
		a.stderrfd = errw;
		a.low = (unsigned)(c->fd > errw ? c->fd : errw) + 1;
	}
	a.envp = spawn_env(c, vars);
	pid = spawn_clone(&a, pidfd);
	saved = errno;
	/* Empty the slots, or we would hold the connection open. */
	if (slots && (dup3(spawn_devnull, spawn_slot_sock, O_CLOEXEC) == -1 ||
	    dup3(spawn_devnull, spawn_slot_err, O_CLOEXEC) == -1))
		fatal("event=fatal reason=\"dup3 to a spawn slot\"");
	free(a.envp);
	errno = saved;
	return pid;
}

/*
 * Once the child is reaped: 0 if the handler was exec'd, or -1 with
 * "STEP: reason" in buf if its set-up failed.
 */
int
spawn_result(const struct conn *c, char *buf, size_t len)
{
	if (c->exec_step == -1)
		return 0;
	snprintf(buf, len, "%s: %s", spawn_step_names[c->exec_step],
	    strerror(c->exec_errno));
	return -1;
}
