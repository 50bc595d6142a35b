/*
 * The control socket: a UNIX stream socket where root, portierd's own user
 * and members of control_group send one-line commands.  This file owns the
 * socket (open, move on reload, close), the peer's credentials, checked
 * before a byte is read, the bounds on clients (at most CTL_CLIENTS_MAX, a
 * descriptor in reserve, a back-off on accept errors) and the framing: it
 * cuts a client's input into request lines, bounds how long a request may
 * take and how much reply may wait unsent, and hands each complete line to
 * command.c, whose reply ("ok" or "error REASON", data lines, an empty
 * line) it sends.  Every client is served by the event loop with bounded
 * buffers, so control clients never hold up traffic.
 *
 * It never parses a request, runs a command or formats a reply's data, and
 * never waits for a client.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "portier.h"

#define CTL_LINE_MAX	4096	/* longest request, without its newline */
#define CTL_IDLE_SECS	5	/* a silent client is dropped after this */
#define CTL_REQUEST_SECS 10	/* from a request's first byte to its end */
#define CTL_REPLY_MAX	(256 * 1024)	/* unsent reply: answer no more */
#define CTL_REPLY_LOW	(64 * 1024)	/* until it is down to this */
#define CTL_CLIENTS_MAX	64	/* at once; more are turned away */
#define CTL_BACKOFF_MS	250	/* no accepting after an accept error */
#define CTL_LOG_GAP	1.0	/* seconds between lines of one kind */
#define CTL_BACKLOG	64	/* the control socket's listen queue */

/* A connected control client. */
struct ctl_client {
	struct bufferevent	*bev;
	uid_t			 uid;
	pid_t			 pid;
	struct event		*late;		/* bounds the request begun */
	bool			 closing;	/* oversize, late: close once replied */
	bool			 full;		/* reply over CTL_REPLY_MAX: paused */
	bool			 reserve;	/* has the reserve's slot */
	bool			 stop;		/* shut down once replied */
	bool			 stop_now;
	TAILQ_ENTRY(ctl_client)	 entry;
};

static TAILQ_HEAD(, ctl_client)	 ctl_clients =
    TAILQ_HEAD_INITIALIZER(ctl_clients);
static struct evconnlistener	*ctl_lev;
static char			*ctl_path;
static gid_t			 ctl_gid = (gid_t)-1;	/* the file's group */
static dev_t			 ctl_dev;
static ino_t			 ctl_ino;
static int			 ctl_nclients;
static int			 ctl_spare = -1;	/* the reserve: /dev/null */
static struct event		*ctl_backoff;	/* accepting again after */
static struct log_limit		 ctl_error_limit;	/* control-error */
static struct log_limit		 ctl_refuse_limit;	/* control-refused */
static struct log_limit		 ctl_reserve_limit;	/* control-reserve */

/* Answer a client's request; a shutdown it asks for waits for the reply. */
static void
ctl_execute(struct ctl_client *cl, char *line, size_t len,
    struct evbuffer *reply)
{
	int	stop;

	if ((stop = command_answer(line, len, cl->uid, reply)) != 0) {
		cl->stop = true;
		cl->stop_now = cl->stop_now || stop == COMMAND_STOP_NOW;
	}
}

/*
 * Hold one descriptor in reserve, so that an administrator can still
 * connect when the services have taken every other.  It fails only when
 * the system's file table is full; the next back-off tries again.
 */
static void
ctl_reserve_open(void)
{
	if (ctl_spare == -1)
		ctl_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * Close a control client's socket; if it held the reserve's slot, take
 * the slot back at once, before any listener can accept into it.
 */
static void
ctl_close_fd(int fd, bool reserve)
{
	close(fd);
	if (reserve)
		ctl_reserve_open();
}

/*
 * Free a client and close its connection.  Its events leave the event
 * loop before the close, since bufferevent_free() defers that while one of
 * its callbacks runs, and the close is ours and immediate, so that the
 * reserve's slot can be taken back.
 */
static void
ctl_client_free(struct ctl_client *cl)
{
	int	fd = bufferevent_getfd(cl->bev);

	TAILQ_REMOVE(&ctl_clients, cl, entry);
	ctl_nclients--;
	bufferevent_disable(cl->bev, EV_READ | EV_WRITE);
	bufferevent_free(cl->bev);
	event_free(cl->late);
	ctl_close_fd(fd, cl->reserve);
	free(cl);
}

/*
 * Reply to an oversize request and close once the reply is out: a client
 * that sends more than a request can hold is broken or hostile, and
 * reading on to find the end of its line would let it keep us busy.
 */
static void
ctl_oversize(struct ctl_client *cl, struct evbuffer *out)
{
	evbuffer_add_printf(out, "error request longer than %d bytes\n\n",
	    CTL_LINE_MAX);
	bufferevent_disable(cl->bev, EV_READ);
}

/*
 * Cut each complete request line off in and hand it to fn without its LF
 * or CRLF, with a NUL after it, until fn returns false: the lines after
 * stay in, for the next call.  A line longer than CTL_LINE_MAX is handed
 * over as NULL as soon as it is known to be too long, and then *closed is
 * set and nothing more is read: the client is to be closed.  It takes
 * buffers, not a client, so that the fuzz target feeds it too, in any
 * chunks.
 */
void
control_lines(struct evbuffer *in, bool *closed,
    bool (*fn)(char *, size_t, void *), void *arg)
{
	struct evbuffer_ptr	 eol;
	char			 line[CTL_LINE_MAX + 1];
	size_t			 eol_len, len;

	while (!*closed) {
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		len = eol.pos == -1 ? evbuffer_get_length(in) : (size_t)eol.pos;
		if (len > CTL_LINE_MAX) {
			/* Too long: say so once and read no more. */
			evbuffer_drain(in, evbuffer_get_length(in));
			*closed = true;
			(void)fn(NULL, 0, arg);
			break;
		}
		if (eol.pos == -1)
			break;
		evbuffer_remove(in, line, len);
		evbuffer_drain(in, eol_len);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if (!fn(line, len, arg))
			break;
	}
}

/*
 * The client has more reply unsent than CTL_REPLY_MAX: read and answer
 * nothing more until it has taken most of it, so that one that never
 * reads costs a bounded amount of memory.  The write timeout still drops
 * it if it takes nothing for CTL_IDLE_SECS.
 */
static void
ctl_client_pause(struct ctl_client *cl)
{
	cl->full = true;
	bufferevent_disable(cl->bev, EV_READ);
	bufferevent_setwatermark(cl->bev, EV_WRITE, CTL_REPLY_LOW, 0);
}

/*
 * Answer one request line of a client's, or say it was too long; stop
 * before the next line once the unsent reply is over CTL_REPLY_MAX.  A
 * single reply may be longer: the bound is between requests.
 */
static bool
ctl_line(char *line, size_t len, void *arg)
{
	struct ctl_client	*cl = arg;
	struct evbuffer		*out = bufferevent_get_output(cl->bev);

	evtimer_del(cl->late);
	if (line == NULL) {
		ctl_oversize(cl, out);
		return false;
	}
	ctl_execute(cl, line, len, out);
	if (evbuffer_get_length(out) <= CTL_REPLY_MAX)
		return true;
	ctl_client_pause(cl);
	return false;
}

/*
 * Answer the complete requests in the client's input, and time the one
 * it has begun, if any, from its first byte: its later bytes do not
 * restart that clock, as they do the idle timeout's.
 */
static void
ctl_serve(struct ctl_client *cl)
{
	struct timeval	 tv = { CTL_REQUEST_SECS, 0 };
	struct evbuffer	*in = bufferevent_get_input(cl->bev);

	control_lines(in, &cl->closing, ctl_line, cl);
	if (cl->closing || cl->full || evbuffer_get_length(in) == 0)
		evtimer_del(cl->late);
	else if (!evtimer_pending(cl->late, NULL))
		evtimer_add(cl->late, &tv);
}

/* Serve every complete request line the client has sent. */
static void
ctl_read(struct bufferevent *bev, void *arg)
{
	ctl_serve(arg);
}

/* The client took most of its reply: read again, starting with what waits. */
static void
ctl_client_resume(struct ctl_client *cl)
{
	cl->full = false;
	bufferevent_setwatermark(cl->bev, EV_WRITE, 0, 0);
	bufferevent_enable(cl->bev, EV_READ);
	ctl_serve(cl);
}

/*
 * A request begun CTL_REQUEST_SECS ago has not ended: say so and close,
 * so that a client sending a byte now and then cannot stay for ever.
 */
static void
ctl_late(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client	*cl = arg;
	struct evbuffer		*in = bufferevent_get_input(cl->bev);

	log_debug("event=control-timeout uid=%ld pid=%ld what=request",
	    (long)cl->uid, (long)cl->pid);
	evbuffer_drain(in, evbuffer_get_length(in));
	cl->closing = true;
	bufferevent_disable(cl->bev, EV_READ);
	evbuffer_add_printf(bufferevent_get_output(cl->bev),
	    "error request not ended within %d seconds\n\n", CTL_REQUEST_SECS);
}

/*
 * A shutdown asked for by this client starts once its reply is out, since
 * the event loop may end at once, or when the client leaves.
 */
static void
ctl_stop_if_asked(struct ctl_client *cl)
{
	if (!cl->stop)
		return;
	cl->stop = false;
	command_stop(cl->stop_now ? COMMAND_STOP_NOW : COMMAND_STOP);
}

/*
 * The unsent reply fell to the low mark: a paused client is read again.
 * Once all is out, a shutdown it asked for starts, and an oversize or
 * late client is closed.
 */
static void
ctl_written(struct bufferevent *bev, void *arg)
{
	struct ctl_client	*cl = arg;

	if (cl->full)
		ctl_client_resume(cl);
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	ctl_stop_if_asked(cl);
	if (cl->closing)
		ctl_client_free(cl);
}

/*
 * The client closed, failed, or stayed silent or unread too long.  One
 * that only shut down its sending side still gets the replies it is owed:
 * it may have sent many requests at once and then said it was done.
 */
static void
ctl_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client	*cl = arg;

	if ((what & BEV_EVENT_EOF) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		cl->closing = true;
		evtimer_del(cl->late);
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("event=control-timeout uid=%ld pid=%ld what=%s",
		    (long)cl->uid, (long)cl->pid,
		    what & BEV_EVENT_READING ? "idle" : "unread");
	ctl_stop_if_asked(cl);
	ctl_client_free(cl);
}

/* Whether the peer may use the control socket: root, us, or the group. */
static bool
ctl_allowed(int fd, struct ucred *uc)
{
	socklen_t	 len = sizeof *uc;
	gid_t		 gid = core_config()->control_gid, *groups;
	bool		 ok = false;
	size_t		 i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, uc, &len) == -1)
		return false;
	if (uc->uid == 0 || uc->uid == geteuid())
		return true;
	if (core_config()->control_group == NULL)
		return false;
	if (uc->gid == gid)
		return true;
#ifdef SO_PEERGROUPS
	len = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) == -1 &&
	    errno == ERANGE && len > 0) {
		groups = xmalloc(len);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups,
		    &len) == 0) {
			for (i = 0; i < len / sizeof *groups; i++)
				ok = ok || groups[i] == gid;
		}
		free(groups);
	}
#endif
	return ok;
}

/* Serve a client that may use the socket. */
static struct ctl_client *
ctl_client_new(int fd, const struct ucred *uc, bool reserve)
{
	struct timeval		 tv = { CTL_IDLE_SECS, 0 };
	struct ctl_client	*cl;

	cl = xcalloc(1, sizeof *cl);
	cl->uid = uc->uid;
	cl->pid = uc->pid;
	cl->reserve = reserve;
	cl->bev = bufferevent_socket_new(core_base(), fd, 0);
	if (cl->bev == NULL)
		fatalx("event=fatal reason=\"bufferevent_socket_new failed\"");
	cl->late = core_timer(ctl_late, cl);
	bufferevent_setwatermark(cl->bev, EV_READ, 0, CTL_LINE_MAX + 2);
	bufferevent_setcb(cl->bev, ctl_read, ctl_written, ctl_event, cl);
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&ctl_clients, cl, entry);
	ctl_nclients++;
	return cl;
}

/* Say why a peer is turned away, close it, and take back any reserve. */
static void
ctl_turn_away(int fd, bool reserve, const char *why)
{
	(void)send(fd, why, strlen(why), MSG_NOSIGNAL | MSG_DONTWAIT);
	ctl_close_fd(fd, reserve);
}

/*
 * A control client connected, on the reserve's slot or not: check who it
 * is before reading a byte, then that there is room for it.  Returns the
 * client, or NULL if it was turned away.
 */
static struct ctl_client *
ctl_admit(int fd, bool reserve)
{
	static const char	 denied[] = "error permission denied\n\n";
	static const char	 full[] = "error too many control clients\n\n";
	struct ucred		 uc = { 0, (uid_t)-1, (gid_t)-1 };
	char			 more[48];

	if (!ctl_allowed(fd, &uc)) {
		log_warnx("event=control-denied uid=%ld pid=%ld",
		    (long)uc.uid, (long)uc.pid);
		ctl_turn_away(fd, reserve, denied);
		return NULL;
	}
	if (ctl_nclients >= CTL_CLIENTS_MAX) {
		if (log_limit(&ctl_refuse_limit, CTL_LOG_GAP, more,
		    sizeof more))
			log_warnx("event=control-refused uid=%ld pid=%ld "
			    "clients=%d/%d%s", (long)uc.uid, (long)uc.pid,
			    ctl_nclients, CTL_CLIENTS_MAX, more);
		ctl_turn_away(fd, reserve, full);
		return NULL;
	}
	return ctl_client_new(fd, &uc, reserve);
}

/*
 * A control client connected.  A reserve lost to a full system file table
 * is taken again here too, as descriptors are to be had once more.
 */
static void
ctl_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	ctl_reserve_open();
	(void)ctl_admit(fd, false);
}

/* The pause after an accept error is over: accept again. */
static void
ctl_backoff_done(evutil_socket_t fd, short what, void *arg)
{
	ctl_reserve_open();
	if (ctl_lev != NULL)
		evconnlistener_enable(ctl_lev);
}

/*
 * Out of descriptors (error): give the reserve's slot to the next control
 * client.  The slot comes back when that client is freed or turned away,
 * so one client at a time has it.  Returns -1 if nobody was accepted.
 */
static int
ctl_reserve_accept(struct evconnlistener *lev, int error)
{
	struct ctl_client	*cl;
	char			 more[48];
	int			 fd;

	close(ctl_spare);
	ctl_spare = -1;
	fd = accept4(evconnlistener_get_fd(lev), NULL, NULL,
	    SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd == -1) {
		ctl_reserve_open();
		return -1;
	}
	cl = ctl_admit(fd, true);
	if (cl != NULL && log_limit(&ctl_reserve_limit, CTL_LOG_GAP, more,
	    sizeof more)) {
		errno = error;
		log_warn("event=control-reserve uid=%ld pid=%ld%s",
		    (long)cl->uid, (long)cl->pid, more);
	}
	return 0;
}

/*
 * accept() failed with something other than EAGAIN or ECONNABORTED, most
 * often EMFILE or ENFILE.  The reserve takes the client if it is free;
 * otherwise accepting pauses, as the listeners' does, since libevent
 * would retry at once and spin; one line a second at most says so.
 */
static void
ctl_accept_error(struct evconnlistener *lev, void *arg)
{
	struct timeval	 tv = { 0, CTL_BACKOFF_MS * 1000 };
	int		 saved = errno;		/* for log_warn */
	char		 more[48];

	if ((saved == EMFILE || saved == ENFILE) && ctl_spare != -1 &&
	    ctl_reserve_accept(lev, saved) == 0)
		return;
	evconnlistener_disable(lev);
	evtimer_add(ctl_backoff, &tv);
	if (!log_limit(&ctl_error_limit, CTL_LOG_GAP, more, sizeof more))
		return;
	errno = saved;
	log_warn("event=control-error path=\"%s\" backoff_ms=%d%s",
	    log_escape(ctl_path), CTL_BACKOFF_MS, more);
}

/* The accept back-off's timer and the reserve, made once for any socket. */
static void
ctl_listener_init(void)
{
	if (ctl_backoff == NULL)
		ctl_backoff = core_timer(ctl_backoff_done, NULL);
	ctl_reserve_open();
}

/* Free the back-off timer and close the reserve, at exit. */
static void
ctl_listener_fini(void)
{
	if (ctl_backoff != NULL)
		event_free(ctl_backoff);
	ctl_backoff = NULL;
	if (ctl_spare != -1)
		close(ctl_spare);
	ctl_spare = -1;
}

/* The control socket's mode: 0600, or 0660 with control_group. */
static mode_t
ctl_mode(gid_t gid)
{
	return gid != (gid_t)-1 ? 0660 : 0600;
}

/* Whether path is a file directly in RUNDIR, the default run directory. */
static bool
ctl_in_rundir(const char *path)
{
	size_t	len = strlen(RUNDIR);

	return strncmp(path, RUNDIR, len) == 0 && path[len] == '/' &&
	    strchr(path + len + 1, '/') == NULL;
}

/*
 * Create RUNDIR if it is missing, mode 0755 whatever the umask, as
 * systemd's RuntimeDirectory= would; only its last part, never through a
 * link.
 */
static int
ctl_make_rundir(char *err, size_t errlen)
{
	int	fd;

	if (mkdir(RUNDIR, 0755) == -1) {
		if (errno == EEXIST)
			return 0;
		snprintf(err, errlen, "cannot create %s: %s", RUNDIR,
		    strerror(errno));
		return -1;
	}
	if ((fd = open(RUNDIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fchmod(fd, 0755) == -1) {
		snprintf(err, errlen, "%s: %s", RUNDIR, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	log_info("event=rundir path=\"%s\" mode=0755", RUNDIR);
	return 0;
}

/*
 * Check the control socket can be made where the config says, as far as
 * can be known before binding it: the path fits, and its directory is
 * there, unless it is RUNDIR, which control_open creates.  For -t too.
 */
int
control_check(const struct config *conf, char *err, size_t errlen)
{
	char	why[256];

	if (conf->control_socket == NULL)
		return 0;
	if (strlen(conf->control_socket) >= sizeof
	    ((struct sockaddr_un *)NULL)->sun_path) {
		snprintf(err, errlen, "control socket path too long: %s",
		    conf->control_socket);
		return -1;
	}
	if (!ctl_in_rundir(conf->control_socket) &&
	    listen_unix_dir(conf->control_socket, why, sizeof why) == -1) {
		snprintf(err, errlen, "%s: %s", conf->control_socket, why);
		return -1;
	}
	return 0;
}

/*
 * Open the control socket at the config's path, if it names one.  A stale
 * socket is replaced; one another portierd answers on is an error.
 */
int
control_open(const struct config *conf, char *err, size_t errlen)
{
	dev_t			 dev;
	ino_t			 ino;
	int			 fd;

	if (conf->control_socket == NULL)
		return 0;
	if (control_check(conf, err, errlen) == -1 ||
	    (ctl_in_rundir(conf->control_socket) &&
	    ctl_make_rundir(err, errlen) == -1))
		return -1;
	if ((fd = listen_unix_socket(conf->control_socket,
	    ctl_mode(conf->control_gid), (uid_t)-1, conf->control_gid,
	    CTL_BACKLOG, &dev, &ino, err, errlen)) == -1)
		return -1;
	ctl_path = xstrdup(conf->control_socket);
	ctl_dev = dev;
	ctl_ino = ino;
	ctl_gid = conf->control_gid;
	ctl_lev = evconnlistener_new(core_base(), ctl_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (ctl_lev == NULL)
		fatalx("event=fatal reason=\"evconnlistener_new failed\"");
	evconnlistener_set_error_cb(ctl_lev, ctl_accept_error);
	ctl_listener_init();
	log_info("event=control path=\"%s\" mode=%04o", log_escape(ctl_path),
	    (unsigned int)ctl_mode(ctl_gid));
	return 0;
}

/*
 * A reload changed control_group but not the path: give the socket we
 * bound its new group and mode, or change nothing.
 */
static int
ctl_regroup(const struct config *conf, char *err, size_t errlen)
{
	char	reason[256];

	if (listen_unix_set(ctl_path, ctl_dev, ctl_ino,
	    ctl_mode(conf->control_gid), (uid_t)-1, conf->control_gid, reason,
	    sizeof reason) == -1) {
		snprintf(err, errlen, "control socket: %s", reason);
		return -1;
	}
	ctl_gid = conf->control_gid;
	log_info("event=control path=\"%s\" mode=%04o", log_escape(ctl_path),
	    (unsigned int)ctl_mode(ctl_gid));
	return 0;
}

/*
 * A reload changed control_socket: open the new socket first, then close
 * the old one.  Connected clients stay.  On error the old one is kept.
 * With the same path, a changed control_group is applied to the file.
 */
int
control_move(const struct config *conf, char *err, size_t errlen)
{
	struct evconnlistener	*old_lev = ctl_lev;
	char			*old_path = ctl_path;
	dev_t			 old_dev = ctl_dev;
	ino_t			 old_ino = ctl_ino;

	if (conf->control_socket == NULL && ctl_path == NULL)
		return 0;
	if (conf->control_socket != NULL && ctl_path != NULL &&
	    strcmp(conf->control_socket, ctl_path) == 0)
		return conf->control_gid == ctl_gid ? 0 :
		    ctl_regroup(conf, err, errlen);
	ctl_lev = NULL;
	ctl_path = NULL;
	if (control_open(conf, err, errlen) == -1) {
		ctl_lev = old_lev;
		ctl_path = old_path;
		return -1;
	}
	if (old_lev != NULL) {
		evconnlistener_free(old_lev);
		listen_unix_unlink(old_path, old_dev, old_ino);
		log_info("event=control-moved from=\"%s\"",
		    log_escape(old_path));
	}
	free(old_path);
	return 0;
}

/* Close the control socket and every client, and remove the file. */
void
control_close(void)
{
	while (!TAILQ_EMPTY(&ctl_clients))
		ctl_client_free(TAILQ_FIRST(&ctl_clients));
	ctl_listener_fini();
	if (ctl_lev == NULL)
		return;
	evconnlistener_free(ctl_lev);
	ctl_lev = NULL;
	listen_unix_unlink(ctl_path, ctl_dev, ctl_ino);
	free(ctl_path);
	ctl_path = NULL;
}
