/*
 * What portierd tells the service manager that started it, when
 * NOTIFY_SOCKET names one: systemd's sd_notify(3) protocol, without
 * libsystemd, one datagram of KEY=VALUE lines to a UNIX datagram socket,
 * a path or, written with '@', an abstract name.
 *
 * READY=1 once every listener is bound, and again once a reload is done;
 * RELOADING=1 with MONOTONIC_USEC= as a reload begins (Type=notify-reload
 * waits for both, and without MONOTONIC_USEC systemctl reload hangs);
 * STOPPING=1 as shutdown begins; STATUS= with each, and as a drain goes
 * from stage to stage, the line systemctl status shows; WATCHDOG=1 every
 * half of WATCHDOG_USEC, from the event loop, so a loop that hangs stops
 * it.  A datagram that cannot be sent is logged (at most once a second)
 * and dropped: serving goes on.
 *
 * Socket activation: when LISTEN_PID is our pid, the LISTEN_FDS sockets
 * from fd 3 on are the service manager's, each named by its entry of
 * LISTEN_FDNAMES; each must be a listening stream socket.  They are kept
 * here, with where they are bound, until listen.c gives each to the
 * listener of its address (listen_adopt); one nobody took is closed once
 * every service listens.
 *
 * The variables are taken out of our environment as we start, so nothing
 * we start sees them.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "portier.h"

#define SYSTEMD_DATAGRAM	512	/* what we send, at most */
#define SYSTEMD_DOG_MIN		1000	/* µs between WATCHDOG=1s, at least */

static int			 systemd_fd = -1;
static struct sockaddr_un	 systemd_addr;
static socklen_t		 systemd_addrlen;
static struct event		*systemd_dog;
static struct log_limit		 systemd_limit;
static struct passed_socket	*systemd_passed;	/* LISTEN_FDS's */
static size_t			 systemd_npassed;

/*
 * NOTIFY_SOCKET's address in systemd_addr: 0, or -1 and why not in err.
 * An abstract name ('@') is exactly as long as written, with no NUL.
 */
static int
systemd_address(const char *name, char *err, size_t len)
{
	size_t	n = strlen(name);

	if ((name[0] != '/' && name[0] != '@') || n < 2 ||
	    n >= sizeof systemd_addr.sun_path) {
		snprintf(err, len, "NOTIFY_SOCKET='%.64s': expected an "
		    "absolute path or an @abstract name of at most %zu bytes",
		    name, sizeof systemd_addr.sun_path - 1);
		return -1;
	}
	memset(&systemd_addr, 0, sizeof systemd_addr);
	systemd_addr.sun_family = AF_UNIX;
	memcpy(systemd_addr.sun_path, name, n);
	if (name[0] == '@')
		systemd_addr.sun_path[0] = '\0';
	systemd_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    n);
	return 0;
}

/* Send one datagram of lines; a failure is logged, at most once a second. */
static void
systemd_send(const char *fmt, ...)
{
	char	msg[SYSTEMD_DATAGRAM], more[48];
	va_list	ap;
	int	n;

	if (systemd_fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	if (sendto(systemd_fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT,
	    (struct sockaddr *)&systemd_addr, systemd_addrlen) == -1 &&
	    log_limit(&systemd_limit, 1.0, more, sizeof more))
		log_warn("event=notify-error socket=\"%s%s\"%s",
		    systemd_addr.sun_path[0] == '\0' ? "@" : "",
		    systemd_addr.sun_path[0] == '\0' ?
		    systemd_addr.sun_path + 1 : systemd_addr.sun_path, more);
}

/* Half of WATCHDOG_USEC has passed: we are alive. */
static void
systemd_watchdog(evutil_socket_t fd, short what, void *arg)
{
	systemd_send("WATCHDOG=1");
}

/*
 * The name of LISTEN_FDNAMES's entry i, a copy, or NULL if there is none
 * (or it is systemd's "unknown").
 */
static char *
systemd_fdname(const char *names, long i)
{
	const char	*p = names, *end;
	char		*copy;

	for (; i > 0 && p != NULL; i--)
		if ((p = strchr(p, ':')) != NULL)
			p++;
	if (p == NULL)
		return NULL;
	end = strchrnul(p, ':');
	if (end == p || ((size_t)(end - p) == 7 && strncmp(p, "unknown", 7) ==
	    0))
		return NULL;
	copy = xmalloc((size_t)(end - p) + 1);
	memcpy(copy, p, (size_t)(end - p));
	copy[end - p] = '\0';
	return copy;
}

/* Check the passed socket on fd and keep it: 0, or -1 with why in err. */
static int
systemd_pass_one(int fd, const char *names, long i, char *err, size_t len)
{
	struct passed_socket	*ps = &systemd_passed[systemd_npassed];
	struct stat		 st;
	socklen_t		 olen = sizeof(int);
	int			 type = 0, listening = 0, fl;

	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) == -1 ||
	    type != SOCK_STREAM || (olen = sizeof(int), getsockopt(fd,
	    SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) == -1) ||
	    !listening) {
		snprintf(err, len, "LISTEN_FDS: fd %d is not a listening "
		    "stream socket", fd);
		return -1;
	}
	ps->sslen = sizeof ps->ss;
	if (getsockname(fd, (struct sockaddr *)&ps->ss, &ps->sslen) == -1 ||
	    (fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		snprintf(err, len, "LISTEN_FDS: fd %d: %s", fd,
		    strerror(errno));
		return -1;
	}
	ps->fd = fd;
	ps->name = names != NULL ? systemd_fdname(names, i) : NULL;
	ps->taken = false;
	systemd_npassed++;
	return 0;
}

/*
 * Take the sockets passed to us, if LISTEN_PID says they are ours: 0, or
 * -1 with why in err.
 */
static int
systemd_pass(char *err, size_t len)
{
	const char	*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char	*names = getenv("LISTEN_FDNAMES");
	long		 p, n, i, count;

	if (pid == NULL || fds == NULL || text_number(pid, 1, INT_MAX, &p) !=
	    0 || p != (long)getpid())
		return 0;
	if (text_number(fds, 0, SYSTEMD_PASSED_MAX, &n) != 0) {
		snprintf(err, len, "LISTEN_FDS='%.32s': expected a number "
		    "from 0 to %d", fds, SYSTEMD_PASSED_MAX);
		return -1;
	}
	if (names != NULL) {
		for (count = 1, i = 0; names[i] != '\0'; i++)
			count += names[i] == ':';
		if (count != n) {
			snprintf(err, len, "LISTEN_FDNAMES has %ld names for "
			    "LISTEN_FDS=%ld sockets", count, n);
			return -1;
		}
	}
	systemd_passed = xcalloc((size_t)n + 1, sizeof *systemd_passed);
	for (i = 0; i < n; i++)
		if (systemd_pass_one(3 + (int)i, names, i, err, len) == -1)
			return -1;
	return 0;
}

/* The sockets the service manager passed, and how many. */
struct passed_socket *
systemd_sockets(size_t *n)
{
	*n = systemd_npassed;
	return systemd_passed;
}

/* Every service listens: close what no listener took. */
void
systemd_sockets_done(void)
{
	size_t	i;

	for (i = 0; i < systemd_npassed; i++) {
		if (!systemd_passed[i].taken)
			close(systemd_passed[i].fd);
		free(systemd_passed[i].name);
	}
	free(systemd_passed);
	systemd_passed = NULL;
	systemd_npassed = 0;
}

/*
 * Take the passed sockets (systemd_pass) and LISTEN_* and NOTIFY_SOCKET
 * out of the environment, and make the socket to send to the one
 * NOTIFY_SOCKET names: 0, or -1 with why in err (a malformed name: the
 * manager would wait for READY=1 in vain).  The watchdog is armed once
 * listening, by systemd_ready.
 */
int
systemd_init(char *err, size_t len)
{
	const char	*name = getenv("NOTIFY_SOCKET");
	int		 rc;

	rc = systemd_pass(err, len);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (rc == 0 && name != NULL && *name != '\0') {
		if (systemd_address(name, err, len) == -1)
			rc = -1;
		else if ((systemd_fd = socket(AF_UNIX, SOCK_DGRAM |
		    SOCK_CLOEXEC, 0)) == -1) {
			snprintf(err, len, "NOTIFY_SOCKET: socket: %s",
			    strerror(errno));
			rc = -1;
		}
	}
	unsetenv("NOTIFY_SOCKET");
	return rc;
}

/*
 * Every listener is bound: READY=1, with status, and the watchdog from
 * now on, if WATCHDOG_USEC asks for one and WATCHDOG_PID, if set, is ours.
 */
void
systemd_ready(const char *status)
{
	const char	*usec = getenv("WATCHDOG_USEC");
	const char	*pid = getenv("WATCHDOG_PID");
	long		 n, p;

	systemd_send("READY=1\nSTATUS=%s", status);
	if (systemd_fd != -1 && usec != NULL &&
	    text_number(usec, 1, 86400L * 1000000, &n) == 0 &&
	    (pid == NULL || (text_number(pid, 1, INT_MAX, &p) == 0 &&
	    p == (long)getpid()))) {
		systemd_dog = event_new(core_base(), -1, EV_PERSIST,
		    systemd_watchdog, NULL);
		if (systemd_dog != NULL) {
			/* Never a timer that fires at every turn. */
			long		half = n / 2 < SYSTEMD_DOG_MIN ?
					    SYSTEMD_DOG_MIN : n / 2;
			struct timeval	tv = { half / 1000000, half % 1000000 };

			evtimer_add(systemd_dog, &tv);
		}
	}
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* A reload begins: RELOADING=1, on the clock systemd reads. */
void
systemd_reloading(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	systemd_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

/* A reload is over, done or not: READY=1 again, with status. */
void
systemd_reloaded(const char *status)
{
	systemd_send("READY=1\nSTATUS=%s", status);
}

/* Shutdown begins: STOPPING=1, with status. */
void
systemd_stopping(const char *status)
{
	systemd_send("STOPPING=1\nSTATUS=%s", status);
}

/* A line for systemctl status. */
void
systemd_status(const char *status)
{
	systemd_send("STATUS=%s", status);
}

/* At exit: the watchdog, the socket and passed sockets not taken. */
void
systemd_fini(void)
{
	systemd_sockets_done();
	if (systemd_dog != NULL)
		event_free(systemd_dog);
	systemd_dog = NULL;
	if (systemd_fd != -1)
		close(systemd_fd);
	systemd_fd = -1;
}
