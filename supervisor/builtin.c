/*
 * Built-in services, served inside portierd: echo (RFC 862), discard (863),
 * chargen (864), daytime (867), time (868) and rot13, with
 * POE::Component::Server::TCP's line and stream filters; and metrics, which
 * answers an HTTP GET of /metrics with the metrics view, as Prometheus
 * scrapes an exporter (http.c reads the request).
 *
 * We read, on an event of our own, into one static buffer, and hand each
 * chunk to the built-in (builtin_serve): libevent 2.1's evbuffer_read asks
 * the kernel how much is readable (ioctl FIONREAD) before every read, two
 * system calls per connection that a 64-byte echo does not need.  Output
 * goes to the socket at once while nothing is queued ahead of it.
 *
 * A connection gets a bufferevent only when it first needs a buffer
 * (builtin_bev): output the socket did not take at once, input kept for a
 * line or a request.  The bufferevent then writes, and holds both.  An
 * echo whose answer fits the socket never needs one: it costs its read
 * event and nothing else, no buffer, chain or callback allocated and freed.
 *
 * Memory per connection is bounded: input is kept only for a partial line
 * (at most max_line bytes, or the line is refused) or a request's head (at
 * most HTTP_HEAD_MAX, or it is refused), and reading stops while more than
 * BUILTIN_OUT_HIGH bytes wait to be written, so a client that sends without
 * reading is held back by TCP, not by our memory.
 *
 * A connection ends gracefully: no more input is served, pending output is
 * flushed, our side is shut down for writing, and input is drained until
 * the client closes too, so that unread input never turns the close into a
 * reset that would lose our last bytes.  kill_grace bounds all of it.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "portier.h"

#define BUILTIN_OUT_HIGH	(32 * 1024)
#define BUILTIN_OUT_LOW		(8 * 1024)
#define BUILTIN_CHUNK		4096
#define BUILTIN_PULL		(32 * 1024)	/* bytes per read we make */
#define BUILTIN_PULLS		8		/* such reads per callback */

#define CHARGEN_LINE		72	/* characters per line, then CRLF */
#define CHARGEN_CHARS		95	/* the printable ASCII characters */
#define CHARGEN_CYCLE		(CHARGEN_CHARS * (CHARGEN_LINE + 2))

#define TIME_1900_TO_1970	2208988800UL	/* RFC 868 */

#define METRICS_PATH		"/metrics"
#define METRICS_TYPE		"text/plain; version=0.0.4; charset=utf-8"

static void	builtin_stream_read(struct conn *, char *, size_t);
static void	builtin_discard_read(struct conn *, char *, size_t);
static void	builtin_chargen_fill(struct conn *);
static void	builtin_daytime_start(struct conn *);
static void	builtin_time_start(struct conn *);
static void	builtin_metrics_read(struct conn *, char *, size_t);
static void	builtin_rot13(char *, size_t);
static void	builtin_end(struct conn *, const char *, const char *);
static void	builtin_eof(struct conn *);
static void	builtin_close(struct conn *, const char *);
static void	builtin_timer(evutil_socket_t, short, void *);
static void	builtin_write(struct bufferevent *, void *);
static void	builtin_event(struct bufferevent *, short, void *);

/*
 * The built-ins: name, default filter, whether filter= may change it, the
 * transform of served input, what serves a chunk read in stream mode (the
 * line filter serves lines, through the transform), what to do at
 * start and whenever output runs low, whether to go on after the client's
 * EOF, and the timeout it has when the service sets none (metrics: a
 * client that never finishes its request is not kept).
 */
static const struct builtin builtins[] = {
	{ "echo", FILTER_STREAM, true, NULL, builtin_stream_read, NULL, NULL,
	    false, 0 },
	{ "rot13", FILTER_LINE, true, builtin_rot13, builtin_stream_read,
	    NULL, NULL, false, 0 },
	{ "discard", FILTER_STREAM, false, NULL, builtin_discard_read, NULL,
	    NULL, false, 0 },
	{ "chargen", FILTER_STREAM, false, NULL, builtin_discard_read,
	    builtin_chargen_fill, builtin_chargen_fill, true, 0 },
	{ "daytime", FILTER_STREAM, false, NULL, builtin_discard_read,
	    builtin_daytime_start, NULL, false, 0 },
	{ "time", FILTER_STREAM, false, NULL, builtin_discard_read,
	    builtin_time_start, NULL, false, 0 },
	{ "metrics", FILTER_STREAM, false, NULL, builtin_metrics_read, NULL,
	    NULL, false, 10 },
};

/* One whole cycle of the chargen pattern: 95 lines, each shifted by one. */
static char	builtin_chargen_cycle[CHARGEN_CYCLE];

/*
 * Scratch space for transforming buffered input, and what a read reads
 * into; built-ins never run concurrently.
 */
static char	builtin_scratch[BUILTIN_CHUNK];
static char	builtin_pull[BUILTIN_PULL];

/* Find a built-in by name; NULL if there is none. */
const struct builtin *
builtin_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
		if (strcmp(builtins[i].name, name) == 0)
			return &builtins[i];
	}
	return NULL;
}

/* The names of all built-ins, for error messages. */
const char *
builtin_names(void)
{
	return "echo, rot13, discard, chargen, daytime, time, metrics";
}

/* rot13 in place; everything but ASCII letters is left alone. */
static void
builtin_rot13(char *p, size_t len)
{
	size_t	i;
	char	c;

	for (i = 0; i < len; i++) {
		c = p[i];
		if ((c >= 'a' && c <= 'm') || (c >= 'A' && c <= 'M'))
			p[i] = (char)(c + 13);
		else if ((c >= 'n' && c <= 'z') || (c >= 'N' && c <= 'Z'))
			p[i] = (char)(c - 13);
	}
}

/*
 * n bytes read from the client, counted as served while running (what is
 * read only to be drained while closing is not), and progress noted.
 */
static void
builtin_read_count(struct conn *c, size_t n)
{
	if (c->state == CONN_RUNNING)
		c->bytes_in += n;
	c->last_io = core_now();
}

/* n bytes written to the client: counted, and progress noted. */
static void
builtin_write_count(struct conn *c, size_t n)
{
	c->bytes_out += n;
	c->last_io = core_now();
}

/*
 * Count what the bufferevent wrote.  What is read is counted where it is
 * read, in builtin_readable; what is sent at once, in builtin_send_now.
 */
static void
/* cppcheck-suppress constParameter ; the type is libevent's callback's */
builtin_count(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn	*c = arg;

	if (info->n_deleted > 0)
		builtin_write_count(c, info->n_deleted);
}

/*
 * The connection's bufferevent, made when it first needs a buffer.  Its
 * writing is enabled from creation and watched only while output waits;
 * its reading is never enabled: we read.
 */
static struct bufferevent *
builtin_bev(struct conn *c)
{
	if (c->bev != NULL)
		return c->bev;
	c->bev = bufferevent_socket_new(core_base(), c->fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("event=fatal reason=\"bufferevent_socket_new failed\"");
	evbuffer_add_cb(bufferevent_get_output(c->bev), builtin_count, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, BUILTIN_OUT_LOW, 0);
	bufferevent_setcb(c->bev, NULL, builtin_write, builtin_event, c);
	return c->bev;
}

/* The output buffer, for what cannot or need not go at once. */
static struct evbuffer *
builtin_out(struct conn *c)
{
	return bufferevent_get_output(builtin_bev(c));
}

/* How much output waits to be written. */
static size_t
builtin_pending(const struct conn *c)
{
	if (c->bev == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/*
 * Keep n bytes of input, for a line or a request not whole yet, and return
 * the buffer that holds it.  The bufferevent freezes its input's end but
 * while it reads, and it never reads.
 */
static struct evbuffer *
builtin_keep(struct conn *c, const char *p, size_t n)
{
	struct evbuffer	*in = bufferevent_get_input(builtin_bev(c));

	evbuffer_unfreeze(in, 0);
	evbuffer_add(in, p, n);
	evbuffer_freeze(in, 0);
	return in;
}

/*
 * Before queueing output, try to write it at once if nothing is queued
 * ahead of it: a reply then leaves in the callback that read its request,
 * not a turn of the loop later after the socket is watched for writing.
 * Returns what was written; an error is left to the bufferevent's own
 * write, which meets it again and reports it.
 */
static size_t
builtin_send_now(struct conn *c, const void *p, struct evbuffer *from,
    size_t len)
{
	ssize_t	n;

	if (len == 0 || builtin_pending(c) > 0)
		return 0;
	if (from != NULL)
		n = evbuffer_write_atmost(from, c->fd, (ev_ssize_t)len);
	else
		n = send(c->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n <= 0)
		return 0;
	builtin_write_count(c, (size_t)n);
	return (size_t)n;
}

/* Send n bytes: at once as far as the socket takes them, the rest queued. */
static void
builtin_send(struct conn *c, const char *p, size_t n)
{
	size_t	sent;

	sent = builtin_send_now(c, p, NULL, n);
	if (sent < n)
		evbuffer_add(builtin_out(c), p + sent, n - sent);
}

/*
 * Move len bytes of input to output through svc's transform.  c is the
 * connection to write to at once, or NULL to only queue the output.
 */
static void
builtin_emit(struct conn *c, const struct service *svc, struct evbuffer *in,
    struct evbuffer *out, size_t len)
{
	void	(*transform)(char *, size_t) = svc->builtin->transform;
	size_t	n, sent;

	if (transform == NULL) {
		if (c != NULL)
			len -= builtin_send_now(c, NULL, in, len);
		evbuffer_remove_buffer(in, out, len);
		return;
	}
	while (len > 0) {
		n = len < sizeof builtin_scratch ? len : sizeof builtin_scratch;
		n = (size_t)evbuffer_remove(in, builtin_scratch, n);
		transform(builtin_scratch, n);
		sent = c == NULL ? 0 :
		    builtin_send_now(c, builtin_scratch, NULL, n);
		evbuffer_add(out, builtin_scratch + sent, n - sent);
		len -= n;
	}
}

/* Stop reading while too much output waits for a slow reader. */
static void
builtin_backpressure(struct conn *c)
{
	if (builtin_pending(c) > BUILTIN_OUT_HIGH && !c->paused) {
		event_del(c->rev);
		c->paused = true;
	}
}

/* Stream filter: everything read goes back at once, transformed. */
static void
builtin_stream_read(struct conn *c, char *p, size_t n)
{
	if (c->service->builtin->transform != NULL)
		c->service->builtin->transform(p, n);
	builtin_send(c, p, n);
}

/* Input that is not served: read and thrown away. */
static void
/* cppcheck-suppress constParameter ; the type is struct builtin's read */
builtin_discard_read(struct conn *c, char *p, size_t n)
{
}

/* A line longer than max_line: say so, log it, and close. */
static void
builtin_line_too_long(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(builtin_bev(c));

	log_warnx("event=line-too-long service=%s conn=%llu max_line=%zu",
	    c->service->name, (unsigned long long)c->id, c->service->max_line);
	evbuffer_drain(in, evbuffer_get_length(in));
	evbuffer_add_printf(builtin_out(c), "error: line longer than %zu "
	    "bytes%s", c->service->max_line, c->service->terminator);
	builtin_close(c, "line-too-long");
}

/* Whether the last byte of a non-empty buffer is a CR. */
static bool
builtin_ends_in_cr(struct evbuffer *buf)
{
	struct evbuffer_ptr	p;
	char			ch;

	if (evbuffer_ptr_set(buf, &p, evbuffer_get_length(buf) - 1,
	    EVBUFFER_PTR_SET) == -1 ||
	    evbuffer_copyout_from(buf, &p, &ch, 1) != 1)
		return false;
	return ch == '\r';
}

/*
 * The line filter, over buffers: move each complete line of in to out
 * through svc's transform, its terminator kept, and at eof the rest, a
 * last line without one.  Returns -1 at a line longer than max_line, with
 * it left in in, else 0.  c is the connection to write to at once, or
 * NULL; the fuzz target calls this with NULL and input in any chunks.
 */
int
builtin_lines(struct conn *c, const struct service *svc, struct evbuffer *in,
    struct evbuffer *out, bool eof)
{
	struct evbuffer_ptr	 eol;
	size_t			 eol_len, partial;
	bool			 crlf = svc->terminator[0] == '\r';

	for (;;) {
		eol = evbuffer_search_eol(in, NULL, &eol_len, crlf ?
		    EVBUFFER_EOL_CRLF_STRICT : EVBUFFER_EOL_LF);
		if (eol.pos == -1)
			break;
		if ((size_t)eol.pos > svc->max_line)
			return -1;
		builtin_emit(c, svc, in, out, (size_t)eol.pos + eol_len);
	}
	/*
	 * A CRLF line may end in a lone CR that is still waiting for its LF,
	 * and only that CR may go beyond max_line: a last line one byte too
	 * long, with no CR, was served at EOF before (found by fuzz_line).
	 */
	if ((partial = evbuffer_get_length(in)) == 0)
		return 0;
	if (partial > svc->max_line && !(crlf &&
	    partial == svc->max_line + 1 && builtin_ends_in_cr(in)))
		return -1;
	if (eof)
		builtin_emit(c, svc, in, out, partial);
	return 0;
}

/* Line filter: each complete line goes back, transformed, terminator kept. */
static void
builtin_line_read(struct conn *c, char *p, size_t n)
{
	struct evbuffer	*in = builtin_keep(c, p, n);

	if (builtin_lines(c, c->service, in, builtin_out(c), false) == -1)
		builtin_line_too_long(c);
}

/*
 * n bytes read from the client at p, served by the filter; while closing,
 * only drained.  This never ends the connection: only the client's EOF or
 * an error does, and reading stops at both.
 */
static void
builtin_serve(struct conn *c, char *p, size_t n)
{
	if (c->state != CONN_RUNNING)
		return;
	if (c->service->filter == FILTER_LINE)
		builtin_line_read(c, p, n);
	else
		c->service->builtin->read(c, p, n);
	if (c->state == CONN_RUNNING)
		builtin_backpressure(c);
}

/* Free a built-in connection's events and end it. */
static void
builtin_end(struct conn *c, const char *status, const char *reason)
{
	event_free(c->rev);
	c->rev = NULL;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
		c->fd = -1;	/* closed by bufferevent_free */
	}
	conn_end(c, status, reason);	/* closes c->fd; the timer on release */
}

/*
 * Our output is flushed: shut our side, and end once the client's is too.
 * If the client has shut its side already, close() alone sends our FIN.
 */
static void
builtin_shut(struct conn *c)
{
	if (c->peer_eof) {
		builtin_end(c, c->why, NULL);
		return;
	}
	if (!c->shut) {
		(void)shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
}

/* Output drained below the low mark: refill, resume reading, or finish. */
static void
builtin_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*out = bufferevent_get_output(bev);

	if (c->state == CONN_CLOSING) {
		if (evbuffer_get_length(out) == 0)
			builtin_shut(c);
		return;
	}
	if (c->service->builtin->refill != NULL)
		c->service->builtin->refill(c);
	if (c->paused) {
		c->paused = false;
		event_add(c->rev, NULL);
	}
}

/* The client shut its side: serve what is owed, then close. */
static void
builtin_eof(struct conn *c)
{
	c->peer_eof = true;
	if (c->state == CONN_CLOSING) {
		if (c->shut)
			builtin_end(c, c->why, NULL);
		return;
	}
	/* chargen keeps sending to a client that only stopped talking. */
	if (c->service->builtin->keep_on_eof)
		return;
	/* A last line without its terminator is still owed to the client. */
	if (c->service->filter == FILTER_LINE && c->bev != NULL &&
	    builtin_lines(c, c->service, bufferevent_get_input(c->bev),
	    bufferevent_get_output(c->bev), true) == -1) {
		builtin_line_too_long(c);
		return;
	}
	builtin_close(c, "eof");
}

/* The socket failed; after its EOF, a client that resets has simply left. */
static void
builtin_failed(struct conn *c, int err)
{
	if (c->peer_eof && (err == EPIPE || err == ECONNRESET))
		builtin_end(c, c->state == CONN_CLOSING ? c->why : "eof", NULL);
	else
		builtin_end(c, "error", strerror(err));
}

/* The bufferevent's writing failed. */
static void
/* cppcheck-suppress constParameter ; the type is libevent's callback's */
builtin_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	if (what & BEV_EVENT_ERROR)
		builtin_failed(c, EVUTIL_SOCKET_ERROR());
	else if (what & BEV_EVENT_EOF)
		builtin_eof(c);
}

/*
 * Read and serve what the socket has, a chunk at a time, until a short
 * read has emptied it, queued output holds reading back, or BUILTIN_PULLS
 * reads are made, so the other connections get their turn.  Returns 1
 * while reading goes on, 0 at the client's EOF, or -errno at an error;
 * it never ends the connection: builtin_stopped does.
 */
static int
builtin_read(struct conn *c)
{
	ssize_t	n;
	int	i;

	for (i = 0; i < BUILTIN_PULLS; i++) {
		n = recv(c->fd, builtin_pull, sizeof builtin_pull, 0);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return 1;
		if (n == -1)
			return -errno;
		if (n == 0)
			return 0;
		builtin_read_count(c, (size_t)n);
		builtin_serve(c, builtin_pull, (size_t)n);
		if ((size_t)n < sizeof builtin_pull || c->paused ||
		    builtin_pending(c) > 0)
			return 1;
	}
	return 1;
}

/* Reading met EOF (r 0) or an error (r -errno): it stops for good. */
static void
builtin_stopped(struct conn *c, int r)
{
	event_del(c->rev);
	if (r == 0)
		builtin_eof(c);
	else
		builtin_failed(c, -r);
}

/* The socket is readable. */
static void
builtin_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	int		 r;

	if ((r = builtin_read(c)) <= 0)
		builtin_stopped(c, r);
}

/* A connection's lifetime: the service's timeout, or its built-in's. */
static long
builtin_timeout(const struct service *svc)
{
	return svc->timeout > 0 ? svc->timeout : svc->builtin->timeout;
}

/* Arm the timer for the nearest of: close bound, lifetime, idle limit. */
static void
builtin_arm(struct conn *c)
{
	const struct service	*svc = c->service;
	double			 at = 0, t;

	if (c->state == CONN_CLOSING)
		at = c->close_by;
	else {
		if (builtin_timeout(svc) > 0)
			at = conn_started(c) + (double)builtin_timeout(svc);
		if (svc->idle_timeout > 0) {
			t = c->last_io + (double)svc->idle_timeout;
			at = at == 0 || t < at ? t : at;
		}
	}
	if (at == 0)
		return;
	if (c->timer == NULL)	/* made when first armed: most never are */
		c->timer = core_timer(builtin_timer, c);
	core_timer_in(c->timer, at - core_now());
}

/* The timer: a close that took too long, the lifetime, or idleness. */
static void
builtin_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn		*c = arg;
	const struct service	*svc = c->service;
	double			 now = core_now();
	char			 status[64];

	if (c->state == CONN_CLOSING) {
		if (now >= c->close_by) {
			/* Shut means all was sent; the client just never closed. */
			snprintf(status, sizeof status, "%s%s", c->why,
			    c->shut ? "" : ",unflushed");
			builtin_end(c, status, NULL);
			return;
		}
	} else if (builtin_timeout(svc) > 0 &&
	    now >= conn_started(c) + (double)builtin_timeout(svc)) {
		builtin_close(c, "timeout");
		return;
	} else if (svc->idle_timeout > 0 &&
	    now >= c->last_io + (double)svc->idle_timeout) {
		builtin_close(c, "idle");
		return;
	}
	builtin_arm(c);
}

/*
 * Begin a graceful close (POE's per-connection shutdown): serve no more
 * input, flush what is pending, then shut down; bounded by kill_grace.
 */
static void
builtin_close(struct conn *c, const char *why)
{
	if (c->state != CONN_RUNNING)
		return;
	conn_set_state(c, CONN_CLOSING);
	c->why = why;
	/* The client has gone and nothing is owed: end now, with no timer. */
	if (c->peer_eof && builtin_pending(c) == 0) {
		builtin_end(c, why, NULL);
		return;
	}
	c->close_by = core_now() + (double)core_config()->kill_grace;
	/* Input is drained from now on: builtin_serve serves no more. */
	if (!c->peer_eof)
		event_add(c->rev, NULL);
	c->paused = false;
	/* Arm first: shutting down may end, and free, the connection. */
	builtin_arm(c);
	if (builtin_pending(c) == 0)
		builtin_shut(c);
}

/* Shutdown reached a built-in connection: close it gracefully, or now. */
static void
builtin_stop(struct conn *c, bool force)
{
	if (!force) {
		builtin_close(c, "shutdown");
		return;
	}
	builtin_end(c, c->state == CONN_CLOSING ? c->why : "shutdown",
	    "forced by shutdown");
}

/* chargen: keep the output topped up with whole pattern cycles. */
static void
builtin_chargen_fill(struct conn *c)
{
	struct evbuffer	*out = builtin_out(c);
	size_t		 i, line, col;

	if (builtin_chargen_cycle[0] == '\0') {
		for (line = 0, i = 0; line < CHARGEN_CHARS; line++) {
			for (col = 0; col < CHARGEN_LINE; col++)
				builtin_chargen_cycle[i++] =
				    (char)(' ' + (line + col) % CHARGEN_CHARS);
			builtin_chargen_cycle[i++] = '\r';
			builtin_chargen_cycle[i++] = '\n';
		}
	}
	/* Added by reference: the cycle is static and never copied. */
	while (evbuffer_get_length(out) < BUILTIN_OUT_HIGH)
		evbuffer_add_reference(out, builtin_chargen_cycle,
		    sizeof builtin_chargen_cycle, NULL, NULL);
}

/* daytime: one line, "Weekday, Month Day, Year HH:MM:SS-ZONE", then close. */
static void
builtin_daytime_start(struct conn *c)
{
	char		line[64];
	time_t		now = time(NULL);
	struct tm	tm;
	size_t		n;

	localtime_r(&now, &tm);
	n = strftime(line, sizeof line - 2, "%A, %B %d, %Y %H:%M:%S-%Z", &tm);
	memcpy(line + n, "\r\n", 2);
	builtin_send(c, line, n + 2);
	builtin_close(c, "done");
}

/* time: seconds since 1900 as 32 big-endian bits, then close. */
static void
builtin_time_start(struct conn *c)
{
	uint32_t	t;

	t = htonl((uint32_t)(((unsigned long)time(NULL) + TIME_1900_TO_1970) &
	    0xffffffffUL));
	builtin_send(c, (const char *)&t, sizeof t);
	builtin_close(c, "done");
}

/*
 * metrics: once the request's head is in, answer it, with the metrics
 * view for a GET of /metrics, and close; the connection's end says the
 * answer's status ("http:200").  Input beyond the head is drained by the
 * close, unread.
 */
static void
builtin_metrics_read(struct conn *c, char *p, size_t n)
{
	struct evbuffer		*in = builtin_keep(c, p, n), *body = NULL;
	struct http_request	 r;
	size_t			 len = evbuffer_get_length(in);

	if (http_request((const char *)evbuffer_pullup(in, -1), len,
	    METRICS_PATH, &r) == 0)
		return;
	evbuffer_drain(in, len);
	if (r.status == 200) {
		if ((body = evbuffer_new()) == NULL)
			fatalx("event=fatal reason=\"evbuffer_new failed\"");
		view_render(view_metrics(), false, body);
	}
	http_reply(builtin_out(c), &r, METRICS_TYPE, body);
	if (body != NULL)
		evbuffer_free(body);
	builtin_close(c, http_tag(r.status));
}

/* Serve a connection with its service's built-in; it always can. */
static int
builtin_start(struct conn *c)
{
	const struct service	*svc = c->service;
	const struct builtin	*bi = svc->builtin;
	char			 remote[ADDR_STRLEN + 64];
	bool			 early = bi->start == NULL &&
				     svc->banner == NULL;
	int			 r = 1;

	c->rev = event_new(core_base(), c->fd, EV_READ | EV_PERSIST,
	    builtin_readable, c);
	if (c->rev == NULL)
		fatalx("event=fatal reason=\"event_new failed\"");
	c->last_io = core_now();
	/*
	 * The client of any other built-in speaks first, and has often spoken
	 * by the time we accept: read at once, not a turn of the loop later,
	 * and answer before the socket is watched and the line is logged.
	 * Not after a banner, which the client waits for before it speaks.
	 * Neither a start nor a read ends the connection: what ended reading
	 * is acted on last, after the serve line.  The line filter reads after
	 * that line, since its read may log a line too long.
	 * Issue 18, echo 64 bytes, 7 rounds beside a build that waited for
	 * the loop: 1.13 (1.00-1.24) of the connections/s at c=1, 0.94
	 * (0.90-1.20) at 8 and 0.99 (0.89-1.09) at 64; 8 more rounds at 8,
	 * 40,000 connections each, 1.07 (0.92-1.31).
	 */
	if (bi->start != NULL)
		bi->start(c);
	else if (early && svc->filter == FILTER_STREAM)
		r = builtin_read(c);
	if (!c->paused)
		event_add(c->rev, NULL);
	if (conn_logs(c))
		log_info("event=serve service=%s conn=%llu builtin=%s "
		    "remote=%s active=%ld/%ld", svc->name,
		    (unsigned long long)c->id, bi->name,
		    conn_remote(c, remote, sizeof remote), svc->run.active,
		    svc->run.limit);
	builtin_arm(c);
	if (early && svc->filter == FILTER_LINE)
		r = builtin_read(c);
	if (r <= 0)
		builtin_stopped(c, r);
	return 0;
}

/* kill CONN-ID: flush and close, as at the end of the service. */
static void
builtin_kill(struct conn *c)
{
	builtin_close(c, "killed");
}

/* For the end line: the built-in and the bytes it served and wrote. */
static void
builtin_describe(const struct conn *c, char *buf, size_t len)
{
	text_format(buf, len, "builtin=%s in=%llu out=%llu",
	    c->service->builtin->name, (unsigned long long)c->bytes_in,
	    (unsigned long long)c->bytes_out);
}

/* The connection ends: free its timer; builtin_end freed the rest. */
static void
builtin_release(struct conn *c)
{
	if (c->timer != NULL)
		event_free(c->timer);
	c->timer = NULL;
}

/* The built-ins as a back-end of connections. */
const struct backend builtin_backend = {
	"builtin", builtin_start, builtin_stop, builtin_kill,
	builtin_describe, builtin_release
};
