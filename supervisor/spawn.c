/*
 * Starting a handler: the fork protocol.
 *
 * Everything the child needs (argv, envp) is built in the parent before the
 * fork.  All signals are blocked across fork() so that no handler of the
 * parent's (libevent's writes to its self-pipe) can run in the child; the
 * child resets the dispositions the daemon changed, then empties its mask.
 * It makes its own process group, puts the connection on fds 0 and 1 in
 * blocking mode, closes every other descriptor but its exec-status pipe,
 * and execs.  If any step fails, it writes the step and errno to that
 * close-on-exec pipe and exits 127; a successful exec closes the pipe, so
 * the parent, reading it when the child is reaped, tells the two apart.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portier.h"

#define SPAWN_NVARS	8	/* per-connection variables, at most */
#define SPAWN_VARLEN	160

/* The child's set-up steps, as reported through the exec-status pipe. */
enum spawn_step {
	SPAWN_SETPGID,
	SPAWN_DUP2,
	SPAWN_FCNTL,
	SPAWN_PIPE,
	SPAWN_EXEC
};

static const char *const spawn_step_names[] = {
	[SPAWN_SETPGID] = "setpgid",
	[SPAWN_DUP2] = "dup2",
	[SPAWN_FCNTL] = "fcntl",
	[SPAWN_PIPE] = "dup3",
	[SPAWN_EXEC] = "exec",
};

/* What a failed child writes to its exec-status pipe. */
struct spawn_report {
	int	step;
	int	error;
};

/* In the child: report the failed step and errno, then exit 127. */
static void __attribute__((noreturn))
spawn_fail(int errfd, enum spawn_step step)
{
	struct spawn_report	r = { step, errno };

	if (write(errfd, &r, sizeof r) == -1)
		_exit(127);
	_exit(127);
}

/* In the child: set up the process and exec the handler; never returns. */
static void __attribute__((noreturn))
spawn_child(const struct conn *c, char **envp, int errfd)
{
	struct sigaction	sa;
	sigset_t		none;
	int			i, fl;

	if (setpgid(0, 0) == -1)
		spawn_fail(errfd, SPAWN_SETPGID);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 0; portier_signals[i] != 0; i++)
		(void)sigaction(portier_signals[i], &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);

	if (dup2(c->fd, STDIN_FILENO) == -1 ||
	    dup2(c->fd, STDOUT_FILENO) == -1)
		spawn_fail(errfd, SPAWN_DUP2);
	/* libevent accepted the socket non-blocking; handlers expect not. */
	if ((fl = fcntl(STDIN_FILENO, F_GETFL)) == -1 ||
	    fcntl(STDIN_FILENO, F_SETFL, fl & ~O_NONBLOCK) == -1)
		spawn_fail(errfd, SPAWN_FCNTL);
	if (errfd != 3) {
		if (dup3(errfd, 3, O_CLOEXEC) == -1)
			spawn_fail(errfd, SPAWN_PIPE);
		errfd = 3;
	}
	closefrom(4);
	execve(c->service->argv[0], c->service->argv, envp);
	spawn_fail(errfd, SPAWN_EXEC);
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
 * Fork the handler for a connection.  On success the child owns the
 * socket (our copy is closed) and is in the child table; on failure
 * nothing was started and -1 is returned.
 */
int
spawn_start(struct conn *c)
{
	char		  vars[SPAWN_NVARS][SPAWN_VARLEN];
	char		**envp, remote[ADDR_STRLEN + 64];
	sigset_t	  all, old;
	pid_t		  pid;
	int		  p[2], saved;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("event=spawn-error service=%s conn=%llu step=pipe",
		    c->service->name, (unsigned long long)c->id);
		return -1;
	}
	envp = spawn_env(c, vars);
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		spawn_child(c, envp, p[1]);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	free(envp);
	if (pid == -1) {
		close(p[0]);
		errno = saved;
		log_warn("event=spawn-error service=%s conn=%llu step=fork",
		    c->service->name, (unsigned long long)c->id);
		return -1;
	}
	c->pid = pid;
	c->execfd = p[0];
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
 * Once the child is reaped, read its exec-status pipe.  Returns 0 if the
 * handler was exec'd, or -1 with "STEP: reason" in buf if set-up failed.
 */
int
spawn_result(struct conn *c, char *buf, size_t len)
{
	struct spawn_report	r;
	ssize_t			n;

	if (c->execfd == -1)
		return 0;
	n = read(c->execfd, &r, sizeof r);
	close(c->execfd);
	c->execfd = -1;
	if (n != (ssize_t)sizeof r || r.step < 0 || r.step > SPAWN_EXEC)
		return 0;
	snprintf(buf, len, "%s: %s", spawn_step_names[r.step],
	    strerror(r.error));
	return -1;
}
