/*
 * The notify socket of a worker (accept = "handler"): a datagram socket
 * in the abstract namespace, named in the worker's NOTIFY_SOCKET, where
 * it may say what sd_notify(3) says to systemd.  portierd reads
 * CONNECTIONS=N, the clients the worker serves now (a name of ours),
 * and STATUS=..., which `connections` and `services` show and idle_exit
 * goes by.  A datagram counts only if the kernel says (SCM_CREDENTIALS)
 * the worker's own process sent it: anyone may send to an abstract name.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "portier.h"

#define NOTIFY_DATAGRAM	4096	/* bytes of one datagram we read */
#define NOTIFY_BURST	16	/* datagrams read in one turn */

/* The abstract name of c's socket, as NOTIFY_SOCKET gives it ('@'). */
char *
notify_name(const struct conn *c, char *buf, size_t len)
{
	snprintf(buf, len, "@portier/%ld/%llu", (long)getpid(),
	    (unsigned long long)c->id);
	return buf;
}

/* Take one "KEY=VALUE" line of a datagram from c's worker. */
static void
notify_line(struct conn *c, const char *line, size_t len)
{
	long	n;
	char	num[16];
	size_t	i;

	if (len > 12 && strncmp(line, "CONNECTIONS=", 12) == 0 &&
	    len - 12 < sizeof num) {
		memcpy(num, line + 12, len - 12);
		num[len - 12] = '\0';
		if (text_number(num, 0, 1000000000, &n) == 0) {
			if (n > 0 || n != c->clients)
				c->busy_at = core_now();
			c->clients = n;
		}
	} else if (len >= 7 && strncmp(line, "STATUS=", 7) == 0) {
		/* Kept printable and short: it goes in replies as is. */
		for (i = 0; i + 7 < len && i < sizeof c->status - 1; i++)
			c->status[i] = isprint((unsigned char)line[7 + i]) &&
			    line[7 + i] != '"' && line[7 + i] != '\\' ?
			    line[7 + i] : '?';
		c->status[i] = '\0';
	}
}

/* Datagrams on c's notify socket: take those its worker sent. */
static void
notify_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	char		 buf[NOTIFY_DATAGRAM];
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(sizeof(struct ucred))];
	}		 ctl;
	struct iovec	 iov = { buf, sizeof buf };
	struct msghdr	 msg;
	struct cmsghdr	*cm;
	struct ucred	 cred;
	ssize_t		 n;
	char		*p, *nl;
	int		 i;
	bool		 ours;

	for (i = 0; i < NOTIFY_BURST; i++) {
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.b;
		msg.msg_controllen = sizeof ctl.b;
		if ((n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) ==
		    -1)
			return;
		ours = false;
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
		    cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_CREDENTIALS)
				continue;
			memcpy(&cred, CMSG_DATA(cm), sizeof cred);
			ours = cred.pid == c->pid;
		}
		if (!ours || (msg.msg_flags & MSG_TRUNC))
			continue;
		for (p = buf; p < buf + n; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(buf + n - p))) ==
			    NULL)
				nl = buf + n;
			notify_line(c, p, (size_t)(nl - p));
		}
	}
}

/*
 * Make worker c's notify socket, before it starts; -1 if it could not be
 * made (out of descriptors), and the worker starts without one.
 */
int
notify_open(struct conn *c)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	char			name[sizeof sun.sun_path];
	int			fd, on = 1;

	notify_name(c, name, sizeof name);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, name + 1, strlen(name) - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(name));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, len) == -1) {
		close(fd);
		return -1;
	}
	if ((c->notify = event_new(core_base(), fd, EV_READ | EV_PERSIST,
	    notify_readable, c)) == NULL || event_add(c->notify, NULL) == -1)
		fatalx("event=fatal reason=\"event for a notify socket "
		    "failed\"");
	return 0;
}

/* Close worker c's notify socket, as it ends. */
void
notify_close(struct conn *c)
{
	if (c->notify == NULL)
		return;
	close(event_get_fd(c->notify));
	event_free(c->notify);
	c->notify = NULL;
}
