/*
 * Starting a handler: the spawn protocol.
 *
 * The child is made with clone(CLONE_VM | CLONE_VFORK) on a stack of its
 * own, as posix_spawn does: it shares our memory and we sleep until it has
 * exec'd or exited, so no page tables are copied and nothing of ours is
 * touched meanwhile.  It must therefore only make system calls: everything
 * it needs (argv, envp, credentials) is built before, in the parent, and it
 * writes to no memory of ours but its own stack, errno and, if a step
 * fails, the report in its spawn_args.
 *
 * All signals are blocked across the clone so that no handler of the
 * parent's (libevent's writes to its self-pipe) can run in the child; the
 * child resets the dispositions the daemon changed, then empties its mask.
 *
 * The child also shares our descriptor table (CLONE_FILES) and begins by
 * taking a private copy of only the descriptors below two slots reserved
 * at start-up (close_range with CLOSE_RANGE_UNSHARE), where the parent has
 * put the connection and the stderr pipe: with thousands of connections
 * open, a copy of the whole table would cost every spawn.  Without that
 * kernel feature the table is copied whole, as by fork.  It then makes
 * its own process group, puts the connection on fds 0 and 1 in blocking
 * mode, closes every descriptor above stderr, and execs.  If any step
 * fails, it writes the step and errno into the parent's spawn_args and
 * exits 127, so when clone returns we know which.  CLONE_PIDFD gives the
 * parent a pidfd to reap it by (children.c).
 *
 * valgrind runs no such clone, so under it the child is forked instead:
 * it writes a failed step into a pipe, whose end at exec the parent
 * waits for, and is reaped on SIGCHLD.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "portier.h"

#define SPAWN_NVARS	8	/* per-connection variables, at most */
#define SPAWN_VARLEN	160

/* The child's set-up steps, as it reports a failure. */
enum spawn_step {
	SPAWN_UNSHARE,
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

#define SPAWN_ERR_LINE	4096	/* longer stderr lines are cut */
#define SPAWN_ERR_DRAIN	256	/* reads of what a handler left, at most */

#define SPAWN_STACK	(64 * 1024)	/* the child's, below it a guard page */

static int	 spawn_devnull = -1;	/* for stderr = "null" */
static int	 spawn_slot_sock = -1;	/* low fds the child's are put in */
static int	 spawn_slot_err = -1;
static unsigned	 spawn_low;		/* above both slots */
static bool	 spawn_share_files;	/* CLONE_FILES + CLOSE_RANGE_UNSHARE */
static bool	 spawn_fork;		/* fork, under valgrind: see spawn_init */
static char	*spawn_stack;		/* mapping: guard page, then stack */
static size_t	 spawn_stack_len;

/*
 * What the child is given, on the parent's stack.  Sharing our memory, the
 * child writes a failed step and its errno straight into step and error,
 * where we read them when clone returns (as posix_spawn does).
 */
struct spawn_args {
	const struct conn	 *c;
	char			**envp;
	int			  sockfd;	/* the connection, in its slot */
	int			  stderrfd;	/* its slot, or -1: keep ours */
	int			  step;		/* the failed step, or -1 */
	int			  error;
	int			  reportfd;	/* with fork: the pipe they go in */
};

/* In the child: report the failed step and errno, then exit 127. */
static void __attribute__((noreturn))
spawn_fail(struct spawn_args *a, enum spawn_step step)
{
	int	r[2] = { (int)step, errno };

	a->error = r[1];
	a->step = r[0];
	if (a->reportfd != -1)
		(void)write(a->reportfd, r, sizeof r);
	_exit(127);
}

/*
 * In the child: what the service asks of the process.  Credentials last
 * but for chdir, so rlimits and nice are set with privilege and chdir is
 * checked as the handler's user.
 */
static void
spawn_child_limits(struct spawn_args *a, const struct service *svc)
{
	struct rlimit	rl;
	size_t		i;

	if (svc->nice != 0 && setpriority(PRIO_PROCESS, 0, (int)svc->nice) == -1)
		spawn_fail(a, SPAWN_NICE);
	for (i = 0; i < svc->nrlimits; i++) {
		rl.rlim_cur = rl.rlim_max = svc->rlimits[i].value;
		if (setrlimit(svc->rlimits[i].resource, &rl) == -1)
			spawn_fail(a, SPAWN_RLIMIT);
	}
	if (svc->umask != -1)
		umask((mode_t)svc->umask);
	if (svc->set_creds) {
		if (setgroups(svc->ngroups, svc->groups) == -1)
			spawn_fail(a, SPAWN_SETGROUPS);
		if (setgid(svc->gid) == -1)
			spawn_fail(a, SPAWN_SETGID);
		if (setuid(svc->uid) == -1)
			spawn_fail(a, SPAWN_SETUID);
	}
	if (svc->dir != NULL && chdir(svc->dir) == -1)
		spawn_fail(a, SPAWN_CHDIR);
}

/* In the child: set up the process and exec the handler; never returns. */
static int
spawn_child(void *arg)
{
	struct spawn_args	*a = arg;
	const struct conn	*c = a->c;
	struct sigaction	 sa;
	sigset_t		 none;
	int			 i;

	/*
	 * Sharing our descriptor table, take a table of our own that holds
	 * only the ones below the slots' end: the copy costs the same with
	 * 10 or 10,000 connections open.
	 */
	if (spawn_share_files && close_range(spawn_low, ~0U,
	    CLOSE_RANGE_UNSHARE) == -1)
		spawn_fail(a, SPAWN_UNSHARE);
	if (setpgid(0, 0) == -1)
		spawn_fail(a, SPAWN_SETPGID);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 0; portier_signals[i] != 0; i++)
		(void)sigaction(portier_signals[i], &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);

	if (dup2(a->sockfd, STDIN_FILENO) == -1 ||
	    dup2(a->sockfd, STDOUT_FILENO) == -1 ||
	    (a->stderrfd != -1 && dup2(a->stderrfd, STDERR_FILENO) == -1))
		spawn_fail(a, SPAWN_DUP2);
	/*
	 * libevent accepted the socket non-blocking; handlers expect not.
	 * O_NONBLOCK is the only status flag accept4 set, so clear them all.
	 */
	if (fcntl(STDIN_FILENO, F_SETFL, 0) == -1)
		spawn_fail(a, SPAWN_FCNTL);
	spawn_child_limits(a, c->service);
	if (a->reportfd == -1)
		closefrom(3);
	else {
		/* The report pipe stays open until exec (O_CLOEXEC). */
		if (a->reportfd > 3)
			(void)close_range(3, (unsigned)a->reportfd - 1, 0);
		(void)close_range((unsigned)a->reportfd + 1, ~0U, 0);
	}
	execve(c->service->argv[0], c->service->argv, a->envp);
	spawn_fail(a, SPAWN_EXEC);
}

/* Add one "NAME=value" to envp from buf's next free slot. */
static void
spawn_var(char **envp, size_t *n, char (*buf)[SPAWN_VARLEN], size_t *used,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
spawn_var(char **envp, size_t *n, char (*buf)[SPAWN_VARLEN], size_t *used,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf[*used], SPAWN_VARLEN, fmt, ap);
	va_end(ap);
	envp[(*n)++] = buf[(*used)++];
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

	envp = xcalloc(svc->nenv + SPAWN_NVARS + 1, sizeof *envp);
	memcpy(envp, svc->env, svc->nenv * sizeof *envp);
	if (c->family == AF_UNIX) {
		spawn_var(envp, &n, buf, &used, "PROTO=UNIX");
		spawn_var(envp, &n, buf, &used, "UNIXLOCALPATH=%s",
		    c->unix_path != NULL ? c->unix_path : "");
		if (c->peer_pid != -1) {
			spawn_var(envp, &n, buf, &used, "UNIXREMOTEEUID=%ld",
			    c->peer_uid);
			spawn_var(envp, &n, buf, &used, "UNIXREMOTEEGID=%ld",
			    c->peer_gid);
			spawn_var(envp, &n, buf, &used, "UNIXREMOTEPID=%ld",
			    c->peer_pid);
		}
	} else {
		spawn_var(envp, &n, buf, &used, "PROTO=TCP");
		spawn_var(envp, &n, buf, &used, "TCPLOCALIP=%s", c->local_ip);
		spawn_var(envp, &n, buf, &used, "TCPLOCALPORT=%u",
		    c->local_port);
		spawn_var(envp, &n, buf, &used, "TCPREMOTEIP=%s",
		    c->remote_ip);
		spawn_var(envp, &n, buf, &used, "TCPREMOTEPORT=%u",
		    c->remote_port);
	}
	spawn_var(envp, &n, buf, &used, "PORTIER_CONN_ID=%llu",
	    (unsigned long long)c->id);
	return envp;
}

/*
 * Open /dev/null once, for handlers whose stderr goes nowhere, and map the
 * children's stack: one serves them all, since each has exec'd or exited
 * before clone returns.
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
		children_init_sigchld();
	}
#endif
	spawn_stack_len = (size_t)page + SPAWN_STACK;
	spawn_stack = mmap(NULL, spawn_stack_len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (spawn_stack == MAP_FAILED ||
	    mprotect(spawn_stack, (size_t)page, PROT_NONE) == -1)
		fatal("event=fatal reason=\"mmap of the spawn stack\"");
}

/*
 * Under ASan: clear the shadow of the children's stack before each clone.
 * A child shares our memory, shadow included, and ends in exec or _exit
 * without leaving its frames, so their redzones stay poisoned; the next
 * child, taking another path (an exec failure calls a noreturn function,
 * where ASan checks the stack), could run into them and report a
 * stack-buffer-underflow that is none.
 */
static void
spawn_stack_clean(void)
{
#if defined(__SANITIZE_ADDRESS__)
	ASAN_UNPOISON_MEMORY_REGION(spawn_stack + spawn_stack_len - SPAWN_STACK,
	    SPAWN_STACK);
#endif
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

/* Log one line a handler wrote to stderr, escaped, cut if it was long. */
static void
spawn_stderr_line(struct conn *c, const char *line, size_t len, bool cut)
{
	char	esc[SPAWN_ERR_LINE * 4 + 1];
	size_t	i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch == '"' || ch == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f)
			n += (size_t)snprintf(esc + n, 5, "\\x%02x", ch);
		else
			esc[n++] = (char)ch;
	}
	esc[n] = '\0';
	log_info("event=stderr service=%s conn=%llu pid=%ld%s line=\"%s\"",
	    c->service->name, (unsigned long long)c->id, (long)c->pid,
	    cut ? " cut=1" : "", esc);
}

/* Log every complete line, and a line grown past the limit, cut. */
static void
spawn_stderr_lines(struct conn *c, struct evbuffer *in, bool final)
{
	char			 line[SPAWN_ERR_LINE];
	struct evbuffer_ptr	 eol;
	size_t			 eol_len, len;

	for (;;) {
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		len = eol.pos == -1 ? evbuffer_get_length(in) : (size_t)eol.pos;
		if (eol.pos == -1 && len < SPAWN_ERR_LINE && !(final && len > 0))
			return;
		if (len > SPAWN_ERR_LINE)
			len = SPAWN_ERR_LINE;
		evbuffer_remove(in, line, len);
		spawn_stderr_line(c, line, len, len == SPAWN_ERR_LINE &&
		    (eol.pos == -1 || (size_t)eol.pos > SPAWN_ERR_LINE));
		if (eol.pos != -1 && (size_t)eol.pos <= SPAWN_ERR_LINE)
			evbuffer_drain(in, eol_len);
	}
}

/*
 * Put what the handler wrote after its part line, and log whole lines.
 * The buffer is kept only while it holds a part line, so a live handler
 * that wrote whole lines, or nothing, costs none.
 */
static void
spawn_stderr_add(struct conn *c, const char *buf, size_t len)
{
	if (c->errbuf == NULL && (c->errbuf = evbuffer_new()) == NULL)
		fatalx("event=fatal reason=\"evbuffer_new failed\"");
	if (evbuffer_add(c->errbuf, buf, len) == -1)
		fatalx("event=fatal reason=\"evbuffer_add failed\"");
	spawn_stderr_lines(c, c->errbuf, false);
	if (evbuffer_get_length(c->errbuf) == 0) {
		evbuffer_free(c->errbuf);
		c->errbuf = NULL;
	}
}

/* Log the part line left, if any, and close the pipe. */
static void
spawn_stderr_free(struct conn *c)
{
	int	fd;

	if (c->errbuf != NULL) {
		spawn_stderr_lines(c, c->errbuf, true);
		evbuffer_free(c->errbuf);
		c->errbuf = NULL;
	}
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
spawn_stderr_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	char		 buf[SPAWN_ERR_LINE];
	ssize_t		 n;

	if ((n = read(fd, buf, sizeof buf)) > 0) {
		spawn_stderr_add(c, buf, (size_t)n);
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	spawn_stderr_free(c);
	children_poll(c);
}

/*
 * The connection ends: log what its handler left in the pipe, then close
 * it; anything it left running gets EPIPE from now on.  Read until the
 * pipe is empty: after the handler's exit it holds at most a pipe's
 * capacity, unless something it left keeps writing, which the bound stops.
 */
void
spawn_stderr_close(struct conn *c)
{
	char	buf[SPAWN_ERR_LINE];
	ssize_t	n;
	int	i;

	if (c->errev == NULL)
		return;
	for (i = 0; i < SPAWN_ERR_DRAIN && (n = read(event_get_fd(c->errev),
	    buf, sizeof buf)) > 0; i++)
		spawn_stderr_add(c, buf, (size_t)n);
	spawn_stderr_free(c);
}

/* Make the stderr pipe: the write end blocking, for the handler. */
static int
spawn_stderr_pipe(struct conn *c, int *wfd)
{
	int	p[2];

	*wfd = c->service->stderr_mode == STDERR_NULL ? spawn_devnull : -1;
	if (c->service->stderr_mode != STDERR_LOG)
		return 0;
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	/* O_NONBLOCK is the only status flag a pipe's read end needs. */
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1 ||
	    (c->errev = event_new(main_base(), p[0], EV_READ | EV_PERSIST,
	    spawn_stderr_readable, c)) == NULL ||
	    event_add(c->errev, NULL) == -1)
		fatalx("event=fatal reason=\"event for stderr failed\"");
	*wfd = p[1];
	return 0;
}

/* The pipes failed or fork did: undo, and say which step. */
static int
spawn_abort(struct conn *c, const char *step, int saved)
{
	if (c->errev != NULL)
		spawn_stderr_free(c);
	errno = saved;
	log_warn("event=spawn-error service=%s conn=%llu step=%s",
	    c->service->name, (unsigned long long)c->id, step);
	errno = saved;
	return -1;
}

/*
 * The spawn under valgrind: fork, then wait for the child's exec (the
 * report pipe's end) as clone(CLONE_VFORK) would.  It has no pidfd.
 */
static pid_t
spawn_forked(struct spawn_args *a, int *pidfd)
{
	int	p[2], r[2];
	ssize_t	n;
	pid_t	pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
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
		a->step = r[0];
		a->error = r[1];
	}
	*pidfd = -1;		/* children.c reaps it on SIGCHLD */
	return pid;
}

/*
 * Start the handler for a connection.  On success the child owns the
 * socket (our copy is closed) and is in the child table; on failure
 * nothing was started and -1 is returned, errno saying why.  A child
 * whose set-up failed is started too: it has exited 127, and its
 * connection ends, with the failed step, when it is reaped.
 */
int
spawn_start(struct conn *c)
{
	char			  vars[SPAWN_NVARS][SPAWN_VARLEN];
	char			  remote[ADDR_STRLEN + 64];
	struct spawn_args	  a = { .c = c, .step = -1, .reportfd = -1 };
	sigset_t		  all, old;
	pid_t			  pid;
	int			  saved, pidfd = -1, errw;

	if (spawn_stderr_pipe(c, &errw) == -1)
		return spawn_abort(c, "pipe", errno);
	/* The child's descriptors go in the slots, below spawn_low. */
	a.sockfd = spawn_slot_sock;
	a.stderrfd = errw == -1 ? -1 : spawn_slot_err;
	if (dup3(c->fd, spawn_slot_sock, O_CLOEXEC) == -1 ||
	    (errw != -1 && dup3(errw, spawn_slot_err, O_CLOEXEC) == -1))
		fatal("event=fatal reason=\"dup3 to a spawn slot\"");
	a.envp = spawn_env(c, vars);
	spawn_stack_clean();
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if (spawn_fork)
		pid = spawn_forked(&a, &pidfd);
	else
		pid = clone(spawn_child, spawn_stack + spawn_stack_len,
		    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD |
		    (spawn_share_files ? CLONE_FILES : 0), &a, &pidfd);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	/* Empty the slots, or we would hold the connection open. */
	if (dup3(spawn_devnull, spawn_slot_sock, O_CLOEXEC) == -1 ||
	    dup3(spawn_devnull, spawn_slot_err, O_CLOEXEC) == -1)
		fatal("event=fatal reason=\"dup3 to a spawn slot\"");
	if (c->service->stderr_mode == STDERR_LOG)
		close(errw);
	free(a.envp);
	if (pid == -1)
		return spawn_abort(c, "clone", saved);
	c->exec_step = a.step;
	c->exec_errno = a.error;
	c->pid = pid;
	c->pidfd = pidfd;
	close(c->fd);
	c->fd = -1;
	children_add(c);
	log_info("event=spawn service=%s conn=%llu pid=%ld remote=%s "
	    "active=%ld/%ld", c->service->name, (unsigned long long)c->id,
	    (long)pid, conn_remote(c, remote, sizeof remote),
	    c->service->active, c->service->max_connections);
	return 0;
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
