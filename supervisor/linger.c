/*
 * The lingering close of a client turned away with a message: send the
 * message, shut our side for writing, then read and throw away what the
 * client sends until it shuts its side or LINGER_SECONDS pass, and close.
 * A close() with the client's bytes unread makes the kernel answer with a
 * reset, which destroys the message if it is still on its way or unread
 * in the client's buffer (an HTTP client sends first, so it always has
 * bytes on their way: issue 19).
 *
 * Anyone who can connect can make a closing, so they are bounded: at most
 * LINGER_MAX at once, daemon-wide, each for at most LINGER_SECONDS, a
 * small struct each, and what clients send goes into one static buffer,
 * however much it is.  At the bound the oldest closing is closed at once
 * to make room for the new one.  The oldest has had the longest for its
 * message to arrive, while the new client's message has only just been
 * sent; and closing the new one instead would let a few clients that
 * hold LINGER_MAX closings open take the message from every refused
 * client after them.  The closings all end after the same time, so the
 * oldest is the first to end too: they are one list in the order they
 * began, timed by one timer for its head.
 *
 * Two seconds is what Apache's lingering close allows: time enough for a
 * client on a slow network to finish sending its request and read the
 * answer, which a refused client has no reason to draw out.  64 closings
 * are a few descriptors beside the thousands portierd may hold, and more
 * than a refusing service sends away in 2 s but under a flood, when the
 * bound costs a client the message, never portierd a descriptor more.
 *
 * A closing is no connection: it has no id, counts against no limit and
 * needs nothing of its service after its message is sent, so a reload
 * leaves it be; shutdown closes them all (linger_fini).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "portier.h"

#define LINGER_MAX	64	/* closings at once, daemon-wide */
#define LINGER_SECONDS	2.0	/* the longest a closing reads */
#define LINGER_CHUNK	65536	/* bytes thrown away per read */

/* One closing: the client's socket and the event that reads it. */
struct linger_closing {
	int				 fd;
	struct event			*ev;	/* readable: linger_read */
	double				 deadline;	/* core_now() */
	TAILQ_ENTRY(linger_closing)	 entry;
};
TAILQ_HEAD(linger_closings, linger_closing);

static struct linger_closings	linger_all =
				    TAILQ_HEAD_INITIALIZER(linger_all);
static size_t			linger_count;
static struct event		*linger_timer;	/* the head's deadline */

/* Where what the clients send goes: one closing reads at a time. */
static char			linger_scratch[LINGER_CHUNK];

/* Close one closing and forget it. */
static void
linger_end(struct linger_closing *l)
{
	TAILQ_REMOVE(&linger_all, l, entry);
	linger_count--;
	event_free(l->ev);
	close(l->fd);
	free(l);
}

/*
 * The client sent something, or shut its side, or reset: throw one
 * chunk away, and close once its side is shut or broken.  One read a
 * wake-up, so a client that sends fast costs a read per chunk and
 * never holds the loop.
 */
static void
linger_read(evutil_socket_t fd, short what, void *arg)
{
	ssize_t	n;

	n = recv(fd, linger_scratch, sizeof linger_scratch, 0);
	if (n > 0 || (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR)))
		return;
	linger_end(arg);
}

/* Close the closings whose time is up, and time the next. */
static void
linger_expire(evutil_socket_t fd, short what, void *arg)
{
	struct linger_closing	*l;
	double			 now = core_now();

	while ((l = TAILQ_FIRST(&linger_all)) != NULL && l->deadline <= now)
		linger_end(l);
	if (l != NULL)
		core_timer_in(linger_timer, l->deadline - now);
}

/*
 * Send msg to the client on fd, which is ours to close, then close it
 * without a reset: shut our side and read what the client sends for at
 * most LINGER_SECONDS first.  If the client is gone already, close now.
 */
void
linger_close(int fd, const char *msg, size_t len)
{
	struct linger_closing	*l;

	if (send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len ||
	    shutdown(fd, SHUT_WR) == -1) {
		close(fd);
		return;
	}
	if (linger_count == LINGER_MAX)
		linger_end(TAILQ_FIRST(&linger_all));
	l = xcalloc(1, sizeof *l);
	l->fd = fd;
	l->deadline = core_now() + LINGER_SECONDS;
	if ((l->ev = event_new(core_base(), fd, EV_READ | EV_PERSIST,
	    linger_read, l)) == NULL)
		fatalx("event=fatal reason=\"event_new failed\"");
	TAILQ_INSERT_TAIL(&linger_all, l, entry);
	linger_count++;
	if (event_add(l->ev, NULL) == -1) {
		linger_end(l);
		return;
	}
	if (linger_timer == NULL)
		linger_timer = core_timer(linger_expire, NULL);
	if (!evtimer_pending(linger_timer, NULL))
		core_timer_in(linger_timer, LINGER_SECONDS);
}

/* Close every closing and free what they used, at exit. */
void
linger_fini(void)
{
	struct linger_closing	*l;

	while ((l = TAILQ_FIRST(&linger_all)) != NULL)
		linger_end(l);
	if (linger_timer != NULL)
		event_free(linger_timer);
	linger_timer = NULL;
}
