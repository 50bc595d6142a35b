/*
 * The connection registry and dispatcher.  A client accepted by listen.c
 * is admitted or turned away (conn_refuse: count, log, close, or have
 * linger.c send busy_message and close).  Admitted, it becomes one struct
 * conn with one id, counted against its service and the global limit
 * (service.c), and goes through the stages of its service's way
 * (conn_stages[]) to its back-end (svc->backend), which serves it until
 * it ends.  Every connection ends in one place, conn_end(), which logs
 * it, has its service count it and reopen accepting, and frees it.
 * conn.c knows a back-end and a stage only through their verbs.
 */
#include "config.h"

#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "portier.h"

static int		conn_banner(struct conn *);
static bool		conn_banner_wanted(const struct service *);

static struct conns	conn_all = TAILQ_HEAD_INITIALIZER(conn_all);
static long		conn_count;	/* live, workers too */
static long		conn_workers;
static uint64_t		conn_last_id;

/*
 * The stages between admission and the back-end, in order; each is in a
 * service's way if it wants that service.  A stage that must wait for the
 * client (a TLS handshake) would add a third answer to start() and a verb
 * to cancel it; see HACKING.md.
 */
static const struct conn_stage conn_stages[] = {
	{ "banner", conn_banner_wanted, conn_banner },
};
#define CONN_NSTAGES	(sizeof conn_stages / sizeof conn_stages[0])

/* The name of a state, for logs. */
const char *
conn_state_name(enum conn_state state)
{
	switch (state) {
	case CONN_ADMITTED:
		return "admitted";
	case CONN_RUNNING:
		return "running";
	case CONN_CLOSING:
		return "closing";
	case CONN_TERM:
		return "term";
	case CONN_KILL:
		return "kill";
	case CONN_DONE:
		return "done";
	}
	return "unknown";
}

/* Move a connection to a new state; an illegal move is a bug. */
void
conn_set_state(struct conn *c, enum conn_state state)
{
	bool	ok;

	switch (state) {
	case CONN_RUNNING:
		ok = c->state == CONN_ADMITTED;
		break;
	case CONN_CLOSING:
	case CONN_TERM:
		ok = c->state == CONN_RUNNING;
		break;
	case CONN_KILL:
		ok = c->state == CONN_RUNNING || c->state == CONN_TERM;
		break;
	case CONN_DONE:
		ok = c->state != CONN_DONE;
		break;
	default:
		ok = false;
		break;
	}
	if (!ok)
		fatalx("event=fatal reason=\"conn %llu: illegal move %s -> "
		    "%s\"", (unsigned long long)c->id,
		    conn_state_name(c->state), conn_state_name(state));
	c->state = state;
}

/* The number of live connections, all services together. */
long
conn_active(void)
{
	return conn_count;
}

/* The live connections of clients, which the global limit counts. */
long
conn_clients(void)
{
	return conn_count - conn_workers;
}

/* When the connection was accepted, on core_now()'s clock. */
double
conn_started(const struct conn *c)
{
	return (double)c->started.tv_sec + (double)c->started.tv_nsec / 1e9;
}

/* Seconds since the connection was accepted. */
double
conn_age(const struct conn *c)
{
	return core_now() - conn_started(c);
}

/* Fill in the peer's and our own address for a new connection. */
static void
conn_addresses(struct conn *c, struct listener *l, struct sockaddr *sa)
{
	struct sockaddr_storage	 local;
	socklen_t		 len = sizeof local;
	struct ucred		 uc;
	socklen_t		 uclen = sizeof uc;
	const struct sockaddr	*lsa = (struct sockaddr *)&l->local;

	c->peer_uid = c->peer_gid = c->peer_pid = -1;
	if (c->family == AF_UNIX) {
		c->unix_path = l->path;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc,
		    &uclen) == 0) {
			c->peer_uid = uc.uid;
			c->peer_gid = uc.gid;
			c->peer_pid = uc.pid;
		}
		return;
	}
	text_ip(sa, c->remote_ip, sizeof c->remote_ip,
	    &c->remote_port);
	/* A wildcard listener's local address is only known per socket. */
	if (l->wildcard && getsockname(c->fd, (struct sockaddr *)&local,
	    &len) == 0)
		lsa = (struct sockaddr *)&local;
	text_ip(lsa, c->local_ip, sizeof c->local_ip, &c->local_port);
}

/*
 * Turn away a client admission refused: count and log it (a line per
 * reason a second), and close it.  One refused for a limit is told why,
 * and closed by linger.c, which reads what it sent so that no reset
 * destroys the message; a denied one is told nothing and closed at once.
 */
static void
conn_refuse(struct service *svc, int fd, const struct sockaddr *sa,
    enum admit_reason r)
{
	service_refused(svc, r);
	admit_log_refusal(svc, sa, r);
	if (r != ADMIT_DENY && svc->busy != NULL)
		linger_close(fd, svc->busy, svc->busylen);
	else
		close(fd);
}

/* Register an admitted connection and count it against its service. */
static struct conn *
conn_new(struct listener *l, int fd, struct sockaddr *sa,
    struct admit_source *src)
{
	struct service	*svc = l->service;
	struct conn	*c;
	char		 remote[ADDR_STRLEN + 64];

	c = xcalloc(1, sizeof *c);
	c->src = src;
	c->id = ++conn_last_id;
	c->state = CONN_ADMITTED;
	c->service = svc;
	c->owner = svc;
	c->fd = fd;
	c->family = l->family;
	clock_gettime(CLOCK_MONOTONIC, &c->started);
	conn_addresses(c, l, sa);
	if (log_debugging())	/* the address as text costs every accept */
		log_debug("event=accept service=%s conn=%llu remote=%s fd=%d",
		    svc->name, (unsigned long long)c->id,
		    conn_remote(c, remote, sizeof remote), fd);
	TAILQ_INSERT_TAIL(&conn_all, c, entry);
	conn_count++;
	service_conn_started(svc, conn_clients());
	return c;
}

/*
 * Take c through its service's stages, then start its back-end.  A stage
 * or a start that ends the connection may free c: touch it only when they
 * say it goes on.
 */
static void
conn_run(struct conn *c)
{
	size_t	i;

	for (i = 0; i < CONN_NSTAGES; i++) {
		if (conn_stages[i].wanted(c->service) &&
		    conn_stages[i].start(c) == -1)
			return;
	}
	conn_set_state(c, CONN_RUNNING);
	if (c->service->backend->start(c) == -1) {
		service_refused(c->owner, ADMIT_OK);
		conn_end(c, "spawn-failed", NULL);
	}
}

/* Take a newly accepted socket from a listener: admit it, or turn it away. */
void
conn_accept(struct listener *l, int fd, struct sockaddr *sa, int salen)
{
	struct admit_source	*src;
	enum admit_reason	 r;

	if ((r = admit_check(l->service, sa, &src)) != ADMIT_OK) {
		conn_refuse(l->service, fd, sa, r);
		return;
	}
	conn_run(conn_new(l, fd, sa, src));
}

/*
 * Start worker number n of an accept = "handler" service: a connection
 * with no client, counted as one, whose handler gets the service's
 * listening sockets.  -1 if it could not be started (it has ended).
 */
int
conn_worker(struct service *svc, long n)
{
	struct conn	*c;

	c = xcalloc(1, sizeof *c);
	c->id = ++conn_last_id;
	c->state = CONN_ADMITTED;
	c->service = svc;
	c->owner = svc;
	c->fd = -1;
	c->family = AF_UNSPEC;
	c->worker = n;
	c->clients = -1;
	c->busy_at = core_now();
	clock_gettime(CLOCK_MONOTONIC, &c->started);
	TAILQ_INSERT_TAIL(&conn_all, c, entry);
	conn_count++;
	conn_workers++;
	service_worker_started(svc);
	conn_set_state(c, CONN_RUNNING);
	if (svc->backend->start(c) == -1) {
		conn_end(c, "spawn-failed", NULL);
		return -1;
	}
	return 0;
}

/* The banner stage: a service with a banner sends it first. */
static bool
conn_banner_wanted(const struct service *svc)
{
	return svc->banner != NULL;
}

/*
 * Send the service's banner, before the handler or built-in sees anything.
 * It is short enough (BANNER_MAX) to fit a new socket's send buffer, so
 * one non-blocking send does; if it does not, the client is gone.
 */
static int
conn_banner(struct conn *c)
{
	ssize_t	n;

	n = send(c->fd, c->service->banner, c->service->bannerlen,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)c->service->bannerlen)
		return 0;
	service_refused(c->owner, ADMIT_OK);
	conn_end(c, "error", n == -1 ? strerror(errno) :
	    "banner did not fit the socket buffer");
	return -1;
}

/*
 * Shutdown of svc, or of everything if svc is NULL, reached the term
 * (force false) or kill (force true) stage: each connection's back-end
 * ends it, gently or at once.
 */
void
conn_stop(const struct service *svc, bool force)
{
	struct conn	*c, *next;

	for (c = TAILQ_FIRST(&conn_all); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (svc == NULL || c->owner == svc)
			c->service->backend->stop(c, force);
	}
}

/*
 * End one connection on request (POE's per-connection shutdown), as its
 * back-end does: a built-in flushes and closes; a handler's group gets
 * SIGTERM, then SIGKILL after kill_grace.
 */
void
conn_kill(struct conn *c)
{
	c->service->backend->kill(c);
	if (c->worker != 0)	/* its service may start another */
		service_update(c->owner);
}

/* The connection with an id, or NULL; the control socket's lookup. */
struct conn *
conn_find(uint64_t id)
{
	struct conn	*c;

	TAILQ_FOREACH(c, &conn_all, entry) {
		if (c->id == id)
			return c;
	}
	return NULL;
}

/* The oldest live connection, for walking them all. */
struct conn *
conn_first(void)
{
	return TAILQ_FIRST(&conn_all);
}

/* The next connection after c. */
struct conn *
conn_next(const struct conn *c)
{
	return TAILQ_NEXT(c, entry);
}

/*
 * Whether c's start and end lines are logged: log_connections, which a
 * worker's lines do not heed.
 */
bool
conn_logs(const struct conn *c)
{
	return c->service->log_conns || c->worker != 0;
}

/*
 * End a connection: log it with how it ended, release its slot, reopen
 * accepting and free it.  status is "exit:N", "signal:NAME", "eof" and the
 * like; reason, if not NULL, says more.  Where conn_logs says no, the
 * line is written still for a handler killed by a signal portierd did not
 * send.
 */
void
conn_end(struct conn *c, const char *status, const char *reason)
{
	struct service	*svc = c->owner;
	char		 who[64];
	long long	 ms;
	double		 ran;
	bool		 asked = c->state == CONN_TERM || c->state == CONN_KILL;
	bool		 logged = conn_logs(c) ||
			    (!asked && strncmp(status, "signal:", 7) == 0);

	/*
	 * A back-end that was started releases what it holds, a handler's
	 * last words going in the log before its end, and says who it was.
	 */
	who[0] = '\0';
	if (c->state != CONN_ADMITTED) {
		c->service->backend->release(c);
		if (logged)
			c->service->backend->describe(c, who, sizeof who);
	}
	conn_set_state(c, CONN_DONE);
	TAILQ_REMOVE(&conn_all, c, entry);
	admit_release(c->src);
	conn_count--;
	ran = conn_age(c);
	if (c->worker != 0) {
		conn_workers--;
		service_worker_ended(svc, status);
	} else
		service_conn_ended(svc, status, conn_clients(), ran);
	ms = (long long)(ran * 1000 + 0.5);	/* no %f: it costs */
	if (logged)
		log_info("event=end service=%s conn=%llu%s%s status=%s "
		    "duration=%lld.%03lld active=%ld/%ld%s%s%s", svc->name,
		    (unsigned long long)c->id, who[0] != '\0' ? " " : "", who,
		    status, ms / 1000, ms % 1000, svc->run.active,
		    svc->run.limit, reason != NULL ? " reason=\"" : "",
		    reason != NULL ? reason : "", reason != NULL ? "\"" : "");
	if (c->fd != -1)
		close(c->fd);
	if (c->worker != 0)
		service_worker_next(svc, status, ran, asked);
	service_conn_freed(c->service, svc);
	free(c);
	if (conn_count == 0 && service_shutting_down())
		service_all_ended();
}

/* The peer as text for logs: 1.2.3.4:PORT, [::1]:PORT or unix:uid=N,pid=N. */
char *
conn_remote(const struct conn *c, char *buf, size_t len)
{
	if (c->worker != 0)
		text_format(buf, len, "worker:%ld", c->worker);
	else if (c->family == AF_UNIX)
		text_format(buf, len, "unix:uid=%ld,pid=%ld", c->peer_uid,
		    c->peer_pid);
	else if (strchr(c->remote_ip, ':') != NULL)
		text_format(buf, len, "[%s]:%u", c->remote_ip, c->remote_port);
	else
		text_format(buf, len, "%s:%u", c->remote_ip, c->remote_port);
	return buf;
}
