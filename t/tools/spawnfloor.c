/*
 * spawnfloor: the spawn floor of portier's benchmark.  It runs a program N
 * times, at most C at once, the way a supervisor runs a handler for a
 * connection, and nothing more: the child gets one end of a socketpair as
 * stdin and stdout, the parent shuts its writing side (so a handler that
 * reads stdin sees EOF), reads the other end until EOF, and the child is
 * reaped.  Children end when both have happened.
 *
 * Usage: spawnfloor -n N [-c C] [-v | -p] [-t SECONDS] [-T SECONDS]
 * [-d STRING] PROGRAM [ARGS...], or spawnfloor -g N
 * -v uses vfork instead of fork, -p posix_spawn; -t (default 10) kills a
 * child that has not finished in time, and counts it failed; -T cuts N to
 * the children started in that many seconds; -d sends STRING (with C
 * escapes) before the EOF, as a client would.  argv and envp are made once,
 * before the loop; the child only restores its signal mask, dup2s the
 * socket to 0 and 1, and execs.  SIGCHLD comes through a signalfd, so one
 * epoll loop waits for output and exits alike.
 *
 * -g N measures what a system call costs instead: N calls of getppid(2),
 * which does nothing and which libc neither caches nor wraps in more than
 * the call itself, and the nanoseconds each took, to set beside the spawn
 * rate when two machines are compared.
 */
#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define FLOOR_MAXN	10000000
#define FLOOR_MAXG	1000000000	/* -g: system calls */
#define FLOOR_MAXC	4096
#define FLOOR_EVENTS	64
#define FLOOR_SCAN_MS	100		/* timeouts are checked this often */
#define FLOOR_SIGTOKEN	UINT32_MAX	/* epoll data of the signalfd */

/* One running child. */
struct floor_child {
	pid_t	 pid;		/* 0: the slot is free */
	int	 fd;		/* our end of its socketpair; -1 after EOF */
	bool	 reaped, killed;
	int	 status;
	size_t	 got;		/* bytes it wrote */
	double	 start;
};

/* The run: what to start, and how it went. */
struct floor {
	const char		*path;	/* PROGRAM, found in PATH if need be */
	char			**argv;
	char			**envp;
	long long		 n, c, t;
	long long		 T;		/* -T: seconds; 0: none */
	long long		 g;		/* -g: calls of getppid */
	char			*data;		/* -d: sent to each child */
	size_t			 datalen;
	bool			 cut;		/* -T stopped it before -n */
	int			 how;		/* 'f'ork, 'v'fork, 'p'osix_spawn */
	sigset_t		 oldmask;	/* for the children */
	int			 ep, sigfd;
	struct floor_child	*kids;
	long long		 started, finished, failed;
	bool			 told;		/* first failure printed */
	double			 first, last;
	char			 buf[4096];
};

static void	floor_usage(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));

/* Say what is wrong with the command line and how to use it; exit 2. */
static void
floor_usage(const char *fmt, ...)
{
	va_list	ap;

	fputs("spawnfloor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nusage: spawnfloor -n N [-c C] [-v | -p] [-t SECONDS] "
	    "[-T SECONDS] [-d STRING] PROGRAM [ARGS...]\n"
	    "       spawnfloor -g N\n", stderr);
	exit(2);
}

/* Parse a decimal integer in [min, max]; anything else is a usage error. */
static long long
floor_number(int opt, const char *s, long long min, long long max)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || errno != 0 || *end != '\0' ||
	    v < min || v > max)
		floor_usage("bad -%c '%s': want an integer from %lld to %lld",
		    opt, s, min, max);
	return v;
}

/* The program to exec: PROGRAM itself if it has a slash, else from PATH. */
static const char *
floor_resolve(const char *prog, char *buf, size_t size)
{
	const char	*path, *p, *colon;
	int		 len;

	if (strchr(prog, '/') != NULL) {
		if (access(prog, X_OK) == -1)
			floor_usage("%s: %s", prog, strerror(errno));
		return prog;
	}
	if ((path = getenv("PATH")) == NULL)
		path = "/usr/bin:/bin";
	for (p = path; ; p = colon + 1) {
		colon = strchr(p, ':');
		len = colon == NULL ? (int)strlen(p) : (int)(colon - p);
		if (snprintf(buf, size, "%.*s/%s", len == 0 ? 1 : len,
		    len == 0 ? "." : p, prog) < (int)size &&
		    access(buf, X_OK) == 0)
			return buf;
		if (colon == NULL)
			break;
	}
	floor_usage("%s: not found in PATH", prog);
}

/* Parse the command line into f. */
static void
floor_parse(struct floor *f, int argc, char **argv, char *pathbuf,
    size_t size)
{
	const char	*why;
	int		 opt;

	f->c = 1;
	f->t = 10;
	opterr = 0;
	f->how = 'f';
	while ((opt = getopt(argc, argv, "+:n:c:t:T:d:g:vp")) != -1) {
		switch (opt) {
		case 'n':
			f->n = floor_number(opt, optarg, 1, FLOOR_MAXN);
			break;
		case 'c':
			f->c = floor_number(opt, optarg, 1, FLOOR_MAXC);
			break;
		case 't':
			f->t = floor_number(opt, optarg, 1, 86400);
			break;
		case 'T':
			f->T = floor_number(opt, optarg, 1, 86400);
			break;
		case 'g':
			f->g = floor_number(opt, optarg, 1, FLOOR_MAXG);
			break;
		case 'd':
			free(f->data);
			if ((f->data = tool_unescape(optarg, &f->datalen,
			    &why)) == NULL)
				floor_usage("bad -d '%s': %s", optarg, why);
			break;
		case 'v':
		case 'p':
			f->how = opt;
			break;
		case ':':
			floor_usage("option '-%c' needs a value", optopt);
		default:
			floor_usage("unknown option '-%c'", optopt);
		}
	}
	if (f->g > 0) {
		if (f->n > 0 || optind < argc)
			floor_usage("-g takes neither -n nor a PROGRAM");
		return;
	}
	if (f->n == 0)
		floor_usage("option '-n' is required");
	if (optind >= argc)
		floor_usage("PROGRAM is required");
	f->path = floor_resolve(argv[optind], pathbuf, size);
	f->argv = argv + optind;
	f->envp = environ;
}

/* SIGCHLD becomes an event on a signalfd; children get the old mask. */
static void
floor_signals(struct floor *f)
{
	struct epoll_event	ev;
	sigset_t		set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &f->oldmask) == -1)
		tool_fatal("sigprocmask");
	if ((f->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		tool_fatal("signalfd");
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.u32 = FLOOR_SIGTOKEN;
	if (epoll_ctl(f->ep, EPOLL_CTL_ADD, f->sigfd, &ev) == -1)
		tool_fatal("epoll_ctl signalfd");
}

/*
 * In the child, fork's or vfork's: only async-signal-safe calls, and
 * nothing written to memory the parent shares.  The socket's own
 * descriptor is close-on-exec; its copies on 0 and 1 are not.
 */
static void __attribute__((noreturn))
floor_child(const struct floor *f, int sock)
{
	if (sigprocmask(SIG_SETMASK, &f->oldmask, NULL) == -1 ||
	    dup2(sock, STDIN_FILENO) == -1 || dup2(sock, STDOUT_FILENO) == -1)
		_exit(126);
	execve(f->path, f->argv, f->envp);
	_exit(127);
}

/* -p: the same child made by posix_spawn. */
static pid_t
floor_posix_spawn(const struct floor *f, int sock)
{
	posix_spawn_file_actions_t	fa;
	posix_spawnattr_t		attr;
	pid_t				pid;
	int				err;

	if ((err = posix_spawn_file_actions_init(&fa)) != 0 ||
	    (err = posix_spawn_file_actions_adddup2(&fa, sock,
	    STDIN_FILENO)) != 0 ||
	    (err = posix_spawn_file_actions_adddup2(&fa, sock,
	    STDOUT_FILENO)) != 0 ||
	    (err = posix_spawnattr_init(&attr)) != 0 ||
	    (err = posix_spawnattr_setsigmask(&attr, &f->oldmask)) != 0 ||
	    (err = posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETSIGMASK)) != 0 ||
	    (err = posix_spawn(&pid, f->path, &fa, &attr, f->argv,
	    f->envp)) != 0) {
		errno = err;
		tool_fatal("posix_spawn");
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return pid;
}

/* Start one child in a free slot. */
static void
floor_spawn(struct floor *f, struct floor_child *k)
{
	struct epoll_event	ev;
	int			sv[2];
	pid_t			pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		tool_fatal("socketpair");
	k->start = tool_now();
	if (f->how == 'p')
		pid = floor_posix_spawn(f, sv[1]);
	else if ((pid = f->how == 'v' ? vfork() : fork()) == -1)
		tool_fatal(f->how == 'v' ? "vfork" : "fork");
	if (pid == 0)
		floor_child(f, sv[1]);
	if (close(sv[1]) == -1)
		tool_fatal("close child's end");
	/*
	 * What -d gives, as a client would send it, then EOF.  It fits in
	 * the socket's buffer, so it is sent whole, unless the child has
	 * already gone, as a client's may.
	 */
	if (f->datalen > 0 && send(sv[0], f->data, f->datalen, MSG_NOSIGNAL) !=
	    (ssize_t)f->datalen && errno != EPIPE && errno != ECONNRESET)
		tool_fatal("send -d to the child");
	if (shutdown(sv[0], SHUT_WR) == -1)
		tool_fatal("shutdown");
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		tool_fatal("fcntl O_NONBLOCK");
	k->pid = pid;
	k->fd = sv[0];
	k->reaped = k->killed = false;
	k->got = 0;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.u32 = (uint32_t)(k - f->kids);
	if (epoll_ctl(f->ep, EPOLL_CTL_ADD, k->fd, &ev) == -1)
		tool_fatal("epoll_ctl child socket");
	f->started++;
}

/* Why a child failed, for the first one only. */
static void
floor_tell(struct floor *f, const struct floor_child *k)
{
	if (f->told)
		return;
	f->told = true;
	if (k->killed)
		fprintf(stderr, "spawnfloor: first failure: pid %d killed "
		    "after %lld s\n", (int)k->pid, f->t);
	else if (WIFSIGNALED(k->status))
		fprintf(stderr, "spawnfloor: first failure: pid %d killed by "
		    "signal %d\n", (int)k->pid, WTERMSIG(k->status));
	else if (WEXITSTATUS(k->status) != 0)
		fprintf(stderr, "spawnfloor: first failure: pid %d exited "
		    "%d\n", (int)k->pid, WEXITSTATUS(k->status));
	else
		fprintf(stderr, "spawnfloor: first failure: pid %d wrote "
		    "nothing\n", (int)k->pid);
}

/* A child is over once it is reaped and its output read to EOF. */
static void
floor_end(struct floor *f, struct floor_child *k)
{
	if (!k->reaped || k->fd != -1)
		return;
	if (k->killed || !WIFEXITED(k->status) ||
	    WEXITSTATUS(k->status) != 0 || k->got == 0) {
		f->failed++;
		floor_tell(f, k);
	}
	f->finished++;
	f->last = tool_now();
	k->pid = 0;
	if (f->started < f->n)
		floor_spawn(f, k);
}

/* Read a child's output; at EOF (or an error) close our end. */
static void
floor_read(struct floor *f, struct floor_child *k)
{
	ssize_t	n;

	n = read(k->fd, f->buf, sizeof f->buf);
	if (n > 0) {
		k->got += (size_t)n;
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (close(k->fd) == -1)
		tool_fatal("close child socket");
	k->fd = -1;
	floor_end(f, k);
}

/* Reap every child that has exited: one SIGCHLD may stand for many. */
static void
floor_reap(struct floor *f)
{
	struct signalfd_siginfo	 si;
	struct floor_child	*k;
	long long		 i;
	pid_t			 pid;
	int			 status;

	while (read(f->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		continue;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < f->c; i++) {
			k = &f->kids[i];
			if (k->pid != pid)
				continue;
			k->reaped = true;
			k->status = status;
			floor_end(f, k);
			break;
		}
	}
	if (pid == -1 && errno != ECHILD)
		tool_fatal("waitpid");
}

/* Kill the children that ran out of time; they are reaped as usual. */
static void
floor_scan(struct floor *f, double now)
{
	struct floor_child	*k;
	long long		 i;

	for (i = 0; i < f->c; i++) {
		k = &f->kids[i];
		if (k->pid == 0 || k->reaped || k->killed ||
		    now - k->start < (double)f->t)
			continue;
		if (kill(k->pid, SIGKILL) == -1)
			tool_fatal("kill %d", (int)k->pid);
		k->killed = true;
	}
}

/* Run every child, C at once. */
static void
floor_run(struct floor *f)
{
	struct epoll_event	evs[FLOOR_EVENTS];
	double			next_scan, now;
	long long		i;
	int			j, n;

	f->first = f->last = tool_now();
	next_scan = f->first + FLOOR_SCAN_MS / 1e3;
	for (i = 0; i < f->c && f->started < f->n; i++)
		floor_spawn(f, &f->kids[i]);
	while (f->finished < f->n) {
		n = epoll_wait(f->ep, evs, FLOOR_EVENTS, FLOOR_SCAN_MS);
		if (n == -1 && errno != EINTR)
			tool_fatal("epoll_wait");
		for (j = 0; j < n; j++) {
			if (evs[j].data.u32 == FLOOR_SIGTOKEN)
				floor_reap(f);
			else if (f->kids[evs[j].data.u32].fd != -1)
				floor_read(f, &f->kids[evs[j].data.u32]);
		}
		now = tool_now();
		if (f->T > 0 && now >= f->first + (double)f->T &&
		    f->n > f->started) {
			f->n = f->started;	/* start no more */
			f->cut = true;
		}
		if (now >= next_scan) {
			next_scan = now + FLOOR_SCAN_MS / 1e3;
			floor_scan(f, now);
		}
	}
}

/* -g: the cost of a system call that does nothing, in ns, on stdout. */
static void
floor_syscalls(long long n)
{
	double		start, elapsed;
	long long	i;

	start = tool_now();
	for (i = 0; i < n; i++)
		(void)getppid();
	elapsed = tool_now() - start;
	printf("mode=syscall call=getppid n=%lld elapsed_s=%.3f "
	    "ns_per_call=%.1f\n", n, elapsed, elapsed * 1e9 / (double)n);
	if (fflush(stdout) == EOF)
		tool_fatal("write stdout");
}

int
main(int argc, char **argv)
{
	struct floor	*f;
	char		 pathbuf[4096];
	double		 elapsed;
	int		 rc;

	tool_name = "spawnfloor";
	if ((f = calloc(1, sizeof *f)) == NULL)
		tool_fatal("calloc");
	floor_parse(f, argc, argv, pathbuf, sizeof pathbuf);
	if (f->g > 0) {
		floor_syscalls(f->g);
		free(f->data);
		free(f);
		return 0;
	}
	tool_stdfds();
	tool_rlimit();
	if ((f->kids = calloc((size_t)f->c, sizeof *f->kids)) == NULL)
		tool_fatal("calloc %lld children", f->c);
	if ((f->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		tool_fatal("epoll_create1");
	floor_signals(f);
	floor_run(f);
	elapsed = f->last - f->first;
	printf("mode=spawn n=%lld c=%lld elapsed_s=%.3f spawn_per_s=%.1f "
	    "cut=%d failed=%lld\n", f->n, f->c, elapsed, elapsed > 0 ?
	    (double)(f->n - f->failed) / elapsed : 0.0, (int)f->cut,
	    f->failed);
	if (fflush(stdout) == EOF)
		tool_fatal("write stdout");
	rc = f->failed == 0 ? 0 : 1;
	(void)close(f->sigfd);
	(void)close(f->ep);
	free(f->kids);
	free(f->data);
	free(f);
	return rc;
}
